/**
 * The parts of undici castkit uses (Agent, EnvHttpProxyAgent, request, buildConnector), loaded from their own
 * modules.
 * undici's index also loads fetch, WebSocket, EventSource, the cache stores and the mock agents: about
 * 80 ms at the start of every `record` on this 2-core machine, against about 30 ms for these three
 * (measured with require() timings, Node 20, undici 7.30). The paths are undici's lib layout; the package
 * has no exports map, and the lockfile pins the version. test/download/undici-core.test.ts checks that
 * the classes are undici's own. Static imports (types in undici-lib.d.ts), so that the command line's
 * bundle (scripts/bundle-cli.mjs) can take these modules in.
 */
import type * as Undici from 'undici';
import AgentClass from 'undici/lib/dispatcher/agent.js';
import EnvHttpProxyAgentClass from 'undici/lib/dispatcher/env-http-proxy-agent.js';
import buildConnectorFn from 'undici/lib/core/connect.js';
import requestOn from 'undici/lib/api/api-request.js';
import connectOn from 'undici/lib/api/api-connect.js';
import DispatcherClass from 'undici/lib/dispatcher/dispatcher.js';

// undici's index gives every dispatcher its request/stream/pipeline/connect/upgrade methods; ProxyAgent
// opens its tunnels with the pool's connect() (lib/dispatcher/proxy-agent.js). Without the index, that one
// is installed here: with none, every request through HTTP(S)_PROXY failed with "this[kClient].connect is
// not a function" (a process that had loaded undici's index, as the tests do, did not show it).
const dispatcherPrototype = DispatcherClass.prototype as { connect?: unknown };
if (typeof dispatcherPrototype.connect !== 'function') {
  Object.defineProperty(dispatcherPrototype, 'connect', {
    value: connectOn,
    writable: true,
    configurable: true,
  });
}

export const Agent = AgentClass;
export const EnvHttpProxyAgent = EnvHttpProxyAgentClass;
export const buildConnector = buildConnectorFn;

export type RequestOptions = Omit<Undici.Dispatcher.RequestOptions, 'origin' | 'path'> & {
  dispatcher: Undici.Dispatcher;
};

/** undici's `request(url, { dispatcher, ... })`, with the dispatcher required (no global one). */
export function request(url: string | URL, options: RequestOptions): Promise<Undici.Dispatcher.ResponseData> {
  const u = typeof url === 'string' ? new URL(url) : url;
  const { dispatcher, ...rest } = options;
  return requestOn.call(dispatcher, { ...rest, origin: u.origin, path: `${u.pathname}${u.search}` });
}
