/**
 * The HLS loader (RFC 8216): loads the master playlist, picks the variant and the audio rendition, loads
 * their media playlists, and turns them into batches of segments to record. Live playlists are reloaded
 * (RFC 8216 6.3.4); segments that left the window before a reload are reported as missed, never skipped
 * silently. Parsing is formats/hls; fetching (with retries) is the context's.
 */
import { InputError, UsageError } from '../../core/errors.js';
import {
  liveWindow,
  parseHlsPlaylist,
  pickAudio,
  pickVariant,
  refreshDelayMs,
  segmentsAfter,
  type HlsMasterPlaylist,
  type HlsMediaPlaylist,
  type HlsRendition,
  type HlsSegment,
  type HlsVariant,
  type UnsafeUri,
} from '../../formats/hls/index.js';
import type {
  MissedSpan,
  RecordSegment,
  RecordSource,
  RenditionRow,
  SourceBatch,
  SourceContext,
  SourceOptions,
  StreamLanguages,
  StreamName,
} from '../record-source.js';
import { recordSegmentOf } from '../record-source.js';

interface HlsStream {
  name: StreamName;
  url: string;
  /** Media sequence number of the last segment handed out. */
  last?: number;
  media?: HlsMediaPlaylist;
  ended: boolean;
}

/** Refuse a playlist that points at file:, data: or other non-http URIs (unless --allow-local). */
export function assertSafeUris(unsafe: readonly UnsafeUri[], allowLocal: boolean, where: string): void {
  const bad = allowLocal ? unsafe.filter((u) => u.scheme !== 'file:' && u.scheme !== 'data:') : unsafe;
  const first = bad[0];
  if (!first) return;
  throw new InputError(
    `${where} points at a ${first.scheme} URI (${first.where}); castkit fetches http(s) only`,
    {
      code: 'E_URL_REFUSED',
      hint:
        first.scheme === 'file:' || first.scheme === 'data:'
          ? 'pass --allow-local if you trust this playlist to read local files'
          : 'this playlist cannot be recorded',
      details: { uris: bad.slice(0, 10).map((u) => ({ scheme: u.scheme, where: u.where })) },
    },
  );
}

/** Open an HLS source from the text of its first playlist (master or media). */
export async function openHlsSource(
  text: string,
  url: string,
  ctx: SourceContext,
  options: SourceOptions,
): Promise<RecordSource> {
  const first = parseHlsPlaylist(text, url);
  assertSafeUris(first.unsafeUris, ctx.allowLocal, `the playlist ${url}`);
  const streams: HlsStream[] = [];
  let chosen = 'the media playlist as given';
  let renditions: RenditionRow[] = [];
  let imports: Record<string, string> = {};
  let subtitles: RecordSource['subtitles'];
  let languages: StreamLanguages | undefined;
  if (first.kind === 'master') {
    if (first.variants.length === 0) {
      throw new InputError(`the master playlist ${url} lists no variants`, { code: 'E_HLS_EMPTY' });
    }
    imports = first.defines;
    const variant = pickVariant(first.variants, options.quality ?? 'best');
    const audio = variant.audioGroup
      ? pickAudio(first.renditions, variant.audioGroup, options.audioLang)
      : undefined;
    if (!variant.audioGroup && options.audioLang !== undefined) {
      throw new UsageError(`no audio renditions to choose "${options.audioLang}" from`, {
        code: 'E_NO_SUCH_AUDIO',
        hint: 'this stream has its audio inside the video variants; leave out --audio-lang',
      });
    }
    const separateAudio = audio?.uri !== undefined && audio.uri !== variant.uri;
    streams.push({ name: separateAudio ? 'video' : 'main', url: variant.uri, ended: false });
    if (separateAudio) streams.push({ name: 'audio', url: audio.uri as string, ended: false });
    chosen = describeChoice(variant, separateAudio ? audio : undefined);
    // A rendition without a URI describes the audio inside the variant (RFC 8216 4.3.4.2.1).
    if (audio?.language !== undefined)
      languages = { [separateAudio ? 'audio' : 'main']: { audio: audio.language } };
    if (options.subs !== undefined) subtitles = pickSubtitles(first, variant, options.subs);
    renditions = rows(first, variant, separateAudio ? audio : undefined);
  } else {
    // A media playlist is one rendition: nothing to choose from (it would be recorded as it is, silently).
    if (options.audioLang !== undefined) {
      throw new UsageError(
        `no audio renditions to choose "${options.audioLang}" from: ${url} is a media playlist`,
        {
          code: 'E_NO_SUCH_AUDIO',
          hint: 'give the master playlist to choose an audio language, or leave out --audio-lang',
        },
      );
    }
    streams.push({ name: 'main', url, ended: false, media: first });
  }
  const load = async (s: HlsStream, signal?: AbortSignal): Promise<HlsMediaPlaylist> => {
    const res = await ctx.fetchManifest(s.url, { signal });
    const p = parseHlsPlaylist(res.body.toString('utf8'), res.url, { imports });
    if (p.kind !== 'media') {
      throw new InputError(`${s.url} should be a media playlist but is a master playlist`, {
        code: 'E_HLS_KIND',
      });
    }
    assertSafeUris(p.unsafeUris, ctx.allowLocal, `the playlist ${s.url}`);
    return p;
  };
  for (const s of streams) s.media ??= await load(s, ctx.signal);
  const medias = streams.map((s) => s.media as HlsMediaPlaylist);
  const live = medias.some((m) => m.live);
  let started = false;

  const source: RecordSource = {
    kind: 'hls',
    live,
    streams: streams.map((s) => s.name),
    chosen,
    renditions,
    next: async (signal) => {
      const segments: RecordSegment[] = [];
      const missed: MissedSpan[] = [];
      let refreshMs: number | undefined;
      let edgeLag = 0;
      for (const s of streams) {
        if (s.ended) continue;
        let media = s.media as HlsMediaPlaylist;
        let fresh: HlsSegment[];
        if (!started && s.last === undefined) {
          fresh = liveWindow(media, { fromStart: options.fromStart }).segments;
        } else {
          // A resumed stream goes on from its first playlist, after what the earlier run recorded.
          if (started) media = s.media = await load(s, signal);
          const after = segmentsAfter(media, s.last ?? -1);
          fresh = after.segments;
          if (after.missed > 0) {
            missed.push({
              stream: s.name,
              count: after.missed,
              seconds: after.missed * media.targetDuration,
            });
          }
        }
        const lastFresh = fresh[fresh.length - 1];
        if (lastFresh) s.last = lastFresh.mediaSequence;
        for (const seg of fresh) segments.push(toRecordSegment(s.name, seg));
        s.ended = !media.live;
        const delay = refreshDelayMs(media, fresh.length > 0);
        if (delay !== undefined) refreshMs = Math.min(refreshMs ?? Infinity, delay);
        const newest = media.segments[media.segments.length - 1];
        if (lastFresh && newest)
          edgeLag = Math.max(edgeLag, newest.start + newest.duration - lastFresh.start - lastFresh.duration);
      }
      started = true;
      const batch: SourceBatch = {
        segments: interleave(segments),
        missed,
        ended: streams.every((s) => s.ended),
      };
      if (refreshMs !== undefined && !batch.ended) batch.refreshMs = refreshMs;
      if (live) batch.edgeLagSec = edgeLag;
      return batch;
    },
    resumeAfter: (lastKeys) => {
      if (started) return;
      for (const s of streams) {
        // Keys end in the media sequence number (recordSegmentOf, hls-playlist's segment key).
        const m = /:m(\d+)$/.exec(lastKeys.get(s.name) ?? '');
        if (m) s.last = Number(m[1]);
      }
    },
  };
  if (languages) source.languages = languages;
  if (subtitles) source.subtitles = subtitles;
  else if (options.subs !== undefined) {
    throw new UsageError('this stream has no subtitles', {
      code: 'E_NO_SUBTITLES',
      hint: 'leave out --subs, or check --list for SUBTITLES renditions',
    });
  }
  if (!live) source.totalSec = Math.max(...medias.map((m) => m.duration));
  source.segmentsHaveInit = medias.every((m) => m.segments.some((seg) => seg.init !== undefined));
  return source;
}

/** Video and audio segments in time order (video first at a tie), so their payloads interleave. */
function interleave(segments: RecordSegment[]): RecordSegment[] {
  const byStream = new Map<StreamName, RecordSegment[]>();
  for (const s of segments) {
    const list = byStream.get(s.stream) ?? [];
    list.push(s);
    byStream.set(s.stream, list);
  }
  if (byStream.size < 2) return segments;
  const lists = [...byStream.values()];
  const out: RecordSegment[] = [];
  const at = lists.map(() => 0);
  // Positions in each list's own time (their documents may start at different times): relative starts.
  const base = lists.map((l) => l[0]?.start ?? 0);
  for (;;) {
    let best = -1;
    for (let k = 0; k < lists.length; k++) {
      const seg = lists[k]?.[at[k] as number];
      if (!seg) continue;
      const bestSeg = best >= 0 ? lists[best]?.[at[best] as number] : undefined;
      if (!bestSeg || seg.start - (base[k] as number) < bestSeg.start - (base[best] as number) - 1e-6)
        best = k;
    }
    if (best < 0) return out;
    out.push(lists[best]?.[at[best] as number] as RecordSegment);
    at[best] = (at[best] as number) + 1;
  }
}

function toRecordSegment(stream: StreamName, seg: HlsSegment): RecordSegment {
  if (seg.drmKeyFormats && seg.drmKeyFormats.length > 0) {
    throw new InputError(`segment ${seg.uri} is protected by DRM (${seg.drmKeyFormats.join(', ')})`, {
      code: 'E_DRM',
      hint: 'castkit records clear and AES-128 streams only',
    });
  }
  const enc = seg.encryption;
  if (enc && enc.method !== 'AES-128') {
    throw new InputError(
      `segment ${seg.uri} is encrypted with ${enc.method}, which castkit does not decrypt`,
      {
        code: 'E_ENCRYPTION_UNSUPPORTED',
        hint: 'castkit decrypts METHOD=AES-128 (whole segments); SAMPLE-AES is not supported yet',
      },
    );
  }
  const out = recordSegmentOf(stream, seg);
  if (seg.gap) out.gap = true;
  if (seg.programDateTime !== undefined) out.programDateTime = seg.programDateTime;
  if (enc) out.aes = { keyUrl: enc.uri, iv: enc.iv };
  return out;
}

/** The SUBTITLES rendition for `want` (a language, or true: the default one) in the variant's group. */
function pickSubtitles(
  master: HlsMasterPlaylist,
  variant: HlsVariant,
  want: string | true,
): RecordSource['subtitles'] {
  const group = master.renditions.filter(
    (r) =>
      r.type === 'SUBTITLES' &&
      r.uri !== undefined &&
      (!variant.subtitlesGroup || r.groupId === variant.subtitlesGroup),
  );
  if (group.length === 0) return undefined;
  let r: HlsRendition | undefined;
  if (want === true) r = group.find((x) => x.default) ?? group.find((x) => x.autoselect) ?? group[0];
  else {
    const w = want.trim().toLowerCase();
    r =
      group.find((x) => x.language?.toLowerCase() === w) ??
      group.find((x) => x.language?.toLowerCase().split('-')[0] === w.split('-')[0]) ??
      group.find((x) => x.name.toLowerCase() === w);
    if (!r) {
      const have = group.map((x) => x.language ?? x.name).join(', ');
      throw new UsageError(`no subtitles in language "${want}"; available: ${have}`, {
        code: 'E_NO_SUBTITLES',
        hint: `choose one of: ${have}`,
      });
    }
  }
  if (!r?.uri) return undefined;
  const out: NonNullable<RecordSource['subtitles']> = { url: r.uri, name: r.name };
  if (r.language) out.language = r.language;
  return out;
}

function describeChoice(v: HlsVariant, audio: HlsRendition | undefined): string {
  const parts: string[] = [];
  if (v.resolution) parts.push(`${v.resolution.width}x${v.resolution.height}`);
  parts.push(`${(v.bandwidth / 1e6).toFixed(2)} Mbit/s`);
  if (v.codecs) parts.push(v.codecs);
  let s = parts.join(' ');
  if (audio) s += ` + audio ${audio.language ?? audio.name}`;
  return s;
}

function rows(
  master: HlsMasterPlaylist,
  chosen: HlsVariant,
  audio: HlsRendition | undefined,
): RenditionRow[] {
  const out: RenditionRow[] = master.variants.map((v, i) => {
    const r: RenditionRow = {
      type: v.audioOnly ? 'audio' : 'variant',
      id: String(i + 1),
      bandwidth: v.bandwidth,
      chosen: v === chosen,
    };
    if (v.resolution) r.resolution = `${v.resolution.width}x${v.resolution.height}`;
    if (v.codecs) r.codecs = v.codecs;
    return r;
  });
  for (const r of master.renditions) {
    const row: RenditionRow = {
      type: r.type === 'AUDIO' ? 'audio' : 'subtitles',
      id: `${r.groupId}/${r.name}`,
      name: r.name,
      default: r.default,
      chosen: r === audio,
    };
    if (r.language) row.language = r.language;
    out.push(row);
  }
  return out;
}
