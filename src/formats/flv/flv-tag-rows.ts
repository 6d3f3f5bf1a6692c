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
  CODEC_SAMPLE,
  F_KEY,
  F_RAW_OK,
  K_AFRAME,
  K_COMMAND,
  K_EOS,
  K_HOOK_AUDIO,
  K_HOOK_SCRIPT,
  K_HOOK_VIDEO,
  K_UNUSABLE,
  K_VCONFIG,
  K_VFRAME,
  K_VOTHER,
  SCAN_CTS,
  SCAN_KEY,
  SCAN_KIND,
  SPAN_RAW,
  SPAN_SPLIT,
  SPANS,
} from './flv-tag-classes.js';
import {
  FLV_HEADER_SIZE,
  PREVIOUS_TAG_SIZE,
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
  si24,
  tagTimestamp,
  u24,
  VIDEO_CODEC_AVC,
  VIDEO_CODEC_HEVC_LEGACY,
  type MediaHeader,
} from './flv-tags.js';

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

/**
 * One chunk's tags as scanChunk found them: a byte per tag (class and flags), the offsets of the tags the
 * hooks class, and the codec ids of the first frames. Kept from chunk to chunk, like FlvTagRows.
 */
export class FlvChunkScan {
  count = 0;
  /** Offset of the first tag header. */
  firstTag = 0;
  kinds = new Uint8Array(1024);
  hookCount = 0;
  /** Tag number and offset of each tag the hooks class, in pairs. */
  hooks = new Float64Array(32);
  /** Codec ids of the first CODEC_SAMPLE video frames, then of the first CODEC_SAMPLE audio frames. */
  readonly codecs = new Int32Array(2 * CODEC_SAMPLE);
}

/**
 * Scans a whole FLV file in `b` into `scan`: true when every byte was accounted for. False at anything
 * FlvTagReader would warn about or repair (a header other than version 1 with PreviousTagSize0 = 0, a
 * TagType with reserved or filter bits, a PreviousTagSize that does not match, a tag cut short or trailing
 * bytes) and at enhanced-RTMP video (left to the reader, whose FlvTagView the joiner takes the FourCC from).
 *
 * The legacy video and audio headers are read here, in line, as parseVideoHeader/parseAudioHeader and
 * mediaKind would class them (the join's hot loop: a call and a header object per tag cost a third of
 * it). Sequence headers and script data are left to resolveHooks. `spans` gets what the joiner would
 * otherwise find in more passes: first and last time and count of the video and audio frames, the first
 * frame's tag (as trackSpans), at SPAN_SPLIT 1 when a track's time goes back or jumps forward by more than
 * `maxGap` (the chunk is split there, see splitPoints), else 0, and SPAN_RAW.
 */
export function scanChunk(
  b: Uint8Array,
  scan: FlvChunkScan,
  spans: Float64Array,
  maxGap = Infinity,
): boolean {
  scan.count = 0;
  scan.hookCount = 0;
  const n = b.length;
  if (n < FLV_HEADER_SIZE + 4 || b[0] !== 0x46 || b[1] !== 0x4c || b[2] !== 0x56 || b[3] !== 1) return false;
  const dataOffset = readU32(b, 5);
  if (dataOffset < FLV_HEADER_SIZE || dataOffset + 4 > n || readU32(b, dataOffset) !== 0) return false;
  let kinds = scan.kinds;
  const codecs = scan.codecs;
  let firstV = NaN;
  let lastV = NaN;
  let framesV = 0;
  let firstA = NaN;
  let lastA = NaN;
  let framesA = 0;
  let i0 = -1;
  let split = 0;
  let raw = 1;
  let i = 0;
  let p = dataOffset + 4;
  scan.firstTag = p;
  while (p < n) {
    if (p + TAG_HEADER_SIZE > n) return false;
    const type = b[p] as number;
    const size = ((b[p + 1] as number) << 16) | ((b[p + 2] as number) << 8) | (b[p + 3] as number);
    const end = p + TAG_HEADER_SIZE + size;
    if (end + 4 > n) return false;
    // PreviousTagSize read in line, like the rest of the tag: readU32 here cost the 1,400-chunk join about
    // 3 ms (the loop runs in baseline code for its first hundred chunks, where a call is a call).
    const prev =
      ((b[end] as number) << 24) |
      ((b[end + 1] as number) << 16) |
      ((b[end + 2] as number) << 8) |
      (b[end + 3] as number);
    if (prev !== size + TAG_HEADER_SIZE) return false;
    const at = p + TAG_HEADER_SIZE;
    if (((b[p + 8] as number) | (b[p + 9] as number) | (b[p + 10] as number)) !== 0) raw = 0;
    let kind: number;
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
          if (packetType === 1) kind = K_VFRAME | SCAN_CTS;
          else if (packetType === 0) kind = K_HOOK_VIDEO;
          else if (packetType === 2) kind = K_EOS;
          else kind = K_VOTHER;
        }
        if ((kind & SCAN_KIND) === K_VFRAME) {
          if (frameType === 1) kind |= SCAN_KEY;
          if (framesV < CODEC_SAMPLE) codecs[framesV] = codecId;
        }
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
      if (kind === K_AFRAME && framesA < CODEC_SAMPLE)
        codecs[CODEC_SAMPLE + framesA] = (b[at] as number) >> 4;
    } else if (type === TAG_SCRIPT) kind = K_HOOK_SCRIPT;
    else return false;
    const k = kind & SCAN_KIND;
    if (k >= K_HOOK_VIDEO) {
      const h = 2 * scan.hookCount++;
      if (h === scan.hooks.length) scan.hooks = resized(scan.hooks, h * 2);
      scan.hooks[h] = i;
      scan.hooks[h + 1] = p;
    } else if (k === K_VFRAME) {
      const t = tagTimestamp(b, p);
      if (framesV++ === 0) firstV = t;
      else if (t < lastV || t - lastV > maxGap) split = 1;
      lastV = t;
      if (i0 < 0) i0 = i;
    } else if (k === K_AFRAME) {
      const t = tagTimestamp(b, p);
      if (framesA++ === 0) firstA = t;
      else if (t < lastA || t - lastA > maxGap) split = 1;
      lastA = t;
      if (i0 < 0) i0 = i;
    }
    if (i === kinds.length) kinds = scan.kinds = resized(kinds, i * 2);
    kinds[i++] = kind;
    p = end + 4;
  }
  scan.count = i;
  spans[0] = firstV;
  spans[1] = lastV;
  spans[2] = framesV;
  spans[3] = firstA;
  spans[4] = lastA;
  spans[5] = framesA;
  spans[6] = i0;
  spans[SPAN_SPLIT] = split;
  spans[SPAN_RAW] = raw;
  return true;
}

/**
 * Classes the sequence headers and script data of a scanned chunk through the hooks, in order, and
 * writes the classes into `scan.kinds` (flags kept); returns how many became K_VCONFIG. Run once the chunk
 * is known to be clean: a call out of the scan's loop made its optimized code several times bigger and
 * slower to come.
 */
export function resolveHooks(b: Uint8Array, scan: FlvChunkScan, hooks: CleanScanHooks): number {
  const kinds = scan.kinds;
  let vconfigs = 0;
  for (let h = 0; h < 2 * scan.hookCount; h += 2) {
    const i = scan.hooks[h] as number;
    const p = scan.hooks[h + 1] as number;
    const k = (kinds[i] as number) & SCAN_KIND;
    const at = p + TAG_HEADER_SIZE;
    const size = u24(b, p + 1);
    const r =
      k === K_HOOK_SCRIPT ? hooks.script(b, at, size, at) : hooks.config(b, at, size, k === K_HOOK_VIDEO);
    if (r === K_VCONFIG) vconfigs++;
    kinds[i] = ((kinds[i] as number) & ~SCAN_KIND) | r;
  }
  return vconfigs;
}

/**
 * Fills `rows` (cleared first) from a whole FLV file in `b`: true when every byte was accounted for (see
 * scanChunk, which it runs with `scan`), with the hooks' classes; `spans` as scanChunk gives them. False,
 * with rows to be thrown away, where scanChunk gives up.
 */
export function scanCleanFlv(
  b: Uint8Array,
  rows: FlvTagRows,
  hooks: CleanScanHooks,
  spans: Float64Array = new Float64Array(SPANS),
  maxGap = Infinity,
  scan: FlvChunkScan = new FlvChunkScan(),
): boolean {
  rows.count = 0;
  if (!scanChunk(b, scan, spans, maxGap)) return false;
  resolveHooks(b, scan, hooks);
  fillRows(b, scan, rows);
  return true;
}

/** Fills `rows` (cleared first) with the tags of `b` as scanChunk and resolveHooks left them in `scan`. */
export function fillRows(b: Uint8Array, scan: FlvChunkScan, rows: FlvTagRows): void {
  rows.count = 0;
  const kinds = scan.kinds;
  let p = scan.firstTag;
  for (let i = 0; i < scan.count; i++) {
    const kf = kinds[i] as number;
    const size = u24(b, p + 1);
    const cts = (kf & SCAN_CTS) !== 0 ? si24(b, p + TAG_HEADER_SIZE + 2) : 0;
    let flags = ((b[p + 8] as number) | (b[p + 9] as number) | (b[p + 10] as number)) === 0 ? F_RAW_OK : 0;
    if ((kf & SCAN_KEY) !== 0) flags |= F_KEY;
    rows.add(kf & SCAN_KIND, tagTimestamp(b, p), p, size, cts, flags);
    p += TAG_HEADER_SIZE + size + PREVIOUS_TAG_SIZE;
  }
}
