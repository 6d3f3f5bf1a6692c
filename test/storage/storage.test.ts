import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import {
  existsSync,
  linkSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { InputError, OutputError } from '../../src/core/errors.js';
import { AtomicFile, removeUnfinishedSync, replaceFile } from '../../src/storage/local.js';
import { PieceWriter, type Piece } from '../../src/storage/piece-writer.js';
import { scratchDir } from '../helpers/scratch.js';

const dir = scratchDir('castkit-storage-');

/** `data` written to `name` and opened, with a handle that counts the bytes read through it. */
async function countingInput(
  name: string,
  data: Uint8Array,
): Promise<{ handle: FileHandle; counting: FileHandle; bytesRead: () => number }> {
  writeFileSync(join(dir, name), data);
  const handle = await open(join(dir, name));
  let read = 0;
  const counting = {
    read: async (buf: Uint8Array, off: number, len: number, pos: number) => {
      const r = await handle.read(buf, off, len, pos);
      read += r.bytesRead;
      return r;
    },
  } as unknown as FileHandle;
  return { handle, counting, bytesRead: () => read };
}

describe('AtomicFile', () => {
  it('appears under its name only when committed', async () => {
    const path = join(dir, 'out.bin');
    const f = await AtomicFile.create(path);
    await f.write(new Uint8Array([1, 2, 3]));
    assert.equal(existsSync(path), false, 'not visible before commit');
    await f.commit();
    assert.deepEqual([...readFileSync(path)], [1, 2, 3]);
    assert.deepEqual(
      readdirSync(dir).filter((n) => n.endsWith('.part')),
      [],
    );
  });

  it('appends gathered parts on the calling thread, after room reserved at the start', async () => {
    const path = join(dir, 'appendv.bin');
    const f = await AtomicFile.create(path);
    f.reserve(4);
    const parts = [randomBytes(10), randomBytes(3 << 20), new Uint8Array(0), randomBytes(5)];
    f.appendvSync(parts);
    f.appendvSync([new Uint8Array([9, 9])]);
    assert.equal(f.bytesWritten, 4 + 10 + (3 << 20) + 5 + 2);
    await f.writeAt(new Uint8Array([1, 2, 3, 4]), 0);
    await f.commit();
    const back = readFileSync(path);
    assert.ok(back.equals(Buffer.concat([Buffer.from([1, 2, 3, 4]), ...parts, Buffer.from([9, 9])])));
    assert.throws(
      () => f.appendvSync([new Uint8Array(1)]),
      (e: unknown) => e instanceof OutputError,
    );
  });

  it('leaves nothing behind when aborted, and keeps an existing file', async () => {
    const path = join(dir, 'keep.bin');
    writeFileSync(path, 'old');
    const f = await AtomicFile.create(path);
    await f.write(new Uint8Array(10));
    await f.abort();
    assert.equal(readFileSync(path, 'utf8'), 'old');
    assert.deepEqual(
      readdirSync(dir).filter((n) => n.endsWith('.part')),
      [],
    );
  });

  it('replaces an existing file, leaving no other file behind', async () => {
    const sub = join(dir, 'replace');
    mkdirSync(sub);
    const path = join(sub, 'out.bin');
    writeFileSync(path, 'old');
    const other = join(sub, 'other-link.bin');
    linkSync(path, other); // a second name of the old file keeps its bytes
    const f = await AtomicFile.create(path);
    await f.write(new Uint8Array([7, 8]));
    await f.commit();
    assert.deepEqual([...readFileSync(path)], [7, 8]);
    assert.equal(readFileSync(other, 'utf8'), 'old');
    assert.deepEqual(readdirSync(sub).sort(), ['other-link.bin', 'out.bin']);
  });

  it('does not move a directory aside to put a file in its place', async () => {
    const sub = join(dir, 'replace-dir');
    mkdirSync(join(sub, 'out.mp4'), { recursive: true });
    writeFileSync(join(sub, 'new.bin'), 'new');
    await assert.rejects(replaceFile(join(sub, 'new.bin'), join(sub, 'out.mp4')));
    assert.deepEqual(readdirSync(sub).sort(), ['new.bin', 'out.mp4']);
    assert.deepEqual(readdirSync(join(sub, 'out.mp4')), []);
  });

  it('puts the old file back when the new one cannot be renamed into place', async () => {
    const sub = join(dir, 'replace-fail');
    mkdirSync(sub);
    const path = join(sub, 'out.bin');
    writeFileSync(path, 'old');
    await assert.rejects(replaceFile(join(sub, 'missing.part'), path), { code: 'ENOENT' });
    assert.equal(readFileSync(path, 'utf8'), 'old');
    assert.deepEqual(readdirSync(sub), ['out.bin']);
  });

  it('reports an unwritable destination as an output error', async () => {
    const notADir = join(dir, 'plain-file');
    writeFileSync(notADir, 'x');
    await assert.rejects(AtomicFile.create(join(notADir, 'x.mp4')), OutputError);
  });

  it('writes through a symbolic link: the file it names is replaced, the link stays', async () => {
    const sub = join(dir, 'links');
    mkdirSync(sub);
    writeFileSync(join(sub, 'real.mp4'), 'old');
    symlinkSync('real.mp4', join(sub, 'link.mp4'));
    symlinkSync('later.mp4', join(sub, 'dangling.mp4')); // names a file not made yet
    for (const [link, real] of [
      ['link.mp4', 'real.mp4'],
      ['dangling.mp4', 'later.mp4'],
    ] as const) {
      const f = await AtomicFile.create(join(sub, link));
      await f.write(new TextEncoder().encode(`new ${link}`));
      await f.commit();
      assert.ok(lstatSync(join(sub, link)).isSymbolicLink(), `${link} is still a link`);
      assert.equal(readFileSync(join(sub, real), 'utf8'), `new ${link}`);
    }
    assert.deepEqual(readdirSync(sub).sort(), ['dangling.mp4', 'later.mp4', 'link.mp4', 'real.mp4']);
  });

  it('refuses an output that is a named pipe or a directory, and leaves it as it was', async () => {
    const sub = join(dir, 'special');
    mkdirSync(join(sub, 'dir.mp4'), { recursive: true });
    execFileSync('mkfifo', [join(sub, 'pipe.ts')]);
    for (const [name, kind] of [
      ['pipe.ts', /a named pipe \(FIFO\), not a regular file/],
      ['dir.mp4', /a directory, not a regular file/],
    ] as const) {
      await assert.rejects(AtomicFile.create(join(sub, name)), (err: unknown) => {
        assert.ok(err instanceof OutputError);
        assert.equal(err.code, 'E_OUTPUT_NOT_FILE');
        assert.match(err.message, kind);
        return true;
      });
    }
    assert.ok(lstatSync(join(sub, 'pipe.ts')).isFIFO(), 'the FIFO is still a FIFO');
    assert.ok(lstatSync(join(sub, 'dir.mp4')).isDirectory());
    assert.deepEqual(readdirSync(sub).sort(), ['dir.mp4', 'pipe.ts']);
  });

  it('removeUnfinishedSync removes the temporary files of outputs not committed, and only those', async () => {
    const sub = join(dir, 'unfinished');
    const a = await AtomicFile.create(join(sub, 'a.mp4'));
    const b = await AtomicFile.create(join(sub, 'b.mp4'));
    await b.write(new Uint8Array([1]));
    await b.commit();
    assert.ok(existsSync(a.tempPath));
    removeUnfinishedSync();
    assert.deepEqual(readdirSync(sub), ['b.mp4']);
    await a.abort();
  });
});

describe('PieceWriter', () => {
  it('with a sink that can write at once: a block filled while the pool still writes the one before is written at once, in its place, and counted written after it', async () => {
    const file = await AtomicFile.create(join(dir, 'now.bin'));
    let now = 0;
    let slow = 0;
    // Byte ranges of the file that are written, to tell how far it is written with no hole.
    let claimed = 0;
    const done: [number, number][] = [];
    const prefix = (): number => {
      let end = 0;
      for (const [a, b] of [...done].sort((x, y) => x[0] - y[0])) if (a <= end) end = Math.max(end, b);
      return end;
    };
    let counted = 0;
    const w = new PieceWriter(
      {
        // The pool is slow: every other write takes 30 ms.
        write: async (d) => {
          const at = claimed;
          claimed += d.length;
          const p = file.writev([Buffer.from(d)]);
          if (slow++ % 2 === 0) await new Promise((r) => setTimeout(r, 30));
          await p;
          done.push([at, at + d.length]);
        },
        writeNow: (d) => {
          now++;
          file.appendvSync([d]);
          done.push([claimed, claimed + d.length]);
          claimed += d.length;
        },
      },
      [],
      16 * 1024,
      (written) => {
        counted++;
        assert.ok(written <= prefix(), `${written} bytes counted written, ${prefix()} with no hole`);
      },
    );
    const parts = Array.from({ length: 40 }, (_, i) => randomBytes(3000 + i * 97));
    for (const b of parts) if (!w.tryAdd({ bytes: b })) await w.add({ bytes: b });
    await w.flush();
    await w.close();
    await file.commit();
    assert.ok(readFileSync(join(dir, 'now.bin')).equals(Buffer.concat(parts)), 'every byte in order');
    assert.ok(now > 0 && slow > 0, `written at once ${now}, on the pool ${slow}`);
    assert.equal(w.written, Buffer.concat(parts).length);
    assert.equal(counted, now + slow, 'each block counted');
  });

  it('assembles bytes and input ranges in order, across window and buffer boundaries', async () => {
    const a = randomBytes(300_000);
    const b = randomBytes(50_000);
    writeFileSync(join(dir, 'a.bin'), a);
    writeFileSync(join(dir, 'b.bin'), b);
    const ha = await open(join(dir, 'a.bin'));
    const chunks: Buffer[] = [];
    const sink = { write: async (d: Uint8Array) => void chunks.push(Buffer.from(d)) };
    const w = new PieceWriter(
      sink,
      [
        { handle: ha, name: 'a.bin' },
        { path: join(dir, 'b.bin'), name: 'b.bin' }, // opened on demand
      ],
      64 * 1024,
    );
    const pieces: Piece[] = [
      { bytes: new Uint8Array([9, 9]) },
      { source: 0, offset: 10, size: 100 },
      { source: 1, offset: 0, size: 40_000 },
      { source: 0, offset: 110, size: 200_000 }, // larger than the block: read straight through
      { bytes: new Uint8Array(70_000).fill(7) }, // larger than the block: written directly
      { source: 0, offset: 5, size: 5 }, // going backwards
      { source: 1, offset: 49_990, size: 10 },
    ];
    for (const p of pieces) await w.add(p);
    await w.flush();
    const expected = Buffer.concat([
      Buffer.from([9, 9]),
      a.subarray(10, 110),
      b.subarray(0, 40_000),
      a.subarray(110, 200_110),
      Buffer.alloc(70_000, 7),
      a.subarray(5, 10),
      b.subarray(49_990, 50_000),
    ]);
    assert.ok(Buffer.concat(chunks).equals(expected));
    assert.equal(w.written, expected.length);
    await assert.rejects(
      w.add({ source: 1, offset: 49_995, size: 10 }).then(() => w.flush()),
      InputError,
    );
    await ha.close();
    await w.close();
  });

  it('reads large ranges straight into place, in order with the bytes around them, and finds a short input', async () => {
    const a = randomBytes(3 << 20);
    writeFileSync(join(dir, 'direct-a.bin'), a);
    const b = randomBytes(600_000);
    writeFileSync(join(dir, 'direct-b.bin'), b);
    const ha = await open(join(dir, 'direct-a.bin'));
    const chunks: Buffer[] = [];
    const sink = { write: async (d: Uint8Array) => void chunks.push(Buffer.from(d)) };
    const w = new PieceWriter(
      sink,
      [
        { handle: ha, name: 'direct-a.bin' },
        { path: join(dir, 'direct-b.bin'), name: 'direct-b.bin' },
      ],
      1 << 20,
    );
    const pieces: Piece[] = [
      { bytes: new Uint8Array([1, 2, 3]) },
      { source: 0, offset: 1000, size: 200_000 }, // taken at once (tryAdd): the handle is open
      { bytes: new Uint8Array(500).fill(5) },
      { source: 0, offset: 2_000_000, size: 700_000 }, // across the end of the 1 MB block
      { source: 1, offset: 100, size: 500_000 }, // opened on demand
      { source: 0, offset: 7, size: 13 }, // a small one, through the window
      { source: 0, offset: 100_000, size: 1_500_000 }, // larger than the block
    ];
    for (const p of pieces) if (!w.tryAdd(p)) await w.add(p);
    await w.flush();
    const expected = Buffer.concat([
      Buffer.from([1, 2, 3]),
      a.subarray(1000, 201_000),
      Buffer.alloc(500, 5),
      a.subarray(2_000_000, 2_700_000),
      b.subarray(100, 500_100),
      a.subarray(7, 20),
      a.subarray(100_000, 1_600_000),
    ]);
    assert.ok(Buffer.concat(chunks).equals(expected));
    assert.equal(w.written, expected.length);
    // A range past the end of its input (changed since it was demuxed): an InputError naming it.
    await assert.rejects(
      (async () => {
        const past = { source: 0, offset: a.length - 100_000, size: 200_000 };
        if (!w.tryAdd(past)) await w.add(past);
        await w.flush();
      })(),
      (e: unknown) => e instanceof InputError && e.message.includes('direct-a.bin'),
    );
    await w.close();
    await ha.close();
  });

  it('reads an input once when pieces step back a little at window edges (time order of an interleaved file)', async () => {
    // 8 MB in 16 KB blocks, in file order except that around every 2 MB the next block comes first: what
    // FLV tags in time order ask of an interleaved MP4.
    const data = randomBytes(8 << 20);
    const { handle, counting, bytesRead } = await countingInput('interleaved.bin', data);
    const block = 16 << 10;
    const order: number[] = [];
    for (let k = 0; k < data.length / block; k++) order.push(k);
    for (let k = 127; k + 1 < order.length; k += 128) [order[k], order[k + 1]] = [order[k + 1]!, order[k]!];
    const chunks: Buffer[] = [];
    const sink = { write: async (d: Uint8Array) => void chunks.push(Buffer.from(d)) };
    const w = new PieceWriter(sink, [{ handle: counting, name: 'interleaved.bin' }], 4 << 20);
    for (const k of order) {
      const piece = { source: 0, offset: k * block, size: block };
      if (!w.tryAdd(piece)) await w.add(piece);
    }
    await w.flush();
    await w.close();
    await handle.close();
    assert.ok(
      Buffer.concat(chunks).equals(
        Buffer.concat(order.map((k) => data.subarray(k * block, (k + 1) * block))),
      ),
    );
    assert.ok(bytesRead() <= data.length * 1.05, `read ${bytesRead()} bytes of a ${data.length}-byte input`);
  });

  it('reads only the bytes of large ranges that the end of a block splits (fMP4 fragments to an mdat)', async () => {
    // Fragments of about 390 kB with a 1 kB gap (moof) before each, into 1 MB blocks: most fragments are
    // split by a block's end, some leaving a tail under the direct-read size.
    const data = randomBytes(12 << 20);
    const { handle, counting, bytesRead } = await countingInput('fragments.bin', data);
    const pieces: { source: number; offset: number; size: number }[] = [];
    for (let at = 1024, k = 0; at + 400_000 <= data.length; k++) {
      const size = 380_000 + ((k * 7919) % 20_000);
      pieces.push({ source: 0, offset: at, size });
      at += size + 1024;
    }
    const chunks: Buffer[] = [];
    const sink = { write: async (d: Uint8Array) => void chunks.push(Buffer.from(d)) };
    const w = new PieceWriter(sink, [{ handle: counting, name: 'fragments.bin' }], 1 << 20);
    for (const p of pieces) if (!w.tryAdd(p)) await w.add(p);
    await w.flush();
    await w.close();
    await handle.close();
    const expected = Buffer.concat(pieces.map((p) => data.subarray(p.offset, p.offset + p.size)));
    assert.ok(Buffer.concat(chunks).equals(expected));
    assert.equal(
      bytesRead(),
      expected.length,
      `read ${bytesRead()} bytes for ${expected.length} bytes of ranges`,
    );
  });
});
