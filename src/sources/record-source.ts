/**
 * What the HLS and DASH sources hand the recorder: segments of one or two streams (a muxed stream, or a
 * video stream and an audio stream to be muxed side by side), with their init sections and keys, in
 * batches: the first window, then what each manifest reload added, with what was missed in between.
 */
import type { ByteRange } from '../download/byte-range.js';
import type { FetchResult } from '../download/http-client.js';
import type { SegmentRef } from '../formats/hls/hls-types.js';

/** 'main' carries everything (muxed); 'video' and 'audio' are separate renditions muxed by castkit. */
export type StreamName = 'main' | 'video' | 'audio';

/** An initialization section (HLS EXT-X-MAP, DASH Initialization): fetched once, journaled like a segment. */
export interface RecordInit {
  key: string;
  url: string;
  range?: ByteRange;
}

export interface RecordSegment {
  /** Unique across the streams of a recording and stable across runs: the resume journal's key. */
  key: string;
  stream: StreamName;
  url: string;
  range?: ByteRange;
  /** Seconds. */
  duration: number;
  /** Seconds, in the manifest's own timeline. */
  start: number;
  /** Timestamps may restart here. */
  discontinuity: boolean;
  init?: RecordInit;
  /** HLS AES-128: the key's URL and the IV (RFC 8216 4.3.2.4, 5.2). */
  aes?: { keyUrl: string; iv: Uint8Array };
  /** HLS EXT-X-GAP: known missing, not to be fetched. */
  gap?: boolean;
  /** ms since the epoch (EXT-X-PROGRAM-DATE-TIME), when known. */
  programDateTime?: number;
}

export interface MissedSpan {
  stream: StreamName;
  /** Segments that left the live window before they could be fetched. */
  count: number;
  /** Their length, seconds (estimated from the target/segment duration). */
  seconds: number;
}

export interface SourceBatch {
  segments: RecordSegment[];
  missed: MissedSpan[];
  /** No more segments will come (VOD, EXT-X-ENDLIST, a static MPD). */
  ended: boolean;
  /** Live: it ended because the stream was lost (why), not because the broadcast did. */
  lost?: string;
  /** Live: wait this long before asking for the next batch. */
  refreshMs?: number;
  /** Live: seconds between the end of the newest segment of this batch and the live edge. */
  edgeLagSec?: number;
}

/** One row of `--list`. */
export interface RenditionRow {
  type: 'video' | 'audio' | 'subtitles' | 'variant';
  id: string;
  resolution?: string;
  bandwidth?: number;
  codecs?: string;
  language?: string;
  name?: string;
  default?: boolean;
  chosen: boolean;
}

/** The languages a manifest gives the tracks of a stream, by kind: RFC 5646 tags as written ("de", "pt-BR"). */
export type StreamLanguages = Partial<Record<StreamName, { video?: string; audio?: string }>>;

export interface RecordSource {
  kind: 'hls' | 'dash' | 'ustream';
  live: boolean;
  streams: StreamName[];
  /**
   * What the manifest says the chosen renditions' languages are (HLS EXT-X-MEDIA LANGUAGE of the chosen
   * audio, DASH AdaptationSet@lang or Representation@lang): written into the output's tracks.
   */
  languages?: StreamLanguages;
  /** VOD: the length of the chosen presentation, seconds. */
  totalSec?: number;
  /** The segments need an init section (fMP4): known from the first playlist. */
  segmentsHaveInit?: boolean;
  /** What was chosen, for people: "1280x720 2.1 Mbit/s avc1.64001f + audio en (aac)". */
  chosen: string;
  renditions: RenditionRow[];
  /** The subtitles rendition chosen with `subs` (HLS WebVTT). */
  subtitles?: { url: string; language?: string; name: string };
  /** The first call gives the initial window; each later call reloads the manifest(s). */
  next(signal?: AbortSignal): Promise<SourceBatch>;
  /**
   * Live, before the first next(): an earlier run recorded up to these segments (the key of each stream's
   * last one). The first batch then continues after them, and what has left the live window since is
   * reported as missed, instead of starting again near the live edge with a silent hole.
   */
  resumeAfter?(lastKeys: ReadonlyMap<StreamName, string>): void;
}

export interface SourceContext {
  /** file: and data: URIs allowed (the user asked for it). */
  allowLocal: boolean;
  signal?: AbortSignal;
  /** Manifest (and sidx) fetches go through this, retried. */
  fetchManifest: (url: string, options?: { signal?: AbortSignal; range?: ByteRange }) => Promise<FetchResult>;
}

export interface SourceOptions {
  quality?: 'best' | 'worst' | `${number}p` | number;
  audioLang?: string;
  /** Live: start at the beginning of the DVR window instead of near the live edge. */
  fromStart?: boolean;
  /** Subtitles to save beside the output: a language, or true for the default rendition. */
  subs?: string | true;
}

/**
 * The RecordSegment of a parsed HLS or DASH segment (their shared SegmentRef shape): keys prefixed with the
 * stream, the init section keyed by its URI and byte range so that a change of init is a new key.
 */
export function recordSegmentOf(stream: StreamName, seg: SegmentRef): RecordSegment {
  const out: RecordSegment = {
    key: `${stream}:${seg.key}`,
    stream,
    url: seg.uri,
    duration: seg.duration,
    start: seg.start,
    discontinuity: seg.discontinuity,
  };
  if (seg.byteRange) out.range = seg.byteRange;
  if (seg.init) {
    const r = seg.init.byteRange;
    const init: RecordInit = {
      key: `${stream}:init:${seg.init.uri}${r ? `@${r.offset}+${r.length}` : ''}`,
      url: seg.init.uri,
    };
    if (r) init.range = r;
    out.init = init;
  }
  return out;
}
