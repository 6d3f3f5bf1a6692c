/**
 * A segment that the server cuts short while sending a Content-Length that matches what it sends: the
 * HTTP layer sees a whole body, so only the media can tell. It must never be a silent gap: the run fails
 * naming the segment (exit 4), or with --allow-gaps the file is written and the gap report has its time.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { record } from '../../src/api/record.js';
import { checkedSegment } from '../../src/api/record-segment-check.js';
import { isCastkitError } from '../../src/core/errors.js';
import { startOrigin, type Origin } from '../helpers/http-origin.js';
import { serveFixture } from '../helpers/live-origin.js';
import { makeMedia } from '../helpers/fixtures.js';
import { decodeMessages, packets } from '../helpers/media-check.js';
import { gapReportCodes } from '../helpers/gap-report.js';
import { scratchDir } from '../helpers/scratch.js';
import { streamFixture, type StreamFixture } from '../helpers/stream-fixtures.js';

const dir = scratchDir('castkit-short-');
let n = 0;
const outPath = (ext = '.mp4'): string => join(dir, `rec-${n++}${ext}`);
const FAST_RETRY = { baseMs: 5, capMs: 20, maxAttempts: 3 };

/** The best variant's segments of an HLS fixture, as [path relative to the package, EXTINF]. */
function hlsSegments(fx: StreamFixture): [string, number][] {
  const media = 'v0/index.m3u8';
  const out: [string, number][] = [];
  let dur = 0;
  for (const line of readFileSync(join(fx.dir, media), 'utf8').split('\n')) {
    if (line.startsWith('#EXTINF:')) dur = parseFloat(line.slice(8));
    else if (line.endsWith('.ts')) out.push([`v0/${line}`, dur]);
  }
  return out;
}

/** The first half of a file, cut at a packet boundary as a server's truncated copy would often be. */
function firstHalf(path: string, align = 188): Buffer {
  const b = readFileSync(path);
  return b.subarray(0, Math.floor(b.length / 2 / align) * align);
}

const rejectsNaming = (segment: string) => (err: unknown) => {
  assert.ok(isCastkitError(err), String(err));
  assert.equal(err.code, 'E_SEGMENTS_MISSING', err.message);
  assert.equal(err.category, 'network', 'exit 4, as for a segment that cannot be downloaded');
  assert.ok(err.message.includes(segment), `names ${segment}: ${err.message}`);
  assert.match(err.message, /cut short/);
  return true;
};

describe('the segment check on real segments', () => {
  it('every TS segment of the fixtures passes, pushed whole or 7 bytes at a time; half of one, or none, fails', async () => {
    for (const name of ['hls-ts', 'hls-alt-audio'] as const) {
      const fx = await streamFixture(name);
      const lists = [join(fx.dir, 'v0/index.m3u8')];
      if (name === 'hls-alt-audio') lists.push(join(fx.dir, 'audio/en/index.m3u8'));
      for (const list of lists.filter((l) => existsSync(l))) {
        let dur = 0;
        for (const line of readFileSync(list, 'utf8').split('\n')) {
          if (line.startsWith('#EXTINF:')) dur = parseFloat(line.slice(8));
          if (!line.endsWith('.ts')) continue;
          const file = join(list, '..', line);
          const bytes = readFileSync(file);
          checkedSegment(file, dur).check(bytes);
          const t = checkedSegment(file, dur);
          for (let i = 0; i < bytes.length; i += 7) t.update(bytes.subarray(i, i + 7));
          t.final();
        }
      }
    }
    const fx = await streamFixture('hls-ts');
    const [seg, dur] = hlsSegments(fx)[3] as [string, number];
    const file = join(fx.dir, seg);
    assert.throws(() => checkedSegment(file, dur).check(firstHalf(file)), { code: 'E_SEGMENT_SHORT' });
    assert.throws(() => checkedSegment(file, dur).check(new Uint8Array(0)), { code: 'E_SEGMENT_SHORT' });
  });

  it('a segment whose video is one still frame (a radio stream with a picture) passes on its audio', async () => {
    const ts = await makeMedia({
      name: 'still-frame-6s',
      ext: '.ts',
      args: [
        ...['-f', 'lavfi', '-i', 'testsrc2=size=320x240:rate=1/6:duration=6'],
        ...['-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=48000:duration=6'],
        ...['-c:v', 'libx264', '-preset', 'veryfast', '-pix_fmt', 'yuv420p', '-r', '1/6'],
        ...['-c:a', 'aac', '-b:a', '96k', '-f', 'mpegts'],
      ],
    });
    const bytes = readFileSync(ts);
    checkedSegment(ts, 6).check(bytes);
    // Cut, its audio tells: half of it is short.
    assert.throws(() => checkedSegment(ts, 6).check(firstHalf(ts)), { code: 'E_SEGMENT_SHORT' });
  });

  it('fMP4 segments (DASH) pass whole and fail cut inside their mdat', async () => {
    const fx = await streamFixture('dash-timeline');
    const segs = readdirSync(join(fx.dir)).filter((f) => /^chunk-stream\d-\d+\.m4s$/.test(f));
    assert.ok(segs.length >= 20, `${segs.length} segments`);
    for (const s of segs) {
      const bytes = readFileSync(join(fx.dir, s));
      checkedSegment(s, 2).check(bytes);
      const t = checkedSegment(s, 2);
      for (let i = 0; i < bytes.length; i += 5) t.update(bytes.subarray(i, i + 5));
      t.final();
      assert.throws(
        () => checkedSegment(s, 2).check(bytes.subarray(0, bytes.length - 100)),
        (err: unknown) => {
          assert.ok(isCastkitError(err));
          assert.equal(err.code, 'E_SEGMENT_SHORT');
          assert.match(err.message, /ends inside its mdat box/);
          return true;
        },
      );
    }
  });
});

describe('record: a segment cut short with a matching Content-Length', () => {
  let origin: Origin;
  before(async () => {
    origin = await startOrigin();
  });
  after(async () => origin.close());

  it('HLS TS: exit 4 naming the segment; --allow-gaps keeps what it holds, its missing part in the gap report', async () => {
    const fx = await streamFixture('hls-ts');
    const url = serveFixture(origin, fx, '/cut');
    const [seg, dur] = hlsSegments(fx)[3] as [string, number];
    // The origin answers the cut body with its own length: nothing wrong at the HTTP level.
    origin.route(`/cut/${seg}`, { body: firstHalf(join(fx.dir, seg)), type: 'video/mp2t' });
    const out = outPath();
    let retries = 0;
    const onProgress = (p: { retries: number }): void => {
      retries = p.retries;
    };
    await assert.rejects(record(url, { output: out, retry: FAST_RETRY, onProgress }), rejectsNaming(seg));
    assert.ok(!existsSync(out), 'no output that looks finished');
    const hits = origin.requests.filter((q) => q.path === `/cut/${seg}`).length;
    assert.equal(hits, FAST_RETRY.maxAttempts, 'fetched again in case the cut was passing, then given up');
    assert.equal(retries, hits - 1, 'the progress counts each retry once');

    const r = await record(url, { output: out, retry: FAST_RETRY, allowGaps: true });
    await assertKeptShort(r.gaps, r.gapReport);

    // Stopped after the cut segment was kept (the 7th segment stalls the first time), then run again:
    // the segments before it are replayed from the journal, it is tried again (a VOD playlist still lists
    // it), still cut, kept and reported again.
    const again = outPath();
    const ac = new AbortController();
    const [seventh] = hlsSegments(fx)[6] as [string, number];
    origin.fault(`/cut/${seventh}`, { kind: 'stall', times: 1 });
    const onCommit = (p: { done: number }): void => {
      if (p.done >= 6) ac.abort();
    };
    await assert.rejects(
      record(url, {
        output: again,
        retry: FAST_RETRY,
        allowGaps: true,
        signal: ac.signal,
        onProgress: onCommit,
      }),
      { category: 'interrupted' },
    );
    const cutBefore = origin.requests.filter((q) => q.path === `/cut/${seg}`).length;
    const r2 = await record(url, { output: again, retry: FAST_RETRY, allowGaps: true });
    assert.ok(r2.fromJournal >= 3, `the segments before it came from the journal (${r2.fromJournal})`);
    assert.equal(
      origin.requests.filter((q) => q.path === `/cut/${seg}`).length - cutBefore,
      FAST_RETRY.maxAttempts,
      'the cut segment is tried again',
    );
    await assertKeptShort(r2.gaps, r2.gapReport, again);
    assert.ok(r2.journal, 'the journal stays, for a run that gets it whole');

    // Stopped when the cut segment was kept and journaled but not yet in the output (the 2nd segment
    // stalls): the rerun takes it from the journal, unfetched, and reports it all the same.
    const third = outPath();
    const ac3 = new AbortController();
    const [second] = hlsSegments(fx)[1] as [string, number];
    origin.fault(`/cut/${second}`, { kind: 'stall', times: 1 });
    const hitsOf = (path: string): number => origin.requests.filter((q) => q.path === path).length;
    const before = hitsOf(`/cut/${seg}`);
    const last = hlsSegments(fx).at(-1)?.[0] as string;
    const lastBefore = hitsOf(`/cut/${last}`);
    const run3 = record(url, { output: third, retry: FAST_RETRY, allowGaps: true, signal: ac3.signal });
    for (let i = 0; i < 200; i++) {
      if (hitsOf(`/cut/${seg}`) - before >= FAST_RETRY.maxAttempts && hitsOf(`/cut/${last}`) > lastBefore)
        break;
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
    await new Promise((resolve) => setTimeout(resolve, 500)); // its last attempt's body into the journal
    ac3.abort();
    await assert.rejects(run3, { category: 'interrupted' });
    const cutHits = hitsOf(`/cut/${seg}`);
    const r3 = await record(url, { output: third, retry: FAST_RETRY, allowGaps: true });
    assert.equal(hitsOf(`/cut/${seg}`), cutHits, 'the kept segment is not fetched again');
    await assertKeptShort(r3.gaps, r3.gapReport, third);

    async function assertKeptShort(
      gaps: readonly { code: string }[],
      gapReport: string | undefined,
      file = out,
    ): Promise<void> {
      assert.equal(gaps.length, 1);
      // The error behind the gap, also when the kept segment was replayed from the journal.
      assert.equal(gaps[0]?.code, 'E_SEGMENT_SHORT');
      assert.ok(gapReport && existsSync(gapReport), 'a gap report beside the output');
      const report = JSON.parse(readFileSync(gapReport, 'utf8')) as {
        missing: { url: string; code: string; startSec: number; durationSec: number; message: string }[];
      };
      assert.equal(report.missing.length, 1);
      const m = report.missing[0] as (typeof report.missing)[number];
      assert.ok(m.url.endsWith(seg), m.url);
      assert.equal(m.code, 'E_SEGMENT_SHORT', 'the gap report names the error behind the gap');
      // The hole is the part of the segment (6-8 s) that never came: from where its media ends to 8 s.
      assert.ok(m.startSec > 3 * dur + 0.3 && m.startSec < 4 * dur - 0.3, `the hole starts at ${m.startSec}`);
      assert.ok(Math.abs(m.startSec + m.durationSec - 4 * dur) < 1e-6, 'and ends where the segment does');
      assert.match(m.message, /cut short/);
      assert.equal(await decodeMessages(file), '');
      const v = (await packets(file))
        .filter((p) => p.type === 'video')
        .map((p) => p.pts)
        .sort((a, b) => a - b);
      assert.ok(
        v.some((t) => t > 3 * dur + 0.1 && t < m.startSec - 0.1),
        'the video the segment holds is kept',
      );
      assert.ok(!v.some((t) => t > m.startSec + 0.1 && t < 4 * dur - 0.05), 'no video inside the hole');
      assert.ok((v[v.length - 1] as number) > 18, 'the timeline keeps its length');
    }

    // Without a journal (to a pipe) the check is the same.
    await assert.rejects(
      record(url, { output: '-', stdout: new PassThrough().resume(), retry: FAST_RETRY }),
      rejectsNaming(seg),
    );
  });

  it('DASH fMP4: a video segment cut inside its mdat fails naming it, instead of a demuxer error (exit 3)', async () => {
    const fx = await streamFixture('dash-timeline');
    const url = serveFixture(origin, fx, '/cut-dash');
    // The chosen video Representation is the 640x360 one (stream1 in ffmpeg's numbering).
    const seg = 'chunk-stream1-00004.m4s';
    origin.route(`/cut-dash/${seg}`, { body: firstHalf(join(fx.dir, seg), 1), type: 'video/iso.segment' });
    const out = outPath();
    await assert.rejects(record(url, { output: out, retry: FAST_RETRY }), rejectsNaming(seg));
    const r = await record(url, { output: out, retry: FAST_RETRY, allowGaps: true });
    assert.equal(r.gaps.length, 1);
    assert.equal(r.gaps[0]?.stream, 'video');
    assert.equal(r.gaps[0]?.startSec, 6);
    assert.equal(r.gaps[0]?.code, 'E_SEGMENT_SHORT');
    assert.deepEqual(gapReportCodes(r.gapReport), ['E_SEGMENT_SHORT']);
    assert.equal(await decodeMessages(out), '');
  });
});
