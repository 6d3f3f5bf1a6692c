/**
 * A test HTTP origin on 127.0.0.1: serves files and bodies with Range support, records every request, and
 * injects faults per path (status codes, a reset connection, a truncated body, a reset or a stall in the
 * middle of a body) and, optionally, latency. It only ever listens on loopback and is closed by the test
 * that starts it.
 *
 * Routes can also be live: `available` makes a file or body route answer 404 until (and unless) it says
 * yes, and a `dynamic` route computes its body per request (a live playlist or MPD); faults, Range and
 * HEAD apply to them as to any other route.
 */
import { createReadStream, statSync } from 'node:fs';
import {
  createServer,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import type { AddressInfo } from 'node:net';

export type Fault =
  | { kind: 'status'; status: number; headers?: Record<string, string>; times?: number }
  | { kind: 'reset'; times?: number }
  | { kind: 'truncate'; bytes: number; times?: number }
  /** Accept the request and never answer (until the origin closes). */
  | { kind: 'stall'; times?: number }
  /** Send the headers (full Content-Length) and `bytes` of the body, then reset the connection (RST). Body routes. */
  | { kind: 'reset-body'; bytes: number; times?: number }
  /** Send the headers and `bytes` of the body, then nothing more (until the origin closes). Body routes. */
  | { kind: 'stall-body'; bytes: number; times?: number };

export interface LoggedRequest {
  method: string;
  path: string;
  range?: string;
  headers: IncomingHttpHeaders;
  at: number;
  /** The client's port: requests with the same one came over the same connection. */
  port: number;
}

/** What a dynamic route answers for one request; undefined means 404. */
export interface DynamicBody {
  body: string | Buffer;
  type?: string;
  headers?: Record<string, string>;
}

export type Route =
  /** `available` (checked per request): 404 while it returns false, e.g. a live segment not yet published. */
  | { file: string; type?: string; available?: () => boolean; headers?: Record<string, string> }
  | { body: string | Buffer; type?: string; available?: () => boolean; headers?: Record<string, string> }
  /** The body is computed for every request (after latency and faults); undefined answers 404. */
  | { dynamic: (req: IncomingMessage) => DynamicBody | undefined };

export interface Origin {
  url(path: string): string;
  route(path: string, route: Route): void;
  /** Forget a route: the path answers 404 from now on. True if there was one. */
  remove(path: string): boolean;
  fault(path: string, fault: Fault): void;
  /** The path answers normally again (its fault, if any, is dropped). */
  heal(path: string): void;
  requests: { method: string; path: string; range?: string }[];
  /** The same requests with their headers and arrival time (Date.now()). */
  log: LoggedRequest[];
  /** Delay every answer by `ms(path)` milliseconds (random latency for ordering tests). */
  latency(ms: ((path: string) => number) | undefined): void;
  close(): Promise<void>;
}

function parseRange(header: string | undefined, size: number): [number, number] | undefined {
  const m = /^bytes=(\d*)-(\d*)$/.exec(header ?? '');
  if (!m) return undefined;
  if (m[1] === '') return [Math.max(0, size - Number(m[2])), size - 1];
  const start = Number(m[1]);
  const end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
  return start <= end ? [start, end] : undefined;
}

export async function startOrigin(): Promise<Origin> {
  const routes = new Map<string, Route>();
  const faults = new Map<string, Fault>();
  const requests: Origin['requests'] = [];
  const log: LoggedRequest[] = [];
  let latency: ((path: string) => number) | undefined;

  const handle = (req: IncomingMessage, res: ServerResponse): void => {
    const path = new URL(req.url ?? '/', 'http://127.0.0.1').pathname;
    requests.push({ method: req.method ?? 'GET', path, range: req.headers.range });
    log.push({
      method: req.method ?? 'GET',
      path,
      range: req.headers.range,
      headers: req.headers,
      at: Date.now(),
      port: req.socket.remotePort ?? 0,
    });
    const delay = latency?.(path) ?? 0;
    if (delay > 0) setTimeout(() => answer(req, res, path), delay);
    else answer(req, res, path);
  };

  const answer = (req: IncomingMessage, res: ServerResponse, path: string): void => {
    if (req.socket.destroyed) return;
    const fault = faults.get(path);
    if (fault) {
      if (fault.times !== undefined && --fault.times <= 0) faults.delete(path);
      if (fault.kind === 'status') {
        res.writeHead(fault.status, { 'content-type': 'text/plain', ...fault.headers });
        res.end(`injected ${fault.status}\n`);
        return;
      }
      if (fault.kind === 'reset') {
        req.socket.destroy();
        return;
      }
      if (fault.kind === 'stall') return;
    }
    const found = routes.get(path);
    const route = found && 'dynamic' in found ? found.dynamic(req) : found;
    if (!route || ('available' in route && route.available && !route.available())) {
      res.writeHead(404, { 'content-type': 'text/plain' });
      res.end('not found\n');
      return;
    }
    const size = 'file' in route ? statSync(route.file).size : Buffer.byteLength(route.body);
    const range = parseRange(req.headers.range, size);
    const [start, end] = range ?? [0, size - 1];
    const headers: Record<string, string | number> = {
      ...route.headers,
      'content-type': route.type ?? 'application/octet-stream',
      'accept-ranges': 'bytes',
      'content-length': end - start + 1,
    };
    if (range) headers['content-range'] = `bytes ${start}-${end}/${size}`;
    res.writeHead(range ? 206 : 200, headers);
    if (req.method === 'HEAD') {
      res.end();
      return;
    }
    if (fault?.kind === 'reset-body' || fault?.kind === 'stall-body') {
      const buf =
        'file' in route ? undefined : Buffer.isBuffer(route.body) ? route.body : Buffer.from(route.body);
      const part = buf ? buf.subarray(start, Math.min(end + 1, start + fault.bytes)) : Buffer.alloc(0);
      res.write(part, () => {
        if (fault.kind === 'reset-body') setTimeout(() => req.socket.resetAndDestroy(), 20);
      });
      return;
    }
    const limit = fault?.kind === 'truncate' ? Math.min(end, start + fault.bytes - 1) : end;
    const after = (): void => {
      if (fault?.kind === 'truncate') req.socket.destroy();
    };
    if ('file' in route) {
      createReadStream(route.file, { start, end: limit }).on('end', after).pipe(res);
    } else {
      const buf = Buffer.isBuffer(route.body) ? route.body : Buffer.from(route.body);
      res.end(buf.subarray(start, limit + 1), after);
    }
  };

  const server: Server = createServer(handle);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: (path) => `http://127.0.0.1:${port}${path}`,
    route: (path, route) => routes.set(path, route),
    remove: (path) => routes.delete(path),
    fault: (path, fault) => faults.set(path, fault),
    heal: (path) => faults.delete(path),
    requests,
    log,
    latency: (ms) => {
      latency = ms;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
