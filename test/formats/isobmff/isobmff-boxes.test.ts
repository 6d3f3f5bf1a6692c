/** Box reader/writer, sample tables (co64, stz2, ctts v1) and hostile input. */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { ByteWriter } from '../../../src/core/bytes.js';
import { FormatError } from '../../../src/core/errors.js';
import {
  box,
  childBoxes,
  fullBox,
  fullBoxHeader,
  mdatHeader,
  peekBoxHeader,
  readBox,
  readBoxes,
} from '../../../src/formats/isobmff/isobmff-boxes.js';
import { IsobmffDemuxer, demuxIsobmff, sniffIsobmff } from '../../../src/formats/isobmff/isobmff-demuxer.js';
import { parseMoov } from '../../../src/formats/isobmff/isobmff-moov.js';
import { writeMvhd, writeTrak } from '../../../src/formats/isobmff/isobmff-moov-writer.js';
import { type TrackTables, writeSampleTables } from '../../../src/formats/isobmff/isobmff-mp4-writer.js';
import { SampleTableCursor } from '../../../src/formats/isobmff/isobmff-sample-table.js';
import type { TrackInfo } from '../../../src/formats/media.js';
import { fixture } from '../../helpers/fixtures.js';
import { prng } from './isobmff-helpers.js';

const isFormatError =
  (code?: string, offset?: number) =>
  (e: unknown): boolean => {
    assert.ok(e instanceof FormatError, `expected a FormatError, got ${String(e)}`);
    if (code !== undefined) assert.equal(e.code, code);
    if (offset !== undefined) assert.equal(e.offset, offset);
    assert.match(e.message, /at byte \d+/);
    return true;
  };

function bytes(...parts: (number[] | string)[]): Uint8Array {
  const out: number[] = [];
  for (const p of parts) {
    if (typeof p === 'string') for (const c of p) out.push(c.charCodeAt(0));
    else out.push(...p);
  }
  return Uint8Array.from(out);
}
const be32 = (v: number): number[] => [(v >>> 24) & 255, (v >>> 16) & 255, (v >>> 8) & 255, v & 255];

describe('box reader', () => {
  it('reads 32-bit, 64-bit (largesize), size-0, uuid and unknown boxes', () => {
    const data = bytes(
      be32(12),
      'free',
      [1, 2, 3, 4],
      be32(1),
      'abcd',
      be32(0),
      be32(20),
      [9, 9, 9, 9],
      be32(32),
      'uuid',
      Array.from({ length: 16 }, (_, i) => i),
      [7, 7, 7, 7, 7, 7, 7, 7],
      be32(0),
      'mdat',
      [5, 5, 5],
    );
    const boxes = readBoxes(data, 0, data.length, 1000);
    assert.deepEqual(
      boxes.map((b) => [b.type, b.start, b.headerSize, b.end]),
      [
        ['free', 0, 8, 12],
        ['abcd', 12, 16, 32],
        ['uuid', 32, 24, 64],
        ['mdat', 64, 8, 75],
      ],
    );
    assert.deepEqual(
      [...(boxes[2]?.usertype ?? [])],
      Array.from({ length: 16 }, (_, i) => i),
    );
    assert.equal(boxes[3]?.end, data.length, 'size 0 runs to the end of the container');
  });

  it('full box version and flags; peekBoxHeader waits for the whole header', () => {
    const w = new ByteWriter();
    fullBox(w, 'tfhd', 1, 0x020038, (b) => b.u32(7));
    const data = w.toBytes();
    const b = readBox(data, 0, data.length);
    assert.deepEqual(fullBoxHeader(data, b), { version: 1, flags: 0x020038 });
    assert.equal(peekBoxHeader(data, 0, 7, 0), undefined);
    assert.deepEqual(peekBoxHeader(data, 0, 8, 0), { type: 'tfhd', headerSize: 8, size: 16 });
    const large = bytes(be32(1), 'mdat', be32(0));
    assert.equal(peekBoxHeader(large, 0, large.length, 0), undefined, 'largesize needs 16 bytes');
  });

  it('a box smaller than its header, past its container, or truncated is a FormatError naming the offset', () => {
    assert.throws(
      () => readBoxes(bytes(be32(12), 'free', [0, 0, 0, 0], be32(4), 'free'), 0, 20, 500),
      isFormatError('E_MP4_BOX_SIZE', 512),
    );
    assert.throws(
      () => readBoxes(bytes(be32(30), 'free', [0, 0]), 0, 10, 100),
      isFormatError('E_MP4_BOX_SIZE', 100),
    );
    assert.throws(() => readBoxes(bytes(be32(8), 'fre'), 0, 7, 0), isFormatError('E_MP4_TRUNCATED', 0));
    assert.throws(
      () => readBoxes(bytes(be32(1), 'mdat', be32(0), be32(9)), 0, 16, 0),
      isFormatError('E_MP4_BOX_SIZE', 0),
    );
    const tooBig = bytes(be32(1), 'mdat', be32(0xffffffff), be32(0));
    assert.throws(() => readBoxes(tooBig, 0, 16, 0), isFormatError('E_MP4_BOX_SIZE', 0));
  });

  it('writer helpers: box sizes patched, mdat header 8 or 16 bytes', () => {
    const w = new ByteWriter();
    box(w, 'moov', (m) => {
      box(m, 'udta');
      fullBox(m, 'mvhd', 0, 0, (b) => b.u32(1));
    });
    const data = w.toBytes();
    const moov = readBox(data, 0, data.length);
    assert.equal(moov.end, 8 + 8 + 16);
    assert.deepEqual(
      childBoxes(data, moov).map((b) => b.type),
      ['udta', 'mvhd'],
    );
    assert.equal(mdatHeader(100).length, 8);
    const big = mdatHeader(2 ** 32);
    assert.equal(big.length, 16);
    const h = peekBoxHeader(big, 0, 16, 0);
    assert.deepEqual(h, { type: 'mdat', headerSize: 16, size: 2 ** 32 + 16 });
    assert.equal(mdatHeader(2 ** 32 - 9).length, 8);
    assert.equal(mdatHeader(2 ** 32 - 8).length, 16);
  });

  it('sniffIsobmff', async () => {
    assert.ok(sniffIsobmff(readFileSync(await fixture('h264-aac.mp4')).subarray(0, 32)));
    assert.ok(sniffIsobmff(bytes(be32(24), 'styp', 'msdh')));
    assert.ok(!sniffIsobmff(bytes('FLV', [1, 5, 0, 0, 0, 9])));
    assert.ok(!sniffIsobmff(bytes([0x47, 0x40, 0, 0x10, 0, 0, 0xb0, 0x0d])));
    assert.ok(!sniffIsobmff(bytes(be32(4), 'ftyp')));
    assert.ok(!sniffIsobmff(bytes(be32(8))));
  });
});

const VIDEO: TrackInfo = {
  id: 1,
  kind: 'video',
  codec: 'avc',
  timescale: 90000,
  config: Uint8Array.of(1, 0x64, 0, 0x1f, 0xff, 0xe0, 0),
  width: 64,
  height: 48,
};

/** A moov with one track whose stbl comes from `tables` (or a hand-written stbl body). */
function moovWith(stbl: (w: ByteWriter) => void): Uint8Array {
  const w = new ByteWriter();
  box(w, 'moov', (m) => {
    writeMvhd(m, 1000, 0, 2);
    writeTrak(m, VIDEO, { trackId: 1, duration: 0, mediaDuration: 0, tables: stbl });
  });
  return w.toBytes();
}

function walk(moov: Uint8Array): { offset: number; size: number; dts: number; cts: number; key: boolean }[] {
  const parsed = parseMoov(moov, readBox(moov, 0, moov.length), 0);
  const t = parsed.tracks[0];
  assert.ok(t?.tables);
  const c = new SampleTableCursor(moov, t.tables);
  const out = [];
  while (c.next()) out.push({ offset: c.offset, size: c.size, dts: c.dts, cts: c.cts, key: c.keyframe });
  return out;
}

describe('sample tables', () => {
  const tables: TrackTables = {
    durations: [3000, 3000, 3000, 1500, 1500],
    cts: [3000, -3000, 0, 6000, 0],
    sizes: [100, 20, 20, 30, 40],
    keyframes: [1, 0, 0, 1, 0],
    chunkOffsets: [0, 1000, 2 ** 32 + 7],
    chunkCounts: [2, 1, 2],
  };

  it('co64 when a chunk offset reaches 2^32, read back by our own reader', () => {
    const base = 500;
    const moov = moovWith((w) => writeSampleTables(w, tables, base));
    const types = new Set<string>();
    const scan = (data: Uint8Array, s: number, e: number): void => {
      for (const b of readBoxes(data, s, e)) {
        types.add(b.type);
        if (['moov', 'trak', 'mdia', 'minf', 'stbl'].includes(b.type))
          scan(data, b.start + b.headerSize, b.end);
      }
    };
    scan(moov, 0, moov.length);
    assert.ok(types.has('co64') && !types.has('stco'));
    assert.ok(types.has('ctts') && types.has('stss'));
    assert.deepEqual(walk(moov), [
      { offset: 500, size: 100, dts: 0, cts: 3000, key: true },
      { offset: 600, size: 20, dts: 3000, cts: -3000, key: false },
      { offset: 1500, size: 20, dts: 6000, cts: 0, key: false },
      { offset: 2 ** 32 + 507, size: 30, dts: 9000, cts: 6000, key: true },
      { offset: 2 ** 32 + 537, size: 40, dts: 10500, cts: 0, key: false },
    ]);
    // The same tables below 2^32 use stco.
    const small = moovWith((w) => writeSampleTables(w, { ...tables, chunkOffsets: [0, 1000, 5000] }, 0));
    assert.equal(walk(small)[4]?.offset, 5030);
  });

  it('ctts is version 1 only with a negative offset, and left out when all are 0; stss left out when all sync', () => {
    const find = (moov: Uint8Array, type: string): Uint8Array | undefined => {
      const i = Buffer.from(moov).indexOf(type);
      return i < 0 ? undefined : moov.subarray(i - 4);
    };
    const v1 = moovWith((w) => writeSampleTables(w, tables, 0));
    assert.equal(find(v1, 'ctts')?.[8], 1);
    const v0 = moovWith((w) => writeSampleTables(w, { ...tables, cts: [0, 6000, 3000, 0, 0] }, 0));
    assert.equal(find(v0, 'ctts')?.[8], 0);
    const none = moovWith((w) =>
      writeSampleTables(w, { ...tables, cts: [0, 0, 0, 0, 0], keyframes: [1, 1, 1, 1, 1] }, 0),
    );
    assert.equal(find(none, 'ctts'), undefined);
    assert.equal(find(none, 'stss'), undefined);
    assert.ok(walk(none).every((s) => s.key && s.cts === 0));
  });

  it('stz2 with 4-, 8- and 16-bit sizes; stsz with one size for all', () => {
    for (const bits of [4, 8, 16]) {
      const sizes = bits === 4 ? [1, 15, 7, 3, 9] : bits === 8 ? [200, 1, 255, 3, 9] : [60000, 1, 255, 3, 9];
      const moov = moovWith((w) => {
        fullBox(w, 'stts', 0, 0, (b) => b.u32(1).u32(5).u32(10));
        fullBox(w, 'stz2', 0, 0, (b) => {
          b.u24(0).u8(bits).u32(5);
          if (bits === 4) {
            b.u8(0x1f).u8(0x73).u8(0x90); // 1,15 7,3 9,(pad)
          } else {
            for (const s of sizes) {
              if (bits === 8) b.u8(s);
              else b.u16(s);
            }
          }
        });
        fullBox(w, 'stsc', 0, 0, (b) => b.u32(1).u32(1).u32(5).u32(1));
        fullBox(w, 'stco', 0, 0, (b) => b.u32(1).u32(100));
      });
      const got = walk(moov);
      assert.deepEqual(
        got.map((s) => s.size),
        sizes,
        `stz2 ${bits}`,
      );
      assert.deepEqual(
        got.map((s) => s.dts),
        [0, 10, 20, 30, 40],
      );
    }
    const fixed = moovWith((w) => writeSampleTables(w, { ...tables, sizes: [9, 9, 9, 9, 9] }, 0));
    assert.deepEqual(
      walk(fixed).map((s) => s.size),
      [9, 9, 9, 9, 9],
    );
  });
});

describe('hostile input', () => {
  it('a top-level box smaller than its header', () => {
    const d = new IsobmffDemuxer();
    assert.throws(
      () => d.push(bytes(be32(24), 'ftyp', 'isom', be32(0), 'isom', 'mp41', be32(4), 'free')),
      isFormatError('E_MP4_BOX_SIZE', 24),
    );
    assert.throws(() => d.push(new Uint8Array(4)), FormatError, 'a failed demuxer stays failed');
  });

  it('not ISO-BMFF at all', () => {
    assert.throws(
      () => demuxIsobmff(bytes('FLV', [1, 5, 0, 0, 0, 9, 0, 0, 0, 0])),
      isFormatError('E_MP4_NOT_ISOBMFF', 0),
    );
    assert.throws(() => demuxIsobmff(new Uint8Array(0)), isFormatError('E_MP4_NO_MOOV', 0));
  });

  it('a truncated moov is a FormatError at the moov; a truncated mdat loses only the missing samples', async () => {
    const mp4 = readFileSync(await fixture('h264-aac.mp4')); // moov at the end
    const moovAt = Buffer.from(mp4).indexOf('moov') - 4;
    assert.throws(
      () => demuxIsobmff(mp4.subarray(0, moovAt + 500)),
      isFormatError('E_MP4_TRUNCATED', moovAt),
    );

    const frag = readFileSync(await fixture('h264-aac.fmp4'));
    const whole = demuxIsobmff(frag);
    const cut = Math.floor(frag.length * 0.6);
    const part = demuxIsobmff(frag.subarray(0, cut));
    assert.ok(part.warnings.some((w) => w.code === 'W_MP4_TRUNCATED'));
    const expected = whole.samples.filter((s) => (s.offset as number) + s.size <= cut);
    assert.deepEqual(part.samples, expected);
  });

  it('a child box that runs past its parent names its own offset', async () => {
    const mp4 = new Uint8Array(readFileSync(await fixture('h264-aac.mp4')));
    const trakAt = Buffer.from(mp4).indexOf('trak', Buffer.from(mp4).indexOf('moov')) - 4;
    new DataView(mp4.buffer).setUint32(trakAt, 0x7fffffff);
    assert.throws(() => demuxIsobmff(mp4), isFormatError('E_MP4_BOX_SIZE', trakAt));
  });

  it('table counts larger than their boxes are FormatErrors', async () => {
    const mp4 = new Uint8Array(readFileSync(await fixture('h264-aac.mp4')));
    const stszAt = Buffer.from(mp4).indexOf('stsz', Buffer.from(mp4).indexOf('moov')) - 4;
    new DataView(mp4.buffer).setUint32(stszAt + 16, 0x7ffffff0); // sample_count
    assert.throws(() => demuxIsobmff(mp4), isFormatError('E_MP4_TABLE_OVERFLOW', stszAt));
  });

  it('chunks that all point at the same bytes cannot multiply the samples', () => {
    const file = (perChunk: number, chunks: number): Uint8Array => {
      const moov = moovWith((w) => {
        fullBox(w, 'stts', 0, 0, (b) => b.u32(1).u32(0x7fffffff).u32(1));
        fullBox(w, 'stsz', 0, 0, (b) => b.u32(1).u32(0x7fffffff));
        fullBox(w, 'stsc', 0, 0, (b) => b.u32(1).u32(1).u32(perChunk).u32(1));
        fullBox(w, 'stco', 0, 0, (b) => {
          b.u32(chunks);
          for (let i = 0; i < chunks; i++) b.u32(8);
        });
      });
      return new Uint8Array([...bytes(be32(72), 'mdat'), ...new Uint8Array(64), ...moov]);
    };
    // 1000 chunks of the same 64 one-byte samples: more payload than the input has.
    assert.throws(() => demuxIsobmff(file(64, 1000)), isFormatError('E_MP4_OVERLAP'));
    // 2^31 one-byte samples in chunks of 2^20: bounded by the input, the rest reported lost.
    const big = file(1 << 20, 1000);
    const d = demuxIsobmff(big);
    assert.ok(d.samples.length <= big.length);
    assert.ok(d.warnings.some((w) => w.code === 'W_MP4_TRUNCATED'));
  });

  it('random bytes and random mutations give samples or a FormatError, nothing else', async () => {
    const rand = prng(2024);
    const check = (data: Uint8Array): void => {
      try {
        const d = new IsobmffDemuxer({ maxBoxSize: 1 << 20 });
        const out = [];
        for (let i = 0; i < data.length; i += 4096) out.push(...d.push(data.subarray(i, i + 4096)).samples);
        out.push(...d.end().samples);
        for (const s of out)
          assert.ok((s.offset as number) + s.size <= data.length, 'samples lie in the input');
      } catch (e) {
        if (!(e instanceof FormatError)) throw e;
        assert.ok(Number.isInteger(e.offset) && e.offset >= 0);
      }
    };
    for (let i = 0; i < 300; i++) {
      const n = Math.floor(rand() * 3000);
      const data = new Uint8Array(n);
      for (let j = 0; j < n; j++) data[j] = Math.floor(rand() * 256);
      if (i % 2 === 0 && n >= 8) data.set(bytes(be32(Math.floor(rand() * n)), 'moov'));
      check(data);
    }
    for (const name of ['h264-aac.mp4', 'h264-aac.fmp4']) {
      const orig = readFileSync(await fixture(name));
      // Mutate the structure: the moov of the progressive file, the moov and moofs of the fragmented one.
      const moovAt = Buffer.from(orig).indexOf('moov') - 4;
      const region = name === 'h264-aac.mp4' ? [moovAt, orig.length] : [0, 3000];
      for (let i = 0; i < 250; i++) {
        const data = new Uint8Array(orig);
        const edits = 1 + Math.floor(rand() * 6);
        for (let k = 0; k < edits; k++) {
          const at =
            (region[0] as number) + Math.floor(rand() * ((region[1] as number) - (region[0] as number)));
          data[at] = rand() < 0.5 ? Math.floor(rand() * 256) : ([0, 0xff, 0x80, 0x7f][k % 4] as number);
        }
        check(data);
      }
    }
  });
});
