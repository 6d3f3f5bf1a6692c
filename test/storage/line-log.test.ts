import assert from 'node:assert/strict';
import { readFileSync, rmSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { LineLog } from '../../src/storage/line-log.js';
import { scratchDir } from '../helpers/scratch.js';

const dir = scratchDir('castkit-linelog-');
after(() => rmSync(dir, { recursive: true, force: true }));

describe('LineLog', () => {
  it('writes every line once, whole and in call order, batching those that wait', async () => {
    const path = join(dir, 'a.log');
    const handle = await open(path, 'a');
    const log = new LineLog(handle);
    let writes = 0;
    const write = handle.write.bind(handle);
    (handle as { write: unknown }).write = (...args: Parameters<typeof write>) => {
      writes++;
      return write(...args);
    };
    const done = Array.from({ length: 500 }, (_, i) => log.append(`line ${i}`));
    await Promise.all(done);
    await log.settled();
    await handle.close();
    const lines = readFileSync(path, 'utf8').split('\n');
    assert.equal(lines.pop(), '');
    assert.deepEqual(
      lines,
      Array.from({ length: 500 }, (_, i) => `line ${i}`),
    );
    assert.ok(writes < 10, `${writes} writes for 500 lines`);
  });

  it('rejects the lines of a failed write, and goes on with the next', async () => {
    const path = join(dir, 'b.log');
    const handle = await open(path, 'a');
    const log = new LineLog(handle);
    const write = handle.write.bind(handle);
    let fail = true;
    (handle as { write: unknown }).write = (...args: Parameters<typeof write>) => {
      if (fail) {
        fail = false;
        return Promise.reject(new Error('disk full'));
      }
      return write(...args);
    };
    await assert.rejects(log.append('lost'), /disk full/);
    await log.append('kept');
    await handle.close();
    assert.equal(readFileSync(path, 'utf8'), 'kept\n');
  });
});
