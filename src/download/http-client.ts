/**
 * The HTTP client every loader and the segment scheduler share: keep-alive pools (connections per origin
 * at least the download concurrency) on raw sockets (h1-transport.ts), undici for proxies from the
 * environment (loaded only then, or when its dispatcher is asked for), bounded
 * redirects to http(s) only, bounded bodies, Content-Length checked, and a watchdog that tells a
 * server that never answers (E_TIMEOUT) from one that stops sending mid-body (E_STALL).
 */
import type { Dispatcher } from 'undici';
import { NetworkError } from '../core/errors.js';
import { rangeHeader, type ByteRange } from './byte-range.js';
import { classifyError, interrupted, shownUrl, statusError, type ExchangeFacts } from './http-errors.js';
import { fetchLocal } from './local-fetch.js';
import { decode, header, readBody, type BodySink } from './read-body.js';
import { extraCaList, usesExtraCa } from './extra-ca.js';
import { createH1Transport } from './h1-transport.js';
import type { Transport, TransportResponse } from './transport.js';
import type { DispatcherOptions } from './undici-transport.js';
import { buildRequestHeaders, type RequestHeaderOptions } from './request-headers.js';
import { proxyFromEnv } from './proxy-env.js';
import { assertAllowedUrl, isHttpUrl } from './url-policy.js';

export type { ByteRange } from './byte-range.js';
export { proxyFromEnv, type ProxySettings } from './proxy-env.js';

export interface HttpClientOptions extends RequestHeaderOptions {
  /** Connections per origin; keep it at least the download concurrency. */
  connections?: number;
  maxRedirects?: number;
  /** Connect plus response headers, per attempt. */
  timeoutMs?: number;
  /** Longest silence allowed between body bytes. */
  stallMs?: number;
  /** Largest body accepted. */
  maxBytes?: number;
  /** Accept file: and data: URLs (never as a redirect target). */
  allowLocal?: boolean;
  /** Where HTTP(S)_PROXY and NO_PROXY are read from; process.env by default. */
  env?: Readonly<Record<string, string | undefined>>;
  /** Extra trust for servers (and tests) with private certificates. */
  tls?: { ca?: string | Buffer; rejectUnauthorized?: boolean };
}

export const HTTP_DEFAULTS = {
  connections: 16,
  maxRedirects: 5,
  timeoutMs: 15_000,
  stallMs: 20_000,
  maxBytes: 512 * 1024 * 1024,
} as const;

export interface FetchOptions {
  /** Added to (and replacing) the client's headers for this request. */
  headers?: Record<string, string>;
  range?: ByteRange;
  signal?: AbortSignal;
  timeoutMs?: number;
  stallMs?: number;
  maxBytes?: number;
  maxRedirects?: number;
  /**
   * Hand the body to this sink as it arrives instead of returning it (the result's body is empty). Not for
   * compressed bodies: the sink gets what the server sent.
   */
  sink?: BodySink;
  /**
   * Memory for a body whose length the response gives (at least that many bytes; the body is a view of
   * its start), instead of new memory. Not used for a sink, a compressed body or a local file.
   */
  allocate?: (length: number) => Buffer;
}

export interface FetchResult {
  body: Buffer;
  /** The URL that answered, after redirects: relative URLs in a playlist resolve against it. */
  url: string;
  status: number;
  headers: Record<string, string | string[] | undefined>;
  redirects: number;
}

export interface HttpClient {
  fetch(url: string | URL, options?: FetchOptions): Promise<FetchResult>;
  fetchBytes(url: string | URL, options?: FetchOptions): Promise<Buffer>;
  /** undici's dispatcher with the same pool settings and proxies (undici loaded and the dispatcher made when first asked for). */
  dispatcher(): Promise<Dispatcher>;
  /** The proxies in use (credentials masked), or undefined for direct connections. */
  readonly proxy: { http?: string; https?: string } | undefined;
  close(): Promise<void>;
}

/** What undici's dispatcher is made from (see dispatcher.ts): the options with their defaults. */
export function dispatcherOptions(options: HttpClientOptions, extraCa: boolean): DispatcherOptions {
  return {
    connections: options.connections ?? HTTP_DEFAULTS.connections,
    timeoutMs: options.timeoutMs ?? HTTP_DEFAULTS.timeoutMs,
    env: options.env,
    tls: options.tls,
    extraCa,
  };
}

const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);

type Exchange =
  | { kind: 'redirect'; status: number; location: string }
  | { kind: 'body'; status: number; headers: Record<string, string | string[] | undefined>; body: Buffer };

interface Limits {
  timeoutMs: number;
  stallMs: number;
  maxBytes: number;
}

export function createHttpClient(options: HttpClientOptions = {}): HttpClient {
  const proxySettings = proxyFromEnv(options.env ?? process.env);
  const extraCa = usesExtraCa(options.tls);
  // undici (about 15-20 ms of a command's start with the built-ins it loads: node:http, node:assert) is
  // loaded only when it is used: for a proxy, or when a caller asks for the dispatcher.
  let dispatcher: Promise<Dispatcher> | undefined;
  const undici = (): Promise<Dispatcher> =>
    (dispatcher ??= import('./undici-transport.js').then((m) =>
      m.createDispatcher(dispatcherOptions(options, extraCa)),
    ));
  const transport: Transport = proxySettings
    ? lazyTransport(async () => (await import('./undici-transport.js')).undiciTransport(await undici()))
    : createH1Transport({
        connections: options.connections ?? HTTP_DEFAULTS.connections,
        tls: () => {
          const ca = options.tls?.ca ?? (extraCa ? extraCaList() : undefined);
          return { ...options.tls, ...(ca !== undefined ? { ca } : {}) };
        },
      });
  const maskProxy = (u: string): string | undefined => (u === '' ? undefined : shownUrl(u));

  const fetch = async (url: string | URL, fo: FetchOptions = {}): Promise<FetchResult> => {
    const limits: Limits = {
      timeoutMs: fo.timeoutMs ?? options.timeoutMs ?? HTTP_DEFAULTS.timeoutMs,
      stallMs: fo.stallMs ?? options.stallMs ?? HTTP_DEFAULTS.stallMs,
      maxBytes: fo.maxBytes ?? options.maxBytes ?? HTTP_DEFAULTS.maxBytes,
    };
    const maxRedirects = fo.maxRedirects ?? options.maxRedirects ?? HTTP_DEFAULTS.maxRedirects;
    const first = assertAllowedUrl(url, { allowLocal: options.allowLocal });
    if (fo.signal?.aborted) throw interrupted(first.href);
    if (!isHttpUrl(first)) {
      let body = await fetchLocal(first, fo.range, limits.maxBytes);
      if (fo.sink) {
        await fo.sink.start(body.length);
        await fo.sink.chunk(body);
        body = Buffer.alloc(0);
      }
      return { body, url: first.href, status: 200, headers: {}, redirects: 0 };
    }
    // user:pass@ becomes Basic authorization, sent to the first origin only (as curl does).
    const basic =
      first.username !== ''
        ? `Basic ${Buffer.from(`${decodeURIComponent(first.username)}:${decodeURIComponent(first.password)}`).toString('base64')}`
        : undefined;
    let current = first;
    for (let redirects = 0; ; redirects++) {
      const target = new URL(current.href);
      target.username = '';
      target.password = '';
      const sameOrigin = target.origin === first.origin;
      const user = { ...lowerKeys(options.headers), ...lowerKeys(fo.headers) };
      if (!sameOrigin) {
        // Credentials the user gave for one host are not handed to whatever host it redirects to.
        delete user.authorization;
        delete user.cookie;
      }
      const headers = buildRequestHeaders(target, { ...options, headers: user });
      if (basic && sameOrigin && headers.authorization === undefined) headers.authorization = basic;
      if (fo.range) headers.range = rangeHeader(fo.range);
      const r = await exchange(transport, target, headers, limits, fo);
      if (r.kind === 'body') {
        return { body: r.body, url: current.href, status: r.status, headers: r.headers, redirects };
      }
      let next: URL;
      try {
        next = new URL(r.location, current);
      } catch {
        throw redirectError(`HTTP ${r.status} from ${shownUrl(current)} to an invalid Location`, current);
      }
      if (!isHttpUrl(next)) {
        throw redirectError(
          `refusing the redirect from ${shownUrl(current)} to ${shownUrl(next.href.slice(0, 200))}: only http(s) redirects are followed`,
          current,
        );
      }
      if (redirects >= maxRedirects) {
        throw redirectError(`more than ${maxRedirects} redirects starting at ${shownUrl(first)}`, first);
      }
      current = next;
    }
  };

  return {
    fetch,
    fetchBytes: async (url, fo) => (await fetch(url, fo)).body,
    dispatcher: undici,
    proxy: proxySettings
      ? { http: maskProxy(proxySettings.httpProxy), https: maskProxy(proxySettings.httpsProxy) }
      : undefined,
    close: async () => {
      await transport.close();
      // The client owns the dispatcher, whether the proxy transport or a caller (the ustream site) made it.
      if (dispatcher) await (await dispatcher.catch(() => undefined))?.close();
    },
  };
}

/** A transport made when its first request is made (and closed only if it was made). */
function lazyTransport(make: () => Promise<Transport>): Transport {
  let made: Promise<Transport> | undefined;
  return {
    get: async (url, headers, signal) => (await (made ??= make())).get(url, headers, signal),
    close: async () => {
      if (made) await (await made).close();
    },
  };
}

function lowerKeys(h: Record<string, string> | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(h ?? {})) out[k.toLowerCase()] = v;
  return out;
}

function redirectError(message: string, url: URL): NetworkError {
  return new NetworkError(message, { code: 'E_REDIRECT', retryable: false, details: { url: shownUrl(url) } });
}

/** One request and response, with no redirect following; every failure classified. */
async function exchange(
  transport: Transport,
  url: URL,
  headers: Record<string, string>,
  limits: Limits,
  { range, signal, sink, allocate }: Pick<FetchOptions, 'range' | 'signal' | 'sink' | 'allocate'>,
): Promise<Exchange> {
  const href = url.href;
  const ac = new AbortController();
  const state: { watchdog?: 'timeout' | 'stall' } = {};
  const facts: ExchangeFacts = {
    url: href,
    phase: 'headers',
    received: 0,
    expected: undefined,
    timeoutMs: limits.timeoutMs,
    stallMs: limits.stallMs,
  };
  const onAbort = (): void => ac.abort();
  signal?.addEventListener('abort', onAbort, { once: true });
  let timer = setTimeout(() => {
    state.watchdog = 'timeout';
    ac.abort();
  }, limits.timeoutMs);
  let res: TransportResponse | undefined;
  try {
    res = await transport.get(url, headers, ac.signal);
    const status = res.statusCode;
    const location = header(res.headers, 'location');
    if (REDIRECT_STATUSES.has(status) && location !== undefined) {
      await res.discard(64 * 1024);
      return { kind: 'redirect', status, location };
    }
    if (status < 200 || status >= 300) {
      await res.discard(64 * 1024);
      throw statusError(href, status, header(res.headers, 'retry-after'));
    }
    clearTimeout(timer);
    timer = setTimeout(() => {
      state.watchdog = 'stall';
      ac.abort();
    }, limits.stallMs);
    facts.phase = 'body';
    const encoding = header(res.headers, 'content-encoding')?.trim().toLowerCase();
    const encoded = !range && encoding !== undefined && encoding !== 'identity';
    // A compressed body (a server that ignored `identity`) is read whole, decoded, then given to the sink.
    const raw = await readBody(
      res,
      range,
      facts,
      limits.maxBytes,
      () => timer.refresh(),
      encoded ? {} : { sink, allocate },
    );
    let body = encoded ? decode(raw, encoding, href, limits.maxBytes) : raw;
    if (sink && encoded) {
      await sink.start(body.length);
      await sink.chunk(body);
      body = Buffer.alloc(0);
    }
    return { kind: 'body', status, headers: res.headers, body };
  } catch (err) {
    // A body we stopped reading would hold its connection open until the server gives up.
    res?.destroy();
    if (signal?.aborted) throw interrupted(href);
    throw classifyError(err, { ...facts, watchdog: state.watchdog });
  } finally {
    clearTimeout(timer);
    signal?.removeEventListener('abort', onAbort);
  }
}
