/**
 * MpegtsDemuxer.snapshot() and restore(): a demuxer made from a snapshot goes on exactly as the one that
 * made it. Each case demuxes the same bytes twice: once with one demuxer, once replacing the demuxer by one
 * restored from its snapshot (stored and read back with v8.serialize, as a recording would keep it) after
 * pieces of the input, and compares everything a caller sees: tracks, samples with their bytes, warnings
 * with their offsets, or the error.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { deserialize, serialize } from 'node:v8';
import { SlabArena } from '../../../src/core/slab-arena.js';
import {
  MpegtsDemuxer,
  type MpegtsDemuxerOptions,
  type MpegtsDemuxerState,
} from '../../../src/formats/mpegts/mpegts-demuxer.js';
import { fixture, makeMedia } from '../../helpers/fixtures.js';
import {
  boundedVideoStream,
  damage,
  demuxAll,
  demuxIn,
  demuxViaInputBuffer,
  HEVC_TS,
  M2TS,
  outcome,
  seededRandom,
  WRAP_TS,
  type Demuxed,
} from './demux-helpers.js';
import { adtsFrame, concat, TsWriter } from './ts-writer.js';

const read = (path: string): Uint8Array => new Uint8Array(readFileSync(path));
const rand = seededRandom(11);

const SMALL = [1, 7, 187, 189, 1000, 4093, 333];
const LARGE = [100_003, 1 << 20, 4093, 50_000];

/** Stored and read back as bytes: what restore() gets after the process that made it died. */
const stored = (s: MpegtsDemuxerState): MpegtsDemuxerState => deserialize(serialize(s)) as MpegtsDemuxerState;

/**
 * The bytes pushed in `sizes` pieces (into the demuxer's own memory when `direct`, as recordings read),
 * the demuxer replaced by one restored from its snapshot after every `every`-th piece.
 */
function demuxResuming(
  bytes: Uint8Array,
  sizes: readonly number[],
  direct: boolean,
  every: number,
  options: MpegtsDemuxerOptions = {},
): Demuxed {
  return demuxIn(bytes, sizes, direct, options, (d, i) =>
    i % every === 0 ? MpegtsDemuxer.restore(stored(d.snapshot()), options) : d,
  );
}

/**
 * What the program as a whole keeps, with audio PIDs coming and going by PMT changes: a stream the demuxer
 * does not read (listed from the start: it is warned about once), a second audio PID and a video PID with
 * no packets added by a later PMT (new track ids; the audio already flowing is not held back for a
 * keyframe), the clock wrapping past 2^33, then restarting with discontinuity_indicator on the PCR PID
 * alone (the others follow it), a third audio PID added after that (it joins the restarted timeline), and
 * bytes out of sync at the end (the loss is reported at end()).
 */
function eventfulStream(): Uint8Array {
  const w = new TsWriter([
    { pid: 0x101, streamType: 0x0f },
    { pid: 0x1f0, streamType: 0x86 },
  ]).psi();
  const frame = (): Uint8Array => {
    const p = new Uint8Array(60 + rand(200));
    for (let i = 0; i < p.length; i++) p[i] = rand(256);
    return adtsFrame(p);
  };
  for (let i = 0; i < 120; i++) {
    if (i === 40) w.streams.push({ pid: 0x102, streamType: 0x0f }, { pid: 0x100, streamType: 0x1b });
    if (i === 100) w.streams.push({ pid: 0x103, streamType: 0x0f, language: 'eng' });
    if (i === 40 || i === 100) w.psi();
    // Wraps past 2^33 at frame 20; the source restarts at 10 s at frame 80.
    const t = (i < 80 ? 2 ** 33 - 20 * 1920 + i * 1920 : 900_000 + (i - 80) * 1920) % 2 ** 33;
    w.pes(0x101, frame(), { pts: t, discontinuity: i === 80 });
    if (i >= 40) w.pes(0x102, frame(), { pts: t });
    if (i >= 100) w.pes(0x103, frame(), { pts: t });
  }
  const tail = new Uint8Array(1000);
  for (let i = 0; i < tail.length; i++) tail[i] = rand(0x47);
  return concat([w.bytes(), tail]);
}

describe('MPEG-TS demuxer: snapshot and restore', () => {
  it('goes on exactly as the demuxer that was saved, on intact streams', async () => {
    for (const bytes of [read(await fixture('h264-aac.ts')), await boundedVideoStream(rand)]) {
      const whole = outcome(() => demuxAll(bytes, SMALL));
      assert.ok(whole.length > 100, 'samples come out');
      // Saved after every piece: inside packets, PES headers, access units and ADTS frames.
      assert.deepEqual(
        outcome(() => demuxResuming(bytes, SMALL, false, 1)),
        whole,
      );
      // Large pieces read into the demuxer's memory (its fast path), saved after each one or every other.
      const fast = outcome(() => demuxViaInputBuffer(bytes, LARGE));
      assert.deepEqual(fast, whole);
      assert.deepEqual(
        outcome(() => demuxResuming(bytes, LARGE, true, 1)),
        fast,
      );
      assert.deepEqual(
        outcome(() => demuxResuming(bytes, LARGE, true, 2)),
        fast,
      );
    }
  });

  it('goes on exactly over HEVC, M2TS, a 33-bit wrap, a new stream, a discontinuity and lost sync', async () => {
    const inputs = [
      read(await makeMedia(HEVC_TS)),
      read(await makeMedia(M2TS)),
      read(await makeMedia(WRAP_TS)),
      eventfulStream(),
    ];
    // The hand-made stream does what it says (track 3 is the video PID, which sends nothing).
    const events = demuxAll(inputs[3] as Uint8Array, SMALL);
    assert.deepEqual(
      events.tracks.map((t) => `${t.id} ${t.kind}`),
      ['1 audio', '2 audio', '4 audio'],
    );
    assert.deepEqual([...new Set(events.warnings.map((w) => w.code))].sort(), [
      'W_TS_DISCONTINUITY',
      'W_TS_SYNC',
      'W_TS_UNSUPPORTED_STREAM',
    ]);
    for (const bytes of inputs) {
      const whole = outcome(() => demuxAll(bytes, SMALL));
      assert.ok(whole.length > 100, 'samples come out');
      assert.deepEqual(
        outcome(() => demuxResuming(bytes, SMALL, false, 1)),
        whole,
      );
      assert.deepEqual(
        outcome(() => demuxResuming(bytes, LARGE, true, 1)),
        outcome(() => demuxViaInputBuffer(bytes, LARGE)),
      );
    }
  });

  it('saved while audio waits for the first video keyframe, and with trimming off', async () => {
    const bytes = read(await fixture('h264-aac.ts'));
    // The first pieces end before the first keyframe is complete: the audio is held (gated) then.
    const tiny = [188, 376, 940, 1880, 3760];
    assert.deepEqual(
      outcome(() => demuxResuming(bytes, tiny, false, 1)),
      outcome(() => demuxAll(bytes, tiny)),
    );
    const untrimmed = { trimToKeyframe: false };
    assert.deepEqual(
      outcome(() => demuxResuming(bytes, SMALL, false, 1, untrimmed)),
      outcome(() => demuxAll(bytes, SMALL, untrimmed)),
    );
  });

  it('goes on exactly on 300 damaged streams (lost, repeated and broken packets)', async () => {
    const sources = [read(await fixture('h264-aac.ts')), await boundedVideoStream(rand)];
    for (let round = 0; round < 300; round++) {
      // Every tenth stream is damaged so often that warnings of one kind are only counted past a number.
      const bytes = damage(sources[round % 2] as Uint8Array, round % 10 === 0 ? 300 : 1 + rand(30), rand);
      const sizes = round % 3 === 0 ? SMALL : LARGE;
      const direct = sizes === LARGE;
      const whole = outcome(() => (direct ? demuxViaInputBuffer(bytes, sizes) : demuxAll(bytes, sizes)));
      assert.deepEqual(
        outcome(() => demuxResuming(bytes, sizes, direct, 1 + (round % 2))),
        whole,
        `round ${round}`,
      );
    }
  });

  it('goes on exactly over bytes that are not a transport stream, or one cut short', async () => {
    const ts = read(await fixture('h264-aac.ts'));
    const garbage = new Uint8Array(300_000);
    for (let i = 0; i < garbage.length; i++) garbage[i] = rand(256);
    for (const bytes of [garbage, ts.subarray(0, 100_000 + 77), ts.subarray(5, 200_000)]) {
      assert.deepEqual(
        outcome(() => demuxResuming(bytes, SMALL, false, 1)),
        outcome(() => demuxAll(bytes, SMALL)),
      );
    }
  });

  it('restores payloads into the caller’s memory, and one state serves any number of restores', async () => {
    const bytes = read(await fixture('h264-aac.ts'));
    const arena = new SlabArena();
    const made: Uint8Array[] = [];
    const allocate = (n: number): Uint8Array => {
      const b = arena.allocate(n);
      made.push(b);
      return b;
    };
    const d = new MpegtsDemuxer({ allocate });
    d.push(bytes.subarray(0, 400_000));
    const state = d.snapshot();
    const first = MpegtsDemuxer.restore(state, { allocate });
    const second = MpegtsDemuxer.restore(state, { allocate });
    const rest = bytes.subarray(400_000);
    const a = [first.push(rest), first.end()];
    const b = [second.push(rest), second.end()];
    const samples = (r: typeof a): string[] =>
      r.flatMap((o) => o.samples.map((s) => `${s.dts} ${Buffer.from(s.data ?? []).toString('base64')}`));
    assert.deepEqual(samples(a), samples(b));
    // Every payload handed out lies in memory the caller's allocator gave.
    const out = [...a, ...b].flatMap((o) => o.samples);
    assert.ok(out.length > 0);
    for (const s of out) assert.ok(s.data && made.some((m) => m.buffer === s.data?.buffer));
  });

  it('refuses what it cannot do', () => {
    const d = new MpegtsDemuxer();
    assert.throws(() => d.end());
    assert.throws(() => d.snapshot(), RangeError);
    assert.throws(
      () => MpegtsDemuxer.restore({ kind: 'other' } as unknown as MpegtsDemuxerState),
      /not a snapshot/,
    );
  });
});
