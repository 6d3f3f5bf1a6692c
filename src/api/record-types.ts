import type { ProgressEvent } from '../core/progress.js';
import type { RetryPolicyOptions } from '../download/retry-policy.js';
import type { FormatWarning } from '../formats/media.js';
import type { RenditionRow } from '../sources/record-source.js';
import type { RemuxTrackSummary } from './remux-types.js';

// The types of record(), apart so that the modules behind it can use them without a cycle.

/**
 * Segments fetched at once at the most, by default. Bodies stream to the journal, so width costs little
 * memory. CDNs often cap each connection (4 MB/s is common), so total speed grows with the number of
 * connections. The scheduler starts with two and doubles them while the segment due next keeps the
 * consumer waiting (downloadSegments' startConcurrency), so a fast server is read over a few connections,
 * whose segments complete in order and are demuxed while the next ones arrive. Lower it with -N for
 * servers that limit connections.
 */
export const RECORD_CONCURRENCY = 32;

export type RecordFormat = 'mp4' | 'fmp4' | 'ts' | 'mkv' | 'flv';

export interface RecordOptions {
  /**
   * Output path; '-' writes the stream to `stdout`: MPEG-TS (default; from any source), or fragmented MP4
   * when the segments are fMP4 of one muxed rendition.
   */
  output: string;
  /**
   * mp4 (default): one progressive MP4, moov first. fmp4: fragmented MP4. ts: MPEG-TS, written as it
   * records (TS segments of one rendition as they are; other segments demuxed and muxed into TS). mkv: an
   * MP4 made first, then copied into Matroska by ffmpeg.
   */
  format?: RecordFormat;
  /** Where `output: '-'` writes (default process.stdout). */
  stdout?: NodeJS.WritableStream;
  /** 'best' (default), 'worst', '720p' or a bandwidth in bits/s. */
  quality?: 'best' | 'worst' | `${number}p` | number;
  /** Audio rendition language (default: the default rendition). */
  audioLang?: string;
  /** Segments in flight (default RECORD_CONCURRENCY, 32). */
  concurrency?: number;
  headers?: Record<string, string>;
  userAgent?: string;
  referer?: string;
  /** Netscape cookies.txt. */
  cookiesFile?: string;
  /** Write the output even when segments are missing, with a gap report beside it. */
  allowGaps?: boolean;
  /**
   * Record over an output that already exists with no resume journal beside it (a finished recording).
   * Without it that is an error (E_OUTPUT_EXISTS); an output with a journal is resumed either way.
   */
  overwrite?: boolean;
  /** Accept file: and data: URIs in playlists. */
  allowLocal?: boolean;
  /** Live: start at the beginning of the DVR window. */
  fromStart?: boolean;
  /** HLS: save the subtitles rendition (a language, or true for the default) as <output stem>.<lang>.vtt. */
  subs?: string | true;
  /** Stop after this many seconds of media. */
  durationSec?: number;
  /**
   * Live: a stream whose manifest brings no new segment for this many seconds is lost (the encoder died
   * without ending the playlist): the output is finished with what came, as when the server goes away.
   * Default 60.
   */
  liveStallSec?: number;
  timeoutMs?: number;
  stallMs?: number;
  retry?: RetryPolicyOptions;
  signal?: AbortSignal;
  onProgress?: (event: RecordProgress) => void;
  /** Things a user should know as they happen (a retry, a missed live window, a reload failure). */
  onNotice?: (message: string) => void;
}

export interface RecordProgress extends ProgressEvent {
  phase: 'record';
  unit: 'segments';
  /** Network bytes this run. */
  bytes: number;
  bytesPerSec?: number;
  fromJournal: number;
  missing: number;
  retries: number;
  /** Seconds of media recorded so far. */
  recordedSec: number;
  live: boolean;
  /** Live: seconds behind the live edge. */
  edgeLagSec?: number;
}

export interface RecordGap {
  stream: string;
  /** The segment key, or "live window" for segments that left the playlist before a reload. */
  key: string;
  url?: string;
  /**
   * The code of the error behind the gap (E_HTTP_STATUS for a 404, E_SEGMENT_SHORT for a segment the
   * server cut short, E_KEY_WRONG...); E_SEGMENT_MISSING when no error is behind it (a live window
   * missed, EXT-X-GAP).
   */
  code: string;
  reason: string;
  seconds: number;
  /** Where it was, seconds in the manifest's timeline, when known. */
  startSec?: number;
  /**
   * A segment a VOD playlist lists, given up on or kept short (--allow-gaps): the same command tries it
   * again, and the resume journal stays beside the output for that (RecordResult.journal).
   */
  retryable?: boolean;
}

export interface RecordResult {
  output: string;
  format: RecordFormat;
  kind: 'hls' | 'dash' | 'ustream';
  live: boolean;
  chosen: string;
  /** Media segments recorded. */
  segments: number;
  /** Initialization sections (fMP4 EXT-X-MAP, DASH init segments) taken, besides the segments. */
  initSections: number;
  /** Of the segments and init sections: fetched in this run / replayed from the resume journal. */
  fetched: number;
  fromJournal: number;
  bytesFetched: number;
  bytesOut: number;
  durationSec: number;
  tracks: RemuxTrackSummary[];
  gaps: RecordGap[];
  gapReport?: string;
  /**
   * The resume journal, kept beside the output because some gaps are retryable: run the same command
   * again to fill them (what the other segments were is taken from it), or delete it to keep the file.
   */
  journal?: string;
  /** The WebVTT file written beside the output (with `subs`). */
  subtitles?: string;
  /**
   * Wall-clock time of the first recorded media, ISO 8601, when the stream says
   * (HLS EXT-X-PROGRAM-DATE-TIME).
   */
  programDateTime?: string;
  /** Why the recording stopped. */
  /** lost: a live stream was lost for good before it ended (the recording is kept, the journal too). */
  stoppedBy: 'end' | 'duration' | 'interrupt' | 'lost';
  warnings: FormatWarning[];
}

export interface RecordListing {
  url: string;
  kind: 'hls' | 'dash' | 'ustream';
  live: boolean;
  chosen: string;
  durationSec?: number;
  renditions: RenditionRow[];
}
