/**
 * FLV tag constants and the parsing of the audio/video tag headers that precede each payload
 * (FLV spec v10.1 Annex E.4.2 AUDIODATA, E.4.3 VIDEODATA; enhanced RTMP v1 ExVideoTagHeader).
 *
 * Parsing fills a caller-owned scratch object instead of returning a new one: this runs once per tag on
 * the remux hot path.
 */
import type { AudioCodec, VideoCodec } from '../media.js';

/** TagType values (E.4.1). */
export const TAG_AUDIO = 8;
export const TAG_VIDEO = 9;
export const TAG_SCRIPT = 18;

/** Size of the tag header (E.4.1) and of the PreviousTagSize field that follows every tag (E.3). */
export const TAG_HEADER_SIZE = 11;
export const PREVIOUS_TAG_SIZE = 4;
/** FLV file header (E.2) without and with the PreviousTagSize0 that follows it. */
export const FLV_HEADER_SIZE = 9;

/** What a media tag carries, as far as a container cares. */
export const PACKET_FRAME = 0;
/** Decoder configuration: AVC/HEVC sequence header, AAC AudioSpecificConfig, enhanced SequenceStart. */
export const PACKET_CONFIG = 1;
/** AVC end of sequence (AVCPacketType 2) or enhanced SequenceEnd. */
export const PACKET_END_OF_SEQUENCE = 2;
/** Video info/command frame (FrameType 5): no picture. */
export const PACKET_COMMAND = 3;
/** Enhanced RTMP PacketTypeMetadata (AMF-encoded colour/HDR info, no picture). */
export const PACKET_METADATA = 4;
/** Too short to hold the header its first byte announces. */
export const PACKET_TRUNCATED = 5;
/** Enhanced RTMP packet types this reader does not handle (MPEG-2 TS sequence start, multitrack, ModEx). */
export const PACKET_UNSUPPORTED = 6;

/** Legacy CodecID values (E.4.3.1) and SoundFormat values (E.4.2.1) used here. */
export const VIDEO_CODEC_AVC = 7;
/** Not in the Adobe spec: the de-facto "HEVC in FLV" extension (CodecID 12, AVC layout). */
export const VIDEO_CODEC_HEVC_LEGACY = 12;
export const SOUND_FORMAT_MP3 = 2;
export const SOUND_FORMAT_AAC = 10;
export const SOUND_FORMAT_MP3_8K = 14;
/** Enhanced RTMP v2 ExAudioTagHeader marker. */
export const SOUND_FORMAT_EX = 9;

export interface MediaHeader {
  /** One of the PACKET_* constants. */
  packet: number;
  /** The codec, when it is one castkit handles; undefined for others (VP6, Speex, AV1, ...). */
  codec: VideoCodec | AudioCodec | undefined;
  /** Legacy CodecID / SoundFormat, or the enhanced FourCC as text, for messages. */
  codecName: string;
  keyframe: boolean;
  /** CompositionTime offset (SI24, ms); 0 when absent. */
  cts: number;
  /** Bytes of the tag body before the payload or configuration record. */
  headerSize: number;
}

export function newMediaHeader(): MediaHeader {
  return { packet: PACKET_FRAME, codec: undefined, codecName: '', keyframe: false, cts: 0, headerSize: 0 };
}

// Names for messages, made once, so that reading a tag builds no string.
const CODEC_ID_NAMES = Array.from({ length: 16 }, (_, i) => `CodecID ${i}`);
const SOUND_FORMAT_NAMES = Array.from({ length: 16 }, (_, i) => `SoundFormat ${i}`);

/** A signed 24-bit big-endian integer (an AVC/HEVC CompositionTime). */
export function si24(b: Uint8Array, at: number): number {
  return ((((b[at] as number) << 16) | ((b[at + 1] as number) << 8) | (b[at + 2] as number)) << 8) >> 8;
}

/**
 * Parses a VIDEODATA header. `avail` is how many body bytes `b` holds from `at` (it may be less than
 * `dataSize`; 8 bytes suffice for every header handled here).
 */
export function parseVideoHeader(
  b: Uint8Array,
  at: number,
  avail: number,
  dataSize: number,
  out: MediaHeader,
): MediaHeader {
  out.codec = undefined;
  out.cts = 0;
  out.keyframe = false;
  if (dataSize < 1 || avail < 1) {
    out.packet = PACKET_TRUNCATED;
    out.codecName = '';
    out.headerSize = 0;
    return out;
  }
  const b0 = b[at] as number;
  if ((b0 & 0x80) !== 0) {
    // Enhanced RTMP v1: IsExHeader UB[1], FrameType UB[3], PacketType UB[4], then a FourCC.
    const frameType = (b0 >> 4) & 7;
    const packetType = b0 & 0x0f;
    out.keyframe = frameType === 1;
    if (frameType === 5 && packetType !== 4) {
      // A command frame carries no FourCC and no picture.
      out.packet = PACKET_COMMAND;
      out.codecName = '';
      out.headerSize = 1;
      return out;
    }
    if (dataSize < 5 || avail < 5) {
      out.packet = PACKET_TRUNCATED;
      out.codecName = '';
      out.headerSize = 0;
      return out;
    }
    const cc = String.fromCharCode(
      b[at + 1] as number,
      b[at + 2] as number,
      b[at + 3] as number,
      b[at + 4] as number,
    );
    out.codecName = cc;
    out.codec = cc === 'hvc1' ? 'hevc' : cc === 'avc1' ? 'avc' : undefined;
    out.headerSize = 5;
    switch (packetType) {
      case 0:
        out.packet = PACKET_CONFIG;
        break;
      case 1:
        // CodedFrames: for AVC and HEVC an SI24 CompositionTime precedes the data (not for AV1/VP9).
        if (out.codec !== undefined) {
          if (dataSize < 8 || avail < 8) {
            out.packet = PACKET_TRUNCATED;
            return out;
          }
          out.cts = si24(b, at + 5);
          out.headerSize = 8;
        }
        out.packet = PACKET_FRAME;
        break;
      case 2:
        out.packet = PACKET_END_OF_SEQUENCE;
        break;
      case 3:
        // CodedFramesX: CompositionTime implied zero.
        out.packet = PACKET_FRAME;
        break;
      case 4:
        out.packet = PACKET_METADATA;
        break;
      default:
        out.packet = PACKET_UNSUPPORTED;
    }
    return out;
  }
  // Legacy VIDEODATA: FrameType UB[4], CodecID UB[4].
  const frameType = b0 >> 4;
  const codecId = b0 & 0x0f;
  out.keyframe = frameType === 1;
  out.codecName = CODEC_ID_NAMES[codecId] as string;
  if (frameType === 5) {
    out.packet = PACKET_COMMAND;
    out.headerSize = 1;
    return out;
  }
  if (codecId !== VIDEO_CODEC_AVC && codecId !== VIDEO_CODEC_HEVC_LEGACY) {
    out.packet = PACKET_FRAME;
    out.headerSize = 1;
    return out;
  }
  out.codec = codecId === VIDEO_CODEC_AVC ? 'avc' : 'hevc';
  // AVCVIDEOPACKET (E.4.3.1): AVCPacketType UI8, CompositionTime SI24.
  if (dataSize < 5 || avail < 5) {
    out.packet = PACKET_TRUNCATED;
    out.headerSize = 0;
    return out;
  }
  out.headerSize = 5;
  const packetType = b[at + 1] as number;
  if (packetType === 0) out.packet = PACKET_CONFIG;
  else if (packetType === 1) {
    out.packet = PACKET_FRAME;
    out.cts = si24(b, at + 2);
  } else if (packetType === 2) out.packet = PACKET_END_OF_SEQUENCE;
  else out.packet = PACKET_UNSUPPORTED;
  return out;
}

/** Parses an AUDIODATA header (E.4.2.1). */
export function parseAudioHeader(
  b: Uint8Array,
  at: number,
  avail: number,
  dataSize: number,
  out: MediaHeader,
): MediaHeader {
  out.codec = undefined;
  out.cts = 0;
  out.keyframe = true;
  if (dataSize < 1 || avail < 1) {
    out.packet = PACKET_TRUNCATED;
    out.codecName = '';
    out.headerSize = 0;
    return out;
  }
  const format = (b[at] as number) >> 4;
  out.codecName = SOUND_FORMAT_NAMES[format] as string;
  if (format === SOUND_FORMAT_AAC) {
    out.codec = 'aac';
    if (dataSize < 2 || avail < 2) {
      out.packet = PACKET_TRUNCATED;
      out.headerSize = 0;
      return out;
    }
    out.headerSize = 2;
    // AACAUDIODATA: AACPacketType 0 = AudioSpecificConfig, 1 = raw frame.
    const t = b[at + 1] as number;
    out.packet = t === 0 ? PACKET_CONFIG : t === 1 ? PACKET_FRAME : PACKET_UNSUPPORTED;
    return out;
  }
  out.headerSize = 1;
  out.packet = PACKET_FRAME;
  if (format === SOUND_FORMAT_MP3 || format === SOUND_FORMAT_MP3_8K) out.codec = 'mp3';
  else if (format === SOUND_FORMAT_EX) out.packet = PACKET_UNSUPPORTED;
  return out;
}

/**
 * Whether 11 bytes at `at` look like a tag header: a known TagType with the reserved and filter bits
 * clear, and StreamID 0 (E.4.1 says it is always 0). Used to confirm or find tag boundaries.
 */
export function plausibleTagHeader(b: Uint8Array, at: number): boolean {
  const t = b[at];
  if (t !== TAG_AUDIO && t !== TAG_VIDEO && t !== TAG_SCRIPT) return false;
  if (b[at + 8] !== 0 || b[at + 9] !== 0 || b[at + 10] !== 0) return false;
  // A media tag has at least its one-byte codec header.
  return ((b[at + 1] as number) | (b[at + 2] as number) | (b[at + 3] as number)) !== 0;
}

/** Timestamp of a tag header: UI24 plus TimestampExtended as the upper 8 bits (E.4.1), in ms. */
export function tagTimestamp(b: Uint8Array, at: number): number {
  return (
    (((b[at + 4] as number) << 16) | ((b[at + 5] as number) << 8) | (b[at + 6] as number)) +
    (b[at + 7] as number) * 0x1000000
  );
}

export function u24(b: Uint8Array, at: number): number {
  return ((b[at] as number) << 16) | ((b[at + 1] as number) << 8) | (b[at + 2] as number);
}

/** Sampling frequencies by index (ISO/IEC 14496-3 1.6.3.4). */
const AAC_RATES = [96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350];

export interface AudioParams {
  sampleRate?: number;
  channels?: number;
}

/**
 * Sample rate and channel count from an AudioSpecificConfig (14496-3 1.6.2.1): audioObjectType (5 bits,
 * 31 escapes to 6 more), samplingFrequencyIndex (4 bits, 15 escapes to a 24-bit rate), channelConfiguration
 * (4 bits). Returns what it could read; SBR/PS signalling is not followed (core rate reported).
 */
export function parseAudioSpecificConfig(asc: Uint8Array): AudioParams {
  let bit = 0;
  const read = (n: number): number | undefined => {
    if (bit + n > asc.length * 8) return undefined;
    let v = 0;
    for (let i = 0; i < n; i++, bit++) v = v * 2 + (((asc[bit >> 3] as number) >> (7 - (bit & 7))) & 1);
    return v;
  };
  const aot = read(5);
  if (aot === undefined) return {};
  if (aot === 31 && read(6) === undefined) return {};
  const idx = read(4);
  if (idx === undefined) return {};
  let sampleRate: number | undefined = AAC_RATES[idx];
  if (idx === 15) sampleRate = read(24);
  const cc = read(4);
  const out: AudioParams = {};
  if (sampleRate !== undefined && sampleRate > 0) out.sampleRate = sampleRate;
  if (cc !== undefined && cc >= 1 && cc <= 7) out.channels = cc === 7 ? 8 : cc;
  return out;
}

const MP3_RATES: Record<number, number[]> = {
  3: [44100, 48000, 32000], // MPEG-1
  2: [22050, 24000, 16000], // MPEG-2
  0: [11025, 12000, 8000], // MPEG-2.5
};

/** Sample rate and channels from an MPEG audio frame header (ISO/IEC 11172-3 2.4.2.3). */
export function parseMp3Header(b: Uint8Array, at: number, avail: number): AudioParams {
  if (avail < 4 || b[at] !== 0xff || ((b[at + 1] as number) & 0xe0) !== 0xe0) return {};
  const version = ((b[at + 1] as number) >> 3) & 3;
  const rateIdx = ((b[at + 2] as number) >> 2) & 3;
  const mode = (b[at + 3] as number) >> 6;
  const sampleRate = MP3_RATES[version]?.[rateIdx];
  const out: AudioParams = { channels: mode === 3 ? 1 : 2 };
  if (sampleRate !== undefined) out.sampleRate = sampleRate;
  return out;
}
