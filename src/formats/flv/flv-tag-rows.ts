/**
 * The FLV joiner's table of one chunk's tags (one row a tag: class, timestamp, place, size, composition
 * offset, flags), and the scan that fills it straight from a chunk that is all well formed.
 *
 * The scan is the join's hot path: 1,400 six-second chunks hold about half a million tags. FlvTagReader
 * handles every kind of damage and input arriving in pieces, at the cost of a view object and a call per
 * tag; a whole chunk in one buffer with every tag where its sizes say needs none of that. The scan gives
 * up (returns false) at the first thing it does not handle exactly as the reader and the joiner would, and
 * the joiner then reads the chunk again with the reader: both fill the same rows.
 */
import { readU32, resized } from '../../core/bytes.js';
import {
  FLV_HEADER_SIZE,
  SOUND_FORMAT_AAC,
  TAG_AUDIO,
  TAG_HEADER_SIZE,
  TAG_SCRIPT,
  TAG_VIDEO,
  VIDEO_CODEC_AVC,
  VIDEO_CODEC_HEVC_LEGACY,
} from './flv-tags.js';

// Tag classes.
export const K_VFRAME = 0;
export const K_AFRAME = 1;
export const K_VCONFIG = 2;
export const K_ACONFIG = 3;
/** From here on, classes the joiner counts as it drops or passes them (see FlvJoiner.emit). */
export const K_META = 4;
export const K_SCRIPT = 5;
export const K_VOTHER = 6;
export const K_COMMAND = 7;
export const K_EOS = 8;
export const K_UNUSABLE = 9;
export const K_CONFIG_DUP = 10;

/** Flags: a video keyframe. */
export const F_KEY = 1;
/** Input header and PreviousTagSize are exactly what the joiner would write when the time is unchanged. */
export const F_RAW_OK = 2;

/** Rows kept from chunk to chunk: 1,400 chunks would otherwise grow six arrays from nothing each. */
export class FlvTagRows {
  count = 0;
  kind = new Uint8Array(1024);
  ts = new Float64Array(1024);
  /** Offset of the tag header in the chunk. */
  start = new Float64Array(1024);
  /** DataSize. */
  size = new Uint32Array(1024);
  /** Composition time offset (video frames), ms. */
  cts = new Int32Array(1024);
  flags = new Uint8Array(1024);

  add(kind: number, ts: number, start: number, size: number, cts: number, flags: number): void {
    const i = this.count;
    if (i === this.kind.length) this.grow();
    this.kind[i] = kind;
    this.ts[i] = ts;
    this.start[i] = start;
    this.size[i] = size;
    this.cts[i] = cts;
    this.flags[i] = flags;
    this.count = i + 1;
  }

  /** Twice the rows, the tags so far kept. */
  grow(): void {
    const n = this.kind.length * 2;
    this.kind = resized(this.kind, n);
    this.ts = resized(this.ts, n);
    this.start = resized(this.start, n);
    this.size = resized(this.size, n);
    this.cts = resized(this.cts, n);
    this.flags = resized(this.flags, n);
  }
}

/** What the scan asks of the joiner, for the few tags that are not frames. */
export interface CleanScanHooks {
  /** Class of a sequence header: K_VCONFIG/K_ACONFIG when it differs from the one in force, else K_CONFIG_DUP. */
  config(b: Uint8Array, at: number, size: number, video: boolean): number;
  /** Class of a script data tag whose body is b[at, at + size), at input offset bodyOffset. */
  script(b: Uint8Array, at: number, size: number, bodyOffset: number): number;
}

/**
 * Fills `rows` (cleared first) from a whole FLV file in `b`: true when every byte was accounted for.
 * False, with rows and hooks' state to be thrown away, at anything FlvTagReader would warn about or repair
 * (a header other than version 1 with PreviousTagSize0 = 0, a TagType with reserved or filter bits, a
 * PreviousTagSize that does not match, a tag cut short or trailing bytes) and at enhanced-RTMP video and
 * empty audio tags, which are left to the reader's full parsing.
 */
export function scanCleanFlv(b: Uint8Array, rows: FlvTagRows, hooks: CleanScanHooks): boolean {
  rows.count = 0;
  const n = b.length;
  if (n < FLV_HEADER_SIZE + 4 || b[0] !== 0x46 || b[1] !== 0x4c || b[2] !== 0x56 || b[3] !== 1) return false;
  const dataOffset = readU32(b, 5);
  if (dataOffset < FLV_HEADER_SIZE || dataOffset + 4 > n || readU32(b, dataOffset) !== 0) return false;
  let p = dataOffset + 4;
  while (p < n) {
    if (p + TAG_HEADER_SIZE > n) return false;
    const type = b[p] as number;
    const size = ((b[p + 1] as number) << 16) | ((b[p + 2] as number) << 8) | (b[p + 3] as number);
    const end = p + TAG_HEADER_SIZE + size;
    if (end + 4 > n || readU32(b, end) !== size + TAG_HEADER_SIZE) return false;
    const ts =
      (((b[p + 4] as number) << 16) | ((b[p + 5] as number) << 8) | (b[p + 6] as number)) +
      (b[p + 7] as number) * 0x1000000;
    const at = p + TAG_HEADER_SIZE;
    const flags = ((b[p + 8] as number) | (b[p + 9] as number) | (b[p + 10] as number)) === 0 ? F_RAW_OK : 0;
    let kind: number;
    let cts = 0;
    let key = 0;
    if (type === TAG_VIDEO) {
      if (size < 1) return false;
      const b0 = b[at] as number;
      if ((b0 & 0x80) !== 0) return false;
      const codecId = b0 & 0x0f;
      if (b0 >> 4 === 5) kind = K_COMMAND;
      else if (codecId !== VIDEO_CODEC_AVC && codecId !== VIDEO_CODEC_HEVC_LEGACY) kind = K_VFRAME;
      else if (size < 5) kind = K_UNUSABLE;
      else {
        const packetType = b[at + 1] as number;
        if (packetType === 1) {
          kind = K_VFRAME;
          cts =
            ((((b[at + 2] as number) << 16) | ((b[at + 3] as number) << 8) | (b[at + 4] as number)) << 8) >>
            8;
        } else if (packetType === 0) kind = hooks.config(b, at, size, true);
        else if (packetType === 2) kind = K_EOS;
        else kind = K_VOTHER;
      }
      if (kind === K_VFRAME && b0 >> 4 === 1) key = F_KEY;
    } else if (type === TAG_AUDIO) {
      if (size < 1) return false;
      if ((b[at] as number) >> 4 !== SOUND_FORMAT_AAC) kind = K_AFRAME;
      else if (size < 2) kind = K_UNUSABLE;
      else {
        const packetType = b[at + 1] as number;
        kind = packetType === 1 ? K_AFRAME : packetType === 0 ? hooks.config(b, at, size, false) : K_UNUSABLE;
      }
    } else if (type === TAG_SCRIPT) {
      kind = hooks.script(b, at, size, at);
    } else return false;
    rows.add(kind, ts, p, size, cts, flags | key);
    p = end + 4;
  }
  return true;
}
