/**
 * Movie fragments built by hand with every trun flag combination (ISO/IEC 14496-12 8.8.8), both trun
 * versions, the three ways of finding the base data offset (8.8.7.1) and defaults from tfhd or from trex,
 * several trafs per moof and several truns per traf; the demuxer must find every sample exactly.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ByteWriter } from '../../../src/core/bytes.js';
import { FormatError } from '../../../src/core/errors.js';
import {
  bodyStart,
  box,
  childBoxes,
  fullBox,
  isSyncFlags,
  mdatHeader,
  readBox,
} from '../../../src/formats/isobmff/isobmff-boxes.js';
import { demuxIsobmff } from '../../../src/formats/isobmff/isobmff-demuxer.js';
import { writeInitSegment } from '../../../src/formats/isobmff/isobmff-fmp4-writer.js';
import type { Sample, TrackInfo } from '../../../src/formats/media.js';
import { demuxChunked, prng } from './isobmff-helpers.js';

const TRACKS: TrackInfo[] = [
  {
    id: 1,
    kind: 'video',
    codec: 'avc',
    timescale: 90000,
    config: Uint8Array.of(1, 0x64, 0, 0x1f, 0xff, 0xe0, 0),
    width: 64,
    height: 48,
  },
  {
    id: 2,
    kind: 'audio',
    codec: 'aac',
    timescale: 48000,
    config: Uint8Array.of(0x11, 0x90),
    sampleRate: 48000,
    channels: 2,
  },
];
const TREX = { duration: 1500, size: 7, flags: 0x01010000 };

/** writeInitSegment, with the trex defaults patched in (our writer leaves them 0). */
function initSegment(): Uint8Array {
  const init = writeInitSegment(TRACKS);
  const view = new DataView(init.buffer, init.byteOffset);
  const moov = readBox(init, readBox(init, 0, init.length).end, init.length);
  const mvex = childBoxes(init, moov).find((b) => b.type === 'mvex');
  assert.ok(mvex);
  for (const trex of childBoxes(init, mvex)) {
    const at = bodyStart(trex) + 4 + 8;
    view.setUint32(at, TREX.duration);
    view.setUint32(at + 4, TREX.size);
    view.setUint32(at + 8, TREX.flags);
  }
  return init;
}

const F_DATA = 0x1;
const F_FIRST = 0x4;
const F_DUR = 0x100;
const F_SIZE = 0x200;
const F_FLAGS = 0x400;
const F_CTS = 0x800;
const BITS = [F_DATA, F_FIRST, F_DUR, F_SIZE, F_FLAGS, F_CTS];

type Mode = 'moof' | 'explicit' | 'none';
interface SynthSample {
  duration: number;
  size: number;
  flags: number;
  cts: number;
}
interface SynthTrun {
  flags: number;
  firstFlags: number;
  samples: SynthSample[];
}
interface SynthTraf {
  trackId: number;
  tfdt?: number;
  defaults?: { duration: number; size: number; flags: number };
  truns: SynthTrun[];
}

/** Write one moof + mdat at absolute position `at`; returns the bytes and the samples we expect. */
function fragment(
  at: number,
  seq: number,
  version: 0 | 1,
  mode: Mode,
  trafs: SynthTraf[],
  nextDts: Map<number, number>,
): { bytes: Uint8Array; expected: Sample[] } {
  // Effective per-sample values, as a reader must resolve them: trun field, else tfhd default, else trex.
  const resolved = trafs.map((t) =>
    t.truns.map((r) =>
      r.samples.map((s, i) => ({
        duration: r.flags & F_DUR ? s.duration : (t.defaults?.duration ?? TREX.duration),
        size: r.flags & F_SIZE ? s.size : (t.defaults?.size ?? TREX.size),
        flags:
          r.flags & F_FLAGS
            ? s.flags
            : i === 0 && r.flags & F_FIRST
              ? r.firstFlags
              : (t.defaults?.flags ?? TREX.flags),
        cts: r.flags & F_CTS ? s.cts : 0,
      })),
    ),
  );
  const build = (moofSize: number): Uint8Array => {
    const w = new ByteWriter();
    let pos = at + moofSize + 8; // payload start
    let prevTrafEnd = at;
    box(w, 'moof', (m) => {
      fullBox(m, 'mfhd', 0, 0, (b) => b.u32(seq));
      trafs.forEach((t, ti) => {
        const trafStart = pos;
        const firstHasOffset = ((t.truns[0]?.flags ?? 0) & F_DATA) !== 0;
        let base: number;
        let tfFlags = 0;
        if (mode === 'moof') {
          base = at;
          tfFlags |= 0x20000;
        } else if (mode === 'explicit') {
          base = firstHasOffset ? trafStart - 5 : trafStart;
          tfFlags |= 0x1 | 0x2;
        } else base = ti === 0 ? at : prevTrafEnd;
        if (t.defaults) tfFlags |= 0x8 | 0x10 | 0x20;
        box(m, 'traf', (tr) => {
          fullBox(tr, 'tfhd', 0, tfFlags, (b) => {
            b.u32(t.trackId);
            if (tfFlags & 0x1) b.u64(base);
            if (tfFlags & 0x2) b.u32(1);
            if (t.defaults) b.u32(t.defaults.duration).u32(t.defaults.size).u32(t.defaults.flags);
          });
          if (t.tfdt !== undefined) {
            const v = t.tfdt > 0xffffffff ? 1 : 0;
            fullBox(tr, 'tfdt', v, 0, (b) => (v ? b.u64(t.tfdt as number) : b.u32(t.tfdt as number)));
          }
          t.truns.forEach((r, ri) => {
            fullBox(tr, 'trun', version, r.flags, (b) => {
              b.u32(r.samples.length);
              if (r.flags & F_DATA) b.i32(pos - base);
              if (r.flags & F_FIRST) b.u32(r.firstFlags);
              r.samples.forEach((s, i) => {
                if (r.flags & F_DUR) b.u32(s.duration);
                if (r.flags & F_SIZE) b.u32(s.size);
                if (r.flags & F_FLAGS) b.u32(s.flags);
                if (r.flags & F_CTS) b.u32(s.cts >>> 0);
                pos += (resolved[ti] as SynthSample[][])[ri]?.[i]?.size ?? 0;
              });
            });
          });
        });
        prevTrafEnd = pos;
      });
    });
    const payload = pos - (at + moofSize + 8);
    w.bytes(mdatHeader(payload));
    w.bytes(new Uint8Array(payload).fill(seq));
    return w.toBytes();
  };
  const first = build(0);
  const moofSize = readBox(first, 0, first.length).end;
  const bytes = build(moofSize);
  const expected: Sample[] = [];
  let pos = at + moofSize + 8;
  trafs.forEach((t, ti) => {
    let dts = t.tfdt ?? nextDts.get(t.trackId) ?? 0;
    for (const run of resolved[ti] as SynthSample[][]) {
      for (const s of run) {
        expected.push({
          trackId: t.trackId,
          dts,
          cts: s.cts,
          duration: s.duration,
          keyframe: isSyncFlags(s.flags),
          size: s.size,
          offset: pos,
        });
        dts += s.duration;
        pos += s.size;
      }
    }
    nextDts.set(t.trackId, dts);
  });
  return { bytes, expected };
}

/** Position of the first box of a type (by its fourcc; fine for these small hand-made fragments). */
function boxAt(bytes: Uint8Array, type: string): number {
  for (let i = 4; i + 4 <= bytes.length; i++) {
    if (String.fromCharCode(...bytes.subarray(i, i + 4)) === type) return i - 4;
  }
  throw new Error(`no ${type}`);
}

const FLAG_VALUES = [0x02000000, 0x01010000, 0x00010000, 0, 0x01000000];

function samples(rand: () => number, n: number, version: 0 | 1): SynthSample[] {
  return Array.from({ length: n }, () => ({
    duration: 1 + Math.floor(rand() * 3000),
    size: 1 + Math.floor(rand() * 40),
    flags: FLAG_VALUES[Math.floor(rand() * FLAG_VALUES.length)] as number,
    // Version 0 offsets are unsigned: try one above 2^31 too. Version 1: signed.
    cts:
      version === 0
        ? rand() < 0.2
          ? 0x80000010
          : Math.floor(rand() * 5000)
        : Math.floor(rand() * 6000) - 2000,
  }));
}

describe('movie fragments: every trun flag combination', () => {
  it('64 trun flag sets x 2 versions x 3 base-offset modes x tfhd/trex defaults', () => {
    const rand = prng(12345);
    const init = initSegment();
    let files = 0;
    for (let combo = 0; combo < 64; combo++) {
      let flags = 0;
      BITS.forEach((b, i) => {
        if (combo & (1 << i)) flags |= b;
      });
      for (const version of [0, 1] as const) {
        for (const mode of ['moof', 'explicit', 'none'] as const) {
          for (const withDefaults of [false, true]) {
            // Where the first trun needs a data offset to be found at all, it has one.
            const first = mode === 'explicit' ? flags : flags | F_DATA;
            const trafs = (tfdt: number | undefined): SynthTraf[] => [
              {
                trackId: 1,
                ...(tfdt !== undefined ? { tfdt } : {}),
                ...(withDefaults ? { defaults: { duration: 3000, size: 11, flags: 0x00010000 } } : {}),
                truns: [
                  { flags: first, firstFlags: 0x02000000, samples: samples(rand, 3, version) },
                  { flags: flags & ~F_DATA, firstFlags: 0x02000000, samples: samples(rand, 2, version) },
                ],
              },
              {
                trackId: 2,
                ...(tfdt !== undefined ? { tfdt: tfdt + 7 } : {}),
                ...(withDefaults ? { defaults: { duration: 1024, size: 5, flags: 0x02000000 } } : {}),
                truns: [
                  {
                    // 'none' mode: the second traf's data follows the first's without an offset.
                    flags: mode === 'none' ? flags : first,
                    firstFlags: 0x01010000,
                    samples: samples(rand, 2, version),
                  },
                ],
              },
            ];
            const next = new Map<number, number>();
            const a = fragment(init.length, 1, version, mode, trafs(2 ** 33 + 5), next);
            // The second fragment has no tfdt: decode times go on from the first.
            const b = fragment(init.length + a.bytes.length, 2, version, mode, trafs(undefined), next);
            const file = new Uint8Array(init.length + a.bytes.length + b.bytes.length);
            file.set(init);
            file.set(a.bytes, init.length);
            file.set(b.bytes, init.length + a.bytes.length);
            const label = `flags 0x${flags.toString(16)} v${version} ${mode} defaults=${withDefaults}`;
            const d = demuxIsobmff(file);
            assert.deepEqual(d.warnings, [], label);
            assert.deepEqual(d.samples, [...a.expected, ...b.expected], label);
            if (combo % 9 === 0) assert.deepEqual(demuxChunked(file, 13).samples, d.samples, label);
            files++;
          }
        }
      }
    }
    assert.equal(files, 768);
  });

  it('a trun whose sample_count needs more entry bytes than the box has is a FormatError', () => {
    const init = initSegment();
    const rand = prng(7);
    const { bytes } = fragment(
      init.length,
      1,
      1,
      'moof',
      [
        {
          trackId: 1,
          tfdt: 0,
          truns: [{ flags: F_DATA | F_SIZE | F_DUR, firstFlags: 0, samples: samples(rand, 3, 1) }],
        },
      ],
      new Map(),
    );
    const trunAt = boxAt(bytes, 'trun'); // sample_count at +12
    new DataView(bytes.buffer).setUint32(trunAt + 12, 0xfffffff0);
    const file = new Uint8Array([...init, ...bytes]);
    assert.throws(
      () => demuxIsobmff(file),
      (e: unknown) =>
        e instanceof FormatError && e.code === 'E_MP4_TRUN_OVERFLOW' && e.offset === init.length + trunAt,
    );
  });

  it('a trun without per-sample sizes may not claim more samples than the mdat holds', () => {
    const init = initSegment();
    const rand = prng(8);
    const { bytes } = fragment(
      init.length,
      1,
      0,
      'moof',
      [
        {
          trackId: 1,
          tfdt: 0,
          truns: [{ flags: F_DATA | F_DUR, firstFlags: 0, samples: samples(rand, 3, 0) }],
        },
      ],
      new Map(),
    );
    const trunAt = boxAt(bytes, 'trun');
    // Keep the box consistent: make the per-sample duration field absent so the count is only bounded
    // by the data, then claim 2^31 samples of trex's 7 bytes.
    const view = new DataView(bytes.buffer);
    view.setUint32(trunAt + 8, F_DATA);
    view.setUint32(trunAt + 12, 0x80000000);
    const file = new Uint8Array([...init, ...bytes]);
    assert.throws(
      () => demuxIsobmff(file),
      (e: unknown) => e instanceof FormatError && e.code === 'E_MP4_TRUN_OVERFLOW',
    );
  });
});
