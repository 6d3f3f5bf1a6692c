/**
 * The request headers castkit sends: defaults, then --user-agent / --referer, then --header lines (the
 * user has the last word), then cookies for the exact URL. Names are lower-case, as HTTP/2 requires.
 */
import { UsageError } from '../core/errors.js';
import { cookieHeader, type Cookie } from './cookies.js';

export const DEFAULT_USER_AGENT = 'castkit';

export interface RequestHeaderOptions {
  /** Extra headers; a later name replaces an earlier one. */
  headers?: Record<string, string>;
  userAgent?: string;
  referer?: string;
  cookies?: readonly Cookie[];
}

/** Parse a `--header 'Name: value'` argument (curl syntax). */
export function parseHeaderArg(arg: string): [string, string] {
  const i = arg.indexOf(':');
  const name = i > 0 ? arg.slice(0, i).trim() : '';
  if (!/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(name)) {
    throw new UsageError(`not a header: ${JSON.stringify(arg)}`, { hint: "write it as 'Name: value'" });
  }
  const value = arg.slice(i + 1).trim();
  if (/[\r\n\0]/.test(value)) throw new UsageError(`header ${name} has a line break or NUL in its value`);
  return [name.toLowerCase(), value];
}

/** Many `--header` arguments into one record. */
export function parseHeaderArgs(args: readonly string[]): Record<string, string> {
  return Object.fromEntries(args.map(parseHeaderArg));
}

export function buildRequestHeaders(url: URL, o: RequestHeaderOptions): Record<string, string> {
  const out: Record<string, string> = {
    'user-agent': o.userAgent ?? DEFAULT_USER_AGENT,
    accept: '*/*',
    // Media segments do not compress; asking for identity keeps Content-Length meaningful.
    'accept-encoding': 'identity',
  };
  if (o.referer !== undefined) out.referer = o.referer;
  for (const [k, v] of Object.entries(o.headers ?? {})) out[k.toLowerCase()] = v;
  const fromJar = o.cookies ? cookieHeader(o.cookies, url) : undefined;
  if (fromJar !== undefined) out.cookie = out.cookie ? `${out.cookie}; ${fromJar}` : fromJar;
  return out;
}
