import { CastkitError } from '../core/errors.js';
import type { FormatWarning, Sample, TrackInfo } from './media.js';

/** One demuxed input: its tracks and its samples in input order. */
export interface DemuxedInput {
  name: string;
  tracks: TrackInfo[];
  samples: Sample[];
  /**
   * joinInputs: seconds known to be missing between the previous input and this one (a segment that could
   * not be fetched). The timeline keeps them as a gap instead of closing it.
   */
  gapBeforeSec?: number;
}

/** A sample of the joined timeline, with the input its payload lives in. */
export interface TimelineSample extends Sample {
  input: number;
}

export interface Timeline {
  tracks: TrackInfo[];
  samples: TimelineSample[];
  /** Seconds, the longest track. */
  durationSec: number;
  warnings: FormatWarning[];
}

/** How far an input's start may be from the previous input's end and still count as running on. */
const RUN_ON_TOLERANCE_SEC = 1;

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Typical sample duration of a track, ticks: the median of the known durations or dts steps. */
function typicalDuration(samples: Sample[]): number {
  const steps: number[] = [];
  for (let i = 0; i < samples.length && steps.length < 64; i++) {
    const s = samples[i] as Sample;
    const next = samples[i + 1];
    if (s.duration > 0) steps.push(s.duration);
    else if (next) steps.push(next.dts - s.dts);
  }
  steps.sort((a, b) => a - b);
  return Math.max(0, steps[steps.length >> 1] ?? 0);
}

/**
 * Concatenate demuxed inputs into one timeline: the output tracks are the first input's; each later
 * input's tracks are matched by kind and codec, rescaled to the first input's timescales, and shifted so
 * that the input starts where the previous one's video (or first) track ended (A/V offsets within an input
 * are kept). The first
 * input is moved so that its earliest decode time is 0. Sample durations of 0 are filled from the next
 * sample's dts, so that every sample has a duration. The samples are updated in place (they belong to the
 * caller's demux results, which this consumes).
 */
export function joinInputs(inputs: DemuxedInput[]): Timeline {
  const first = inputs[0];
  if (!first) throw new RangeError('joinInputs: no inputs');
  const tracks = first.tracks.map((t) => ({ ...t }));
  const warnings: FormatWarning[] = [];
  const out: TimelineSample[] = [];
  const lastDts = new Map<number, number>(); // output track id -> last dts
  let endSec = 0;
  let prevShiftSec = 0;
  let prevOrigEndSec = 0;
  let overlapDrops = 0;
  const reference = tracks.find((t) => t.kind === 'video') ?? tracks[0];
  if (!reference) throw new RangeError('joinInputs: the first input has no tracks');

  inputs.forEach((input, index) => {
    // input track id -> output track
    const map = new Map<number, TrackInfo>();
    for (const t of input.tracks) {
      const o = tracks.find((ot) => ot.kind === t.kind && ![...map.values()].includes(ot));
      if (!o) {
        warnings.push({
          code: 'W_EXTRA_TRACK',
          message: `${input.name}: ${t.kind} track ${t.id} has no match in the first input; dropped`,
        });
        continue;
      }
      if (o.codec !== t.codec || (index > 0 && !sameBytes(o.config, t.config))) {
        throw new CastkitError(
          `${input.name}: its ${t.kind} track (${t.codec}) was encoded differently from the first input's (${o.codec}); they cannot be joined without re-encoding`,
          {
            code: 'E_CONCAT_MISMATCH',
            category: 'input',
            hint: 'join only parts of one recording, or re-encode them with ffmpeg first',
          },
        );
      }
      map.set(t.id, o);
    }
    for (const o of tracks) {
      if (![...map.values()].includes(o)) {
        warnings.push({
          code: 'W_MISSING_TRACK',
          message: `${input.name}: no ${o.kind} track; the output has a gap in it`,
        });
      }
    }

    // The input's start: its earliest dts over the matched tracks, in seconds (the first input's becomes 0).
    let startSec = Infinity;
    const firstSeen = new Set<number>();
    for (const s of input.samples) {
      if (firstSeen.has(s.trackId)) continue;
      const t = input.tracks.find((x) => x.id === s.trackId);
      if (!t || !map.has(t.id)) continue;
      firstSeen.add(s.trackId);
      startSec = Math.min(startSec, s.dts / t.timescale);
      if (firstSeen.size === map.size) break;
    }
    if (!Number.isFinite(startSec)) return;
    // An input whose own timestamps run on from the previous one (segments of one stream) keeps them
    // exactly; one that restarts or jumps is moved to continue where the previous one ended.
    // A known gap before the input moves where it is expected to start, and is kept if it has to be moved.
    const gapSec = index > 0 ? Math.max(0, input.gapBeforeSec ?? 0) : 0;
    const expectedSec = prevOrigEndSec + gapSec;
    const runsOn =
      index > 0 &&
      startSec >= expectedSec - RUN_ON_TOLERANCE_SEC &&
      startSec <= expectedSec + RUN_ON_TOLERANCE_SEC;
    const shiftSec = runsOn ? prevShiftSec : endSec + gapSec - startSec;
    prevShiftSec = shiftSec;

    // Per input track id: its output track and its own timescale (ids are small integers).
    const outOf: (TrackInfo | undefined)[] = [];
    const inOf: (TrackInfo | undefined)[] = [];
    for (const t of input.tracks) {
      outOf[t.id] = map.get(t.id);
      inOf[t.id] = t;
    }
    // Durations of 0 become the step to the track's next sample (in place: the samples are ours now);
    // a track's last one gets the track's typical duration.
    const lastOfTrack: (Sample | undefined)[] = [];
    for (const s of input.samples) {
      if (!outOf[s.trackId]) continue;
      const prev = lastOfTrack[s.trackId];
      if (prev && prev.duration <= 0) prev.duration = Math.max(0, s.dts - prev.dts);
      lastOfTrack[s.trackId] = s;
    }
    for (const [id, last] of lastOfTrack.entries()) {
      if (last && last.duration <= 0) {
        last.duration = typicalDuration(input.samples.filter((x) => x.trackId === id));
      }
    }

    const keptHere: boolean[] = []; // per output track id: kept a sample of this input already
    for (const s of input.samples) {
      const o = outOf[s.trackId];
      const inTrack = inOf[s.trackId];
      if (!o || !inTrack) continue;
      const scale = o.timescale / inTrack.timescale;
      let dts = Math.round((s.dts / inTrack.timescale + shiftSec) * o.timescale);
      const prev = lastDts.get(o.id);
      if (prev !== undefined && dts <= prev) {
        // Before this input has kept a sample of the track, a collision is an overlap with the previous
        // input: a repeat of what was written. After that, it is rounding: nudge it forward.
        if (!keptHere[o.id]) {
          overlapDrops++;
          continue;
        }
        dts = prev + 1;
      }
      keptHere[o.id] = true;
      lastDts.set(o.id, dts);
      const joined = s as TimelineSample;
      joined.trackId = o.id;
      joined.dts = dts;
      if (scale !== 1) {
        joined.cts = Math.round(s.cts * scale);
        joined.duration = Math.round(s.duration * scale);
      }
      joined.input = index;
      out.push(joined);
    }
    // The next input continues where this one's reference track (video, else the first) ends: every
    // other track keeps its offset to it, so A/V offsets inside inputs never accumulate into drift.
    const last = lastDts.get(reference.id);
    if (last !== undefined)
      endSec = (last + (findLast(out, reference.id)?.duration ?? 0)) / reference.timescale;
    prevOrigEndSec = endSec - shiftSec;
  });
  if (overlapDrops > 0) {
    warnings.push({
      code: 'W_OVERLAP',
      message: `${overlapDrops} samples repeated from the end of the previous input were dropped`,
    });
  }
  let durationSec = 0;
  for (const o of tracks) {
    const lastSample = findLast(out, o.id);
    if (lastSample) durationSec = Math.max(durationSec, (lastSample.dts + lastSample.duration) / o.timescale);
  }
  return { tracks, samples: out, durationSec, warnings };
}

function findLast(samples: TimelineSample[], trackId: number): TimelineSample | undefined {
  for (let i = samples.length - 1; i >= 0; i--) if (samples[i]?.trackId === trackId) return samples[i];
  return undefined;
}

/** Seconds of each track put together before the next track's: big enough for few, large copies. */
const INTERLEAVE_SEC = 0.5;

/**
 * Put the tracks of several inputs side by side in one timeline (a DASH or ustream video-only stream and
 * its audio-only stream): every track of every input becomes an output track (ids renumbered 1..n in input
 * order), all shifted by one offset so that the earliest decode time is 0 and their sync is kept, and the
 * samples interleaved in runs of INTERLEAVE_SEC per track. Samples are updated in place.
 */
export function mergeInputs(inputs: DemuxedInput[]): Timeline {
  const tracks: TrackInfo[] = [];
  const perTrack: TimelineSample[][] = [];
  let startSec = Infinity;
  inputs.forEach((input) => {
    for (const t of input.tracks) {
      const first = input.samples.find((s) => s.trackId === t.id);
      if (first) startSec = Math.min(startSec, first.dts / t.timescale);
    }
  });
  if (!Number.isFinite(startSec)) startSec = 0;
  inputs.forEach((input, index) => {
    for (const t of input.tracks) {
      const id = tracks.length + 1;
      const shift = Math.round(startSec * t.timescale);
      const list: TimelineSample[] = [];
      let prev: TimelineSample | undefined;
      for (const s of input.samples) {
        if (s.trackId !== t.id) continue;
        const joined = s as TimelineSample;
        joined.trackId = id;
        joined.dts = s.dts - shift;
        joined.input = index;
        if (prev && prev.duration <= 0) prev.duration = Math.max(0, joined.dts - prev.dts);
        list.push(joined);
        prev = joined;
      }
      if (list.length === 0) continue;
      if (prev && prev.duration <= 0) prev.duration = typicalDuration(list);
      tracks.push({ ...t, id });
      perTrack.push(list);
    }
  });
  // Interleave: walk time in steps, taking each track's samples that start before the step's end.
  const samples: TimelineSample[] = [];
  const next = perTrack.map(() => 0);
  let durationSec = 0;
  for (let end = INTERLEAVE_SEC; ; end += INTERLEAVE_SEC) {
    let left = false;
    perTrack.forEach((list, k) => {
      const ts = (tracks[k] as TrackInfo).timescale;
      let i = next[k] as number;
      while (i < list.length && (list[i] as TimelineSample).dts / ts < end)
        samples.push(list[i++] as TimelineSample);
      next[k] = i;
      if (i < list.length) left = true;
    });
    if (!left) break;
  }
  perTrack.forEach((list, k) => {
    const last = list[list.length - 1];
    if (last)
      durationSec = Math.max(durationSec, (last.dts + last.duration) / (tracks[k] as TrackInfo).timescale);
  });
  return { tracks, samples, durationSec, warnings: [] };
}
