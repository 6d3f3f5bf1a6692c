import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { WRITE_CALL_MAX, writeAllAt } from '../../src/storage/write-all.js';
import { scratchDir } from '../helpers/scratch.js';

const dir = scratchDir('castkit-write-all-');

type WriteCall = (b: Uint8Array, o: number, n: number, p: number) => ReturnType<FileHandle['write']>;

/** `h`, with each write call made through `wrap`, which is given the handle's own write. */
function wrapWrite(
  h: FileHandle,
  wrap: (write: WriteCall, b: Uint8Array, o: number, n: number, p: number) => ReturnType<FileHandle['write']>,
): FileHandle {
  const write = h.write.bind(h) as WriteCall;
  return Object.assign(Object.create(h) as FileHandle, {
    write: (b: Uint8Array, o: number, n: number, p: number) => wrap(write, b, o, n, p),
  });
}

/** `h`, with each write call's length reported to `onCall` first. */
function spyOnWrite(h: FileHandle, onCall: (n: number) => void): FileHandle {
  return wrapWrite(h, (write, b, o, n, p) => {
    onCall(n);
    return write(b, o, n, p);
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

  it('starts every call before the first one is over', async () => {
    const path = join(dir, 'together.bin');
    const h = await open(path, 'w');
    let started = 0;
    let startedBeforeFirstDone = -1;
    const spied = wrapWrite(h, (write, b, o, n, p) => {
      started++;
      return write(b, o, n, p).then((r) => {
        if (startedBeforeFirstDone < 0) startedBeforeFirstDone = started;
        return r;
      });
    });
    try {
      await writeAllAt(spied, new Uint8Array(WRITE_CALL_MAX * 4), 0);
    } finally {
      await h.close();
    }
    assert.equal(startedBeforeFirstDone, 4);
  });

  it('continues a short write where it stopped', async () => {
    const path = join(dir, 'short.bin');
    const data = randomBytes(WRITE_CALL_MAX + 1000);
    const h = await open(path, 'w');
    const calls: number[] = [];
    // The first call writes only half of what it was given, as a write to a full pipe or disk can.
    const spied = wrapWrite(h, (write, b, o, n, p) => {
      calls.push(n);
      return write(b, o, calls.length === 1 ? n >> 1 : n, p);
    });
    try {
      await writeAllAt(spied, data, 7);
    } finally {
      await h.close();
    }
    assert.deepEqual(calls, [WRITE_CALL_MAX, 1000, WRITE_CALL_MAX >> 1]);
    assert.ok(readFileSync(path).subarray(7).equals(data));
  });

  it('makes no call once the file is no longer open', async () => {
    const path = join(dir, 'closed.bin');
    const h = await open(path, 'w');
    let calls = 0;
    const spied = spyOnWrite(h, () => calls++);
    await writeAllAt(spied, new Uint8Array(WRITE_CALL_MAX * 4), 0, () => false);
    await h.close();
    assert.equal(calls, 0);
  });
});
