/**
 * An AES-128 key URI that answers 16 bytes which are not the key: the segments do not decrypt (bad PKCS#7
 * padding, and no MPEG-TS in the clear bytes). That is said as such, naming the key URI without its
 * secrets, and the other segments under that key are not fetched for nothing. A segment cut short under
 * the right key is not taken for a wrong key.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { record } from '../../src/api/record.js';
import { isCastkitError } from '../../src/core/errors.js';
import { startOrigin, type Origin } from '../helpers/http-origin.js';
import { serveFixture } from '../helpers/live-origin.js';
import { decodeMessages } from '../helpers/media-check.js';
import { scratchDir } from '../helpers/scratch.js';
import { streamFixture, type StreamFixture } from '../helpers/stream-fixtures.js';

const dir = scratchDir('castkit-aes-key-');
let n = 0;
const outPath = (): string => join(dir, `rec-${n++}.mp4`);
const FAST_RETRY = { baseMs: 5, capMs: 20, maxAttempts: 4 };
const TOKEN = 'sekrit-token-4711';

/**
 * hls-aes served under `prefix` with its first key replaced by 16 other bytes, the key URI carrying a
 * token in its query. The segments under that key (seg_007..seg_011) and the others, by path.
 */
function serveWithWrongKey(origin: Origin, fx: StreamFixture, prefix: string): { url: string; k1: string[] } {
  const url = serveFixture(origin, fx, prefix);
  const media = readFileSync(join(fx.dir, 'v0/index.m3u8'), 'utf8').replace(
    'URI="../keys/k1.key"',
    `URI="../keys/k1.key?token=${TOKEN}"`,
  );
  assert.ok(media.includes(TOKEN), 'the playlist names the key with a token');
  origin.route(`${prefix}/v0/index.m3u8`, { body: media, type: 'application/vnd.apple.mpegurl' });
  const wrong = Buffer.from(fx.keys?.['keys/k1.key'] ?? Buffer.alloc(16)).map((b) => b ^ 0x5a);
  origin.route(`${prefix}/keys/k1.key`, { body: Buffer.from(wrong) });
  const k1 = [7, 8, 9, 10, 11].map((i) => `${prefix}/v0/seg_0${String(i).padStart(2, '0')}.ts`);
  return { url, k1 };
}

describe('record: a wrong AES-128 key', () => {
  let origin: Origin;
  let fx: StreamFixture;
  before(async () => {
    origin = await startOrigin();
    fx = await streamFixture('hls-aes');
  });
  after(async () => origin.close());

  const hits = (path: string): number => origin.requests.filter((q) => q.path === path).length;

  const rejectsAsWrongKey = (err: unknown): boolean => {
    assert.ok(isCastkitError(err), String(err));
    assert.equal(err.code, 'E_KEY_WRONG', err.message);
    assert.equal(err.category, 'network', 'exit 4, as for a key URL that answers something else');
    assert.match(
      err.message,
      /could not be decrypted with the key from http:\/\/127\.0\.0\.1:\d+\/\S*keys\/k1\.key/,
    );
    assert.match(err.message, /not MPEG-TS/);
    assert.match(err.message, /the key is probably wrong/);
    assert.doesNotMatch(err.message, /could not be downloaded/);
    assert.ok(!JSON.stringify(err.toJSON()).includes(TOKEN), 'the key URI token is not shown');
    assert.match(err.hint ?? '', /--cookies/);
    return true;
  };

  it('is said to be the key, naming its URI without the token; no segment is fetched twice, and no more than were in flight', async () => {
    const { url, k1 } = serveWithWrongKey(origin, fx, '/wrong');
    await assert.rejects(record(url, { output: outPath(), retry: FAST_RETRY }), rejectsAsWrongKey);
    for (const p of k1) assert.ok(hits(p) <= 1, `${p} fetched ${hits(p)} times`);
    const fetched = k1.filter((p) => hits(p) > 0).length;
    assert.ok(fetched >= 1 && fetched <= 2, `${fetched} segments fetched (the two that start in flight)`);

    // Without a journal (to a pipe), the same.
    await assert.rejects(
      record(url, { output: '-', stdout: new PassThrough().resume(), retry: FAST_RETRY }),
      rejectsAsWrongKey,
    );
  });

  it('--allow-gaps: the segments under the wrong key are gaps, fetched once at most; the others are recorded', async () => {
    const { url, k1 } = serveWithWrongKey(origin, fx, '/wrong-gaps');
    const out = outPath();
    const r = await record(url, { output: out, retry: FAST_RETRY, allowGaps: true, concurrency: 1 });
    assert.equal(r.gaps.length, 5, JSON.stringify(r.gaps));
    assert.equal(r.segments, 5, 'the segments under the second key');
    assert.ok(
      r.gaps.every((g) => g.reason.includes('E_KEY_WRONG')),
      JSON.stringify(r.gaps),
    );
    assert.equal(hits(k1[0] as string), 1, 'the first segment under the key, once');
    for (const p of k1.slice(1)) assert.equal(hits(p), 0, `${p} is not fetched: its key is known wrong`);
    assert.equal(await decodeMessages(out), '');
  });

  it('a segment cut short under the right key is a damaged segment (retried), not a wrong key', async () => {
    const url = serveFixture(origin, fx, '/cut-aes');
    const seg = '/cut-aes/v0/seg_008.ts';
    const whole = readFileSync(join(fx.dir, 'v0/seg_008.ts'));
    // Cut at an AES block boundary: it decrypts, to TS, but its last block is no PKCS#7 padding.
    origin.route(seg, { body: whole.subarray(0, Math.floor(whole.length / 2 / 16) * 16) });
    await assert.rejects(record(url, { output: outPath(), retry: FAST_RETRY }), (err: unknown) => {
      assert.ok(isCastkitError(err));
      assert.equal(err.code, 'E_SEGMENTS_MISSING', err.message);
      assert.match(err.message, /seg_008\.ts/);
      assert.match(err.message, /damaged or cut short/);
      assert.doesNotMatch(err.message, /key is probably wrong/);
      return true;
    });
    assert.equal(hits(seg), FAST_RETRY.maxAttempts, 'fetched again: a cut can be passing');
  });
});
