/** The segment download engine: HTTP client, retry policy, cookies, resume journal and scheduler. */
export { parseContentRange, rangeHeader, type ByteRange } from './byte-range.js';
export { cookieHeader, cookiesFor, loadCookiesFile, parseCookiesTxt, type Cookie } from './cookies.js';
export { RateMeter, type DownloadProgress } from './download-progress.js';
export {
  buildGapReport,
  gapReportPathFor,
  writeGapReport,
  type GapReport,
  type GapReportEntry,
} from './gap-report.js';
export { createDispatcher } from './dispatcher.js';
export {
  HTTP_DEFAULTS,
  createHttpClient,
  proxyFromEnv,
  type FetchOptions,
  type FetchResult,
  type HttpClient,
  type HttpClientOptions,
  type ProxySettings,
} from './http-client.js';
export { isRetryableStatus, parseRetryAfter, retryAfterOf, type DownloadErrorCode } from './http-errors.js';
export { SegmentJournal, journalPathFor, type JournalEntry, type JournalOptions } from './journal.js';
export {
  DEFAULT_USER_AGENT,
  buildRequestHeaders,
  parseHeaderArg,
  parseHeaderArgs,
  type RequestHeaderOptions,
} from './request-headers.js';
export {
  RETRY_DEFAULTS,
  createRetryPolicy,
  seededRandom,
  sleep,
  withRetry,
  type RetryEvent,
  type RetryPolicy,
  type RetryPolicyOptions,
  type WithRetryOptions,
} from './retry-policy.js';
export {
  SCHEDULER_DEFAULTS,
  downloadSegments,
  type DownloadSegmentsOptions,
  type DownloadSegmentsResult,
  type MissingSegment,
  type Segment,
  type SegmentRetryEvent,
} from './scheduler.js';
export { assertAllowedUrl, isHttpUrl, type UrlPolicyOptions } from './url-policy.js';
