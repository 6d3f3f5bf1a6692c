import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { InterruptedError, NetworkError } from '../../src/core/errors.js';
import { parseRetryAfter } from '../../src/download/http-errors.js';
import { createRetryPolicy, seededRandom, sleep, withRetry } from '../../src/download/retry-policy.js';

const retryable = (details: Record<string, unknown> = {}): NetworkError =>
  new NetworkError('boom', { code: 'E_NETWORK', details });

describe('retry policy', () => {
  it('backs off exponentially with full jitter, capped, and is reproducible with a seed', () => {
    const p = createRetryPolicy({ baseMs: 100, capMs: 1000, random: seededRandom(7) });
    const q = createRetryPolicy({ baseMs: 100, capMs: 1000, random: seededRandom(7) });
    const a = [1, 2, 3, 4, 5, 6, 7, 8].map((n) => p.delayMs(n));
    const b = [1, 2, 3, 4, 5, 6, 7, 8].map((n) => q.delayMs(n));
    assert.deepEqual(a, b, 'same seed, same delays');
    a.forEach((d, i) => assert.ok(d >= 0 && d <= Math.min(1000, 100 * 2 ** i), `attempt ${i + 1}: ${d}`));
    const top = createRetryPolicy({ baseMs: 100, capMs: 1000, random: () => 0.999999 });
    assert.deepEqual(
      [1, 2, 3, 4, 5, 6].map((n) => top.delayMs(n)),
      [100, 200, 400, 800, 1000, 1000],
    );
  });

  it('waits at least what Retry-After asked, up to its own bound', () => {
    const p = createRetryPolicy({ baseMs: 100, maxRetryAfterMs: 5000, random: () => 0.5 });
    assert.equal(p.delayMs(1, retryable({ retryAfterMs: 1000 })), 1050);
    assert.equal(p.delayMs(1, retryable({ retryAfterMs: 60_000 })), 5050);
  });

  it('retries only retryable castkit errors, within maxAttempts', () => {
    const p = createRetryPolicy({ maxAttempts: 3 });
    assert.equal(p.shouldRetry(retryable(), 1), true);
    assert.equal(p.shouldRetry(retryable(), 3), false);
    assert.equal(
      p.shouldRetry(new NetworkError('404', { code: 'E_HTTP_STATUS', retryable: false }), 1),
      false,
    );
    assert.equal(p.shouldRetry(new TypeError('bug'), 1), false);
  });

  it('parses Retry-After as seconds or an HTTP date', () => {
    const now = Date.parse('Wed, 21 Oct 2015 07:28:00 GMT');
    assert.equal(parseRetryAfter('3', now), 3000);
    assert.equal(parseRetryAfter('Wed, 21 Oct 2015 07:28:05 GMT', now), 5000);
    assert.equal(parseRetryAfter('Wed, 21 Oct 2015 07:27:00 GMT', now), 0);
    assert.equal(parseRetryAfter('soon', now), undefined);
    assert.equal(parseRetryAfter(undefined, now), undefined);
  });

  it('withRetry: retries then succeeds, reporting each retry', async () => {
    const events: number[] = [];
    let calls = 0;
    const v = await withRetry(
      async () => {
        if (++calls < 3) throw retryable();
        return 'ok';
      },
      createRetryPolicy({ baseMs: 1, random: seededRandom(1) }),
      { onRetry: (e) => events.push(e.attempt) },
    );
    assert.equal(v, 'ok');
    assert.deepEqual(events, [1, 2]);
  });

  it('withRetry: gives up after maxAttempts with the last error', async () => {
    let calls = 0;
    await assert.rejects(
      withRetry(
        async () => {
          calls++;
          throw retryable();
        },
        createRetryPolicy({ baseMs: 1, maxAttempts: 4 }),
      ),
      (e: unknown) => e instanceof NetworkError,
    );
    assert.equal(calls, 4);
  });

  it('sleep is cut short by an abort', async () => {
    const ac = new AbortController();
    const t0 = Date.now();
    setTimeout(() => ac.abort(), 20);
    await assert.rejects(sleep(10_000, ac.signal), (e: unknown) => e instanceof InterruptedError);
    assert.ok(Date.now() - t0 < 5000);
  });
});
