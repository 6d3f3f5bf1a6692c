/**
 * Chunk planning for the segmented formats (shared/specs/ustream-ums.md section 3): which rendition
 * (flv/segmented) or which tracks (mp4/segmented) to fetch, and the URL of chunk n:
 *   CDN base + path + template, the template's first `%` replaced by n and the second by the hash in force
 *   for n (the value under the largest hash key <= n), doubled slashes collapsed.
 */
import { UsageError } from '../../core/errors.js';
import { pickByQuality } from '../../formats/hls/index.js';
import type { RenditionRow, SourceOptions } from '../record-source.js';
import type { SegmentedFormat } from './ums-protocol.js';
import { isObject } from './ustream-site.js';

/** The hash for chunk n: the value under the largest key <= n; undefined before the first key. */
export function hashFor(hashes: readonly [number, string][], n: number): string | undefined {
  let lo = 0;
  let hi = hashes.length - 1;
  let found: string | undefined;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const [key, hash] = hashes[mid] as [number, string];
    if (key <= n) {
      found = hash;
      lo = mid + 1;
    } else hi = mid - 1;
  }
  return found;
}

/**
 * How many chunks one hash key covers: the most common step between keys (10 in every capture; the spec's
 * inference is that keys are multiples of 10), 10 when there is only one key.
 */
export function keySpacing(hashes: readonly [number, string][]): number {
  const counts = new Map<number, number>();
  for (let i = 1; i < hashes.length; i++) {
    const step = (hashes[i] as [number, string])[0] - (hashes[i - 1] as [number, string])[0];
    if (step > 0) counts.set(step, (counts.get(step) ?? 0) + 1);
  }
  let best = 10;
  let bestCount = 0;
  for (const [step, c] of counts) {
    if (c > bestCount || (c === bestCount && step < best)) {
      best = step;
      bestCount = c;
    }
  }
  return best;
}

/** The template with its first `%` replaced by the chunk number and its second by the hash. */
export function fillTemplate(template: string, n: number, hash: string): string {
  return template.replace('%', String(n)).replace('%', hash);
}

/** base + path + relative, one slash between each, doubled slashes in the path collapsed. */
export function joinChunkUrl(base: string, ...parts: string[]): string {
  const m = /^([a-z][a-z0-9+.-]*:\/\/[^/?#]*)(.*)$/i.exec(base);
  const origin = m?.[1] ?? '';
  const rest = [m ? (m[2] ?? '') : base, ...parts].join('/');
  const q = rest.search(/[?#]/);
  const path = q < 0 ? rest : rest.slice(0, q);
  const tail = q < 0 ? '' : rest.slice(q);
  return `${origin}${`/${path}`.replace(/\/{2,}/g, '/')}${tail}`;
}

/** The URL of chunk `n` of a template; undefined when no hash covers n. */
export function chunkUrl(
  cdnBase: string,
  fmt: SegmentedFormat,
  template: string,
  n: number,
): string | undefined {
  const hash = hashFor(fmt.hashes, n);
  if (hash === undefined) return undefined;
  return joinChunkUrl(cdnBase, fmt.path, fillTemplate(template, n, hash));
}

/** UMS bitrates are kbit/s (an inference from the captures: 1200 for a 720p stream); bits/s above 100000. */
function bitsPerSec(v: unknown): number {
  const n = typeof v === 'string' ? Number(v) : v;
  if (typeof n !== 'number' || !Number.isFinite(n) || n <= 0) return 0;
  return n < 100_000 ? n * 1000 : n;
}

function int(v: unknown): number | undefined {
  const n = typeof v === 'string' ? Number(v) : v;
  return typeof n === 'number' && Number.isFinite(n) && n > 0 ? Math.round(n) : undefined;
}

/** One flv/segmented rendition. */
export interface FlvRendition {
  index: number;
  segmentUrl: string;
  preset: string;
  /** bits/s */
  bandwidth: number;
  width?: number;
  height?: number;
  videoCodec?: string;
  audioCodec?: string;
}

export function flvRenditions(fmt: SegmentedFormat): FlvRendition[] {
  const out: FlvRendition[] = [];
  fmt.streams.forEach((s, index) => {
    if (typeof s.segmentUrl !== 'string' || !s.segmentUrl.includes('%')) return;
    const r: FlvRendition = {
      index,
      segmentUrl: s.segmentUrl,
      preset: typeof s.preset === 'string' ? s.preset : typeof s.name === 'string' ? s.name : '',
      bandwidth: bitsPerSec(s.bitrate),
    };
    const v = isObject(s.videoCodec) ? s.videoCodec : undefined;
    const a = isObject(s.audioCodec) ? s.audioCodec : undefined;
    const w = int(v?.width);
    const h = int(v?.height);
    if (w !== undefined) r.width = w;
    if (h !== undefined) r.height = h;
    if (typeof v?.codecName === 'string') r.videoCodec = v.codecName;
    if (typeof a?.codecName === 'string') r.audioCodec = a.codecName;
    out.push(r);
  });
  return out;
}

/**
 * One rendition, never several: 'best' (default) is the highest resolution, then the highest bitrate
 * (ustream-dl fetched every `original` stream and concatenated them into one file); other qualities as
 * for HLS (worst, 720p, a bandwidth in bits/s).
 */
export function pickFlvRendition(
  list: readonly FlvRendition[],
  quality: SourceOptions['quality'],
): FlvRendition {
  if (list.length === 0) {
    throw new UsageError('the flv/segmented format lists no usable stream', { code: 'E_NO_VARIANT' });
  }
  if (quality === undefined || quality === 'best') {
    return [...list].sort(
      (a, b) =>
        (b.width ?? 0) * (b.height ?? 0) - (a.width ?? 0) * (a.height ?? 0) ||
        b.bandwidth - a.bandwidth ||
        a.index - b.index,
    )[0] as FlvRendition;
  }
  return pickByQuality(list, quality, 'flv/segmented renditions');
}

export function describeFlvRendition(r: FlvRendition): string {
  const parts: string[] = ['flv/segmented'];
  if (r.width && r.height) parts.push(`${r.width}x${r.height}`);
  if (r.bandwidth > 0) parts.push(`${(r.bandwidth / 1e6).toFixed(2)} Mbit/s`);
  const codecs = [r.videoCodec, r.audioCodec].filter((c) => c !== undefined).join('+');
  if (codecs) parts.push(codecs);
  if (r.preset) parts.push(`(${r.preset})`);
  return parts.join(' ');
}

export function flvRows(list: readonly FlvRendition[], chosen: FlvRendition): RenditionRow[] {
  return list.map((r) => {
    const row: RenditionRow = {
      type: 'variant',
      id: String(r.index),
      bandwidth: r.bandwidth,
      chosen: r === chosen,
    };
    if (r.width && r.height) row.resolution = `${r.width}x${r.height}`;
    const codecs = [r.videoCodec, r.audioCodec].filter((c) => c !== undefined).join(',');
    if (codecs) row.codecs = codecs;
    if (r.preset) row.name = r.preset;
    return row;
  });
}

/** One mp4/segmented track. */
export interface Mp4Track {
  index: number;
  kind: 'video' | 'audio';
  segmentUrl: string;
  initUrl: string;
  codec?: string;
  bandwidth: number;
  width?: number;
  height?: number;
  language?: string;
}

export function mp4Tracks(fmt: SegmentedFormat): Mp4Track[] {
  const out: Mp4Track[] = [];
  fmt.streams.forEach((s, index) => {
    if (typeof s.segmentUrl !== 'string' || typeof s.initUrl !== 'string') return;
    const type = typeof s.contentType === 'string' ? s.contentType.toLowerCase() : '';
    const codec = typeof s.codec === 'string' ? s.codec : undefined;
    const kind: 'video' | 'audio' | undefined = type.startsWith('video/')
      ? 'video'
      : type.startsWith('audio/')
        ? 'audio'
        : codec && /^(avc|hvc|hev|vp0|av01)/i.test(codec)
          ? 'video'
          : codec && /^(mp4a|opus|ac-3|ec-3)/i.test(codec)
            ? 'audio'
            : undefined;
    if (!kind) return;
    const t: Mp4Track = {
      index,
      kind,
      segmentUrl: s.segmentUrl,
      initUrl: s.initUrl,
      bandwidth: bitsPerSec(s.bitrate),
    };
    if (codec) t.codec = codec;
    const h = int(s.height);
    const w = int(s.width);
    if (h !== undefined) t.height = h;
    if (w !== undefined) t.width = w;
    if (typeof s.language === 'string' && s.language !== '') t.language = s.language;
    out.push(t);
  });
  return out;
}

/** The video track by quality, the audio track by language (else the highest bitrate). */
export function pickMp4Tracks(
  list: readonly Mp4Track[],
  quality: SourceOptions['quality'],
  audioLang: string | undefined,
): { video?: Mp4Track; audio?: Mp4Track } {
  const videos = list.filter((t) => t.kind === 'video');
  const audios = list.filter((t) => t.kind === 'audio');
  const out: { video?: Mp4Track; audio?: Mp4Track } = {};
  if (videos.length > 0) {
    out.video =
      quality === undefined || quality === 'best'
        ? [...videos].sort((a, b) => (b.height ?? 0) - (a.height ?? 0) || b.bandwidth - a.bandwidth)[0]
        : pickByQuality(videos, quality, 'mp4/segmented video tracks');
  }
  if (audios.length > 0) {
    let pool = audios;
    if (audioLang !== undefined) {
      const want = audioLang.trim().toLowerCase();
      pool = audios.filter((a) => {
        const l = a.language?.toLowerCase();
        return l === want || l?.split('-')[0] === want.split('-')[0];
      });
      if (pool.length === 0) {
        const have = audios.map((a) => a.language ?? 'und').join(', ');
        throw new UsageError(`no audio in language "${audioLang}"; available: ${have}`, {
          code: 'E_NO_SUCH_AUDIO',
          hint: `choose one of: ${have}`,
        });
      }
    }
    out.audio = [...pool].sort((a, b) => b.bandwidth - a.bandwidth)[0];
  } else if (audioLang !== undefined) {
    throw new UsageError(`no audio tracks to choose "${audioLang}" from`, { code: 'E_NO_SUCH_AUDIO' });
  }
  return out;
}

export function describeMp4(video: Mp4Track | undefined, audio: Mp4Track | undefined): string {
  const parts: string[] = ['mp4/segmented'];
  if (video) {
    if (video.width && video.height) parts.push(`${video.width}x${video.height}`);
    else if (video.height) parts.push(`${video.height}p`);
    if (video.bandwidth > 0) parts.push(`${(video.bandwidth / 1e6).toFixed(2)} Mbit/s`);
    if (video.codec) parts.push(video.codec);
  }
  let s = parts.join(' ');
  if (audio) s += ` + audio ${audio.language ?? ''} ${audio.codec ?? ''}`.trimEnd();
  return s;
}

export function mp4Rows(
  list: readonly Mp4Track[],
  chosen: { video?: Mp4Track; audio?: Mp4Track },
): RenditionRow[] {
  return list.map((t) => {
    const row: RenditionRow = {
      type: t.kind,
      id: String(t.index),
      bandwidth: t.bandwidth,
      chosen: t === chosen.video || t === chosen.audio,
    };
    if (t.width && t.height) row.resolution = `${t.width}x${t.height}`;
    else if (t.height) row.resolution = `${t.height}p`;
    if (t.codec) row.codecs = t.codec;
    if (t.language) row.language = t.language;
    return row;
  });
}
