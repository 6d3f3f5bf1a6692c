/**
 * A ustream / IBM Video Streaming emulator on 127.0.0.1 (shared/specs/ustream-ums.md section 6), made from a
 * real ffmpeg-encoded clip: the clip cut into FLV chunks (ffmpeg's segment muxer, one chunk per keyframe
 * interval) and into mp4/segmented chunks (its video and its audio as fragmented MP4, the fragments grouped
 * by chunk time), served the way the UMS protocol describes them.
 *
 * It is strict about what the client sends and loose about what it sends back:
 * - the page (`<meta name="ustream:channel_id">`), the registration (all five fields; a cookie and a
 *   fresh opaque hash in return), the content listing (the cookie and the hash as JSON text required);
 * - the websocket at `/1/ustream` on any host: the handshake needs the site's Origin and the registration
 *   cookie in `Cookie` (401 otherwise), `connect` must carry every field of the spec with the hash double
 *   encoded (else close 1008 with the reason); then cdnConfig, stream and noise frames (viewer counts,
 *   empty `args`, unknown commands, a binary frame, a warning) in an order chosen by a seed; rejects on
 *   demand (cluster to a second port, referrerLock, nonexistent, geoLock) and offline videos/channels;
 * - a live channel whose chunks appear in real time, with stream messages moving `chunkId` and sliding the
 *   hash window, ended by `contentAvailable: false` and a close;
 * - the long-poll variant (tracking host, then the HLS playlist URL it was given);
 * - the CDN: a chunk answers only at its exact path (no doubled slash) with the right hash, 404 with an
 *   HTML body otherwise and past the end; Range; faults per chunk (status with a body, reset, truncated
 *   body, stall, an HTML page served with 200); optionally a rate cap per connection (as nginx's
 *   limit_rate).
 *
 * Chunk numbering, hashes and paths follow the spec's examples: recorded chunks from 0, hash keys every 10
 * chunks, `2/<rendition>/chunk_%_%.flv`, `2/chunk_%_%.m4v(h)`, `1/chunk_%_%.m4a(h)`; live chunks numbered
 * from a unix-seconds-like base.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import {
  createServer,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import { seededRandom } from '../../src/download/retry-policy.js';
import { flvChunks, lavfiAv, makeMedia, x264FixedGop, type MediaSpec } from './fixtures.js';

// ---------------------------------------------------------------------------------------------------------
// Fixtures

export interface TrackChunks {
  /** ftyp + moov of the track. */
  init: Uint8Array;
  /** moof + mdat pairs per chunk. */
  chunks: Uint8Array[];
}

export interface UstreamFixture {
  /** The encoded clip everything is cut from. */
  clip: string;
  chunkMs: number;
  /** FLV chunks, timestamps running on across chunks. */
  flv: Uint8Array[];
  /** The same, each chunk's timestamps restarting at 0. */
  flvReset: Uint8Array[];
  mp4: { video: TrackChunks; audio: TrackChunks };
  width: number;
  height: number;
}

/** A clip with a keyframe every `chunkMs`, so that ffmpeg's segment muxer cuts one chunk per interval. */
export function ustreamClipSpec(o: {
  seconds: number;
  size: string;
  rate: number;
  chunkMs: number;
  bitrate: string;
  source?: string;
}): MediaSpec {
  const gop = Math.round((o.rate * o.chunkMs) / 1000);
  const src = o.source ?? 'testsrc2';
  return {
    name: `ustream-${src}-${o.seconds}s-${o.size}-${o.rate}fps-${o.chunkMs}ms-${o.bitrate}`,
    ext: '.mp4',
    args: [
      ...lavfiAv(o.seconds, o.size, o.rate, src),
      ...x264FixedGop(gop),
      '-b:v',
      o.bitrate,
      '-c:a',
      'aac',
      '-b:a',
      '96k',
      '-ac',
      '2',
      '-shortest',
    ],
  };
}

const readAll = (paths: string[]): Uint8Array[] => paths.map((p) => new Uint8Array(readFileSync(p)));

/** The test fixture: 30 s of 320x240 at 30 fps, 300 chunks of 100 ms, as FLV (two ways) and mp4/segmented. */
export async function ustreamFixture(
  o: {
    seconds?: number;
    size?: string;
    chunkMs?: number;
    bitrate?: string;
    source?: string;
    mp4?: boolean;
  } = {},
): Promise<UstreamFixture> {
  const seconds = o.seconds ?? 30;
  const chunkMs = o.chunkMs ?? 100;
  const size = o.size ?? '320x240';
  const spec = ustreamClipSpec({
    seconds,
    size,
    rate: 30,
    chunkMs,
    bitrate: o.bitrate ?? '300k',
    ...(o.source ? { source: o.source } : {}),
  });
  const clip = await makeMedia(spec);
  const flv = readAll(await flvChunks(clip, chunkMs / 1000, false));
  const flvReset = readAll(await flvChunks(clip, chunkMs / 1000, true));
  const want = Math.round((seconds * 1000) / chunkMs);
  if (flv.length !== want || flvReset.length !== want) {
    throw new Error(`${clip}: cut into ${flv.length}/${flvReset.length} FLV chunks, want ${want}`);
  }
  const [w, h] = size.split('x').map(Number) as [number, number];
  let mp4: UstreamFixture['mp4'] = {
    video: { init: new Uint8Array(0), chunks: [] },
    audio: { init: new Uint8Array(0), chunks: [] },
  };
  if (o.mp4 !== false) {
    const dep = async (): Promise<string> => clip;
    const frag = (kind: 'v' | 'a', flags: string): MediaSpec => ({
      name: `${spec.name}-${kind}-frag`,
      ext: '.mp4',
      deps: ['clip'],
      args: ['-i', '{dep:clip}', '-map', `0:${kind}`, '-c', 'copy', '-movflags', flags],
    });
    const video = readFileSync(await makeMedia(frag('v', 'frag_keyframe+empty_moov+default_base_moof'), dep));
    const audio = readFileSync(
      await makeMedia(frag('a', 'frag_every_frame+empty_moov+default_base_moof'), dep),
    );
    mp4 = { video: groupFragments(video, want, chunkMs), audio: groupFragments(audio, want, chunkMs) };
    if (mp4.video.chunks.some((c) => c.length === 0) || mp4.audio.chunks.some((c) => c.length === 0)) {
      throw new Error(`${clip}: an mp4 chunk came out empty`);
    }
  }
  return { clip, chunkMs, flv, flvReset, mp4, width: w, height: h };
}

interface Box {
  type: string;
  start: number;
  body: number;
  end: number;
}

function boxes(b: Uint8Array, start: number, end: number): Box[] {
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const out: Box[] = [];
  for (let at = start; at + 8 <= end;) {
    let size = v.getUint32(at);
    let body = at + 8;
    if (size === 1) {
      size = Number(v.getBigUint64(at + 8));
      body += 8;
    } else if (size === 0) size = end - at;
    const type = String.fromCharCode(...b.subarray(at + 4, at + 8));
    if (size < 8 || at + size > end) throw new Error(`fixture: box ${type} at ${at} is broken`);
    out.push({ type, start: at, body, end: at + size });
    at += size;
  }
  return out;
}

/** ftyp + moov, and the moof + mdat pairs grouped into `count` chunks by their decode time. */
function groupFragments(file: Uint8Array, count: number, chunkMs: number): TrackChunks {
  const v = new DataView(file.buffer, file.byteOffset, file.byteLength);
  const top = boxes(file, 0, file.length);
  const moov = top.find((x) => x.type === 'moov');
  if (!moov) throw new Error('fixture: no moov');
  const trak = boxes(file, moov.body, moov.end).find((x) => x.type === 'trak')!;
  const mdia = boxes(file, trak.body, trak.end).find((x) => x.type === 'mdia')!;
  const mdhd = boxes(file, mdia.body, mdia.end).find((x) => x.type === 'mdhd')!;
  const timescale = v.getUint32(mdhd.body + (file[mdhd.body] === 1 ? 20 : 12));
  const init = file.slice(0, moov.end);
  const groups: Uint8Array[][] = Array.from({ length: count }, () => []);
  let t0: number | undefined;
  for (let i = 0; i < top.length; i++) {
    const moof = top[i]!;
    if (moof.type !== 'moof') continue;
    const mdat = top[i + 1];
    if (!mdat || mdat.type !== 'mdat') throw new Error('fixture: moof without mdat');
    const traf = boxes(file, moof.body, moof.end).find((x) => x.type === 'traf')!;
    const tfdt = boxes(file, traf.body, traf.end).find((x) => x.type === 'tfdt')!;
    const t = file[tfdt.body] === 1 ? Number(v.getBigUint64(tfdt.body + 4)) : v.getUint32(tfdt.body + 4);
    t0 ??= t;
    const sec = (t - t0) / timescale;
    const n = Math.min(count - 1, Math.max(0, Math.floor(sec / (chunkMs / 1000) + 1e-6)));
    groups[n]!.push(file.subarray(moof.start, mdat.end));
  }
  return { init, chunks: groups.map((g) => Buffer.concat(g)) };
}

/** FLV tag timestamps shifted by `ms` (a copy): a chunk of a later cycle of a looped clip. */
export function shiftFlvTimestamps(chunk: Uint8Array, ms: number): Uint8Array {
  if (ms === 0) return chunk;
  const out = new Uint8Array(chunk);
  const dataOffset = ((out[5]! << 24) | (out[6]! << 16) | (out[7]! << 8) | out[8]!) >>> 0;
  for (let at = dataOffset + 4; at + 11 <= out.length;) {
    const size = (out[at + 1]! << 16) | (out[at + 2]! << 8) | out[at + 3]!;
    const type = out[at]! & 0x1f;
    if (type === 8 || type === 9) {
      const ts = ((out[at + 7]! << 24) | (out[at + 4]! << 16) | (out[at + 5]! << 8) | out[at + 6]!) >>> 0;
      const t = ts + ms;
      out[at + 4] = (t >>> 16) & 0xff;
      out[at + 5] = (t >>> 8) & 0xff;
      out[at + 6] = t & 0xff;
      out[at + 7] = (t >>> 24) & 0xff;
    }
    at += 11 + size + 4;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------
// The emulator

export interface EmuRendition {
  preset: string;
  width: number;
  height: number;
  /** kbit/s, as UMS sends it. */
  bitrate: number;
  chunks: Uint8Array[];
}

export interface EmuVideo {
  id: string;
  title?: string;
  /** Chunks of this video (default: all of the fixture). */
  chunks?: number;
  /** UMS answers contentAvailable: false. */
  offline?: boolean;
  /** Which formats UMS offers (default both). */
  formats?: ('flv' | 'mp4')[];
  /** FLV renditions (default: the fixture's, preset "original"). */
  renditions?: EmuRendition[];
}

export type EmuFault =
  | { kind: 'status'; status: number; times?: number }
  | { kind: 'reset'; times?: number }
  | { kind: 'truncate'; bytes: number; times?: number }
  | { kind: 'stall'; times?: number }
  /** An HTML error page answered with 200, as a broken CDN node does. */
  | { kind: 'html200'; times?: number };

export interface UstreamEmulatorOptions {
  fixture: UstreamFixture;
  channelId?: string;
  slug?: string;
  videos?: EmuVideo[];
  /** The registration wall (default true): registration needed, its cookie and hash checked. */
  registrationWall?: boolean;
  /** Reject the session this way: cluster (to the second port), referrerLock, nonexistent, geoLock. */
  reject?: 'cluster' | 'referrerLock' | 'nonexistent' | 'geoLock';
  /** Frames order: a seed for a shuffle of cdnConfig, stream and the noise (default 0: cdnConfig first). */
  order?: number;
  /** Noise frames (default true). */
  noise?: boolean;
  /** A warning frame with this message. */
  warning?: string;
  /** Hash keys every this many chunks (default 10). */
  hashSpacing?: number;
  /** The channel is live: this many chunks of the fixture, in real time from the first channel session. */
  live?: {
    chunks: number;
    windowChunks?: number;
    updateEveryMs?: number;
    formats?: ('flv' | 'mp4')[];
    /** Cut the first channel session this long after it began, without a close frame (a dropped socket). */
    dropFirstSessionAfterMs?: number;
    /** With dropFirstSessionAfterMs: every later channel session is cut at once (lost for good). */
    refuseAfterDrop?: boolean;
  };
  /** The long-poll variant answers this HLS playlist URL, after `lpEmptyPolls` polls without a stream. */
  lpHlsUrl?: string;
  lpEmptyPolls?: number;
  /** Per-connection CDN rate cap, bytes/s (paced per request, as nginx limit_rate). */
  cdnBytesPerSec?: number;
  /** Serve recorded chunk n as fixture chunk n % length with timestamps moved on by whole cycles (bench). */
  loop?: boolean;
  /** The servers do not keep the process alive (a bench that serves while it spawns the clients). */
  unref?: boolean;
}

export interface EmuRequest {
  method: string;
  /** Path and query, as sent. */
  url: string;
  path: string;
  port: number;
  headers: IncomingHttpHeaders;
  at: number;
  range?: string;
  /** The client's port: which connection the request came on. */
  remotePort?: number;
  /** When the answer was sent whole (Date.now()); unset for one that failed or never ended. */
  done?: number;
  status?: number;
}

export interface EmuSession {
  index: number;
  port: number;
  headers: IncomingHttpHeaders;
  connect?: Record<string, unknown>;
  /** Text frames sent, in order. */
  sent: string[];
  /** What was wrong with the client's connect (the session was closed with 1008). */
  problems: string[];
  closed: boolean;
}

export interface UstreamEmulator {
  siteUrl: string;
  channelId: string;
  /** The channel page by its slug (the id only in the meta tag). */
  pageUrl: string;
  videoPageUrl(id: string): string;
  /** ws://127.0.0.1:PORT/1/ustream */
  umsUrl: string;
  /** http://127.0.0.1:PORT/1/ustream */
  lpUrl: string;
  clusterPort: number;
  /** Where a referrerLock sends the client. */
  lockUrl: string;
  requests: EmuRequest[];
  sessions: EmuSession[];
  registrations: Record<string, string>[];
  /** Chunk numbers of full GETs of a recorded video's track ('flv' = rendition 0), in request order. */
  chunkGets(video: string, track?: string): number[];
  /** Hash keys of a recorded video. */
  hashes(video: string): Record<string, string>;
  chunkCount(video: string): number;
  /** Inject a fault into a chunk's answers (`times: 0` removes it). */
  fault(video: string, n: number, f: EmuFault, track?: string): void;
  /** The live clock: chunks available now (0 before the first channel session). */
  liveAvailable(): number;
  liveBase: number;
  close(): Promise<void>;
}

interface Track {
  /** 'flv0', 'flv1', ... 'video', 'audio' */
  name: string;
  template: string;
  initTemplate?: string;
  chunk(n: number): Uint8Array;
  init?: Uint8Array;
}

const LIVE_BASE = 1_700_000_000;

function hex10(...parts: (string | number)[]): string {
  return createHash('sha1').update(parts.join(':')).digest('hex').slice(0, 10);
}

function html(title: string): string {
  return `<!doctype html><html><head><title>${title}</title></head><body><h1>${title}</h1></body></html>\n`;
}

export async function startUstreamEmulator(o: UstreamEmulatorOptions): Promise<UstreamEmulator> {
  const fx = o.fixture;
  const channelId = o.channelId ?? '12345678';
  const slug = o.slug ?? 'castkit-test-channel';
  const wall = o.registrationWall ?? true;
  const spacing = o.hashSpacing ?? 10;
  const videos: EmuVideo[] = o.videos ?? [{ id: '98765432', title: 'A recorded broadcast' }];
  const requests: EmuRequest[] = [];
  const sessions: EmuSession[] = [];
  const registrations: Record<string, string>[] = [];
  const issued = new Map<string, string>(); // cookie token -> hash JSON
  const faults = new Map<string, EmuFault>();
  const timers = new Set<NodeJS.Timeout>();
  let tokens = 0;
  let liveStart: number | undefined;
  const chunkMs = fx.chunkMs;

  const servers: Server[] = [];
  const wss = new WebSocketServer({ noServer: true, maxPayload: 1 << 20 });
  let mainPort = 0;
  let clusterPort = 0;
  const site = (): string => `http://127.0.0.1:${mainPort}`;
  const lockUrl = (): string => `${site()}/embed/recorded/locked?autoplay=1`;

  const renditionsOf = (v: EmuVideo): EmuRendition[] =>
    v.renditions ?? [
      { preset: 'original', width: fx.width, height: fx.height, bitrate: 396, chunks: fx.flv },
    ];
  const countOf = (v: EmuVideo): number => v.chunks ?? fx.flv.length;
  const cycled = (list: Uint8Array[], n: number): Uint8Array => {
    if (!o.loop) return list[n]!;
    const k = n % list.length;
    return shiftFlvTimestamps(list[k]!, Math.floor(n / list.length) * list.length * chunkMs);
  };

  const tracksOf = (formats: ('flv' | 'mp4')[], renditions: EmuRendition[]): Track[] => {
    const out: Track[] = [];
    if (formats.includes('flv')) {
      renditions.forEach((r, i) =>
        out.push({
          name: `flv${i}`,
          template: `2/${i + 1}/chunk_%_%.flv`,
          chunk: (n) => cycled(r.chunks, n),
        }),
      );
    }
    if (formats.includes('mp4')) {
      out.push({
        name: 'video',
        template: '2/chunk_%_%.m4v',
        initTemplate: '2/chunk_%_%.m4vh',
        chunk: (n) => fx.mp4.video.chunks[n]!,
        init: fx.mp4.video.init,
      });
      out.push({
        name: 'audio',
        template: '1/chunk_%_%.m4a',
        initTemplate: '1/chunk_%_%.m4ah',
        chunk: (n) => fx.mp4.audio.chunks[n]!,
        init: fx.mp4.audio.init,
      });
    }
    return out;
  };

  const hashCache = new Map<EmuVideo, Record<string, string>>();
  const recordedHashes = (v: EmuVideo): Record<string, string> => {
    let h = hashCache.get(v);
    if (!h) {
      h = {};
      for (let k = 0; k < countOf(v); k += spacing) h[String(k)] = hex10('rec', v.id, k);
      hashCache.set(v, h);
    }
    return h;
  };
  const liveHashKey = (n: number): number => Math.floor(n / spacing) * spacing;
  const liveHash = (key: number): string => hex10('live', channelId, key);

  // ----- live clock -----
  const live = o.live;
  const liveAvailable = (): number => {
    if (!live || liveStart === undefined) return 0;
    return Math.min(live.chunks, Math.floor((Date.now() - liveStart) / chunkMs) + 1);
  };

  // ----- UMS messages -----
  const cdnFrame = (): string =>
    JSON.stringify({
      cmd: 'moduleInfo',
      args: [
        {
          cdnConfig: {
            protocol: 'http',
            data: [{ name: 'emu', data: [{ sites: [{ host: `127.0.0.1:${mainPort}`, path: '/cdn/' }] }] }],
          },
        },
      ],
    });

  const formatJson = (
    tracks: Track[],
    kind: 'flv' | 'mp4',
    renditions: EmuRendition[],
    chunkId: number,
    hashes: Record<string, string>,
    path: string,
  ): Record<string, unknown> => {
    const streams =
      kind === 'flv'
        ? tracks
            .filter((t) => t.name.startsWith('flv'))
            .map((t, i) => {
              const r = renditions[i]!;
              return {
                name: `${r.height}p`,
                preset: r.preset,
                segmentUrl: t.template,
                bitrate: r.bitrate,
                videoCodec: { codecName: 'avc1', width: r.width, height: r.height },
                audioCodec: { codecName: 'mp4a', sampleRate: 48000 },
              };
            })
        : [
            {
              contentType: 'video/mp4',
              codec: 'avc1.64000d',
              segmentUrl: '2/chunk_%_%.m4v',
              initUrl: '2/chunk_%_%.m4vh',
              bitrate: 300,
              height: fx.height,
              width: fx.width,
            },
            {
              contentType: 'audio/mp4',
              codec: 'mp4a.40.2',
              segmentUrl: '1/chunk_%_%.m4a',
              initUrl: '1/chunk_%_%.m4ah',
              bitrate: 96,
              language: 'en',
            },
          ];
    return {
      chunkTime: chunkMs,
      chunkId,
      hashes,
      contentAccess: { accessList: [{ type: 'plain', data: { path } }] },
      streams,
    };
  };

  const recordedPath = (v: EmuVideo): string => `/sjc01/rec/${v.id}/plain/uhs/`; // leading slash: '/cdn/' + it doubles
  const livePath = `/sjc01/live/${channelId}/plain/uhs/`;

  const streamFrame = (formats: Record<string, unknown>): string =>
    JSON.stringify({
      cmd: 'moduleInfo',
      args: [{ stream: { contentAvailable: true, streamFormats: formats } }],
    });

  const recordedStream = (v: EmuVideo): string => {
    const formats = v.formats ?? ['flv', 'mp4'];
    const tracks = tracksOf(formats, renditionsOf(v));
    const out: Record<string, unknown> = {};
    for (const f of formats) {
      out[`${f}/segmented`] = formatJson(tracks, f, renditionsOf(v), 0, recordedHashes(v), recordedPath(v));
    }
    return streamFrame(out);
  };

  const liveStream = (): string => {
    const avail = liveAvailable();
    const newest = LIVE_BASE + Math.max(0, avail - 1);
    const windowChunks = live?.windowChunks ?? 60;
    const hashes: Record<string, string> = {};
    for (let k = liveHashKey(Math.max(LIVE_BASE, newest - windowChunks)); k <= newest; k += spacing) {
      hashes[String(k)] = liveHash(k);
    }
    const formats = live?.formats ?? ['flv'];
    const tracks = tracksOf(formats, renditionsOf({ id: channelId }));
    const out: Record<string, unknown> = {};
    for (const f of formats) {
      out[`${f}/segmented`] = formatJson(
        tracks,
        f,
        renditionsOf({ id: channelId }),
        newest,
        hashes,
        livePath,
      );
    }
    return streamFrame(out);
  };

  const noiseFrames = (): (string | Uint8Array)[] => {
    if (o.noise === false) return [];
    const frames: (string | Uint8Array)[] = [
      JSON.stringify({ cmd: 'moduleInfo', args: [{ allTimeTotal: 123456, allViewers: 42 }] }),
      JSON.stringify({ cmd: 'moduleInfo', args: [] }),
      JSON.stringify({ cmd: 'moduleInfo' }),
      JSON.stringify({ cmd: 'viewerCountChanged', args: [{ count: 7 }] }),
      JSON.stringify({ cmd: 'moduleInfo', args: [{ meta: { title: 'emulated', tags: [] } }] }),
      JSON.stringify({ cmd: 'warning', args: [] }),
      Uint8Array.of(0, 1, 2, 3),
    ];
    if (o.warning)
      frames.push(JSON.stringify({ cmd: 'warning', args: [{ code: 'W_EMU', message: o.warning }] }));
    return frames;
  };

  const ordered = (frames: (string | Uint8Array)[], seed: number): (string | Uint8Array)[] => {
    if (seed === 0) return frames;
    const r = seededRandom(seed);
    const a = [...frames];
    for (let i = a.length - 1; i > 0; i--) {
      const j = Math.floor(r() * (i + 1));
      [a[i], a[j]] = [a[j]!, a[i]!];
    }
    return a;
  };

  const send = (ws: WebSocket, s: EmuSession, frame: string | Uint8Array): void => {
    if (ws.readyState !== ws.OPEN) return;
    if (typeof frame === 'string') s.sent.push(frame);
    ws.send(frame);
  };

  const later = (fn: () => void, ms: number): NodeJS.Timeout => {
    const t = setTimeout(() => {
      timers.delete(t);
      fn();
    }, ms);
    timers.add(t);
    return t;
  };

  const cookieToken = (headers: IncomingHttpHeaders): string | undefined => {
    const m = /(?:^|;\s*)ustream_viewer=([^;]+)/.exec(String(headers.cookie ?? ''));
    return m?.[1];
  };

  const checkConnect = (s: EmuSession, a: Record<string, unknown>, token: string | undefined): void => {
    const p = s.problems;
    if (a.type !== 'viewer') p.push(`type ${String(a.type)}`);
    if (a.appId !== 3) p.push(`appId ${String(a.appId)}`);
    if (a.appVersion !== 2) p.push(`appVersion ${String(a.appVersion)}`);
    if (typeof a.media !== 'string' || !/^\d+$/.test(a.media))
      p.push(`media ${JSON.stringify(a.media)} is not an id string`);
    if (a.application !== 'recorded' && a.application !== 'channel')
      p.push(`application ${String(a.application)}`);
    if (a.application === 'recorded' && a.isOffairRecorded !== true) p.push('isOffairRecorded missing');
    if (typeof a.referrer !== 'string' || !/^https?:\/\//.test(a.referrer)) p.push('referrer is not a URL');
    if (typeof a.rsid !== 'string' || !/^[0-9a-f]+:[0-9a-f]+$/.test(a.rsid)) p.push(`rsid ${String(a.rsid)}`);
    if (typeof a.rpin !== 'string' || !/^_rpin\.\d+$/.test(a.rpin)) p.push(`rpin ${String(a.rpin)}`);
    if (wall) {
      const want = token !== undefined ? issued.get(token) : undefined;
      if (typeof a.hash !== 'string')
        p.push(`hash is not a string (it must be JSON text): ${JSON.stringify(a.hash)}`);
      else if (want === undefined || a.hash !== want)
        p.push(`hash ${a.hash.slice(0, 60)} is not the registration's`);
    }
  };

  const onSession = (ws: WebSocket, req: IncomingMessage, port: number): void => {
    const s: EmuSession = {
      index: sessions.length + 1,
      port,
      headers: req.headers,
      sent: [],
      problems: [],
      closed: false,
    };
    sessions.push(s);
    const token = cookieToken(req.headers);
    const noConnect = later(() => {
      s.problems.push('no connect within 5 s');
      ws.close(1008, 'no connect');
    }, 5000);
    let interval: NodeJS.Timeout | undefined;
    ws.on('close', () => {
      s.closed = true;
      clearTimeout(noConnect);
      timers.delete(noConnect);
      if (interval) clearInterval(interval);
    });
    ws.once('message', (data, binary) => {
      clearTimeout(noConnect);
      timers.delete(noConnect);
      let msg: { cmd?: unknown; args?: unknown } = {};
      try {
        msg = binary ? {} : (JSON.parse(data.toString()) as typeof msg);
      } catch {
        s.problems.push('connect is not JSON');
      }
      const a =
        Array.isArray(msg.args) && typeof msg.args[0] === 'object'
          ? (msg.args[0] as Record<string, unknown>)
          : {};
      if (msg.cmd !== 'connect') s.problems.push(`first message is ${String(msg.cmd)}, not connect`);
      s.connect = a;
      checkConnect(s, a, token);
      if (s.problems.length > 0) {
        ws.close(1008, s.problems.join('; ').slice(0, 120));
        return;
      }
      const reject = (arg: Record<string, unknown>): void =>
        send(ws, s, JSON.stringify({ cmd: 'reject', args: [arg] }));
      const noise = noiseFrames();
      if (o.reject === 'cluster' && port === mainPort) {
        for (const f of noise.slice(0, 2)) send(ws, s, f);
        reject({ cluster: { name: 'emu-cluster', host: `127.0.0.1:${clusterPort}` } });
        return;
      }
      if (o.reject === 'referrerLock' && a.referrer !== lockUrl()) {
        reject({ referrerLock: { redirectUrl: lockUrl() } });
        return;
      }
      if (o.reject === 'nonexistent') return reject({ nonexistent: {} });
      if (o.reject === 'geoLock') return reject({ geoLock: { countries: ['AQ'] } });
      if (a.application === 'recorded') {
        const v = videos.find((x) => x.id === a.media);
        if (!v) return reject({ nonexistent: {} });
        if (v.offline) {
          for (const f of ordered([...noise, streamFrameOffline()], o.order ?? 0)) send(ws, s, f);
          return;
        }
        for (const f of ordered([cdnFrame(), recordedStream(v), ...noise], o.order ?? 0)) send(ws, s, f);
        return;
      }
      // A channel.
      if (a.media !== channelId) return reject({ nonexistent: {} });
      if (!live) {
        for (const f of ordered([cdnFrame(), streamFrameOffline(), ...noise], o.order ?? 0)) send(ws, s, f);
        return;
      }
      liveStart ??= Date.now();
      if (liveAvailable() >= live.chunks && Date.now() - liveStart > live.chunks * chunkMs + 2000) {
        send(ws, s, streamFrameOffline());
        return;
      }
      const channelSessions = sessions.filter((x) => x.connect?.application === 'channel');
      if (live.refuseAfterDrop && channelSessions.length > 1) {
        ws.terminate();
        return;
      }
      for (const f of ordered([cdnFrame(), liveStream(), ...noise], o.order ?? 0)) send(ws, s, f);
      if (live.dropFirstSessionAfterMs !== undefined && channelSessions.length === 1) {
        later(() => ws.terminate(), live.dropFirstSessionAfterMs);
      }
      let ending = false;
      interval = setInterval(
        () => {
          if (ending) return;
          send(ws, s, liveStream());
          if (liveAvailable() >= live.chunks) {
            ending = true;
            // The last chunk is out: tell the end, then close.
            later(() => {
              send(ws, s, streamFrameOffline());
              later(() => ws.close(1000, 'broadcast ended'), 50);
            }, chunkMs);
          }
        },
        live.updateEveryMs ?? chunkMs * 3,
      );
    });
  };

  const streamFrameOffline = (): string =>
    JSON.stringify({ cmd: 'moduleInfo', args: [{ stream: { contentAvailable: false } }] });

  // ----- HTTP -----
  const readBody = (req: IncomingMessage): Promise<string> =>
    new Promise((resolve) => {
      const parts: Buffer[] = [];
      req.on('data', (b: Buffer) => parts.push(b));
      req.on('end', () => resolve(Buffer.concat(parts).toString('utf8')));
    });

  const json = (
    res: ServerResponse,
    status: number,
    body: unknown,
    headers: Record<string, string | string[]> = {},
  ): void => {
    const text = JSON.stringify(body);
    res.writeHead(status, {
      'content-type': 'application/json',
      'content-length': Buffer.byteLength(text),
      ...headers,
    });
    res.end(text);
  };

  const notFound = (res: ServerResponse, why: string): void => {
    const body = html(`404 Not Found: ${why}`);
    res.writeHead(404, { 'content-type': 'text/html', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  };

  const page = (res: ServerResponse, title: string, withMeta: boolean): void => {
    const meta = withMeta ? `<meta content="${channelId}" name="ustream:channel_id">` : '';
    const body = `<!doctype html><html><head><title>${title}</title><meta charset="utf-8">${meta}</head><body>${title}</body></html>`;
    res.writeHead(200, {
      'content-type': 'text/html; charset=utf-8',
      'set-cookie': 'ustream_session=s1; Path=/',
    });
    res.end(body);
  };

  // A cap per connection (the bench's "CDN capping each connection"), as nginx's limit_rate does it: per
  // request, the body may have gone out at `rate` since the request began, no faster (a late timer is made up
  // within the request; nothing is saved up between requests). HTTP/1.1 answers one request at a time per
  // connection, so that caps the connection.
  const SLICE = 64 * 1024;
  const sendBody = (res: ServerResponse, body: Uint8Array): void => {
    const rate = o.cdnBytesPerSec;
    if (!rate) {
      res.end(body);
      return;
    }
    const t0 = performance.now();
    let sent = 0;
    const pump = (): void => {
      for (;;) {
        if (res.destroyed) return;
        if (sent >= body.length) {
          res.end();
          return;
        }
        const n = Math.min(SLICE, body.length - sent);
        const allowed = (rate * (performance.now() - t0)) / 1000;
        if (sent + n > allowed) {
          setTimeout(pump, Math.max(1, Math.ceil(((sent + n - allowed) * 1000) / rate)));
          return;
        }
        const ok = res.write(body.subarray(sent, sent + n));
        sent += n;
        if (!ok) {
          res.once('drain', pump);
          return;
        }
      }
    };
    pump();
  };

  const serveChunk = (req: IncomingMessage, res: ServerResponse, body: Uint8Array, key: string): void => {
    const fault = faults.get(key);
    if (fault) {
      if (fault.times !== undefined && --fault.times <= 0) faults.delete(key);
      if (fault.kind === 'status') {
        const page = html(`${fault.status} injected error`);
        res.writeHead(fault.status, {
          'content-type': 'text/html',
          'content-length': Buffer.byteLength(page),
        });
        res.end(page);
        return;
      }
      if (fault.kind === 'reset') {
        req.socket.destroy();
        return;
      }
      if (fault.kind === 'stall') return;
      if (fault.kind === 'html200') {
        const page = html('Service temporarily unavailable');
        res.writeHead(200, { 'content-type': 'text/html', 'content-length': Buffer.byteLength(page) });
        res.end(page);
        return;
      }
    }
    const size = body.length;
    const m = /^bytes=(\d+)-(\d*)$/.exec(String(req.headers.range ?? ''));
    let start = 0;
    let end = size - 1;
    if (m) {
      start = Number(m[1]);
      end = m[2] === '' ? size - 1 : Math.min(size - 1, Number(m[2]));
    }
    const part = body.subarray(start, end + 1);
    const headers: Record<string, string | number> = {
      'content-type': key.endsWith('flv') ? 'video/x-flv' : 'video/mp4',
      'content-length': part.length,
      'accept-ranges': 'bytes',
    };
    if (m) headers['content-range'] = `bytes ${start}-${end}/${size}`;
    res.writeHead(m ? 206 : 200, headers);
    if (fault?.kind === 'truncate') {
      res.write(part.subarray(0, fault.bytes), () => req.socket.destroy());
      return;
    }
    sendBody(res, part);
  };

  const cdn = (req: IncomingMessage, res: ServerResponse, path: string): void => {
    if (path.includes('//')) return notFound(res, 'doubled slash in the path');
    const rec = /^\/cdn\/sjc01\/rec\/(\d+)\/plain\/uhs\/(.+)$/.exec(path);
    const liv = /^\/cdn\/sjc01\/live\/(\d+)\/plain\/uhs\/(.+)$/.exec(path);
    const rest = rec?.[2] ?? liv?.[2];
    if (!rest) return notFound(res, 'no such CDN path');
    const video = rec ? videos.find((v) => v.id === rec[1]) : undefined;
    if (rec && !video) return notFound(res, 'no such video');
    if (liv && (liv[1] !== channelId || !live)) return notFound(res, 'no such channel');
    const formats = video ? (video.formats ?? ['flv', 'mp4']) : (live?.formats ?? ['flv']);
    const tracks = tracksOf(formats, renditionsOf(video ?? { id: channelId }));
    for (const t of tracks) {
      for (const [tpl, isInit] of [
        [t.template, false],
        [t.initTemplate, true],
      ] as const) {
        if (!tpl) continue;
        const re = new RegExp(
          `^${tpl.replace(/[.]/g, '\\.').replace('%', '(\\d+)').replace('%', '([0-9a-f]+)')}$`,
        );
        const m = re.exec(rest);
        if (!m) continue;
        const n = Number(m[1]);
        const hash = m[2]!;
        let index: number;
        if (video) {
          if (n >= countOf(video)) return notFound(res, `chunk ${n} is past the end`);
          if (hash !== recordedHashes(video)[String(liveHashKey(n))])
            return notFound(res, `wrong hash for chunk ${n}`);
          index = n;
        } else {
          index = n - LIVE_BASE;
          if (index < 0 || index >= liveAvailable()) return notFound(res, `live chunk ${n} is not available`);
          if (hash !== liveHash(liveHashKey(n))) return notFound(res, `wrong hash for live chunk ${n}`);
        }
        const key = `${video?.id ?? 'live'}:${t.name}:${n}${isInit ? ':init' : ''}`;
        const body = isInit ? t.init! : t.chunk(index);
        serveChunk(req, res, body, key);
        return;
      }
    }
    notFound(res, 'no such chunk template');
  };

  const handle = async (req: IncomingMessage, res: ServerResponse, port: number): Promise<void> => {
    const u = new URL(req.url ?? '/', 'http://127.0.0.1');
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    const entry: EmuRequest = {
      method: req.method ?? 'GET',
      url: req.url ?? '/',
      path,
      port,
      headers: req.headers,
      at: Date.now(),
      ...(req.headers.range ? { range: req.headers.range } : {}),
      ...(req.socket.remotePort !== undefined ? { remotePort: req.socket.remotePort } : {}),
    };
    requests.push(entry);
    res.on('finish', () => {
      entry.done = Date.now();
      entry.status = res.statusCode;
    });
    if (path.startsWith('/cdn/')) return cdn(req, res, path);
    if (req.method === 'GET' && path === `/channel/${slug}`) return page(res, 'castkit test channel', true);
    if (req.method === 'GET' && /^\/(channel\/id|channel|embed)\/\d+$/.test(path))
      return page(res, 'channel', true);
    if (req.method === 'GET' && /^\/(embed\/)?recorded\/\d+$/.test(path))
      return page(res, 'recorded video', true);
    const reg = /^\/ajax\/viewer-registration\/save\/(\d+)\/channel\/(\d+)\.json$/.exec(path);
    if (reg) {
      if (!wall) return notFound(res, 'no registration wall');
      if (req.method !== 'POST') return json(res, 405, { error: 'POST only' });
      const form = Object.fromEntries(new URLSearchParams(await readBody(req)));
      registrations.push(form);
      if (reg[1] !== channelId || reg[2] !== channelId) return json(res, 404, { error: 'no such channel' });
      const missing = ['name', 'email', 'company', 'role', 'phone'].filter((f) => !form[`fields[${f}]`]);
      if (missing.length > 0)
        return json(res, 400, { success: false, error: `missing ${missing.join(', ')}` });
      const token = `t${++tokens}${hex10('token', tokens)}`;
      const hash = {
        viewerId: `v${tokens}`,
        signature: hex10('sig', tokens, channelId),
        expires: 1999999999,
      };
      issued.set(token, JSON.stringify(hash));
      return json(
        res,
        200,
        { success: true, hash },
        { 'set-cookie': [`ustream_viewer=${token}; Path=/; HttpOnly`] },
      );
    }
    const content = /^\/ajax\/viewing-experience\/channel\/(\d+)\/content\.json$/.exec(path);
    if (content) {
      if (req.method !== 'POST') return json(res, 405, { error: 'POST only' });
      const form = Object.fromEntries(new URLSearchParams(await readBody(req)));
      if (content[1] !== channelId) return json(res, 404, { error: 'no such channel' });
      if (wall) {
        const token = cookieToken(req.headers);
        const want = token !== undefined ? issued.get(token) : undefined;
        if (want === undefined) return json(res, 403, { error: 'register first (no viewer cookie)' });
        if (form.hash !== want)
          return json(res, 403, { error: `hash ${String(form.hash)} is not the registration's` });
      }
      return json(res, 200, {
        exposedVariables: {
          videosData: {
            videos: videos.map((v) => ({
              id: v.id,
              title: v.title ?? `video ${v.id}`,
              length: countOf(v) * (chunkMs / 1000),
            })),
          },
          channelData: { id: channelId },
        },
      });
    }
    if (path === '/1/ustream' && req.method === 'GET') {
      const q = u.searchParams;
      const conn = q.get('connectionId');
      if (conn !== null) {
        if (!o.lpHlsUrl || lpEmpty < (o.lpEmptyPolls ?? 0)) {
          lpEmpty++;
          return json(res, 200, [
            { cmd: 'moduleInfo', args: [{ allViewers: 3 }] },
            { cmd: 'moduleInfo', args: [] },
          ]);
        }
        return json(res, 200, [
          { cmd: 'moduleInfo', args: [{ stream: [{ name: 'uhls', url: o.lpHlsUrl }] }] },
        ]);
      }
      const problems: string[] = [];
      if (q.get('type') !== 'viewer') problems.push('type');
      if (q.get('appId') !== '11') problems.push('appId');
      if (!/^\d+$/.test(q.get('media') ?? '')) problems.push('media');
      if (!/^[0-9a-f]+:[0-9a-f]+$/.test(q.get('rsid') ?? '')) problems.push('rsid');
      if (!/^_rpin\.\d+$/.test(q.get('rpin') ?? '')) problems.push('rpin');
      if (problems.length > 0)
        return json(res, 400, { error: `bad long-poll query: ${problems.join(', ')}` });
      if (q.get('application') === 'recorded' && !videos.some((v) => v.id === q.get('media'))) {
        return json(res, 200, [{ cmd: 'reject', args: [{ nonexistent: {} }] }]);
      }
      return json(res, 200, [
        {
          cmd: 'tracking',
          args: [{ host: `127.0.0.1:${clusterPort}`, connectionId: `c${++lpConnections}` }],
        },
      ]);
    }
    notFound(res, 'no such page');
  };
  let lpEmpty = 0;
  let lpConnections = 0;

  const upgrade = (req: IncomingMessage, socket: Duplex, head: Buffer, port: number): void => {
    const path = (req.url ?? '/').split('?')[0];
    const refuse = (status: number, why: string): void => {
      requests.push({
        method: 'UPGRADE',
        url: req.url ?? '/',
        path: path ?? '/',
        port,
        headers: req.headers,
        at: Date.now(),
      });
      socket.end(
        `HTTP/1.1 ${status} ${why}\r\nContent-Type: text/plain\r\nContent-Length: ${why.length}\r\nConnection: close\r\n\r\n${why}`,
      );
    };
    if (path !== '/1/ustream') return refuse(404, 'Not Found');
    if (req.headers.origin !== site()) return refuse(403, 'Forbidden origin');
    if (wall && (cookieToken(req.headers) === undefined || !issued.has(cookieToken(req.headers)!))) {
      return refuse(401, 'Unauthorized: no viewer cookie');
    }
    requests.push({
      method: 'UPGRADE',
      url: req.url ?? '/',
      path,
      port,
      headers: req.headers,
      at: Date.now(),
    });
    wss.handleUpgrade(req, socket, head, (ws) => onSession(ws, req, port));
  };

  const listen = async (): Promise<number> => {
    const server = createServer();
    servers.push(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as AddressInfo).port;
    server.on('request', (req: IncomingMessage, res: ServerResponse) => {
      handle(req, res, port).catch((err: unknown) => {
        if (!res.headersSent) res.writeHead(500);
        res.end(String(err));
      });
    });
    server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) =>
      upgrade(req, socket, head, port),
    );
    if (o.unref) server.unref();
    return port;
  };
  mainPort = await listen();
  clusterPort = await listen();

  const videoOf = (id: string): EmuVideo => {
    const v = videos.find((x) => x.id === id);
    if (!v) throw new Error(`no video ${id} in the emulator`);
    return v;
  };

  return {
    siteUrl: site(),
    channelId,
    pageUrl: `${site()}/channel/${slug}`,
    videoPageUrl: (id) => `${site()}/recorded/${id}`,
    umsUrl: `ws://127.0.0.1:${mainPort}/1/ustream`,
    lpUrl: `http://127.0.0.1:${mainPort}/1/ustream`,
    clusterPort,
    lockUrl: lockUrl(),
    requests,
    sessions,
    registrations,
    chunkGets: (video, track = 'flv') => {
      const v = videoOf(video);
      const t = tracksOf(v.formats ?? ['flv', 'mp4'], renditionsOf(v)).find(
        (x) => x.name === (track === 'flv' ? 'flv0' : track),
      );
      if (!t) return [];
      const re = new RegExp(
        `/${t.template.replace(/[.]/g, '\\.').replace('%', '(\\d+)').replace('%', '[0-9a-f]+')}$`,
      );
      return requests
        .filter((r) => r.method === 'GET' && r.range === undefined && r.path.includes(`/rec/${video}/`))
        .map((r) => re.exec(r.path))
        .filter((m): m is RegExpExecArray => m !== null)
        .map((m) => Number(m[1]));
    },
    hashes: (video) => recordedHashes(videoOf(video)),
    chunkCount: (video) => countOf(videoOf(video)),
    fault: (video, n, f, track = 'flv0') => {
      const key = `${video}:${track}:${n}`;
      if (f.times === 0) faults.delete(key);
      else faults.set(key, { ...f });
    },
    liveAvailable,
    liveBase: LIVE_BASE,
    close: async () => {
      for (const t of timers) clearTimeout(t);
      for (const c of wss.clients) c.terminate();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
      await Promise.all(
        servers.map(
          (s) =>
            new Promise<void>((resolve) => {
              s.closeAllConnections();
              s.close(() => resolve());
            }),
        ),
      );
    },
  };
}
