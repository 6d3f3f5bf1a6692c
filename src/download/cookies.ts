/**
 * Netscape cookies.txt, the format curl (-b/-c), wget and yt-dlp (--cookies) read and write: one cookie a
 * line, seven TAB-separated fields
 *   domain  include-subdomains(TRUE|FALSE)  path  secure(TRUE|FALSE)  expires(unix s, 0 = session)  name  value
 * with `#` comments, except the `#HttpOnly_` prefix curl puts before the domain of HttpOnly cookies.
 * Matching follows RFC 6265 section 5.4 (domain, path, secure, expiry; longer paths first).
 */
import { readFile } from 'node:fs/promises';
import { InputError, systemErrorCode } from '../core/errors.js';

export interface Cookie {
  /** Lower-case, without a leading dot. */
  domain: string;
  /** Also sent to subdomains of `domain`. */
  includeSubdomains: boolean;
  path: string;
  secure: boolean;
  httpOnly: boolean;
  /** Unix time in seconds; 0 for a session cookie (never expires here). */
  expires: number;
  name: string;
  value: string;
}

/** Parse cookies.txt text; lines that are not cookies are skipped, but a file with none is refused. */
export function parseCookiesTxt(text: string, source = 'cookies file'): Cookie[] {
  const cookies: Cookie[] = [];
  let invalid = 0;
  for (const raw of text.split(/\r?\n/)) {
    let line = raw;
    let httpOnly = false;
    if (line.startsWith('#HttpOnly_')) {
      httpOnly = true;
      line = line.slice('#HttpOnly_'.length);
    } else if (line.startsWith('#') || line.trim() === '') {
      continue;
    }
    const f = line.split('\t');
    // Six fields: an empty value whose trailing TAB was lost; more than seven: TABs inside the value.
    if (f.length < 6) {
      invalid++;
      continue;
    }
    const [domainField = '', sub = '', path = '', secure = '', expires = '', name = ''] = f;
    const exp = Number(expires);
    if (domainField === '' || !Number.isFinite(exp)) {
      invalid++;
      continue;
    }
    const domain = domainField.toLowerCase();
    cookies.push({
      domain: domain.replace(/^\./, ''),
      includeSubdomains: sub.toUpperCase() === 'TRUE' || domain.startsWith('.'),
      path: path.startsWith('/') ? path : '/',
      secure: secure.toUpperCase() === 'TRUE',
      httpOnly,
      expires: exp,
      name,
      value: f.slice(6).join('\t'),
    });
  }
  if (cookies.length === 0 && invalid > 0) {
    throw new InputError(`${source} is not a Netscape cookies.txt file (${invalid} unreadable lines)`, {
      code: 'E_COOKIES_FORMAT',
      hint: 'export cookies in the Netscape/Mozilla cookies.txt format (as curl -c or a cookies.txt extension write it)',
    });
  }
  return cookies;
}

export async function loadCookiesFile(path: string): Promise<Cookie[]> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new InputError(`cannot read cookies file ${path}: ${systemErrorCode(err) ?? String(err)}`, {
      code: 'E_COOKIES_READ',
      cause: err,
      details: { path },
    });
  }
  return parseCookiesTxt(text, path);
}

function domainMatches(host: string, c: Cookie): boolean {
  if (host === c.domain) return true;
  // RFC 6265 5.1.3: a suffix match never applies to IP addresses.
  return c.includeSubdomains && host.endsWith('.' + c.domain) && !/^[\d.]+$|:/.test(host);
}

/** RFC 6265 section 5.1.4. */
function pathMatches(requestPath: string, cookiePath: string): boolean {
  if (requestPath === cookiePath) return true;
  if (!requestPath.startsWith(cookiePath)) return false;
  return cookiePath.endsWith('/') || requestPath[cookiePath.length] === '/';
}

/** The cookies to send to `url`, longest path first (RFC 6265 5.4 step 2). */
export function cookiesFor(cookies: readonly Cookie[], url: URL, nowMs = Date.now()): Cookie[] {
  const host = url.hostname.toLowerCase().replace(/^\[|\]$/g, '');
  const secure = url.protocol === 'https:';
  const path = url.pathname || '/';
  return cookies
    .filter(
      (c) =>
        domainMatches(host, c) &&
        pathMatches(path, c.path) &&
        (!c.secure || secure) &&
        (c.expires === 0 || c.expires * 1000 > nowMs),
    )
    .sort((a, b) => b.path.length - a.path.length);
}

/** The value of the `cookie` request header for `url`, or undefined when no cookie applies. */
export function cookieHeader(cookies: readonly Cookie[], url: URL, nowMs = Date.now()): string | undefined {
  const list = cookiesFor(cookies, url, nowMs);
  if (list.length === 0) return undefined;
  return list.map((c) => (c.name === '' ? c.value : `${c.name}=${c.value}`)).join('; ');
}
