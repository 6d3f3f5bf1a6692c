/**
 * HLS METHOD=AES-128 (RFC 8216 4.3.2.4, 5.2): whole segments encrypted with AES-128-CBC and PKCS7 padding,
 * the 16-byte key fetched from the key URI (once per URI), the IV from the tag or the media sequence.
 * Keys are secrets: they are never logged, and errors name the key's URL (credentials masked), not its bytes.
 */
import type * as Crypto from 'node:crypto';
import { type CastkitError, InputError, NetworkError, isCastkitError } from '../../core/errors.js';
import { sniffContainer } from '../../formats/sniff.js';
import { shownUrl } from '../../download/http-errors.js';
import type { ChunkTransform } from '../../download/scheduler.js';
import { lazyBuiltin } from '../../core/lazy-builtin.js';
import { MASK, redactUrlCredentials } from '../../core/redact.js';

// Only encrypted playlists need it.
const crypto = lazyBuiltin<typeof Crypto>('node:crypto');

export type KeyFetcher = (url: string, signal: AbortSignal) => Promise<Uint8Array>;

/**
 * A key URL as shown to people: credentials and query values masked (a key URL's query often carries a
 * token), the rest kept so that the user sees which key it was.
 */
export function shownKeyUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = MASK;
    for (const k of [...u.searchParams.keys()]) u.searchParams.set(k, MASK);
    return u.href;
  } catch {
    return redactUrlCredentials(url);
  }
}

export class AesKeyCache {
  private readonly keys = new Map<string, Promise<Uint8Array>>();
  /** Keys that turned out wrong: what any later use of them fails with, before a segment is fetched. */
  private readonly wrong = new Map<string, CastkitError>();

  constructor(private readonly fetchKey: KeyFetcher) {}

  /** The key at `url`, fetched once (a failed fetch is forgotten, so the next segment tries again). */
  get(url: string, signal: AbortSignal): Promise<Uint8Array> {
    const wrong = this.wrong.get(url);
    if (wrong) {
      return Promise.reject(
        new NetworkError(
          `not fetched: the key from ${shownKeyUrl(url)} did not decrypt ${String(wrong.details.segment)} into media`,
          {
            code: 'E_KEY_WRONG',
            retryable: false,
            ...(wrong.hint ? { hint: wrong.hint } : {}),
            details: wrong.details,
          },
        ),
      );
    }
    let p = this.keys.get(url);
    if (!p) {
      p = this.fetchKey(url, signal).then((key) => {
        if (key.length !== 16) {
          throw new NetworkError(`the AES-128 key at ${shownKeyUrl(url)} is ${key.length} bytes, not 16`, {
            code: 'E_KEY_INVALID',
            retryable: false,
            hint: 'the key URL answered with something else (a login page?); check cookies and headers',
          });
        }
        return key;
      });
      p.catch(() => this.keys.delete(url));
      this.keys.set(url, p);
    }
    return p;
  }

  /**
   * The key at `url` decrypted a segment into something that is not media (E_KEY_WRONG): the other
   * segments under it fail with the same error at once, instead of each being fetched and failing too.
   */
  markWrong(url: string, err: CastkitError): void {
    this.wrong.set(url, err);
  }

  /** aes128Decipher with the segment's key; a key found wrong by it is marked so (markWrong). */
  async decipher(seg: AesSegment, iv: Uint8Array, signal: AbortSignal): Promise<ChunkTransform> {
    const d = aes128Decipher(await this.get(seg.keyUrl, signal), iv, seg);
    const marked = <T>(f: () => T): T => {
      try {
        return f();
      } catch (err) {
        if (isCastkitError(err) && err.code === 'E_KEY_WRONG') this.markWrong(seg.keyUrl, err);
        throw err;
      }
    };
    return { update: (chunk) => marked(() => d.update(chunk)), final: () => marked(() => d.final()) };
  }
}

/** Where an AES-128 segment comes from, for its checks and messages. */
export interface AesSegment {
  /** The segment's URL. */
  name: string;
  keyUrl: string;
}

/** Clear bytes read before the decrypted start is checked: two TS packets and a byte. */
const HEAD_BYTES = 189;

/**
 * Decrypted bytes that start like no media segment mean the key is wrong (a wrong IV garbles only the
 * first block, so a TS sync byte at 188 but not at 0 means the IV is). Undefined when they look right.
 */
function wrongDecryption(head: Uint8Array, seg: AesSegment): CastkitError | undefined {
  if (looksLikeMedia(head)) return undefined;
  if (head.length > 188 && head[188] === 0x47) {
    return new InputError(
      `segment ${shownUrl(seg.name)} is not MPEG-TS in its first AES block only: the IV is wrong (the key from ${shownKeyUrl(seg.keyUrl)} is right)`,
      {
        code: 'E_DECRYPT_IV',
        hint: 'the playlist gives a wrong IV for this segment (EXT-X-KEY IV, or the media sequence number); report it to the stream provider',
      },
    );
  }
  return new NetworkError(
    `segment ${shownUrl(seg.name)} is not MPEG-TS or any other media after decryption with the key from ${shownKeyUrl(seg.keyUrl)}: the key is probably wrong`,
    {
      code: 'E_KEY_WRONG',
      retryable: false,
      hint: 'key servers often answer a decoy key to a request without the session of the page that plays the stream: pass its cookies (--cookies) and headers (--header, --referer)',
      details: { keyUrl: shownKeyUrl(seg.keyUrl), segment: shownUrl(seg.name) },
    },
  );
}

/** MPEG-TS, ISO-BMFF or FLV (sniffContainer), or packed audio: an ID3 tag, an ADTS or AC-3 sync word. */
function looksLikeMedia(head: Uint8Array): boolean {
  if (sniffContainer(head) !== 'unknown') return true;
  const [a, b, c] = [head[0], head[1], head[2]];
  if (a === 0x47 && head.length <= 188) return true; // a TS of one packet: too short to tell more
  if (a === 0x49 && b === 0x44 && c === 0x33) return true; // "ID3"
  if (a === 0xff && b !== undefined && (b & 0xf6) === 0xf0) return true; // ADTS
  return a === 0x0b && b === 0x77; // AC-3
}

/** Bad PKCS#7 padding: a wrong key when the start is not media, else a damaged or cut segment. */
function paddingError(head: Uint8Array | undefined, seg: AesSegment, cause: unknown): CastkitError {
  // `head` undefined: the clear start was checked already, and is media.
  const wrong = head && wrongDecryption(head, seg);
  if (wrong) return wrong;
  return new NetworkError(
    `segment ${shownUrl(seg.name)} decrypts to media but ends with bad PKCS#7 padding: it is damaged or cut short`,
    { code: 'E_DECRYPT_PADDING', retryable: true, cause },
  );
}

function shortError(seg: AesSegment, total: number): NetworkError {
  // Most likely cut short by the server without a Content-Length: worth fetching again.
  return new NetworkError(
    `segment ${shownUrl(seg.name)} is ${total} bytes, not a whole number of AES blocks: it is cut short or not encrypted`,
    { code: 'E_DECRYPT_SHORT', retryable: true },
  );
}

/**
 * Decrypt one AES-128 segment (CBC, PKCS7) as it arrives: update() per chunk, final() at the end. The
 * clear start is checked as soon as it is there, so a wrong key stops the download at once (E_KEY_WRONG,
 * not retryable); bad padding after a clear start that is media is a damaged segment (retryable).
 */
export function aes128Decipher(key: Uint8Array, iv: Uint8Array, seg: AesSegment): ChunkTransform {
  const d = crypto().createDecipheriv('aes-128-cbc', key, iv);
  let total = 0;
  let head: Buffer[] | undefined = [];
  let headBytes = 0;
  /** Keeps the first clear bytes until there are HEAD_BYTES, then checks them (once). */
  const watch = (out: Buffer, last: boolean): void => {
    if (!head) return;
    head.push(Buffer.from(out.subarray(0, HEAD_BYTES)));
    headBytes += out.length;
    if (headBytes < HEAD_BYTES && !last) return;
    const start = Buffer.concat(head);
    head = undefined;
    const wrong = wrongDecryption(start, seg);
    if (wrong) throw wrong;
  };
  return {
    update: (chunk) => {
      total += chunk.length;
      const out = d.update(chunk);
      watch(out, false);
      return out;
    },
    final: () => {
      if (total === 0 || total % 16 !== 0) throw shortError(seg, total);
      let tail: Buffer;
      try {
        tail = d.final();
      } catch (err) {
        throw paddingError(head && Buffer.concat(head), seg, err);
      }
      watch(tail, true);
      return tail;
    },
  };
}

/**
 * The error of a download whose every failed segment failed with E_KEY_WRONG, in those words (which key,
 * which segments, and that the key is probably wrong) instead of "N segments could not be downloaded".
 * Undefined for any other error. `keyUrlOf` gives the key URL of a segment by its index in the download.
 */
export function wrongKeyError(
  err: unknown,
  keyUrlOf: (index: number) => string | undefined,
): CastkitError | undefined {
  if (!isCastkitError(err) || err.code !== 'E_SEGMENTS_MISSING') return undefined;
  const missing = err.details.missing as { index: number; key?: string; code?: string }[] | undefined;
  if (!missing || missing.length === 0 || missing.some((m) => m.code !== 'E_KEY_WRONG')) return undefined;
  const keyUrls = [...new Set(missing.map((m) => keyUrlOf(m.index)).filter((u) => u !== undefined))];
  const shown = missing.slice(0, 3).map((m) => m.key);
  const more = missing.length > 3 ? ` and ${missing.length - 3} more` : '';
  const first = err.cause instanceof Error ? err.cause : undefined;
  return new NetworkError(
    `segments could not be decrypted with the key from ${keyUrls.map(shownKeyUrl).join(' and ') || 'the playlist'} (${shown.join(', ')}${more}): decrypted, they are not MPEG-TS or any other media (bad PKCS#7 padding), so the key is probably wrong`,
    {
      code: 'E_KEY_WRONG',
      retryable: false,
      hint: 'key servers often answer a decoy key to a request without the session of the page that plays the stream: pass its cookies (--cookies) and headers (--header, --referer)',
      ...(first ? { cause: first } : {}),
      details: { keyUrls: keyUrls.map(shownKeyUrl), segments: missing.map((m) => m.key) },
    },
  );
}
