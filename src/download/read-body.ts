/**
 * Reading a response body: Content-Length checked, a size bound, a byte range cut out of a server that
 * ignored Range, and Content-Encoding undone when a server compressed despite `identity`.
 */
import { brotliDecompressSync, gunzipSync, inflateSync } from 'node:zlib';
import { NetworkError } from '../core/errors.js';
import { parseContentRange, rangeHeader, type ByteRange } from './byte-range.js';
import { shortBodyError, shownUrl, type ExchangeFacts } from './http-errors.js';
import type { TransportResponse } from './transport.js';

export function header(h: Record<string, string | string[] | undefined>, name: string): string | undefined {
  const v = h[name];
  return Array.isArray(v) ? v[0] : v;
}

/**
 * Where a body goes instead of memory: told the size it will have (when the response says), then given
 * the body in order, piece by piece. Reading waits for each piece to be taken.
 */
export interface BodySink {
  start(length: number | undefined): void | Promise<void>;
  chunk(bytes: Buffer): void | Promise<void>;
}

/**
 * The body (or the asked range of it); `tick` is called on every chunk (the stall watchdog). With a sink,
 * the body goes there as it arrives (with the same checks) and an empty buffer is returned. A body of
 * known length goes into memory from `allocate` when given (the result is a view of it).
 */
export async function readBody(
  res: Pick<TransportResponse, 'statusCode' | 'headers' | 'read' | 'destroy'>,
  range: ByteRange | undefined,
  facts: ExchangeFacts,
  maxBytes: number,
  tick: () => void,
  {
    sink,
    allocate,
  }: { sink?: BodySink | undefined; allocate?: ((length: number) => Buffer) | undefined } = {},
): Promise<Buffer> {
  const cl = header(res.headers, 'content-length');
  const length = cl !== undefined && /^\d+$/.test(cl.trim()) ? Number(cl) : undefined;
  facts.expected = length;
  let skip = 0;
  let keep = Infinity;
  if (range) {
    const wantLast = range.length !== undefined ? range.offset + range.length - 1 : undefined;
    if (res.statusCode === 206) {
      const cr = parseContentRange(header(res.headers, 'content-range'));
      if (!cr || cr.first !== range.offset || (wantLast !== undefined && cr.last !== wantLast)) {
        throw rangeError(facts.url, range, header(res.headers, 'content-range') ?? 'no Content-Range');
      }
    } else {
      // The server ignored Range and sent everything (allowed by RFC 9110 14.2): cut the part out.
      skip = range.offset;
      keep = range.length ?? Infinity;
      if (length !== undefined && (wantLast ?? range.offset) >= length) {
        throw rangeError(facts.url, range, `a ${length}-byte resource`);
      }
    }
  }
  const wanted = length !== undefined ? Math.min(keep, length - skip) : keep;
  if (Number.isFinite(wanted) && wanted > maxBytes) throw tooLarge(facts.url, wanted, maxBytes);
  // A known size: one buffer filled in place, instead of chunks joined at the end (half the peak memory).
  const into =
    !sink && Number.isFinite(wanted) && wanted > 0
      ? (allocate?.(wanted).subarray(0, wanted) ?? Buffer.allocUnsafe(wanted))
      : undefined;
  await sink?.start(Number.isFinite(wanted) ? wanted : undefined);
  const chunks: Buffer[] = [];
  let kept = 0;
  let done = false;
  // Before each read of the socket, the transport may ask where the next bytes go: straight into `into`.
  const place =
    into && skip === 0 && !Number.isFinite(keep) ? (): Buffer | undefined => into.subarray(kept) : undefined;
  await res.read((chunk) => {
    if (done) return;
    tick();
    facts.received += chunk.length;
    let c = chunk;
    if (skip > 0) {
      const s = Math.min(skip, c.length);
      c = c.subarray(s);
      skip -= s;
    }
    if (c.length > keep - kept) c = c.subarray(0, keep - kept);
    let taken: void | Promise<void> = undefined;
    if (c.length > 0) {
      kept += c.length;
      if (kept > maxBytes) throw tooLarge(facts.url, kept, maxBytes);
      if (sink) taken = sink.chunk(c);
      else if (into && kept <= into.length) {
        // Read in place (see `place`): nothing to copy.
        if (c.buffer !== into.buffer || c.byteOffset !== into.byteOffset + kept - c.length)
          c.copy(into, kept - c.length);
      }
      // The chunk may be the transport's reused memory: kept as a copy.
      else chunks.push(Buffer.from(c));
    }
    // Stopping lets the rest of an unwanted full body go (and that connection).
    if (kept >= keep) {
      done = true;
      res.destroy();
    }
    return taken;
  }, place);
  if (length !== undefined && facts.received < length && kept < keep) throw shortBodyError(facts);
  if (Number.isFinite(keep) && kept < keep) {
    throw rangeError(facts.url, range ?? { offset: 0 }, `a body that ended after ${facts.received} bytes`);
  }
  if (sink) return Buffer.alloc(0);
  if (into) {
    if (chunks.length === 0 && kept === into.length) return into;
    // More than announced (cannot happen with a Content-Length the parser enforces): join what came.
    return Buffer.concat([into.subarray(0, Math.min(kept, into.length)), ...chunks], kept);
  }
  return chunks.length === 1 && chunks[0] ? chunks[0] : Buffer.concat(chunks, kept);
}

export function decode(raw: Buffer, encoding: string, url: string, maxBytes: number): Buffer {
  try {
    const o = { maxOutputLength: maxBytes };
    if (encoding === 'gzip' || encoding === 'x-gzip') return gunzipSync(raw, o);
    if (encoding === 'deflate') return inflateSync(raw, o);
    if (encoding === 'br') return brotliDecompressSync(raw, o);
  } catch (err) {
    throw new NetworkError(`cannot decode the ${encoding} body of ${shownUrl(url)}`, {
      code: 'E_NETWORK',
      cause: err,
      details: { url: shownUrl(url) },
    });
  }
  throw new NetworkError(`unsupported Content-Encoding ${encoding} from ${shownUrl(url)}`, {
    code: 'E_NETWORK',
    retryable: false,
    details: { url: shownUrl(url) },
  });
}

function tooLarge(url: string, size: number, maxBytes: number): NetworkError {
  return new NetworkError(
    `${shownUrl(url)} is larger than the limit of ${maxBytes} bytes (${size} or more)`,
    {
      code: 'E_TOO_LARGE',
      retryable: false,
      details: { url: shownUrl(url), size, maxBytes },
    },
  );
}

function rangeError(url: string, r: ByteRange, got: string): NetworkError {
  return new NetworkError(`asked ${shownUrl(url)} for ${rangeHeader(r)} and got ${got}`, {
    code: 'E_RANGE',
    retryable: false,
    details: { url: shownUrl(url), offset: r.offset, length: r.length },
  });
}
