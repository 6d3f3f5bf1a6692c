/**
 * The intermediate representation every demuxer produces and every muxer consumes. Pure types: no I/O.
 *
 * Timestamps are integers in the track's own timescale. A sample's payload is either a byte range of the
 * input (`offset`, `size`) that the muxer copies unchanged (FLV tag bodies and fMP4 mdat ranges are already
 * in MP4 sample format), or bytes the demuxer produced (`data`, e.g. Annex B converted to length-prefixed).
 * Moving ranges, not samples, is what keeps the remux hot path at memory-copy speed.
 */
export type VideoCodec = 'avc' | 'hevc';
export type AudioCodec = 'aac' | 'mp3';

export interface TrackInfo {
  /** 1-based, unique within one demuxed input. */
  id: number;
  kind: 'video' | 'audio';
  codec: VideoCodec | AudioCodec;
  /** Ticks per second of this track's dts/cts/duration. */
  timescale: number;
  /**
   * Decoder configuration: the AVCDecoderConfigurationRecord (avcC, ISO/IEC 14496-15 5.3.3), the
   * HEVCDecoderConfigurationRecord (hvcC, 14496-15 8.3.3), or the AAC AudioSpecificConfig (14496-3 1.6.2.1).
   * Empty for MP3.
   */
  config: Uint8Array;
  width?: number;
  height?: number;
  sampleRate?: number;
  channels?: number;
  /** ISO 639-2/T, e.g. "eng". */
  language?: string;
  /**
   * The samples carry the parameter sets (SPS/PPS, and VPS for HEVC) themselves, where the stream sends
   * them: video demuxed from MPEG-TS (Annex B, NAL units kept but for AUD and filler). `config` is then
   * made from the stream's own, and a later part of it with other parameters decodes from its samples.
   */
  inBandParameterSets?: boolean;
}

export interface Sample {
  trackId: number;
  /** Decode time, ticks. */
  dts: number;
  /** Composition offset, pts - dts, ticks; may be negative. */
  cts: number;
  /** Ticks; 0 when not known (a muxer derives it from the next sample's dts). */
  duration: number;
  keyframe: boolean;
  /** Payload size, bytes. */
  size: number;
  /** Payload position in the input, when it is stored there unchanged. */
  offset?: number;
  /** The payload itself, when the demuxer had to produce it. */
  data?: Uint8Array;
}

export interface FormatWarning {
  code: string;
  message: string;
  /** Byte offset in the input, when there is one. */
  offset?: number;
  /** The input it is about, when a warning about several inputs names one (the timeline's). */
  input?: string;
}

/** What a push demuxer returns from each push: whatever became complete. */
export interface DemuxOutput {
  /** Tracks, once known (emitted once; a changed config emits the track again with the same id). */
  tracks: TrackInfo[];
  samples: Sample[];
  warnings: FormatWarning[];
}

/**
 * A push demuxer: feed it the input's bytes in order, in chunks of any size; it never holds more than one
 * structure (a tag, a box header, a PES packet) beyond what it returns.
 */
export interface Demuxer {
  push(chunk: Uint8Array): DemuxOutput;
  /**
   * True when the demuxer keeps no reference to a chunk once push() has returned (what it needs later it
   * has copied), so the caller may read the next chunk into the same memory.
   */
  readonly copiesInput?: boolean;
  /**
   * Optional, with copiesInput: memory to read the next chunk into (up to `size` bytes, maybe fewer)
   * before pushing it, where the demuxer works fastest on it. Valid until the push after next.
   */
  inputBuffer?(size: number): Uint8Array;
  end(): DemuxOutput;
  /** Optional: bytes coming next that the demuxer would not read; a seeking reader may `skipAhead` over them. */
  skippable?(): number;
  skipAhead?(n: number): DemuxOutput;
  /**
   * Optional, with `skippable`: how many more bytes the demuxer needs before it can go on (the rest of the
   * box it is gathering), so that a seeking reader reads no more than that before it can skip again.
   */
  wanted?(): number;
  /**
   * Optional: the bytes pushed next start a new file or segment, which need not continue the previous one
   * byte for byte (a recording's segments, with one missing, or after a resume). Checks that compare a
   * packet with the one before it (MPEG-TS continuity counters) start again there.
   */
  segmentBoundary?(): void;
}

export function emptyOutput(): DemuxOutput {
  return { tracks: [], samples: [], warnings: [] };
}
