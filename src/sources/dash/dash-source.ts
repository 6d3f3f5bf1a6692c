/**
 * The DASH loader (ISO/IEC 23009-1): parses the MPD, picks a video and an audio representation in every
 * period, expands their segments (SegmentTemplate with $Number$/$Time$ and SegmentTimeline, SegmentList,
 * SegmentBase after fetching its sidx), concatenates the periods, and for dynamic MPDs reloads the MPD
 * (5.4.1) and hands out the segments that became available, reporting any that left the time-shift buffer
 * before they could be fetched. Parsing is formats/dash; fetching (with retries) is the context's.
 */
import { InputError, UsageError } from '../../core/errors.js';
import {
  concatPeriods,
  dashLiveWindow,
  dashRefreshDelayMs,
  parseMpd,
  parseSidx,
  pickAudio,
  pickRepresentation,
  representationSegments,
  segmentsFromSidx,
  type DashManifest,
  type DashRepresentation,
  type DashSegment,
  type DashSegmentList,
} from '../../formats/dash/index.js';
import { assertSafeUris } from '../hls/hls-source.js';
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

interface DashStream {
  name: StreamName;
  kind: 'video' | 'audio';
  taken: Set<string>;
  /** End of the last segment handed out, seconds in the presentation timeline. */
  lastEnd?: number;
  /** SegmentBase: sidx-expanded lists by representation, fetched once. */
  sidx: Map<string, DashSegmentList>;
}

const EPS = 1e-3;

export async function openDashSource(
  text: string,
  url: string,
  ctx: SourceContext,
  options: SourceOptions,
): Promise<RecordSource> {
  let mpd = parseMpd(text, url);
  assertSafeUris(mpd.unsafeUris, ctx.allowLocal, `the MPD ${url}`);
  if (mpd.periods.length === 0)
    throw new InputError(`the MPD ${url} has no periods`, { code: 'E_DASH_EMPTY' });
  const firstPeriod = mpd.periods[0];
  const sets = firstPeriod?.adaptationSets ?? [];
  const protectedSet = sets.find((s) => s.contentProtection.length > 0);
  if (protectedSet) {
    throw new InputError(
      `the MPD ${url} is protected by DRM (${protectedSet.contentProtection.join(', ')})`,
      {
        code: 'E_DRM',
        hint: 'castkit records clear DASH streams only',
      },
    );
  }
  const hasVideo = sets.some((s) => s.contentType === 'video' && s.representations.length > 0);
  const hasAudio = sets.some((s) => s.contentType === 'audio' && s.representations.length > 0);
  if (!hasVideo && !hasAudio) {
    throw new InputError(`the MPD ${url} has no video or audio representations`, { code: 'E_DASH_EMPTY' });
  }
  if (!hasAudio && options.audioLang !== undefined) {
    throw new UsageError(`the MPD has no audio to choose "${options.audioLang}" from`, {
      code: 'E_NO_SUCH_AUDIO',
    });
  }
  const streams: DashStream[] = [];
  const mk = (name: StreamName, kind: 'video' | 'audio'): DashStream => ({
    name,
    kind,
    taken: new Set(),
    sidx: new Map(),
  });
  if (hasVideo && hasAudio) streams.push(mk('video', 'video'), mk('audio', 'audio'));
  else streams.push(mk('main', hasVideo ? 'video' : 'audio'));

  const choose = (
    m: DashManifest,
    stream: DashStream,
    periodIndex: number,
  ): DashRepresentation | undefined => {
    const p = m.periods[periodIndex];
    if (!p) return undefined;
    if (stream.kind === 'video') {
      if (!p.adaptationSets.some((s) => s.contentType === 'video')) return undefined;
      return pickRepresentation(p.adaptationSets, 'video', options.quality ?? 'best');
    }
    return pickAudio(p.adaptationSets, options.audioLang, 'best');
  };

  const listsOf = async (
    m: DashManifest,
    stream: DashStream,
    signal?: AbortSignal,
  ): Promise<DashSegmentList[]> => {
    const lists: DashSegmentList[] = [];
    for (const p of m.periods) {
      const rep = choose(m, stream, p.index);
      if (!rep) continue;
      let list = representationSegments(m, rep, { now: Date.now() });
      if (list.index) {
        const cacheKey = `${p.index}/${rep.id}`;
        let expanded = stream.sidx.get(cacheKey);
        if (!expanded) {
          const res = await ctx.fetchManifest(list.index.uri, { signal, range: list.index.byteRange });
          const sidx = parseSidx(new Uint8Array(res.body), list.index.byteRange.offset);
          expanded = segmentsFromSidx(m, rep, list, sidx);
          stream.sidx.set(cacheKey, expanded);
        }
        list = expanded;
      }
      lists.push(list);
    }
    return lists;
  };

  const describe = (): { chosen: string; renditions: RenditionRow[] } => {
    const parts: string[] = [];
    const chosenIds = new Set<string>();
    for (const s of streams) {
      const rep = choose(mpd, s, 0);
      if (!rep) continue;
      chosenIds.add(rep.id);
      parts.push(
        s.kind === 'video'
          ? `${rep.width ?? '?'}x${rep.height ?? '?'} ${(rep.bandwidth / 1e6).toFixed(2)} Mbit/s ${rep.codecs ?? ''}`.trim()
          : `audio ${rep.lang ?? rep.id} ${rep.codecs ?? ''}`.trim(),
      );
    }
    const renditions: RenditionRow[] = [];
    for (const set of sets) {
      for (const rep of set.representations) {
        const kind =
          set.contentType === 'video' ? 'video' : set.contentType === 'audio' ? 'audio' : 'subtitles';
        const row: RenditionRow = {
          type: kind,
          id: rep.id,
          bandwidth: rep.bandwidth,
          chosen: chosenIds.has(rep.id),
        };
        if (rep.width && rep.height) row.resolution = `${rep.width}x${rep.height}`;
        if (rep.codecs) row.codecs = rep.codecs;
        const lang = rep.lang ?? set.lang;
        if (lang) row.language = lang;
        if (set.label) row.name = set.label;
        renditions.push(row);
      }
    }
    return { chosen: parts.join(' + '), renditions };
  };

  const live = mpd.type === 'dynamic';
  let started = false;
  const { chosen, renditions } = describe();
  // The first period's: one output track cannot change its language midway.
  const languages: StreamLanguages = {};
  for (const s of streams) {
    const lang = choose(mpd, s, 0)?.lang;
    if (lang !== undefined) languages[s.name] = { [s.kind]: lang };
  }
  const source: RecordSource = {
    kind: 'dash',
    live,
    streams: streams.map((s) => s.name),
    chosen,
    renditions,
    languages,
    next: async (signal) => {
      if (started && live) {
        const res = await ctx.fetchManifest(mpd.location ?? mpd.url, { signal });
        mpd = parseMpd(res.body.toString('utf8'), res.url);
        assertSafeUris(mpd.unsafeUris, ctx.allowLocal, `the MPD ${res.url}`);
      }
      const segments: RecordSegment[] = [];
      const missed: MissedSpan[] = [];
      let edgeLag = 0;
      const listed = [];
      for (const s of streams) {
        const lists = await listsOf(mpd, s, signal);
        listed.push({ s, lists, all: concatPeriods(lists) });
      }
      if (!started && mpd.type === 'dynamic') {
        // The first window starts at one time for every stream: each stream's own window (its edge less
        // the delay) may begin a segment apart from another's, and the recording would then start its
        // audio and video at different times of the presentation (found by hand: 2 s apart).
        let common = -Infinity;
        for (const l of listed) {
          const last = l.lists[l.lists.length - 1];
          if (!last) continue;
          l.all = dashLiveWindow(
            mpd,
            { ...last, segments: l.all },
            { fromStart: options.fromStart },
          ).segments;
          const first = l.all[0];
          if (first) common = Math.max(common, first.start);
        }
        for (const l of listed) {
          // From the segment that starts nearest the common start: the streams then start within half a
          // segment of each other (their segments need not share boundaries: AAC frames do not fall on
          // the video's).
          let from = -1;
          for (let i = 0; i < l.all.length; i++) {
            const d = Math.abs((l.all[i] as DashSegment).start - common);
            if (from < 0 || d < Math.abs((l.all[from] as DashSegment).start - common) - EPS) from = i;
          }
          if (from > 0) l.all = l.all.slice(from);
        }
      }
      for (const { s, lists, all } of listed) {
        const fresh = all.filter(
          (seg) => !s.taken.has(seg.key) && (s.lastEnd === undefined || seg.start >= s.lastEnd - EPS),
        );
        const first = fresh[0];
        if (first && s.lastEnd !== undefined && first.start > s.lastEnd + Math.max(0.5, first.duration / 2)) {
          const seconds = first.start - s.lastEnd;
          missed.push({ stream: s.name, count: Math.max(1, Math.round(seconds / first.duration)), seconds });
        }
        for (const seg of fresh) {
          s.taken.add(seg.key);
          s.lastEnd = seg.start + seg.duration;
          segments.push(recordSegmentOf(s.name, seg));
        }
        const edge = lists[lists.length - 1]?.liveEdge;
        if (edge !== undefined && s.lastEnd !== undefined) edgeLag = Math.max(edgeLag, edge - s.lastEnd);
      }
      started = true;
      segments.sort(
        (a, b) => a.start - b.start || (a.stream === 'audio' ? 1 : 0) - (b.stream === 'audio' ? 1 : 0),
      );
      const ended = mpd.type === 'static' || dashRefreshDelayMs(mpd) === undefined;
      const batch: SourceBatch = { segments, missed, ended };
      if (!ended) batch.refreshMs = dashRefreshDelayMs(mpd);
      if (live) batch.edgeLagSec = edgeLag;
      return batch;
    },
  };
  if (!live) {
    const total =
      mpd.mediaPresentationDuration ??
      mpd.periods.reduce((n, p) => Math.max(n, p.start + (p.duration ?? 0)), 0);
    if (total > 0) source.totalSec = total;
  }
  return source;
}
