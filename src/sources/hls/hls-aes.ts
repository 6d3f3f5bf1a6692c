/**
 * HLS METHOD=AES-128 (RFC 8216 4.3.2.4, 5.2): whole segments encrypted with AES-128-CBC and PKCS7 padding,
 * the 16-byte key fetched from the key URI (once per URI), the IV from the tag or the media sequence.
 * Keys are secrets: they are never logged, and errors name the key's URL (credentials masked), not its bytes.
 */
import type * as Crypto from 'node:crypto';
import { FormatError, NetworkError } from '../../core/errors.js';
import { lazyBuiltin } from '../../core/lazy-builtin.js';
import { redactUrlCredentials } from '../../core/redact.js';

// Only encrypted playlists need it.
const crypto = lazyBuiltin<typeof Crypto>('node:crypto');

export type KeyFetcher = (url: string, signal: AbortSignal) => Promise<Uint8Array>;

export class AesKeyCache {
  private readonly keys = new Map<string, Promise<Uint8Array>>();

  constructor(private readonly fetchKey: KeyFetcher) {}

  /** The key at `url`, fetched once (a failed fetch is forgotten, so the next segment tries again). */
  get(url: string, signal: AbortSignal): Promise<Uint8Array> {
    let p = this.keys.get(url);
    if (!p) {
      p = this.fetchKey(url, signal).then((key) => {
        if (key.length !== 16) {
          throw new NetworkError(
            `the AES-128 key at ${redactUrlCredentials(url)} is ${key.length} bytes, not 16`,
            {
              code: 'E_KEY_INVALID',
              retryable: false,
              hint: 'the key URL answered with something else (a login page?); check cookies and headers',
            },
          );
        }
        return key;
      });
      p.catch(() => this.keys.delete(url));
      this.keys.set(url, p);
    }
    return p;
  }
}

/** Decrypt one AES-128 segment (CBC, PKCS7). A wrong key or IV shows as bad padding: a typed error. */
export function decryptAes128(data: Uint8Array, key: Uint8Array, iv: Uint8Array, name: string): Buffer {
  if (data.length === 0 || data.length % 16 !== 0) {
    // Most likely cut short by the server without a Content-Length: worth fetching again.
    throw new NetworkError(
      `segment ${name} is ${data.length} bytes, not a whole number of AES blocks: it is cut short or not encrypted`,
      { code: 'E_DECRYPT_SHORT', retryable: true },
    );
  }
  try {
    const d = crypto().createDecipheriv('aes-128-cbc', key, iv);
    return Buffer.concat([d.update(data), d.final()]);
  } catch (err) {
    throw new FormatError(`segment ${name} could not be decrypted (wrong key or IV?)`, {
      code: 'E_DECRYPT',
      offset: 0,
      cause: err,
      hint: 'the key served for this segment does not open it; check that the key URL needs no cookies or headers',
    });
  }
}

/**
 * The same decryption as a stream (a segment decrypted as it arrives): update() per chunk, final() at the
 * end, which checks the padding and throws the same typed error as decryptAes128 on a wrong key or IV.
 */
export function aes128Decipher(
  key: Uint8Array,
  iv: Uint8Array,
  name: string,
): { update(chunk: Buffer): Buffer; final(): Buffer } {
  const d = crypto().createDecipheriv('aes-128-cbc', key, iv);
  let total = 0;
  return {
    update: (chunk) => {
      total += chunk.length;
      return d.update(chunk);
    },
    final: () => {
      if (total === 0 || total % 16 !== 0) {
        throw new NetworkError(
          `segment ${name} is ${total} bytes, not a whole number of AES blocks: it is cut short or not encrypted`,
          { code: 'E_DECRYPT_SHORT', retryable: true },
        );
      }
      try {
        return d.final();
      } catch (err) {
        throw new FormatError(`segment ${name} could not be decrypted (wrong key or IV?)`, {
          code: 'E_DECRYPT',
          offset: 0,
          cause: err,
          hint: 'the key served for this segment does not open it; check that the key URL needs no cookies or headers',
        });
      }
    },
  };
}
