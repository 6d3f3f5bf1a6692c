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
 * castkit's own client would use for that scheme (HTTPS_PROXY for https), or none; undefined when the
 * environment names no proxy (the tool then inherits it unchanged).
 */
export function ffmpegProxyEnv(
  url: string,
  env: Readonly<Record<string, string | undefined>> = process.env,
): Record<string, string | undefined> | undefined {
  const proxy = proxyFromEnv(env);
  if (!proxy) return undefined;
  const https = url.slice(0, 6).toLowerCase() === 'https:';
  const out: Record<string, string | undefined> = { ...env };
  const chosen = https ? proxy.httpsProxy : proxy.httpProxy;
  if (chosen !== '') out.http_proxy = chosen;
  else delete out.http_proxy;
  if (proxy.noProxy !== '') out.no_proxy = proxy.noProxy;
  return out;
}
