/**
 * One websocket connection (RFC 6455) as a pull queue of messages, on the `ws` client: request headers and
 * Origin, a handshake timeout, a stall timeout, a bound on message size, and backpressure (the socket is
 * paused while more than `highWaterBytes` wait to be taken), so memory stays bounded when the disk is
 * slower than the network. Failures become NetworkErrors that say whether reconnecting can help.
 */
import WebSocket from 'ws';
import type { CastkitError } from '../../core/errors.js';
import { InterruptedError, NetworkError, systemErrorCode } from '../../core/errors.js';
import { redactUrlCredentials } from '../../core/redact.js';
import { extraCaList } from '../../download/extra-ca.js';
import { proxyFor } from '../../download/proxy-env.js';
import { tunnelAgent } from '../../download/proxy-tunnel.js';

export interface WsConnectOptions {
  /** Extra request headers for the handshake (cookies, user agent, authorization). */
  headers?: Record<string, string>;
  /** The Origin header; some servers (EvoStream behind a web page) only answer their own site's. */
  origin?: string;
  /** Sec-WebSocket-Protocol values to offer. */
  protocols?: string[];
  /** Give up on a handshake after this long, ms (default 15 s). */
  handshakeTimeoutMs?: number;
  /** A connection that sends nothing for this long is dropped, ms (default 20 s). */
  stallTimeoutMs?: number;
  /** Largest message accepted, bytes (default 64 MiB); a larger one closes the connection (1009). */
  maxMessageBytes?: number;
  /** Bytes of received messages held before the socket is paused (default 16 MiB). */
  highWaterBytes?: number;
  /** Accept a TLS certificate that does not verify (self-signed cameras). */
  insecure?: boolean;
  /** A message sent as soon as the connection is open (some servers wait for one before streaming). */
  sendOnOpen?: string | Uint8Array;
  signal?: AbortSignal;
}

export interface WsMessage {
  data: Uint8Array;
  binary: boolean;
}

export const WS_DEFAULTS = {
  handshakeTimeoutMs: 15_000,
  stallTimeoutMs: 20_000,
  maxMessageBytes: 64 * 1024 * 1024,
  highWaterBytes: 16 * 1024 * 1024,
} as const;

/** Close codes (RFC 6455 7.4.1) after which a new connection cannot help: the peer refused what it got. */
const FINAL_CLOSE_CODES = new Set([1002, 1003, 1007, 1008, 1009, 1010]);

/** Close codes of a stream that ended on purpose: normal closure, or a close frame without a code. */
const END_CLOSE_CODES = new Set([1000, 1005]);

export class WsConnection {
  private readonly queue: WsMessage[] = [];
  private head = 0;
  private queued = 0;
  private waiter: (() => void) | undefined;
  /** Set once the connection is over: `error` undefined for a clean end (or a stop asked by us). */
  private ended: { error?: CastkitError } | undefined;
  private lastError: Error | undefined;
  private stallTimer: NodeJS.Timeout | undefined;
  private killTimer: NodeJS.Timeout | undefined;
  private readonly shown: string;
  private readonly onAbort = (): void => this.stop();
  /** The close code and reason, once closed. */
  closeCode: number | undefined;
  closeReason = '';

  private constructor(
    private readonly ws: WebSocket,
    url: string,
    private readonly o: Required<Pick<WsConnectOptions, 'stallTimeoutMs' | 'highWaterBytes'>> &
      WsConnectOptions,
  ) {
    this.shown = redactUrlCredentials(url);
    ws.on('message', (data, isBinary) => this.onMessage(data, isBinary));
    ws.on('error', (err) => {
      this.lastError = err;
    });
    ws.on('close', (code, reason) => this.onClose(code, reason.toString('utf8')));
    o.signal?.addEventListener('abort', this.onAbort, { once: true });
  }

  /** Open a connection; rejects with a NetworkError (or InterruptedError) when the handshake fails. */
  static open(url: string, options: WsConnectOptions = {}): Promise<WsConnection> {
    const o = {
      ...options,
      stallTimeoutMs: options.stallTimeoutMs ?? WS_DEFAULTS.stallTimeoutMs,
      highWaterBytes: options.highWaterBytes ?? WS_DEFAULTS.highWaterBytes,
    };
    const shown = redactUrlCredentials(url);
    return new Promise((resolve, reject) => {
      if (o.signal?.aborted) {
        reject(new InterruptedError('interrupted before connecting'));
        return;
      }
      let ws: WebSocket;
      // NODE_EXTRA_CA_CERTS taken over by the launcher (bin/castkit): Node's roots plus those, for wss:.
      const extra = extraCaList();
      try {
        // HTTPS_PROXY for wss:, HTTP_PROXY for ws:, unless NO_PROXY names the host: a CONNECT tunnel.
        const parsed = new URL(url);
        const proxy = proxyFor(parsed);
        const agent = proxy
          ? tunnelAgent(proxy, parsed.protocol === 'wss:', extra ? { ca: extra } : {})
          : undefined;
        ws = new WebSocket(url, o.protocols ?? [], {
          ...(agent ? { agent } : {}),
          headers: o.headers,
          origin: o.origin,
          handshakeTimeout: o.handshakeTimeoutMs ?? WS_DEFAULTS.handshakeTimeoutMs,
          maxPayload: o.maxMessageBytes ?? WS_DEFAULTS.maxMessageBytes,
          rejectUnauthorized: !o.insecure,
          ...(extra ? { ca: extra } : {}),
          followRedirects: true,
          maxRedirects: 5,
        });
      } catch (err) {
        reject(
          new NetworkError(`cannot open ${shown}: ${(err as Error).message}`, {
            code: 'E_WS_URL',
            retryable: false,
            cause: err,
            details: { url: shown },
          }),
        );
        return;
      }
      let settled = false;
      const fail = (e: CastkitError): void => {
        if (settled) return;
        settled = true;
        o.signal?.removeEventListener('abort', abort);
        ws.removeAllListeners();
        ws.on('error', () => undefined);
        ws.terminate();
        reject(e);
      };
      const abort = (): void => fail(new InterruptedError('interrupted while connecting'));
      o.signal?.addEventListener('abort', abort, { once: true });
      ws.on('unexpected-response', (_req, res) => {
        const status = res.statusCode ?? 0;
        res.resume();
        fail(handshakeStatusError(shown, status)); // terminate() aborts the request
      });
      ws.on('error', (err) => fail(connectError(shown, err)));
      ws.on('close', (code) =>
        fail(
          new NetworkError(`${shown} closed the connection during the handshake (code ${code})`, {
            code: 'E_WS_CONNECT',
            details: { url: shown, closeCode: code },
          }),
        ),
      );
      ws.once('open', () => {
        if (settled) return;
        settled = true;
        o.signal?.removeEventListener('abort', abort);
        ws.removeAllListeners('error');
        ws.removeAllListeners('close');
        ws.removeAllListeners('unexpected-response');
        const conn = new WsConnection(ws, url, o);
        if (o.sendOnOpen !== undefined) ws.send(o.sendOnOpen);
        conn.armStall();
        resolve(conn);
      });
    });
  }

  /**
   * The next message; undefined when the server ended the stream (close 1000 or 1005) or `stop()`/the
   * signal ended it. Throws a NetworkError for anything else (a dropped socket, a stall, an error close).
   */
  async next(): Promise<WsMessage | undefined> {
    for (;;) {
      if (this.head < this.queue.length) {
        const m = this.queue[this.head] as WsMessage;
        this.queue[this.head++] = undefined as unknown as WsMessage;
        if (this.head > 1024 && this.head * 2 > this.queue.length) {
          this.queue.splice(0, this.head);
          this.head = 0;
        }
        this.queued -= m.data.length;
        if (this.ws.isPaused && this.queued <= this.o.highWaterBytes / 2 && !this.ended) {
          this.ws.resume();
          this.armStall();
        }
        return m;
      }
      if (this.ended) {
        if (this.ended.error) throw this.ended.error;
        return undefined;
      }
      await new Promise<void>((r) => (this.waiter = r));
    }
  }

  /** Bytes received and not yet taken. */
  get pendingBytes(): number {
    return this.queued;
  }

  /** Close politely (1000) and drop what is queued; `next()` then returns undefined. */
  stop(): void {
    if (!this.ended) this.finish({});
    this.queue.length = 0;
    this.head = 0;
    this.queued = 0;
    this.closeSocket();
  }

  private closeSocket(): void {
    const ws = this.ws;
    if (ws.readyState === WebSocket.CLOSED) return;
    if (ws.readyState === WebSocket.OPEN) ws.close(1000, 'castkit stopped recording');
    // A peer that never answers the close frame is cut after a moment (ws would wait 30 s).
    this.killTimer ??= setTimeout(() => ws.terminate(), 2000);
    this.killTimer.unref();
  }

  private onMessage(data: WebSocket.RawData, binary: boolean): void {
    if (this.ended) return;
    const bytes = toBytes(data);
    this.queue.push({ data: bytes, binary });
    this.queued += bytes.length;
    if (this.queued > this.o.highWaterBytes && !this.ws.isPaused) {
      this.ws.pause();
      this.disarmStall(); // we are the slow side now, not the server
    } else {
      this.armStall();
    }
    this.wake();
  }

  private onClose(code: number, reason: string): void {
    this.closeCode = code;
    this.closeReason = reason;
    this.disarmStall();
    if (this.killTimer) clearTimeout(this.killTimer);
    this.o.signal?.removeEventListener('abort', this.onAbort);
    if (this.ended) return;
    if (END_CLOSE_CODES.has(code)) return this.finish({});
    this.finish({ error: closeError(this.shown, code, reason, this.lastError) });
  }

  private finish(e: { error?: CastkitError }): void {
    this.ended = e;
    this.disarmStall();
    this.wake();
  }

  private wake(): void {
    const w = this.waiter;
    this.waiter = undefined;
    w?.();
  }

  private armStall(): void {
    this.disarmStall();
    if (this.ended) return;
    this.stallTimer = setTimeout(() => {
      if (this.ended) return;
      this.finish({
        error: new NetworkError(`${this.shown} sent nothing for ${this.o.stallTimeoutMs / 1000} s`, {
          code: 'E_WS_STALL',
          details: { url: this.shown },
        }),
      });
      this.ws.terminate();
    }, this.o.stallTimeoutMs);
  }

  private disarmStall(): void {
    if (this.stallTimer) clearTimeout(this.stallTimer);
    this.stallTimer = undefined;
  }
}

function toBytes(data: WebSocket.RawData): Uint8Array {
  if (Array.isArray(data)) return Buffer.concat(data);
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  return data;
}

function handshakeStatusError(shown: string, status: number): NetworkError {
  const retryable = status === 408 || status === 429 || status >= 500;
  const hint =
    status === 401 || status === 403
      ? 'the server refused the connection: pass the headers a browser sends (--header, an Origin, cookies)'
      : status === 404
        ? 'no stream at this path; check the URL (EvoStream streams end in .vod?progressive or similar)'
        : undefined;
  return new NetworkError(`${shown} answered the websocket handshake with HTTP ${status}`, {
    code: 'E_WS_HANDSHAKE',
    retryable,
    hint,
    details: { url: shown, status },
  });
}

function connectError(shown: string, err: Error): NetworkError {
  const code = systemErrorCode(err);
  const tls =
    code !== undefined &&
    (code.startsWith('CERT_') || code.includes('SELF_SIGNED') || code.startsWith('ERR_TLS'));
  const proxy = (err as { proxy?: unknown }).proxy;
  if (tls && typeof proxy === 'string') {
    return new NetworkError(`cannot connect to ${shown}: ${err.message}`, {
      code: 'E_TLS',
      retryable: false,
      hint: "the proxy's certificate does not verify: give its CA with NODE_EXTRA_CA_CERTS=/path/to/ca.pem (--insecure is for the stream's server, not the proxy)",
      cause: err,
      details: { url: shown, proxy },
    });
  }
  if (tls) {
    return new NetworkError(`TLS failed for ${shown}: ${err.message}`, {
      code: 'E_TLS',
      retryable: false,
      hint: 'the certificate does not verify; if you trust this server, allow it (--insecure)',
      cause: err,
      details: { url: shown },
    });
  }
  if (/handshake has timed out/i.test(err.message)) {
    return new NetworkError(`${shown} did not complete the websocket handshake in time`, {
      code: 'E_WS_TIMEOUT',
      cause: err,
      details: { url: shown },
    });
  }
  return new NetworkError(`cannot connect to ${shown}: ${code ?? err.message}`, {
    code: code === 'ENOTFOUND' || code === 'EAI_AGAIN' ? 'E_DNS' : 'E_WS_CONNECT',
    cause: err,
    details: { url: shown, ...(code ? { errno: code } : {}) },
  });
}

function closeError(shown: string, code: number, reason: string, err: Error | undefined): NetworkError {
  const why = reason ? ` "${reason}"` : '';
  if (code === 1009 || systemErrorCode(err) === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH') {
    return new NetworkError(`${shown} sent a message larger than allowed`, {
      code: 'E_WS_MESSAGE_TOO_LARGE',
      retryable: false,
      hint: 'raise the message size limit if the stream really sends such messages',
      cause: err,
      details: { url: shown, closeCode: code },
    });
  }
  if (code === 1006) {
    const detail = err ? `: ${systemErrorCode(err) ?? err.message}` : '';
    return new NetworkError(`the connection to ${shown} dropped${detail}`, {
      code: 'E_WS_DROPPED',
      cause: err,
      details: { url: shown, closeCode: code },
    });
  }
  return new NetworkError(`${shown} closed the connection with code ${code}${why}`, {
    code: 'E_WS_CLOSED',
    retryable: !FINAL_CLOSE_CODES.has(code),
    cause: err,
    details: { url: shown, closeCode: code, reason },
  });
}
