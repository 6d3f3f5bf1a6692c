import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { WRITE_CALL_MAX, writeAllAt } from '../../src/storage/write-all.js';
import { scratchDir } from '../helpers/scratch.js';

const dir = scratchDir('castkit-write-all-');

/** `h`, with each write call's length reported to `onCall` first. */
function spyOnWrite(h: FileHandle, onCall: (n: number) => void): FileHandle {
  const write = h.write.bind(h) as (
    b: Uint8Array,
    o: number,
    n: number,
    p: number,
  ) => ReturnType<FileHandle['write']>;
  return Object.assign(Object.create(h) as FileHandle, {
    write: (b: Uint8Array, o: number, n: number, p: number) => {
      onCall(n);
      return write(b, o, n, p);
    },
  });
}

describe('writeAllAt', () => {
  it('writes everything at its position in calls of at most WRITE_CALL_MAX bytes', async () => {
    const path = join(dir, 'out.bin');
    const data = randomBytes(WRITE_CALL_MAX * 3 + 12345);
    const h = await open(path, 'w');
    const calls: number[] = [];
    const spied = spyOnWrite(h, (n) => calls.push(n));
    try {
      await writeAllAt(spied, data, 100);
    } finally {
      await h.close();
    }
    assert.deepEqual(calls, [WRITE_CALL_MAX, WRITE_CALL_MAX, WRITE_CALL_MAX, 12345]);
    const back = readFileSync(path);
    assert.equal(back.length, 100 + data.length);
    assert.ok(back.subarray(100).equals(data));
  });

  it('makes no more calls once the file is no longer open', async () => {
    const path = join(dir, 'closed.bin');
    const h = await open(path, 'w');
    let calls = 0;
    const spied = spyOnWrite(h, () => calls++);
    let open1 = true;
    const data = new Uint8Array(WRITE_CALL_MAX * 4);
    const done = writeAllAt(spied, data, 0, () => open1);
    open1 = false; // an abort while the first call is in progress
    await done;
    await h.close();
    assert.equal(calls, 1);
  });
});
