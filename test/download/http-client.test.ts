import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { gzipSync } from 'node:zlib';
import { CastkitError, InputError, InterruptedError, NetworkError } from '../../src/core/errors.js';
import { createHttpClient, type HttpClient } from '../../src/download/http-client.js';
import { createRetryPolicy, seededRandom, withRetry } from '../../src/download/retry-policy.js';
import { assertAllowedUrl } from '../../src/download/url-policy.js';
import { startOrigin, type Origin } from '../helpers/http-origin.js';
import { closedPort } from '../helpers/ports.js';
import { scratchDir } from '../helpers/scratch.js';

const body = randomBytes(64 * 1024);
let origin: Origin;
let client: HttpClient;
const dir = scratchDir('castkit-http-');

/** assert.rejects predicate: a CastkitError with this code (and retryable flag when given). */
const fails =
  (code: string, retryable?: boolean, more?: (e: CastkitError) => void) =>
  (e: unknown): boolean => {
    assert.ok(e instanceof CastkitError, `a CastkitError, got ${String(e)}`);
    assert.equal(e.code, code, e.message);
    if (retryable !== undefined) assert.equal(e.retryable, retryable, `retryable: ${e.message}`);
    more?.(e);
    return true;
  };

before(async () => {
  origin = await startOrigin();
  client = createHttpClient({ connections: 4, timeoutMs: 2000, stallMs: 2000, env: {} });
});
after(async () => {
  await client.close();
  await origin.close();
  rmSync(dir, { recursive: true, force: true });
});

const path = (name: string): string => {
  origin.route(`/${name}`, { body });
  return origin.url(`/${name}`);
};

describe('fetchBytes', () => {
  it('returns the body and reuses kept-alive connections', async () => {
    const url = path('plain.bin');
    const before = origin.log.length;
    for (let i = 0; i < 10; i++) assert.ok((await client.fetchBytes(url)).equals(body));
    const ports = new Set(origin.log.slice(before).map((r) => r.port));
    assert.equal(ports.size, 1, `${ports.size} connections for ten requests one after another`);
  });

  it('reads a body of known length into memory from `allocate`; a compressed one into its own', async () => {
    const url = path('alloc.bin');
    const asked: number[] = [];
    let given: Buffer | undefined;
    const allocate = (n: number): Buffer => {
      asked.push(n);
      given = Buffer.alloc(n + 1000, 0xee);
      return given;
    };
    const got = await client.fetchBytes(url, { allocate });
    assert.deepEqual(asked, [body.length]);
    assert.ok(got.equals(body));
    assert.equal(got.buffer, given?.buffer, 'a view of the memory given');
    assert.equal(got.byteOffset, given?.byteOffset);
    const part = await client.fetchBytes(url, { allocate, range: { offset: 100, length: 5000 } });
    assert.deepEqual(asked, [body.length, 5000]);
    assert.ok(part.equals(body.subarray(100, 5100)));
    assert.equal(part.buffer, given?.buffer);

    const zipped = gzipSync(body);
    origin.route('/alloc.gz', { body: zipped, headers: { 'content-encoding': 'gzip' } });
    const plain = await client.fetchBytes(origin.url('/alloc.gz'), { allocate });
    assert.ok(plain.equals(body), 'decoded');
    assert.equal(asked.length, 2, 'the compressed body is not read into the memory offered');
  });

  it('sends user-agent, referer, custom headers and cookies', async () => {
    const c = createHttpClient({
      env: {},
      userAgent: 'castkit-test/1',
      referer: 'http://127.0.0.1/page',
      headers: { 'x-token': 'abc' },
      cookies: [
        {
          domain: '127.0.0.1',
          includeSubdomains: false,
          path: '/',
          secure: false,
          httpOnly: false,
          expires: 0,
          name: 'sid',
          value: '42',
        },
      ],
    });
    try {
      await c.fetchBytes(path('headers.bin'));
    } finally {
      await c.close();
    }
    const h = origin.log.at(-1)?.headers ?? {};
    assert.equal(h['user-agent'], 'castkit-test/1');
    assert.equal(h.referer, 'http://127.0.0.1/page');
    assert.equal(h['x-token'], 'abc');
    assert.equal(h.cookie, 'sid=42');
  });

  it('fetches byte ranges (206), and cuts them from a server that ignores Range (200)', async () => {
    const url = path('range.bin');
    const part = await client.fetchBytes(url, { range: { offset: 1000, length: 500 } });
    assert.ok(part.equals(body.subarray(1000, 1500)));
    assert.equal(origin.requests.at(-1)?.range, 'bytes=1000-1499');
    const tail = await client.fetchBytes(url, { range: { offset: 60_000 } });
    assert.ok(tail.equals(body.subarray(60_000)));

    const plain = createServer((_req, res) => {
      res.writeHead(200, { 'content-length': body.length });
      res.end(body);
    });
    await new Promise<void>((r) => plain.listen(0, '127.0.0.1', r));
    try {
      const u = `http://127.0.0.1:${(plain.address() as AddressInfo).port}/x`;
      const cut = await client.fetchBytes(u, { range: { offset: 30_000, length: 100 } });
      assert.ok(cut.equals(body.subarray(30_000, 30_100)));
      await assert.rejects(
        client.fetchBytes(u, { range: { offset: body.length + 5, length: 1 } }),
        fails('E_RANGE', false),
      );
    } finally {
      plain.closeAllConnections();
      plain.close();
    }
  });

  it('classifies 404 as final and 503 as retryable; 503 twice then OK succeeds with retries', async () => {
    await assert.rejects(
      client.fetchBytes(origin.url('/missing.bin')),
      fails('E_HTTP_STATUS', false, (e) => {
        assert.equal(e.details.status, 404);
        assert.match(e.message, /HTTP 404 from http:\/\/127\.0\.0\.1:\d+\/missing\.bin/);
      }),
    );
    const url = path('flaky.bin');
    origin.fault('/flaky.bin', { kind: 'status', status: 503, times: 2 });
    const before = origin.requests.length;
    const got = await withRetry(
      () => client.fetchBytes(url),
      createRetryPolicy({ baseMs: 5, random: seededRandom(3) }),
    );
    assert.ok(got.equals(body));
    assert.equal(origin.requests.length - before, 3);
  });

  it('reads Retry-After of a 429 (seconds and HTTP date)', async () => {
    const url = path('busy.bin');
    origin.fault('/busy.bin', { kind: 'status', status: 429, headers: { 'retry-after': '1' }, times: 1 });
    await assert.rejects(
      client.fetchBytes(url),
      fails('E_HTTP_STATUS', true, (e) => assert.equal(e.details.retryAfterMs, 1000)),
    );
    const at = new Date(Date.now() + 3000).toUTCString();
    origin.fault('/busy.bin', { kind: 'status', status: 503, headers: { 'retry-after': at }, times: 1 });
    await assert.rejects(
      client.fetchBytes(url),
      fails('E_HTTP_STATUS', true, (e) => {
        const ms = e.details.retryAfterMs as number;
        assert.ok(ms > 1000 && ms <= 3000, String(ms));
      }),
    );
  });

  it('a reset before the headers or in mid-body is a retryable network error', async () => {
    const url = path('reset.bin');
    origin.fault('/reset.bin', { kind: 'reset', times: 1 });
    await assert.rejects(client.fetchBytes(url), fails('E_NETWORK', true));
    origin.fault('/reset.bin', { kind: 'reset-body', bytes: 10_000, times: 1 });
    await assert.rejects(
      client.fetchBytes(url),
      fails('E_NETWORK', true, (e) =>
        assert.match(e.message, /connection reset .* after \d+ of 65536 bytes/),
      ),
    );
    assert.ok((await client.fetchBytes(url)).equals(body), 'and the next try works');
  });

  it('a body shorter than Content-Length is E_SHORT_BODY naming the URL and the counts', async () => {
    const url = path('short.bin');
    origin.fault('/short.bin', { kind: 'truncate', bytes: 1000, times: 1 });
    await assert.rejects(
      client.fetchBytes(url),
      fails('E_SHORT_BODY', true, (e) => {
        assert.match(e.message, /short\.bin ended after 1000 of 65536 bytes/);
        assert.equal(e.details.received, 1000);
        assert.equal(e.details.expected, 65536);
      }),
    );
  });

  it('a stall mid-body is E_STALL; no answer at all is E_TIMEOUT', async () => {
    const url = path('stall.bin');
    origin.fault('/stall.bin', { kind: 'stall-body', bytes: 5000, times: 1 });
    const t0 = Date.now();
    await assert.rejects(
      client.fetchBytes(url, { stallMs: 200 }),
      fails('E_STALL', true, (e) =>
        assert.match(e.message, /no data for 200 ms .* after 5000 of 65536 bytes/),
      ),
    );
    origin.fault('/stall.bin', { kind: 'stall', times: 1 });
    await assert.rejects(client.fetchBytes(url, { timeoutMs: 200 }), fails('E_TIMEOUT', true));
    assert.ok(Date.now() - t0 < 1500, 'both noticed quickly');
  });

  it('follows redirects within the bound, refuses past it and to non-http schemes', async () => {
    const target = path('final.bin');
    for (let i = 1; i <= 6; i++) {
      const next = i === 6 ? target : origin.url(`/hop${i + 1}`);
      origin.fault(`/hop${i}`, { kind: 'status', status: i % 2 ? 302 : 307, headers: { location: next } });
    }
    const ok = await client.fetch(origin.url('/hop2'), { maxRedirects: 5 });
    assert.ok(ok.body.equals(body));
    assert.equal(ok.redirects, 5);
    assert.equal(ok.url, target);
    await assert.rejects(
      client.fetch(origin.url('/hop1'), { maxRedirects: 5 }),
      fails('E_REDIRECT', false, (e) => assert.match(e.message, /more than 5 redirects/)),
    );
    origin.fault('/to-file', { kind: 'status', status: 301, headers: { location: 'file:///etc/passwd' } });
    const local = createHttpClient({ env: {}, allowLocal: true });
    try {
      await assert.rejects(
        local.fetchBytes(origin.url('/to-file')),
        fails('E_REDIRECT', false, (e) => assert.match(e.message, /file:\/\/\/etc\/passwd/)),
      );
    } finally {
      await local.close();
    }
  });

  it('does not carry authorization and user cookies to another origin on redirect', async () => {
    const other = await startOrigin();
    try {
      other.route('/there.bin', { body });
      origin.fault('/away', { kind: 'status', status: 302, headers: { location: other.url('/there.bin') } });
      const got = await client.fetchBytes(origin.url('/away'), {
        headers: { authorization: 'Bearer secret', cookie: 'a=b', 'x-keep': '1' },
      });
      assert.ok(got.equals(body));
      const h = other.log[0]?.headers ?? {};
      assert.equal(h.authorization, undefined);
      assert.equal(h.cookie, undefined);
      assert.equal(h['x-keep'], '1');
    } finally {
      await other.close();
    }
  });

  it('https:// to a plain HTTP server is E_TLS, final, with a hint that names http://', async () => {
    const url = path('plain.bin').replace('http://', 'https://');
    await assert.rejects(
      client.fetchBytes(url),
      fails('E_TLS', false, (e) => assert.match(e.hint ?? '', /plain http:\/\//)),
    );
  });

  it('a port nobody listens on is a retryable E_NETWORK saying so, with a hint to check host and port', async () => {
    const port = await closedPort();
    await assert.rejects(
      client.fetchBytes(`http://127.0.0.1:${port}/x.m3u8`),
      fails('E_NETWORK', true, (e) => {
        assert.match(e.message, /connection refused/);
        assert.match(e.hint ?? '', /host and port/);
      }),
    );
  });

  it('bounds the body size', async () => {
    await assert.rejects(client.fetchBytes(path('big.bin'), { maxBytes: 1000 }), fails('E_TOO_LARGE', false));
  });

  it('sends user:pass@ as Basic auth and masks the password in messages', async () => {
    const url = origin.url('/private.bin').replace('http://', 'http://alice:hunter22@');
    await assert.rejects(
      client.fetchBytes(url),
      fails('E_HTTP_STATUS', false, (e) => assert.doesNotMatch(JSON.stringify(e.toJSON()), /hunter22/)),
    );
    origin.fault('/loop', { kind: 'status', status: 302, headers: { location: '/loop' } });
    await assert.rejects(
      client.fetchBytes(origin.url('/loop').replace('http://', 'http://alice:hunter22@')),
      fails('E_REDIRECT', false, (e) => assert.match(e.message, /alice:\*\*\*\*@127/)),
    );
    assert.equal(
      origin.log.at(-1)?.headers?.authorization,
      `Basic ${Buffer.from('alice:hunter22').toString('base64')}`,
    );
  });

  it('stops at once when the caller aborts', async () => {
    const url = path('abort.bin');
    origin.fault('/abort.bin', { kind: 'stall', times: 1 });
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 50);
    await assert.rejects(
      client.fetchBytes(url, { signal: ac.signal }),
      (e: unknown) => e instanceof InterruptedError,
    );
  });
});

describe('URL policy', () => {
  it('refuses file:, data:, ftp: unless local content is allowed (never ftp:)', async () => {
    for (const u of ['file:///etc/passwd', 'data:,hello', 'ftp://example.com/a', 'javascript:alert(1)']) {
      assert.throws(
        () => assertAllowedUrl(u),
        (e: unknown) => e instanceof InputError && e.code === 'E_URL_REFUSED',
      );
    }
    assert.equal(assertAllowedUrl('file:///tmp/x', { allowLocal: true }).protocol, 'file:');
    assert.throws(() => assertAllowedUrl('ftp://example.com/a', { allowLocal: true }), InputError);
    assert.throws(() => assertAllowedUrl('not a url'), InputError);
    assert.equal(assertAllowedUrl('https://example.com/a').host, 'example.com');
    await assert.rejects(client.fetchBytes('file:///etc/passwd'), (e: unknown) => e instanceof InputError);
  });

  it('reads file: and data: URLs when allowed', async () => {
    const p = join(dir, 'local.bin');
    writeFileSync(p, body);
    const local = createHttpClient({ env: {}, allowLocal: true });
    try {
      assert.ok((await local.fetchBytes(pathToFileURL(p))).equals(body));
      const part = await local.fetchBytes(pathToFileURL(p).href, { range: { offset: 10, length: 20 } });
      assert.ok(part.equals(body.subarray(10, 30)));
      assert.equal((await local.fetchBytes('data:text/plain;base64,aGVsbG8=')).toString(), 'hello');
    } finally {
      await local.close();
    }
  });

  it('a network error is a NetworkError (category network, exit 4)', async () => {
    const e = await client.fetchBytes(origin.url('/nope')).catch((err: unknown) => err);
    assert.ok(e instanceof NetworkError);
    assert.equal(e.category, 'network');
  });
});
