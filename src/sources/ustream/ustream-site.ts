/**
 * The web site side of ustream (shared/specs/ustream-ums.md section 1): the page, the viewer registration
 * ("dumb authentication", seed 000) that yields the opaque `hash`, and the channel's content listing. The
 * site sets cookies on the way; they are kept here and sent back (the header is `Cookie`: ustream-dl sent
 * `Cookies`, which no server reads) to the site and to the UMS websocket.
 *
 * GETs go through the shared HttpClient; the form POSTs use the same dispatcher (pool, proxies), retried
 * with the same policy.
 */
import { InputError, NetworkError, isCastkitError } from '../../core/errors.js';
import { cookieHeader, type Cookie } from '../../download/cookies.js';
import type { HttpClient } from '../../download/http-client.js';
import { classifyError, interrupted, shownUrl, statusError } from '../../download/http-errors.js';
import { buildRequestHeaders } from '../../download/request-headers.js';
import { withRetry, type RetryPolicy } from '../../download/retry-policy.js';

/** Largest page or JSON reply accepted. */
const MAX_TEXT_BYTES = 16 << 20;

/** The registration form's fields (all required by the site; the values are not checked). */
export interface UstreamRegistration {
  name: string;
  email: string;
  company: string;
  role: string;
  phone: string;
}

/** Dummies, as a person in a hurry would type them. */
export const DEFAULT_REGISTRATION: UstreamRegistration = {
  name: 'castkit',
  email: 'castkit@example.com',
  company: 'castkit',
  role: 'viewer',
  phone: '0123456789',
};

/** One video of a channel's content listing. */
export interface UstreamVideo {
  id: string;
  title?: string;
  /** Seconds, when the listing says. */
  durationSec?: number;
  /** Unix seconds, when the listing says. */
  createdAt?: number;
}

export interface UstreamSiteOptions {
  client: HttpClient;
  retry: RetryPolicy;
  userAgent?: string;
  referer?: string;
  headers?: Record<string, string>;
  /** The user's cookies (cookies.txt), for the POSTs and the websocket (GETs get them from the client). */
  cookies?: readonly Cookie[];
  timeoutMs?: number;
  signal?: AbortSignal;
}

export class UstreamSite {
  /** Cookies the site set (Set-Cookie), newest last. */
  private readonly received: Cookie[] = [];

  constructor(private readonly o: UstreamSiteOptions) {}

  /** The value of the `Cookie` header for `url`: the user's cookies and the site's. */
  cookieHeader(url: string): string | undefined {
    return cookieHeader([...(this.o.cookies ?? []), ...this.received], new URL(url));
  }

  /** Headers a browser on the page would send to `url` (user agent, referer, the user's --header lines). */
  baseHeaders(url: string): Record<string, string> {
    return buildRequestHeaders(new URL(url), {
      headers: this.o.headers,
      userAgent: this.o.userAgent,
      referer: this.o.referer,
    });
  }

  /** GET a page or JSON document as text (retried). */
  async getText(url: string): Promise<{ text: string; url: string }> {
    const fromSite = cookieHeader(this.received, new URL(url));
    const res = await withRetry(
      () =>
        this.o.client.fetch(url, {
          signal: this.o.signal,
          maxBytes: MAX_TEXT_BYTES,
          ...(fromSite ? { headers: { cookie: fromSite } } : {}),
        }),
      this.o.retry,
      { signal: this.o.signal },
    );
    this.keepCookies(res.headers['set-cookie'], res.url);
    return { text: res.body.toString('utf8'), url: res.url };
  }

  /** GET JSON (the long-poll variant). */
  async getJson(url: string): Promise<unknown> {
    const { text } = await this.getText(url);
    return parseJson(text, url);
  }

  /**
   * The registration: `fields[name]`, ... posted to
   * `{site}/ajax/viewer-registration/save/{cid}/channel/{cid}.json`.
   * Returns the reply's `hash` (any JSON value), or undefined when the channel has no registration wall
   * (the endpoint answers 404).
   */
  async register(site: string, channelId: string, fields: UstreamRegistration): Promise<unknown> {
    const url = siteUrl(site, `ajax/viewer-registration/save/${channelId}/channel/${channelId}.json`);
    let reply: unknown;
    try {
      reply = await this.postForm(url, {
        'fields[name]': fields.name,
        'fields[email]': fields.email,
        'fields[company]': fields.company,
        'fields[role]': fields.role,
        'fields[phone]': fields.phone,
      });
    } catch (err) {
      if (isCastkitError(err) && err.details.status === 404) return undefined;
      throw err;
    }
    if (!isObject(reply) || !('hash' in reply) || reply.hash === undefined || reply.hash === null) {
      throw new InputError(
        `the registration at ${shownUrl(url)} gave no hash: ${JSON.stringify(reply).slice(0, 200)}`,
        {
          code: 'E_USTREAM_REGISTRATION',
          hint: 'the site refused the registration; try other values with --register name=..,email=..',
          details: { url: shownUrl(url) },
        },
      );
    }
    return reply.hash;
  }

  /**
   * The channel's videos: `hash` (as JSON text) posted to
   * `{site}/ajax/viewing-experience/channel/{cid}/content.json`;
   * the ids are at `exposedVariables.videosData.videos[i].id`.
   */
  async content(site: string, channelId: string, hash: unknown): Promise<UstreamVideo[]> {
    const url = siteUrl(site, `ajax/viewing-experience/channel/${channelId}/content.json`);
    const reply = await this.postForm(url, hash === undefined ? {} : { hash: JSON.stringify(hash) });
    const list = dig(reply, ['exposedVariables', 'videosData', 'videos']);
    if (!Array.isArray(list)) {
      throw new InputError(`the content listing of channel ${channelId} has no video list`, {
        code: 'E_USTREAM_CONTENT',
        hint: 'the site answered something unexpected; check the page in a browser',
        details: { url: shownUrl(url), reply: JSON.stringify(reply).slice(0, 300) },
      });
    }
    const videos: UstreamVideo[] = [];
    for (const v of list) {
      if (!isObject(v)) continue;
      const id = typeof v.id === 'string' || typeof v.id === 'number' ? String(v.id) : undefined;
      if (!id) continue;
      const video: UstreamVideo = { id };
      if (typeof v.title === 'string') video.title = v.title;
      const length = numberOf(v.length ?? v.duration);
      if (length !== undefined) video.durationSec = length;
      const created = numberOf(v.createdAt ?? v.created_at);
      if (created !== undefined) video.createdAt = created;
      videos.push(video);
    }
    return videos;
  }

  /** POST a form, retried like any fetch; the reply as JSON. */
  async postForm(url: string, fields: Record<string, string>): Promise<unknown> {
    const text = await withRetry(() => this.postOnce(url, fields), this.o.retry, { signal: this.o.signal });
    return parseJson(text, url);
  }

  private async postOnce(url: string, fields: Record<string, string>): Promise<string> {
    const signal = this.o.signal;
    if (signal?.aborted) throw interrupted(url);
    const target = new URL(url);
    const headers = buildRequestHeaders(target, {
      headers: this.o.headers,
      userAgent: this.o.userAgent,
      referer: this.o.referer,
      cookies: [...(this.o.cookies ?? []), ...this.received],
    });
    headers['content-type'] = 'application/x-www-form-urlencoded; charset=UTF-8';
    headers['x-requested-with'] = 'XMLHttpRequest';
    headers.origin = target.origin;
    headers.accept = 'application/json, text/javascript, */*; q=0.01';
    const timeoutMs = this.o.timeoutMs ?? 15_000;
    const timeout = AbortSignal.timeout(timeoutMs);
    const both = signal ? AbortSignal.any([signal, timeout]) : timeout;
    try {
      // undici is loaded here, not when castkit starts (see http-client.ts).
      const { request } = await import('../../download/undici-core.js');
      const res = await request(target, {
        dispatcher: await this.o.client.dispatcher(),
        method: 'POST',
        headers,
        body: new URLSearchParams(fields).toString(),
        signal: both,
      });
      const status = res.statusCode;
      if (status < 200 || status >= 300) {
        await res.body.dump({ limit: 64 * 1024 }).catch(() => undefined);
        const after = res.headers['retry-after'];
        throw statusError(url, status, Array.isArray(after) ? after[0] : after);
      }
      const chunks: Buffer[] = [];
      let size = 0;
      for await (const c of res.body as AsyncIterable<Buffer>) {
        size += c.length;
        if (size > MAX_TEXT_BYTES) {
          res.body.destroy();
          throw new NetworkError(`the reply of ${shownUrl(url)} is larger than ${MAX_TEXT_BYTES} bytes`, {
            code: 'E_TOO_LARGE',
            retryable: false,
          });
        }
        chunks.push(c);
      }
      this.keepCookies(res.headers['set-cookie'], url);
      return Buffer.concat(chunks).toString('utf8');
    } catch (err) {
      if (signal?.aborted) throw interrupted(url);
      if (isCastkitError(err)) throw err;
      const facts = {
        url,
        phase: 'headers' as const,
        received: 0,
        expected: undefined,
        timeoutMs,
        stallMs: timeoutMs,
      };
      throw classifyError(err, timeout.aborted ? { ...facts, watchdog: 'timeout' } : facts);
    }
  }

  /** Set-Cookie (RFC 6265 5.2), enough of it: name=value, Domain, Path, Secure, HttpOnly, Max-Age, Expires. */
  private keepCookies(header: string | string[] | undefined, url: string): void {
    if (header === undefined) return;
    const from = new URL(url);
    for (const line of Array.isArray(header) ? header : [header]) {
      const [pair = '', ...attrs] = line.split(';');
      const eq = pair.indexOf('=');
      if (eq <= 0) continue;
      const cookie: Cookie = {
        domain: from.hostname.toLowerCase(),
        includeSubdomains: false,
        path: '/',
        secure: false,
        httpOnly: false,
        expires: 0,
        name: pair.slice(0, eq).trim(),
        value: pair.slice(eq + 1).trim(),
      };
      let defaultPath = from.pathname.replace(/\/[^/]*$/, '') || '/';
      for (const a of attrs) {
        const i = a.indexOf('=');
        const key = (i < 0 ? a : a.slice(0, i)).trim().toLowerCase();
        const value = i < 0 ? '' : a.slice(i + 1).trim();
        if (key === 'domain' && value !== '') {
          cookie.domain = value.replace(/^\./, '').toLowerCase();
          cookie.includeSubdomains = true;
        } else if (key === 'path' && value.startsWith('/')) defaultPath = value;
        else if (key === 'secure') cookie.secure = true;
        else if (key === 'httponly') cookie.httpOnly = true;
        else if (key === 'max-age' && /^-?\d+$/.test(value)) {
          cookie.expires = Number(value) <= 0 ? 1 : Math.floor(Date.now() / 1000) + Number(value);
        } else if (key === 'expires' && cookie.expires === 0) {
          const at = Date.parse(value);
          if (!Number.isNaN(at)) cookie.expires = Math.max(1, Math.floor(at / 1000));
        }
      }
      cookie.path = defaultPath;
      const same = this.received.findIndex(
        (c) => c.name === cookie.name && c.domain === cookie.domain && c.path === cookie.path,
      );
      if (same >= 0) this.received.splice(same, 1);
      this.received.push(cookie);
    }
  }
}

/** `{site}/{path}` with exactly one slash between. */
export function siteUrl(site: string, path: string): string {
  return `${site.replace(/\/+$/, '')}/${path.replace(/^\/+/, '')}`;
}

function parseJson(text: string, url: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new InputError(`${shownUrl(url)} did not answer JSON: ${JSON.stringify(text.slice(0, 120))}`, {
      code: 'E_USTREAM_RESPONSE',
      hint: 'the site answered something unexpected (a login or error page?); check the URL in a browser',
      details: { url: shownUrl(url) },
    });
  }
}

export function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function dig(v: unknown, path: readonly (string | number)[]): unknown {
  let cur = v;
  for (const k of path) {
    if (typeof k === 'number') {
      if (!Array.isArray(cur)) return undefined;
      cur = cur[k];
    } else {
      if (!isObject(cur)) return undefined;
      cur = cur[k];
    }
  }
  return cur;
}

function numberOf(v: unknown): number | undefined {
  const n = typeof v === 'string' && v.trim() !== '' ? Number(v) : v;
  return typeof n === 'number' && Number.isFinite(n) ? n : undefined;
}
