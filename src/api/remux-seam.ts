import { sameBytes } from '../core/bytes.js';
import type { Sample } from '../formats/media.js';
import { REPEAT_CHECKS, SEAM_ROWS, seamShift, type TrackEdge } from '../formats/join-seam.js';
import type { TsTrack } from './ts-interleaver.js';

// The one-pass remux's side of a seam between inputs (joinInputs' is formats/join-seam.ts): the last
// samples queued of each output track are remembered (a reference each, no hashing), and looked at only
// when the next input starts.

/** A sample of an input on its way to the output: its time on the input's clock, seconds. */
export interface Pending {
  t: TsTrack;
  sec: number;
  sample: Sample;
  payload: Uint8Array;
}

/**
 * Samples remembered per output track (a power of 2): a second of video at up to 120 fps, more than the
 * run-on tolerance (RUN_ON_TOLERANCE_SEC) by which an input may repeat the previous one's end.
 */
const RING = 128;

/** The last RING samples queued of one output track, with their times on the output clock. */
export class SeamRing {
  private readonly at = new Float64Array(RING);
  private readonly items: (Pending | undefined)[] = new Array<Pending | undefined>(RING);
  private count = 0;

  add(at: number, p: Pending): void {
    const j = this.count++ & (RING - 1);
    this.at[j] = at;
    this.items[j] = p;
  }

  /** Where the samples queued end, seconds: of decode times, and of presentation times (B-frames). */
  end(): TrackEdge | undefined {
    const n = this.count;
    if (n === 0) return undefined;
    const ts = (this.items[(n - 1) & (RING - 1)] as Pending).t.info.timescale;
    // A sample with no duration of its own lasts until the next one; the last, as long as the step before it.
    let next = n > 1 ? 2 * this.atOf(n - 1) - this.atOf(n - 2) : this.atOf(n - 1);
    let edge: TrackEdge | undefined;
    for (let k = n - 1; k >= 0 && k >= n - SEAM_ROWS; k--) {
      const at = this.atOf(k);
      const s = (this.items[k & (RING - 1)] as Pending).sample;
      const end = s.duration > 0 ? at + s.duration / ts : next;
      next = at;
      if (!edge) edge = { dts: end, pts: end + s.cts / ts };
      else edge.pts = Math.max(edge.pts, end + s.cts / ts);
    }
    return edge;
  }

  private atOf(k: number): number {
    return this.at[k & (RING - 1)] as number;
  }

  /** The sample queued at time `at` (within `tolerance` seconds), if still remembered. */
  find(at: number, tolerance: number): Pending | undefined {
    for (let k = this.count - 1; k >= 0 && k >= this.count - RING; k--) {
      const j = k & (RING - 1);
      const t = this.at[j] as number;
      if (Math.abs(t - at) <= tolerance) return this.items[j];
      if (t < at - tolerance) return undefined;
    }
    return undefined;
  }
}

/**
 * Whether the pending samples of a new input, under `shift`, that land on time already queued (at or
 * before their track's last time) repeat the queued ones: the same time and bytes, for the first
 * REPEAT_CHECKS of each track. Undefined when none lands on queued time, false at the first that differs.
 */
export function repeatsQueued(
  pending: readonly Pending[],
  shift: number,
  ringOf: (t: TsTrack) => SeamRing | undefined,
): boolean | undefined {
  const checked = new Map<TsTrack, number>();
  let any = false;
  for (const p of pending) {
    const k = checked.get(p.t) ?? 0;
    if (k >= REPEAT_CHECKS) continue;
    const at = p.sec + shift;
    if (at > p.t.lastSec) {
      checked.set(p.t, REPEAT_CHECKS); // past the written time: the rest of the track is new
      continue;
    }
    any = true;
    checked.set(p.t, k + 1);
    const q = ringOf(p.t)?.find(at, 0.5 / p.t.info.timescale + 1e-9);
    if (!q || q.payload.length !== p.payload.length || !sameBytes(q.payload, p.payload)) return false;
  }
  return any ? true : undefined;
}

/**
 * The shift, seconds, that puts the pending samples of a new input after everything queued, every track
 * of it (seamShift): undefined when none of its tracks was queued before.
 */
export function shiftAfter(
  pending: readonly Pending[],
  ringOf: (t: TsTrack) => SeamRing | undefined,
): number | undefined {
  const starts = new Map<TsTrack, { edge: TrackEdge; n: number }>();
  for (const p of pending) {
    const pts = p.sec + p.sample.cts / p.t.info.timescale;
    const s = starts.get(p.t);
    if (!s) starts.set(p.t, { edge: { dts: p.sec, pts }, n: 1 });
    else if (s.n < SEAM_ROWS) {
      s.edge.pts = Math.min(s.edge.pts, pts);
      s.n++;
    }
  }
  return seamShift(
    [...starts].map(([t, s]) => ({ end: ringOf(t)?.end(), start: s.edge, outScale: 1, inScale: 1 })),
  );
}
