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
