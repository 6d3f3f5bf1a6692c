import { existsSync } from 'node:fs';
import { basename, dirname, extname, join } from 'node:path';
import { InputError, InterruptedError, NetworkError, UsageError, isCastkitError } from '../core/errors.js';
import type { Cookie } from '../download/cookies.js';
import { journalPathFor } from '../download/journal.js';
import type { HttpClient } from '../download/http-client.js';
import type { RetryPolicy } from '../download/retry-policy.js';
import { openHlsSource } from '../sources/hls/hls-source.js';
import type { RecordSource, RenditionRow, SourceContext } from '../sources/record-source.js';
import {
  UMS_LP_TEMPLATE,
  UMS_WS_TEMPLATE,
  UmsSession,
  longPollHls,
  staticFeed,
  umsUrlFor,
  type UmsState,
} from '../sources/ustream/ums-client.js';
import {
  DEFAULT_REGISTRATION,
  UstreamSite,
  type UstreamRegistration,
  type UstreamVideo,
} from '../sources/ustream/ustream-site.js';
import { openUstreamSource, type UstreamFormatName } from '../sources/ustream/ustream-source.js';
import {
  channelIdFromPage,
  idsFromUrl,
  isUstreamUrl,
  type UmsApplication,
} from '../sources/ustream/ustream-url.js';
import { createRecordContext, type OpenedSource } from './record-open.js';
import { recordOpened } from './record.js';
import { refuseFinishedOutput } from './record-existing.js';
import type { RecordFormat, RecordOptions, RecordResult } from './record-types.js';

export { isUstreamUrl } from '../sources/ustream/ustream-url.js';
export type { UstreamRegistration, UstreamVideo } from '../sources/ustream/ustream-site.js';
export type { UmsApplication } from '../sources/ustream/ustream-url.js';

export interface UstreamOptions {
  /**
   * The UMS endpoint: `ws(s)://` for the websocket session (default: the real host template
   * `wss://r{random}-1-{media}-{application}-wss-live.ums.ustream.tv/1/ustream`), `http(s)://` for the
   * long-poll variant (its HLS playlist recorded as HLS). `{random}`, `{media}` and `{application}` are
   * filled in.
   */
  umsUrl?: string;
  /** Which session to open (default: long-poll for an http(s) umsUrl, else websocket). */
  umsTransport?: 'websocket' | 'long-poll';
  /** The registration form's values (default: dummies). */
  register?: Partial<UstreamRegistration>;
  /**
   * The recorded video to take, by id (`--video`); default: the URL's video, else the channel live, else
   * its newest video.
   */
  video?: string;
  /** Password of a protected channel (sent in connect). */
  password?: string;
  /** flv/segmented (default when offered) or mp4/segmented. FLV output needs flv. */
  streamFormat?: UstreamFormatName;
  /** Live: reconnections of a lost UMS session in a row before the recording ends (default 5). */
  maxReconnects?: number;
}

export type UstreamRecordOptions = RecordOptions & UstreamOptions;
export type UstreamListOptions = Omit<RecordOptions, 'output'> & UstreamOptions;

/** What was recorded: a recorded video, or a channel's live broadcast. */
export interface UstreamMedia {
  id: string;
  application: UmsApplication;
  channelId?: string;
}

export interface UstreamRecordResult extends Omit<RecordResult, 'kind'> {
  /** 'hls' when the session offered an HLS playlist (long-poll) and that was recorded. */
  kind: 'ustream' | 'hls';
  media: UstreamMedia;
  streamFormat: 'flv/segmented' | 'mp4/segmented' | 'hls';
  /** Chunks of a recorded video (the whole last hash range included). */
  chunks?: number;
}

export interface UstreamListing {
  url: string;
  channelId?: string;
  /** Every video of the channel's content listing, in the site's order, with its id. */
  videos: UstreamVideo[];
  /** For a channel page: whether it is broadcasting now (undefined with --video or a video URL). */
  channelLive?: boolean;
  /** The video (--video, or the URL's) or the live channel, with what castkit would record of it. */
  media?: UstreamMedia & {
    live: boolean;
    formats: string[];
    streamFormat: string;
    chosen: string;
    renditions: RenditionRow[];
    durationSec?: number;
    chunks?: number;
  };
}

/**
 * `--register name=..,email=..,company=..,role=..,phone=..` as values (a value may contain commas).
 * @example parseRegistration('name=Ada,company=Acme, Inc.') // { name: 'Ada', company: 'Acme, Inc.' }
 */
export function parseRegistration(text: string): Partial<UstreamRegistration> {
  const out: Partial<UstreamRegistration> = {};
  const keys = ['name', 'email', 'company', 'role', 'phone'] as const;
  for (const part of text.split(/,(?=\s*[a-z]+\s*=)/i)) {
    const eq = part.indexOf('=');
    const key = (eq < 0 ? part : part.slice(0, eq)).trim().toLowerCase();
    if (!(keys as readonly string[]).includes(key)) {
      throw new UsageError(`--register: unknown field "${key}"`, {
        code: 'E_USAGE',
        hint: `write it as ${keys.map((k) => `${k}=...`).join(',')}`,
      });
    }
    out[key as (typeof keys)[number]] = part.slice(eq + 1).trim();
  }
  return out;
}

/** The output of one video of `--all`: `show.mp4` -> `show-<id>.mp4`. */
export function ustreamOutputPath(output: string, videoId: string): string {
  const ext = extname(output);
  return join(dirname(output), `${basename(output, ext)}-${videoId}${ext}`);
}

/**
 * Record a ustream / IBM Video Streaming page: the recorded video it names (or `video`), else the
 * channel's live broadcast, else the channel's newest video. Chunks through the download engine (parallel,
 * retried, journaled, no silent gaps), into an MP4 (FLV chunks demuxed and muxed natively, mp4/segmented
 * video and audio muxed side by side) or, for `-o out.flv`, one joined FLV. No ffmpeg.
 * @example
 *   await recordUstream('https://www.ustream.tv/channel/12345', { output: 'show.mp4', video: '98765' });
 */
export async function recordUstream(
  pageUrl: string,
  options: UstreamRecordOptions,
): Promise<UstreamRecordResult> {
  const format = outputFormat(options);
  refuseFinishedOutput(options.output, options.overwrite);
  const c = await openContext(pageUrl, options);
  try {
    const page = await resolvePage(c);
    const media = await chooseMedia(c, page);
    return await recordMedia(c, media, options, format);
  } finally {
    await c.client.close().catch(() => undefined);
  }
}

/**
 * `--all`: every video of the channel's listing, each into its own file (`ustreamOutputPath`). A video that
 * fails does not stop the others; the error at the end lists them (with the results in `details`).
 */
export async function recordUstreamAll(
  pageUrl: string,
  options: UstreamRecordOptions,
): Promise<UstreamRecordResult[]> {
  const format = outputFormat(options);
  const c = await openContext(pageUrl, options);
  try {
    const page = await resolvePage(c);
    if (!page.channelId) {
      throw new InputError(`${pageUrl} names no channel, so there is no listing to record all of`, {
        code: 'E_USTREAM_NO_CHANNEL',
        hint: 'give the channel page URL',
      });
    }
    const videos = await listVideos(c, page.channelId);
    if (videos.length === 0) {
      throw new InputError(`channel ${page.channelId} lists no videos`, { code: 'E_USTREAM_NO_VIDEOS' });
    }
    const results: UstreamRecordResult[] = [];
    const failures: { video: string; code: string; message: string }[] = [];
    for (const v of videos) {
      const output = ustreamOutputPath(options.output, v.id);
      // Outputs appear only when complete (written under a temporary name, then renamed): a file without a
      // journal beside it is a finished recording of an earlier run.
      if (!options.overwrite && existsSync(output) && !existsSync(journalPathFor(output))) {
        options.onNotice?.(
          `video ${v.id}: ${output} is already recorded; skipped (delete it to record again)`,
        );
        continue;
      }
      try {
        const media: UstreamMedia = { id: v.id, application: 'recorded', channelId: page.channelId };
        results.push(await recordMedia(c, media, { ...options, output }, format));
      } catch (err) {
        if (err instanceof InterruptedError || options.signal?.aborted) throw err;
        const code = isCastkitError(err) ? err.code : 'E_INTERNAL';
        const message = err instanceof Error ? err.message : String(err);
        failures.push({ video: v.id, code, message });
        options.onNotice?.(`video ${v.id} failed: ${message}`);
      }
    }
    if (failures.length > 0) {
      const Err = failures.every((f) => f.code.startsWith('E_USTREAM')) ? InputError : NetworkError;
      throw new Err(
        `${failures.length} of ${videos.length} videos of channel ${page.channelId} could not be recorded: ${failures
          .map((f) => `${f.video} (${f.message})`)
          .slice(0, 5)
          .join('; ')}`,
        {
          code: 'E_USTREAM_SOME_FAILED',
          retryable: false,
          hint: 'run the same command again: the videos already recorded are skipped, the others resume from their journals',
          details: { results, failures },
        },
      );
    }
    return results;
  } finally {
    await c.client.close().catch(() => undefined);
  }
}

/** The channel's videos (with ids) and, for a video or a live channel, the renditions castkit would take. */
export async function listUstream(
  pageUrl: string,
  options: UstreamListOptions = {},
): Promise<UstreamListing> {
  const c = await openContext(pageUrl, options);
  try {
    const page = await resolvePage(c);
    const listing: UstreamListing = { url: pageUrl, videos: [] };
    if (page.channelId) {
      listing.channelId = page.channelId;
      listing.videos = await listVideos(c, page.channelId);
    }
    const videoId = options.video ?? page.videoId;
    let media: UstreamMedia | undefined;
    if (videoId)
      media = {
        id: videoId,
        application: 'recorded',
        ...(page.channelId ? { channelId: page.channelId } : {}),
      };
    else if (page.channelId)
      media = { id: page.channelId, application: 'channel', channelId: page.channelId };
    if (!media) return listing;
    let opened: OpenedMedia;
    try {
      opened = await openMedia(c, media, undefined);
    } catch (err) {
      if (media.application === 'channel' && isCastkitError(err) && err.code === 'E_USTREAM_OFFLINE') {
        listing.channelLive = false;
        return listing;
      }
      throw err;
    }
    try {
      if (media.application === 'channel') listing.channelLive = true;
      const s = opened.opened.source;
      listing.media = {
        ...media,
        live: s.live,
        formats: opened.formats,
        streamFormat: opened.streamFormat,
        chosen: s.chosen,
        renditions: s.renditions,
        ...(s.totalSec !== undefined ? { durationSec: s.totalSec } : {}),
        ...(opened.chunks !== undefined ? { chunks: opened.chunks } : {}),
      };
    } finally {
      opened.session?.close();
    }
    return listing;
  } finally {
    await c.client.close().catch(() => undefined);
  }
}

// ---------------------------------------------------------------------------------------------------------

interface Context {
  pageUrl: string;
  /** The site's origin: the AJAX endpoints and the websocket's Origin. */
  site: string;
  options: UstreamListOptions;
  client: HttpClient;
  retry: RetryPolicy;
  sctx: SourceContext;
  web: UstreamSite;
  cookies: Cookie[] | undefined;
  /** The registration hash per channel (registered once per run). */
  hashes: Map<string, unknown>;
}

interface OpenedMedia {
  opened: OpenedSource;
  session?: UmsSession;
  streamFormat: UstreamRecordResult['streamFormat'];
  /** What the session offered. */
  formats: string[];
  chunks?: number;
}

function outputFormat(options: UstreamRecordOptions): RecordFormat | undefined {
  if (options.output === '-') {
    throw new UsageError('a ustream recording cannot be written to a pipe', {
      code: 'E_OUTPUT_FORMAT',
      hint: 'give a file name (.mp4, or .flv for the joined FLV chunks)',
    });
  }
  const format = options.format ?? (options.output.toLowerCase().endsWith('.flv') ? 'flv' : undefined);
  if (format === 'flv' && options.streamFormat === 'mp4') {
    throw new UsageError('FLV output needs the flv/segmented format, not mp4/segmented', {
      code: 'E_OUTPUT_FORMAT',
      hint: 'write an .mp4, or leave out the mp4 format choice',
    });
  }
  return format;
}

async function openContext(pageUrl: string, options: UstreamListOptions): Promise<Context> {
  let site: string;
  try {
    const u = new URL(pageUrl);
    if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error('not http(s)');
    site = u.origin;
  } catch {
    throw new UsageError(`not a page URL: ${pageUrl}`, {
      code: 'E_USAGE',
      hint: 'give the http(s) URL of the channel or video page',
    });
  }
  const { client, retry, ctx: sctx, cookies } = await createRecordContext(options);
  const web = new UstreamSite({
    client,
    retry,
    ...(options.userAgent !== undefined ? { userAgent: options.userAgent } : {}),
    referer: options.referer ?? pageUrl,
    ...(options.headers ? { headers: options.headers } : {}),
    ...(cookies ? { cookies } : {}),
    ...(options.timeoutMs !== undefined ? { timeoutMs: options.timeoutMs } : {}),
    ...(options.signal ? { signal: options.signal } : {}),
  });
  return {
    pageUrl,
    site,
    options,
    client,
    retry,
    sctx,
    web,
    cookies,
    hashes: new Map(),
  };
}

/** The ids of the URL, and the channel id of the page when the URL carries none (a slug, a video page). */
async function resolvePage(c: Context): Promise<{ channelId?: string; videoId?: string }> {
  const ids = idsFromUrl(c.pageUrl);
  if (ids.channelId) return ids;
  const { text } = await c.web.getText(c.pageUrl);
  const channelId = channelIdFromPage(text);
  if (channelId) return { ...ids, channelId };
  if (ids.videoId || c.options.video) return ids;
  throw new InputError(`no ustream channel or video id in ${c.pageUrl} or in its page`, {
    code: 'E_USTREAM_NO_ID',
    hint: isUstreamUrl(c.pageUrl)
      ? 'give a channel or video page URL (…/channel/…, …/recorded/N)'
      : 'this does not look like a ustream page (no ustream:channel_id meta tag)',
  });
}

/** The registration, once per channel and run: the hash for the content listing and the UMS session. */
async function registrationHash(c: Context, channelId: string | undefined): Promise<unknown> {
  if (!channelId) return undefined;
  if (c.hashes.has(channelId)) return c.hashes.get(channelId);
  const fields: UstreamRegistration = { ...DEFAULT_REGISTRATION, ...c.options.register };
  const hash = await c.web.register(c.site, channelId, fields);
  c.hashes.set(channelId, hash);
  return hash;
}

async function listVideos(c: Context, channelId: string): Promise<UstreamVideo[]> {
  const hash = await registrationHash(c, channelId);
  return c.web.content(c.site, channelId, hash);
}

/** The video to record: --video, the URL's, else the channel live, else the channel's newest video. */
async function chooseMedia(
  c: Context,
  page: { channelId?: string; videoId?: string },
): Promise<UstreamMedia | OpenedMediaFor> {
  const channel = page.channelId ? { channelId: page.channelId } : {};
  const video = c.options.video ?? page.videoId;
  if (video) return { id: video, application: 'recorded', ...channel };
  const channelId = page.channelId as string;
  const live: UstreamMedia = { id: channelId, application: 'channel', channelId };
  try {
    const opened = await openMedia(c, live, wantedFormat(c.options));
    return { media: live, opened };
  } catch (err) {
    if (!isCastkitError(err) || err.code !== 'E_USTREAM_OFFLINE') throw err;
    const videos = await listVideos(c, channelId);
    const newest = newestVideo(videos);
    if (!newest) throw err;
    c.options.onNotice?.(
      `channel ${channelId} is not live; recording its newest video ${newest.id}${newest.title ? ` (${newest.title})` : ''} (--video ID picks another, --list shows them)`,
    );
    return { id: newest.id, application: 'recorded', channelId };
  }
}

interface OpenedMediaFor {
  media: UstreamMedia;
  opened: OpenedMedia;
}

function newestVideo(videos: readonly UstreamVideo[]): UstreamVideo | undefined {
  if (videos.every((v) => v.createdAt !== undefined) && videos.length > 0) {
    return [...videos].sort((a, b) => (b.createdAt ?? 0) - (a.createdAt ?? 0))[0];
  }
  return videos[0]; // the site lists the newest first
}

function wantedFormat(
  options: UstreamListOptions & { output?: string; format?: RecordFormat },
): UstreamFormatName | undefined {
  const flvOut =
    options.format === 'flv' ||
    (options.format === undefined && options.output?.toLowerCase().endsWith('.flv'));
  return flvOut ? 'flv' : options.streamFormat;
}

async function recordMedia(
  c: Context,
  chosen: UstreamMedia | OpenedMediaFor,
  options: UstreamRecordOptions,
  format: RecordFormat | undefined,
): Promise<UstreamRecordResult> {
  const media = 'opened' in chosen ? chosen.media : chosen;
  const m = 'opened' in chosen ? chosen.opened : await openMedia(c, media, wantedFormat(options));
  try {
    if (format === 'flv' && m.streamFormat !== 'flv/segmented') {
      throw new UsageError(
        `${media.id} is offered as ${m.streamFormat} only, which cannot be written as FLV`,
        {
          code: 'E_OUTPUT_FORMAT',
          hint: 'write an .mp4 instead',
        },
      );
    }
    const identity = `ustream:${media.application}/${media.id}/${m.streamFormat}`;
    const result = await recordOpened(identity, m.opened, {
      ...options,
      ...(format !== undefined ? { format } : {}),
    });
    const out: UstreamRecordResult = {
      ...result,
      kind: m.streamFormat === 'hls' ? 'hls' : 'ustream',
      media,
      streamFormat: m.streamFormat,
    };
    if (m.chunks !== undefined) out.chunks = m.chunks;
    return out;
  } finally {
    m.session?.close();
  }
}

/** The UMS session for one video or channel, and the source to record from it. */
async function openMedia(
  c: Context,
  media: UstreamMedia,
  format: UstreamFormatName | undefined,
): Promise<OpenedMedia> {
  const o = c.options;
  const hash = await registrationHash(c, media.channelId);
  const transport =
    o.umsTransport ?? (o.umsUrl !== undefined && /^https?:/i.test(o.umsUrl) ? 'long-poll' : 'websocket');
  const base = { referrer: c.pageUrl, media: media.id, application: media.application, hash };
  const password = o.password !== undefined ? { password: o.password } : {};
  const notice = o.onNotice ? { onNotice: o.onNotice } : {};
  if (transport === 'long-poll') {
    const hls = await longPollHls({
      url: umsUrlFor(o.umsUrl ?? UMS_LP_TEMPLATE, media.id, media.application),
      ...base,
      ...password,
      ...notice,
      site: c.web,
      ...(o.signal ? { signal: o.signal } : {}),
    });
    return openHls(c, hls, ['hls']);
  }
  const session = await UmsSession.open({
    url: umsUrlFor(o.umsUrl ?? UMS_WS_TEMPLATE, media.id, media.application),
    origin: c.site,
    ...base,
    ...password,
    ...notice,
    ...(c.web.cookieHeader(c.pageUrl) !== undefined
      ? { cookie: c.web.cookieHeader(c.pageUrl) as string }
      : {}),
    headers: { 'user-agent': c.web.baseHeaders(c.pageUrl)['user-agent'] ?? 'castkit' },
    ...(o.maxReconnects !== undefined ? { maxReconnects: o.maxReconnects } : {}),
    ...(o.signal ? { signal: o.signal } : {}),
  });
  try {
    const state = session.state();
    const formats = offered(state);
    if (!state.flv && !state.mp4 && state.hls) {
      session.close();
      return await openHls(c, state.hls, formats);
    }
    const live = media.application === 'channel';
    if (!live) session.close();
    else session.follow();
    const source = await openUstreamSource({
      application: media.application,
      media: media.id,
      ...(format ? { format } : {}),
      feed: live ? session : staticFeed(state),
      client: c.client,
      retry: c.retry,
      ...(o.quality !== undefined ? { quality: o.quality } : {}),
      ...(o.audioLang !== undefined ? { audioLang: o.audioLang } : {}),
      ...(o.fromStart !== undefined ? { fromStart: o.fromStart } : {}),
      ...(o.signal ? { signal: o.signal } : {}),
      ...notice,
    });
    const out: OpenedMedia = {
      opened: { source, client: c.client, retry: c.retry, ctx: c.sctx },
      streamFormat: source.format === 'flv' ? 'flv/segmented' : 'mp4/segmented',
      formats,
      ...(live ? { session } : {}),
    };
    if (source.chunks !== undefined) out.chunks = source.chunks;
    return out;
  } catch (err) {
    session.close();
    throw err;
  }
}

function offered(state: UmsState): string[] {
  const out: string[] = [];
  if (state.flv) out.push('flv/segmented');
  if (state.mp4) out.push('mp4/segmented');
  if (state.hls) out.push('hls');
  return out;
}

/** The session's HLS playlist (the `uhls` one, else the first) handed to the HLS recorder. */
async function openHls(
  c: Context,
  list: { name: string; url: string }[],
  formats: string[],
): Promise<OpenedMedia> {
  const pick = list.find((h) => h.name === 'uhls') ?? list[0];
  if (!pick) throw new InputError('the UMS session offered no playlist', { code: 'E_USTREAM_NO_STREAM' });
  const res = await c.sctx.fetchManifest(pick.url, { signal: c.options.signal });
  const source: RecordSource = await openHlsSource(res.body.toString('utf8'), res.url, c.sctx, c.options);
  return {
    opened: { source, client: c.client, retry: c.retry, ctx: c.sctx },
    streamFormat: 'hls',
    formats,
  };
}
