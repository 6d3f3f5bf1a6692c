import assert from 'node:assert/strict';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import type { CastkitError } from '../../src/core/errors.js';
import { InterruptedError, NetworkError } from '../../src/core/errors.js';
import type { DownloadProgress } from '../../src/download/download-progress.js';
import { SegmentJournal } from '../../src/download/journal.js';
import { seededRandom } from '../../src/download/retry-policy.js';
import { downloadSegments, type MissingSegment } from '../../src/download/scheduler.js';
import { collector, startSegmentOrigin } from './segment-origin.js';
import { scratchDir } from '../helpers/scratch.js';

const root = scratchDir('castkit-sched-');
after(() => rmSync(root, { recursive: true, force: true }));
let dirs = 0;
const journalDir = (): string => join(root, `j${dirs++}`);
/**
 * A consumer that copies each segment it is given (what one that releases its input must do) and notes the
 * memory each came in.
 */
function copyingConsumer(): {
  copies: Buffer[];
  memory: Set<ArrayBufferLike>;
  onSegment: (key: string, bytes: Buffer) => void;
} {
  const copies: Buffer[] = [];
  const memory = new Set<ArrayBufferLike>();
  return {
    copies,
    memory,
    onSegment: (_key, bytes) => {
      copies.push(Buffer.from(bytes));
      memory.add(bytes.buffer);
    },
  };
}

/** Fast retries for tests, reproducible. */
const retry = { baseMs: 5, capMs: 50, random: seededRandom(42) };

describe('downloadSegments', () => {
  it('commits in list order under concurrency 8 with random latency, each segment fetched once', async () => {
    const so = await startSegmentOrigin(60);
    const rnd = seededRandom(9);
    so.origin.latency(() => Math.floor(rnd() * 30));
    const out = collector();
    const events: DownloadProgress[] = [];
    try {
      const res = await downloadSegments(so.segments, {
        concurrency: 8,
        retry,
        onSegment: out.onSegment,
        onProgress: (p) => events.push(p),
        progressIntervalMs: 0,
      });
      assert.deepEqual(
        out.keys,
        so.segments.map((s) => s.key),
      );
      assert.ok(out.joined().equals(Buffer.concat(so.bodies)));
      assert.equal(res.completed, 60);
      assert.equal(res.fetched, 60);
      assert.deepEqual(res.missing, []);
      assert.ok(
        [...so.hits().values()].every((n) => n === 1),
        'no segment fetched twice',
      );
      const last = events.at(-1);
      assert.equal(last?.done, 60);
      assert.equal(last?.total, 60);
      assert.equal(last?.bytes, Buffer.concat(so.bodies).length);
      for (let i = 1; i < events.length; i++) assert.ok((events[i]?.done ?? 0) >= (events[i - 1]?.done ?? 0));
    } finally {
      await so.close();
    }
  });

  it('progress: a change inside the interval is shown when it ends, even while the next segment stalls', async () => {
    const so = await startSegmentOrigin(4);
    // Segments 0 and 1 come at once (within one interval); 2 stalls until the run is stopped.
    so.origin.fault(so.path(2), { kind: 'stall' });
    const out = collector();
    const events: { at: number; done: number }[] = [];
    const ac = new AbortController();
    const t0 = Date.now();
    try {
      const run = downloadSegments(so.segments, {
        concurrency: 1,
        retry,
        onSegment: out.onSegment,
        onProgress: (p) => events.push({ at: Date.now() - t0, done: p.done }),
        progressIntervalMs: 300,
        signal: ac.signal,
      });
      // Well past one interval: by then the two committed segments must have been reported.
      await new Promise((r) => setTimeout(r, 1200));
      const seen = Math.max(0, ...events.map((e) => e.done));
      ac.abort();
      await assert.rejects(run, InterruptedError);
      assert.equal(out.keys.length, 2, 'two segments committed before the stall');
      assert.equal(seen, 2, `progress while stalled: ${JSON.stringify(events)}`);
    } finally {
      await so.close();
    }
  });

  it('recovers from 503 twice, a reset and a stall mid-body and a truncated body', async () => {
    const so = await startSegmentOrigin(12);
    so.origin.fault(so.path(2), { kind: 'status', status: 503, times: 2 });
    so.origin.fault(so.path(4), { kind: 'reset-body', bytes: 3000, times: 1 });
    so.origin.fault(so.path(6), { kind: 'truncate', bytes: 1000, times: 1 });
    so.origin.fault(so.path(8), { kind: 'stall-body', bytes: 2000, times: 1 });
    so.origin.fault(so.path(10), { kind: 'reset', times: 2 });
    const out = collector();
    const retried: string[] = [];
    try {
      await downloadSegments(so.segments, {
        concurrency: 4,
        retry,
        request: { stallMs: 200 },
        onSegment: out.onSegment,
        onRetry: (e) => retried.push(`${e.key}:${(e.error as CastkitError).code}`),
      });
      assert.ok(out.joined().equals(Buffer.concat(so.bodies)));
      const hits = so.hits();
      assert.deepEqual(
        [2, 4, 6, 8, 10].map((i) => hits.get(so.path(i))),
        [3, 2, 2, 2, 3],
      );
      assert.deepEqual(retried.sort(), [
        'seg-10:E_NETWORK',
        'seg-10:E_NETWORK',
        'seg-2:E_HTTP_STATUS',
        'seg-2:E_HTTP_STATUS',
        'seg-4:E_NETWORK',
        'seg-6:E_SHORT_BODY',
        'seg-8:E_STALL',
      ]);
    } finally {
      await so.close();
    }
  });

  it('starts with two segments in flight and doubles them while the next segment keeps the consumer waiting', async () => {
    const so = await startSegmentOrigin(24);
    const latencyMs = 300;
    so.origin.latency(() => latencyMs);
    const out = collector();
    try {
      await downloadSegments(so.segments, { concurrency: 8, rampMs: 40, retry, onSegment: out.onSegment });
      assert.ok(out.joined().equals(Buffer.concat(so.bodies)));
      const starts = so.origin.log.map((r) => r.at);
      const t0 = starts[0] ?? 0;
      // Each request is answered latencyMs after it came: how many were open at once, at the most.
      let most = 0;
      for (const t of starts) most = Math.max(most, starts.filter((u) => u <= t && u + latencyMs > t).length);
      assert.equal(most, 8, 'grew to the most allowed');
      assert.ok(starts.filter((t) => t < t0 + 30).length <= 2, 'two at the start');
      assert.ok((starts[2] ?? 0) - t0 >= 35, `the third after one ramp step (${(starts[2] ?? 0) - t0} ms)`);
    } finally {
      await so.close();
    }
  });

  it('honours Retry-After of a 429, holding back new requests to that origin meanwhile', async () => {
    const so = await startSegmentOrigin(10);
    so.origin.fault(so.path(3), { kind: 'status', status: 429, headers: { 'retry-after': '1' }, times: 1 });
    const out = collector();
    const delays: number[] = [];
    try {
      await downloadSegments(so.segments, {
        concurrency: 2,
        retry,
        onSegment: out.onSegment,
        onRetry: (e) => delays.push(e.delayMs),
      });
      assert.ok(out.joined().equals(Buffer.concat(so.bodies)));
      const log = so.origin.log.filter((r) => r.path === so.path(3));
      assert.equal(log.length, 2);
      const t429 = log[0]?.at ?? 0;
      const waited = (log[1]?.at ?? 0) - t429;
      assert.ok(waited >= 990, `waited ${waited} ms`);
      assert.ok((delays[0] ?? 0) >= 1000);
      const meanwhile = so.origin.log.filter((r) => r.at > t429 + 100 && r.at < t429 + 900);
      assert.deepEqual(
        meanwhile.map((r) => r.path),
        [],
        'nothing new sent while the server asked to wait',
      );
    } finally {
      await so.close();
    }
  });

  it('a segment that stays 404 fails the run with a network error listing it', async () => {
    const so = await startSegmentOrigin(20);
    so.origin.fault(so.path(7), { kind: 'status', status: 404 });
    const out = collector();
    try {
      const err = await downloadSegments(so.segments, {
        concurrency: 4,
        retry,
        onSegment: out.onSegment,
      }).catch((e: unknown) => e);
      assert.ok(err instanceof NetworkError, String(err));
      assert.equal(err.code, 'E_SEGMENTS_MISSING');
      assert.equal(err.category, 'network');
      assert.match(
        err.message,
        /1 of 20 segments could not be downloaded: #7 seg-7: HTTP 404 from http:\/\/127\.0\.0\.1:\d+\/seg\/00007\.ts/,
      );
      assert.match(err.hint ?? '', /--allow-gaps/);
      assert.deepEqual(
        out.keys,
        so.segments.slice(0, 7).map((s) => s.key),
        'committed up to the gap',
      );
      assert.equal(so.hits().get(so.path(7)), 1, '404 is not retried');
    } finally {
      await so.close();
    }
  });

  it('with allowGaps, returns the missing segment and commits the rest in order', async () => {
    const so = await startSegmentOrigin(20);
    so.origin.fault(so.path(7), { kind: 'status', status: 404 });
    so.origin.fault(so.path(15), { kind: 'status', status: 500 });
    const seen: string[] = [];
    try {
      const res = await downloadSegments(so.segments, {
        concurrency: 4,
        retry: { ...retry, maxAttempts: 3 },
        allowGaps: true,
        onSegment: (key) => void seen.push(key),
        onMissing: (m: MissingSegment) => void seen.push(`GAP ${m.key}`),
      });
      const expected = so.segments.map((s, i) => (i === 7 || i === 15 ? `GAP ${s.key}` : s.key));
      assert.deepEqual(seen, expected);
      assert.deepEqual(
        res.missing.map((m) => [m.index, m.key, m.error.code, m.error.details.status]),
        [
          [7, 'seg-7', 'E_HTTP_STATUS', 404],
          [15, 'seg-15', 'E_HTTP_STATUS', 500],
        ],
      );
      assert.equal(res.completed, 18);
      assert.equal(so.hits().get(so.path(15)), 3, '500 retried up to maxAttempts');
    } finally {
      await so.close();
    }
  });

  it('holds out-of-order completions within the window while the head is slow', async () => {
    const so = await startSegmentOrigin(40);
    so.origin.latency((p) => (p === so.path(0) ? 300 : 0));
    let requestsWhenHeadCommitted = -1;
    try {
      await downloadSegments(so.segments, {
        concurrency: 4,
        maxHeldSegments: 8,
        retry,
        onSegment: (key) => {
          if (key === 'seg-0') requestsWhenHeadCommitted = so.origin.requests.length;
        },
      });
      assert.ok(
        requestsWhenHeadCommitted >= 4 && requestsWhenHeadCommitted <= 8,
        `${requestsWhenHeadCommitted} requests before the head committed (window 8)`,
      );
    } finally {
      await so.close();
    }
  });

  it('after an abort, a new run with the same journal fetches only what was not completed', async () => {
    const so = await startSegmentOrigin(50);
    so.origin.latency(() => 5);
    const dir = journalDir();
    const ac = new AbortController();
    const first = collector();
    try {
      const j1 = await SegmentJournal.open(dir, { identity: 'test' });
      const err = await downloadSegments(so.segments, {
        concurrency: 4,
        retry,
        journal: j1,
        signal: ac.signal,
        onSegment: (key, bytes) => {
          first.onSegment(key, bytes);
          if (first.keys.length === 20) ac.abort();
        },
      }).catch((e: unknown) => e);
      assert.ok(err instanceof InterruptedError, String(err));
      const done = new Set(j1.keys());
      await j1.close();
      assert.ok(done.size >= 20 && done.size < 50, `${done.size} journaled`);

      const before = so.origin.requests.length;
      const j2 = await SegmentJournal.open(dir, { identity: 'test' });
      const second = collector();
      const res = await downloadSegments(so.segments, {
        concurrency: 4,
        retry,
        journal: j2,
        onSegment: second.onSegment,
      });
      await j2.remove();
      const again = so.origin.requests.slice(before).map((r) => r.path);
      for (const [i, s] of so.segments.entries()) {
        assert.equal(
          again.includes(so.path(i)),
          !done.has(s.key),
          `${s.key} fetched again: ${!done.has(s.key)}`,
        );
      }
      assert.equal(res.fromJournal, done.size);
      assert.equal(res.fetched, 50 - done.size);
      assert.ok(second.joined().equals(Buffer.concat(so.bodies)), 'same bytes as an uninterrupted run');
    } finally {
      await so.close();
    }
  });

  it('inMemoryAhead: the segments next in line come in memory and unjournaled, the others through the journal; those that never get their turn are journaled at the stop', async () => {
    const so = await startSegmentOrigin(12);
    so.origin.latency((p) => (p === so.path(1) ? 400 : 0));
    const dir = journalDir();
    const ac = new AbortController();
    try {
      const j = await SegmentJournal.open(dir);
      const streamed = new Set<string>();
      const writer = j.writer.bind(j);
      j.writer = (key) => {
        streamed.add(key);
        return writer(key);
      };
      const given: [string, boolean, boolean][] = [];
      const timer = setTimeout(() => ac.abort(), 200);
      const err = await downloadSegments(so.segments, {
        concurrency: 4,
        retry,
        journal: j,
        inMemoryAhead: 3,
        signal: ac.signal,
        onSegment: async (key, bytes, _i, _replayed, unjournaled) => {
          given.push([key, unjournaled, j.has(key)]);
          if (unjournaled) await j.put(key, bytes); // the consumer keeps it
        },
      }).catch((e: unknown) => e);
      clearTimeout(timer);
      assert.ok(err instanceof InterruptedError, String(err));
      // Segment 1 is slow: only segment 0 was committed, from memory, not journaled when given.
      assert.deepEqual(given, [[so.segments[0]?.key, true, false]]);
      const keys = so.segments.map((s) => s.key);
      assert.ok(!streamed.has(keys[0] as string) && !streamed.has(keys[1] as string));
      assert.ok(streamed.size > 0, 'segments further ahead stream into the journal');
      const heldInMemory = keys.filter((k, i) => i > 1 && j.has(k) && !streamed.has(k));
      assert.ok(
        heldInMemory.length > 0,
        'fetched into memory, never given their turn: journaled at the stop',
      );
      await j.close();

      const before = so.origin.requests.length;
      so.origin.latency(undefined);
      const j2 = await SegmentJournal.open(dir);
      const out = collector();
      await downloadSegments(so.segments, {
        concurrency: 4,
        retry,
        journal: j2,
        inMemoryAhead: 3,
        onSegment: async (key, bytes, _i, _replayed, unjournaled) => {
          out.onSegment(key, bytes);
          if (unjournaled) await j2.put(key, bytes);
        },
      });
      await j2.close();
      const again = so.origin.requests.slice(before).map((r) => r.path);
      assert.ok(again.includes(so.path(1)), 'the segment in flight at the stop is fetched again');
      for (const k of heldInMemory) assert.ok(!again.includes(so.path(keys.indexOf(k))), `${k} is not`);
      assert.ok(out.joined().equals(Buffer.concat(so.bodies)), 'same bytes as an uninterrupted run');
    } finally {
      await so.close();
    }
  });

  it('tells the consumer whether the segment after the one it is given is here already', async () => {
    const so = await startSegmentOrigin(8);
    // Segment 0 is slow: the ones after it are in when it comes. Segment 5 is slower still: segment 4 is
    // given while 5 is on its way.
    so.origin.latency((p) => (p === so.path(0) ? 300 : p === so.path(5) ? 900 : 0));
    const ready: boolean[] = [];
    try {
      await downloadSegments(so.segments, {
        concurrency: 4,
        retry,
        onSegment: (_key, _bytes, i, _replayed, _unjournaled, nextReady) => {
          ready[i] = nextReady;
        },
      });
      assert.equal(ready.length, 8);
      assert.equal(ready[0], true, 'segment 1 came while 0 was awaited');
      assert.equal(ready[4], false, 'segment 5 was still on its way');
      assert.equal(ready[7], false, 'nothing comes after the last');
    } finally {
      await so.close();
    }
  });

  it('refetches a segment whose journaled bytes were damaged', async () => {
    const so = await startSegmentOrigin(6);
    const dir = journalDir();
    try {
      const j1 = await SegmentJournal.open(dir);
      await downloadSegments(so.segments, { retry, journal: j1, onSegment: () => undefined });
      await j1.close();
      const bin = join(dir, 'segments.bin');
      const bytes = readFileSync(bin);
      bytes[so.bodies[0]!.length + 10]! ^= 0xff; // inside segment 1 (completion order may vary: any one)
      writeFileSync(bin, bytes);
      const before = so.origin.requests.length;
      const j2 = await SegmentJournal.open(dir);
      const out = collector();
      const res = await downloadSegments(so.segments, { retry, journal: j2, onSegment: out.onSegment });
      await j2.close();
      assert.ok(out.joined().equals(Buffer.concat(so.bodies)));
      assert.equal(so.origin.requests.length - before, 1, 'only the damaged one');
      assert.equal(res.fromJournal, 5);
    } finally {
      await so.close();
    }
  });

  it('reads journaled segments back into memory used again while the consumer releases it', async () => {
    const so = await startSegmentOrigin(20);
    try {
      for (const released of [true, false]) {
        const journal = await SegmentJournal.open(journalDir());
        const { copies, memory, onSegment } = copyingConsumer();
        await downloadSegments(so.segments, {
          retry,
          journal,
          segmentReleased: () => released,
          onSegment,
        });
        await journal.close();
        assert.ok(Buffer.concat(copies).equals(Buffer.concat(so.bodies)));
        // Sizes vary: a new buffer when a segment is larger than every one before it, and one more for the
        // segment read ahead while the one before it is consumed.
        let grows = 0;
        let largest = 0;
        for (const b of so.bodies) if (b.length > largest) [largest, grows] = [b.length, grows + 1];
        if (released)
          assert.ok(memory.size <= grows + 1 && memory.size < 10, `${memory.size} buffers, ${grows} grows`);
        else assert.equal(memory.size, 20);
      }
    } finally {
      await so.close();
    }
  });

  it('without a journal, fetches bodies into memory used again once the consumer releases it', async () => {
    const so = await startSegmentOrigin(24, 64 * 1024);
    try {
      for (const released of [true, false]) {
        const { copies, memory, onSegment } = copyingConsumer();
        await downloadSegments(so.segments, {
          concurrency: 4,
          retry,
          segmentReleased: () => released,
          onSegment,
        });
        assert.ok(Buffer.concat(copies).equals(Buffer.concat(so.bodies)));
        // At most the segments in flight, the one consumed and a few spares.
        if (released) assert.ok(memory.size <= 10, `${memory.size} buffers for 24 segments`);
        else assert.equal(memory.size, 24);
      }
    } finally {
      await so.close();
    }
  });

  it('a consumer that keeps the last segment gives back the one before: what it keeps is never reused', async () => {
    const so = await startSegmentOrigin(30, 32 * 1024);
    try {
      let kept: { bytes: Buffer; index: number } | undefined;
      let before: Buffer | undefined;
      const memory = new Set<ArrayBufferLike>();
      await downloadSegments(so.segments, {
        concurrency: 6,
        startConcurrency: 6,
        retry,
        segmentReleased: () => (before ? [before] : []),
        onSegment: (_key, bytes, i) => {
          // The segment kept since the last call is still as it came.
          if (kept)
            assert.ok(kept.bytes.equals(so.bodies[kept.index] as Buffer), `segment ${kept.index} kept`);
          assert.ok(bytes.equals(so.bodies[i] as Buffer), `segment ${i}`);
          before = kept?.bytes;
          kept = { bytes, index: i };
          memory.add(bytes.buffer);
        },
      });
      assert.ok(memory.size < 30, `${memory.size} buffers for 30 segments`);
    } finally {
      await so.close();
    }
  });

  it('memory a fetchSegment returns is used again only when it came from the allocate it was given', async () => {
    const bodies = Array.from({ length: 12 }, (_, i) => Buffer.alloc(50_000 + i * 100, i + 1));
    const pristine = bodies.map((b) => Buffer.from(b));
    const segments = bodies.map((_, i) => ({ key: `s${i}`, url: `test:${i}` }));
    // Its own memory (a cache, say): handing it back must not make the run write into it.
    await downloadSegments(segments, {
      retry,
      segmentReleased: () => true,
      fetchSegment: async (seg) => bodies[Number(seg.url.slice(5))] as Buffer,
      onSegment: () => undefined,
    });
    for (const [i, b] of bodies.entries()) assert.ok(b.equals(pristine[i] as Buffer), `body ${i} untouched`);
    // The memory it is offered: used again.
    const memory = new Set<ArrayBufferLike>();
    const out: Buffer[] = [];
    await downloadSegments(segments, {
      concurrency: 2,
      retry,
      segmentReleased: () => true,
      fetchSegment: async (seg, _signal, allocate) => {
        const src = bodies[Number(seg.url.slice(5))] as Buffer;
        const into = allocate(src.length);
        src.copy(into);
        return into;
      },
      onSegment: (_key, bytes) => {
        memory.add(bytes.buffer);
        out.push(Buffer.from(bytes));
      },
    });
    assert.ok(Buffer.concat(out).equals(Buffer.concat(pristine)));
    assert.ok(memory.size <= 6, `${memory.size} buffers for 12 segments`);
  });

  it('an error in onSegment while the next segment is read ahead: the read ends before the run returns', async () => {
    const so = await startSegmentOrigin(12);
    try {
      const journal = await SegmentJournal.open(journalDir());
      const boom = new Error('sink failed');
      let reads = 0;
      let pendingReads = 0;
      const read = journal.read.bind(journal);
      journal.read = async (...args) => {
        reads++;
        pendingReads++;
        try {
          return await read(...args);
        } finally {
          pendingReads--;
        }
      };
      const err = await downloadSegments(so.segments, {
        concurrency: 12,
        startConcurrency: 12,
        retry,
        journal,
        segmentReleased: () => true,
        onSegment: async (key) => {
          // Let every segment complete first, so that the next one is journaled and read ahead.
          if (key === 'seg-0') while (journal.size < 12) await new Promise((r) => setTimeout(r, 5));
          if (key === 'seg-1') throw boom;
        },
      }).catch((e: unknown) => e);
      assert.equal(err, boom);
      assert.equal(reads, 3, 'seg-0, seg-1, and seg-2 read ahead while seg-1 was consumed');
      assert.equal(pendingReads, 0, 'no read still running when the run returned');
      await journal.close();
    } finally {
      await so.close();
    }
  });

  it('an error in onSegment stops the run and is what it throws', async () => {
    const so = await startSegmentOrigin(30);
    try {
      const boom = new Error('disk full');
      const err = await downloadSegments(so.segments, {
        concurrency: 4,
        retry,
        onSegment: (key) => {
          if (key === 'seg-5') throw boom;
        },
      }).catch((e: unknown) => e);
      assert.equal(err, boom);
      assert.ok(so.origin.requests.length < 30, 'stopped early');
    } finally {
      await so.close();
    }
  });
});
