/**
 * The Segment Index box (ISO/IEC 14496-12 8.16.3), which a DASH SegmentBase@indexRange points at: the loader
 * fetches that byte range and hands the bytes here with the file offset they came from; the result is the
 * file's subsegments as absolute byte ranges with their times.
 */
import { FormatError } from '../../core/errors.js';
import { BoxCursor, readBox, type Box } from '../isobmff/isobmff-boxes.js';
import type { ByteRange } from './dash-types.js';

export interface SidxReference {
  /** 'media': a subsegment (moof+mdat...); 'index': another sidx (hierarchical index). */
  type: 'media' | 'index';
  /** Absolute position and size in the file. */
  byteRange: ByteRange;
  /** Seconds from the media timeline origin: (earliest_presentation_time + preceding durations) / timescale. */
  start: number;
  /** Seconds. */
  duration: number;
  /** subsegment_duration, in `timescale` ticks. */
  durationTicks: number;
  startsWithSap: boolean;
  sapType: number;
  sapDeltaTime: number;
}

export interface Sidx {
  version: number;
  referenceId: number;
  timescale: number;
  /** Ticks. */
  earliestPresentationTime: number;
  firstOffset: number;
  /** Absolute position of the first byte after the sidx box (the anchor of first_offset). */
  anchor: number;
  references: SidxReference[];
}

/**
 * Parse the first sidx in `bytes` (boxes before it, such as styp, are skipped). `firstByte` is the absolute
 * file position of bytes[0] (the start of the indexRange), because first_offset counts from the end of the
 * sidx box in the file.
 */
export function parseSidx(bytes: Uint8Array, firstByte: number): Sidx {
  if (!Number.isSafeInteger(firstByte) || firstByte < 0) {
    throw new FormatError(`sidx: firstByte ${firstByte} is not a file position`, {
      code: 'E_DASH_SIDX',
      offset: 0,
    });
  }
  let box: Box | undefined;
  for (let at = 0; at + 8 <= bytes.length;) {
    const b = readBox(bytes, at, bytes.length, firstByte);
    if (b.type === 'sidx') {
      box = b;
      break;
    }
    at = b.end;
  }
  if (!box) {
    throw new FormatError('no sidx box in the index range', {
      code: 'E_DASH_SIDX',
      offset: firstByte,
      hint: 'check SegmentBase@indexRange against the file',
    });
  }
  const c = new BoxCursor(bytes, box, firstByte);
  const version = c.u8();
  c.skip(3); // flags
  if (version > 1) {
    throw new FormatError(`sidx version ${version} is unknown`, {
      code: 'E_DASH_SIDX',
      offset: firstByte + box.start,
    });
  }
  const referenceId = c.u32();
  const timescale = c.u32();
  if (timescale === 0) {
    throw new FormatError('sidx timescale is 0', { code: 'E_DASH_SIDX', offset: firstByte + box.start });
  }
  const earliestPresentationTime = version === 0 ? c.u32() : c.u64('earliest_presentation_time');
  const firstOffset = version === 0 ? c.u32() : c.u64('first_offset');
  c.skip(2); // reserved
  const count = c.u16();
  c.need(count * 12, `${count} references`);
  const anchor = firstByte + box.end + firstOffset;
  const references: SidxReference[] = [];
  let offset = anchor;
  let ticks = earliestPresentationTime;
  for (let i = 0; i < count; i++) {
    const a = c.u32();
    const durationTicks = c.u32();
    const s = c.u32();
    const size = a & 0x7fffffff;
    references.push({
      type: a >>> 31 === 1 ? 'index' : 'media',
      byteRange: { offset, length: size },
      start: ticks / timescale,
      duration: durationTicks / timescale,
      durationTicks,
      startsWithSap: s >>> 31 === 1,
      sapType: (s >>> 28) & 0x7,
      sapDeltaTime: s & 0x0fffffff,
    });
    offset += size;
    ticks += durationTicks;
  }
  return { version, referenceId, timescale, earliestPresentationTime, firstOffset, anchor, references };
}
