/**
 * file: and data: URLs, only reachable when the caller allowed local content (assertAllowedUrl with
 * allowLocal): a playlist on disk naming segments on disk, or a key given inline as a data: URL.
 */
import { open } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { InputError, systemErrorCode } from '../core/errors.js';
import type { ByteRange } from './byte-range.js';

export async function fetchLocal(url: URL, range: ByteRange | undefined, maxBytes: number): Promise<Buffer> {
  const whole = url.protocol === 'data:' ? decodeDataUrl(url) : undefined;
  if (whole) {
    const start = range?.offset ?? 0;
    const end = range?.length !== undefined ? start + range.length : whole.length;
    return checkSize(url, whole.subarray(start, end), maxBytes);
  }
  const path = fileURLToPath(url);
  try {
    const fh = await open(path, 'r');
    try {
      const size = (await fh.stat()).size;
      const start = range?.offset ?? 0;
      const length = Math.max(0, Math.floor(range?.length ?? size - start));
      if (length > maxBytes) throw tooLarge(url, length, maxBytes);
      const buf = Buffer.allocUnsafe(length);
      let got = 0;
      while (got < length) {
        const { bytesRead } = await fh.read(buf, got, length - got, start + got);
        if (bytesRead === 0) break;
        got += bytesRead;
      }
      if (got < length) {
        throw new InputError(`${path} ends before byte ${start + length} (read ${got} of ${length} bytes)`, {
          code: 'E_LOCAL_RANGE',
          details: { path, offset: start, length },
        });
      }
      return buf;
    } finally {
      await fh.close();
    }
  } catch (err) {
    if (err instanceof InputError) throw err;
    throw new InputError(`cannot read ${path}: ${systemErrorCode(err) ?? String(err)}`, {
      code: 'E_LOCAL_READ',
      cause: err,
      details: { path },
    });
  }
}

/** RFC 2397: data:[<mediatype>][;base64],<data> */
function decodeDataUrl(url: URL): Buffer {
  const href = url.href;
  const comma = href.indexOf(',');
  if (comma < 0) throw new InputError('malformed data: URL (no comma)', { code: 'E_URL_INVALID' });
  const meta = href.slice(5, comma);
  const data = href.slice(comma + 1);
  return /;base64$/i.test(meta)
    ? Buffer.from(decodeURIComponent(data), 'base64')
    : Buffer.from(decodeURIComponent(data), 'latin1');
}

function checkSize(url: URL, buf: Buffer, maxBytes: number): Buffer {
  if (buf.length > maxBytes) throw tooLarge(url, buf.length, maxBytes);
  return buf;
}

function tooLarge(url: URL, size: number, maxBytes: number): InputError {
  return new InputError(`${url.protocol} content of ${size} bytes is over the limit of ${maxBytes}`, {
    code: 'E_TOO_LARGE',
    details: { size, maxBytes },
  });
}
