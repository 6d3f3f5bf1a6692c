/**
 * A Node built-in module loaded when it is first used rather than when castkit starts. Loading one costs
 * the start of every command (node:tls with node:crypto about 5 ms on a 2-core machine), and some are only
 * needed on a few paths: TLS trust for HTTPS, AES for encrypted playlists.
 */
import { createRequire } from 'node:module';

const load = createRequire(import.meta.url);

/** A getter for the built-in `name` (such as 'node:tls'), which loads it at its first call. */
export function lazyBuiltin<T>(name: `node:${string}`): () => T {
  let mod: T | undefined;
  return () => (mod ??= load(name) as T);
}
