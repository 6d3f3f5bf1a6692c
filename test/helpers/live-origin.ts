/**
 * Serves a stream fixture (stream-fixtures.ts) from the test HTTP origin, as it is (serveFixture) or as a
 * LIVE stream published in real time (startLiveOrigin), so the recorder can be tested against a live edge
 * that moves, a window that slides and an end that it must notice by itself.
 *
 * The clock: publishing starts with the first `initial` segments of the best video stream already out
 * (their span is the "initial span"); from then on the live edge, in media seconds, is
 * `initialSpan + elapsed * speed`, and a segment of any playlist/Representation is published once its end
 * time is at or before the edge (give or take PUBLISH_SLACK). When the edge reaches the end of the longest track, everything is published
 * and the stream ends: HLS media playlists get EXT-X-ENDLIST, the DASH MPD ends as chosen by `dashEnd`.
 *
 * HLS: the master playlist (if any) is served as is; every media playlist lists the last `window` published
 * segments, EXT-X-MEDIA-SEQUENCE (and EXT-X-DISCONTINUITY-SEQUENCE) advancing, with the EXT-X-KEY and
 * EXT-X-MAP in force re-stated at the top (RFC 8216 6.2.2). A segment file, key or init section answers
 * 404 until a segment that uses it is published.
 *
 * DASH (SegmentTemplate only: dash-timeline, dash-number): a dynamic MPD (ISO/IEC 23009-1 5.3.1.2 / DASH-IF
 * IOP 4.3) with availabilityStartTime = publish start - initial span, publishTime, minimumUpdatePeriod,
 * timeShiftBufferDepth = window * segment duration, and a UTCTiming (urn:mpeg:dash:utc:http-iso:2014) that
 * reports the publishing clock. With a SegmentTimeline the timeline lists only the window, @startNumber
 * being the number of its first S; with $Number$ + @duration the MPD does not change and the client works
 * the edge out from the clock. A media segment requested before it is published answers 404.
 *
 * The end of a DASH stream (dashEnd): 'static' (default) replaces the MPD by the whole on-demand MPD
 * (type="static", mediaPresentationDuration, no minimumUpdatePeriod, every segment listed and served): the
 * live-to-VOD transition of DASH-IF IOP 4.6.4, which dash.js and Shaka follow. 'dynamic' keeps
 * type="dynamic" and the sliding window but adds MPD@mediaPresentationDuration and drops
 * MPD@minimumUpdatePeriod: ISO/IEC 23009-1 5.4 (no minimumUpdatePeriod: the MPD will not change any more)
 * with the presentation's end known.
 *
 * `speed` scales the clock (2: twice as fast). The UTCTiming clock runs at that speed too, and so is ahead of
 * the wall clock; a client that reads the clock once and then counts wall-clock seconds, or that ignores
 * UTCTiming, computes an edge behind the real one, so it lags but never asks for a segment too early.
 */
import { readFileSync } from 'node:fs';
import { extname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { startOrigin, type Origin } from './http-origin.js';
import { packageFiles, type StreamFixture } from './stream-fixtures.js';

const TYPES: Record<string, string> = {
  '.m3u8': 'application/vnd.apple.mpegurl',
  '.mpd': 'application/dash+xml',
  '.ts': 'video/mp2t',
  '.m4s': 'video/iso.segment',
  '.mp4': 'video/mp4',
  '.m4a': 'audio/mp4',
  '.aac': 'audio/aac',
  '.key': 'application/octet-stream',
};

/** The Content-Type the origin gives a package file. */
export function contentType(path: string): string {
  return TYPES[extname(path)] ?? 'application/octet-stream';
}

function cleanPrefix(prefix: string): string {
  const p = prefix.replace(/\/+$/, '');
  return p.startsWith('/') ? p : `/${p}`;
}

/** Serve every file of the package under `prefix`, as it is (VOD). Returns the entry URL. */
export function serveFixture(origin: Origin, fixture: StreamFixture, prefix = '/vod'): string {
  const base = cleanPrefix(prefix);
  for (const rel of packageFiles(fixture)) {
    origin.route(`${base}/${rel}`, { file: join(fixture.dir, rel), type: contentType(rel) });
  }
  return origin.url(`${base}/${fixture.entry}`);
}

export interface LiveOriginOptions {
  /** Segments listed in an HLS media playlist; DASH timeShiftBufferDepth in segments. Default 4. */
  window?: number;
  /** Segments of the best video stream already published at the start. Default 2. */
  initial?: number;
  /** Clock speed: 2 publishes twice as fast as real time. Default 1. */
  speed?: number;
  /** URL prefix. Default '/live'. */
  prefix?: string;
  /**
   * Keep serving segments that have left the window, as a CDN does. Default true. When false they answer
   * 404 (for DASH, until a 'static' end lists them again).
   */
  keepExpired?: boolean;
  /** How a DASH stream ends; see the module comment. Default 'static'. */
  dashEnd?: 'static' | 'dynamic';
  /** Serve on this origin (left open by close()); by default a new one is started and closed by close(). */
  origin?: Origin;
}

export interface LiveOrigin {
  origin: Origin;
  /** The entry URL (master playlist, media playlist or MPD). */
  url: string;
  /** Resolves when everything is published (the playlists carry EXT-X-ENDLIST / the MPD has ended). */
  done: Promise<void>;
  /** Media segments of the best video stream published so far. */
  publishedSegments(): number;
  /** The live edge, in media seconds from the start of the stream. */
  edge(): number;
  /** Whether everything is published. */
  ended(): boolean;
  /** The publishing clock (ms since the epoch, runs at `speed`), as UTCTiming reports it. */
  now(): number;
  close(): Promise<void>;
}

/** A media segment of any track, with what it takes to publish it. */
interface Unit {
  /** End time in media seconds from the start of the stream. */
  end: number;
  /** Package-relative paths this segment needs (media, and for HLS its key and init section). */
  files: string[];
}

/** One track: an HLS media playlist or a DASH Representation. */
interface Track {
  units: Unit[];
  /** True for the best video track (the reference for `initial` and publishedSegments). */
  reference: boolean;
}

interface Clock {
  edge(): number;
  ended(): boolean;
  now(): number;
}

const EPS = 1e-6;
/**
 * A segment is published once its end is at most this far (media seconds) past the edge, so that an audio
 * segment whose boundary falls a few milliseconds after the video's (AAC frames do not divide 2 s) comes
 * out with the video segment of the same span instead of leaving its playlist empty at the start. It only
 * makes the origin more lenient than the availability times a DASH client computes, never stricter.
 */
export const PUBLISH_SLACK = 0.1;

function publishedCount(track: Track, clock: Clock): number {
  if (clock.ended()) return track.units.length;
  const edge = clock.edge() + PUBLISH_SLACK;
  let n = 0;
  while (n < track.units.length && (track.units[n]?.end ?? Infinity) <= edge) n++;
  return n;
}

/** The URI="..." attribute of a tag line. */
function uriAttr(line: string): string | undefined {
  return /URI="([^"]*)"/.exec(line)?.[1];
}

/** `uri` relative to the package-relative file `from`, as a package-relative path. */
function resolveIn(from: string, uri: string): string {
  return new URL(uri, `http://p/${from}`).pathname.slice(1);
}

// ---------------------------------------------------------------------------------------------- HLS

interface HlsSegment {
  /** EXTINF, explicit EXT-X-BYTERANGE and any other per-segment tags, in order. */
  tags: string[];
  uri: string;
  key?: string;
  map?: string;
  discontinuity: boolean;
  duration: number;
}

interface HlsMedia {
  path: string;
  version?: string;
  targetDuration: string;
  sequence: number;
  independent: boolean;
  segments: HlsSegment[];
}

/** An HLS media playlist (RFC 8216 4.3.2/4.3.3), kept as tag lines to write back. */
function parseMedia(path: string, text: string): HlsMedia {
  const media: HlsMedia = { path, targetDuration: '', sequence: 0, independent: false, segments: [] };
  let key: string | undefined;
  let map: string | undefined;
  let tags: string[] = [];
  let discontinuity = false;
  let duration = 0;
  let nextOffset = 0;
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (line === '' || line === '#EXTM3U') continue;
    const [tag] = line.split(':', 1);
    switch (tag) {
      case '#EXT-X-VERSION':
        media.version = line;
        break;
      case '#EXT-X-TARGETDURATION':
        media.targetDuration = line;
        break;
      case '#EXT-X-MEDIA-SEQUENCE':
        media.sequence = Number(line.slice(tag.length + 1));
        break;
      case '#EXT-X-INDEPENDENT-SEGMENTS':
        media.independent = true;
        break;
      case '#EXT-X-PLAYLIST-TYPE':
      case '#EXT-X-ENDLIST':
      case '#EXT-X-DISCONTINUITY-SEQUENCE':
        break; // written by the live view itself
      case '#EXT-X-KEY':
        key = /METHOD=NONE/.test(line) ? undefined : line;
        break;
      case '#EXT-X-MAP':
        map = line;
        break;
      case '#EXT-X-DISCONTINUITY':
        discontinuity = true;
        break;
      case '#EXT-X-BYTERANGE': {
        // Made explicit: the segment before it may not be listed any more.
        const [len, off] = line.slice(tag.length + 1).split('@');
        const start = off === undefined ? nextOffset : Number(off);
        nextOffset = start + Number(len);
        tags.push(`#EXT-X-BYTERANGE:${len}@${start}`);
        break;
      }
      case '#EXTINF':
        duration = parseFloat(line.slice(tag.length + 1));
        tags.push(line);
        break;
      default:
        if (line.startsWith('#')) {
          if (line.startsWith('#EXT')) tags.push(line);
          break;
        }
        media.segments.push({
          tags,
          uri: line,
          ...(key ? { key } : {}),
          ...(map ? { map } : {}),
          discontinuity,
          duration,
        });
        tags = [];
        discontinuity = false;
        duration = 0;
    }
  }
  if (media.segments.length === 0) throw new Error(`${path}: no media segments`);
  return media;
}

/** The media playlists a master lists (variants and renditions), package-relative, and the best variant. */
function parseMaster(path: string, text: string): { playlists: string[]; best: string } {
  const playlists: string[] = [];
  let best: { bandwidth: number; uri: string } | undefined;
  let pendingBandwidth: number | undefined;
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (line.startsWith('#EXT-X-STREAM-INF:')) {
      pendingBandwidth = Number(/[:,]BANDWIDTH=(\d+)/.exec(line)?.[1] ?? 0);
    } else if (line.startsWith('#EXT-X-MEDIA:') || line.startsWith('#EXT-X-I-FRAME-STREAM-INF:')) {
      const uri = uriAttr(line);
      if (uri !== undefined && line.startsWith('#EXT-X-MEDIA:')) playlists.push(resolveIn(path, uri));
    } else if (line !== '' && !line.startsWith('#') && pendingBandwidth !== undefined) {
      const uri = resolveIn(path, line);
      playlists.push(uri);
      if (!best || pendingBandwidth > best.bandwidth) best = { bandwidth: pendingBandwidth, uri };
      pendingBandwidth = undefined;
    }
  }
  if (!best) throw new Error(`${path}: no variant streams`);
  return { playlists: [...new Set(playlists)], best: best.uri };
}

function renderMedia(m: HlsMedia, from: number, to: number, ended: boolean): string {
  const out = ['#EXTM3U'];
  if (m.version) out.push(m.version);
  out.push(m.targetDuration);
  if (m.independent) out.push('#EXT-X-INDEPENDENT-SEGMENTS');
  out.push(`#EXT-X-MEDIA-SEQUENCE:${m.sequence + from}`);
  // RFC 8216 6.2.2: the discontinuity sequence counts the EXT-X-DISCONTINUITY tags that left the playlist.
  const dsn = m.segments.slice(0, from).filter((s) => s.discontinuity).length;
  if (dsn > 0) out.push(`#EXT-X-DISCONTINUITY-SEQUENCE:${dsn}`);
  let key: string | undefined;
  let map: string | undefined;
  for (let i = from; i < to; i++) {
    const s = m.segments[i];
    if (!s) break;
    if (s.discontinuity && i > from) out.push('#EXT-X-DISCONTINUITY');
    if (s.key !== key) out.push(s.key ?? '#EXT-X-KEY:METHOD=NONE');
    if (s.map !== undefined && s.map !== map) out.push(s.map);
    key = s.key;
    map = s.map;
    out.push(...s.tags, s.uri);
  }
  if (ended) out.push('#EXT-X-ENDLIST');
  return out.join('\n') + '\n';
}

// --------------------------------------------------------------------------------------------- DASH

interface DashRep {
  id: string;
  bandwidth: number;
  video: boolean;
  timeline: boolean;
  startNumber: number;
  timescale: number;
  /** [t, d] per segment in timescale units. */
  segments: [number, number][];
  files: string[];
}

function attr(attrs: string, name: string): string | undefined {
  return new RegExp(`(?:^|\\s)${name}="([^"]*)"`).exec(attrs)?.[1];
}

/** ISO/IEC 23009-1 5.3.9.4.4 template identifiers: $RepresentationID$, $Number%05d$, $Time$, $$... */
function expandTemplate(template: string, values: Record<string, string | number>): string {
  return template.replace(/\$(\w*)(?:%0(\d+)d)?\$/g, (all, name: string, width: string | undefined) => {
    if (name === '') return '$';
    const v = values[name];
    if (v === undefined) throw new Error(`template ${template}: no value for ${all}`);
    return width ? String(v).padStart(Number(width), '0') : String(v);
  });
}

function parseDash(fixture: StreamFixture, text: string): DashRep[] {
  const reps: DashRep[] = [];
  const present = new Set(packageFiles(fixture));
  for (const m of text.matchAll(/<Representation\s([^>]*)>([\s\S]*?)<\/Representation>/g)) {
    const [, attrs = '', body = ''] = m;
    const id = attr(attrs, 'id') ?? '';
    const tpl = /<SegmentTemplate\s([^>]*?)\/?>/.exec(body)?.[1];
    if (tpl === undefined) {
      throw new Error(`${fixture.name}: Representation ${id} has no SegmentTemplate; live DASH needs one`);
    }
    const timescale = Number(attr(tpl, 'timescale') ?? 1);
    const startNumber = Number(attr(tpl, 'startNumber') ?? 1);
    const media = attr(tpl, 'media') ?? '';
    const bandwidth = Number(attr(attrs, 'bandwidth') ?? 0);
    const values = (n: number, t: number): Record<string, string | number> => ({
      RepresentationID: id,
      Bandwidth: bandwidth,
      Number: n,
      Time: t,
    });
    const segments: [number, number][] = [];
    const timeline = /<SegmentTimeline>([\s\S]*?)<\/SegmentTimeline>/.exec(body)?.[1];
    if (timeline !== undefined) {
      let t = 0;
      for (const s of timeline.matchAll(/<S\s([^>]*?)\/>/g)) {
        const sa = s[1] ?? '';
        const st = attr(sa, 't');
        if (st !== undefined) t = Number(st);
        const d = Number(attr(sa, 'd'));
        const r = Number(attr(sa, 'r') ?? 0);
        if (r < 0) throw new Error(`${fixture.name}: negative S@r is not supported here`);
        for (let i = 0; i <= r; i++, t += d) segments.push([t, d]);
      }
    } else {
      const d = Number(attr(tpl, 'duration'));
      // Every numbered file that exists (ffmpeg may write one more than @duration addresses).
      for (let n = startNumber; present.has(expandTemplate(media, values(n, (n - startNumber) * d))); n++) {
        segments.push([(n - startNumber) * d, d]);
      }
    }
    const files = segments.map(([t], i) => expandTemplate(media, values(startNumber + i, t)));
    const missing = files.find((f) => !present.has(f));
    if (missing)
      throw new Error(`${fixture.name}: Representation ${id} lists ${missing}, not in the package`);
    reps.push({
      id,
      bandwidth,
      video: /\swidth="/.test(` ${attrs}`),
      timeline: timeline !== undefined,
      startNumber,
      timescale,
      segments,
      files,
    });
  }
  if (reps.length === 0) throw new Error(`${fixture.name}: no Representation in the MPD`);
  return reps;
}

/** MPD@mediaPresentationDuration in seconds (xs:duration, hours/minutes/seconds only). */
function mpdDuration(text: string): number | undefined {
  const v = /<MPD\b[^>]*\smediaPresentationDuration="([^"]*)"/.exec(text)?.[1];
  const m = v === undefined ? null : /^PT(?:(\d+)H)?(?:(\d+)M)?(?:([\d.]+)S)?$/.exec(v);
  if (!m) return undefined;
  return Number(m[1] ?? 0) * 3600 + Number(m[2] ?? 0) * 60 + Number(m[3] ?? 0);
}

function duration(seconds: number): string {
  return `PT${Number(seconds.toFixed(3))}S`;
}

/** S elements for segments [from, to), runs of equal d folded into @r (ISO/IEC 23009-1 5.3.9.6). */
function timelineXml(rep: DashRep, from: number, to: number, indent: string): string {
  const lines: string[] = [];
  let i = from;
  while (i < to) {
    const [t, d] = rep.segments[i] ?? [0, 0];
    let r = 0;
    while (i + r + 1 < to && rep.segments[i + r + 1]?.[1] === d) r++;
    lines.push(`${indent}<S ${i === from ? `t="${t}" ` : ''}d="${d}"${r > 0 ? ` r="${r}"` : ''} />`);
    i += r + 1;
  }
  return lines.join('\n');
}

// ------------------------------------------------------------------------------------------- origin

/** Publish `fixture` as a live stream; see the module comment. */
export async function startLiveOrigin(
  fixture: StreamFixture,
  options: LiveOriginOptions = {},
): Promise<LiveOrigin> {
  const window = options.window ?? 4;
  const initial = options.initial ?? 2;
  const speed = options.speed ?? 1;
  const keepExpired = options.keepExpired ?? true;
  const dashEnd = options.dashEnd ?? 'static';
  if (!(window >= 1) || !(initial >= 1) || !(speed > 0)) {
    throw new Error(`live origin: window ${window}, initial ${initial} and speed ${speed} must be positive`);
  }
  const base = cleanPrefix(options.prefix ?? '/live');
  const read = (rel: string): string => readFileSync(join(fixture.dir, rel), 'utf8');

  // Tracks and, per package file, the segments that need it.
  const tracks: Track[] = [];
  const users = new Map<string, { track: Track; index: number }[]>();
  const use = (file: string, track: Track, index: number): void => {
    const list = users.get(file) ?? [];
    list.push({ track, index });
    users.set(file, list);
  };
  const playlists = new Map<string, { media: HlsMedia; track: Track }>();
  let dash: { text: string; reps: { rep: DashRep; track: Track }[] } | undefined;

  if (fixture.kind === 'hls') {
    const entryText = read(fixture.entry);
    const isMedia = /^#EXTINF:/m.test(entryText);
    const master = isMedia ? undefined : parseMaster(fixture.entry, entryText);
    for (const path of master?.playlists ?? [fixture.entry]) {
      const media = parseMedia(path, read(path));
      const track: Track = { units: [], reference: path === (master?.best ?? fixture.entry) };
      playlists.set(path, { media, track });
      let end = 0;
      media.segments.forEach((s, i) => {
        end += s.duration;
        const files = [resolveIn(path, s.uri)];
        for (const tag of [s.key, s.map]) {
          const uri = tag === undefined ? undefined : uriAttr(tag);
          if (uri !== undefined) files.push(resolveIn(path, uri));
        }
        track.units.push({ end, files });
        for (const f of files) use(f, track, i);
      });
      tracks.push(track);
    }
  } else {
    const text = read(fixture.entry);
    const reps = parseDash(fixture, text);
    const best = reps.filter((r) => r.video).sort((a, b) => b.bandwidth - a.bandwidth)[0] ?? reps[0];
    dash = { text, reps: [] };
    for (const rep of reps) {
      const track: Track = {
        reference: rep === best,
        units: rep.segments.map(([t, d], i) => ({
          end: (t + d) / rep.timescale,
          files: [rep.files[i] ?? ''],
        })),
      };
      track.units.forEach((u, i) => u.files.forEach((f) => use(f, track, i)));
      tracks.push(track);
      dash.reps.push({ rep, track });
    }
  }

  const reference = tracks.find((t) => t.reference) ?? tracks[0];
  if (!reference) throw new Error(`${fixture.name}: nothing to publish`);
  if (initial > reference.units.length) {
    throw new Error(
      `initial ${initial} is more than the ${reference.units.length} segments of ${fixture.name}`,
    );
  }
  const initialSpan = reference.units[initial - 1]?.end ?? 0;
  // A Representation addressed by @duration may have a file past the presentation's end (ffmpeg writes the
  // audio tail after the last video fragment as one more segment): the MPD's duration is the end then.
  const declared = dash ? mpdDuration(dash.text) : undefined;
  const longest = Math.max(...tracks.map((t) => t.units.at(-1)?.end ?? 0));
  const total = declared !== undefined ? Math.min(declared, longest) : longest;

  const startWall = Date.now();
  const startMono = performance.now();
  const elapsed = (): number => ((performance.now() - startMono) / 1000) * speed;
  const clock: Clock = {
    edge: () => Math.min(total, initialSpan + elapsed()),
    ended: () => initialSpan + elapsed() >= total - EPS,
    now: () => startWall + elapsed() * 1000,
  };
  /** availabilityStartTime: when, on the publishing clock, media time 0 was live. */
  const ast = startWall - initialSpan * 1000;

  const windowStart = (track: Track): number => Math.max(0, publishedCount(track, clock) - window);
  const staticEnd = (): boolean => dash !== undefined && dashEnd === 'static' && clock.ended();
  const available = (file: string): boolean => {
    const list = users.get(file);
    if (!list) return true; // init segments, the master playlist: there from the start
    return list.some(
      ({ track, index }) =>
        index < publishedCount(track, clock) && (keepExpired || staticEnd() || index >= windowStart(track)),
    );
  };

  const origin = options.origin ?? (await startOrigin());
  const ownOrigin = options.origin === undefined;
  const noCache = { 'cache-control': 'no-cache' };

  for (const rel of packageFiles(fixture)) {
    const path = `${base}/${rel}`;
    const hls = playlists.get(rel);
    if (hls) {
      const { media, track } = hls;
      origin.route(path, {
        dynamic: () => {
          const to = publishedCount(track, clock);
          return {
            body: renderMedia(media, Math.max(0, to - window), to, clock.ended()),
            type: contentType(rel),
            headers: noCache,
          };
        },
      });
    } else if (dash && rel === fixture.entry) {
      const d = dash;
      origin.route(path, {
        dynamic: () => ({ body: renderMpd(d), type: contentType(rel), headers: noCache }),
      });
    } else {
      origin.route(path, {
        file: join(fixture.dir, rel),
        type: contentType(rel),
        available: () => available(rel),
      });
    }
  }
  const utcPath = `${base}/utc`;
  origin.route(utcPath, {
    dynamic: () => ({ body: new Date(clock.now()).toISOString(), type: 'text/plain', headers: noCache }),
  });

  function renderMpd(d: NonNullable<typeof dash>): string {
    const ended = clock.ended();
    if (ended && dashEnd === 'static') return d.text;
    const segmentSeconds = fixture.segmentSeconds;
    let text = d.text.replace(/<MPD\b[^>]*>/, (open) => {
      let o = open
        .replace(/\s+mediaPresentationDuration="[^"]*"/, '')
        .replace('type="static"', 'type="dynamic"');
      const added = [
        `availabilityStartTime="${new Date(ast).toISOString()}"`,
        `publishTime="${new Date(clock.now()).toISOString()}"`,
        `timeShiftBufferDepth="${duration(window * segmentSeconds)}"`,
        ended
          ? `mediaPresentationDuration="${duration(total)}"`
          : `minimumUpdatePeriod="${duration(segmentSeconds / speed)}"`,
      ];
      o = o.replace(/>$/, `\n\t${added.join('\n\t')}>`);
      return o;
    });
    text = text.replace(/<Representation\s([^>]*)>([\s\S]*?)<\/Representation>/g, (all, attrs: string) => {
      const entry = d.reps.find((r) => r.rep.id === attr(attrs, 'id'));
      if (!entry?.rep.timeline) return all;
      const to = publishedCount(entry.track, clock);
      const from = Math.max(0, to - window);
      return all
        .replace(
          /(<SegmentTemplate\s[^>]*?)startNumber="\d+"/,
          `$1startNumber="${entry.rep.startNumber + from}"`,
        )
        .replace(
          /(<SegmentTimeline>\s*\n)([\s\S]*?)(\n?\s*<\/SegmentTimeline>)/,
          (_m, open: string, _body: string, close: string) =>
            `${open}${timelineXml(entry.rep, from, to, '\t\t\t\t\t\t')}${close}`,
        );
    });
    const utc = `\t<UTCTiming schemeIdUri="urn:mpeg:dash:utc:http-iso:2014" value="${origin.url(utcPath)}" />\n`;
    return text.replace(/<\/MPD>/, `${utc}</MPD>`);
  }

  let resolveDone!: () => void;
  let rejectDone!: (e: Error) => void;
  const done = new Promise<void>((resolve, reject) => {
    resolveDone = resolve;
    rejectDone = reject;
  });
  done.catch(() => undefined); // closing early rejects it; that must not be an unhandled rejection
  let timer: NodeJS.Timeout | undefined;
  const check = (): void => {
    if (clock.ended()) {
      timer = undefined;
      resolveDone();
      return;
    }
    const left = (total - clock.edge()) / speed;
    timer = setTimeout(check, Math.max(1, Math.ceil(left * 1000)));
  };
  check();

  return {
    origin,
    url: origin.url(`${base}/${fixture.entry}`),
    done,
    publishedSegments: () => publishedCount(reference, clock),
    edge: () => clock.edge(),
    ended: () => clock.ended(),
    now: () => clock.now(),
    close: async () => {
      if (timer) clearTimeout(timer);
      timer = undefined;
      rejectDone(new Error('live origin closed before everything was published'));
      if (ownOrigin) await origin.close();
      else for (const rel of [...packageFiles(fixture), 'utc']) origin.remove(`${base}/${rel}`);
    },
  };
}
