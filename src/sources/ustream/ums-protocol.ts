/**
 * The UMS message layer (shared/specs/ustream-ums.md sections 2, 3 and 5): every message is a JSON text
 * `{"cmd": string, "args": [object, ...]}` (the long-poll variant answers an array of them). The reader is
 * tolerant on purpose: frames that are not JSON, have no `cmd`, an empty or missing `args` (ustream-dl
 * indexed `args[0]` and crashed), unknown commands and unknown fields are ignored; fields come in any order
 * and in any of the frames.
 */
import { dig, isObject } from './ustream-site.js';
import type { UmsApplication } from './ustream-url.js';

export interface UmsMessage {
  cmd: string;
  args: unknown[];
}

/** One segmented format (`flv/segmented` or `mp4/segmented`), as the `stream` message gives it. */
export interface SegmentedFormat {
  /** Milliseconds per chunk. */
  chunkTime: number;
  /** The first chunk (recorded), or the newest one when the message was sent (live). */
  chunkId: number;
  /** Hash keys (chunk numbers) ascending, each with the hash for the chunks from it to the next key. */
  hashes: [number, string][];
  /** `contentAccess.accessList[0].data.path`: the prefix under the CDN base. */
  path: string;
  /** The renditions (flv) or tracks (mp4), as sent. */
  streams: Record<string, unknown>[];
}

export interface UmsStream {
  /** false: offline, nothing to fetch. */
  contentAvailable?: boolean;
  flv?: SegmentedFormat;
  mp4?: SegmentedFormat;
  /** appId 11: HLS playlists instead (`[{name: "uhls", url}]`). */
  hls?: { name: string; url: string }[];
}

export type UmsReject =
  | { kind: 'cluster'; host: string; name?: string }
  | { kind: 'referrerLock'; redirectUrl: string }
  | { kind: 'nonexistent' }
  | { kind: 'geoLock' }
  | { kind: 'other'; text: string };

export type UmsEvent =
  | { type: 'cdn'; bases: string[] }
  | { type: 'stream'; stream: UmsStream }
  | { type: 'reject'; reject: UmsReject }
  | { type: 'warning'; code: string; message: string }
  | { type: 'tracking'; host: string; connectionId: string };

/** The messages of one text frame (or long-poll reply); [] for anything that is not one. */
export function parseUmsText(text: string): UmsMessage[] {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return [];
  }
  const list = Array.isArray(v) ? v : [v];
  const out: UmsMessage[] = [];
  for (const m of list) {
    if (!isObject(m) || typeof m.cmd !== 'string') continue;
    out.push({ cmd: m.cmd, args: Array.isArray(m.args) ? m.args : [] });
  }
  return out;
}

/** What a message means to a downloader; most messages (viewer counts, metadata) mean nothing. */
export function umsEvents(m: UmsMessage): UmsEvent[] {
  const out: UmsEvent[] = [];
  for (const arg of m.args) {
    if (!isObject(arg)) continue;
    if (m.cmd === 'reject') {
      out.push({ type: 'reject', reject: parseReject(arg) });
      continue;
    }
    if (m.cmd === 'warning') {
      out.push({
        type: 'warning',
        code: String(arg.code ?? 'warning'),
        message: String(arg.message ?? JSON.stringify(arg).slice(0, 200)),
      });
      continue;
    }
    if (m.cmd === 'tracking' && typeof arg.host === 'string' && arg.connectionId !== undefined) {
      out.push({ type: 'tracking', host: arg.host, connectionId: String(arg.connectionId) });
      continue;
    }
    if (arg.cdnConfig !== undefined) {
      const bases = cdnBases(arg.cdnConfig);
      if (bases.length > 0) out.push({ type: 'cdn', bases });
    }
    if (arg.stream !== undefined) {
      const stream = parseStream(arg.stream);
      if (stream) out.push({ type: 'stream', stream });
    }
  }
  return out;
}

function parseReject(arg: Record<string, unknown>): UmsReject {
  const cluster = arg.cluster;
  if (isObject(cluster) && typeof cluster.host === 'string' && cluster.host !== '') {
    const r: UmsReject = { kind: 'cluster', host: cluster.host };
    if (typeof cluster.name === 'string') r.name = cluster.name;
    return r;
  }
  const lock = arg.referrerLock;
  if (lock !== undefined) {
    const url = isObject(lock) ? lock.redirectUrl : undefined;
    if (typeof url === 'string' && url !== '') return { kind: 'referrerLock', redirectUrl: url };
  }
  if (arg.nonexistent !== undefined) return { kind: 'nonexistent' };
  if (arg.geoLock !== undefined) return { kind: 'geoLock' };
  return { kind: 'other', text: JSON.stringify(arg).slice(0, 300) };
}

/**
 * `cdnConfig = {protocol, data: [{data: [{sites: [{host, path}]}]}]}`: each site as `protocol://host + path`,
 * in order (the first is used; ustream-dl hard-coded https://vod-cdn.ustream.tv/ instead).
 */
export function cdnBases(config: unknown): string[] {
  if (!isObject(config)) return [];
  const protocol = typeof config.protocol === 'string' && config.protocol !== '' ? config.protocol : 'https';
  const out: string[] = [];
  const walk = (v: unknown, depth: number): void => {
    if (depth > 6) return;
    if (Array.isArray(v)) {
      for (const x of v) walk(x, depth + 1);
      return;
    }
    if (!isObject(v)) return;
    if (Array.isArray(v.sites)) {
      for (const s of v.sites) {
        if (!isObject(s) || typeof s.host !== 'string' || s.host === '') continue;
        const path = typeof s.path === 'string' ? s.path : '/';
        out.push(`${protocol.replace(/:?\/*$/, '')}://${s.host}${path.startsWith('/') ? path : `/${path}`}`);
      }
    }
    if (v.data !== undefined) walk(v.data, depth + 1);
  };
  walk(config.data, 0);
  return out;
}

function parseStream(v: unknown): UmsStream | undefined {
  if (Array.isArray(v)) {
    const hls = v
      .filter(isObject)
      .filter((s) => typeof s.url === 'string')
      .map((s) => ({ name: typeof s.name === 'string' ? s.name : '', url: s.url as string }));
    return hls.length > 0 ? { hls } : undefined;
  }
  if (!isObject(v)) return undefined;
  const out: UmsStream = {};
  if (typeof v.contentAvailable === 'boolean') out.contentAvailable = v.contentAvailable;
  const formats = v.streamFormats;
  if (isObject(formats)) {
    const flv = parseFormat(formats['flv/segmented']);
    if (flv) out.flv = flv;
    const mp4 = parseFormat(formats['mp4/segmented']);
    if (mp4) out.mp4 = mp4;
  }
  return out;
}

function num(v: unknown): number | undefined {
  const n = typeof v === 'string' && v.trim() !== '' ? Number(v) : v;
  return typeof n === 'number' && Number.isFinite(n) ? n : undefined;
}

function parseFormat(v: unknown): SegmentedFormat | undefined {
  if (!isObject(v)) return undefined;
  const chunkTime = num(v.chunkTime);
  const hashes: [number, string][] = [];
  if (isObject(v.hashes)) {
    for (const [k, h] of Object.entries(v.hashes)) {
      if (/^\d+$/.test(k) && typeof h === 'string' && h !== '') hashes.push([Number(k), h]);
    }
  }
  hashes.sort((a, b) => a[0] - b[0]);
  const streams = Array.isArray(v.streams) ? v.streams.filter(isObject) : [];
  if (chunkTime === undefined || chunkTime <= 0 || hashes.length === 0 || streams.length === 0)
    return undefined;
  const path = dig(v, ['contentAccess', 'accessList', 0, 'data', 'path']);
  return {
    chunkTime,
    chunkId: num(v.chunkId) ?? (hashes[0] as [number, string])[0],
    hashes,
    path: typeof path === 'string' ? path : '',
    streams,
  };
}

/** `rsid`: two random hex numbers (yt-dlp: num_to_hex(randint(0, 1e8)) twice). */
export function randomRsid(random: () => number = Math.random): string {
  const hex = (): string => Math.floor(random() * 1e8).toString(16);
  return `${hex()}:${hex()}`;
}

/** `rpin`: `_rpin.` and 16 random digits. */
export function randomRpin(random: () => number = Math.random): string {
  let digits = String(1 + Math.floor(random() * 9));
  while (digits.length < 16) digits += String(Math.floor(random() * 10));
  return `_rpin.${digits}`;
}

export interface ConnectParams {
  referrer: string;
  media: string;
  application: UmsApplication;
  /** The registration hash (any JSON value): sent as JSON text inside the string field (double encoded). */
  hash?: unknown;
  password?: string;
  rsid: string;
  rpin: string;
  /** 3 for the websocket, 11 for the long-poll/HLS variant. */
  appId?: number;
}

/** The arguments of `connect` (websocket) or the query of the long-poll GET. */
export function connectArgs(p: ConnectParams): Record<string, unknown> {
  const a: Record<string, unknown> = {
    type: 'viewer',
    appId: p.appId ?? 3,
    appVersion: 2,
    rsid: p.rsid,
    rpin: p.rpin,
    referrer: p.referrer,
    media: p.media,
    application: p.application,
  };
  if (p.application === 'recorded') a.isOffairRecorded = true;
  if (p.hash !== undefined) a.hash = JSON.stringify(p.hash);
  if (p.password !== undefined) a.password = p.password;
  return a;
}

/** The `connect` frame. */
export function connectMessage(p: ConnectParams): string {
  return JSON.stringify({ cmd: 'connect', args: [connectArgs(p)] });
}
