/** A self-signed TLS certificate for 127.0.0.1, for HTTPS servers in tests. */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';

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
