import { InputError } from '../core/errors.js';
import { redactUrlCredentials } from '../core/redact.js';

export interface UrlPolicyOptions {
  /** Also accept `file:` and `data:` URLs (local content named by a local playlist or the user). */
  allowLocal?: boolean;
}

const LOCAL_SCHEMES = new Set(['file:', 'data:']);

export function isHttpUrl(url: URL): boolean {
  return url.protocol === 'http:' || url.protocol === 'https:';
}

/**
 * Parse `url` and refuse every scheme but http(s), plus file:/data: when `allowLocal` is set. A playlist
 * from the network must not make castkit read local files (file:///etc/passwd as a "segment") or speak
 * protocols it never meant to (ftp:, gopher:, javascript:).
 */
export function assertAllowedUrl(url: string | URL, options: UrlPolicyOptions = {}): URL {
  let parsed: URL;
  try {
    parsed = typeof url === 'string' ? new URL(url) : url;
  } catch (err) {
    throw new InputError(`not a valid URL: ${redactUrlCredentials(String(url))}`, {
      code: 'E_URL_INVALID',
      cause: err,
      hint: 'give an absolute http:// or https:// URL',
    });
  }
  if (isHttpUrl(parsed)) return parsed;
  const shown = redactUrlCredentials(parsed.href.slice(0, 200));
  if (LOCAL_SCHEMES.has(parsed.protocol)) {
    if (options.allowLocal) return parsed;
    throw new InputError(`refusing ${parsed.protocol} URL ${shown}: local content is not allowed here`, {
      code: 'E_URL_REFUSED',
      details: { url: shown, scheme: parsed.protocol },
      hint: 'only http(s) URLs are fetched unless local files are explicitly allowed (--allow-local)',
    });
  }
  throw new InputError(`refusing ${parsed.protocol} URL ${shown}: only http and https are supported`, {
    code: 'E_URL_REFUSED',
    details: { url: shown, scheme: parsed.protocol },
  });
}
