/**
 * Exponential backoff with full jitter (the "Full Jitter" of the AWS architecture blog: sleep a uniform
 * random time in [0, min(cap, base * 2^n)]), which spreads N clients retrying the same failure instead of
 * having them return together. A server's Retry-After is a floor: never come back earlier than asked.
 */
import { InterruptedError, isCastkitError } from '../core/errors.js';
import { retryAfterOf } from './http-errors.js';

export interface RetryPolicyOptions {
  /** First backoff ceiling. Default 250 ms. */
  baseMs?: number;
  /** Largest backoff ceiling. Default 30 s. */
  capMs?: number;
  /** Attempts in all, the first included. Default 6. */
  maxAttempts?: number;
  /** The longest Retry-After honoured; longer requests are cut to this. Default 120 s. */
  maxRetryAfterMs?: number;
  /** A source of numbers in [0, 1); Math.random by default, seededRandom() for reproducible tests. */
  random?: () => number;
}

export interface RetryPolicy {
  readonly maxAttempts: number;
  /** Whether attempt number `attempt` (1-based) that failed with `err` may be followed by another. */
  shouldRetry(err: unknown, attempt: number): boolean;
  /** How long to wait after failed attempt number `attempt` (1-based). */
  delayMs(attempt: number, err?: unknown): number;
}

export const RETRY_DEFAULTS = {
  baseMs: 250,
  capMs: 30_000,
  maxAttempts: 6,
  maxRetryAfterMs: 120_000,
} as const;

export function createRetryPolicy(options: RetryPolicyOptions = {}): RetryPolicy {
  const baseMs = options.baseMs ?? RETRY_DEFAULTS.baseMs;
  const capMs = options.capMs ?? RETRY_DEFAULTS.capMs;
  const maxAttempts = Math.max(1, options.maxAttempts ?? RETRY_DEFAULTS.maxAttempts);
  const maxRetryAfterMs = options.maxRetryAfterMs ?? RETRY_DEFAULTS.maxRetryAfterMs;
  const random = options.random ?? Math.random;
  return {
    maxAttempts,
    shouldRetry: (err, attempt) => attempt < maxAttempts && isCastkitError(err) && err.retryable,
    delayMs: (attempt, err) => {
      const ceiling = Math.min(capMs, baseMs * 2 ** Math.max(0, attempt - 1));
      const jitter = random() * ceiling;
      const after = retryAfterOf(err);
      if (after === undefined) return Math.round(jitter);
      // The floor the server asked for, plus a little jitter so that the waiting requests spread out.
      return Math.round(Math.min(after, maxRetryAfterMs) + random() * Math.min(baseMs, ceiling));
    },
  };
}

/** mulberry32: a small seeded generator, so that a test sees the same delays every run. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Wait `ms`, or reject with an InterruptedError as soon as `signal` aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(new InterruptedError('interrupted while waiting to retry'));
    const onAbort = (): void => {
      clearTimeout(t);
      reject(new InterruptedError('interrupted while waiting to retry'));
    };
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

export interface RetryEvent {
  /** The attempt that failed (1-based). */
  attempt: number;
  delayMs: number;
  error: unknown;
}

export interface WithRetryOptions {
  signal?: AbortSignal;
  onRetry?: (e: RetryEvent) => void;
  /** Called before each attempt; may wait (a shared pause after a 429, for instance). */
  beforeAttempt?: (attempt: number) => Promise<void> | void;
}

/** Run `fn` until it succeeds, fails with a non-retryable error, or the policy's attempts are spent. */
export async function withRetry<T>(
  fn: (attempt: number) => Promise<T>,
  policy: RetryPolicy,
  options: WithRetryOptions = {},
): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      await options.beforeAttempt?.(attempt);
      return await fn(attempt);
    } catch (err) {
      if (options.signal?.aborted || !policy.shouldRetry(err, attempt)) throw err;
      const delayMs = policy.delayMs(attempt, err);
      options.onRetry?.({ attempt, delayMs, error: err });
      await sleep(delayMs, options.signal);
    }
  }
}
