/**
 * Moving the times of fragmented MP4 media segments written as they are (the pass-through of `record
 * --format fmp4`) so that a stream whose timestamps restart at an HLS discontinuity (RFC 8216 4.3.2.3)
 * plays on instead of going back in time: the baseMediaDecodeTime of every tfdt (ISO/IEC 14496-12 8.8.12)
 * and the earliest_presentation_time of every top-level sidx (8.16.3) move by one offset in seconds, in
 * each track's timescale. Nothing else is touched, so a segment keeps its size.
 */
import { writeU32 } from '../../core/bytes.js';
import { bodyStart, childBoxes, findBox, fullBoxHeader, readBoxes, u32, type Box } from './isobmff-boxes.js';
import { followNeeds } from '../join-seam.js';
import type { TrackInfo } from '../media.js';
import { parseMoov, type TrexDefaults } from './isobmff-moov.js';
import { packedLanguage } from './isobmff-moov-writer.js';
import {
  TFHD_BASE_DATA_OFFSET,
  TFHD_DEFAULT_DURATION,
  TFHD_DESCRIPTION_INDEX,
  TRUN_CTS,
  TRUN_DATA_OFFSET,
  TRUN_DURATION,
  TRUN_FIRST_SAMPLE_FLAGS,
  TRUN_FLAGS,
  TRUN_SIZE,
} from './isobmff-fragment.js';

/** What the times of a track's fragments need from the init section. */
export interface Fmp4TrackClock {
  timescale: number;
  trex: TrexDefaults;
  /** The track as the init section describes it (codec, decoder configuration). */
  info: TrackInfo;
}

/** The tracks of an init section by track_ID (tkhd), with their timescale and trex defaults. */
export type Fmp4Clocks = Map<number, Fmp4TrackClock>;

/** The times of one track in one segment, seconds. */
export interface Fmp4TrackTimes {
  /** Its first decoding time (the first tfdt). */
  start: number;
  /** The end of its last sample (the last tfdt plus the durations of its samples). */
  end: number;
}

/**
 * An init section whose tracks are in these languages (ISO 639-2/T, by kind), the mdhd's two bytes
 * rewritten in a copy: a pass-through output takes the manifest's language without another moov. The
 * input itself when there is nothing to change.
 */
export function withTrackLanguages(
  init: Uint8Array,
  languages: { video?: string; audio?: string },
): Uint8Array {
  const moov = findBox(readBoxes(init, 0, init.length), 'moov');
  if (!moov) return init;
  let out = init;
  for (const t of parseMoov(init, moov, 0).tracks) {
    const lang = languages[t.info.kind];
    if (lang === undefined || lang === t.info.language) continue;
    if (out === init) out = init.slice();
    const packed = packedLanguage(lang);
    out[t.languageAt] = packed >> 8;
    out[t.languageAt + 1] = packed & 0xff;
  }
  return out;
}

/** The tracks of an init section (its moov); empty when it has none. */
export function fmp4Clocks(init: Uint8Array): Fmp4Clocks {
  const out: Fmp4Clocks = new Map();
  const moov = findBox(readBoxes(init, 0, init.length), 'moov');
  if (!moov) return out;
  for (const t of parseMoov(init, moov, 0).tracks)
    out.set(t.fileTrackId, { timescale: t.info.timescale, trex: t.trex, info: t.info });
  return out;
}

function u64(d: Uint8Array, at: number): number {
  return u32(d, at) * 2 ** 32 + u32(d, at + 4);
}

function putU64(d: Uint8Array, at: number, v: number): void {
  writeU32(d, at, Math.floor(v / 2 ** 32));
  writeU32(d, at + 4, v % 2 ** 32);
}

/** A time field (32 or 64 bits) at `at`. */
interface TimeField {
  at: number;
  wide: boolean;
  trackId: number;
  /** The sidx's own timescale; undefined for a tfdt (the track's). */
  timescale?: number;
}

interface TrafInfo {
  trackId: number;
  tfdt?: TimeField;
  /** Sum of its samples' durations, in the track's timescale. */
  duration: number;
}

/** The trafs of every moof in a segment, and the time fields of the segment's sidx boxes. */
function walk(seg: Uint8Array, clocks: Fmp4Clocks): { trafs: TrafInfo[]; sidx: TimeField[] } {
  const trafs: TrafInfo[] = [];
  const sidx: TimeField[] = [];
  for (const top of readBoxes(seg, 0, seg.length)) {
    if (top.type === 'sidx') {
      // version, flags, reference_ID, timescale, earliest_presentation_time (32 or 64 bits).
      const { version } = fullBoxHeader(seg, top);
      const b = bodyStart(top) + 4;
      sidx.push({ at: b + 8, wide: version === 1, trackId: u32(seg, b), timescale: u32(seg, b + 4) });
    }
    if (top.type !== 'moof') continue;
    for (const traf of childBoxes(seg, top)) {
      if (traf.type === 'traf') trafs.push(trafInfo(seg, traf, clocks));
    }
  }
  return { trafs, sidx };
}

/** A traf's tfhd (14496-12 8.8.7): its track, its flags, and the default sample duration (else the trex's). */
export function tfhdOf(
  seg: Uint8Array,
  tfhd: Box,
  clocks: Fmp4Clocks,
): { trackId: number; flags: number; defaultDuration: number } {
  const { flags } = fullBoxHeader(seg, tfhd);
  let at = bodyStart(tfhd) + 4;
  const trackId = u32(seg, at);
  at += 4;
  if (flags & TFHD_BASE_DATA_OFFSET) at += 8;
  if (flags & TFHD_DESCRIPTION_INDEX) at += 4;
  const defaultDuration =
    flags & TFHD_DEFAULT_DURATION ? u32(seg, at) : (clocks.get(trackId)?.trex.duration ?? 0);
  return { trackId, flags, defaultDuration };
}

/** Where a trun's sample entries are (14496-12 8.8.8). */
export interface TrunLayout {
  flags: number;
  /** Position of sample_count. */
  countAt: number;
  count: number;
  /** Position of data_offset, when the trun has one. */
  dataOffsetAt?: number;
  /** Position of the first sample entry, and bytes per entry. */
  first: number;
  entry: number;
}

export function trunLayout(seg: Uint8Array, trun: Box): TrunLayout {
  const { flags } = fullBoxHeader(seg, trun);
  const countAt = bodyStart(trun) + 4;
  let first = countAt + 4;
  const layout: TrunLayout = { flags, countAt, count: u32(seg, countAt), first, entry: 0 };
  if (flags & TRUN_DATA_OFFSET) {
    layout.dataOffsetAt = first;
    first += 4;
  }
  if (flags & TRUN_FIRST_SAMPLE_FLAGS) first += 4;
  layout.first = first;
  layout.entry =
    4 *
    ((flags & TRUN_DURATION ? 1 : 0) +
      (flags & TRUN_SIZE ? 1 : 0) +
      (flags & TRUN_FLAGS ? 1 : 0) +
      (flags & TRUN_CTS ? 1 : 0));
  return layout;
}

/** The duration of sample `k` of a trun: its entry's, else the default. */
export function trunSampleDuration(
  seg: Uint8Array,
  l: TrunLayout,
  k: number,
  defaultDuration: number,
): number {
  return l.flags & TRUN_DURATION ? u32(seg, l.first + k * l.entry) : defaultDuration;
}

/** A tfdt's baseMediaDecodeTime (32 or 64 bits by its version). */
export function tfdtTime(seg: Uint8Array, tfdt: Box): number {
  const at = bodyStart(tfdt) + 4;
  return fullBoxHeader(seg, tfdt).version === 1 ? u64(seg, at) : u32(seg, at);
}

function trafInfo(seg: Uint8Array, traf: Box, clocks: Fmp4Clocks): TrafInfo {
  const kids = childBoxes(seg, traf);
  const tfhd = findBox(kids, 'tfhd');
  if (!tfhd) return { trackId: -1, duration: 0 };
  const { trackId, defaultDuration } = tfhdOf(seg, tfhd, clocks);
  const info: TrafInfo = { trackId, duration: 0 };
  const tfdt = findBox(kids, 'tfdt');
  if (tfdt) info.tfdt = { at: bodyStart(tfdt) + 4, wide: fullBoxHeader(seg, tfdt).version === 1, trackId };
  for (const trun of kids) {
    if (trun.type !== 'trun') continue;
    const l = trunLayout(seg, trun);
    if ((l.flags & TRUN_DURATION) === 0) {
      info.duration += l.count * defaultDuration;
      continue;
    }
    for (let k = 0; k < l.count && l.first + k * l.entry + 4 <= trun.end; k++)
      info.duration += trunSampleDuration(seg, l, k, defaultDuration);
  }
  return info;
}

/** Each track's first decoding time and end in a segment, seconds (tracks without a tfdt are left out). */
export function fmp4SegmentTimes(seg: Uint8Array, clocks: Fmp4Clocks): Map<number, Fmp4TrackTimes> {
  const out = new Map<number, Fmp4TrackTimes>();
  for (const t of walk(seg, clocks).trafs) {
    const clock = clocks.get(t.trackId);
    if (!clock || !t.tfdt || clock.timescale <= 0) continue;
    const dts = t.tfdt.wide ? u64(seg, t.tfdt.at) : u32(seg, t.tfdt.at);
    const start = dts / clock.timescale;
    const end = (dts + t.duration) / clock.timescale;
    const had = out.get(t.trackId);
    out.set(
      t.trackId,
      had ? { start: Math.min(had.start, start), end: Math.max(had.end, end) } : { start, end },
    );
  }
  return out;
}

/**
 * The shift (seconds) that makes segment `next` follow `prev` (already on the output's clock), `gap`
 * seconds later: the least that keeps each track they share going forward (its first sample at the end of
 * its last), so that the longer of video and audio sets the join. No track in common: the earliest of
 * `next` at the latest end of `prev`. Undefined when either has no times.
 */
export function fmp4JoinShift(
  prev: Map<number, Fmp4TrackTimes>,
  next: Map<number, Fmp4TrackTimes>,
  gap = 0,
): number | undefined {
  const needs = followNeeds(
    prev,
    next,
    (p) => p.end,
    (n) => n.start,
  );
  return needs.length > 0 ? Math.max(...needs) + gap : undefined;
}

/**
 * `seg` with every tfdt and sidx time moved by `shift` seconds (in each track's timescale), in place. A
 * 32-bit field whose new value does not fit, or would be negative, is left as it was (false is returned).
 */
export function shiftFmp4Times(seg: Uint8Array, clocks: Fmp4Clocks, shift: number): boolean {
  if (shift === 0) return true;
  const { trafs, sidx } = walk(seg, clocks);
  let ok = true;
  const fields = [...trafs.flatMap((t) => (t.tfdt ? [t.tfdt] : [])), ...sidx];
  for (const f of fields) {
    const scale = f.timescale ?? clocks.get(f.trackId)?.timescale;
    if (!scale) continue;
    const v = (f.wide ? u64(seg, f.at) : u32(seg, f.at)) + Math.round(shift * scale);
    if (v < 0 || (!f.wide && v >= 2 ** 32) || v > Number.MAX_SAFE_INTEGER) {
      ok = false;
      continue;
    }
    if (f.wide) putU64(seg, f.at, v);
    else writeU32(seg, f.at, v);
  }
  return ok;
}
