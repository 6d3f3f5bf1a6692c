/**
 * The parts of undici castkit uses (Agent, EnvHttpProxyAgent, request, buildConnector), loaded from their own
 * modules.
 * undici's index also loads fetch, WebSocket, EventSource, the cache stores and the mock agents: about
 * 80 ms at the start of every `record` on this 2-core machine, against about 30 ms for these three
 * (measured with require() timings, Node 20, undici 7.30). The paths are undici's lib layout; the package
 * has no exports map, and the lockfile pins the version. test/unit/undici-core.test.ts checks that the
 * classes are undici's own.
 */
import { createRequire } from 'node:module';
import type * as Undici from 'undici';

const load = createRequire(import.meta.url);

export const Agent = load('undici/lib/dispatcher/agent.js') as typeof Undici.Agent;
export const EnvHttpProxyAgent = load(
  'undici/lib/dispatcher/env-http-proxy-agent.js',
) as typeof Undici.EnvHttpProxyAgent;

export const buildConnector = load('undici/lib/core/connect.js') as typeof Undici.buildConnector;

type RequestFn = (
  this: Undici.Dispatcher,
  options: Undici.Dispatcher.RequestOptions,
) => Promise<Undici.Dispatcher.ResponseData>;
const requestOn = load('undici/lib/api/api-request.js') as RequestFn;

export type RequestOptions = Omit<Undici.Dispatcher.RequestOptions, 'origin' | 'path'> & {
  dispatcher: Undici.Dispatcher;
};

/** undici's `request(url, { dispatcher, ... })`, with the dispatcher required (no global one). */
export function request(url: string | URL, options: RequestOptions): Promise<Undici.Dispatcher.ResponseData> {
  const u = typeof url === 'string' ? new URL(url) : url;
  const { dispatcher, ...rest } = options;
  return requestOn.call(dispatcher, { ...rest, origin: u.origin, path: `${u.pathname}${u.search}` });
}
