import assert from 'node:assert/strict';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { InputError } from '../../src/core/errors.js';
import { cookieHeader, loadCookiesFile, parseCookiesTxt } from '../../src/download/cookies.js';
import { buildRequestHeaders, parseHeaderArg } from '../../src/download/request-headers.js';
import { UsageError } from '../../src/core/errors.js';
import { scratchDir } from '../helpers/scratch.js';

const future = Math.floor(Date.now() / 1000) + 3600;
const past = Math.floor(Date.now() / 1000) - 3600;
// The layout yt-dlp and curl write (TAB separated), with every feature in use.
const TXT = [
  '# Netscape HTTP Cookie File',
  '# https://curl.se/docs/http-cookies.html',
  '',
  `.example.com\tTRUE\t/\tFALSE\t${future}\tsession_id\tabc123`,
  `www.example.com\tFALSE\t/live\tFALSE\t0\tlive\tyes`,
  `www.example.com\tFALSE\t/live/hd\tFALSE\t0\thd\t1`,
  `.example.com\tTRUE\t/\tTRUE\t${future}\tsecure_tok\ts3cr3t`,
  `.example.com\tTRUE\t/\tFALSE\t${past}\told\tgone`,
  `#HttpOnly_.example.com\tTRUE\t/\tFALSE\t${future}\thttponly\th1`,
  `other.org\tFALSE\t/\tFALSE\t0\tnope\tx`,
  `cdn.example.com\tFALSE\t/\tFALSE\t0\tempty\t`,
  `cdn.example.com\tFALSE\t/\tFALSE\t0\twith_tab\ta\tb`,
].join('\n');

const dir = scratchDir('castkit-cookies-');
after(() => rmSync(dir, { recursive: true, force: true }));

describe('cookies.txt', () => {
  const cookies = parseCookiesTxt(TXT);

  it('parses every cookie line, the HttpOnly ones included', () => {
    assert.equal(cookies.length, 9);
    const h = cookies.find((c) => c.name === 'httponly');
    assert.ok(h?.httpOnly);
    assert.equal(h.domain, 'example.com');
    assert.equal(cookies.find((c) => c.name === 'with_tab')?.value, 'a\tb');
    assert.equal(cookies.find((c) => c.name === 'empty')?.value, '');
  });

  it('matches domain, subdomains, path, secure and expiry', () => {
    assert.equal(
      cookieHeader(cookies, new URL('http://www.example.com/live/hd/seg1.ts')),
      'hd=1; live=yes; session_id=abc123; httponly=h1',
      'longest path first; no secure cookie over http; no expired cookie',
    );
    assert.equal(
      cookieHeader(cookies, new URL('https://example.com/a')),
      'session_id=abc123; secure_tok=s3cr3t; httponly=h1',
    );
    assert.equal(
      cookieHeader(cookies, new URL('http://www.example.com/livestream')),
      'session_id=abc123; httponly=h1',
      '/live does not match /livestream',
    );
    assert.equal(cookieHeader(cookies, new URL('http://notexample.com/')), undefined);
    assert.equal(cookieHeader(cookies, new URL('http://www.other.org/')), undefined, 'no subdomains');
  });

  it('becomes exactly one `cookie` request header, user headers kept', () => {
    const h = buildRequestHeaders(new URL('http://cdn.example.com/x'), {
      cookies,
      headers: { Cookie: 'mine=1', 'X-Test': 'v' },
      userAgent: 'UA/1',
      referer: 'https://example.com/watch',
    });
    assert.equal(h.cookie, 'mine=1; session_id=abc123; httponly=h1; empty=; with_tab=a\tb');
    assert.equal(h['user-agent'], 'UA/1');
    assert.equal(h.referer, 'https://example.com/watch');
    assert.equal(h['x-test'], 'v');
    assert.deepEqual(
      Object.keys(h).filter((k) => /cook/i.test(k)),
      ['cookie'],
    );
  });

  it('loads a file, and refuses one that is not cookies.txt', async () => {
    const p = join(dir, 'cookies.txt');
    writeFileSync(p, TXT.replace(/\n/g, '\r\n'));
    assert.equal((await loadCookiesFile(p)).length, 9);
    const bad = join(dir, 'cookies.json');
    writeFileSync(bad, '[{"name": "a", "value": "b"}]');
    await assert.rejects(
      loadCookiesFile(bad),
      (e: unknown) => e instanceof InputError && e.code === 'E_COOKIES_FORMAT',
    );
    await assert.rejects(loadCookiesFile(join(dir, 'none.txt')), (e: unknown) => e instanceof InputError);
  });

  it('parses --header arguments', () => {
    assert.deepEqual(parseHeaderArg('X-Forwarded-For: 1.2.3.4'), ['x-forwarded-for', '1.2.3.4']);
    assert.deepEqual(parseHeaderArg('Authorization:Bearer a:b'), ['authorization', 'Bearer a:b']);
    assert.throws(() => parseHeaderArg('no colon'), UsageError);
    assert.throws(() => parseHeaderArg('Bad Name: x'), UsageError);
  });
});
