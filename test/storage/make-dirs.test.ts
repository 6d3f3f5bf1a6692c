import assert from 'node:assert/strict';
import { existsSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { makeDirs } from '../../src/storage/make-dirs.js';
import { scratchDir } from '../helpers/scratch.js';

const dir = scratchDir('castkit-make-dirs-');
const onProc = process.platform === 'linux' && existsSync('/proc/self');

/** Rejects when `p` has not settled within `ms` (Node 20's recursive mkdir never settles under /proc). */
function within<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`still pending after ${ms} ms`)), ms);
  });
  return Promise.race([p, late]).finally(() => clearTimeout(timer));
}

describe('makeDirs', () => {
  it('makes missing parents, and is happy with what exists', async () => {
    const deep = join(dir, 'a', 'b', 'c');
    await makeDirs(deep);
    assert.ok(statSync(deep).isDirectory());
    await makeDirs(deep);
    await makeDirs(dir);
  });

  it('a file in the way is ENOTDIR', async () => {
    const file = join(dir, 'file');
    writeFileSync(file, 'x');
    await assert.rejects(makeDirs(join(file, 'sub')), { code: 'ENOTDIR' });
    await assert.rejects(makeDirs(file), { code: 'ENOTDIR' });
  });

  it(
    'a directory that refuses new entries with ENOENT (/proc) fails at once instead of looping',
    { skip: !onProc },
    async () => {
      await assert.rejects(within(makeDirs('/proc/x.mp4.castkit-journal'), 5000), { code: 'ENOENT' });
      await assert.rejects(within(makeDirs('/proc/a/b/c'), 5000), { code: 'ENOENT' });
    },
  );
});
