/**
 * An agent for node:http/https clients (the `ws` websocket client) whose connections go through an HTTP
 * proxy's CONNECT tunnel (RFC 9110 9.3.6), TLS on top for wss:. castkit's HTTP downloads get the same from
 * undici's proxy agent; this is for the clients that are not undici.
 */
import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect, type ConnectionOptions } from 'node:tls';
import type { Duplex } from 'node:stream';
import { redactUrlCredentials } from '../core/redact.js';

/** The largest proxy response head read before giving up on it. */
const MAX_HEAD = 16 * 1024;
/** A proxy that neither opens the tunnel nor refuses it within this long is given up on. */
const TUNNEL_TIMEOUT_MS = 15_000;

type CreateCallback = (err: Error | null, socket?: Duplex) => void;

interface ConnectTarget {
  host?: string | null;
  hostname?: string | null;
  port?: number | string | null;
  servername?: string;
}

/** Opens a tunnel through `proxy` to host:port; calls back with the raw tunnel socket. */
export function openTunnel(
  proxy: URL,
  host: string,
  port: number,
  done: CreateCallback,
  timeoutMs = TUNNEL_TIMEOUT_MS,
): void {
  const proxyPort = Number(proxy.port || (proxy.protocol === 'https:' ? 443 : 80));
  const socket: Socket = netConnect(proxyPort, proxy.hostname);
  const target = host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
  const shown = redactUrlCredentials(proxy.href);
  let head = Buffer.alloc(0);
  let finished = false;
  const finish = (err: Error | null): void => {
    if (finished) return;
    finished = true;
    socket.setTimeout(0);
    socket.off('data', onData);
    if (err) {
      socket.destroy();
      done(err);
    } else done(null, socket);
  };
  const onData = (chunk: Buffer): void => {
    head = Buffer.concat([head, chunk]);
    const end = head.indexOf('\r\n\r\n');
    if (end < 0) {
      if (head.length > MAX_HEAD) finish(new Error(`the proxy ${shown} sent an overlong answer to CONNECT`));
      return;
    }
    const status = /^HTTP\/1\.[01] (\d{3})/.exec(head.subarray(0, end).toString('latin1'))?.[1];
    if (status === undefined || status[0] !== '2') {
      finish(new Error(`the proxy ${shown} refused the tunnel to ${target}: HTTP ${status ?? '?'}`));
      return;
    }
    const rest = head.subarray(end + 4);
    if (rest.length > 0) socket.unshift(rest);
    finish(null);
  };
  socket.setTimeout(timeoutMs, () =>
    finish(new Error(`the proxy ${shown} did not open the tunnel to ${target} within ${timeoutMs} ms`)),
  );
  socket.on('data', onData);
  socket.once('error', (err) => finish(err));
  socket.once('close', () =>
    finish(new Error(`the proxy ${shown} closed the connection before the tunnel opened`)),
  );
  socket.once('connect', () => {
    const auth =
      proxy.username !== ''
        ? `Proxy-Authorization: Basic ${Buffer.from(
            `${decodeURIComponent(proxy.username)}:${decodeURIComponent(proxy.password)}`,
          ).toString('base64')}\r\n`
        : '';
    socket.write(`CONNECT ${target} HTTP/1.1\r\nHost: ${target}\r\n${auth}\r\n`);
  });
}

function targetOf(options: ConnectTarget, defaultPort: number): { host: string; port: number } {
  const host = options.hostname ?? options.host ?? 'localhost';
  return { host, port: Number(options.port ?? defaultPort) };
}

/**
 * An agent (a new connection per request, as websockets need) that reaches every host through `proxy`:
 * plain for ws:/http:, with TLS for wss:/https: (the request's own options: ca, rejectUnauthorized).
 */
export function tunnelAgent(proxy: string, secure: boolean): HttpAgent {
  const proxyUrl = new URL(proxy);
  if (!secure) {
    return new (class extends HttpAgent {
      override createConnection(options: ConnectTarget, cb: CreateCallback): Duplex | undefined {
        const { host, port } = targetOf(options, 80);
        openTunnel(proxyUrl, host, port, cb);
        return undefined;
      }
    })({ keepAlive: false });
  }
  return new (class extends HttpsAgent {
    override createConnection(
      options: ConnectTarget & ConnectionOptions,
      cb: CreateCallback,
    ): Duplex | undefined {
      const { host, port } = targetOf(options, 443);
      openTunnel(proxyUrl, host, port, (err, socket) => {
        if (err || !socket) {
          cb(err ?? new Error('no tunnel'));
          return;
        }
        const servername = options.servername ?? (/^[\d.:]+$/.test(host) ? undefined : host);
        cb(null, tlsConnect({ ...options, socket, ...(servername ? { servername } : {}) }));
      });
      return undefined;
    }
  })({ keepAlive: false });
}
