import type { SampleTable } from './sample-table.js';

// Where joinInputs puts a later input, and whether its first samples repeat the previous input's end: the
// work done once per seam, on the few samples on each side of it (never per sample of the whole input).

/** Where a sample's payload is: its input, its position there (or in the store its tag names), its size. */
export interface PayloadRef {
  input: number;
  offset: number;
  size: number;
  tag: number;
}

/** Whether two samples carry the same bytes (the caller reads them; asked for a few samples per seam). */
export type SamePayload = (a: PayloadRef, b: PayloadRef) => boolean;

/** Without a way to read payloads: the same size is taken for the same bytes. */
export const sameSize: SamePayload = (a, b) => a.size === b.size;

/**
 * Samples of a track looked at on each side of a seam: more than a decoder may reorder (H.264 and HEVC
 * allow 16 frames), so that the largest presentation time near the end, and the smallest near the start,
 * are among them.
 */
export const SEAM_ROWS = 32;

/**
 * Samples per track compared to recognise a repeat, as the FLV joiner does (flv-joiner.ts
 * repeatsHistory): all of those landing on written time must be the written samples again.
 */
export const REPEAT_CHECKS = 3;

/** A track's samples at one side of a seam, in its own ticks: decode and presentation time. */
export interface TrackEdge {
  dts: number;
  pts: number;
}

/**
 * Where the written samples of a track end, in its ticks (rows `from`..`n` of `out`, the previous input):
 * the last decode time plus its duration, and the largest presentation time plus duration among its last
 * SEAM_ROWS samples (later than the former when frames are reordered: B-frames). Undefined when the
 * previous input has no sample of the track.
 */
export function trackEnd(out: SampleTable, from: number, n: number, trackId: number): TrackEdge | undefined {
  let edge: TrackEdge | undefined;
  let seen = 0;
  for (let i = n - 1; i >= from && seen < SEAM_ROWS; i--) {
    if (out.trackId[i] !== trackId) continue;
    const end = (out.dts[i] as number) + (out.duration[i] as number);
    const pts = end + (out.cts[i] as number);
    if (!edge) edge = { dts: end, pts };
    else edge.pts = Math.max(edge.pts, pts);
    seen++;
  }
  return edge;
}

/**
 * Where each track of an input starts, in its ticks: its first decode time, and the smallest presentation
 * time among its first SEAM_ROWS samples. One pass over the input's first samples.
 */
export function trackStarts(t: SampleTable, trackIds: readonly number[]): Map<number, TrackEdge> {
  const starts = new Map<number, TrackEdge>();
  const seen = new Map<number, number>();
  let done = 0;
  for (let i = 0; i < t.length && done < trackIds.length; i++) {
    const id = t.trackId[i] as number;
    const k = seen.get(id);
    if (k === undefined) {
      if (!trackIds.includes(id)) continue;
      const dts = t.dts[i] as number;
      starts.set(id, { dts, pts: dts + (t.cts[i] as number) });
      seen.set(id, 1);
    } else if (k < SEAM_ROWS) {
      const s = starts.get(id) as TrackEdge;
      s.pts = Math.min(s.pts, (t.dts[i] as number) + (t.cts[i] as number));
      seen.set(id, k + 1);
      if (k + 1 === SEAM_ROWS) done++;
    }
  }
  return starts;
}

/**
 * The shift, seconds, that puts an input after what was written, track by track: its first decode time at
 * or after the end of the written decode times, and its first presentation time at or after the end of
 * the written presentation times. The largest over the tracks, so that no track overlaps and the A/V
 * offsets inside the input are kept. When an input with B-frames (presentation after decode) meets one
 * without, the decode times or the presentation times have a gap of the difference at the seam, never an
 * overlap: decode times keep rising, and no frame of one input is shown among the other's.
 * Undefined when no track was written before.
 */
export function seamShift(
  sides: readonly {
    end: TrackEdge | undefined;
    start: TrackEdge | undefined;
    outScale: number;
    inScale: number;
  }[],
): number | undefined {
  let shift: number | undefined;
  for (const { end, start, outScale, inScale } of sides) {
    if (!end || !start) continue;
    const need = Math.max(end.dts / outScale - start.dts / inScale, end.pts / outScale - start.pts / inScale);
    shift = shift === undefined ? need : Math.max(shift, need);
  }
  return shift;
}

/** An input track as the seam check sees it: the output track it goes to, and both timescales. */
export interface SeamTrack {
  outId: number;
  inScale: number;
  outScale: number;
}

/**
 * Whether the samples of input `t`, under `shiftSec`, that land on time already written (at or before the
 * last written decode time of their track, `lastDts` by output track id) repeat the written ones: the same
 * decode time (to a tick) and the same payload, for the first REPEAT_CHECKS of each track. Undefined when
 * none lands on written time; false as soon as one is not a repeat (new content at an overlapping time).
 * `out` rows `from`..`n` are the previous input's; `input` is this input's index.
 */
export function repeatsWritten(
  out: SampleTable,
  from: number,
  n: number,
  t: SampleTable,
  input: number,
  tracks: readonly (SeamTrack | undefined)[],
  lastDts: readonly (number | undefined)[],
  shiftSec: number,
  same: SamePayload,
): boolean | undefined {
  const checked: number[] = [];
  const passed: boolean[] = [];
  let open = 0; // tracks that may still land on written time
  for (const s of tracks) if (s && lastDts[s.outId] !== undefined) open++;
  let any = false;
  for (let i = 0; i < t.length && open > 0; i++) {
    const s = tracks[t.trackId[i] as number];
    if (!s || passed[s.outId]) continue;
    const last = lastDts[s.outId];
    if (last === undefined) continue;
    const dts = Math.round(((t.dts[i] as number) / s.inScale + shiftSec) * s.outScale);
    const k = checked[s.outId] ?? 0;
    if (dts > last || k >= REPEAT_CHECKS) {
      passed[s.outId] = true;
      open--;
      continue;
    }
    any = true;
    checked[s.outId] = k + 1;
    const j = rowAt(out, from, n, s.outId, dts);
    if (j < 0) return false;
    const a: PayloadRef = {
      input: out.input[j] as number,
      offset: out.offset[j] as number,
      size: out.size[j] as number,
      tag: out.tag[j] as number,
    };
    const b: PayloadRef = {
      input,
      offset: t.offset[i] as number,
      size: t.size[i] as number,
      tag: t.tag[i] as number,
    };
    if (a.size !== b.size || !same(a, b)) return false;
  }
  return any ? true : undefined;
}

/** The row of `out` (within `from`..`n`) of a track at a decode time (to a tick), or -1. */
function rowAt(out: SampleTable, from: number, n: number, trackId: number, dts: number): number {
  for (let i = n - 1; i >= from; i--) {
    if (out.trackId[i] !== trackId) continue;
    const d = out.dts[i] as number;
    if (Math.abs(d - dts) <= 1) return i;
    if (d < dts - 1) return -1;
  }
  return -1;
}

/**
 * For a segment `next` to follow `prev` (the record pass-through after a discontinuity): per track they
 * share, the shift that puts its first time at its end in `prev`; with none shared, the one that puts the
 * earliest of `next` at the latest end of `prev`. Empty when either has no track. The caller takes the
 * largest, so that the longer of video and audio sets the join.
 */
export function followNeeds<T>(
  prev: ReadonlyMap<number, T>,
  next: ReadonlyMap<number, T>,
  end: (t: T) => number,
  start: (t: T) => number,
): number[] {
  const needs: number[] = [];
  for (const [id, n] of next) {
    const p = prev.get(id);
    if (p) needs.push(end(p) - start(n));
  }
  if (needs.length === 0 && prev.size > 0 && next.size > 0) {
    needs.push(Math.max(...[...prev.values()].map(end)) - Math.min(...[...next.values()].map(start)));
  }
  return needs;
}
