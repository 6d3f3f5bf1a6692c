/** A self-signed TLS certificate for 127.0.0.1, and HTTPS servers with it, for tests. */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import type { RequestListener } from 'node:http';
import { createServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { TestContext } from 'node:test';

/** Key and certificate files in `dir` (made once per dir); cert undefined when openssl is missing. */
export function makeCertificate(dir: string): { key: string; cert: string | undefined } {
  const key = join(dir, 'key.pem');
  const cert = join(dir, 'cert.pem');
  if (existsSync(cert)) return { key, cert };
  try {
    execFileSync(
      'openssl',
      ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '1'].concat([
        '-subj',
        '/CN=127.0.0.1',
        '-addext',
        'subjectAltName=IP:127.0.0.1',
      ]),
      { stdio: 'ignore' },
    );
  } catch {
    return { key, cert: undefined };
  }
  return { key, cert };
}

/** makeCertificate's files, or undefined after marking the test skipped (saying why) when openssl is missing. */
export function certificateOrSkip(t: TestContext, dir: string): { key: string; cert: string } | undefined {
  const { key, cert } = makeCertificate(dir);
  if (cert) return { key, cert };
  t.skip('openssl is not available to make a test certificate');
  return undefined;
}

/** An HTTPS server on 127.0.0.1 with that key and certificate: its base URL, and a close that ends it. */
export async function startHttpsServer(
  key: string,
  cert: string,
  handler: RequestListener,
): Promise<{ base: string; close(): Promise<void> }> {
  const server = createServer({ key: readFileSync(key), cert: readFileSync(cert) }, handler);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    base: `https://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}
