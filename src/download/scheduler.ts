/**
 * The segment download engine shared by the HLS, DASH and ustream recorders: N segments in flight over a
 * pooled client, each retried with jittered backoff, completions journaled at once (any order) and handed
 * to `onSegment` strictly in list order. Out-of-order completions wait in memory within a bound (a window
 * of segments and of bytes); when it is full, no new segment starts until the head of the line commits.
 */
import { setMaxListeners } from 'node:events';
import { InterruptedError, isCastkitError, type CastkitError } from '../core/errors.js';
import { RateMeter, type DownloadProgress } from './download-progress.js';
import {
  createHttpClient,
  type FetchOptions,
  type HttpClient,
  type HttpClientOptions,
} from './http-client.js';
import { retryAfterOf } from './http-errors.js';
import type { SegmentJournal } from './journal.js';
import { SegmentMemory } from './segment-memory.js';
import { assertUniqueKeys, missingSegmentsError, type MissingSegment, type Segment } from './segment.js';
import {
  createRetryPolicy,
  sleep,
  withRetry,
  type RetryEvent,
  type RetryPolicy,
  type RetryPolicyOptions,
  type WithRetryOptions,
} from './retry-policy.js';

export type { MissingSegment, Segment } from './segment.js';

export interface SegmentRetryEvent extends RetryEvent {
  index: number;
  key: string;
  url: string;
}

export interface DownloadSegmentsOptions {
  /** Segments in flight at once, at the most. Default 16. */
  concurrency?: number;
  /**
   * Segments in flight at the start (default 2). More are started, twice as many each time, up to
   * `concurrency`, whenever the segment due next has kept the consumer waiting for `rampMs` (default 40):
   * a server that caps each connection gets every connection it takes, while a fast one is read over
   * a few, whose segments then complete in order and are consumed while the next ones arrive.
   */
  startConcurrency?: number;
  rampMs?: number;
  retry?: RetryPolicy | RetryPolicyOptions;
  /** Completed segments are recorded here and never fetched again by a later run with the same journal. */
  journal?: SegmentJournal;
  /**
   * Called with each segment's bytes, strictly in list order, one at a time (awaited); `replayed` when they
   * come from the journal of an earlier run (not fetched, nor checked by a transform, in this one).
   */
  onSegment: (
    key: string,
    bytes: Buffer,
    index: number,
    replayed: boolean,
    /** Fetched into memory, not journaled (inMemoryAhead): onSegment keeps it before it returns. */
    unjournaled: boolean,
    /**
     * The segment after this one is here already (in memory or in the journal): the consumer goes on with
     * it at once. False for the last one, and when it is still on its way.
     */
    nextReady: boolean,
  ) => void | Promise<void>;
  /** With allowGaps: called in list order at the place of each segment given up on. */
  onMissing?: (missing: MissingSegment) => void | Promise<void>;
  /** Give up on segments that keep failing and carry on, instead of failing the run. */
  allowGaps?: boolean;
  /** Stops the run: in-flight requests are aborted, what completed stays journaled. */
  signal?: AbortSignal;
  onProgress?: (p: DownloadProgress) => void;
  /** At most one progress event per this many ms (plus a final one). Default 250. */
  progressIntervalMs?: number;
  onRetry?: (e: SegmentRetryEvent) => void;
  /** A shared client; otherwise one is made from `http` (connections = concurrency) and closed at the end. */
  client?: HttpClient;
  http?: HttpClientOptions;
  /** Per-request settings (headers, timeouts, size bound) for the default fetch. */
  request?: Omit<FetchOptions, 'range' | 'signal'>;
  /**
   * Replaces the HTTP fetch (another protocol, or a test). `allocate` gives memory for a body of known
   * length (FetchOptions.allocate) that is used again once the consumer releases it (segmentReleased).
   */
  fetchSegment?: (
    segment: Segment,
    signal: AbortSignal,
    allocate: (length: number) => Buffer,
  ) => Promise<Uint8Array>;
  /**
   * With a journal and the HTTP fetch: a transform of each segment's bytes as they arrive (AES-128
   * decryption), made once per attempt; undefined for none. What the transform gives is what is journaled
   * and committed.
   */
  transformFor?: (segment: Segment, signal: AbortSignal) => Promise<ChunkTransform | undefined>;
  /**
   * With a journal and the HTTP fetch: a segment taken when it is within this many of the one due next is
   * fetched into memory, not into the journal, and handed to onSegment as `unjournaled`: onSegment keeps
   * it then, as the consumer sees fit (journal.put, or a checkpoint of an output that holds it), before
   * it returns. One that never gets its turn (the run stops, or one before it fails) is journaled at the
   * end; one in flight then is lost, as a streamed one is. Segments further ahead go to the journal as
   * they arrive. Default 0 (none).
   */
  inMemoryAhead?: number;
  /** Out-of-order completions held in memory at most (never below concurrency). Default 64. */
  maxHeldSegments?: number;
  /** Bytes of out-of-order completions held at most. Default 256 MiB. */
  maxHeldBytes?: number;
  /**
   * Asked after each onSegment: which segment memory the consumer no longer refers to, so that later
   * segments (fetched into memory, or read back from the journal) may go into it. `true`: the bytes it was
   * just given; a list: bytes given earlier (a consumer that keeps the last segment it was given until
   * the next one comes). Only memory the run made is used again. Without it, each segment gets new memory.
   */
  segmentReleased?: () => boolean | readonly Uint8Array[];
}

/** A streaming transform of a body: update() per chunk, final() at the end (may throw on bad input). */
export interface ChunkTransform {
  /** The body's length when the response gives one, before its first chunk. */
  start?(length: number | undefined): void;
  update(chunk: Buffer): Buffer;
  final(): Buffer;
}

export interface DownloadSegmentsResult {
  /** Segments handed to onSegment. */
  completed: number;
  /** Of which fetched over the network in this run. */
  fetched: number;
  /** Of which replayed from the journal. */
  fromJournal: number;
  /** Bytes handed to onSegment. */
  bytes: number;
  /** Segments given up on (only with allowGaps; otherwise the run throws). */
  missing: MissingSegment[];
}

export const SCHEDULER_DEFAULTS = {
  concurrency: 16,
  startConcurrency: 2,
  rampMs: 40,
  maxHeldSegments: 64,
  maxHeldBytes: 256 * 1024 * 1024,
  progressIntervalMs: 250,
} as const;

/** Download `segments`, committing them in order; see DownloadSegmentsOptions. */
export async function downloadSegments(
  segments: readonly Segment[],
  o: DownloadSegmentsOptions,
): Promise<DownloadSegmentsResult> {
  assertUniqueKeys(segments);
  const n = segments.length;
  const concurrency = Math.max(1, Math.floor(o.concurrency ?? SCHEDULER_DEFAULTS.concurrency));
  const rampMs = Math.max(1, o.rampMs ?? SCHEDULER_DEFAULTS.rampMs);
  // Segments that may be in flight now; grows while the consumer waits on the network (see awaitHead()).
  let limit = Math.min(
    concurrency,
    Math.max(1, Math.floor(o.startConcurrency ?? SCHEDULER_DEFAULTS.startConcurrency)),
  );
  let inFlight = 0;
  const window = Math.max(concurrency, o.maxHeldSegments ?? SCHEDULER_DEFAULTS.maxHeldSegments);
  const maxHeldBytes = o.maxHeldBytes ?? SCHEDULER_DEFAULTS.maxHeldBytes;
  const policy = isPolicy(o.retry) ? o.retry : createRetryPolicy(o.retry);
  const journal = o.journal;
  const ownClient =
    o.fetchSegment || o.client
      ? undefined
      : createHttpClient({ ...o.http, connections: Math.max(concurrency, o.http?.connections ?? 0) });
  const client = o.client ?? ownClient;
  // Memory for segments handed to onSegment, used again once the consumer releases it.
  const memory = new SegmentMemory();
  const allocate = (length: number): Buffer => memory.take(length);
  const fetchOne =
    o.fetchSegment ??
    ((seg: Segment, signal: AbortSignal) =>
      (client as HttpClient).fetchBytes(seg.url, { ...o.request, range: seg.range, signal, allocate }));

  // Aborted by the caller's signal, or by us when onSegment or the journal fails.
  const run = new AbortController();
  // Every request and backoff in flight listens to it: 2 per segment in flight is expected, not a leak.
  setMaxListeners(4 * concurrency + 16, run.signal);
  const onCallerAbort = (): void => run.abort();
  if (o.signal?.aborted) run.abort();
  o.signal?.addEventListener('abort', onCallerAbort, { once: true });

  const inJournal = segments.map((s) => journal?.has(s.key) ?? false);
  const journaledAtStart = inJournal.filter(Boolean).length;
  const held = new Map<number, Buffer>();
  const failed = new Map<number, CastkitError>();
  const missing: MissingSegment[] = [];
  let heldBytes = 0;
  let nextTake = 0;
  let nextCommit = 0;
  let stopTaking = false;
  let fatal: unknown;
  const stats = { committed: 0, committedBytes: 0, fetched: 0, fetchedBytes: 0, fromJournal: 0, retries: 0 };

  // One wake-up list for every "something changed": a completion, a commit, a failure, an abort.
  let waiters: (() => void)[] = [];
  const notify = (): void => {
    const w = waiters;
    waiters = [];
    for (const f of w) f();
  };
  const changed = (): Promise<void> => new Promise((resolve) => waiters.push(resolve));
  /** The consumer waits for the segment due next: after rampMs without it, twice the segments in flight. */
  const awaitHead = (): Promise<void> =>
    new Promise((resolve) => {
      const timer = setTimeout(() => {
        if (limit < concurrency && inFlight >= limit) {
          limit = Math.min(concurrency, limit * 2);
          notify();
        }
        resolve();
      }, rampMs);
      waiters.push(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  run.signal.addEventListener('abort', notify, { once: true });

  const meter = new RateMeter();
  let lastEmit = 0;
  // A change that comes too soon after the last event is shown when the interval ends, not at the next
  // change: that may be long in coming (the head of the line stalled), and the bar would show old counts.
  let trailing: ReturnType<typeof setTimeout> | undefined;
  const progress = (force = false): void => {
    if (!o.onProgress) return;
    const now = Date.now();
    const interval = o.progressIntervalMs ?? SCHEDULER_DEFAULTS.progressIntervalMs;
    if (!force && now - lastEmit < interval) {
      trailing ??= setTimeout(
        () => {
          trailing = undefined;
          progress();
        },
        interval - (now - lastEmit),
      );
      return;
    }
    if (trailing !== undefined) clearTimeout(trailing);
    trailing = undefined;
    lastEmit = now;
    meter.sample(stats.fetched, stats.fetchedBytes);
    const r = meter.rates();
    const toFetch = Math.max(0, n - journaledAtStart - stats.fetched - failed.size);
    o.onProgress({
      phase: 'download',
      unit: 'segments',
      done: stats.committed + missing.length,
      total: n,
      fetched: stats.fetched,
      fromJournal: stats.fromJournal,
      missing: failed.size,
      retries: stats.retries,
      bytes: stats.fetchedBytes,
      ...(r ? { rate: r.segments, bytesPerSec: r.bytes } : {}),
      ...(r && r.segments > 0 ? { etaSec: toFetch / r.segments } : {}),
    });
  };

  // After a 429 or 503 with Retry-After, nothing new goes to that origin before the time it asked for.
  const pauseUntil = new Map<string, number>();
  /** The retry hooks of segment i: wait out its origin's pause, count retries, honour Retry-After. */
  const retryHooks = (i: number, seg: Segment): WithRetryOptions => {
    const origin = originOf(seg.url);
    return {
      signal: run.signal,
      beforeAttempt: async () => {
        const wait = (pauseUntil.get(origin) ?? 0) - Date.now();
        if (wait > 0) await sleep(wait, run.signal);
      },
      onRetry: (e) => {
        stats.retries++;
        if (retryAfterOf(e.error) !== undefined) {
          pauseUntil.set(origin, Math.max(pauseUntil.get(origin) ?? 0, Date.now() + e.delayMs));
        }
        o.onRetry?.({ ...e, index: i, key: seg.key, url: seg.url });
      },
    };
  };
  const fetchWithRetry = (i: number, seg: Segment): Promise<Buffer> =>
    withRetry(async () => toBuffer(await fetchOne(seg, run.signal, allocate)), policy, retryHooks(i, seg));

  // With a journal and the HTTP fetch, bodies go to the journal as they arrive: segments in flight and
  // segments waiting for their turn hold no memory; each is read back from the journal when committed.
  const streaming = journal !== undefined && !o.fetchSegment && client !== undefined;
  const streamed: boolean[] = [];
  const inMemoryAhead = streaming ? Math.max(0, Math.floor(o.inMemoryAhead ?? 0)) : 0;
  /** Segments fetched into memory and not journaled (inMemoryAhead). */
  const unjournaled: boolean[] = [];
  /** Segment i into memory, through the transform as a streamed one goes (inMemoryAhead). */
  const fetchToMemory = (i: number, seg: Segment): Promise<Buffer> =>
    withRetry(
      async () => {
        const transform = await o.transformFor?.(seg, run.signal);
        const body = toBuffer(await fetchOne(seg, run.signal, allocate));
        if (!transform) return body;
        transform.start?.(body.length);
        const out = transform.update(body);
        const tail = transform.final();
        return tail.length > 0 ? Buffer.concat([out, tail]) : out;
      },
      policy,
      retryHooks(i, seg),
    );
  const streamOne = async (i: number, seg: Segment): Promise<number> => {
    const j = journal as SegmentJournal;
    return withRetry(
      async () => {
        const transform = await o.transformFor?.(seg, run.signal);
        const w = j.writer(seg.key);
        await (client as HttpClient).fetch(seg.url, {
          ...o.request,
          range: seg.range,
          signal: run.signal,
          sink: {
            start: (length) => {
              transform?.start?.(length);
              return w.start(length);
            },
            chunk: async (b) => {
              const out = transform ? transform.update(b) : b;
              if (out.length > 0) await w.chunk(out);
            },
          },
        });
        if (transform) {
          const tail = transform.final();
          if (tail.length > 0) await w.chunk(tail);
        }
        await w.done();
        return w.length;
      },
      policy,
      retryHooks(i, seg),
    );
  };

  /** Fetch and journal segment i; undefined when it failed for good (see `failed`) or the run is stopping. */
  const acquire = async (i: number): Promise<Buffer | undefined> => {
    const seg = segments[i] as Segment;
    let bytes: Buffer;
    try {
      if (streaming && i - nextCommit < inMemoryAhead) {
        bytes = await fetchToMemory(i, seg);
        stats.fetched++;
        stats.fetchedBytes += bytes.length;
        unjournaled[i] = true;
        return bytes;
      }
      if (streaming) {
        const length = await streamOne(i, seg);
        stats.fetched++;
        stats.fetchedBytes += length;
        streamed[i] = true;
        return undefined;
      }
      bytes = await fetchWithRetry(i, seg);
    } catch (err) {
      if (run.signal.aborted) return undefined; // interrupted: not the segment's fault
      if (!isCastkitError(err)) {
        fatal ??= err; // a bug, not a bad segment
        run.abort();
        return undefined;
      }
      failed.set(i, err);
      if (!o.allowGaps) stopTaking = true;
      return undefined;
    }
    stats.fetched++;
    stats.fetchedBytes += bytes.length;
    try {
      await journal?.put(seg.key, bytes);
    } catch (err) {
      fatal ??= err;
      run.abort();
      return undefined;
    }
    return bytes;
  };

  const worker = async (): Promise<void> => {
    for (;;) {
      while (nextTake < n && inJournal[nextTake]) nextTake++;
      if (stopTaking || run.signal.aborted || nextTake >= n) return;
      const i = nextTake;
      // Backpressure: the head of the line always goes; others only within the window and byte bound.
      if (i !== nextCommit && (i - nextCommit >= window || heldBytes >= maxHeldBytes || inFlight >= limit)) {
        await changed();
        continue;
      }
      nextTake++;
      inFlight++;
      const bytes = await acquire(i).finally(() => inFlight--);
      if (bytes) {
        held.set(i, bytes);
        heldBytes += bytes.length;
      }
      notify();
      progress();
    }
  };

  let workersLeft = Math.min(concurrency, n);
  const workers = Array.from({ length: workersLeft }, () =>
    worker().finally(() => {
      workersLeft--;
      notify();
    }),
  );

  // Journal reads for committing go into `memory` too, so that the segment after the one being consumed is
  // read meanwhile into memory used before.
  let ahead: { i: number; read: Promise<Buffer | undefined> } | undefined;
  const readStreamed = (i: number): Promise<Buffer | undefined> => {
    const j = journal as SegmentJournal;
    const key = (segments[i] as Segment).key;
    return j.read(key, false, memory.take(j.lengthOf(key)));
  };
  const release = (given: Buffer): void => {
    const freed = o.segmentReleased?.();
    if (freed === true) memory.give(given);
    else if (freed) for (const b of freed) memory.give(b);
  };
  const commit = async (): Promise<void> => {
    while (nextCommit < n && !run.signal.aborted) {
      const i = nextCommit;
      const seg = segments[i] as Segment;
      let bytes = held.get(i);
      let replayed = false;
      if (bytes) {
        held.delete(i);
        heldBytes -= bytes.length;
      } else if (streamed[i]) {
        const pending = ahead?.i === i ? ahead.read : readStreamed(i);
        ahead = undefined;
        bytes = await pending;
        if (!bytes) throw new Error(`segment ${seg.key} was journaled but cannot be read back`);
      } else if (inJournal[i] && journal) {
        bytes = await journal.read(seg.key, true, memory.take(journal.lengthOf(seg.key)));
        if (bytes) {
          stats.fromJournal++;
          replayed = true;
        } else {
          // Damaged on disk (checksum): fetch it again here, at the head of the line.
          inJournal[i] = false;
          bytes = await acquire(i);
          if (!bytes && streamed[i]) bytes = await journal?.read(seg.key, false);
          if (!bytes && !failed.has(i)) return;
        }
      }
      if (!bytes) {
        const error = failed.get(i);
        if (!error) {
          if (workersLeft === 0) return; // stopped: nobody will bring it
          await awaitHead();
          continue;
        }
        if (!o.allowGaps) return;
        const m: MissingSegment = { index: i, key: seg.key, url: seg.url, error };
        missing.push(m);
        await o.onMissing?.(m);
      } else {
        const length = bytes.length; // onSegment may transfer the bytes away (to a worker)
        // The next segment, when it is journaled already (streamed segments are never held), is read
        // while this one is consumed.
        if (streamed[i + 1] && ahead === undefined) ahead = { i: i + 1, read: readStreamed(i + 1) };
        const nextReady = held.has(i + 1) || streamed[i + 1] === true || inJournal[i + 1] === true;
        await o.onSegment(seg.key, bytes, i, replayed, unjournaled[i] === true, nextReady);
        release(bytes);
        stats.committed++;
        stats.committedBytes += length;
      }
      nextCommit++;
      notify();
      progress();
    }
  };

  try {
    await commit();
  } catch (err) {
    fatal ??= err;
    run.abort();
  }
  // A read ahead that was not taken (the run stopped): let it end before the caller closes the journal.
  await ahead?.read.catch(() => undefined);
  await Promise.all(workers);
  // Segments fetched into memory that never got their turn (the run stopped, or the one before failed):
  // journaled now, so that a rerun does not fetch them again.
  if (journal) {
    for (const [i, bytes] of held) {
      if (unjournaled[i]) await journal.put((segments[i] as Segment).key, bytes).catch(() => undefined);
    }
  }
  o.signal?.removeEventListener('abort', onCallerAbort);
  await ownClient?.close().catch(() => undefined);
  progress(true);

  if (fatal !== undefined) throw fatal;
  if (o.signal?.aborted) {
    throw new InterruptedError(`download interrupted after ${stats.committed} of ${n} segments`, {
      details: { completed: stats.committed, total: n },
      hint: journal ? `run the same command again to resume from ${journal.dir}` : undefined,
    });
  }
  if (failed.size > 0 && !o.allowGaps)
    throw missingSegmentsError(segments, failed, stats.committed, journal, n);
  return {
    completed: stats.committed,
    fetched: stats.fetched,
    fromJournal: stats.fromJournal,
    bytes: stats.committedBytes,
    missing,
  };
}

function isPolicy(r: RetryPolicy | RetryPolicyOptions | undefined): r is RetryPolicy {
  return r !== undefined && typeof (r as RetryPolicy).delayMs === 'function';
}

function originOf(url: string): string {
  try {
    return new URL(url).origin;
  } catch {
    return url;
  }
}

function toBuffer(b: Uint8Array): Buffer {
  return Buffer.isBuffer(b) ? b : Buffer.from(b.buffer, b.byteOffset, b.byteLength);
}
