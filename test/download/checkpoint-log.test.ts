import assert from 'node:assert/strict';
import {
  appendFileSync,
  mkdirSync,
  readFileSync,
  rmSync,
  statSync,
  truncateSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { CheckpointLog } from '../../src/download/checkpoint-log.js';
import { scratchDir } from '../helpers/scratch.js';

const root = scratchDir('castkit-checkpoint-log-');
after(() => rmSync(root, { recursive: true, force: true }));
let n = 0;
const freshDir = (): string => {
  const d = join(root, `j${n++}`);
  mkdirSync(d);
  return d;
};

const record = (i: number): unknown => ({
  i,
  rows: new Float64Array([i, i + 0.5, NaN]),
  bytes: new Uint8Array(100 + i).fill(i),
  map: new Map([['k', i]]),
});

describe('CheckpointLog', () => {
  it('keeps records in order, as they were (typed arrays, Maps, NaN), across a reopen', async () => {
    const dir = freshDir();
    const log = await CheckpointLog.open(dir);
    assert.deepEqual(log.records, []);
    // Appends not awaited one by one still land one after another.
    const indexes = await Promise.all([0, 1, 2, 3].map((i) => log.append(record(i))));
    assert.deepEqual(indexes, [0, 1, 2, 3]);
    // Appended records are counted, not held in memory (one per segment of a long recording).
    assert.deepEqual(log.records, []);
    assert.equal(log.length, 4);
    await log.close();
    const again = await CheckpointLog.open(dir);
    assert.deepEqual(again.records, [0, 1, 2, 3].map(record));
    again.release();
    assert.deepEqual(again.records, []);
    assert.equal(await again.append(record(4)), 4);
    await again.close();
    assert.equal((await CheckpointLog.open(dir)).records.length, 5);
  });

  it('a record cut short or damaged ends the log there, and the next append follows the last whole one', async () => {
    for (const harm of ['cut', 'flip', 'garbage'] as const) {
      const dir = freshDir();
      const log = await CheckpointLog.open(dir);
      for (let i = 0; i < 3; i++) await log.append(record(i));
      await log.close();
      const path = join(dir, 'checkpoints.bin');
      const size = statSync(path).size;
      if (harm === 'cut') truncateSync(path, size - 7);
      if (harm === 'flip') {
        const b = readFileSync(path);
        b[size - 20] = (b[size - 20] as number) ^ 0xff;
        writeFileSync(path, b);
      }
      if (harm === 'garbage') appendFileSync(path, Buffer.from([5, 0, 0, 0, 1, 2]));
      const again = await CheckpointLog.open(dir);
      const whole = harm === 'garbage' ? 3 : 2;
      assert.deepEqual(again.records, [0, 1, 2].slice(0, whole).map(record), harm);
      assert.equal(await again.append(record(9)), whole);
      await again.close();
      assert.deepEqual(
        (await CheckpointLog.open(dir)).records,
        [...[0, 1, 2].slice(0, whole), 9].map(record),
      );
    }
  });

  it('keep(n) drops the records after the first n, in the file too', async () => {
    const dir = freshDir();
    const log = await CheckpointLog.open(dir);
    for (let i = 0; i < 5; i++) await log.append(record(i));
    await log.keep(2);
    assert.equal(log.length, 2);
    assert.equal(await log.append(record(7)), 2);
    await log.close();
    const again = await CheckpointLog.open(dir);
    assert.deepEqual(again.records, [0, 1, 7].map(record));
    // Of the records read at open too.
    await again.keep(1);
    assert.deepEqual(again.records, [record(0)]);
    assert.equal(again.length, 1);
    await again.close();
    assert.deepEqual((await CheckpointLog.open(dir)).records, [record(0)]);
  });

  it('says what failed: a directory that is not there, an append after close', async () => {
    await assert.rejects(
      CheckpointLog.open(join(root, 'missing', 'deeper')),
      (err: Error & { code?: string }) => {
        assert.equal(err.code, 'E_JOURNAL_IO');
        assert.match(err.message, /cannot open .*checkpoints\.bin: ENOENT/);
        return true;
      },
    );
    const log = await CheckpointLog.open(freshDir());
    await log.close();
    await assert.rejects(log.append(record(0)), /is closed/);
  });
});
