/**
 * GETs through an undici dispatcher: the transport where a proxy is configured (EnvHttpProxyAgent reads
 * HTTP(S)_PROXY and NO_PROXY), and the dispatcher the ustream site's form POSTs share.
 */
import type { Agent as UndiciAgent, buildConnector as buildConnectorTypes, Dispatcher } from 'undici';
import { Agent, buildConnector, EnvHttpProxyAgent, request } from './undici-core.js';
import { extraCaList } from './extra-ca.js';
import { proxyFromEnv } from './proxy-env.js';
import type { Transport } from './transport.js';

export interface DispatcherOptions {
  /** Connections per origin. */
  connections: number;
  /** Connect timeout. */
  timeoutMs: number;
  env?: Readonly<Record<string, string | undefined>>;
  tls?: { ca?: string | Buffer; rejectUnauthorized?: boolean };
  /** Trust Node's roots plus the launcher's NODE_EXTRA_CA_CERTS (extra-ca.ts); only without `tls.ca`. */
  extraCa: boolean;
}

/** An Agent, or an EnvHttpProxyAgent when a proxy is configured; both pool and keep connections alive. */
export function createDispatcher(options: DispatcherOptions): Dispatcher {
  const proxy = proxyFromEnv(options.env ?? process.env);
  const connect = { timeout: options.timeoutMs, ...options.tls };
  // Node's roots plus the extra certificates, loaded when the first HTTPS connection is made (through a
  // proxy: at once).
  const extraCa = options.extraCa ? extraCaList : undefined;
  const base: UndiciAgent.Options = {
    connections: Math.max(1, options.connections),
    keepAliveTimeout: 15_000,
    keepAliveMaxTimeout: 60_000,
    // The client's watchdog owns timing (per request, one clock for connect and headers); these are
    // backstops.
    headersTimeout: 0,
    bodyTimeout: 0,
    connect: extraCa ? httpsLater(connect, extraCa) : connect,
  };
  if (!proxy) return new Agent(base);
  const ca = extraCa?.();
  // TLS to an https:// proxy itself trusts the same CAs as TLS to the servers (extraCa is there only
  // when the caller gave none).
  const proxyCa = options.tls?.ca ?? ca;
  return new EnvHttpProxyAgent({
    ...base,
    ...proxy,
    requestTls: { ...options.tls, ...(ca ? { ca } : {}) },
    proxyTls: proxyCa !== undefined ? { ca: proxyCa } : {},
  });
}

/** undici's connector, with `ca()` asked for only when an HTTPS connection is first made. */
function httpsLater(
  options: buildConnectorTypes.BuildOptions,
  ca: () => string[] | undefined,
): buildConnectorTypes.connector {
  const plain = buildConnector(options);
  let secure: buildConnectorTypes.connector | undefined;
  return (opts, callback) => {
    if (opts.protocol !== 'https:') return plain(opts, callback);
    if (!secure) {
      const list = ca();
      secure = list ? buildConnector({ ...options, ca: list }) : plain;
    }
    return secure(opts, callback);
  };
}

/** GETs through `dispatcher` (which the caller closes). */
export function undiciTransport(dispatcher: Dispatcher): Transport {
  return {
    get: async (url, headers, signal) => {
      const res = await request(url, {
        dispatcher,
        method: 'GET',
        headers,
        signal,
        headersTimeout: 0,
        bodyTimeout: 0,
        // A larger body buffer than the default 64 KiB: the parser pauses less often (see journal.ts on
        // undici#5360) and a segment arrives in fewer, larger chunks.
        highWaterMark: 256 << 10,
      });
      return {
        statusCode: res.statusCode,
        headers: res.headers,
        read: async (onChunk) => {
          for await (const chunk of res.body as AsyncIterable<Buffer>) {
            const r = onChunk(chunk);
            if (r) await r;
            // destroy() from the handler: enough was read (leaving the loop lets the rest go).
            if (res.body.destroyed) break;
          }
        },
        discard: async (limit) => {
          await res.body.dump({ limit }).catch(() => undefined);
        },
        destroy: () => res.body.destroy(),
      };
    },
    close: async () => undefined, // the dispatcher is the caller's to close
  };
}
