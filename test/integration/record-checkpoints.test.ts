/**
 * A VOD recorded to MP4 keeps the segments it commits in their turn by checkpoints of its output, not in
 * the journal (record-checkpoints.ts). These are the ways a rerun goes on from them: after Ctrl-C (the
 * output was finished), after a failure (the temporary file was kept), with a checkpoint damaged on disk,
 * and with the temporary file gone.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync, rmSync, statSync, truncateSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { record } from '../../src/api/record.js';
import { isCastkitError } from '../../src/core/errors.js';
import { startOrigin, type Origin } from '../helpers/http-origin.js';
import { serveFixture } from '../helpers/live-origin.js';
import { decodeMessages } from '../helpers/media-check.js';
import { scratchDir } from '../helpers/scratch.js';
import { bestVariant, streamFixture, type StreamFixture } from '../helpers/stream-fixtures.js';

const dir = scratchDir('castkit-record-cp-');
let n = 0;
const outPath = (): string => join(dir, `rec-${n++}.mp4`);
const FAST_RETRY = { baseMs: 20, capMs: 200, maxAttempts: 3 };

interface Line {
  k: string;
  o?: number;
  cp?: number;
}

function journalLines(output: string): Line[] {
  return readFileSync(join(`${output}.castkit-journal`, 'journal.jsonl'), 'utf8')
    .split('\n')
    .slice(1)
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as Line);
}

describe('record to MP4 from checkpoints', () => {
  let origin: Origin;
  let fx: StreamFixture;
  let reference: string;
  /** By journal key, each segment's path (after the prefix a test serves the fixture under). */
  let byKey: Map<string, string>;
  before(async () => {
    origin = await startOrigin();
    fx = await streamFixture('hls-ts');
    byKey = bestVariant(fx, '').byKey;
    reference = outPath();
    await record(serveFixture(origin, fx, '/reference'), { output: reference });
  });
  after(async () => origin.close());

  /** The segment paths fetched since request `from`. */
  const fetchedSince = (from: number): string[] =>
    origin.requests.slice(from).map((q) => q.path.replace(/^\/[^/]+/, ''));
  const pathOf = (key: string): string => byKey.get(key) ?? assert.fail(`no ${key}`);

  it('Ctrl-C, then the same command: a file that plays at the stop, then nothing fetched twice and the same file as one run', async () => {
    const url = serveFixture(origin, fx, '/ctrl-c');
    const total = byKey.size;
    origin.latency((p) => (p.endsWith('.ts') ? 80 : 0));
    const out = outPath();
    const ac = new AbortController();
    await assert.rejects(
      record(url, {
        output: out,
        concurrency: 1,
        signal: ac.signal,
        onProgress: (p) => {
          if (p.done >= 3) ac.abort();
        },
      }),
      { category: 'interrupted' },
    );
    origin.latency(undefined);
    assert.equal(await decodeMessages(out), '', 'the file at the stop plays');
    const lines = journalLines(out);
    assert.ok(lines.length >= 3 && lines.length < total, `a partial recording (${lines.length})`);
    assert.ok(lines.filter((l) => l.cp !== undefined).length >= 2, 'kept by checkpoints');
    assert.ok(existsSync(join(`${out}.castkit-journal`, 'finished.json')));

    const from = origin.requests.length;
    const r = await record(url, { output: out });
    const again = fetchedSince(from);
    for (const l of lines) assert.ok(!again.includes(pathOf(l.k)), `${l.k} is not fetched again`);
    assert.equal(r.fromJournal, lines.length);
    assert.equal(r.fetched, total - lines.length);
    assert.ok(readFileSync(out).equals(readFileSync(reference)), 'the file equals one run’s');
    assert.ok(!existsSync(`${out}.castkit-journal`), 'the journal is gone');
    assert.deepEqual(
      readdirSync(dir).filter((f) => f.endsWith('.part')),
      [],
      'no temporary file left',
    );
  });

  it('Ctrl-C before the first segment is committed: interrupted, saying so (not a stream without media)', async () => {
    const url = serveFixture(origin, fx, '/early');
    origin.latency((p) => (p.endsWith('.ts') ? 1500 : 0));
    const out = outPath();
    const ac = new AbortController();
    const timer = setTimeout(() => ac.abort(), 300);
    try {
      await assert.rejects(record(url, { output: out, signal: ac.signal }), (err: unknown) => {
        assert.ok(isCastkitError(err));
        assert.equal(err.category, 'interrupted');
        assert.match(err.message, /before its first segment was committed/);
        return true;
      });
    } finally {
      clearTimeout(timer);
      origin.latency(undefined);
    }
    assert.ok(!existsSync(out), 'no output');
  });

  it('a failed run keeps its temporary output; a damaged checkpoint, then a lost temporary file: fetched again from where what is left ends', async () => {
    const url = serveFixture(origin, fx, '/failed');
    const keys = [...byKey.keys()];
    const bad = `/failed${pathOf(keys[6] as string)}`;
    origin.fault(bad, { kind: 'status', status: 404, times: 1000 });
    const out = outPath();
    const run = (): ReturnType<typeof record> =>
      record(url, { output: out, concurrency: 1, retry: FAST_RETRY });
    await assert.rejects(run(), { code: 'E_SEGMENTS_MISSING' });
    const temp = readdirSync(dir).filter((f) => f.startsWith(`.${out.split('/').pop()}.`));
    assert.equal(temp.length, 1, 'the temporary output is kept for the rerun');
    const lines = journalLines(out);
    assert.deepEqual(
      lines.map((l) => l.k),
      keys.slice(0, 6),
    );
    const kept = lines.filter((l) => l.cp !== undefined);
    assert.ok(kept.length >= 4, `kept by checkpoints: ${kept.length}`);

    // The last checkpoint cut short on disk: the segment it kept is fetched again, not the ones before.
    const cps = join(`${out}.castkit-journal`, 'checkpoints.bin');
    truncateSync(cps, statSync(cps).size - 5);
    let from = origin.requests.length;
    await assert.rejects(run(), { code: 'E_SEGMENTS_MISSING' });
    const last = (kept[kept.length - 1] as Line).k;
    assert.deepEqual(
      fetchedSince(from).filter((p) => p.endsWith('.ts') && p !== pathOf(keys[6] as string)),
      [pathOf(last)],
      'only the segment of the damaged checkpoint is fetched again',
    );

    // The temporary output gone: what only checkpoints kept is fetched again, with a notice.
    for (const f of readdirSync(dir)) if (f.endsWith('.part')) rmSync(join(dir, f));
    origin.heal(bad);
    from = origin.requests.length;
    const notices: string[] = [];
    const r = await record(url, { output: out, onNotice: (m) => notices.push(m) });
    assert.ok(
      notices.some((m) => /fetched again/.test(m)),
      notices.join('\n'),
    );
    const again = fetchedSince(from);
    for (const l of lines) {
      if (l.cp !== undefined) assert.ok(again.includes(pathOf(l.k)), `${l.k} is fetched again`);
      else assert.ok(!again.includes(pathOf(l.k)), `${l.k} (in the journal) is not fetched again`);
    }
    assert.equal(r.segments, byKey.size);
    assert.ok(readFileSync(out).equals(readFileSync(reference)), 'the file equals one run’s');
  });
});
