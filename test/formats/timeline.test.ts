import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CastkitError } from '../../src/core/errors.js';
import type { Sample, TrackInfo } from '../../src/formats/media.js';
import { sniffContainer } from '../../src/formats/sniff.js';
import { SampleTable } from '../../src/formats/sample-table.js';
import { buildAvcC } from '../../src/formats/codecs/h264.js';
import { joinInputs, mergeInputs } from '../../src/formats/timeline.js';

const video: TrackInfo = {
  id: 1,
  kind: 'video',
  codec: 'avc',
  timescale: 1000,
  config: new Uint8Array([1, 2]),
};
const audio: TrackInfo = {
  id: 2,
  kind: 'audio',
  codec: 'aac',
  timescale: 48000,
  config: new Uint8Array([0x11, 0x90]),
};

function av(startMs: number, frames: number): Sample[] {
  const out: Sample[] = [];
  for (let i = 0; i < frames; i++) {
    out.push({
      trackId: 1,
      dts: startMs + i * 40,
      cts: 0,
      duration: 0,
      keyframe: i === 0,
      size: 10,
      offset: i * 10,
    });
    out.push({
      trackId: 2,
      dts: (startMs + 20) * 48 + i * 1920,
      cts: 0,
      duration: 1920,
      keyframe: true,
      size: 5,
      offset: 1000 + i * 5,
    });
  }
  return out;
}

describe('joinInputs', () => {
  it('starts the first input at 0, continues each next input at the end of the previous one', () => {
    const t = joinInputs([
      { name: 'a', tracks: [video, audio], samples: SampleTable.from(av(5000, 25)) },
      { name: 'b', tracks: [video, audio], samples: SampleTable.from(av(0, 25)) }, // restarts at 0
      { name: 'c', tracks: [video, audio], samples: SampleTable.from(av(900_000, 25)) }, // jumps far ahead
    ]);
    const all = t.samples.toSamples();
    const v = all.filter((s) => s.trackId === 1);
    const a = all.filter((s) => s.trackId === 2);
    assert.equal(v.length, 75);
    assert.deepEqual(
      v.slice(0, 3).map((s) => s.dts),
      [0, 40, 80],
    );
    assert.equal(v[25]?.dts, 1000, 'the second input continues after 25 frames of 40 ms');
    assert.equal(v[50]?.dts, 2000);
    assert.equal(a[0]?.dts, 20 * 48, 'A/V offset within an input is kept');
    assert.ok(v.every((s, i) => i === 0 || s.dts > (v[i - 1]?.dts ?? 0)));
    assert.ok(
      v.every((s) => s.duration === 40),
      'durations filled in',
    );
    assert.deepEqual([...new Set(all.map((s) => s.input))], [0, 1, 2]);
    assert.ok(Math.abs(t.durationSec - 3.02) < 0.001, String(t.durationSec)); // audio runs 20 ms past video
    assert.equal(a[25]?.dts, (1000 + 20) * 48, 'audio keeps its offset to video in the next input');
  });

  it('puts an input after the previous one in decode and in presentation time: B-frames then none, and back', () => {
    // 10 frames of 40 ms; with B-frames, presented 80 ms after they are decoded (cts 80).
    const frames = (startMs: number, cts: number): Sample[] =>
      Array.from({ length: 10 }, (_, i) => ({
        trackId: 1,
        dts: startMs + i * 40,
        cts,
        duration: 40,
        keyframe: i === 0,
        size: 10 + i,
        offset: i * 100,
      }));
    const input = (name: string, cts: number) => ({
      name,
      tracks: [video],
      samples: SampleTable.from(frames(0, cts)),
    });
    const joined = joinInputs([input('bf', 80), input('nobf', 0), input('bf2', 80)]).samples.toSamples();
    assert.equal(joined.length, 30, 'no sample dropped');
    assert.ok(
      joined.every((s, i) => i === 0 || s.dts > (joined[i - 1]?.dts ?? 0)),
      'decode times rise',
    );
    const pts = joined.map((s) => s.dts + s.cts);
    // Each input's frames are presented after all of the previous input's: none is shown among them.
    assert.ok(Math.min(...pts.slice(10, 20)) >= Math.max(...pts.slice(0, 10)) + 40, 'nobf after bf');
    assert.ok(Math.min(...pts.slice(20)) >= Math.max(...pts.slice(10, 20)) + 40, 'bf after nobf');
    assert.equal(
      joined[10]?.dts,
      480,
      'nobf: its first frame presented right after the last of bf (80 ms later)',
    );
    assert.equal(joined[20]?.dts, 880, 'bf2: decoded right after nobf (its frames presented 80 ms later)');
  });

  it('drops the start of an input only when its payloads repeat the written ones at those times', () => {
    const clip = (startMs: number, offset: number): Sample[] =>
      Array.from({ length: 10 }, (_, i) => ({
        trackId: 1,
        dts: startMs + i * 40,
        cts: 0,
        duration: 40,
        keyframe: i % 5 === 0,
        size: 10,
        offset: offset + i,
      }));
    // The second input's clock starts 200 ms before the first one's end (a run-on with an overlap).
    const inputs = () => [
      { name: 'a', tracks: [video], samples: SampleTable.from(clip(0, 0)) },
      { name: 'b', tracks: [video], samples: SampleTable.from(clip(200, 5)) },
    ];
    // Payload i of a is "frame i", of b "frame i + 5": b's first five repeat a's last five.
    const frame = (r: { input: number; offset: number }): number => r.offset;
    const repeat = joinInputs(inputs(), { samePayload: (x, y) => frame(x) === frame(y) });
    assert.equal(repeat.samples.length, 15, 'the five repeated frames dropped');
    assert.equal(repeat.warnings[0]?.code, 'W_OVERLAP');
    // The same times, other pictures: not a repeat, appended after a's end whole.
    const other = joinInputs(inputs(), { samePayload: () => false });
    assert.equal(other.samples.length, 20);
    assert.deepEqual(other.warnings, []);
    assert.equal(other.samples.dts[10], 400, 'b starts where a ends');
  });

  it("keeps a later MP4 input's A/V offsets as its edit lists give them", () => {
    // The second input's video has an empty edit of 23 ms and starts presenting at 80 ms (a B-frame delay),
    // as ffmpeg's MP4 copy of an MPEG-TS has it: its video is shown 57 ms earlier than its raw times say.
    const withEdit = { ...video, edit: { mediaTime: 80, delay: 23, duration: 0 } };
    const rows = (table: SampleTable, input: number, trackId: number): number[] => {
      const out: number[] = [];
      for (let i = 0; i < table.length; i++) {
        if (table.input[i] === input && table.trackId[i] === trackId) out.push(table.dts[i] as number);
      }
      return out;
    };
    const offset = (j: ReturnType<typeof joinInputs>, input: number): number =>
      (rows(j.samples, input, 1)[0] as number) / 1000 - (rows(j.samples, input, 2)[0] as number) / 48000;
    const plain = joinInputs([
      { name: 'a.ts', tracks: [video, audio], samples: SampleTable.from(av(0, 5)) },
      { name: 'b.ts', tracks: [video, audio], samples: SampleTable.from(av(0, 5)) },
    ]);
    const edited = joinInputs([
      { name: 'a.ts', tracks: [video, audio], samples: SampleTable.from(av(0, 5)) },
      { name: 'b.mp4', tracks: [withEdit, audio], samples: SampleTable.from(av(0, 5)) },
    ]);
    assert.ok(Math.abs(offset(plain, 1) - offset(plain, 0)) < 1e-9);
    assert.ok(Math.abs(offset(edited, 1) - (offset(plain, 1) - 0.057)) < 1e-6, String(offset(edited, 1)));
    // The same edits on both sides (segments of one stream, the first input's edit kept): nothing moves.
    const both = joinInputs([
      { name: 'a.mp4', tracks: [withEdit, audio], samples: SampleTable.from(av(0, 5)) },
      { name: 'b.mp4', tracks: [withEdit, audio], samples: SampleTable.from(av(0, 5)) },
    ]);
    assert.ok(Math.abs(offset(both, 1) - offset(plain, 1)) < 1e-9);
  });

  it('refuses inputs encoded differently', () => {
    assert.throws(
      () =>
        joinInputs([
          { name: 'a', tracks: [video], samples: SampleTable.from(av(0, 2).filter((s) => s.trackId === 1)) },
          {
            name: 'b.flv',
            tracks: [{ ...video, config: new Uint8Array([9]) }],
            samples: SampleTable.from(av(0, 2).filter((s) => s.trackId === 1)),
          },
        ]),
      (err: unknown) =>
        err instanceof CastkitError && err.code === 'E_CONCAT_MISMATCH' && /b\.flv/.test(err.message),
    );
  });

  it('joins AAC whose configurations say the same in other bytes, and names what differs when they do not', () => {
    const audioOnly = (name: string, config: number[], more: Partial<TrackInfo> = {}) => ({
      name,
      tracks: [{ ...audio, config: new Uint8Array(config), ...more }],
      samples: SampleTable.from(av(0, 2).filter((s) => s.trackId === 2)),
    });
    // LC, 48 kHz, stereo: from ADTS headers (2 bytes), and as an MP4 or FLV often has it, with the sync
    // extension that says "no SBR" (5 bytes).
    const adts = [0x11, 0x90];
    const withExtension = [0x11, 0x90, 0x56, 0xe5, 0x00];
    const joined = joinInputs([audioOnly('a.ts', adts), audioOnly('b.flv', withExtension)]);
    assert.equal(joined.tracks.length, 1);
    // 44.1 kHz (sampling index 4): another decoder setting.
    const mismatch = (inputs: Parameters<typeof joinInputs>[0], what: RegExp) =>
      assert.throws(
        () => joinInputs(inputs),
        (err: unknown) =>
          err instanceof CastkitError && err.code === 'E_CONCAT_MISMATCH' && what.test(err.message),
      );
    mismatch(
      [
        audioOnly('a.ts', adts, { sampleRate: 48000 }),
        audioOnly('c.ts', [0x12, 0x10], { sampleRate: 44100 }),
      ],
      /c\.ts: its audio track differs from the first input's \(44100 Hz, not 48000 Hz\)/,
    );
    mismatch(
      [
        { name: 'a', tracks: [{ ...video, width: 320, height: 240 }], samples: SampleTable.from([]) },
        {
          name: 'big.ts',
          tracks: [{ ...video, config: new Uint8Array([7]), width: 640, height: 360 }],
          samples: SampleTable.from([]),
        },
      ],
      /big\.ts: its video track differs from the first input's \(640x360, not 320x240\)/,
    );
  });
});

describe('mergeInputs', () => {
  it('puts tracks side by side, keeps their sync, and interleaves them in half-second runs', () => {
    const all = av(1000, 50); // video from 1.000 s, audio from 1.020 s, 2 s long
    const t = mergeInputs([
      { name: 'video.mp4', tracks: [video], samples: SampleTable.from(all.filter((s) => s.trackId === 1)) },
      {
        name: 'audio.m4a',
        tracks: [{ ...audio, id: 1 }],
        samples: SampleTable.from(all.filter((s) => s.trackId === 2).map((s) => ({ ...s, trackId: 1 }))),
      },
    ]);
    assert.deepEqual(
      t.tracks.map((x) => [x.id, x.kind]),
      [
        [1, 'video'],
        [2, 'audio'],
      ],
    );
    const out = t.samples.toSamples();
    const v = out.filter((s) => s.trackId === 1);
    const a = out.filter((s) => s.trackId === 2);
    assert.equal(v[0]?.dts, 0);
    assert.equal(a[0]?.dts, 20 * 48, 'audio keeps its 20 ms offset');
    assert.deepEqual([...new Set(out.map((s) => s.input))], [0, 1]);
    // Runs: 13 video samples (0..0.48 s), then the audio samples before 0.5 s, then the next run.
    assert.deepEqual(
      out.slice(0, 14).map((s) => s.trackId),
      [...Array(13).fill(1), 2],
    );
    assert.equal(t.samples.length, 100);
  });
});

describe('sniffContainer', () => {
  it('recognises FLV, ISO-BMFF and MPEG-TS by their bytes', () => {
    assert.equal(sniffContainer(new Uint8Array([0x46, 0x4c, 0x56, 1, 5, 0, 0, 0, 9])), 'flv');
    assert.equal(sniffContainer(new Uint8Array([0, 0, 0, 0x20, 0x66, 0x74, 0x79, 0x70])), 'mp4');
    const ts = new Uint8Array(188 * 4);
    for (let i = 0; i < 4; i++) ts[i * 188] = 0x47;
    assert.equal(sniffContainer(ts), 'mpegts');
    const m2ts = new Uint8Array(192 * 4);
    for (let i = 0; i < 4; i++) m2ts[i * 192 + 4] = 0x47;
    assert.equal(sniffContainer(m2ts), 'mpegts');
    assert.equal(sniffContainer(new TextEncoder().encode('<!doctype html><html>')), 'unknown');
    assert.equal(sniffContainer(new Uint8Array(0)), 'unknown');
  });
});

describe('joinInputs: video parameters that change between inputs', () => {
  // x264's SPS for 320x240 and for 640x360 (High profile), and their PPS.
  const hex = (h: string): Uint8Array => new Uint8Array(Buffer.from(h, 'hex'));
  const sps240 = hex('6764000dacd94141fb0110000003001000000303c0f1429960');
  const sps360 = hex('6764001eacd940a02ff970110000030001000003003c0f162d96');
  const pps = hex('68ebe3cb22c0');
  const small = buildAvcC([sps240], [pps]);
  const large = buildAvcC([sps360], [pps]);
  const part = (name: string, config: Uint8Array, startMs: number, more: Partial<TrackInfo> = {}) => ({
    name,
    tracks: [{ ...video, config, ...more }, audio],
    samples: SampleTable.from(av(startMs, 25)),
  });
  const inBand = { inBandParameterSets: true };

  it('joins them when the samples carry their parameter sets, saying where each change is', () => {
    const t = joinInputs([
      part('a.ts', small, 0, inBand),
      part('b.ts', large, 1000, inBand),
      part('c.ts', large, 2000, inBand),
      part('d.ts', small, 3000, inBand),
    ]);
    assert.deepEqual(t.tracks[0]?.config, small, 'the first sample entry is kept');
    assert.equal(t.samples.length, 4 * 50);
    assert.deepEqual(
      t.warnings.filter((w) => w.code === 'W_CONFIG_CHANGE').map((w) => w.input),
      ['b.ts', 'd.ts'],
      'a change, and the change back; not c.ts, which goes on with b.ts',
    );
  });

  it('refuses them without in-band parameter sets, for another NAL length size, or for audio', () => {
    const refused = (inputs: Parameters<typeof joinInputs>[0], what: RegExp) =>
      assert.throws(
        () => joinInputs(inputs),
        (err: unknown) =>
          err instanceof CastkitError && err.code === 'E_CONCAT_MISMATCH' && what.test(err.message),
      );
    refused([part('a.mp4', small, 0), part('b.mp4', large, 1000)], /b\.mp4: its video track differs/);
    refused(
      [part('a.ts', small, 0, inBand), part('b.ts', buildAvcC([sps360], [pps], 2), 1000, inBand)],
      /b\.ts: its video track differs/,
    );
    const other = { ...audio, config: new Uint8Array([0x12, 0x10]), sampleRate: 44100 };
    refused(
      [
        part('a.ts', small, 0, inBand),
        { ...part('b.ts', small, 1000, inBand), tracks: [{ ...video, config: small, ...inBand }, other] },
      ],
      /b\.ts: its audio track differs/,
    );
  });
});
