/**
 * An agent for node:http/https clients (the `ws` websocket client) whose connections go through an HTTP
 * proxy's CONNECT tunnel (RFC 9110 9.3.6), TLS on top for wss:. castkit's HTTP downloads get the same from
 * undici's proxy agent; this is for the clients that are not undici.
 */
import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import { isIP, connect as netConnect, type Socket } from 'node:net';
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

/**
 * Opens a tunnel through `proxy` to host:port; calls back with the raw tunnel socket. An https:// proxy is
 * spoken to over TLS (its certificate checked against `proxyTls`' ca, or Node's store), the tunnel inside.
 */
export function openTunnel(
  proxy: URL,
  host: string,
  port: number,
  done: CreateCallback,
  timeoutMs = TUNNEL_TIMEOUT_MS,
  proxyTls: ConnectionOptions = {},
): void {
  const overTls = proxy.protocol === 'https:';
  const proxyPort = Number(proxy.port || (overTls ? 443 : 80));
  const proxyHost = proxy.hostname.replace(/^\[|\]$/g, ''); // [::1] in a URL, ::1 to connect
  const socket: Socket = overTls
    ? tlsConnect({
        ...proxyTls,
        host: proxyHost,
        port: proxyPort,
        ...(isIP(proxyHost) !== 0 ? {} : { servername: proxyHost }),
      })
    : netConnect(proxyPort, proxyHost);
  const target = host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
  const shown = redactUrlCredentials(proxy.href);
  let head = Buffer.alloc(0);
  let finished = false;
  let secured = false; // TLS to the proxy is up (or the proxy is plain)
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
  socket.once('error', (err: NodeJS.ErrnoException) => {
    if (!overTls || secured) {
      finish(err);
      return;
    }
    // Before TLS to the proxy is up, a failure is the proxy's (its certificate, say), not the server's.
    finish(
      Object.assign(new Error(`TLS to the proxy ${shown} failed: ${err.message}`, { cause: err }), {
        code: err.code,
        proxy: shown,
      }),
    );
  });
  socket.once('close', () =>
    finish(new Error(`the proxy ${shown} closed the connection before the tunnel opened`)),
  );
  socket.once(overTls ? 'secureConnect' : 'connect', () => {
    secured = true;
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
 * `proxyTls` (ca) is for an https:// proxy's own certificate, always checked.
 */
export function tunnelAgent(proxy: string, secure: boolean, proxyTls: ConnectionOptions = {}): HttpAgent {
  const proxyUrl = new URL(proxy);
  if (!secure) {
    return new (class extends HttpAgent {
      override createConnection(options: ConnectTarget, cb: CreateCallback): Duplex | undefined {
        const { host, port } = targetOf(options, 80);
        openTunnel(proxyUrl, host, port, cb, TUNNEL_TIMEOUT_MS, proxyTls);
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
      openTunnel(
        proxyUrl,
        host,
        port,
        (err, socket) => {
          if (err || !socket) {
            cb(err ?? new Error('no tunnel'));
            return;
          }
          // No SNI for an IP address (RFC 6066 section 3).
          const servername = options.servername ?? (isIP(host) !== 0 ? undefined : host);
          cb(null, tlsConnect({ ...options, socket, ...(servername ? { servername } : {}) }));
        },
        TUNNEL_TIMEOUT_MS,
        proxyTls,
      );
      return undefined;
    }
  })({ keepAlive: false });
}
