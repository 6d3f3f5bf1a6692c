/**
 * Choices a recorder makes on parsed HLS playlists: which variant, which audio rendition, where to start in
 * a live playlist, which segments are new after a reload, and when to reload. Pure: the clock is the
 * caller's.
 */
import { UsageError } from '../../core/errors.js';
import type { HlsMediaPlaylist, HlsRendition, HlsSegment, HlsVariant, Quality } from './hls-types.js';
import { bestLanguageMatches, listLanguages, pickByQuality } from './manifest-common.js';

/**
 * The variant a quality names (see pickByQuality): 'best' = highest bandwidth then resolution, 'worst',
 * '720p' = height 720, else the closest height below, else above; a number = the highest bandwidth not
 * above it. Audio-only variants are only chosen when there is nothing else.
 */
export function pickVariant(variants: readonly HlsVariant[], quality: Quality = 'best'): HlsVariant {
  const withVideo = variants.filter((v) => !v.audioOnly);
  const pool = withVideo.length > 0 ? withVideo : variants;
  const candidates = pool.map((v) => ({
    bandwidth: v.bandwidth,
    width: v.resolution?.width,
    height: v.resolution?.height,
    variant: v,
  }));
  return pickByQuality(candidates, quality, 'HLS variants').variant;
}

/**
 * The audio rendition of a group: without a language, the DEFAULT=YES one (else AUTOSELECT, else the
 * first); with one, the best language match (exact tag, then same primary subtag, then the same language
 * under another ISO 639 code), DEFAULT first among equals. Undefined when the group has no renditions and no
 * language was asked for (the audio is in the variant itself). A language that is not there is a UsageError
 * listing the languages that are.
 */
export function pickAudio(
  renditions: readonly HlsRendition[],
  groupId: string | undefined,
  lang?: string,
): HlsRendition | undefined {
  const group = renditions.filter(
    (r) => r.type === 'AUDIO' && (groupId === undefined || r.groupId === groupId),
  );
  const preferred = (list: readonly HlsRendition[]): HlsRendition | undefined =>
    list.find((r) => r.default) ?? list.find((r) => r.autoselect) ?? list[0];
  if (lang === undefined) return preferred(group);
  let matches = bestLanguageMatches(group, (r) => r.language, lang);
  if (matches.length === 0) matches = group.filter((r) => r.name.toLowerCase() === lang.trim().toLowerCase());
  if (matches.length === 0) {
    const available = listLanguages(group.map((r) => r.language));
    const where = groupId === undefined ? '' : ` in audio group "${groupId}"`;
    throw new UsageError(`no audio in language "${lang}"${where}; available: ${available}`, {
      code: 'E_NO_SUCH_AUDIO',
      hint:
        group.length > 0 ? `choose one of: ${available}` : 'this variant has no alternate audio renditions',
      details: { lang, groupId, available: group.map((r) => ({ language: r.language, name: r.name })) },
    });
  }
  return preferred(matches);
}

export interface LiveWindowOptions {
  /** Take the whole playlist (the start of the DVR window for live, everything for VOD). */
  fromStart?: boolean;
  /**
   * How far behind the end of the playlist to start a live recording, seconds. Default: EXT-X-SERVER-CONTROL
   * HOLD-BACK, else three target durations (RFC 8216 6.3.3; what hls.js and Safari do).
   */
  holdBack?: number;
}

export interface LiveWindow {
  /** Segments to fetch first, in order. */
  segments: HlsSegment[];
  /** Segments of the playlist left out before them. */
  skipped: number;
}

/**
 * Which segments to take first. VOD, ended playlists and `fromStart`: all of them. Live: from the last
 * segment that starts at least `holdBack` seconds before the end of the playlist (RFC 8216 6.3.3: "SHOULD
 * NOT choose a segment that starts less than three target durations from the end"), so the first reload
 * finds the next segment already there instead of stalling at the very edge.
 */
export function liveWindow(media: HlsMediaPlaylist, options: LiveWindowOptions = {}): LiveWindow {
  const all = media.segments;
  if (!media.live || options.fromStart) return { segments: all.slice(), skipped: 0 };
  const holdBack = options.holdBack ?? media.holdBack ?? 3 * media.targetDuration;
  const end = media.duration;
  let first = 0;
  for (let i = all.length - 1; i >= 0; i--) {
    const seg = all[i] as HlsSegment;
    if (end - seg.start >= holdBack - 1e-9) {
      first = i;
      break;
    }
  }
  return { segments: all.slice(first), skipped: first };
}

export interface NewSegments {
  /** Segments after the last one taken, in order. */
  segments: HlsSegment[];
  /**
   * Segments that left the playlist before they could be taken (the reload came too late): the first new
   * media sequence number minus the one expected. A recorder reports these as a gap, never silently.
   */
  missed: number;
}

/**
 * The segments of a reloaded live playlist that come after the one with media sequence number `lastTaken`
 * (RFC 8216 6.3.5: media sequence numbers identify segments across reloads).
 */
export function segmentsAfter(media: HlsMediaPlaylist, lastTaken: number): NewSegments {
  const segments = media.segments.filter((s) => s.mediaSequence > lastTaken);
  const first = segments[0];
  const missed = first === undefined ? 0 : Math.max(0, first.mediaSequence - lastTaken - 1);
  return { segments, missed };
}

/**
 * How long to wait before reloading a live playlist (RFC 8216 6.3.4): the target duration after a reload
 * that changed the playlist (and after the first load), half of it when the playlist was unchanged.
 * Undefined once the playlist has ended (EXT-X-ENDLIST): it will not change again.
 */
export function refreshDelayMs(media: HlsMediaPlaylist, changed: boolean): number | undefined {
  if (!media.live) return undefined;
  const ms = media.targetDuration * 1000;
  return changed ? ms : ms / 2;
}
