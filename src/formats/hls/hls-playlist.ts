/**
 * HLS playlists (RFC 8216) to castkit's plain model: text and the playlist's URL in, data out; no fetching.
 *
 * hls-playlist.ts = the scanner in hls-lines.ts (bounds, syntax with line numbers, keys, dates, variables)
 * followed by hls-parser on the sanitized text for the structure (variants, renditions, segments with their
 * media and discontinuity sequence numbers, byte ranges and EXT-X-MAP inheritance).
 */
import { getOptions, parse as hlsParse, setOptions, type types } from 'hls-parser';
import { CastkitError, FormatError } from '../../core/errors.js';
import { lineError, scanPlaylist, type KeyTag, type ScannedSegment, type ScanResult } from './hls-lines.js';
import type {
  HlsEncryption,
  HlsMasterPlaylist,
  HlsMediaPlaylist,
  HlsParseOptions,
  HlsPlaylist,
  HlsRendition,
  HlsSegment,
  HlsVariant,
  InitSection,
} from './hls-types.js';
import { limitsOf, requireAbsoluteUrl, UriResolver } from './manifest-common.js';

/** Parse a master or a media playlist; `url` is where it was loaded from (after redirects). */
export function parseHlsPlaylist(text: string, url: string, options: HlsParseOptions = {}): HlsPlaylist {
  const base = requireAbsoluteUrl(url, 'HLS playlist');
  const limits = limitsOf(options);
  const resolver = new UriResolver('E_HLS_URI');
  const scan = scanPlaylist(text, { url: base, ...limits, imports: options.imports ?? {}, resolver });
  const parsed = runHlsParser(scan.sanitized);
  if (scan.kind === 'master') {
    if (!parsed.isMasterPlaylist) throw internal('hls-parser read a master playlist as a media playlist');
    return buildMaster(scan, parsed, base, resolver);
  }
  if (parsed.isMasterPlaylist) throw internal('hls-parser read a media playlist as a master playlist');
  return buildMedia(scan, parsed, base, resolver);
}

/** Parse a playlist that must be a master playlist. */
export function parseHlsMaster(text: string, url: string, options: HlsParseOptions = {}): HlsMasterPlaylist {
  const p = parseHlsPlaylist(text, url, options);
  if (p.kind !== 'master') {
    throw new FormatError(`HLS playlist ${url} is a media playlist, not a master playlist`, {
      code: 'E_HLS_KIND',
      offset: 0,
    });
  }
  return p;
}

/** Parse a playlist that must be a media playlist. */
export function parseHlsMedia(text: string, url: string, options: HlsParseOptions = {}): HlsMediaPlaylist {
  const p = parseHlsPlaylist(text, url, options);
  if (p.kind !== 'media') {
    throw new FormatError(`HLS playlist ${url} is a master playlist, not a media playlist`, {
      code: 'E_HLS_KIND',
      hint: 'pick a variant (pickVariant) and load its media playlist',
      offset: 0,
    });
  }
  return p;
}

function internal(message: string): CastkitError {
  return new CastkitError(message, { code: 'E_HLS_INTERNAL', category: 'internal' });
}

/**
 * hls-parser keeps its options in module state; in its default mode it logs spec violations with
 * console.error and carries on. The scanner has already refused what matters, so run it quietly and
 * lenient, and put its options back (parsing is synchronous: nothing else can run in between).
 */
function runHlsParser(sanitized: string): types.MasterPlaylist | types.MediaPlaylist {
  const saved = getOptions();
  setOptions({ strictMode: false, silent: true });
  try {
    return hlsParse(sanitized);
  } catch (err) {
    throw new FormatError(
      `HLS playlist could not be parsed: ${err instanceof Error ? err.message : String(err)}`,
      {
        code: 'E_HLS_PARSE',
        offset: 0,
        cause: err,
      },
    );
  } finally {
    setOptions({ strictMode: saved.strictMode, silent: saved.silent });
  }
}

// ---------------------------------------------------------------------------------------------------------

const VIDEO_CODECS = /^(avc1|avc3|hvc1|hev1|dvh1|dvhe|dva1|dvav|av01|vp08|vp09|vp8|vp9|mp4v|theora)/i;

function buildMaster(
  scan: ScanResult,
  parsed: types.MasterPlaylist,
  base: string,
  resolver: UriResolver,
): HlsMasterPlaylist {
  if (parsed.variants.length !== scan.variants.length) {
    throw internal(
      `hls-parser found ${parsed.variants.length} variants, the scanner ${scan.variants.length}`,
    );
  }
  const variants: HlsVariant[] = [];
  const renditions: HlsRendition[] = [];
  const seenRenditions = new Set<string>();
  parsed.variants.forEach((pv, i) => {
    const sv = scan.variants[i] as (typeof scan.variants)[number];
    const v: HlsVariant = {
      bandwidth: pv.bandwidth,
      uri: resolver.resolve(pv.uri, base, `line ${sv.line} (variant URI)`),
      audioOnly: false,
      line: sv.line,
    };
    if (pv.averageBandwidth !== undefined) v.averageBandwidth = pv.averageBandwidth;
    if (pv.resolution) v.resolution = { width: pv.resolution.width, height: pv.resolution.height };
    if (pv.frameRate !== undefined) v.frameRate = pv.frameRate;
    if (pv.codecs) v.codecs = pv.codecs;
    if (sv.audio !== undefined) v.audioGroup = sv.audio;
    if (sv.subtitles !== undefined) v.subtitlesGroup = sv.subtitles;
    if (sv.video !== undefined) v.videoGroup = sv.video;
    variants.push(v);
    for (const r of [...pv.audio, ...pv.subtitles]) {
      const id = `${r.type}\n${r.groupId}\n${r.name}`;
      if (seenRenditions.has(id)) continue;
      seenRenditions.add(id);
      const out: HlsRendition = {
        type: r.type as 'AUDIO' | 'SUBTITLES',
        groupId: r.groupId,
        name: r.name,
        default: r.isDefault === true,
        autoselect: r.autoselect === true,
        forced: r.forced === true,
      };
      if (r.language) out.language = r.language;
      if (r.uri) out.uri = resolver.resolve(r.uri, base, `EXT-X-MEDIA NAME="${r.name}"`);
      if (r.channels) out.channels = r.channels;
      if (r.characteristics) out.characteristics = r.characteristics;
      renditions.push(out);
    }
  });
  const anyResolution = variants.some((v) => v.resolution !== undefined);
  for (const v of variants) {
    v.audioOnly =
      v.codecs !== undefined
        ? !v.codecs.split(',').some((c) => VIDEO_CODECS.test(c.trim()))
        : v.resolution === undefined && anyResolution;
  }
  return {
    kind: 'master',
    url: base,
    variants,
    renditions,
    defines: scan.defines,
    unsafeUris: resolver.unsafe,
    warnings: scan.warnings,
  };
}

/** RFC 8216 5.2: without an IV attribute, the IV is the media sequence number as a 128-bit big-endian integer. */
export function sequenceIv(mediaSequence: number): Uint8Array {
  const iv = new Uint8Array(16);
  const view = new DataView(iv.buffer);
  view.setUint32(8, Math.floor(mediaSequence / 2 ** 32));
  view.setUint32(12, mediaSequence >>> 0);
  return iv;
}

function encryptionOf(
  keys: readonly KeyTag[],
  mediaSequence: number,
): { encryption?: HlsEncryption; drm?: string[] } {
  let encryption: HlsEncryption | undefined;
  let drm: string[] | undefined;
  for (const k of keys) {
    const known = k.method === 'AES-128' || k.method === 'SAMPLE-AES' || k.method === 'SAMPLE-AES-CTR';
    if (k.keyFormat === 'identity' && known && k.uri !== undefined) {
      encryption = {
        method: k.method as HlsEncryption['method'],
        uri: k.uri,
        iv: k.iv ?? sequenceIv(mediaSequence),
        ivFromSequence: k.iv === undefined,
        line: k.line,
      };
    } else {
      (drm ??= []).push(k.keyFormat === 'identity' ? `identity (METHOD=${k.method})` : k.keyFormat);
    }
  }
  const out: { encryption?: HlsEncryption; drm?: string[] } = {};
  if (encryption) out.encryption = encryption;
  if (drm) out.drm = drm;
  return out;
}

function buildMedia(
  scan: ScanResult,
  parsed: types.MediaPlaylist,
  base: string,
  resolver: UriResolver,
): HlsMediaPlaylist {
  if (parsed.segments.length !== scan.segments.length) {
    throw internal(
      `hls-parser found ${parsed.segments.length} segments, the scanner ${scan.segments.length}`,
    );
  }
  const inits = new Map<types.Segment['map'], InitSection>();
  const segments: HlsSegment[] = [];
  let start = 0;
  let prev: HlsSegment | undefined;
  parsed.segments.forEach((ps, i) => {
    const ss = scan.segments[i] as ScannedSegment;
    if (ps.uri !== ss.uri)
      throw internal(`segment ${i}: hls-parser read URI ${ps.uri}, the scanner ${ss.uri}`);
    const mediaSequence = ps.mediaSequenceNumber;
    const discontinuitySequence = ps.discontinuitySequence;
    const seg: HlsSegment = {
      key: `d${discontinuitySequence}:m${mediaSequence}`,
      uri: resolver.resolve(ps.uri, base, `line ${ss.line} (segment URI)`),
      start,
      duration: ps.duration,
      discontinuity: ps.discontinuity === true,
      mediaSequence,
      discontinuitySequence,
      gap: ps.gap === true,
      line: ss.line,
    };
    if (ps.byterange) {
      if (ps.byterange.offset < 0) throw lineError(ss.line, 'EXT-X-BYTERANGE without a usable offset');
      seg.byteRange = { offset: ps.byterange.offset, length: ps.byterange.length };
    }
    if (ps.map) {
      let init = inits.get(ps.map);
      if (!init) {
        init = { uri: resolver.resolve(ps.map.uri, base, `EXT-X-MAP before line ${ss.line}`) };
        const br = ps.map.byterange;
        // EXT-X-MAP BYTERANGE without @o starts at byte 0 of the resource.
        if (br) init.byteRange = { offset: br.offset < 0 ? 0 : br.offset, length: br.length };
        inits.set(ps.map, init);
      }
      seg.init = init;
    }
    const { encryption, drm } = encryptionOf(ss.keys, mediaSequence);
    if (encryption) seg.encryption = encryption;
    if (drm) seg.drmKeyFormats = drm;
    if (ss.programDateTime !== undefined) {
      seg.programDateTime = ss.programDateTime;
    } else if (prev?.programDateTime !== undefined && !seg.discontinuity) {
      // RFC 8216 4.3.2.6: the date of a later segment follows from the tagged one plus the durations between.
      seg.programDateTime = prev.programDateTime + prev.duration * 1000;
      seg.programDateTimeExtrapolated = true;
    }
    if (ss.title) seg.title = ss.title;
    segments.push(seg);
    start += seg.duration;
    prev = seg;
  });
  const endList = parsed.endlist === true;
  const playlist: HlsMediaPlaylist = {
    kind: 'media',
    url: base,
    targetDuration: scan.targetDuration as number,
    mediaSequence: parsed.mediaSequenceBase ?? 0,
    discontinuitySequence: parsed.discontinuitySequenceBase ?? 0,
    endList,
    live: !endList && parsed.playlistType !== 'VOD',
    duration: start,
    segments,
    unsafeUris: resolver.unsafe,
    warnings: scan.warnings,
  };
  if (parsed.playlistType) playlist.playlistType = parsed.playlistType;
  if (scan.holdBack !== undefined) playlist.holdBack = scan.holdBack;
  if (scan.startOffset !== undefined) playlist.startOffset = scan.startOffset;
  return playlist;
}
