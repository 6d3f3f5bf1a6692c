/**
 * HTTP/1.1 GETs over raw sockets (node:net, node:tls): the transport for direct connections.
 *
 * Hand-written because it is the measured hot path of `record` (DESIGN.md: networking is castkit's). 30
 * segments (142 MB) over 32 loopback connections, bodies discarded, 9 interleaved runs: undici 7.30 took
 * 657 ms wall and 903 ms of CPU, sockets read into one reused buffer per connection (`onread`) 232 and
 * 232 ms, curl one after another 118 ms. undici runs its parser as WebAssembly behind the stream layer and
 * makes a Buffer per read; node:http makes one too (measured within castkit last: no faster than undici).
 * Here a body is handed out as views of the connection's read buffer, so its bytes are copied once, by
 * whoever keeps them.
 *
 * What it does: keep-alive pools per origin (at most `connections` sockets each, idle ones closed after
 * 15 s and never keeping the process alive), Content-Length, chunked and close-delimited bodies, 1xx
 * responses skipped, TLS with SNI and the caller's trust. Timeouts are the caller's: its signal aborts
 * the exchange. A failure is the caller's to retry (as with undici): nothing is sent again here.
 */
import type * as Net from 'node:net';
import type * as Tls from 'node:tls';
import { lazyBuiltin } from '../core/lazy-builtin.js';
import type { ChunkHandler, ResponseHeaders, Transport, TransportResponse } from './transport.js';

const net = lazyBuiltin<typeof Net>('node:net');
const tls = lazyBuiltin<typeof Tls>('node:tls');

/** Each connection's read buffer. */
const READ_BUFFER_BYTES = 128 << 10;
/**
 * A body's bytes are read from the socket straight into the reader's memory (read()'s `place`) when at
 * least this much of it is left: 142 MB of segments copied from the read buffer took 25 ms of the main
 * thread.
 */
const DIRECT_READ_MIN = 16 << 10;
/** Largest response head accepted. */
const MAX_HEAD_BYTES = 64 << 10;
const IDLE_MS = 15_000;

export interface H1TransportOptions {
  /** Connections per origin. */
  connections: number;
  /** Trust for HTTPS: asked for when the first HTTPS connection is made. */
  tls: () => { ca?: string | Buffer | string[]; rejectUnauthorized?: boolean };
}

/** A failure of the HTTP/1.1 exchange itself (not of the socket): a code for classifyError and tests. */
export class H1Error extends Error {
  constructor(
    message: string,
    readonly code: 'E_PEER_CLOSED' | 'E_HTTP_PROTOCOL',
  ) {
    super(message);
    this.name = 'H1Error';
  }
}

type BodyMode = { kind: 'length'; left: number } | { kind: 'chunked' } | { kind: 'close' } | { kind: 'none' };

/** Where the chunked decoder is within a chunked body. */
type ChunkState = 'size' | 'data' | 'data-crlf' | 'trailer';

class Connection {
  readonly socket: Net.Socket;
  private readonly buf: Buffer;
  /** The exchange being served; undefined while idle. */
  exchange: Exchange | undefined;
  reusable = true;
  closed = false;
  private idleTimer: NodeJS.Timeout | undefined;
  private handshaking = false;
  private unsent: string | undefined;

  constructor(
    readonly pool: Pool,
    url: URL,
    tlsOptions: (() => ReturnType<H1TransportOptions['tls']>) | undefined,
  ) {
    this.buf = Buffer.allocUnsafeSlow(READ_BUFFER_BYTES);
    const port = Number(url.port) || (url.protocol === 'https:' ? 443 : 80);
    const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
    // The next read goes into the body's own memory when its reader gave it (see DIRECT_READ_MIN). Node
    // asks for that buffer right after each read's callback, so a read never lands in memory of a body that
    // ended before it: the exchange is over by then and the connection's own buffer is given.
    const onread = {
      buffer: (): Buffer => this.exchange?.readTarget() ?? this.buf,
      callback: (n: number, buf: Uint8Array): boolean => this.onBytes(n, buf as Buffer),
    };
    if (tlsOptions) {
      const servername = net().isIP(host) === 0 ? host : undefined;
      this.handshaking = true;
      this.socket = tls().connect({
        host,
        port,
        ...(servername ? { servername } : {}),
        ALPNProtocols: ['http/1.1'],
        ...tlsOptions(),
        onread,
      } as Tls.ConnectionOptions);
    } else {
      this.socket = net().connect({ host, port, onread });
    }
    this.socket.setNoDelay(true);
    // A request written before the TLS handshake ends would fail as a write (EPROTO), not as the
    // handshake's own error (wrong version number, untrusted certificate): it waits.
    this.socket.once('secureConnect', () => {
      this.handshaking = false;
      const r = this.unsent;
      this.unsent = undefined;
      if (r !== undefined) this.socket.write(r);
    });
    this.socket.on('error', (err) => this.onClose(err));
    this.socket.on('end', () => this.onClose(undefined));
    this.socket.on('close', () => this.onClose(undefined));
  }

  private onBytes(n: number, buf: Buffer): boolean {
    const x = this.exchange;
    if (!x) {
      // Bytes while idle: the server broke the protocol (or is closing); this socket is not used again.
      this.destroy();
      return false;
    }
    return x.feed(buf, 0, n);
  }

  private onClose(err: Error | undefined): void {
    if (this.closed) return;
    this.closed = true;
    this.reusable = false;
    clearTimeout(this.idleTimer);
    this.socket.destroy();
    this.pool.forget(this);
    this.exchange?.closed(err);
  }

  destroy(): void {
    this.onClose(undefined);
  }

  /** Back to the pool's idle list: unreferenced, closed after IDLE_MS. */
  idle(): void {
    this.exchange = undefined;
    this.socket.unref();
    this.idleTimer = setTimeout(() => this.destroy(), IDLE_MS);
    this.idleTimer.unref();
  }

  take(x: Exchange): void {
    clearTimeout(this.idleTimer);
    this.socket.ref();
    this.exchange = x;
    this.resume();
  }

  resume(): void {
    if (!this.closed) this.socket.resume();
  }

  send(request: string): void {
    if (this.handshaking) this.unsent = request;
    else this.socket.write(request);
  }
}

/** The sockets of one origin, and the requests waiting for one. */
class Pool {
  readonly idleList: Connection[] = [];
  readonly all = new Set<Connection>();
  readonly waiting: ((c: Connection) => void)[] = [];

  constructor(
    private readonly max: number,
    private readonly open: (p: Pool) => Connection,
  ) {}

  private openNew(): Connection {
    const c = this.open(this);
    this.all.add(c);
    return c;
  }

  /** A connection for one exchange: an idle one (most recently used first), a new one, or the next free. */
  acquire(signal: AbortSignal): Promise<Connection> {
    const idle = this.idleList.pop();
    if (idle) return Promise.resolve(idle);
    if (this.all.size < this.max) return Promise.resolve(this.openNew());
    return new Promise((resolve, reject) => {
      const onAbort = (): void => {
        const i = this.waiting.indexOf(take);
        if (i >= 0) this.waiting.splice(i, 1);
        reject(abortError(signal));
      };
      const take = (c: Connection): void => {
        signal.removeEventListener('abort', onAbort);
        resolve(c);
      };
      if (signal.aborted) return onAbort();
      this.waiting.push(take);
      signal.addEventListener('abort', onAbort, { once: true });
    });
  }

  release(c: Connection): void {
    if (c.closed || !c.reusable) {
      c.destroy();
      return;
    }
    const w = this.waiting.shift();
    if (w) {
      w(c);
      return;
    }
    c.idle();
    this.idleList.push(c);
  }

  forget(c: Connection): void {
    if (!this.all.delete(c)) return;
    const i = this.idleList.indexOf(c);
    if (i >= 0) this.idleList.splice(i, 1);
    // A slot freed: the next waiting request gets a new connection.
    const w = this.waiting.shift();
    if (w) w(this.openNew());
  }

  closeAll(): void {
    for (const c of [...this.all]) c.destroy();
  }
}

/** One request and its response on one connection. */
class Exchange {
  private headBuf: Buffer | undefined;
  private headDone = false;
  private announced = false;
  status = 0;
  headers: ResponseHeaders = {};
  private mode: BodyMode = { kind: 'none' };
  private chunk: ChunkState = 'size';
  private chunkLeft = 0;
  private line = '';
  /** Body bytes that came with the head, waiting for a reader: [buffer, from, to]. */
  private parked: [Buffer, number, number] | undefined;
  private handler: ChunkHandler | undefined;
  private place: (() => Buffer | undefined) | undefined;
  private settleRead: ((err?: Error) => void) | undefined;
  private finished = false;
  private stopped = false;
  private failed: Error | undefined;

  constructor(
    readonly conn: Connection,
    private readonly onHead: (x: Exchange) => void,
    private readonly onFail: (x: Exchange, err: Error) => void,
    private readonly onDone: (x: Exchange) => void,
  ) {}

  /** Bytes from the socket; false pauses it (resumed when the reader has taken them). */
  feed(buf: Buffer, from: number, to: number): boolean {
    try {
      return this.process(buf, from, to);
    } catch (err) {
      this.fail(err as Error);
      return false;
    }
  }

  private process(buf: Buffer, from: number, to: number): boolean {
    let at = from;
    while (!this.headDone) {
      if (at >= to) return true;
      at = this.readHead(buf, at, to); // a 1xx head is skipped: the loop reads the next one
    }
    if (!this.announced) {
      this.announced = true;
      this.onHead(this);
    }
    if (!this.handler) {
      if (this.finished) return at >= to || this.extraBytes();
      // What follows the head waits for the reader, which comes once get() has resolved.
      if (at < to) this.parked = [buf, at, to];
      return false;
    }
    return this.body(buf, at, to);
  }

  /** Reads head bytes from `at`; returns where the head (or the buffer) ended. */
  private readHead(buf: Buffer, at: number, to: number): number {
    const part = buf.subarray(at, to);
    const prev = this.headBuf?.length ?? 0;
    const joined = this.headBuf ? Buffer.concat([this.headBuf, part]) : part;
    // The blank line may start in the previous piece: look from 3 bytes back.
    const end = joined.indexOf('\r\n\r\n', Math.max(0, prev - 3), 'latin1');
    if (end < 0 || end > MAX_HEAD_BYTES) {
      if (joined.length > MAX_HEAD_BYTES)
        throw new H1Error(`a response head larger than ${MAX_HEAD_BYTES} bytes`, 'E_HTTP_PROTOCOL');
      // `part` is the connection's reused memory: kept as a copy.
      this.headBuf = prev > 0 ? joined : Buffer.from(part);
      return to;
    }
    this.headBuf = undefined;
    this.parseHead(joined.toString('latin1', 0, end));
    return at + end + 4 - prev;
  }

  private parseHead(text: string): void {
    const lines = text.split('\r\n');
    const m = /^HTTP\/1\.([01]) (\d{3})(?: .*)?$/.exec(lines[0] ?? '');
    if (!m)
      throw new H1Error(
        `not an HTTP/1.1 response: ${JSON.stringify((lines[0] ?? '').slice(0, 80))}`,
        'E_HTTP_PROTOCOL',
      );
    const status = Number(m[2]);
    if (status >= 100 && status < 200) return; // 100 Continue, 103 Early Hints: the real head follows
    const headers: ResponseHeaders = {};
    for (let i = 1; i < lines.length; i++) {
      const l = lines[i] as string;
      const c = l.indexOf(':');
      if (c <= 0)
        throw new H1Error(
          `a malformed response header line: ${JSON.stringify(l.slice(0, 80))}`,
          'E_HTTP_PROTOCOL',
        );
      const name = l.slice(0, c).trim().toLowerCase();
      const value = l.slice(c + 1).trim();
      const had = headers[name];
      if (had === undefined) headers[name] = value;
      else if (Array.isArray(had)) had.push(value);
      else headers[name] = name === 'set-cookie' ? [had, value] : `${had}, ${value}`;
    }
    this.status = status;
    this.headers = headers;
    this.headDone = true;
    const connection = String(headers.connection ?? '').toLowerCase();
    if (m[1] === '0' ? !connection.includes('keep-alive') : connection.includes('close'))
      this.conn.reusable = false;
    const te = headers['transfer-encoding'];
    const cl = headers['content-length'];
    if (status === 204 || status === 304) this.mode = { kind: 'none' };
    else if (te !== undefined) {
      if (!/(^|,)\s*chunked\s*$/i.test(String(te)))
        throw new H1Error(`an unsupported Transfer-Encoding: ${String(te)}`, 'E_HTTP_PROTOCOL');
      this.mode = { kind: 'chunked' };
    } else if (cl !== undefined) {
      const values = new Set(
        String(cl)
          .split(',')
          .map((v) => v.trim()),
      );
      const only = values.size === 1 ? [...values][0] : undefined;
      if (only === undefined || !/^\d{1,15}$/.test(only))
        throw new H1Error(`an invalid Content-Length: ${String(cl).slice(0, 40)}`, 'E_HTTP_PROTOCOL');
      this.mode = { kind: 'length', left: Number(only) };
    } else {
      this.mode = { kind: 'close' };
      this.conn.reusable = false;
    }
    if (this.mode.kind === 'none' || (this.mode.kind === 'length' && this.mode.left === 0)) this.complete();
  }

  /** Bytes after a complete response, before the next request: a broken server. */
  private extraBytes(): boolean {
    this.conn.reusable = false;
    return false;
  }

  /** Body bytes from `at`; false when a handler's promise (or the end of the body) pauses the socket. */
  private body(buf: Buffer, at: number, to: number): boolean {
    while (at < to) {
      if (this.finished || this.stopped) return this.finished ? this.extraBytes() : false;
      const mode = this.mode;
      if (mode.kind === 'length' || mode.kind === 'close') {
        const n = mode.kind === 'length' ? Math.min(mode.left, to - at) : to - at;
        if (mode.kind === 'length') mode.left -= n;
        const last = mode.kind === 'length' && mode.left === 0;
        const p = this.deliver(buf.subarray(at, at + n));
        at += n;
        if (last) {
          if (p) {
            void p.then(() => {
              if (this.failed || this.stopped) return;
              this.complete();
              if (at < to) this.extraBytes();
              this.conn.resume();
            });
            return false;
          }
          this.complete();
          continue;
        }
        if (p) return this.waitThen(p, buf, at, to);
        continue;
      }
      // chunked
      if (this.chunk === 'data') {
        const n = Math.min(this.chunkLeft, to - at);
        this.chunkLeft -= n;
        const p = this.deliver(buf.subarray(at, at + n));
        at += n;
        if (this.chunkLeft === 0) this.chunk = 'data-crlf';
        if (p) return this.waitThen(p, buf, at, to);
        continue;
      }
      // A line: the chunk size, the CRLF after the data, or a trailer line.
      const nl = buf.indexOf(10, at);
      const end = nl < 0 || nl >= to ? to : nl + 1;
      this.line += buf.toString('latin1', at, end);
      at = end;
      if (this.line.length > 8192)
        throw new H1Error('a chunked body with a line too long', 'E_HTTP_PROTOCOL');
      if (!this.line.endsWith('\n')) continue;
      const line = this.line.replace(/\r?\n$/, '');
      this.line = '';
      if (this.chunk === 'data-crlf') {
        if (line !== '') throw new H1Error('a chunk without its CRLF', 'E_HTTP_PROTOCOL');
        this.chunk = 'size';
      } else if (this.chunk === 'size') {
        const m = /^([0-9a-fA-F]{1,12})\s*(;.*)?$/.exec(line);
        if (!m)
          throw new H1Error(`a bad chunk size line: ${JSON.stringify(line.slice(0, 40))}`, 'E_HTTP_PROTOCOL');
        this.chunkLeft = parseInt(m[1] as string, 16);
        this.chunk = this.chunkLeft === 0 ? 'trailer' : 'data';
      } else if (line === '') {
        this.complete();
      }
    }
    return !this.finished || this.conn.reusable;
  }

  /** After the handler's promise: go on with the rest of the buffer, then let the socket read again. */
  private waitThen(p: Promise<void>, buf: Buffer, at: number, to: number): false {
    void p.then(() => {
      if (this.failed || this.stopped) return;
      if (this.feedRest(buf, at, to)) this.conn.resume();
    });
    return false;
  }

  private feedRest(buf: Buffer, at: number, to: number): boolean {
    try {
      return this.body(buf, at, to);
    } catch (err) {
      this.fail(err as Error);
      return false;
    }
  }

  /** One piece to the reader; a promise when it asked to wait. What it throws fails the exchange. */
  private deliver(piece: Buffer): Promise<void> | undefined {
    if (piece.length === 0) return undefined;
    const r = (this.handler as ChunkHandler)(piece);
    if (!r) return undefined;
    return r.then(undefined, (err: unknown) => this.fail(err as Error));
  }

  /**
   * Where the socket's next read goes, when not the connection's buffer: the reader's memory for the rest
   * of a body of known length (read()'s `place`), cut at the body's end.
   */
  readTarget(): Buffer | undefined {
    const mode = this.mode;
    if (!this.place || !this.handler || this.parked || mode.kind !== 'length') return undefined;
    if (this.finished || this.stopped || this.failed || mode.left < DIRECT_READ_MIN) return undefined;
    const t = this.place();
    if (!t || t.length < DIRECT_READ_MIN) return undefined;
    return t.length > mode.left ? t.subarray(0, mode.left) : t;
  }

  /** The reader: parked bytes first, then the socket again. */
  read(onChunk: ChunkHandler, place?: () => Buffer | undefined): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      if (this.failed) return reject(this.failed);
      this.handler = onChunk;
      this.place = place;
      this.settleRead = (err) => (err ? reject(err) : resolve());
      if (this.finished) return this.settle();
      const parked = this.parked;
      this.parked = undefined;
      if (parked) {
        if (this.feedRest(parked[0], parked[1], parked[2])) this.conn.resume();
      } else this.conn.resume();
    });
  }

  private settle(err?: Error): void {
    const s = this.settleRead;
    this.settleRead = undefined;
    s?.(err);
  }

  private complete(): void {
    if (this.finished) return;
    this.finished = true;
    this.onDone(this);
    this.settle();
  }

  /** The reader had enough: the rest of the body is not read (and the connection not reused). */
  stop(): void {
    if (this.finished || this.stopped) return;
    this.stopped = true;
    this.conn.reusable = false;
    this.conn.destroy();
    this.settle();
  }

  fail(err: Error): void {
    if (this.finished || this.failed) return;
    this.failed = err;
    this.conn.reusable = false;
    this.conn.destroy();
    this.onFail(this, err);
    this.settle(err);
  }

  /** The socket ended or failed. */
  closed(err: Error | undefined): void {
    if (this.finished || this.stopped || this.failed) return;
    if (!err && this.headDone && this.mode.kind === 'close') {
      this.complete();
      return;
    }
    this.fail(
      err ??
        new H1Error(
          this.headDone
            ? 'the server closed the connection before the end of the body'
            : 'the server closed the connection without a response',
          'E_PEER_CLOSED',
        ),
    );
  }
}

export function createH1Transport(o: H1TransportOptions): Transport {
  const pools = new Map<string, Pool>();
  let tlsOptions: ReturnType<H1TransportOptions['tls']> | undefined;
  const secure = (): ReturnType<H1TransportOptions['tls']> => (tlsOptions ??= o.tls());
  const poolFor = (url: URL): Pool => {
    const key = `${url.protocol}//${url.host}`;
    let p = pools.get(key);
    if (!p) {
      p = new Pool(
        Math.max(1, o.connections),
        (pool) => new Connection(pool, url, url.protocol === 'https:' ? secure : undefined),
      );
      pools.set(key, p);
    }
    return p;
  };

  const request = (url: URL, headers: Record<string, string>): string => {
    let text = `GET ${url.pathname}${url.search} HTTP/1.1\r\nhost: ${url.host}\r\n`;
    for (const [k, v] of Object.entries(headers)) {
      if (k === 'host') continue;
      if (/[\r\n\0]/.test(k + v)) throw new TypeError(`a request header with a line break: ${k}`);
      text += `${k}: ${v}\r\n`;
    }
    return `${text}\r\n`;
  };

  const get = async (
    url: URL,
    headers: Record<string, string>,
    signal: AbortSignal,
  ): Promise<TransportResponse> => {
    const pool = poolFor(url);
    const conn = await pool.acquire(signal);
    if (signal.aborted) {
      pool.release(conn);
      throw abortError(signal);
    }
    return new Promise<TransportResponse>((resolve, reject) => {
      let answered = false;
      const onAbort = (): void => x.fail(abortError(signal));
      const cleanup = (): void => signal.removeEventListener('abort', onAbort);
      const x: Exchange = new Exchange(
        conn,
        (ex) => {
          answered = true;
          resolve(response(ex));
        },
        (_ex, err) => {
          cleanup();
          if (!answered) reject(err);
        },
        () => {
          cleanup();
          pool.release(conn);
        },
      );
      conn.take(x);
      signal.addEventListener('abort', onAbort, { once: true });
      conn.send(request(url, headers));
    });
  };

  return {
    get,
    close: async () => {
      for (const p of pools.values()) p.closeAll();
      pools.clear();
    },
  };
}

function response(x: Exchange): TransportResponse {
  return {
    statusCode: x.status,
    headers: x.headers,
    read: (onChunk, place) => x.read(onChunk, place),
    discard: async (limit) => {
      let seen = 0;
      await x
        .read((c) => {
          seen += c.length;
          if (seen > limit) x.stop();
        })
        .catch(() => undefined);
    },
    destroy: () => x.stop(),
  };
}

function abortError(signal: AbortSignal): Error {
  const reason: unknown = signal.reason;
  return reason instanceof Error
    ? reason
    : Object.assign(new Error('aborted'), { name: 'AbortError', code: 'ABORT_ERR' });
}
