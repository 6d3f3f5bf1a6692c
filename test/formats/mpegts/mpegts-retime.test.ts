/**
 * Moving the times of a TS segment so that it follows another (the pass-through of `record --format ts`
 * after a discontinuity): every PTS, DTS and PCR moves by one offset modulo 2^33, the join keeps each PID
 * going forward by one frame (ADTS audio by the frames of its last PES), across the 2^33 wrap.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  cutTsAt,
  shiftTsTimes,
  tsJoinOffset,
  tsSegmentTimes,
} from '../../../src/formats/mpegts/mpegts-retime.js';
import { adtsFrame, concat, TsWriter } from './ts-writer.js';

const WRAP = 2 ** 33;
const VIDEO = 0x100;
const AUDIO = 0x101;
const FRAME = 3600; // 25 fps
/** One AAC frame at 48 kHz, 90 kHz ticks. */
const AAC = (1024 * 90_000) / 48_000;

/** 10 video frames (DTS from `t0`, PTS one frame later) and 2 audio PES of 3 AAC frames from `a0`. */
function segment(t0: number, a0: number): Uint8Array {
  const w = new TsWriter([
    { pid: VIDEO, streamType: 0x1b },
    { pid: AUDIO, streamType: 0x0f },
  ]).psi();
  for (let k = 0; k < 10; k++) {
    const dts = (t0 + k * FRAME) % WRAP;
    w.pes(VIDEO, new Uint8Array(300).fill(k), { pts: (dts + FRAME) % WRAP, dts });
  }
  for (let k = 0; k < 2; k++) {
    const frames = [0, 1, 2].map(() => adtsFrame(new Uint8Array(50), { rateIndex: 3 }));
    w.pes(AUDIO, concat(frames), { pts: Math.round(a0 + k * 3 * AAC) % WRAP });
  }
  return w.bytes();
}

/** Every PTS (and DTS) of a PID, in the order written. */
function timesOf(bytes: Uint8Array, pid: number): { pts: number; dts: number }[] {
  const out: { pts: number; dts: number }[] = [];
  const read = (q: number): number =>
    (((bytes[q] as number) >> 1) & 7) * 2 ** 30 +
    (bytes[q + 1] as number) * 2 ** 22 +
    ((bytes[q + 2] as number) >> 1) * 2 ** 15 +
    (bytes[q + 3] as number) * 2 ** 7 +
    ((bytes[q + 4] as number) >> 1);
  for (let i = 0; i < bytes.length; i += 188) {
    const p = (((bytes[i + 1] as number) & 0x1f) << 8) | (bytes[i + 2] as number);
    if (p !== pid || ((bytes[i + 1] as number) & 0x40) === 0) continue;
    const at = i + 4 + (((bytes[i + 3] as number) & 0x20) !== 0 ? 1 + (bytes[i + 4] as number) : 0);
    const flags = (bytes[at + 7] as number) >> 6;
    const pts = read(at + 9);
    out.push({ pts, dts: flags === 3 ? read(at + 14) : pts });
  }
  return out;
}

describe('mpegts retime', () => {
  it('a segment whose times restart follows the last one, one frame after its last, across the wrap', () => {
    // The previous segment ends just past 2^33 (it straddles the wrap); the next starts over at 1.4 s.
    const t0 = WRAP - 5 * FRAME;
    const prev = segment(t0, t0 + 100);
    const next = segment(126_000, 126_000 + 100);
    const shift = tsJoinOffset(tsSegmentTimes(prev), tsSegmentTimes(next));
    assert.ok(shift !== undefined);
    const moved = Uint8Array.from(next);
    shiftTsTimes(moved, shift);
    const lastVideo = (t0 + 9 * FRAME) % WRAP;
    const video = timesOf(moved, VIDEO);
    assert.equal(video[0]?.dts, lastVideo + FRAME, 'video goes on one frame after its last');
    assert.deepEqual(
      video.map((t) => t.pts - t.dts),
      Array(10).fill(FRAME),
      'the PTS moved with the DTS',
    );
    // The audio ended (6 AAC frames from t0 + 100) before the video: the video sets the join.
    const audio = timesOf(moved, AUDIO);
    const audioEnd = (t0 + 100 + 6 * AAC) % WRAP;
    const ahead = ((((audio[0] as { pts: number }).pts - audioEnd) % WRAP) + WRAP) % WRAP;
    assert.ok(ahead > 0 && ahead < WRAP / 2, 'audio goes forward too');
    // Nothing but the times changed.
    assert.equal(moved.length, next.length);
    const differs = [...moved].filter((b, i) => b !== next[i]).length;
    assert.ok(differs > 0 && differs <= 10 * 10 + 2 * 5, 'only PTS/DTS bytes changed');
  });

  it('ADTS audio that runs past the video sets the join by the frames of its last PES', () => {
    // Audio from 0 to 6 AAC frames (128 ms each 3 = 384 ms) ends after the video (10 frames, 400 ms from
    // -40 ms: its last DTS 320 ms): the next segment starts where the audio ended.
    const prev = segment(0, 0 + 10 * FRAME - 6 * AAC + 9000);
    const next = segment(500_000, 500_000);
    const t = tsSegmentTimes(prev);
    const audioEnd = 10 * FRAME + 9000;
    assert.equal(t.get(AUDIO)?.end, audioEnd, 'the audio ends with the frames of its last PES');
    const shift = tsJoinOffset(t, tsSegmentTimes(next));
    assert.equal(shift, (audioEnd - 500_000 + WRAP) % WRAP);
  });

  it('a PCR moves with the times', () => {
    const pkt = new Uint8Array(188).fill(0xff);
    pkt.set([0x47, 0x01, 0x00, 0x20, 183, 0x10]);
    // PCR base 2^33 - 10, extension 300.
    const base = WRAP - 10;
    pkt[6] = Math.floor(base / 2 ** 25) & 0xff;
    pkt[7] = Math.floor(base / 2 ** 17) & 0xff;
    pkt[8] = Math.floor(base / 2 ** 9) & 0xff;
    pkt[9] = Math.floor(base / 2) & 0xff;
    pkt[10] = ((base % 2) << 7) | 0x7e | (300 >> 8);
    pkt[11] = 300 & 0xff;
    shiftTsTimes(pkt, 25);
    const got =
      (pkt[6] as number) * 2 ** 25 +
      (pkt[7] as number) * 2 ** 17 +
      (pkt[8] as number) * 2 ** 9 +
      (pkt[9] as number) * 2 +
      ((pkt[10] as number) >> 7);
    assert.equal(got, 15, 'the base wrapped around');
    assert.equal((((pkt[10] as number) & 1) << 8) | (pkt[11] as number), 300, 'the extension kept');
    assert.equal((pkt[10] as number) & 0x7e, 0x7e, 'the reserved bits kept');
  });

  it('a segment is cut where a recording ends, per PID in decode order, across the wrap', () => {
    // Video DTS from 2^33 - 5 frames (the wrap falls inside); two audio PES of 3 AAC frames, the second
    // starting after the end.
    const t0 = WRAP - 5 * FRAME;
    const a0 = t0 + 22_000;
    const seg = segment(t0, a0);
    const end = (t0 + 7 * FRAME) % WRAP; // past the wrap
    const cut = cutTsAt(seg, end);
    assert.equal(cut.length % 188, 0);
    const video = timesOf(cut, VIDEO);
    assert.deepEqual(
      video.map((t) => t.dts),
      Array.from({ length: 7 }, (_, k) => (t0 + k * FRAME) % WRAP),
      'the frames decoded before the end, and none after',
    );
    assert.deepEqual(
      timesOf(cut, AUDIO).map((t) => t.pts),
      [a0 % WRAP],
      'the audio PES that starts before the end, whole',
    );
    // The PAT and PMT stay; an end before everything leaves them alone; one after, the whole segment.
    assert.deepEqual(timesOf(cutTsAt(seg, (t0 - 1) % WRAP), VIDEO), []);
    assert.ok(cutTsAt(seg, (t0 - 1) % WRAP).length >= 2 * 188);
    assert.deepEqual(cutTsAt(seg, (t0 + 20 * FRAME) % WRAP), seg);
    // The input is left as it was.
    assert.deepEqual(seg, segment(t0, a0));
  });
});
