/**
 * Movie fragments (ISO/IEC 14496-12 8.8): a moof is parsed into a plan (headers checked, per-sample tables
 * left in place), and the plan is expanded into samples once the extent of the mdat that follows is known,
 * so that a trun without per-sample fields cannot make us allocate more samples than the data could hold.
 */
import { FormatError } from '../../core/errors.js';
import type { FormatWarning, Sample } from '../media.js';
import {
  BoxCursor,
  bodyStart,
  childBoxes,
  findBox,
  fullBoxHeader,
  isSyncFlags,
  readBox,
  u32,
} from './isobmff-boxes.js';
import type { TrexDefaults } from './isobmff-moov.js';

/** What the fragment code needs to know and update about a track. */
export interface FragTrackState {
  id: number;
  fileTrackId: number;
  trex: TrexDefaults;
  /** Decode time after the last sample seen, for a traf without tfdt. */
  nextDts: number;
}

// tfhd flags (8.8.7.1)
export const TFHD_BASE_DATA_OFFSET = 0x1;
export const TFHD_DESCRIPTION_INDEX = 0x2;
export const TFHD_DEFAULT_DURATION = 0x8;
const TFHD_DEFAULT_SIZE = 0x10;
const TFHD_DEFAULT_FLAGS = 0x20;
export const TFHD_DEFAULT_BASE_IS_MOOF = 0x20000;
// trun flags (8.8.8.1)
export const TRUN_DATA_OFFSET = 0x1;
export const TRUN_FIRST_SAMPLE_FLAGS = 0x4;
export const TRUN_DURATION = 0x100;
export const TRUN_SIZE = 0x200;
export const TRUN_FLAGS = 0x400;
export const TRUN_CTS = 0x800;

interface TrunPlan {
  version: number;
  flags: number;
  count: number;
  /** data_offset when present (relative to the traf's base data offset). */
  dataOffset: number | undefined;
  firstFlags: number;
  /** Position of the first per-sample entry in the moof buffer, and the entry size. */
  entriesAt: number;
  entrySize: number;
  boxOffset: number;
}

interface TrafPlan {
  track: FragTrackState;
  /** Absolute base data offset when tfhd gives one or default-base-is-moof; undefined: derive (8.8.7.1). */
  base: number | undefined;
  tfdt: number | undefined;
  duration: number;
  size: number;
  flags: number;
  truns: TrunPlan[];
}

export interface MoofPlan {
  /** Absolute offset of the moof box. */
  start: number;
  /** The moof's bytes (the per-sample tables are read from here). */
  data: Uint8Array;
  trafs: TrafPlan[];
}

/**
 * Parse a moof (its bytes in `data`, at absolute offset `start`). Checks every trun's sample_count against
 * the bytes its per-sample fields need; a traf for a track the moov does not have is skipped with a warning.
 */
export function parseMoof(
  data: Uint8Array,
  start: number,
  tracksByFileId: ReadonlyMap<number, FragTrackState>,
  warnings: FormatWarning[],
  /** Track ids already warned about (a skipped track has a traf in every fragment: say it once). */
  warned: Set<number> = new Set(),
): MoofPlan {
  const moofBox = readBox(data, 0, data.length, start);
  const plan: MoofPlan = { start, data, trafs: [] };
  for (const traf of childBoxes(data, moofBox, start)) {
    if (traf.type !== 'traf') continue;
    const kids = childBoxes(data, traf, start);
    const tfhd = findBox(kids, 'tfhd');
    if (!tfhd) {
      throw new FormatError("'traf' box has no 'tfhd' box", {
        code: 'E_MP4_MISSING_BOX',
        offset: start + traf.start,
      });
    }
    const { flags: tf } = fullBoxHeader(data, tfhd, start);
    const c = new BoxCursor(data, tfhd, start, bodyStart(tfhd) + 4);
    const fileTrackId = c.u32();
    const track = tracksByFileId.get(fileTrackId);
    if (!track) {
      if (warned.has(fileTrackId)) continue;
      warned.add(fileTrackId);
      warnings.push({
        code: 'W_MP4_UNKNOWN_TRACK',
        message: `fragment for track ${fileTrackId}, which the moov does not describe (or was skipped): ignored`,
        offset: start + traf.start,
      });
      continue;
    }
    let base: number | undefined;
    if (tf & TFHD_BASE_DATA_OFFSET) base = c.u64('base_data_offset');
    else if (tf & TFHD_DEFAULT_BASE_IS_MOOF) base = start;
    if (tf & TFHD_DESCRIPTION_INDEX) c.skip(4);
    const duration = tf & TFHD_DEFAULT_DURATION ? c.u32() : track.trex.duration;
    const size = tf & TFHD_DEFAULT_SIZE ? c.u32() : track.trex.size;
    const flags = tf & TFHD_DEFAULT_FLAGS ? c.u32() : track.trex.flags;

    let tfdt: number | undefined;
    const tfdtBox = findBox(kids, 'tfdt');
    if (tfdtBox) {
      // tfdt (8.8.12): baseMediaDecodeTime, 32 or 64 bits.
      const { version } = fullBoxHeader(data, tfdtBox, start);
      const tc = new BoxCursor(data, tfdtBox, start, bodyStart(tfdtBox) + 4);
      tfdt = version === 1 ? tc.u64('baseMediaDecodeTime') : tc.u32();
    }
    const truns: TrunPlan[] = [];
    for (const b of kids) {
      if (b.type !== 'trun') continue;
      const h = fullBoxHeader(data, b, start);
      const rc = new BoxCursor(data, b, start, bodyStart(b) + 4);
      const count = rc.u32();
      const dataOffset = h.flags & TRUN_DATA_OFFSET ? rc.i32() : undefined;
      const firstFlags = h.flags & TRUN_FIRST_SAMPLE_FLAGS ? rc.u32() : -1;
      const entrySize =
        (h.flags & TRUN_DURATION ? 4 : 0) +
        (h.flags & TRUN_SIZE ? 4 : 0) +
        (h.flags & TRUN_FLAGS ? 4 : 0) +
        (h.flags & TRUN_CTS ? 4 : 0);
      if (entrySize > 0 && count > rc.remaining / entrySize) {
        throw new FormatError(
          `trun sample_count ${count} needs ${count * entrySize} bytes of entries, the box has ${rc.remaining}`,
          { code: 'E_MP4_TRUN_OVERFLOW', offset: start + b.start },
        );
      }
      truns.push({
        version: h.version,
        flags: h.flags,
        count,
        dataOffset,
        firstFlags,
        entriesAt: rc.pos,
        entrySize,
        boxOffset: start + b.start,
      });
    }
    plan.trafs.push({ track, base, tfdt, duration, size, flags, truns });
  }
  return plan;
}

/** Without any bound from an mdat size, a trun without per-sample fields may not claim more than this. */
const MAX_IMPLICIT_SAMPLES = 1 << 20;

/**
 * Expand a moof plan into samples (sorted by payload offset). `limit` is the absolute end of the data the
 * fragment can refer to (the end of the mdat that follows), or Infinity when unknown. Updates each track's
 * `nextDts`.
 */
export function expandMoof(plan: MoofPlan, limit: number): Sample[] {
  const out: Sample[] = [];
  const d = plan.data;
  let prevTrafEnd = plan.start; // 8.8.7.1: without a base, the first traf starts at the moof ...
  let sorted = true;
  let lastOffset = -1;
  // Samples of truns without per-sample sizes are only bounded by the data after the moof: all of them
  // together may not claim more bytes (an empty sample counting as one) than that data has.
  // With no mdat size to go by (a size-0 mdat), a fixed number of samples is the bound.
  const bySamples = limit === Infinity;
  let budget = bySamples ? MAX_IMPLICIT_SAMPLES : Math.max(0, limit - plan.start);
  for (const traf of plan.trafs) {
    const base = traf.base ?? prevTrafEnd; // ... and later ones where the previous traf's data ended
    let dts = traf.tfdt ?? traf.track.nextDts;
    let dataPos = base;
    for (let r = 0; r < traf.truns.length; r++) {
      const run = traf.truns[r] as TrunPlan;
      if (run.dataOffset !== undefined) dataPos = base + run.dataOffset;
      // else: the first trun starts at the base, later ones follow the previous trun's data (8.8.8.1)
      if (dataPos < 0) {
        throw new FormatError(`trun data_offset points before the start of the input`, {
          code: 'E_MP4_VALUE',
          offset: run.boxOffset,
        });
      }
      if ((run.flags & TRUN_SIZE) === 0) {
        const claim = bySamples ? run.count : run.count * Math.max(1, traf.size);
        if (claim > budget) {
          throw new FormatError(
            `trun sample_count ${run.count} of ${traf.size}-byte samples overflows the data after the moof`,
            { code: 'E_MP4_TRUN_OVERFLOW', offset: run.boxOffset },
          );
        }
        budget -= claim;
      }
      const f = run.flags;
      let at = run.entriesAt;
      for (let i = 0; i < run.count; i++) {
        let duration = traf.duration;
        let size = traf.size;
        let flags = i === 0 && run.firstFlags !== -1 ? run.firstFlags : traf.flags;
        let cts = 0;
        if (f & TRUN_DURATION) {
          duration = u32(d, at);
          at += 4;
        }
        if (f & TRUN_SIZE) {
          size = u32(d, at);
          at += 4;
        }
        if (f & TRUN_FLAGS) {
          flags = u32(d, at);
          at += 4;
        }
        if (f & TRUN_CTS) {
          // Version 0: unsigned offsets; version 1: signed (8.8.8.2).
          cts = run.version === 0 ? u32(d, at) : u32(d, at) | 0;
          at += 4;
        }
        if (dataPos < lastOffset) sorted = false;
        lastOffset = dataPos;
        out.push({
          trackId: traf.track.id,
          dts,
          cts,
          duration,
          keyframe: isSyncFlags(flags),
          size,
          offset: dataPos,
        });
        dts += duration;
        dataPos += size;
      }
    }
    traf.track.nextDts = dts;
    prevTrafEnd = dataPos;
  }
  if (!sorted) out.sort((a, b) => (a.offset as number) - (b.offset as number));
  return out;
}
