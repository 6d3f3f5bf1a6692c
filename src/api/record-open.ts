import { InputError } from '../core/errors.js';
import type { ByteRange } from '../download/byte-range.js';
import { loadCookiesFile, type Cookie } from '../download/cookies.js';
import { createHttpClient, type FetchResult, type HttpClient } from '../download/http-client.js';
import { shownUrl } from '../download/http-errors.js';
import { createRetryPolicy, withRetry, type RetryPolicy } from '../download/retry-policy.js';
import { openHlsSource } from '../sources/hls/hls-source.js';
import type { openDashSource } from '../sources/dash/dash-source.js';
import type { RecordSource, SourceContext } from '../sources/record-source.js';
import { RECORD_CONCURRENCY, type RecordOptions } from './record-types.js';

/** Largest manifest accepted (a long VOD playlist is a few MB). */
const MAX_MANIFEST_BYTES = 64 << 20;

export interface OpenedSource {
  source: RecordSource;
  client: HttpClient;
  retry: RetryPolicy;
  ctx: SourceContext;
}

/** What every recorder opens first: the shared HTTP client, its retry policy, and the source context. */
export interface RecordContext {
  client: HttpClient;
  retry: RetryPolicy;
  ctx: SourceContext;
  /** From --cookies, for requests made outside the client (a websocket handshake). */
  cookies: Cookie[] | undefined;
}

/**
 * The client every recorder shares (headers, cookies, connections for `-N`, timeouts) and the retried
 * manifest fetcher built on it. The caller closes `client`.
 */
export async function createRecordContext(options: Omit<RecordOptions, 'output'>): Promise<RecordContext> {
  const cookies = options.cookiesFile ? await loadCookiesFile(options.cookiesFile) : undefined;
  const concurrency = Math.max(1, options.concurrency ?? RECORD_CONCURRENCY);
  const client = createHttpClient({
    headers: options.headers,
    userAgent: options.userAgent,
    referer: options.referer,
    cookies,
    allowLocal: options.allowLocal,
    connections: concurrency + 2,
    timeoutMs: options.timeoutMs,
    stallMs: options.stallMs,
  });
  const retry = createRetryPolicy(options.retry);
  const fetchManifest = (
    u: string,
    fo: { signal?: AbortSignal; range?: ByteRange } = {},
  ): Promise<FetchResult> =>
    withRetry(
      () => client.fetch(u, { signal: fo.signal, range: fo.range, maxBytes: MAX_MANIFEST_BYTES }),
      retry,
      {
        signal: fo.signal,
        // Nothing else is on the screen while a manifest is retried: say so, or it looks like a hang.
        onRetry: (e) =>
          options.onNotice?.(
            `retrying ${shownUrl(u)} in ${(e.delayMs / 1000).toFixed(1)} s (attempt ${e.attempt + 1}): ${
              e.error instanceof Error ? e.error.message : String(e.error)
            }`,
          ),
      },
    );
  const ctx: SourceContext = {
    allowLocal: options.allowLocal === true,
    signal: options.signal,
    fetchManifest,
  };
  return { client, retry, ctx, cookies };
}

/** The shared client, the retried manifest fetcher, and the source the URL names (HLS or DASH). */
export async function openRecordSource(
  url: string,
  options: Omit<RecordOptions, 'output'>,
): Promise<OpenedSource> {
  const { client, retry, ctx } = await createRecordContext(options);
  const { fetchManifest } = ctx;
  try {
    const first = await fetchManifest(url, { signal: options.signal });
    const kind = detectKind(first, url);
    const text = first.body.toString('utf8');
    const source =
      kind === 'hls'
        ? await openHlsSource(text, first.url, ctx, options)
        : await openDashSourceLazily(text, first.url, ctx, options);
    return { source, client, retry, ctx };
  } catch (err) {
    await client.close().catch(() => undefined);
    throw err;
  }
}

/** DASH's XML parser and manifest model are loaded only for a DASH manifest: HLS is the common case. */
async function openDashSourceLazily(...args: Parameters<typeof openDashSource>): Promise<RecordSource> {
  const dash = await import('../sources/dash/dash-source.js');
  return dash.openDashSource(...args);
}

/** HLS or DASH, from the content type, then the first bytes, then the extension. */
export function detectKind(res: FetchResult, url: string): 'hls' | 'dash' {
  const type = String(res.headers['content-type'] ?? '').toLowerCase();
  const head = res.body
    .subarray(0, 1024)
    .toString('utf8')
    .replace(/^\uFEFF/, '')
    .trimStart();
  if (head.startsWith('#EXTM3U')) return 'hls';
  if (head.startsWith('<') && /<MPD[\s>]/.test(res.body.subarray(0, 64 * 1024).toString('utf8')))
    return 'dash';
  if (/mpegurl/.test(type)) return 'hls';
  if (/dash\+xml/.test(type)) return 'dash';
  const path = safePath(res.url) || safePath(url);
  if (path.endsWith('.m3u8') || path.endsWith('.m3u')) return 'hls';
  if (path.endsWith('.mpd')) return 'dash';
  if (/^(<!doctype html|<html)/i.test(head)) {
    throw new InputError(`${url} is a web page, not an HLS playlist or a DASH manifest`, {
      code: 'E_NOT_A_STREAM',
      hint: "give the .m3u8 or .mpd URL (the browser's network tab shows it)",
    });
  }
  throw new InputError(
    `${url} is not an HLS playlist or a DASH manifest (content type "${type || 'none'}")`,
    {
      code: 'E_NOT_A_STREAM',
      hint: 'castkit record takes the URL of an .m3u8 playlist or an .mpd manifest',
      details: { contentType: type, head: head.slice(0, 40) },
    },
  );
}

function safePath(u: string): string {
  try {
    return new URL(u).pathname.toLowerCase();
  } catch {
    return '';
  }
}
