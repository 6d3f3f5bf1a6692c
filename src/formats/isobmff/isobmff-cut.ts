/**
 * Cutting a fragmented MP4 media segment where a recording of a set length ends (`record --duration` to
 * fMP4 written as it records): each track's samples decoded at or after the end are left out of its trun
 * boxes (ISO/IEC 14496-12 8.8.8), in decode order, so every sample kept has what it refers to. The moof
 * is rewritten smaller and the data offsets of its truns move with it; the samples' bytes stay in the mdat,
 * unreferenced. A sidx is left out (its sizes and durations would no longer hold).
 *
 * Only fragments whose data offsets are from the moof (default-base-is-moof, as CMAF and ffmpeg's HLS
 * and DASH segments have them, or one traf with neither base) are cut; for others, and for boxes with
 * 64-bit sizes, undefined is returned and the caller writes the segment whole.
 */
import { concatBytes, writeU32 } from '../../core/bytes.js';
import { childBoxes, readBoxes, u32, type Box } from './isobmff-boxes.js';
import { TFHD_BASE_DATA_OFFSET, TFHD_DEFAULT_BASE_IS_MOOF } from './isobmff-fragment.js';
import { tfdtTime, tfhdOf, trunLayout, trunSampleDuration, type Fmp4Clocks } from './isobmff-retime.js';

/** A piece of the rewritten moof: bytes of the segment as they are, or new ones. */
type Piece = Uint8Array;

/**
 * `seg` without the samples of each track decoded at or after `endSec` (seconds, on the tracks' own
 * clocks: tfdt / timescale); undefined when it cannot be cut (see the module comment). The input is not
 * changed.
 */
export function cutFmp4At(seg: Uint8Array, clocks: Fmp4Clocks, endSec: number): Uint8Array | undefined {
  const out: Piece[] = [];
  for (const top of readBoxes(seg, 0, seg.length)) {
    if (top.headerSize !== 8) return undefined;
    if (top.type === 'sidx') continue;
    if (top.type !== 'moof') {
      out.push(seg.subarray(top.start, top.end));
      continue;
    }
    const moof = cutMoof(seg, top, clocks, endSec);
    if (!moof) return undefined;
    out.push(moof);
  }
  return concatBytes(out);
}

/** A moof with its truns cut, its size and its truns' data offsets made right. */
function cutMoof(seg: Uint8Array, moof: Box, clocks: Fmp4Clocks, endSec: number): Uint8Array | undefined {
  const kids = childBoxes(seg, moof);
  const trafs = kids.filter((b) => b.type === 'traf');
  const body: Piece[] = [];
  /** Where each rewritten trun's data_offset is, in `body`'s pieces: [piece, offset in it]. */
  const offsets: [Uint8Array, number][] = [];
  for (const kid of kids) {
    if (kid.headerSize !== 8) return undefined;
    if (kid.type !== 'traf') {
      body.push(seg.subarray(kid.start, kid.end));
      continue;
    }
    const traf = cutTraf(seg, kid, clocks, endSec, trafs.length === 1, offsets);
    if (!traf) return undefined;
    body.push(...traf);
  }
  const size = 8 + body.reduce((n, p) => n + p.length, 0);
  const shrink = moof.end - moof.start - size;
  for (const [piece, at] of offsets) writeU32(piece, at, (u32(piece, at) - shrink) >>> 0);
  return concatBytes([boxHeader(size, 'moof'), ...body]);
}

/** A traf's pieces (its header first) with its truns cut; their data offsets are noted in `offsets`. */
function cutTraf(
  seg: Uint8Array,
  traf: Box,
  clocks: Fmp4Clocks,
  endSec: number,
  only: boolean,
  offsets: [Uint8Array, number][],
): Piece[] | undefined {
  const kids = childBoxes(seg, traf);
  const tfhd = kids.find((b) => b.type === 'tfhd');
  if (!tfhd) return undefined;
  const { trackId, flags: tf, defaultDuration } = tfhdOf(seg, tfhd, clocks);
  if (tf & TFHD_BASE_DATA_OFFSET || (!(tf & TFHD_DEFAULT_BASE_IS_MOOF) && !only)) return undefined;
  const clock = clocks.get(trackId);
  const tfdt = kids.find((b) => b.type === 'tfdt');
  const pieces: Piece[] = [];
  if (!clock || clock.timescale <= 0 || !tfdt) {
    // A track this cannot time: left as it is.
    for (const k of kids) pieces.push(seg.subarray(k.start, k.end));
  } else {
    let dts = tfdtTime(seg, tfdt);
    const end = endSec * clock.timescale;
    for (const k of kids) {
      if (k.headerSize !== 8) return undefined;
      if (k.type !== 'trun') {
        pieces.push(seg.subarray(k.start, k.end));
        continue;
      }
      const cut = cutTrun(seg, k, dts, end, defaultDuration);
      dts = cut.dts;
      if (cut.dataOffsetAt !== undefined) offsets.push([cut.bytes, cut.dataOffsetAt]);
      pieces.push(cut.bytes);
    }
  }
  return [boxHeader(8 + pieces.reduce((n, p) => n + p.length, 0), 'traf'), ...pieces];
}

/** A trun with the samples from the first decoded at or after `end` left out (a copy), and the next dts. */
function cutTrun(
  seg: Uint8Array,
  trun: Box,
  dts: number,
  end: number,
  defaultDuration: number,
): { bytes: Uint8Array; dts: number; dataOffsetAt?: number } {
  const l = trunLayout(seg, trun);
  const whole = (k: number): boolean => l.first + (k + 1) * l.entry <= trun.end;
  let kept = 0;
  while (kept < l.count && whole(kept) && dts < end) {
    dts += trunSampleDuration(seg, l, kept, defaultDuration);
    kept++;
  }
  // The samples after the cut are not counted; the dts goes on as if they were (for the next trun).
  for (let k = kept; k < l.count && whole(k); k++) dts += trunSampleDuration(seg, l, k, defaultDuration);
  const bytes = seg.slice(trun.start, l.first + kept * l.entry);
  writeU32(bytes, 0, bytes.length);
  writeU32(bytes, l.countAt - trun.start, kept);
  return l.dataOffsetAt !== undefined
    ? { bytes, dts, dataOffsetAt: l.dataOffsetAt - trun.start }
    : { bytes, dts };
}

function boxHeader(size: number, type: string): Uint8Array {
  const b = new Uint8Array(8);
  writeU32(b, 0, size);
  for (let i = 0; i < 4; i++) b[4 + i] = type.charCodeAt(i);
  return b;
}
