/**
 * NODE_EXTRA_CA_CERTS, when castkit's launcher (bin/castkit) took it over so that Node does not build its
 * root store at every start: the file is in CASTKIT_EXTRA_CA_CERTS, and connections castkit opens trust
 * Node's own roots plus the certificates in it, as Node would have. Read once, when the first TLS
 * connection is set up.
 */
import { readFileSync } from 'node:fs';
import type * as Tls from 'node:tls';
import { lazyBuiltin } from '../core/lazy-builtin.js';

// Only HTTPS and WSS connections need it: plain HTTP recordings do not load TLS.
const tls = lazyBuiltin<typeof Tls>('node:tls');

export const EXTRA_CA_ENV = 'CASTKIT_EXTRA_CA_CERTS';

const loaded = new Map<string, string[] | undefined>();

/**
 * The CA list for a TLS connection (`ca`): Node's roots and the launcher's extra certificates; undefined
 * when there are none (Node's default store applies). A file that cannot be read is ignored with a
 * warning, as Node ignores it.
 */
export function extraCaList(
  env: Readonly<Record<string, string | undefined>> = process.env,
): string[] | undefined {
  const path = env[EXTRA_CA_ENV];
  if (!path) return undefined;
  if (loaded.has(path)) return loaded.get(path);
  let list: string[] | undefined;
  try {
    list = [...tls().rootCertificates, readFileSync(path, 'utf8')];
  } catch (err) {
    process.emitWarning(
      `Ignoring extra certs from \`${path}\` (NODE_EXTRA_CA_CERTS), load failed: ${(err as Error).message}`,
    );
  }
  loaded.set(path, list);
  return list;
}

/**
 * Whether connections trust NODE_EXTRA_CA_CERTS as the launcher took it over: only when the caller gave
 * no CA. Decided when a client is made; the certificates are read at the first HTTPS connection.
 */
export function usesExtraCa(tls: { ca?: unknown } | undefined): boolean {
  return tls?.ca === undefined && Boolean(process.env[EXTRA_CA_ENV]);
}
