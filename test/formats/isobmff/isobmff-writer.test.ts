/** planMp4 and the fMP4 writer on synthetic samples, read back with our own demuxer. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { UsageError } from '../../../src/core/errors.js';
import { readBoxes } from '../../../src/formats/isobmff/isobmff-boxes.js';
import { demuxIsobmff } from '../../../src/formats/isobmff/isobmff-demuxer.js';
import { writeFragment, writeInitSegment } from '../../../src/formats/isobmff/isobmff-fmp4-writer.js';
import { planMp4 } from '../../../src/formats/isobmff/isobmff-mp4-writer.js';
import type { Sample, TrackInfo } from '../../../src/formats/media.js';
import { SampleTable } from '../../../src/formats/sample-table.js';
import { seededRandom } from '../../../src/download/retry-policy.js';

const VIDEO: TrackInfo = {
  id: 7,
  kind: 'video',
  codec: 'avc',
  timescale: 90000,
  config: Uint8Array.of(1, 0x64, 0, 0x1f, 0xff, 0xe0, 0),
  width: 640,
  height: 360,
};
const AUDIO: TrackInfo = {
  id: 3,
  kind: 'audio',
  codec: 'aac',
  timescale: 48000,
  config: Uint8Array.of(0x11, 0x90),
  sampleRate: 48000,
  channels: 2,
  language: 'fra',
};

const v = (dts: number, cts: number, keyframe: boolean, size: number, duration = 0): Sample => ({
  trackId: 7,
  dts,
  cts,
  duration,
  keyframe,
  size,
});
const a = (dts: number, size: number): Sample => ({
  trackId: 3,
  dts,
  cts: 0,
  duration: 1024,
  keyframe: true,
  size,
});

/** head + zero payloads + tail, as a file. */
function file(head: Uint8Array, payload: number, tail: Uint8Array): Uint8Array {
  const out = new Uint8Array(head.length + payload + tail.length);
  out.set(head);
  out.set(tail, head.length + payload);
  return out;
}

describe('planMp4', () => {
  // Mdat order: V V A A V A; video has a dts gap (9000 -> 15000) and no durations.
  const samples = [
    v(0, 3000, true, 100),
    v(3000, 9000, false, 50),
    a(4800, 10),
    a(5824, 11),
    v(6000, 0, false, 40),
    a(6848, 12),
    v(9000, 3000, false, 30),
    v(15000, 3000, true, 60),
  ];
  const ordered = samples;

  for (const faststart of [true, false]) {
    it(`tables, durations, chunks, renumbered ids and edit lists (faststart ${faststart})`, () => {
      const plan = planMp4([VIDEO, AUDIO], SampleTable.from(ordered), { faststart });
      assert.equal(plan.payloadSize, 100 + 50 + 10 + 11 + 40 + 12 + 30 + 60);
      const bytes = file(plan.head, plan.payloadSize, plan.tail);
      assert.deepEqual(
        readBoxes(bytes, 0, bytes.length).map((b) => b.type),
        faststart ? ['ftyp', 'moov', 'mdat'] : ['ftyp', 'mdat', 'moov'],
      );
      const d = demuxIsobmff(bytes);
      assert.deepEqual(d.warnings, []);
      assert.deepEqual(
        d.tracks.map((t) => [t.id, t.kind, t.timescale, t.language]),
        [
          [1, 'video', 90000, 'und'],
          [2, 'audio', 48000, 'fra'],
        ],
      );
      assert.deepEqual([...(d.tracks[1]?.config ?? [])], [0x11, 0x90]);
      assert.equal(d.tracks[0]?.width, 640);
      // Payload order is kept, and each sample's range is where we said it would be.
      let at = plan.head.length;
      assert.deepEqual(
        d.samples.map((s) => [s.offset, s.size]),
        ordered.map((s) => {
          const r = [at, s.size];
          at += s.size;
          return r;
        }),
      );
      // Decode times are kept across the gap (durations come from the next dts); the last video sample
      // repeats the previous duration; audio starts at 0 on its own timeline.
      const video = d.samples.filter((s) => s.trackId === 1);
      assert.deepEqual(
        video.map((s) => [s.dts, s.duration, s.cts, s.keyframe]),
        [
          [0, 3000, 3000, true],
          [3000, 3000, 9000, false],
          [6000, 3000, 0, false],
          [9000, 6000, 3000, false],
          [15000, 6000, 3000, true],
        ],
      );
      const audio = d.samples.filter((s) => s.trackId === 2);
      assert.deepEqual(
        audio.map((s) => [s.dts, s.duration]),
        [
          [0, 1024],
          [1024, 1024],
          [2048, 1024],
        ],
      );
      // Edit lists: video presentation starts at its first pts (media_time 3000); audio starts 0.1 s after
      // the video's first frame (4800/48000 - 3000/90000 = 1/15 s), which becomes an empty edit.
      assert.equal(d.tracks[0]?.edit?.mediaTime, 3000);
      assert.equal(d.tracks[0]?.edit?.delay, 0);
      assert.equal(d.tracks[1]?.edit?.mediaTime, 0);
      assert.equal(d.tracks[1]?.edit?.delay, 3200);
    });
  }

  it('no edit list when presentation already starts at 0; input edit lists are kept', () => {
    const plain = planMp4([AUDIO], SampleTable.from([a(0, 10), a(1024, 10)]));
    const d = demuxIsobmff(file(plain.head, plain.payloadSize, plain.tail));
    assert.equal(d.tracks[0]?.edit, undefined);
    const kept = planMp4(
      [{ ...AUDIO, edit: { mediaTime: 1024, delay: 0, duration: 1500 } }],
      SampleTable.from([a(0, 10), a(1024, 10)]),
    );
    const k = demuxIsobmff(file(kept.head, kept.payloadSize, kept.tail));
    assert.deepEqual(k.tracks[0]?.edit, { mediaTime: 1024, delay: 0, duration: 1500 });
  });

  it('headSize and room: a head of the reserved size with a free box, or the smallest one', () => {
    const table = SampleTable.from(ordered);
    const exact = planMp4([VIDEO, AUDIO], SampleTable.from(ordered));
    const roomy = exact.head.length + 100;
    for (const plan of [
      planMp4([VIDEO, AUDIO], table, { headSize: roomy }),
      planMp4([VIDEO, AUDIO], SampleTable.from(ordered), { room: roomy }),
    ]) {
      assert.equal(plan.head.length, roomy);
      const bytes = file(plan.head, plan.payloadSize, plan.tail);
      assert.deepEqual(
        readBoxes(bytes, 0, bytes.length).map((b) => b.type),
        ['ftyp', 'moov', 'free', 'mdat'],
      );
      const d = demuxIsobmff(bytes);
      assert.deepEqual(d.warnings, []);
      assert.equal(d.samples[0]?.offset, roomy, 'the payload starts right after the room');
    }
    // Too small a room: headSize refuses, room falls back to the smallest head.
    const tight = exact.head.length - 10;
    assert.throws(() => planMp4([VIDEO, AUDIO], SampleTable.from(ordered), { headSize: tight }), RangeError);
    const fallback = planMp4([VIDEO, AUDIO], SampleTable.from(ordered), { room: tight });
    assert.deepEqual(fallback.head, exact.head);
    // A room 1..7 bytes larger than the moov needs cannot hold a free box either.
    const odd = planMp4([VIDEO, AUDIO], SampleTable.from(ordered), { room: exact.head.length + 4 });
    assert.deepEqual(odd.head, exact.head);
  });

  it('random tables with explicit offsets read back sample for sample (every box count taken while gathering)', () => {
    // The entry counts of stts, ctts, stss, stsz, stsc and stco are counted as planMp4 fills the tables,
    // not by passes of the box writer: a miscount shows as a table that reads back wrong.
    const random = seededRandom(11);
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)] as T;
    for (let trial = 0; trial < 60; trial++) {
      const sameSizes = trial % 4 === 0;
      const negative = trial % 3 === 0;
      const gaps = trial % 2 === 0;
      const n = 1 + Math.floor(random() * 300);
      const samples: Sample[] = [];
      const next = { 7: 0, 3: 0 };
      let at = 0;
      for (let i = 0; i < n;) {
        const video = random() < 0.5;
        const run = 1 + Math.floor(random() * 4);
        for (let r = 0; r < run && i < n; r++, i++) {
          const size = sameSizes ? 20 : 1 + Math.floor(random() * 4) * 7;
          if (gaps && random() < 0.05) at += 5; // a dropped sample's bytes: a new chunk
          if (video) {
            const cts = pick(negative ? [-3000, 0, 3000, 6000] : [0, 3000, 6000]);
            samples.push({ ...v(next[7], cts, random() < 0.2, size), offset: at });
            next[7] += pick([3000, 3000, 3000, 1500]);
          } else {
            samples.push({ ...a(next[3], size), offset: at, duration: 0 });
            next[3] += pick([1024, 1024, 960]);
          }
          at += size;
        }
      }
      const tracks = [VIDEO, AUDIO].filter((t) => samples.some((s) => s.trackId === t.id));
      const plan = planMp4(tracks, SampleTable.from(samples), { explicitOffsets: true, payloadSize: at });
      assert.equal(plan.payloadSize, at);
      const d = demuxIsobmff(file(plan.head, plan.payloadSize, plan.tail));
      assert.deepEqual(d.warnings, [], `trial ${trial}`);
      tracks.forEach((t, k) => {
        const want = samples.filter((s) => s.trackId === t.id);
        const got = d.samples.filter((s) => s.trackId === k + 1);
        const row = (s: Sample, offset: number): unknown[] => [s.dts, s.cts, s.size, s.keyframe, offset];
        assert.deepEqual(
          got.map((s) => row(s, (s.offset ?? 0) - plan.head.length)),
          want.map((s) => row(s, s.offset ?? 0)),
          `trial ${trial}, ${t.kind}`,
        );
      });
      // Negative composition offsets need ctts version 1 (our reader takes them as signed either way).
      const ctts = ascii(plan.head).indexOf('ctts');
      if (ctts >= 0) {
        const anyNegative = samples.some((s) => s.cts < 0);
        assert.equal(plan.head[ctts + 4], anyNegative ? 1 : 0, `trial ${trial}: ctts version`);
      }
    }
    // A chunk at or past 4 GiB makes the offsets table co64 (the largest offset is also taken on the way).
    const far = [
      { ...v(0, 0, true, 10), offset: 0 },
      { ...v(3000, 0, false, 10), offset: 2 ** 32 + 100 },
    ];
    const big = planMp4([VIDEO], SampleTable.from(far), { explicitOffsets: true });
    assert.ok(ascii(big.head).includes('co64') && !ascii(big.head).includes('stco'));
  });

  it('rejects samples of unknown tracks', () => {
    assert.throws(() => planMp4([AUDIO], SampleTable.from([v(0, 0, true, 1)])), UsageError);
  });
});

describe('fMP4 writer', () => {
  it('init segment and fragments read back with every field', () => {
    const init = writeInitSegment([VIDEO, AUDIO]);
    assert.deepEqual(
      readBoxes(init, 0, init.length).map((b) => b.type),
      ['ftyp', 'moov'],
    );
    assert.equal(String.fromCharCode(...init.subarray(8, 12)), 'iso6');
    assert.ok(Buffer.from(init).includes('cmfc') && Buffer.from(init).includes('trex'));
    const f1v = [v(0, 3000, true, 5), v(3000, -3000, false, 6)];
    const f1a = [a(0, 3), a(1024, 4)];
    const f2v = [v(6000, 0, true, 7, 2500)];
    const frag1 = writeFragment(1, [
      { trackId: 7, samples: f1v, endDts: 6000 },
      { trackId: 3, samples: f1a },
    ]);
    const frag2 = writeFragment(2, [{ trackId: 7, samples: f2v }]);
    const bytes = new Uint8Array([...init, ...frag1, ...new Uint8Array(18), ...frag2, ...new Uint8Array(7)]);
    const d = demuxIsobmff(bytes);
    assert.deepEqual(d.warnings, []);
    assert.deepEqual(
      d.tracks.map((t) => t.id),
      [1, 2],
    );
    const strip = (s: Sample): unknown[] => [s.trackId, s.dts, s.cts, s.duration, s.keyframe, s.size];
    assert.deepEqual(d.samples.map(strip), [
      [1, 0, 3000, 3000, true, 5],
      [1, 3000, -3000, 3000, false, 6],
      [2, 0, 0, 1024, true, 3],
      [2, 1024, 0, 1024, true, 4],
      [1, 6000, 0, 2500, true, 7],
    ]);
    assert.equal(d.samples[0]?.offset, init.length + frag1.length);
    assert.equal(d.samples[4]?.offset, init.length + frag1.length + 18 + frag2.length);
  });

  it('a negative first dts cannot be a tfdt', () => {
    assert.throws(() => writeFragment(1, [{ trackId: 7, samples: [v(-5, 0, true, 1)] }]), UsageError);
  });
});

/** Bytes as latin1 text, to find a box's four-character code. */
function ascii(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('latin1');
}
