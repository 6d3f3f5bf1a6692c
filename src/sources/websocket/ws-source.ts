/**
 * A websocket media stream as a sequence of events: each connection's framing (sniffed from its first
 * binary bytes), its init and media units, and the drops, retries and warnings between them. A dropped
 * socket is reconnected with jittered exponential backoff (download/retry-policy) and the stream goes on
 * with the next connection's units: the consumer decides what a gap means for its output.
 *
 * The consumer pulls: a unit is only read from the socket queue when the previous one has been taken, and
 * the queue pauses the socket when it holds too much, so a slow disk slows the socket, not memory.
 * Stopping early is `return()` on the iterator (a `break` out of `for await`): the socket is closed with
 * 1000. An AbortSignal closes it too and ends the iteration without an error.
 */
import type { CastkitError } from '../../core/errors.js';
import { InterruptedError, NetworkError, isCastkitError } from '../../core/errors.js';
import { redactUrlCredentials } from '../../core/redact.js';
import type { FormatWarning } from '../../formats/media.js';
import { createRetryPolicy, sleep } from '../../download/retry-policy.js';
import { WsConnection, type WsConnectOptions, type WsMessage } from './ws-connection.js';
import {
  SNIFF_BYTES,
  describeMessage,
  sniffWsFraming,
  unknownFramingError,
  type WsFraming,
} from './ws-sniff.js';
import { createSplitter, type MediaUnit, type UnitSplitter } from './ws-units.js';

export type WsSourceEvent =
  /** Connection `connection` (1-based, counting the ones that opened) is up and its framing known. */
  | { kind: 'connected'; connection: number; framing: WsFraming }
  /** A media unit; `bytesIn` counts every message byte received so far, over all connections. */
  | { kind: 'unit'; connection: number; unit: MediaUnit; bytesIn: number }
  /** The connection was lost; `units` media units had come through it. A reconnect follows. */
  | { kind: 'dropped'; connection: number; error: CastkitError; units: number }
  /** Waiting `delayMs` before reconnection attempt `attempt` (1-based, counted since media last came). */
  | { kind: 'retrying'; attempt: number; delayMs: number; error: CastkitError }
  | { kind: 'warning'; connection: number; warning: FormatWarning }
  /** The server ended the stream (close 1000/1005): the iteration ends after this. */
  | { kind: 'ended'; connection: number; code: number | undefined };

export interface WebSocketSourceOptions extends WsConnectOptions {
  /** Reconnect after a dropped or failed connection (default true). */
  reconnect?: boolean;
  /**
   * Reconnection attempts in a row, without media coming through, before giving up (default 10). A
   * connection that delivers media resets the count, so a long recording survives any number of drops.
   */
  maxReconnects?: number;
  /** Backoff between attempts: full jitter over min(capMs, baseMs * 2^n) (defaults 500 ms and 15 s). */
  reconnectDelay?: { baseMs?: number; capMs?: number };
  /** A source of numbers in [0, 1) for the jitter (tests pass a seeded one). */
  random?: () => number;
  /** Text messages tolerated before the first binary one (status JSON some servers send); default 8. */
  maxTextMessages?: number;
  /** Largest media unit (fragment, tag) held before it is complete, bytes (default 256 MiB). */
  maxUnitBytes?: number;
}

export const WS_SOURCE_DEFAULTS = {
  maxReconnects: 10,
  reconnectBaseMs: 500,
  reconnectCapMs: 15_000,
  maxTextMessages: 8,
} as const;

/** The events of a websocket media stream, across reconnections. */
export async function* webSocketSource(
  url: string,
  options: WebSocketSourceOptions = {},
): AsyncGenerator<WsSourceEvent, void, void> {
  const shown = redactUrlCredentials(url);
  const reconnect = options.reconnect ?? true;
  const maxReconnects = options.maxReconnects ?? WS_SOURCE_DEFAULTS.maxReconnects;
  const policy = createRetryPolicy({
    baseMs: options.reconnectDelay?.baseMs ?? WS_SOURCE_DEFAULTS.reconnectBaseMs,
    capMs: options.reconnectDelay?.capMs ?? WS_SOURCE_DEFAULTS.reconnectCapMs,
    maxAttempts: Number.MAX_SAFE_INTEGER,
    random: options.random,
  });
  const signal = options.signal;
  let connection = 0;
  let failures = 0;
  const counter = { bytesIn: 0 };
  for (;;) {
    if (signal?.aborted) return;
    let conn: WsConnection | undefined;
    let splitter: UnitSplitter | undefined;
    let delivered = 0;
    let failure: CastkitError | undefined;
    try {
      conn = await WsConnection.open(url, options);
      connection++;
      const sniffer = new Sniffer(url, options.maxTextMessages ?? WS_SOURCE_DEFAULTS.maxTextMessages);
      let textWarned = false;
      for (;;) {
        const m = await conn.next();
        if (!m) break;
        counter.bytesIn += m.data.length;
        if (!splitter) {
          const got = sniffer.take(m);
          if (!got) continue;
          splitter = createSplitter(got.framing, { maxUnitBytes: options.maxUnitBytes });
          yield { kind: 'connected', connection, framing: got.framing };
          for (const w of sniffer.warnings) yield { kind: 'warning', connection, warning: w };
          for (const held of got.messages) {
            for (const e of split(splitter, held, connection, counter)) {
              if (e.kind === 'unit' && e.unit.kind === 'media') delivered++;
              yield e;
            }
          }
          continue;
        }
        if (!m.binary) {
          if (!textWarned) {
            textWarned = true;
            yield {
              kind: 'warning',
              connection,
              warning: {
                code: 'W_WS_TEXT',
                message: `ignored ${describeMessage(m.data, false)} (and any more)`,
              },
            };
          }
          continue;
        }
        for (const e of split(splitter, m.data, connection, counter)) {
          if (e.kind === 'unit' && e.unit.kind === 'media') delivered++;
          yield e;
        }
      }
      if (signal?.aborted) return;
      // The server ended the stream.
      if (!splitter) throw sniffer.nothingError(conn.closeCode);
      for (const w of splitter.end().warnings) yield { kind: 'warning', connection, warning: w };
      yield { kind: 'ended', connection, code: conn.closeCode };
      return;
    } catch (err) {
      if (
        signal?.aborted &&
        (err instanceof InterruptedError || !isCastkitError(err) || err.category === 'network')
      ) {
        return;
      }
      if (!isCastkitError(err) || err.category !== 'network' || !err.retryable) throw err;
      failure = err;
    } finally {
      conn?.stop();
    }
    if (!failure) return; // unreachable: the try block returns or throws otherwise
    if (splitter) for (const w of splitter.end().warnings) yield { kind: 'warning', connection, warning: w };
    if (conn) yield { kind: 'dropped', connection, error: failure, units: delivered };
    if (!reconnect) throw failure;
    if (delivered > 0) failures = 0;
    failures++;
    if (failures > maxReconnects) {
      throw new NetworkError(
        `gave up on ${shown} after ${maxReconnects} reconnection attempts without media: ${failure.message}`,
        {
          code: 'E_WS_GAVE_UP',
          retryable: false,
          cause: failure,
          hint: failure.hint ?? 'check that the stream is live, or allow more attempts',
          details: { url: shown, attempts: maxReconnects, lastCode: failure.code },
        },
      );
    }
    const delayMs = policy.delayMs(failures, failure);
    yield { kind: 'retrying', attempt: failures, delayMs, error: failure };
    try {
      await sleep(delayMs, signal);
    } catch {
      return; // aborted while waiting
    }
  }
}

function* split(
  splitter: UnitSplitter,
  data: Uint8Array,
  connection: number,
  counter: { bytesIn: number },
): Generator<WsSourceEvent> {
  const out = splitter.push(data);
  for (const w of out.warnings) yield { kind: 'warning', connection, warning: w };
  for (const unit of out.units) yield { kind: 'unit', connection, unit, bytesIn: counter.bytesIn };
}

/**
 * Finds the framing from the first binary messages: EvoStream from the first message, FLV and fMP4 from
 * the first SNIFF_BYTES bytes (gathered over as many small messages as it takes). Text messages before
 * that are skipped with a warning, up to a limit.
 */
class Sniffer {
  readonly warnings: FormatWarning[] = [];
  private readonly held: Uint8Array[] = [];
  private heldBytes = 0;
  private texts = 0;
  private firstText: string | undefined;

  constructor(
    private readonly url: string,
    private readonly maxText: number,
  ) {}

  take(m: WsMessage): { framing: WsFraming; messages: Uint8Array[] } | undefined {
    if (!m.binary) {
      this.texts++;
      const seen = describeMessage(m.data, false);
      this.firstText ??= seen;
      if (this.texts > this.maxText) {
        throw unknownFramingError(
          this.url,
          `${this.texts} text messages and no media (the first: ${this.firstText})`,
        );
      }
      this.warnings.push({ code: 'W_WS_TEXT', message: `ignored ${seen} before the media` });
      return undefined;
    }
    if (m.data.length === 0) return undefined;
    this.held.push(m.data);
    this.heldBytes += m.data.length;
    const first = this.held[0] as Uint8Array;
    const head =
      this.heldBytes >= SNIFF_BYTES || this.held.length === 1 ? concat(this.held, SNIFF_BYTES) : undefined;
    const framing = head ? sniffWsFraming(first, head) : undefined;
    if (framing) return { framing, messages: this.held.splice(0) };
    if (this.heldBytes >= SNIFF_BYTES) throw unknownFramingError(this.url, describeMessage(first, true));
    return undefined;
  }

  /** The server closed before a binary message could be recognised. */
  nothingError(code: number | undefined): CastkitError {
    const first = this.held[0];
    if (first) return unknownFramingError(this.url, describeMessage(concat(this.held, 64), true));
    return new NetworkError(
      `${redactUrlCredentials(this.url)} closed the connection (code ${code ?? 'none'}) before sending any media${this.firstText ? `; it sent ${this.firstText}` : ''}`,
      {
        code: 'E_WS_NO_MEDIA',
        retryable: false,
        hint: 'check the URL and whether the stream is live',
        details: { url: redactUrlCredentials(this.url), closeCode: code },
      },
    );
  }
}

function concat(parts: readonly Uint8Array[], max: number): Uint8Array {
  let total = 0;
  for (const p of parts) total += p.length;
  const out = new Uint8Array(Math.min(total, max));
  let at = 0;
  for (const p of parts) {
    if (at >= out.length) break;
    const take = Math.min(p.length, out.length - at);
    out.set(p.subarray(0, take), at);
    at += take;
  }
  return out;
}
