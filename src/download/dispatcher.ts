/**
 * undici's dispatcher for an HTTP client's options, for the library's callers. The HTTP client itself
 * loads undici only when it needs it (a proxy, or its dispatcher asked for): see http-client.ts.
 */
import type { Dispatcher } from 'undici';
import { usesExtraCa } from './extra-ca.js';
import { dispatcherOptions, type HttpClientOptions } from './http-client.js';
import { createDispatcher as createUndiciDispatcher } from './undici-transport.js';

/** undici's dispatcher for these options: an Agent, or an EnvHttpProxyAgent when a proxy is configured. */
export function createDispatcher(options: HttpClientOptions = {}): Dispatcher {
  return createUndiciDispatcher(dispatcherOptions(options, usesExtraCa(options.tls)));
}
