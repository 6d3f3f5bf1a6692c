import type { ProgressEvent } from '../core/progress.js';
import type { FlvJoinSummary } from '../formats/flv/flv-joiner.js';
import type { FormatWarning } from '../formats/media.js';

// The types of remux(), apart from remux.ts so that the modules behind it can use them without a cycle.

export type RemuxFormat = 'mp4' | 'fmp4' | 'flv' | 'ts';

export interface RemuxOptions {
  /** Output path; its extension picks the format (.mp4 .m4v .mov .m4a .flv .ts) unless `format` is given. */
  output: string;
  format?: RemuxFormat;
  /** moov before mdat (default true). */
  faststart?: boolean;
  /** For fmp4: shortest fragment, seconds (default 1; every keyframe after that starts one). */
  fragmentDuration?: number;
  /**
   * Take each input's tracks side by side instead of one after another: a video-only and an audio-only
   * stream (DASH, ustream mp4/segmented) become one A/V file, in sync.
   */
  merge?: boolean;
  /**
   * For tests: the room reserved before the media when MPEG-TS/FLV are written in one pass, in bytes, for
   * the MP4 moov, the FLV onMetaData or the fMP4 init segment (default: estimated from what was read
   * first). Too little room makes castkit move the media behind the head.
   */
  moovRoom?: number;
  signal?: AbortSignal;
  onProgress?: (event: ProgressEvent) => void;
}

export interface RemuxTrackSummary {
  kind: 'video' | 'audio';
  codec: string;
  codecString?: string;
  width?: number;
  height?: number;
  sampleRate?: number;
  channels?: number;
  /** ISO 639-2/T, when the track says which ("und" is left out). */
  language?: string;
  /** Samples written (not counted for FLV joins). */
  samples?: number;
}

export interface RemuxResult {
  output: string;
  format: RemuxFormat;
  inputs: number;
  bytesIn: number;
  bytesOut: number;
  durationSec: number;
  tracks: RemuxTrackSummary[];
  /** What was repaired or dropped, per input. */
  warnings: (FormatWarning & { input: string })[];
  /** FLV joins: what the joiner did to the chunks. */
  join?: FlvJoinSummary;
}

/** A warning of remux's result: a format warning and the input it is about. */
export type RemuxWarning = RemuxResult['warnings'][number];
