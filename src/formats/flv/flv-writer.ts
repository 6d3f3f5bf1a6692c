/**
 * FLV writing helpers (FLV spec v10.1 Annex E): the file header, tag headers, PreviousTagSize, and the
 * onMetaData script tag with the keyframe index players use for seeking.
 *
 * onMetaData holds only numbers (always 9 bytes in AMF0), booleans and fixed strings, so its size depends
 * on which fields are present and on the keyframe count, never on the values: a writer can size it before
 * it knows the final duration, file size and keyframe positions.
 */
import { encodeAmf0, ecmaArray, type AmfObject, type AmfValue } from './amf0.js';
import { PREVIOUS_TAG_SIZE, TAG_HEADER_SIZE, TAG_SCRIPT } from './flv-tags.js';

/** The 9-byte FLV header (E.2) followed by PreviousTagSize0 = 0 (E.3): 13 bytes. */
export function flvHeader(options: { audio: boolean; video: boolean }): Uint8Array {
  const b = new Uint8Array(13);
  b[0] = 0x46; // F
  b[1] = 0x4c; // L
  b[2] = 0x56; // V
  b[3] = 1;
  b[4] = (options.audio ? 4 : 0) | (options.video ? 1 : 0);
  b[8] = 9; // DataOffset
  return b;
}

/**
 * Writes an 11-byte tag header (E.4.1) at `at`: TagType, DataSize UI24, Timestamp UI24 + TimestampExtended
 * (the upper 8 bits), StreamID 0. Timestamps wrap at 2^32 ms (49.7 days).
 */
export function writeTagHeader(
  out: Uint8Array,
  at: number,
  type: number,
  dataSize: number,
  timestamp: number,
): void {
  if (dataSize < 0 || dataSize > 0xffffff) throw new RangeError(`FLV tag DataSize ${dataSize} out of range`);
  const ts = timestamp >>> 0;
  out[at] = type;
  out[at + 1] = dataSize >>> 16;
  out[at + 2] = (dataSize >>> 8) & 0xff;
  out[at + 3] = dataSize & 0xff;
  out[at + 4] = (ts >>> 16) & 0xff;
  out[at + 5] = (ts >>> 8) & 0xff;
  out[at + 6] = ts & 0xff;
  out[at + 7] = ts >>> 24;
  out[at + 8] = 0;
  out[at + 9] = 0;
  out[at + 10] = 0;
}

export function tagHeader(type: number, dataSize: number, timestamp: number): Uint8Array {
  const b = new Uint8Array(TAG_HEADER_SIZE);
  writeTagHeader(b, 0, type, dataSize, timestamp);
  return b;
}

/** Writes the PreviousTagSize (E.3) of a tag with `dataSize` body bytes: 11 + dataSize, UI32. */
export function writePreviousTagSize(out: Uint8Array, at: number, dataSize: number): void {
  const v = dataSize + TAG_HEADER_SIZE;
  out[at] = v >>> 24;
  out[at + 1] = (v >>> 16) & 0xff;
  out[at + 2] = (v >>> 8) & 0xff;
  out[at + 3] = v & 0xff;
}

/** A whole tag: header, body, PreviousTagSize (copies the body: for small tags only). */
export function flvTag(type: number, timestamp: number, body: Uint8Array): Uint8Array {
  const b = new Uint8Array(TAG_HEADER_SIZE + body.length + PREVIOUS_TAG_SIZE);
  writeTagHeader(b, 0, type, body.length, timestamp);
  b.set(body, TAG_HEADER_SIZE);
  writePreviousTagSize(b, TAG_HEADER_SIZE + body.length, body.length);
  return b;
}

/** onMetaData fields (E.5). Undefined fields are left out. */
export interface FlvMetadataInfo {
  /** Seconds. */
  duration?: number;
  /** Bytes, the whole file. */
  filesize?: number;
  width?: number;
  height?: number;
  framerate?: number;
  /** Legacy CodecID (7 AVC, 12 HEVC) or, for enhanced RTMP, the FourCC as a number. */
  videocodecid?: number;
  /** SoundFormat (10 AAC, 2 MP3). */
  audiocodecid?: number;
  /** kbit/s */
  videodatarate?: number;
  audiodatarate?: number;
  audiosamplerate?: number;
  audiosamplesize?: number;
  stereo?: boolean;
  hasVideo?: boolean;
  hasAudio?: boolean;
  /** Seconds: timestamp of the last tag. */
  lasttimestamp?: number;
  lastkeyframetimestamp?: number;
  lastkeyframelocation?: number;
  /** Seek index: keyframe times (s) and file positions of their tag headers (bytes). */
  keyframes?: { times: number[]; filepositions: number[] };
  /** Anything else, appended as is. */
  extra?: AmfObject;
}

const NUMBER_KEYS = [
  'duration',
  'filesize',
  'width',
  'height',
  'framerate',
  'videocodecid',
  'audiocodecid',
  'videodatarate',
  'audiodatarate',
  'audiosamplerate',
  'audiosamplesize',
  'lasttimestamp',
  'lastkeyframetimestamp',
  'lastkeyframelocation',
] as const;

/** The AMF0 body of an onMetaData script tag: the string "onMetaData" and an ECMA array. */
export function onMetaDataBody(info: FlvMetadataInfo): Uint8Array {
  const o: AmfObject = {};
  for (const k of NUMBER_KEYS) {
    const v = info[k];
    if (v !== undefined) o[k] = v;
  }
  if (info.stereo !== undefined) o.stereo = info.stereo;
  if (info.hasVideo !== undefined) o.hasVideo = info.hasVideo;
  if (info.hasAudio !== undefined) o.hasAudio = info.hasAudio;
  o.hasMetadata = true;
  if (info.keyframes) {
    o.hasKeyframes = info.keyframes.times.length > 0;
    o.canSeekToEnd = true;
  }
  o.metadatacreator = 'castkit';
  if (info.extra) for (const [k, v] of Object.entries(info.extra)) o[k] = v as AmfValue;
  if (info.keyframes) {
    // Anonymous object with two strict arrays: the layout flvmeta/yamdi write and players (flv.js,
    // ffmpeg's flvdec) read.
    o.keyframes = { times: info.keyframes.times, filepositions: info.keyframes.filepositions };
  }
  return encodeAmf0('onMetaData', ecmaArray(o));
}

export interface OnMetaDataTagOptions {
  /**
   * Pad the tag to exactly this many bytes (header + body + PreviousTagSize) with a filler string field,
   * so that a placeholder written early can be overwritten in place later. Must leave room for the filler
   * (at least 22 bytes more than the unpadded tag); any larger size works.
   */
  padTo?: number;
}

/** A complete onMetaData script tag (timestamp 0): header, AMF0 body, PreviousTagSize. */
export function onMetaDataTag(info: FlvMetadataInfo, options: OnMetaDataTagOptions = {}): Uint8Array {
  let body = onMetaDataBody(info);
  const overhead = TAG_HEADER_SIZE + PREVIOUS_TAG_SIZE;
  if (options.padTo !== undefined) {
    // The filler is a strict array of booleans (AMF0 2.12, 2.3): 2 bytes an element. A long string would
    // be shorter to write, but ffmpeg's flv demuxer reads string values into a 256-byte buffer and rejects
    // longer ones. Property = 2 (key length) + key + 1 (marker) + 4 (count) + 2n: the key's length sets
    // the parity.
    const room = options.padTo - overhead - body.length;
    const key = room % 2 === 1 ? 'castkitpadding' : 'castkitpadding_';
    const fixed = 2 + key.length + 1 + 4;
    if (room < fixed) {
      throw new RangeError(
        `onMetaData needs ${body.length + overhead + fixed} bytes; cannot pad to ${options.padTo}`,
      );
    }
    const filler: AmfValue[] = new Array<AmfValue>((room - fixed) / 2).fill(false);
    const extra = { ...(info.extra ?? {}), [key]: filler };
    body = onMetaDataBody({ ...info, extra });
    if (body.length + overhead !== options.padTo) {
      throw new RangeError(
        `onMetaData padding came to ${body.length + overhead} bytes, not ${options.padTo}`,
      );
    }
  }
  return flvTag(TAG_SCRIPT, 0, body);
}

/** Size in bytes of onMetaDataTag(info) (values do not change it, only which fields are present). */
export function onMetaDataTagSize(info: FlvMetadataInfo): number {
  return onMetaDataBody(info).length + TAG_HEADER_SIZE + PREVIOUS_TAG_SIZE;
}
