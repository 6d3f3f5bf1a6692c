/**
 * How a failed HTTP exchange becomes a NetworkError: a stable code, whether trying again can help, and
 * the facts (URL with credentials masked, status, byte counts, Retry-After) a message and a retry need.
 */
import type { CastkitError } from '../core/errors.js';
import { InterruptedError, NetworkError, isCastkitError, systemErrorCode } from '../core/errors.js';
import { redactUrlCredentials } from '../core/redact.js';

/** Codes used by the download engine, for scripts and tests. */
export type DownloadErrorCode =
  | 'E_HTTP_STATUS'
  | 'E_SHORT_BODY'
  | 'E_TIMEOUT'
  | 'E_STALL'
  | 'E_NETWORK'
  | 'E_TLS'
  | 'E_DNS'
  | 'E_TOO_LARGE'
  | 'E_REDIRECT'
  | 'E_RANGE';

/** Retry-After: either delay-seconds or an HTTP-date (RFC 9110 section 10.2.3); ms from `now`. */
export function parseRetryAfter(value: string | undefined, now = Date.now()): number | undefined {
  if (value === undefined) return undefined;
  const v = value.trim();
  if (/^\d+$/.test(v)) return Number(v) * 1000;
  const at = Date.parse(v);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, at - now);
}

/** The server's requested wait before the next attempt, when the error carries one. */
export function retryAfterOf(err: unknown): number | undefined {
  if (!isCastkitError(err)) return undefined;
  const v = err.details.retryAfterMs;
  return typeof v === 'number' && Number.isFinite(v) ? v : undefined;
}

export function shownUrl(url: string | URL): string {
  return redactUrlCredentials(typeof url === 'string' ? url : url.href);
}

/** 429 and 5xx are worth another try; 408 too (the server gave up waiting for us). */
export function isRetryableStatus(status: number): boolean {
  return status === 429 || status === 408 || status >= 500;
}

export function statusError(url: string, status: number, retryAfter: string | undefined): NetworkError {
  const retryable = isRetryableStatus(status);
  const retryAfterMs = retryable ? parseRetryAfter(retryAfter) : undefined;
  const hint =
    status === 401 || status === 403
      ? 'the server refused access: pass cookies (--cookies), headers (--header, --referer) or a fresh URL'
      : status === 404 || status === 410
        ? 'the resource is gone; for a live stream it may have left the server window'
        : undefined;
  return new NetworkError(`HTTP ${status} from ${shownUrl(url)}`, {
    code: 'E_HTTP_STATUS',
    retryable,
    hint,
    details: { url: shownUrl(url), status, ...(retryAfterMs !== undefined ? { retryAfterMs } : {}) },
  });
}

export interface ExchangeFacts {
  url: string;
  /** Which phase failed, for the message. */
  phase: 'headers' | 'body';
  received: number;
  expected: number | undefined;
  /** Set when our own watchdog aborted the exchange. */
  watchdog?: 'timeout' | 'stall';
  timeoutMs: number;
  stallMs: number;
}

const TLS_CODES = /^(CERT_|UNABLE_TO_|DEPTH_ZERO|SELF_SIGNED|ERR_TLS_|ERR_SSL_|ERR_OSSL_)/;

/** Turn whatever undici or the socket threw into a NetworkError (or pass a CastkitError through). */
export function classifyError(err: unknown, f: ExchangeFacts): CastkitError {
  if (isCastkitError(err)) return err;
  const url = shownUrl(f.url);
  const counts = f.expected !== undefined ? `${f.received} of ${f.expected} bytes` : `${f.received} bytes`;
  const details = {
    url,
    received: f.received,
    ...(f.expected !== undefined ? { expected: f.expected } : {}),
  };
  const code = systemErrorCode(err);
  if (f.watchdog === 'stall' || code === 'UND_ERR_BODY_TIMEOUT') {
    return new NetworkError(`no data for ${f.stallMs} ms from ${url} after ${counts}`, {
      code: 'E_STALL',
      cause: err,
      details,
    });
  }
  if (f.watchdog === 'timeout' || code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_CONNECT_TIMEOUT') {
    return new NetworkError(`no response within ${f.timeoutMs} ms from ${url}`, {
      code: 'E_TIMEOUT',
      cause: err,
      details,
    });
  }
  if (code && TLS_CODES.test(code)) {
    return new NetworkError(`TLS failure with ${url}: ${code}`, {
      code: 'E_TLS',
      retryable: false,
      cause: err,
      details,
      hint: tlsHint(code),
    });
  }
  if (code === 'ENOTFOUND') {
    return new NetworkError(`cannot resolve the host of ${url}`, {
      code: 'E_DNS',
      retryable: false,
      cause: err,
      details,
      hint: 'check the host name and the network',
    });
  }
  const reset = code === 'ECONNRESET' || code === 'EPIPE';
  if (f.phase === 'body' && !reset && f.expected !== undefined && f.received < f.expected) {
    return shortBodyError(f, err);
  }
  const what = reset ? 'connection reset' : code === 'ECONNREFUSED' ? 'connection refused' : errText(err);
  const where = f.phase === 'body' ? ` after ${counts}` : '';
  const hint =
    code === 'ECONNREFUSED'
      ? 'nothing answers at that address: check the host and port in the URL, and that the server is up'
      : undefined;
  return new NetworkError(`${what} by ${url}${where}`, { code: 'E_NETWORK', cause: err, details, hint });
}

/** What to do about a TLS failure, by its code. */
function tlsHint(code: string): string {
  if (code === 'ERR_TLS_CERT_ALTNAME_INVALID')
    return 'the certificate is for another host name; check the host in the URL';
  if (code === 'ERR_SSL_WRONG_VERSION_NUMBER' || code === 'ERR_SSL_PACKET_LENGTH_TOO_LONG')
    return 'the server did not answer in TLS: it may serve plain http:// on this port';
  if (code.startsWith('ERR_SSL_') || code.startsWith('ERR_OSSL_'))
    return 'castkit and the server found no TLS version or cipher in common';
  return 'the server certificate is not trusted; check the URL, or give the CA that signed it with NODE_EXTRA_CA_CERTS=/path/to/ca.pem';
}

/** The peer closed before Content-Length bytes: a truncated body (RFC 9112 section 6.3). Retryable. */
export function shortBodyError(f: ExchangeFacts, cause?: unknown): NetworkError {
  const url = shownUrl(f.url);
  const expected = f.expected ?? f.received;
  return new NetworkError(
    `body of ${url} ended after ${f.received} of ${expected} bytes (short by ${expected - f.received})`,
    { code: 'E_SHORT_BODY', cause, details: { url, received: f.received, expected } },
  );
}

function errText(err: unknown): string {
  const msg = err instanceof Error ? err.message : String(err);
  const code = systemErrorCode(err);
  return code && !msg.includes(code) ? `${msg} (${code})` : msg;
}

export function interrupted(url: string): InterruptedError {
  return new InterruptedError(`interrupted while fetching ${shownUrl(url)}`);
}
