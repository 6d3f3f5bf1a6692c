/**
 * Plain data produced by the HLS playlist parser (RFC 8216), and the "segment to fetch" shape that the HLS
 * and DASH parsers share (src/formats/dash/dash-types.ts re-exports it), so that the recorder's download
 * loop handles both the same way. Pure types: no I/O.
 */
import type { FormatWarning } from '../media.js';

/** `length` bytes of a resource starting at byte `offset` (HTTP `Range: bytes=offset-(offset+length-1)`). */
export interface ByteRange {
  offset: number;
  length: number;
}

/** An initialization section: HLS EXT-X-MAP (RFC 8216 4.3.2.5), DASH Initialization (ISO/IEC 23009-1 5.3.9). */
export interface InitSection {
  /** Absolute URI. */
  uri: string;
  byteRange?: ByteRange;
}

/** One segment to fetch, as both manifest parsers return it. */
export interface SegmentRef {
  /**
   * Stable identity of the segment across reloads of a live manifest (for de-duplication and the resume
   * journal): HLS `d<discontinuity sequence>:m<media sequence>`, DASH `<period>/<representation>/n<number>`
   * (or `t<time>`, `i<index>`, `b<byte offset>`).
   */
  key: string;
  /** Absolute URI, resolved against the manifest URL (check `unsafeUris` before fetching). */
  uri: string;
  byteRange?: ByteRange;
  /**
   * Seconds. HLS: from the first segment of this playlist document (not stable across reloads). DASH: in the
   * presentation timeline (Period@start plus the segment's time in the period).
   */
  start: number;
  /** Seconds. */
  duration: number;
  /**
   * The initialization section the segment needs; consecutive segments that share one hold the same object,
   * so a change of object (HLS EXT-X-MAP change, DASH period boundary) means "fetch the new init".
   */
  init?: InitSection;
  /** Timestamps may jump before this segment (HLS EXT-X-DISCONTINUITY, DASH period boundary). */
  discontinuity: boolean;
}

/**
 * A URI whose scheme is not http(s): the parser resolves it but does not judge it; the loader refuses it
 * (file: would read the local disk, data: and others are not what a remote manifest may point at).
 */
export interface UnsafeUri {
  uri: string;
  /** e.g. "file:" */
  scheme: string;
  /** Where it was found: "line 12 (EXT-X-KEY)", "Period 1 AdaptationSet 2 BaseURL". */
  where: string;
}

/** Bounds applied to hostile manifests. Every field is optional; defaults are in DEFAULT_MANIFEST_LIMITS. */
export interface ManifestLimits {
  /** Longest manifest text, characters (default 64 Mi). */
  maxChars?: number;
  /** Longest line (HLS) after variable substitution, characters (default 64 Ki). */
  maxLineLength?: number;
  /** Most segments one playlist or representation may expand to (default 1e6). */
  maxSegments?: number;
  /** Most variants plus renditions in an HLS master playlist (default 1000). */
  maxVariants?: number;
}

/** Quality request: highest/lowest bandwidth, a picture height such as "720p", or a bandwidth (bits/s). */
export type Quality = 'best' | 'worst' | `${number}p` | number;

export interface Resolution {
  width: number;
  height: number;
}

// ---------------------------------------------------------------------------------------------------------
// Master (multivariant) playlist, RFC 8216 4.3.4

export interface HlsVariant {
  bandwidth: number;
  averageBandwidth?: number;
  resolution?: Resolution;
  frameRate?: number;
  codecs?: string;
  /** Absolute URI of the variant's media playlist. */
  uri: string;
  /** GROUP-ID of the EXT-X-MEDIA TYPE=AUDIO renditions this variant may be played with. */
  audioGroup?: string;
  subtitlesGroup?: string;
  videoGroup?: string;
  /** CODECS lists no video codec (or, without CODECS, no RESOLUTION while other variants have one). */
  audioOnly: boolean;
  /** Line of the EXT-X-STREAM-INF tag. */
  line: number;
}

export interface HlsRendition {
  type: 'AUDIO' | 'SUBTITLES';
  groupId: string;
  /** RFC 5646 tag, as written. */
  language?: string;
  name: string;
  default: boolean;
  autoselect: boolean;
  /** Absolute URI; absent when the rendition is carried inside the variant's own stream. */
  uri?: string;
  channels?: string;
  characteristics?: string;
  forced: boolean;
}

export interface HlsMasterPlaylist {
  kind: 'master';
  /** The URL the playlist was loaded from (after redirects): the base of every relative URI in it. */
  url: string;
  /** Variants in playlist order; I-frame-only variants are left out. */
  variants: HlsVariant[];
  /** AUDIO and SUBTITLES renditions, deduplicated, in playlist order. */
  renditions: HlsRendition[];
  /** EXT-X-DEFINE NAME/VALUE variables, for media playlists that IMPORT them (RFC 8216bis 4.4.2.3). */
  defines: Record<string, string>;
  unsafeUris: UnsafeUri[];
  warnings: FormatWarning[];
}

// ---------------------------------------------------------------------------------------------------------
// Media playlist, RFC 8216 4.3.3

/** EXT-X-KEY in effect for a segment (RFC 8216 4.3.2.4), for KEYFORMAT "identity". */
export interface HlsEncryption {
  method: 'AES-128' | 'SAMPLE-AES' | 'SAMPLE-AES-CTR';
  /** Absolute URI of the key. */
  uri: string;
  /** 16 bytes: the IV attribute, or the media sequence number as a big-endian 128-bit integer (RFC 8216 5.2). */
  iv: Uint8Array;
  /** True when `iv` comes from the media sequence number because the tag has no IV attribute. */
  ivFromSequence: boolean;
  /** Line of the EXT-X-KEY tag. */
  line: number;
}

export interface HlsSegment extends SegmentRef {
  mediaSequence: number;
  discontinuitySequence: number;
  /** Wall-clock time of the first sample, ms since the epoch: EXT-X-PROGRAM-DATE-TIME, or carried forward. */
  programDateTime?: number;
  /** True when programDateTime was carried forward from an earlier tag (plus durations), not written. */
  programDateTimeExtrapolated?: boolean;
  encryption?: HlsEncryption;
  /**
   * KEYFORMATs other than "identity" in effect (FairPlay, Widevine, PlayReady...): DRM the recorder cannot
   * open. Present only when there is one.
   */
  drmKeyFormats?: string[];
  /** EXT-X-GAP: the segment is known to be missing; do not fetch it, account for it as a gap. */
  gap: boolean;
  /** EXTINF title, when there is one. */
  title?: string;
  /** Line of the segment's URI. */
  line: number;
}

export interface HlsMediaPlaylist {
  kind: 'media';
  url: string;
  /** EXT-X-TARGETDURATION, seconds. */
  targetDuration: number;
  /** EXT-X-MEDIA-SEQUENCE: the media sequence number of the first segment. */
  mediaSequence: number;
  /** EXT-X-DISCONTINUITY-SEQUENCE of the first segment. */
  discontinuitySequence: number;
  endList: boolean;
  playlistType?: 'EVENT' | 'VOD';
  /** More segments may come: no EXT-X-ENDLIST and not PLAYLIST-TYPE VOD. */
  live: boolean;
  /** EXT-X-SERVER-CONTROL HOLD-BACK, seconds, when given. */
  holdBack?: number;
  /** EXT-X-START TIME-OFFSET, seconds (negative: from the end), when given. */
  startOffset?: number;
  /** Sum of segment durations, seconds. */
  duration: number;
  segments: HlsSegment[];
  unsafeUris: UnsafeUri[];
  warnings: FormatWarning[];
}

export type HlsPlaylist = HlsMasterPlaylist | HlsMediaPlaylist;

export interface HlsParseOptions extends ManifestLimits {
  /** Variables a media playlist may IMPORT with EXT-X-DEFINE (the master playlist's `defines`). */
  imports?: Record<string, string>;
}
