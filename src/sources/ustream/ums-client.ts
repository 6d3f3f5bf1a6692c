/**
 * A UMS session (shared/specs/ustream-ums.md sections 2 and 5).
 *
 * Websocket: connect (the `Origin` of the site, the site's cookies in `Cookie`), send `connect`, then read
 * frames in whatever order they come until both the CDN base (`cdnConfig`) and the stream formats are
 * known. A `reject` with `cluster` means: connect again to that host; with `referrerLock`: connect again
 * with that referrer; `nonexistent` and `geoLock` are final (InputError, exit 3), as is
 * `contentAvailable: false` when opening. Warnings go to `onNotice`; noise is ignored. For a live channel
 * the session then keeps reading (`follow()`): every `stream` message moves the chunk id and slides the
 * hash window; the end of the broadcast (`contentAvailable: false`, or the server closing) ends it; a
 * dropped socket is reconnected.
 *
 * Long-poll (yt-dlp's appId 11 variant): GET the UMS URL with the connect fields as a query, follow its
 * `tracking` host with the connection id, and take the HLS playlist from the `stream` list; the pair is
 * tried again a few times when `stream` is missing.
 */
import { InputError, InterruptedError, NetworkError, isCastkitError } from '../../core/errors.js';
import { redactUrlCredentials } from '../../core/redact.js';
import { sleep } from '../../download/retry-policy.js';
import { WsConnection } from '../websocket/ws-connection.js';
import {
  connectArgs,
  connectMessage,
  parseUmsText,
  randomRpin,
  randomRsid,
  umsEvents,
  type SegmentedFormat,
  type UmsReject,
  type UmsStream,
} from './ums-protocol.js';
import type { UstreamSite } from './ustream-site.js';
import { randomDigits, type UmsApplication } from './ustream-url.js';

/** The real hosts: `r{random}-1-{media}-{application}-wss-live.ums.ustream.tv`. */
export const UMS_WS_TEMPLATE = 'wss://r{random}-1-{media}-{application}-wss-live.ums.ustream.tv/1/ustream';
export const UMS_LP_TEMPLATE = 'http://r{random}-1-{media}-{application}-lp-live.ums.ustream.tv/1/ustream';

/** `{random}`, `{media}` and `{application}` filled in (a URL without them is used as it is). */
export function umsUrlFor(
  template: string,
  media: string,
  application: UmsApplication,
  random: () => number = Math.random,
): string {
  return template
    .replace(/\{random\}/g, randomDigits(8, random))
    .replace(/\{media\}/g, media)
    .replace(/\{application\}/g, application);
}

export interface UmsSessionOptions {
  /** ws(s):// URL of the UMS endpoint (template filled). */
  url: string;
  /** Sent as Origin (the site's origin). */
  origin: string;
  /** The page URL, sent as `referrer` in connect. */
  referrer: string;
  media: string;
  application: UmsApplication;
  hash?: unknown;
  password?: string;
  /** The `Cookie` header for the handshake. */
  cookie?: string;
  /** Other handshake headers (user agent, the user's --header lines). */
  headers?: Record<string, string>;
  signal?: AbortSignal;
  onNotice?: (message: string) => void;
  /** Rejects with a redirect (cluster, referrerLock) followed at most. Default 5. */
  maxRedirects?: number;
  /** Live: reconnections in a row without a message before giving up. Default 5. */
  maxReconnects?: number;
  handshakeTimeoutMs?: number;
  /** Silence after which the connection counts as dropped. Default 20 s. */
  stallTimeoutMs?: number;
  random?: () => number;
}

/** What a segmented stream needs: where the CDN is, and the formats, with when they were last sent. */
export interface UmsState {
  /** `protocol://host + path` of the first CDN site. */
  cdnBase?: string;
  flv?: SegmentedFormat;
  mp4?: SegmentedFormat;
  hls?: { name: string; url: string }[];
  /** Date.now() when the newest `stream` message came (live chunk availability counts from it). */
  streamAt: number;
  contentAvailable?: boolean;
}

/** A live feed of stream states, as the ustream source reads it. */
export interface UmsFeed {
  state(): UmsState;
  /** The broadcast ended (or, for a recorded video, there is nothing more to hear). */
  ended(): boolean;
  /** A failure that stopped the feed (rethrown by the source). */
  failure(): Error | undefined;
  close(): void;
}

/** A feed that never changes (a recorded video, or a test). */
export function staticFeed(state: UmsState): UmsFeed {
  return { state: () => state, ended: () => true, failure: () => undefined, close: () => undefined };
}

export class UmsSession implements UmsFeed {
  private conn: WsConnection | undefined;
  private readonly st: UmsState = { streamAt: 0 };
  private over = false;
  private error: Error | undefined;
  private following = false;
  private url: string;
  private referrer: string;
  private redirects = 0;

  private constructor(private readonly o: UmsSessionOptions) {
    this.url = o.url;
    this.referrer = o.referrer;
  }

  /** Connects and returns once the CDN base and the stream formats are known; throws final rejects. */
  static async open(o: UmsSessionOptions): Promise<UmsSession> {
    const s = new UmsSession(o);
    try {
      await s.connectUntilReady();
    } catch (err) {
      s.close();
      throw err;
    }
    return s;
  }

  /** Where the session is connected now (after cluster redirects). */
  get connectedUrl(): string {
    return this.url;
  }

  state(): UmsState {
    return this.st;
  }

  ended(): boolean {
    return this.over;
  }

  failure(): Error | undefined {
    return this.error;
  }

  /** Keep reading stream updates in the background (live). */
  follow(): void {
    if (this.following || this.over) return;
    this.following = true;
    void this.pump();
  }

  close(): void {
    this.over = true;
    this.conn?.stop();
    this.conn = undefined;
  }

  private ready(): boolean {
    if (this.st.hls && this.st.hls.length > 0) return true;
    return this.st.cdnBase !== undefined && (this.st.flv !== undefined || this.st.mp4 !== undefined);
  }

  private async connect(): Promise<WsConnection> {
    const args = {
      referrer: this.referrer,
      media: this.o.media,
      application: this.o.application,
      hash: this.o.hash,
      rsid: randomRsid(this.o.random),
      rpin: randomRpin(this.o.random),
      ...(this.o.password !== undefined ? { password: this.o.password } : {}),
    };
    const headers: Record<string, string> = { ...this.o.headers };
    if (this.o.cookie) headers.cookie = this.o.cookie;
    return WsConnection.open(this.url, {
      headers,
      origin: this.o.origin,
      sendOnOpen: connectMessage(args),
      signal: this.o.signal,
      handshakeTimeoutMs: this.o.handshakeTimeoutMs,
      stallTimeoutMs: this.o.stallTimeoutMs ?? 20_000,
      maxMessageBytes: 16 << 20,
    });
  }

  private async connectUntilReady(): Promise<void> {
    for (;;) {
      const conn = await this.connect();
      this.conn = conn;
      for (;;) {
        const msg = await conn.next();
        if (!msg) {
          throw new NetworkError(
            `the UMS server ${shown(this.url)} closed the session before sending the stream (code ${String(conn.closeCode)})`,
            { code: 'E_UMS_CLOSED', details: { url: shown(this.url), closeCode: conn.closeCode } },
          );
        }
        if (msg.binary) continue;
        const redirect = this.handle(Buffer.from(msg.data).toString('utf8'), true);
        if (redirect) break;
        if (this.ready()) return;
      }
      conn.stop();
      this.conn = undefined;
    }
  }

  /**
   * Applies one frame. Returns true when a reject redirected the session (the caller reconnects to
   * `this.url`); throws the final rejects; `opening`: `contentAvailable: false` is an error, not an end.
   */
  private handle(text: string, opening: boolean): boolean {
    for (const m of parseUmsText(text)) {
      for (const ev of umsEvents(m)) {
        if (ev.type === 'reject') {
          this.redirectOrThrow(ev.reject);
          return true;
        }
        if (ev.type === 'warning') this.o.onNotice?.(`UMS warning ${ev.code}: ${ev.message}`);
        else if (ev.type === 'cdn') this.st.cdnBase ??= ev.bases[0];
        else if (ev.type === 'stream') this.applyStream(ev.stream, opening);
      }
    }
    return false;
  }

  private applyStream(s: UmsStream, opening: boolean): void {
    if (s.contentAvailable === false) {
      this.st.contentAvailable = false;
      if (opening) throw offlineError(this.o.application, this.o.media);
      this.over = true;
      return;
    }
    if (s.contentAvailable !== undefined) this.st.contentAvailable = s.contentAvailable;
    if (s.flv) this.st.flv = s.flv;
    if (s.mp4) this.st.mp4 = s.mp4;
    if (s.hls) this.st.hls = s.hls;
    if (s.flv || s.mp4) this.st.streamAt = Date.now();
  }

  private redirectOrThrow(r: UmsReject): void {
    if (r.kind !== 'cluster' && r.kind !== 'referrerLock') {
      throw rejectError(this.o.application, this.o.media, r);
    }
    if (++this.redirects > (this.o.maxRedirects ?? 5)) {
      throw new NetworkError(
        `the UMS servers redirected the session more than ${this.o.maxRedirects ?? 5} times`,
        {
          code: 'E_UMS_REDIRECTS',
          retryable: false,
          details: { url: shown(this.url) },
        },
      );
    }
    if (r.kind === 'cluster') {
      const next = clusterUrl(this.url, r.host);
      this.o.onNotice?.(`UMS: moving to cluster ${r.name ?? r.host} (${shown(next)})`);
      this.url = next;
    } else {
      this.o.onNotice?.(
        `UMS: the stream is locked to the referrer ${r.redirectUrl}; connecting again with it`,
      );
      this.referrer = r.redirectUrl;
    }
  }

  /** Live: read until the broadcast ends; reconnect a dropped session. */
  private async pump(): Promise<void> {
    let failures = 0;
    while (!this.over) {
      try {
        if (!this.conn) {
          this.conn = await this.connect();
        }
        const msg = await this.conn.next();
        if (!msg) {
          // A normal close: the broadcast is over (the server says so by closing).
          this.over = true;
          break;
        }
        failures = 0;
        if (msg.binary) continue;
        if (this.handle(Buffer.from(msg.data).toString('utf8'), false)) {
          this.conn.stop();
          this.conn = undefined;
        }
      } catch (err) {
        this.conn?.stop();
        this.conn = undefined;
        if (this.over || err instanceof InterruptedError || this.o.signal?.aborted) break;
        const retryable = isCastkitError(err) ? err.retryable : false;
        if (!retryable || ++failures > (this.o.maxReconnects ?? 5)) {
          this.error = err instanceof Error ? err : new Error(String(err));
          this.over = true;
          break;
        }
        this.o.onNotice?.(
          `UMS session lost (${err instanceof Error ? err.message : String(err)}); reconnecting (${failures})`,
        );
        await sleep(Math.min(5000, 250 * 2 ** failures), this.o.signal).catch(() => undefined);
      }
    }
    this.conn?.stop();
    this.conn = undefined;
  }
}

/** A reject's cluster as a URL: a full ws(s) URL, or a host (and port) on the current scheme and path. */
export function clusterUrl(current: string, host: string): string {
  if (/^wss?:\/\//i.test(host)) {
    const u = new URL(host);
    if (u.pathname === '/' || u.pathname === '') u.pathname = new URL(current).pathname;
    return u.href;
  }
  const cur = new URL(current);
  return `${cur.protocol}//${host.replace(/\/+$/, '')}${cur.pathname}${cur.search}`;
}

export function offlineError(application: UmsApplication, media: string): InputError {
  return application === 'channel'
    ? new InputError(`channel ${media} is offline: it is not broadcasting now (contentAvailable: false)`, {
        code: 'E_USTREAM_OFFLINE',
        hint: 'record one of its videos instead (--list shows them, --video ID picks one), or try again when it is live',
        details: { media, application },
      })
    : new InputError(`video ${media} is not available (contentAvailable: false)`, {
        code: 'E_USTREAM_OFFLINE',
        hint: 'the video may have been removed or made private; check the page in a browser',
        details: { media, application },
      });
}

function shown(url: string): string {
  return redactUrlCredentials(url);
}

export interface LongPollOptions {
  /** http(s):// URL of the long-poll endpoint (template filled). */
  url: string;
  referrer: string;
  media: string;
  application: UmsApplication;
  hash?: unknown;
  password?: string;
  site: UstreamSite;
  signal?: AbortSignal;
  onNotice?: (message: string) => void;
  /** Tries of the GET pair when `stream` is missing. Default 4. */
  tries?: number;
  random?: () => number;
}

/** The long-poll variant: the HLS playlists the session offers (appId 11). */
export async function longPollHls(o: LongPollOptions): Promise<{ name: string; url: string }[]> {
  const tries = Math.max(1, o.tries ?? 4);
  const base = new URL(o.url);
  for (let attempt = 1; ; attempt++) {
    const args = connectArgs({
      referrer: o.referrer,
      media: o.media,
      application: o.application,
      hash: o.hash,
      rsid: randomRsid(o.random),
      rpin: randomRpin(o.random),
      appId: 11,
      ...(o.password !== undefined ? { password: o.password } : {}),
    });
    const first = new URL(base.href);
    for (const [k, v] of Object.entries(args)) first.searchParams.set(k, String(v));
    const tracking = await pollOnce(o, first.href);
    if (tracking.hls) return tracking.hls;
    if (!tracking.host || tracking.connectionId === undefined) {
      throw new NetworkError(`the long-poll UMS ${shown(base.href)} sent no tracking host`, {
        code: 'E_UMS_LONGPOLL',
        retryable: false,
        details: { url: shown(base.href) },
      });
    }
    const second = new URL(`${base.protocol}//${tracking.host}${base.pathname}`);
    second.searchParams.set('connectionId', tracking.connectionId);
    const r = await pollOnce(o, second.href);
    if (r.hls) return r.hls;
    if (attempt >= tries) {
      throw new InputError(`the long-poll UMS session for ${o.media} sent no stream after ${tries} tries`, {
        code: 'E_USTREAM_NO_STREAM',
        hint: 'the video may be offline; try the websocket session (the default)',
        details: { media: o.media },
      });
    }
    o.onNotice?.(`UMS long-poll: no stream yet; asking again (${attempt + 1}/${tries})`);
    await sleep(250 * attempt, o.signal);
  }
}

async function pollOnce(
  o: LongPollOptions,
  url: string,
): Promise<{ host?: string; connectionId?: string; hls?: { name: string; url: string }[] }> {
  const reply = await o.site.getJson(url);
  const out: { host?: string; connectionId?: string; hls?: { name: string; url: string }[] } = {};
  for (const m of parseUmsText(JSON.stringify(reply))) {
    for (const ev of umsEvents(m)) {
      if (ev.type === 'tracking') {
        out.host = ev.host;
        out.connectionId = ev.connectionId;
      } else if (ev.type === 'warning') o.onNotice?.(`UMS warning ${ev.code}: ${ev.message}`);
      else if (ev.type === 'reject') {
        // A redirect means nothing to a long poll; anything else is as final as over the websocket.
        if (ev.reject.kind !== 'cluster' && ev.reject.kind !== 'referrerLock') {
          throw rejectError(o.application, o.media, ev.reject);
        }
        o.onNotice?.(`UMS long-poll: ignoring a ${ev.reject.kind} reject`);
      } else if (ev.type === 'stream') {
        if (ev.stream.contentAvailable === false) throw offlineError(o.application, o.media);
        if (ev.stream.hls && ev.stream.hls.length > 0) out.hls = ev.stream.hls;
      }
    }
  }
  return out;
}

/** A final reject (nonexistent, geoLock, anything unknown) as the error the user sees (exit 3). */
export function rejectError(
  application: UmsApplication,
  media: string,
  r: Exclude<UmsReject, { kind: 'cluster' } | { kind: 'referrerLock' }>,
): InputError {
  const what = `${application === 'channel' ? 'channel' : 'video'} ${media}`;
  if (r.kind === 'nonexistent') {
    return new InputError(`ustream says ${what} does not exist (UMS reject: nonexistent)`, {
      code: 'E_USTREAM_NONEXISTENT',
      hint: 'check the id (castkit record <page> --list shows the videos of a channel)',
      details: { media, application },
    });
  }
  if (r.kind === 'geoLock') {
    return new InputError(`ustream refuses ${what} in this country (UMS reject: geoLock)`, {
      code: 'E_USTREAM_GEOLOCK',
      hint: 'the broadcaster restricted it by region; it can only be watched from an allowed country',
      details: { media, application },
    });
  }
  return new InputError(`ustream rejected the session for ${what}: ${r.text}`, {
    code: 'E_USTREAM_REJECTED',
    hint: 'the page may need a password or a login that castkit was not given',
    details: { media, application, reject: r.text },
  });
}
