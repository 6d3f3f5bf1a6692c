import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { closeSync, openSync, readFileSync, writevSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { GatherWriter } from '../../src/storage/gather-writer.js';
import { WRITE_CALL_MAX, writeAllAt, writevAllAt, writevAllAtSync } from '../../src/storage/write-all.js';
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

type WritevCall = (parts: Uint8Array[], p: number) => ReturnType<FileHandle['writev']>;

/** `h`, with each writev call made through `wrap`, which is given the handle's own writev. */
function wrapWritev(
  h: FileHandle,
  wrap: (writev: WritevCall, parts: Uint8Array[], p: number) => ReturnType<FileHandle['writev']>,
): FileHandle {
  const writev = h.writev.bind(h) as WritevCall;
  return Object.assign(Object.create(h) as FileHandle, {
    writev: (parts: Uint8Array[], p: number) => wrap(writev, parts, p),
  });
}

/** Parts of random sizes (some over WRITE_CALL_MAX, some empty), and their concatenation. */
function randomParts(count: number, seed: number): { parts: Uint8Array[]; all: Buffer } {
  let x = seed;
  const next = (): number => (x = (Math.imul(x, 1103515245) + 12345) >>> 0);
  const parts: Uint8Array[] = [];
  for (let i = 0; i < count; i++) {
    const r = next() % 10;
    const n = r === 0 ? 0 : r === 1 ? WRITE_CALL_MAX + (next() % 5000) : next() % 300_000;
    parts.push(randomBytes(n));
  }
  return { parts, all: Buffer.concat(parts) };
}

describe('writevAllAt', () => {
  it('writes the parts in order, gathered into calls of at most WRITE_CALL_MAX bytes, all started at once', async () => {
    const path = join(dir, 'gathered.bin');
    const { parts, all } = randomParts(40, 7);
    const h = await open(path, 'w');
    const calls: number[] = [];
    let started = 0;
    let startedBeforeFirstDone = -1;
    const spied = wrapWritev(h, (writev, group, p) => {
      started++;
      calls.push(group.reduce((a, b) => a + b.length, 0));
      return writev(group, p).then((r) => {
        if (startedBeforeFirstDone < 0) startedBeforeFirstDone = started;
        return r;
      });
    });
    try {
      await writevAllAt(spied, parts, 50);
    } finally {
      await h.close();
    }
    assert.ok(calls.every((n) => n > 0 && n <= WRITE_CALL_MAX));
    assert.equal(calls.slice(0, -1).filter((n) => n !== WRITE_CALL_MAX).length, 0, 'all but the last full');
    assert.equal(startedBeforeFirstDone, calls.length);
    const back = readFileSync(path);
    assert.equal(back.length, 50 + all.length);
    assert.ok(back.subarray(50).equals(all));
  });

  it('finishes a short gathered write part by part', async () => {
    const path = join(dir, 'gathered-short.bin');
    const { parts, all } = randomParts(12, 3);
    const h = await open(path, 'w');
    let n = 0;
    // Every second call writes only the first 1000 bytes of its first part, or of what it was given.
    const spied = wrapWritev(h, (writev, group, p) => {
      if (n++ % 2 === 1) return writev([(group[0] as Uint8Array).subarray(0, 1000)], p);
      return writev(group, p);
    });
    try {
      await writevAllAt(spied, parts, 0);
    } finally {
      await h.close();
    }
    assert.ok(readFileSync(path).equals(all));
  });
});

describe('writevAllAtSync', () => {
  it('writes everything at its position, in calls of at most WRITE_CALL_MAX bytes and 1,024 parts', () => {
    const path = join(dir, 'sync.bin');
    const { parts: big, all: bigAll } = randomParts(12, 5);
    // 3,000 parts of a few bytes: more than one call may gather (IOV_MAX).
    const small = Array.from({ length: 3000 }, (_, i) => randomBytes(1 + (i % 7)));
    const parts = [...big, ...small];
    const all = Buffer.concat([bigAll, ...small]);
    const calls: { parts: number; bytes: number }[] = [];
    const fd = openSync(path, 'w');
    try {
      writevAllAtSync(fd, parts, 77, (f, group, p) => {
        calls.push({ parts: group.length, bytes: group.reduce((a, b) => a + b.length, 0) });
        return writevSync(f, group, p);
      });
    } finally {
      closeSync(fd);
    }
    assert.ok(calls.every((c) => c.parts <= 1024 && c.bytes <= WRITE_CALL_MAX));
    assert.ok(
      calls.some((c) => c.parts === 1024),
      'the small parts fill whole calls',
    );
    assert.equal(
      calls.reduce((a, c) => a + c.bytes, 0),
      all.length,
    );
    const back = readFileSync(path);
    assert.equal(back.length, 77 + all.length);
    assert.ok(back.subarray(77).equals(all));
  });

  it('finishes a short gathered write part by part', () => {
    const path = join(dir, 'sync-short.bin');
    const { parts, all } = randomParts(12, 8);
    let n = 0;
    const fd = openSync(path, 'w');
    try {
      // Every second call writes only the first 1000 bytes of its first part.
      writevAllAtSync(fd, parts, 0, (f, group, p) =>
        n++ % 2 === 1
          ? writevSync(f, [(group[0] as Uint8Array).subarray(0, 1000)], p)
          : writevSync(f, group, p),
      );
    } finally {
      closeSync(fd);
    }
    assert.ok(n > 2);
    assert.ok(readFileSync(path).equals(all));
  });
});

describe('GatherWriter', () => {
  it('writes what is appended from its regions and other memory, in order; large inputs get a block of their size', async () => {
    const path = join(dir, 'gather.bin');
    const h = await open(path, 'w');
    let position = 0;
    const sink = {
      writev: (parts: readonly Uint8Array[]): Promise<void> => {
        const at = position;
        position += parts.reduce((a, b) => a + b.length, 0);
        return writevAllAt(h, parts, at);
      },
    };
    const w = new GatherWriter(sink, 64 << 10);
    const want: Buffer[] = [];
    let x = 11;
    try {
      for (let i = 0; i < 300; i++) {
        x = (Math.imul(x, 1103515245) + 12345) >>> 0;
        const size = i % 50 === 49 ? 200_000 : x % 40_000;
        const input = randomBytes(size);
        const region = await w.region(size);
        region.set(input);
        // Keep all but a header of up to 13 bytes, and now and then a few bytes from elsewhere.
        const skip = Math.min(size, x % 14);
        w.append(region.subarray(skip));
        want.push(input.subarray(skip));
        if (i % 7 === 0) {
          const extra = randomBytes(15);
          w.append(extra);
          want.push(extra);
        }
      }
      await w.flush();
    } finally {
      await h.close();
    }
    const all = Buffer.concat(want);
    assert.equal(w.written, all.length);
    assert.ok(readFileSync(path).equals(all));
  });

  it('reports a failed write at the next block or at flush', async () => {
    const sink = { writev: (): Promise<void> => Promise.reject(new Error('disk full')) };
    const w = new GatherWriter(sink, 1000);
    w.append(await w.region(800));
    await w.region(800); // the first block goes out (and fails, unseen yet)
    w.append(new Uint8Array(10));
    await assert.rejects(w.flush(), /disk full/);
  });
  it('with a sink that writes at once, fills the same block again and writes everything in order', async () => {
    const path = join(dir, 'gather-sync.bin');
    const fd = openSync(path, 'w');
    let position = 0;
    let calls = 0;
    const sink = {
      writev: (parts: readonly Uint8Array[]): void => {
        calls++;
        writevAllAtSync(fd, parts, position);
        position += parts.reduce((a, b) => a + b.length, 0);
      },
    };
    const w = new GatherWriter(sink, 64 << 10);
    const want: Buffer[] = [];
    const blocks = new Set<ArrayBufferLike>();
    try {
      for (let i = 0; i < 200; i++) {
        const size = (i * 7919) % 30_000;
        const input = randomBytes(size);
        const region = await w.region(size);
        blocks.add(region.buffer);
        region.set(input);
        w.append(region.subarray(Math.min(size, 11)));
        want.push(input.subarray(Math.min(size, 11)));
      }
      await w.flush();
    } finally {
      closeSync(fd);
    }
    assert.ok(calls > 10);
    assert.equal(blocks.size, 1, 'one block, written before it is filled again');
    const all = Buffer.concat(want);
    assert.equal(w.written, all.length);
    assert.ok(readFileSync(path).equals(all));
  });

  it('reports a sink that writes at once and fails, at the block that needed the write', async () => {
    const sink = {
      writev: (): void => {
        throw new Error('disk full');
      },
    };
    const w = new GatherWriter(sink, 1000);
    w.append(await w.region(800));
    await assert.rejects(w.region(800), /disk full/);
  });

  /**
   * A sink over one file: writev in the background, settled when `release()` is called (or at once with
   * `prompt`), writevNow at once; both at the place after everything appended before, as AtomicFile does.
   */
  function twoWaySink(fd: number): {
    sink: { writev(p: readonly Uint8Array[]): Promise<void>; writevNow(p: readonly Uint8Array[]): void };
    release(): void;
    prompt: boolean;
    background: number;
    now: number;
  } {
    let position = 0;
    let held: (() => void)[] = [];
    const place = (parts: readonly Uint8Array[]): number => {
      const at = position;
      position += parts.reduce((a, b) => a + b.length, 0);
      return at;
    };
    const s = {
      prompt: false,
      background: 0,
      now: 0,
      release: () => {
        const h = held;
        held = [];
        for (const f of h) f();
      },
      sink: {
        writev: (parts: readonly Uint8Array[]): Promise<void> => {
          s.background++;
          const at = place(parts);
          // The bytes are taken when the write is made, as the pool would (they stay as they are until then).
          return new Promise<void>((resolve) => {
            const write = (): void => {
              writevAllAtSync(fd, parts, at);
              resolve();
            };
            if (s.prompt) setImmediate(write);
            else held.push(write);
          });
        },
        writevNow: (parts: readonly Uint8Array[]): void => {
          s.now++;
          writevAllAtSync(fd, parts, place(parts));
        },
      },
    };
    return s;
  }

  it('with a sink that can also write at once, writes a full block itself while the other is in flight', async () => {
    const path = join(dir, 'gather-both.bin');
    const fd = openSync(path, 'w');
    const s = twoWaySink(fd);
    const w = new GatherWriter(s.sink, 64 << 10);
    const want: Buffer[] = [];
    try {
      for (let i = 0; i < 200; i++) {
        // The background write is let go now and then: between those, the blocks are written at once.
        if (i % 40 === 39) s.release();
        const size = (i * 7919) % 30_000;
        const input = randomBytes(size);
        const region = await w.region(size);
        region.set(input);
        w.append(region.subarray(Math.min(size, 11)));
        want.push(input.subarray(Math.min(size, 11)));
      }
      const flushed = w.flush();
      s.release();
      await flushed;
    } finally {
      closeSync(fd);
    }
    assert.ok(s.background >= 4, `background writes: ${s.background}`);
    assert.ok(s.now >= 10, `writes at once: ${s.now}`);
    assert.equal(w.writtenNow, s.now);
    const all = Buffer.concat(want);
    assert.equal(w.written, all.length);
    assert.ok(readFileSync(path).equals(all));
  });

  it('with a sink that can also write at once, leaves every block to the background writes that keep up', async () => {
    const path = join(dir, 'gather-prompt.bin');
    const fd = openSync(path, 'w');
    const s = twoWaySink(fd);
    s.prompt = true;
    const w = new GatherWriter(s.sink, 64 << 10);
    const want: Buffer[] = [];
    try {
      for (let i = 0; i < 100; i++) {
        const input = randomBytes(20_000 + i);
        const region = await w.region(input.length);
        region.set(input);
        w.append(region);
        want.push(input);
      }
      await w.flush();
    } finally {
      closeSync(fd);
    }
    assert.equal(s.now, 0);
    assert.ok(s.background > 20);
    assert.ok(readFileSync(path).equals(Buffer.concat(want)));
  });

  it('with a sink that can also write at once, reports a failed background write', async () => {
    let fail: (e: Error) => void = () => undefined;
    const sink = {
      writev: (): Promise<void> => new Promise<void>((_, reject) => (fail = reject)),
      writevNow: (): void => undefined,
    };
    const w = new GatherWriter(sink, 1000);
    w.append(await w.region(800));
    w.append(await w.region(800)); // the first block goes to the background
    w.append(await w.region(800)); // the second is written at once: the first is in flight
    fail(new Error('disk full'));
    await assert.rejects(w.flush(), /disk full/);
  });
});
