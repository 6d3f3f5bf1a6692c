/**
 * Plain data produced by the DASH MPD parser (ISO/IEC 23009-1). The segment shape is the one the HLS parser
 * returns (re-exported from ../hls/hls-types.ts), so the recorder fetches both the same way. Pure types.
 */
import type { FormatWarning } from '../media.js';
import type { ByteRange, InitSection, ManifestLimits, SegmentRef, UnsafeUri } from '../hls/hls-types.js';

export type {
  ByteRange,
  InitSection,
  ManifestLimits,
  Quality,
  SegmentRef,
  UnsafeUri,
} from '../hls/hls-types.js';

export interface DashManifest {
  /** The URL the MPD was loaded from (after redirects). */
  url: string;
  type: 'static' | 'dynamic';
  /** MPD-level BaseURL, resolved (the MPD URL when there is none). */
  baseUrl: string;
  /** MPD Location (5.3.1.2): where to reload a dynamic MPD from, when given. */
  location?: string;
  /** Seconds. */
  mediaPresentationDuration?: number;
  /** ms since the epoch. */
  availabilityStartTime?: number;
  /** ms since the epoch. */
  publishTime?: number;
  /** Seconds; absent means the whole presentation stays available. */
  timeShiftBufferDepth?: number;
  /** Seconds; absent in a dynamic MPD means it will not change. */
  minimumUpdatePeriod?: number;
  /** Seconds. */
  suggestedPresentationDelay?: number;
  /** Seconds. */
  minBufferTime?: number;
  /** Seconds. */
  maxSegmentDuration?: number;
  periods: DashPeriod[];
  unsafeUris: UnsafeUri[];
  warnings: FormatWarning[];
}

export interface DashPeriod {
  id?: string;
  index: number;
  /** Seconds in the presentation timeline (Period@start, or the end of the previous period). */
  start: number;
  /** Seconds, when known (Period@duration, the next period's start, or the presentation duration). */
  duration?: number;
  baseUrl: string;
  adaptationSets: DashAdaptationSet[];
}

export type DashContentType = 'video' | 'audio' | 'text' | 'image' | 'other';

export interface DashAdaptationSet {
  id?: string;
  periodIndex: number;
  index: number;
  contentType: DashContentType;
  mimeType?: string;
  /** RFC 5646 tag, as written. */
  lang?: string;
  label?: string;
  /** Role@value for the DASH role scheme ("main", "alternate", "commentary"...). */
  roles: string[];
  /** A trick-mode (I-frame) adaptation set, not for recording. */
  trickMode: boolean;
  /** ContentProtection schemeIdUri values: DRM the recorder cannot open when non-empty. */
  contentProtection: string[];
  representations: DashRepresentation[];
}

export interface DashRepresentation {
  id: string;
  bandwidth: number;
  width?: number;
  height?: number;
  frameRate?: number;
  codecs?: string;
  mimeType?: string;
  audioSamplingRate?: number;
  contentType: DashContentType;
  lang?: string;
  periodIndex: number;
  adaptationSetIndex: number;
  /** Resolved through MPD, Period, AdaptationSet and Representation BaseURLs. */
  baseUrl: string;
  addressing: DashAddressing;
}

export type DashAddressing =
  DashTemplateAddressing | DashListAddressing | DashBaseAddressing | DashSingleAddressing;

/** One SegmentTimeline S element (5.3.9.6): t and n optional, r = -1 repeats to the next S or the end. */
export interface DashTimelineEntry {
  t?: number;
  d: number;
  r: number;
  n?: number;
}

export interface DashTemplateAddressing {
  kind: 'template';
  /**
   * SegmentTemplate@media with $RepresentationID$ and $Bandwidth$ already substituted; $Number$ and $Time$
   * (with any %0Nd width) remain. Resolved against `base` after substitution.
   */
  media: string;
  base: string;
  init?: InitSection;
  timescale: number;
  /** Ticks; absent with a SegmentTimeline. */
  duration?: number;
  startNumber: number;
  endNumber?: number;
  /** Ticks. */
  presentationTimeOffset: number;
  /** Seconds (may be Infinity). */
  availabilityTimeOffset: number;
  timeline?: DashTimelineEntry[];
}

export interface DashListAddressing {
  kind: 'list';
  init?: InitSection;
  timescale: number;
  duration?: number;
  startNumber: number;
  presentationTimeOffset: number;
  timeline?: DashTimelineEntry[];
  segments: { uri: string; byteRange?: ByteRange }[];
}

export interface DashBaseAddressing {
  kind: 'base';
  /** The media resource. */
  uri: string;
  init?: InitSection;
  /** Where the sidx is; without it the resource is one segment. */
  indexRange?: ByteRange;
  timescale: number;
  presentationTimeOffset: number;
}

/** No Segment* element at all: the BaseURL is one segment lasting the whole period (e.g. a subtitle file). */
export interface DashSingleAddressing {
  kind: 'single';
  uri: string;
}

export interface DashSegment extends SegmentRef {
  /** $Number$ (template), or startNumber + position (list). */
  number?: number;
  /** $Time$: the segment's start in the representation's timescale (template with SegmentTimeline). */
  time?: number;
  periodIndex: number;
  representationId: string;
}

export interface DashSegmentList {
  periodIndex: number;
  representationId: string;
  init?: InitSection;
  segments: DashSegment[];
  /**
   * SegmentBase with indexRange: the segments are in the sidx. The loader fetches this range, then calls
   * parseSidx(bytes, index.byteRange.offset) and segmentsFromSidx(list, sidx).
   */
  index?: { uri: string; byteRange: ByteRange };
  /** Dynamic MPDs: seconds in the presentation timeline up to which segments are available (the live edge). */
  liveEdge?: number;
  /** The availability window held more than maxSegments segments: only the newest were kept. */
  truncated: boolean;
}

export interface DashParseOptions extends ManifestLimits {
  /** Deepest element nesting accepted (default 32; a real MPD needs about 10). */
  maxDepth?: number;
}

export interface DashSegmentOptions {
  /** Wall-clock time, ms since the epoch: required for dynamic MPDs (no clock is read here). */
  now?: number;
  /** Most segments to expand (default 1e6). */
  maxSegments?: number;
}
