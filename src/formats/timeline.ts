import { sameBytes } from '../core/bytes.js';
import { parseAudioSpecificConfig } from './codecs/aac.js';
import { parseAvcC } from './codecs/h264.js';
import { parameterSetUnits, type InBandParams } from './codecs/parameter-sets.js';
import { parseHvcC } from './codecs/hevc.js';
import { CastkitError, FormatError } from '../core/errors.js';
import type { FormatWarning, TrackInfo } from './media.js';
import type { Mp4TrackInfo } from './isobmff/isobmff-moov.js';
import {
  repeatsWritten,
  sameSize,
  seamShift,
  trackEnd,
  trackStarts,
  type SamePayload,
  type SeamTrack,
  type TrackEdge,
} from './join-seam.js';
import { SampleTable } from './sample-table.js';

/** One demuxed input: its tracks and its samples in input order. */
export interface DemuxedInput {
  name: string;
  tracks: TrackInfo[];
  samples: SampleTable;
  /**
   * joinInputs: seconds known to be missing between the previous input and this one (a segment that could
   * not be fetched). The timeline keeps them as a gap instead of closing it.
   */
  gapBeforeSec?: number;
}

export interface Timeline {
  tracks: TrackInfo[];
  /** In output order; `input` is the index of the input each payload lives in. */
  samples: SampleTable;
  /** Seconds, the longest track. */
  durationSec: number;
  warnings: FormatWarning[];
}

/** How far an input's start may be from the previous input's end and still count as running on. */
export const RUN_ON_TOLERANCE_SEC = 1;

/** The error for an input whose track was encoded unlike the first input's: it cannot be joined to it. */
export function concatMismatch(inputName: string, t: TrackInfo, first: TrackInfo): CastkitError {
  return new CastkitError(
    `${inputName}: its ${t.kind} track differs from the first input's (${trackDifference(t, first)}); they cannot be joined without re-encoding`,
    {
      code: 'E_CONCAT_MISMATCH',
      category: 'input',
      hint: 'join only parts of one recording, or re-encode them with ffmpeg first',
    },
  );
}

/** What tells track `t` from `first`, for a message. */
export function trackDifference(t: TrackInfo, first: TrackInfo): string {
  if (t.codec !== first.codec) return `${t.codec}, not ${first.codec}`;
  if (t.width !== first.width || t.height !== first.height)
    return `${t.width}x${t.height}, not ${first.width}x${first.height}`;
  if (t.sampleRate !== first.sampleRate) return `${t.sampleRate} Hz, not ${first.sampleRate} Hz`;
  if (t.channels !== first.channels) return `${t.channels} channels, not ${first.channels}`;
  return `${t.codec} with other decoder settings`;
}

/**
 * Whether samples of track `t` decode with the configuration of `first`: the same bytes, or the same
 * decoder settings written another way: for AAC, an MP4 or FLV AudioSpecificConfig often carries a sync
 * extension saying "no SBR" that the 2-byte one made from ADTS headers has not; for H.264 and HEVC, the
 * same parameter sets in records that differ elsewhere (sameParameterSets).
 */
export function sameDecoding(t: TrackInfo, first: TrackInfo): boolean {
  if (t.codec !== first.codec) return false;
  if (sameBytes(t.config, first.config)) return true;
  if (!t.config || !first.config) return false;
  if (t.codec === 'avc' || t.codec === 'hevc') return sameParameterSets(t.codec, t.config, first.config);
  if (t.codec !== 'aac') return false;
  try {
    const a = parseAudioSpecificConfig(t.config);
    const b = parseAudioSpecificConfig(first.config);
    return (
      a.coreObjectType === b.coreObjectType &&
      a.sampleRate === b.sampleRate &&
      a.channelConfig === b.channelConfig && // the channels follow from it (0 is ruled out below)
      a.frameLength === b.frameLength &&
      a.sbr === b.sbr &&
      a.ps === b.ps &&
      a.channelConfig !== 0 // a program_config_element may say more than the channel count: bytes decide
    );
  } catch {
    return false;
  }
}

/**
 * Whether video track `t` can follow `first` although their parameter sets differ: its samples carry its
 * own (TrackInfo.inBandParameterSets), the codec is H.264 or HEVC in both, and the NAL unit length size is
 * the same (samples are written as they are, under the first sample entry). ISO/IEC 14496-15 keeps such
 * streams in one track when the parameter sets travel in band; ffmpeg's MP4 muxer writes them the same way.
 */
export function changesInBand(t: TrackInfo, first: TrackInfo): boolean {
  if (t.kind !== 'video' || !t.inBandParameterSets || t.codec !== first.codec) return false;
  if (t.codec !== 'avc' && t.codec !== 'hevc') return false;
  try {
    const size = (c: Uint8Array): number =>
      t.codec === 'avc' ? parseAvcC(c).lengthSize : parseHvcC(c).lengthSize;
    return size(t.config) === size(first.config);
  } catch (err) {
    if (err instanceof FormatError) return false;
    throw err;
  }
}

/**
 * The parameter sets to put into the first keyframe of video track `t`, which follows `before` (the part
 * before it): the change of configuration then travels in band, and changesInBand takes it. Undefined when
 * nothing needs carrying: not H.264 or HEVC, the samples carry their own already (MPEG-TS), no part before,
 * another codec (refused anyway), the same decoding, or a record that does not parse.
 */
export function parameterSetsToCarry(t: TrackInfo, before: TrackInfo | undefined): InBandParams | undefined {
  if (t.kind !== 'video' || (t.codec !== 'avc' && t.codec !== 'hevc') || t.inBandParameterSets)
    return undefined;
  if (!before || t.codec !== before.codec || sameDecoding(t, before)) return undefined;
  return parameterSetUnits(t.codec === 'hevc', t.config);
}

/** Where a track's edit list puts its media, seconds: its delay less its media time (0 without one). */
function editOffsetSec(t: TrackInfo): number {
  const e = (t as Mp4TrackInfo).edit;
  if (!e || e.mediaTime < 0 || t.timescale <= 0) return 0;
  return (e.delay - e.mediaTime) / t.timescale;
}

/**
 * Two avcC or two hvcC records that decode alike: the same NAL length size and byte-identical parameter
 * sets (VPS, SPS, PPS; SPS extensions when both have them). Other arrays (an hvcC's SEI, as ffmpeg copies
 * x265's from an MP4 but not from an MPEG-TS) and the header fields, which the SPS determines, may differ.
 */
function sameParameterSets(codec: 'avc' | 'hevc', a: Uint8Array, b: Uint8Array): boolean {
  const same = (x: readonly Uint8Array[], y: readonly Uint8Array[]): boolean =>
    x.length === y.length && x.every((u, i) => sameBytes(u, y[i] as Uint8Array));
  try {
    if (codec === 'avc') {
      const x = parseAvcC(a);
      const y = parseAvcC(b);
      const extOk = !x.spsExt || !y.spsExt || same(x.spsExt, y.spsExt);
      return x.lengthSize === y.lengthSize && same(x.sps, y.sps) && same(x.pps, y.pps) && extOk;
    }
    const x = parseHvcC(a);
    const y = parseHvcC(b);
    return x.lengthSize === y.lengthSize && same(x.vps, y.vps) && same(x.sps, y.sps) && same(x.pps, y.pps);
  } catch (err) {
    if (err instanceof FormatError) return false;
    throw err;
  }
}

/**
 * Whether an input starting at `startSec` (its own clock) runs on from the previous input, which started at
 * `prevStartSec` and ended at `expectedSec`. Within RUN_ON_TOLERANCE_SEC, but never by more than half the
 * previous input's length before its end: a 1 s segment whose times restart (HLS segments cut with
 * reset_timestamps) starts exactly 1 s "before" the end of the one before, and is a restart, not an overlap.
 */
export function runsOn(startSec: number, expectedSec: number, prevStartSec: number): boolean {
  const early = Math.min(RUN_ON_TOLERANCE_SEC, Math.max(0, expectedSec - prevStartSec) / 2);
  return startSec >= expectedSec - early && startSec <= expectedSec + RUN_ON_TOLERANCE_SEC;
}

/** Typical sample duration of a track, ticks: the median of the known durations or dts steps. */
function typicalDuration(t: SampleTable, trackId: number): number {
  const steps: number[] = [];
  let prev = -1;
  for (let i = 0; i < t.length && steps.length < 64; i++) {
    if (t.trackId[i] !== trackId) continue;
    if (prev >= 0 && !((t.duration[prev] as number) > 0))
      steps.push((t.dts[i] as number) - (t.dts[prev] as number));
    if ((t.duration[i] as number) > 0) steps.push(t.duration[i] as number);
    prev = i;
  }
  steps.sort((a, b) => a - b);
  return Math.max(0, steps[steps.length >> 1] ?? 0);
}

/** Durations of 0 become the step to the track's next sample; a track's last one, its typical duration. */
function fillDurations(t: SampleTable, trackIds: Iterable<number>): void {
  const last: number[] = [];
  for (let i = 0; i < t.length; i++) {
    const id = t.trackId[i] as number;
    const prev = last[id];
    if (prev !== undefined && !((t.duration[prev] as number) > 0))
      t.duration[prev] = Math.max(0, (t.dts[i] as number) - (t.dts[prev] as number));
    last[id] = i;
  }
  for (const id of trackIds) {
    const i = last[id];
    if (i !== undefined && !((t.duration[i] as number) > 0)) t.duration[i] = typicalDuration(t, id);
  }
}

export interface JoinOptions {
  /**
   * Whether two samples carry the same bytes: asked at a seam where a later input's first samples land on
   * time already written, to tell a repeat of the previous input's end (dropped) from new content (moved
   * after it). Only a few samples per seam. Without it, the same size counts as the same bytes.
   */
  samePayload?: SamePayload;
}

/**
 * Concatenate demuxed inputs into one timeline: the output tracks are the first input's, and each later
 * input's tracks are matched to them by kind and codec and rescaled to their timescales; a track of a kind
 * no input before had (sound after a silent intro) is added from there on, after a gap (W_LATE_TRACK),
 * placed after the end of the reference track (the first input's video, else its first). An input whose
 * own times run on from the previous one's (segments of one stream) keeps them, less the samples at its
 * start that repeat the written ones (same time, same payload: W_OVERLAP); any other input (a restart, a
 * jump, or an overlap with new content) is shifted to start after everything written, in decode and in
 * presentation time, on every track (join-seam.ts seamShift), with its A/V offsets kept. The first input is
 * moved so that its earliest decode time is 0. Sample durations of 0 are filled from the next sample's
 * dts, so that every sample has a duration. The inputs' tables are consumed: one input's is rewritten in
 * place into the timeline, several are copied into a new table and cleared as they go.
 */
export function joinInputs(inputs: DemuxedInput[], options: JoinOptions = {}): Timeline {
  const samePayload = options.samePayload ?? sameSize;
  const first = inputs[0];
  if (!first) throw new RangeError('joinInputs: no inputs');
  const tracks = first.tracks.map((t) => ({ ...t }));
  const warnings: FormatWarning[] = [];
  let total = 0;
  for (const input of inputs) total += input.samples.length;
  const out = inputs.length === 1 ? first.samples : new SampleTable(total);
  let n = 0; // samples in `out`
  // Output track id -> last dts. An array, not a Map: this loop over every sample runs once, interpreted.
  const lastDts: (number | undefined)[] = [];
  let endSec = 0;
  let prevShiftSec = 0;
  let prevOrigEndSec = 0;
  let prevStartSec = 0;
  let overlapDrops = 0;
  let prevFrom = 0; // the previous input's first row in `out`
  const inputsWith: number[] = []; // per output track id: how many inputs kept samples of it
  const inForce: (TrackInfo | undefined)[] = []; // per output track id: the last input's track (its config)
  const reference = tracks.find((t) => t.kind === 'video') ?? tracks[0];
  if (!reference) throw new RangeError('joinInputs: the first input has no tracks');

  inputs.forEach((input, index) => {
    // input track id -> output track
    const map = new Map<number, TrackInfo>();
    for (const t of input.tracks) {
      const o = tracks.find((ot) => ot.kind === t.kind && ![...map.values()].includes(ot));
      if (!o) {
        // A track the inputs before had none of (an intro without sound, then the talk): it joins the
        // output from here, after a gap as long as what came before. Its own edit list is not kept
        // (it would place it at the start); its offset is applied to its times instead (extraOf: with
        // no edit on the output track, the whole offset).
        const added: TrackInfo = { ...t, id: nextTrackId(tracks) };
        delete (added as Mp4TrackInfo).edit;
        tracks.push(added);
        map.set(t.id, added);
        if (index > 0) warnings.push(lateTrackWarning(t.kind, input.name));
        continue;
      }
      if (o.codec !== t.codec) throw concatMismatch(input.name, t, o);
      if (index > 0) {
        // Other parameters that the samples carry themselves (a stream that changed resolution at a
        // discontinuity, an ad break): they decode as the stream did, under the first sample entry.
        if (!sameDecoding(t, o) && !changesInBand(t, o)) throw concatMismatch(input.name, t, o);
        const before = inForce[o.id] ?? o;
        if (!sameDecoding(t, before)) {
          warnings.push({
            code: 'W_CONFIG_CHANGE',
            message: `the video parameters change here (${trackDifference(t, before)}); the new parameter sets are carried in its samples`,
            input: input.name,
          });
        }
      }
      inForce[o.id] = t;
      map.set(t.id, o);
    }
    for (const o of tracks) {
      if (![...map.values()].includes(o)) {
        warnings.push({
          code: 'W_MISSING_TRACK',
          message: `no ${o.kind} track; the output has a gap in it`,
          input: input.name,
        });
      }
    }

    // Per input track id: its output track and its own timescale (ids are small integers).
    const outOf: (TrackInfo | undefined)[] = [];
    const inOf: (TrackInfo | undefined)[] = [];
    // Per input track id: seconds added to its times beyond the input's shift. An ISO-BMFF input presents
    // each track under its edit list (an empty edit delays a track, a media time hides an encoder's
    // priming samples or a B-frame delay), and the output keeps only the first input's: a later input's
    // tracks move by the difference, so that their A/V offsets are the ones its own player shows.
    const extraOf: number[] = [];
    for (const t of input.tracks) {
      outOf[t.id] = map.get(t.id);
      inOf[t.id] = t;
      const o = map.get(t.id);
      extraOf[t.id] = index > 0 && o ? editOffsetSec(t) - editOffsetSec(o) : 0;
    }
    const t = input.samples;
    const ids = t.trackId;

    // The input's start: its earliest dts over the matched tracks, in seconds (the first input's becomes 0).
    let startSec = Infinity;
    const firstSeen = new Set<number>();
    for (let i = 0; i < t.length && firstSeen.size < map.size; i++) {
      const id = ids[i] as number;
      const inTrack = inOf[id];
      if (firstSeen.has(id) || !inTrack || !outOf[id]) continue;
      firstSeen.add(id);
      startSec = Math.min(startSec, (t.dts[i] as number) / inTrack.timescale);
    }
    if (!Number.isFinite(startSec)) {
      if (t !== out) t.clear();
      return;
    }
    // An input whose own timestamps run on from the previous one (segments of one stream) keeps them
    // exactly; one that restarts or jumps is moved to continue where the previous one ended.
    // A known gap before the input moves where it is expected to start, and is kept if it has to be moved.
    const gapSec = index > 0 ? Math.max(0, input.gapBeforeSec ?? 0) : 0;
    const expectedSec = prevOrigEndSec + gapSec;
    let continues = index > 0 && runsOn(startSec, expectedSec, prevStartSec);
    const seamTracks: (SeamTrack | undefined)[] = [];
    for (const [id, o] of map) {
      seamTracks[id] = { outId: o.id, inScale: (inOf[id] as TrackInfo).timescale, outScale: o.timescale };
    }
    // Samples landing on written time are dropped only when they are the written ones again (a chunk that
    // repeats the previous one's end); new content there means the clocks only happen to overlap (another
    // recording, another muxer's start offset): the input is moved after the end instead.
    if (continues) {
      const repeats = repeatsWritten(
        out,
        prevFrom,
        n,
        t,
        index,
        seamTracks,
        lastDts,
        prevShiftSec,
        samePayload,
      );
      if (repeats === false) continues = false;
    }
    let shiftSec = prevShiftSec;
    if (!continues) {
      const starts = trackStarts(t, [...map.keys()]);
      for (const [id, s] of starts) {
        const extra = (extraOf[id] ?? 0) * (inOf[id] as TrackInfo).timescale;
        s.dts += extra;
        s.pts += extra;
      }
      // A track that nothing was written to yet (it starts in this input, without an edit list) goes
      // after where the reference track's presentation ends, as if it had run on.
      const refEnd = index > 0 ? presentationEnd(out, prevFrom, n, reference) : undefined;
      const after = seamShift(
        [...map].map(([id, o]) => {
          const end = index > 0 ? trackEnd(out, prevFrom, n, o.id) : undefined;
          const ref = end === undefined && refEnd !== undefined;
          return {
            end: ref ? refEnd : end,
            start: starts.get(id),
            outScale: ref ? reference.timescale : o.timescale,
            inScale: (inOf[id] as TrackInfo).timescale,
          };
        }),
      );
      shiftSec = (after ?? endSec - startSec) + gapSec;
    }
    prevFrom = n;
    prevStartSec = startSec;
    prevShiftSec = shiftSec;

    fillDurations(t, map.keys());

    const keptHere: boolean[] = []; // per output track id: kept a sample of this input already
    let lastRef = -1; // the last sample of the reference track kept from this input, in `out`
    for (let i = 0; i < t.length; i++) {
      const id = ids[i] as number;
      const o = outOf[id];
      const inTrack = inOf[id];
      if (!o || !inTrack) continue;
      const scale = o.timescale / inTrack.timescale;
      let dts = Math.round(
        ((t.dts[i] as number) / inTrack.timescale + shiftSec + (extraOf[id] as number)) * o.timescale,
      );
      const prev = lastDts[o.id];
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
      lastDts[o.id] = dts;
      const j = n++;
      if (t !== out) out.copyFrom(t, i);
      else if (j !== i) out.setFrom(j, t, i);
      out.trackId[j] = o.id;
      out.dts[j] = dts;
      if (scale !== 1) {
        out.cts[j] = Math.round((t.cts[i] as number) * scale);
        out.duration[j] = Math.round((t.duration[i] as number) * scale);
      }
      out.input[j] = index;
      if (o === reference) lastRef = j;
    }
    if (t !== out) t.clear();
    for (const o of tracks) if (keptHere[o.id]) inputsWith[o.id] = (inputsWith[o.id] ?? 0) + 1;
    if (overlapDrops > 0) {
      warnings.push({
        code: 'W_OVERLAP',
        message: `${overlapDrops} samples at its start repeated the end of the previous input; dropped`,
        input: input.name,
      });
      overlapDrops = 0;
    }
    // The next input continues where this one's reference track (video, else the first) ends: every
    // other track keeps its offset to it, so A/V offsets inside inputs never accumulate into drift.
    const last = lastDts[reference.id];
    if (last !== undefined) {
      const refIndex = lastRef >= 0 ? lastRef : lastIndexOf(out, n, reference.id);
      endSec = (last + (refIndex >= 0 ? (out.duration[refIndex] as number) : 0)) / reference.timescale;
    }
    prevOrigEndSec = endSec - shiftSec;
  });
  out.length = n;
  out.trim();
  // An input's edit list (ISO-BMFF) says where its presentation starts and how long it lasts: the start
  // stays the joined track's, the length was the first input's only and now runs to the end of the media.
  for (const o of tracks as Mp4TrackInfo[]) {
    if (o.edit && o.edit.duration > 0 && (inputsWith[o.id] ?? 0) > 1) o.edit = { ...o.edit, duration: 0 };
  }
  let durationSec = 0;
  for (const o of tracks) {
    const i = lastIndexOf(out, n, o.id);
    if (i >= 0)
      durationSec = Math.max(
        durationSec,
        ((out.dts[i] as number) + (out.duration[i] as number)) / o.timescale,
      );
  }
  return { tracks, samples: out, durationSec, warnings };
}

/**
 * Where a track's written samples stop being presented, in its ticks (its edit list's offset applied), as
 * the end of both decode and presentation, to place a track that starts after it.
 */
function presentationEnd(out: SampleTable, from: number, n: number, track: TrackInfo): TrackEdge | undefined {
  const end = trackEnd(out, from, n, track.id);
  if (!end) return undefined;
  const pts = end.pts + Math.round(editOffsetSec(track) * track.timescale);
  return { dts: pts, pts };
}

/** W_LATE_TRACK: an input brings the first track of its kind, which starts there (joins of every kind). */
export function lateTrackWarning(kind: TrackInfo['kind'], input: string): FormatWarning & { input: string } {
  return {
    code: 'W_LATE_TRACK',
    message: `its ${kind} track is the first one: the output's ${kind} starts here, with a gap before it`,
    input,
  };
}

/** An output track id not yet taken. */
function nextTrackId(tracks: readonly TrackInfo[]): number {
  let id = 0;
  for (const t of tracks) id = Math.max(id, t.id);
  return id + 1;
}

/** The last of the first `n` samples that belongs to a track, or -1. */
function lastIndexOf(t: SampleTable, n: number, trackId: number): number {
  for (let i = n - 1; i >= 0; i--) if (t.trackId[i] === trackId) return i;
  return -1;
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
  // Per output track: its input's table and the indexes of its samples there.
  const perTrack: { table: SampleTable; rows: Uint32Array }[] = [];
  let startSec = Infinity;
  for (const input of inputs) {
    for (const t of input.tracks) {
      const i = input.samples.firstOf(t.id);
      if (i >= 0) startSec = Math.min(startSec, (input.samples.dts[i] as number) / t.timescale);
    }
  }
  if (!Number.isFinite(startSec)) startSec = 0;
  let total = 0;
  inputs.forEach((input, index) => {
    const table = input.samples;
    const counts = table.countByTrack();
    for (const t of input.tracks) {
      const count = counts.get(t.id) ?? 0;
      if (count === 0) continue;
      const id = tracks.length + 1;
      const shift = Math.round(startSec * t.timescale);
      const rows = new Uint32Array(count);
      let k = 0;
      for (let i = 0; i < table.length; i++) if (table.trackId[i] === t.id) rows[k++] = i;
      for (let k2 = 0; k2 < count; k2++) {
        const i = rows[k2] as number;
        table.dts[i] = (table.dts[i] as number) - shift;
        table.input[i] = index;
      }
      tracks.push({ ...t, id });
      perTrack.push({ table, rows });
      total += count;
    }
    fillDurations(
      table,
      input.tracks.map((t) => t.id),
    );
  });
  // Interleave: walk time in steps, taking each track's samples that start before the step's end.
  const samples = new SampleTable(total);
  const next = perTrack.map(() => 0);
  for (let end = INTERLEAVE_SEC; ; end += INTERLEAVE_SEC) {
    let left = false;
    perTrack.forEach(({ table, rows }, k) => {
      const ts = (tracks[k] as TrackInfo).timescale;
      let r = next[k] as number;
      while (r < rows.length && (table.dts[rows[r] as number] as number) / ts < end) {
        const j = samples.copyFrom(table, rows[r++] as number);
        samples.trackId[j] = k + 1;
      }
      next[k] = r;
      if (r < rows.length) left = true;
    });
    if (!left) break;
  }
  for (const input of inputs) input.samples.clear();
  let durationSec = 0;
  tracks.forEach((t) => {
    const i = lastIndexOf(samples, samples.length, t.id);
    if (i >= 0)
      durationSec = Math.max(
        durationSec,
        ((samples.dts[i] as number) + (samples.duration[i] as number)) / t.timescale,
      );
  });
  return { tracks, samples, durationSec, warnings: [] };
}
