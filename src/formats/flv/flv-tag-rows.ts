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
  PACKET_COMMAND,
  PACKET_CONFIG,
  PACKET_END_OF_SEQUENCE,
  PACKET_FRAME,
  PACKET_TRUNCATED,
  PACKET_UNSUPPORTED,
  SOUND_FORMAT_AAC,
  TAG_AUDIO,
  TAG_HEADER_SIZE,
  TAG_SCRIPT,
  TAG_VIDEO,
  tagTimestamp,
  VIDEO_CODEC_AVC,
  VIDEO_CODEC_HEVC_LEGACY,
  type MediaHeader,
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
 * The class of an audio or video tag whose header is parsed into `m` (sequence headers through `hooks`),
 * as both the scan and FlvJoiner.tag() give it.
 */
export function mediaKind(
  video: boolean,
  m: MediaHeader,
  b: Uint8Array,
  at: number,
  size: number,
  hooks: CleanScanHooks,
): number {
  const p = m.packet;
  if (p === PACKET_CONFIG) return hooks.config(b, at, size, video);
  if (p === PACKET_TRUNCATED) return K_UNUSABLE;
  if (!video) return p === PACKET_UNSUPPORTED && m.codec === 'aac' ? K_UNUSABLE : K_AFRAME;
  if (p === PACKET_FRAME) return K_VFRAME;
  if (p === PACKET_COMMAND) return K_COMMAND;
  if (p === PACKET_END_OF_SEQUENCE) return K_EOS;
  // Enhanced metadata and packet types not understood: passed through, time-shifted.
  return K_VOTHER;
}

// Rows the scan leaves to the hooks (see scanCleanFlv): never seen outside it.
const K_HOOK_VIDEO = 100;
const K_HOOK_AUDIO = 101;
const K_HOOK_SCRIPT = 102;

/** Of a whole chunk: what trackSpans gives for all its rows (SPAN_*), and whether it must be split. */
export const SPAN_SPLIT = 7;

/**
 * Fills `rows` (cleared first) from a whole FLV file in `b`: true when every byte was accounted for.
 * False, with rows and hooks' state to be thrown away, at anything FlvTagReader would warn about or repair
 * (a header other than version 1 with PreviousTagSize0 = 0, a TagType with reserved or filter bits, a
 * PreviousTagSize that does not match, a tag cut short or trailing bytes) and at enhanced-RTMP video
 * (left to the reader, whose FlvTagView the joiner takes the FourCC from).
 *
 * The legacy video and audio headers are read here, in line, as parseVideoHeader/parseAudioHeader and
 * mediaKind would class them (the join's hot loop: a call and a header object per tag cost a third of
 * it). With `spans`, the scan also gives what the joiner would otherwise find in two more passes over the
 * rows: first and last time and count of the video and audio frames, the first frame's row (as
 * trackSpans), and at SPAN_SPLIT 1 when a track's time goes back or jumps forward by more than `maxGap`
 * (the chunk is split there, see splitPoints), else 0.
 */
export function scanCleanFlv(
  b: Uint8Array,
  rows: FlvTagRows,
  hooks: CleanScanHooks,
  spans?: Float64Array,
  maxGap = Infinity,
): boolean {
  rows.count = 0;
  const n = b.length;
  if (n < FLV_HEADER_SIZE + 4 || b[0] !== 0x46 || b[1] !== 0x4c || b[2] !== 0x56 || b[3] !== 1) return false;
  const dataOffset = readU32(b, 5);
  if (dataOffset < FLV_HEADER_SIZE || dataOffset + 4 > n || readU32(b, dataOffset) !== 0) return false;
  let firstV = NaN;
  let lastV = NaN;
  let framesV = 0;
  let firstA = NaN;
  let lastA = NaN;
  let framesA = 0;
  let i0 = -1;
  let split = 0;
  let hooked = 0;
  let p = dataOffset + 4;
  while (p < n) {
    if (p + TAG_HEADER_SIZE > n) return false;
    const type = b[p] as number;
    const size = ((b[p + 1] as number) << 16) | ((b[p + 2] as number) << 8) | (b[p + 3] as number);
    const end = p + TAG_HEADER_SIZE + size;
    if (end + 4 > n || readU32(b, end) !== size + TAG_HEADER_SIZE) return false;
    const at = p + TAG_HEADER_SIZE;
    let flags = ((b[p + 8] as number) | (b[p + 9] as number) | (b[p + 10] as number)) === 0 ? F_RAW_OK : 0;
    let kind: number;
    let cts = 0;
    if (type === TAG_VIDEO) {
      if (size === 0) kind = K_UNUSABLE;
      else {
        // Legacy VIDEODATA (parseVideoHeader): FrameType UB[4], CodecID UB[4].
        const b0 = b[at] as number;
        if ((b0 & 0x80) !== 0) return false;
        const frameType = b0 >> 4;
        const codecId = b0 & 0x0f;
        if (frameType === 5) kind = K_COMMAND;
        else if (codecId !== VIDEO_CODEC_AVC && codecId !== VIDEO_CODEC_HEVC_LEGACY) kind = K_VFRAME;
        else if (size < 5) kind = K_UNUSABLE;
        else {
          const packetType = b[at + 1] as number;
          if (packetType === 1) {
            kind = K_VFRAME;
            cts =
              ((((b[at + 2] as number) << 16) | ((b[at + 3] as number) << 8) | (b[at + 4] as number)) << 8) >>
              8;
          } else if (packetType === 0) kind = K_HOOK_VIDEO;
          else if (packetType === 2) kind = K_EOS;
          else kind = K_VOTHER;
        }
        if (kind === K_VFRAME && frameType === 1) flags |= F_KEY;
      }
    } else if (type === TAG_AUDIO) {
      if (size === 0) kind = K_UNUSABLE;
      else if ((b[at] as number) >> 4 !== SOUND_FORMAT_AAC) kind = K_AFRAME;
      else if (size < 2) kind = K_UNUSABLE;
      else {
        // AACAUDIODATA: AACPacketType 0 = AudioSpecificConfig, 1 = raw frame, others unusable.
        const packetType = b[at + 1] as number;
        kind = packetType === 1 ? K_AFRAME : packetType === 0 ? K_HOOK_AUDIO : K_UNUSABLE;
      }
    } else if (type === TAG_SCRIPT) kind = K_HOOK_SCRIPT;
    else return false;
    if (kind >= K_HOOK_VIDEO) hooked++;
    const t = tagTimestamp(b, p);
    if (kind === K_VFRAME) {
      if (framesV++ === 0) firstV = t;
      else if (t < lastV || t - lastV > maxGap) split = 1;
      lastV = t;
      if (i0 < 0) i0 = rows.count;
    } else if (kind === K_AFRAME) {
      if (framesA++ === 0) firstA = t;
      else if (t < lastA || t - lastA > maxGap) split = 1;
      lastA = t;
      if (i0 < 0) i0 = rows.count;
    }
    rows.add(kind, t, p, size, cts, flags);
    p = end + 4;
  }
  // Sequence headers and script data are classed by the hooks, in order, once the chunk is known to be
  // clean: a call out of the loop above made its optimized code several times bigger and slower to come.
  for (let i = 0; hooked > 0; i++) {
    const k = rows.kind[i] as number;
    if (k < K_HOOK_VIDEO) continue;
    hooked--;
    const at = (rows.start[i] as number) + TAG_HEADER_SIZE;
    const size = rows.size[i] as number;
    rows.kind[i] =
      k === K_HOOK_SCRIPT ? hooks.script(b, at, size, at) : hooks.config(b, at, size, k === K_HOOK_VIDEO);
  }
  if (spans) {
    spans[0] = firstV;
    spans[1] = lastV;
    spans[2] = framesV;
    spans[3] = firstA;
    spans[4] = lastA;
    spans[5] = framesA;
    spans[6] = i0;
    spans[SPAN_SPLIT] = split;
  }
  return true;
}
