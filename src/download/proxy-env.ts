/**
 * The proxy settings of the environment, read as curl reads them. Apart from the HTTP client so that code
 * that only passes them on (ffprobe's environment) does not load undici.
 */

export interface ProxySettings {
  httpProxy: string;
  httpsProxy: string;
  noProxy: string;
}

/** HTTP(S)_PROXY / NO_PROXY, lower case first as curl reads them; undefined when no proxy is set. */
export function proxyFromEnv(env: Readonly<Record<string, string | undefined>>): ProxySettings | undefined {
  const pick = (name: string): string => env[name] || env[name.toUpperCase()] || '';
  const withScheme = (u: string): string => (u === '' || u.includes('://') ? u : `http://${u}`);
  const httpProxy = withScheme(pick('http_proxy'));
  const httpsProxy = withScheme(pick('https_proxy'));
  if (httpProxy === '' && httpsProxy === '') return undefined;
  // Empty strings, not undefined: undici would otherwise fall back to process.env.
  return { httpProxy, httpsProxy, noProxy: pick('no_proxy') };
}

/**
 * The environment for an ffmpeg or ffprobe reading `url`: ffmpeg's http and tls protocols read only a
 * lower-case `http_proxy` (for https URLs too, as a CONNECT tunnel) and `no_proxy`. It gets the proxy
 * castkit's own connections would use for that URL (proxyFor: by scheme, NO_PROXY honoured), or none;
 * undefined when the environment names no proxy (the tool then inherits it unchanged).
 */
export function ffmpegProxyEnv(
  url: string,
  env: Readonly<Record<string, string | undefined>> = process.env,
): Record<string, string | undefined> | undefined {
  const settings = proxyFromEnv(env);
  if (!settings) return undefined;
  // Not a URL: ffprobe will say so; no proxy for it.
  const chosen = URL.canParse(url) ? proxyFor(new URL(url), env) : undefined;
  const out: Record<string, string | undefined> = { ...env };
  if (chosen !== undefined) out.http_proxy = chosen;
  else delete out.http_proxy;
  if (settings.noProxy !== '') out.no_proxy = settings.noProxy;
  return out;
}

/**
 * True when NO_PROXY names `host` (and `port`), as curl reads it: entries split on commas or spaces, `*` for
 * every host, a domain matching itself and its subdomains (a leading `.` or `*.` is allowed), an optional
 * `:port`, case ignored.
 */
export function bypassesProxy(host: string, port: string, noProxy: string): boolean {
  const h = host.toLowerCase().replace(/^\[|\]$/g, '');
  for (const raw of noProxy.toLowerCase().split(/[\s,]+/)) {
    if (raw === '') continue;
    if (raw === '*') return true;
    let entry = raw;
    let entryPort: string | undefined;
    const bracketed = /^\[([^\]]+)\](?::(\d+))?$/.exec(raw); // [IPv6] or [IPv6]:port
    const plain = /^([^:]+):(\d+)$/.exec(raw); // host:port (a bare IPv6 has more colons)
    if (bracketed) [entry, entryPort] = [bracketed[1] ?? '', bracketed[2]];
    else if (plain) [entry, entryPort] = [plain[1] ?? '', plain[2]];
    entry = entry.replace(/^\*?\./, '');
    if (entryPort !== undefined && entryPort !== port) continue;
    if (h === entry || h.endsWith(`.${entry}`)) return true;
  }
  return false;
}

/**
 * The proxy for a connection to `url` (http:, https:, ws:, wss:), or undefined for a direct one: HTTPS_PROXY
 * for https: and wss:, HTTP_PROXY for http: and ws:, unless NO_PROXY names the host.
 */
export function proxyFor(
  url: URL,
  env: Readonly<Record<string, string | undefined>> = process.env,
): string | undefined {
  const settings = proxyFromEnv(env);
  if (!settings) return undefined;
  const secure = url.protocol === 'https:' || url.protocol === 'wss:';
  const proxy = secure ? settings.httpsProxy : settings.httpProxy;
  if (proxy === '') return undefined;
  const port = url.port || (secure ? '443' : '80');
  return bypassesProxy(url.hostname, port, settings.noProxy) ? undefined : proxy;
}
