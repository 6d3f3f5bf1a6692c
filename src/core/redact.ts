/**
 * Secrets (stream keys, credentials, encryption keys) never reach logs or printed commands. Callers
 * register the secret values they hold; every string shown to a user passes through `redact`.
 */
export const MASK = '****';

/** Replace each secret (non-empty, at least 3 characters to avoid masking noise) with ****. */
export function redact(text: string, secrets: readonly string[]): string {
  let out = text;
  const sorted = [...secrets].filter((s) => s.length >= 3).sort((a, b) => b.length - a.length);
  for (const secret of sorted) out = out.split(secret).join(MASK);
  return redactUrlCredentials(out);
}

/** user:password@ in URLs is always a secret, registered or not. */
export function redactUrlCredentials(text: string): string {
  return text.replace(/([a-z][a-z0-9+.-]*:\/\/)([^/\s:@]+):([^/\s@]+)@/gi, `$1$2:${MASK}@`);
}

/** Quote an argument array for display the way a POSIX shell would accept it. */
export function formatCommand(bin: string, args: readonly string[], secrets: readonly string[] = []): string {
  const quote = (a: string): string => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`);
  return redact([bin, ...args].map(quote).join(' '), secrets);
}
