import { closeSync, readSync } from 'node:fs';
import { fileReadBuffer } from '../core/bytes.js';
import { CastkitError, InputError, InterruptedError } from '../core/errors.js';
import type { Demuxer, DemuxOutput, Sample, TrackInfo } from '../formats/media.js';
import type { SampleTable } from '../formats/sample-table.js';
import type { DemuxedInput } from '../formats/timeline.js';
import { openInputSync } from '../sources/file-source.js';
import { IO_BLOCK } from '../storage/write-all.js';
import type { RemuxWarning } from './remux-types.js';

/**
 * Called with the bytes just read; now and then it yields to the event loop, for signals and timers: it
 * returns a promise to await then, and nothing otherwise (an await of nothing is a turn of the microtask
 * queue all the same, once per chunk of a join of thousands).
 */
export type Pace = (bytes: number) => Promise<void> | undefined;

/** A pace shared by all the inputs of one remux: a yield after every `every` bytes read. */
export function pacer(every = 64 << 20): Pace {
  let since = 0;
  return (bytes) => {
    if ((since += bytes) < every) return undefined;
    since = 0;
    return new Promise((r) => setImmediate(r));
  };
}

/** The least a skipping demuxer is read at a time: a moof of a few hundred samples and a box header. */
const SMALL_READ = 16 << 10;

/** Reads `size` bytes of the input at `at` again (a payload no longer in the chunks at hand). */
export type ReadAt = (at: number, size: number) => Uint8Array;

export interface DemuxFileOptions {
  /** Bytes demuxed ahead of the file (a media segment's init segment); sample offsets stay the file's. */
  prefix?: Uint8Array | undefined;
  signal?: AbortSignal | undefined;
  pace: Pace;
  /** Where the demuxer's warnings go, with the input's name. */
  warnings: RemuxWarning[];
  /**
   * Each chunk as read, and where it starts in the input, before the demuxer sees it. It stays valid
   * until the chunk after the next one is read.
   */
  onChunk?: (chunk: Uint8Array, at: number) => void;
  /** The tracks each demuxer output announces (a track may come again with a new config), before its samples. */
  onTracks?: (tracks: TrackInfo[]) => void;
  /** The samples of each demuxer output, in order. */
  onSamples: (samples: Sample[], readAt: ReadAt) => Promise<void>;
  /** After each chunk read has been demuxed: the bytes of the input read or skipped so far. */
  onRead?: (done: number) => Promise<void> | void;
}

/**
 * Demuxes one input file with synchronous reads, in order, jumping over what the demuxer says it will not
 * look at (MP4 sample data). Tracks are collected here (the first of each id), warnings go to
 * `options.warnings`, samples to `options.onSamples`. An input error that does not name the input is
 * thrown again with its name. Returns the tracks and the bytes read or skipped.
 */
export async function demuxFile(
  input: string,
  size: number,
  demuxer: Demuxer,
  options: DemuxFileOptions,
): Promise<{ tracks: TrackInfo[]; bytes: number }> {
  const tracks = new Map<number, TrackInfo>();
  let fd = -1;
  const readAt: ReadAt = (at, n) => {
    const b = new Uint8Array(n);
    if (readSync(fd, b, 0, n, at) !== n) {
      throw new InputError(`${input} ended inside a sample at byte ${at}`, {
        code: 'E_INPUT_CHANGED',
        details: { path: input, offset: at },
      });
    }
    return b;
  };
  let bias = 0;
  const take = async (o: DemuxOutput): Promise<void> => {
    for (const t of o.tracks) if (!tracks.has(t.id)) tracks.set(t.id, t);
    if (o.tracks.length > 0) options.onTracks?.(o.tracks);
    for (const w of o.warnings) options.warnings.push({ ...w, input });
    if (bias !== 0) for (const s of o.samples) if (s.offset !== undefined) s.offset -= bias;
    await options.onSamples(o.samples, readAt);
  };
  if (options.prefix) {
    await take(demuxer.push(options.prefix));
    bias = options.prefix.length;
  }
  fd = openInputSync(input);
  let position = 0;
  try {
    // A demuxer that skips (MP4) is read in small pieces around what it skips: a moof and the mdat header
    // after it fit in SMALL_READ, and a box it is gathering is read whole; the others in large chunks.
    const chunkSize = IO_BLOCK;
    // A demuxer that copies what it keeps gets its chunks in two buffers used in turn (a caller's
    // onChunk may look at the previous chunk while the next is demuxed): no allocation, and none of the
    // page faults, collections and heap fragmentation that come with it, per read.
    const reused = [new Uint8Array(0), new Uint8Array(0)];
    let turn = 0;
    while (position < size) {
      if (options.signal?.aborted) throw new InterruptedError();
      const skippable = Math.min(demuxer.skippable?.() ?? 0, size - position);
      if (skippable > 0 && demuxer.skipAhead) {
        await take(demuxer.skipAhead(skippable));
        position += skippable;
        continue;
      }
      const want = demuxer.skippable
        ? Math.max(SMALL_READ, (demuxer.wanted?.() ?? 0) + SMALL_READ)
        : chunkSize;
      const n0 = Math.min(chunkSize, want, size - position);
      let buf: Uint8Array;
      if (demuxer.inputBuffer) buf = demuxer.inputBuffer(n0);
      else if (demuxer.copiesInput) {
        turn ^= 1;
        if ((reused[turn] as Uint8Array).length < n0) reused[turn] = fileReadBuffer(chunkSize);
        buf = (reused[turn] as Uint8Array).subarray(0, n0);
      } else buf = fileReadBuffer(n0);
      const n = readSync(fd, buf, 0, buf.length, position);
      if (n === 0) break;
      const chunk = n === buf.length ? buf : buf.subarray(0, n);
      options.onChunk?.(chunk, position);
      position += n;
      await take(demuxer.push(chunk));
      await options.onRead?.(position);
      const yielded = options.pace(n);
      if (yielded) await yielded;
    }
    await take(demuxer.end());
  } catch (err) {
    throw namingInput(err, input);
  } finally {
    closeSync(fd);
  }
  return { tracks: [...tracks.values()], bytes: position };
}

/** An input error that does not name its input, again with the name in front. */
function namingInput(err: unknown, input: string): unknown {
  if (err instanceof CastkitError && err.category === 'input' && !err.message.includes(input)) {
    return new InputError(`${input}: ${err.message}`, {
      code: err.code,
      hint: err.hint,
      details: { ...err.details, path: input },
      cause: err,
    });
  }
  return err;
}

/** A demuxed input for the timeline; an input with nothing castkit can remux is an error. */
export function demuxedInput(name: string, tracks: TrackInfo[], samples: SampleTable): DemuxedInput {
  if (tracks.length === 0 || samples.length === 0) {
    throw new InputError(`${name} has no audio or video samples castkit can remux`, {
      code: 'E_NO_SAMPLES',
      hint: 'check that the input plays; castkit remuxes H.264, HEVC, AAC and MP3',
      details: { path: name },
    });
  }
  return { name, tracks, samples };
}

/** The current and the previous chunk of an input, to find FLV payloads (input ranges) without re-reading. */
export class RecentChunks {
  private cur: Uint8Array = new Uint8Array(0);
  private curAt = 0;
  private prev: Uint8Array = new Uint8Array(0);
  private prevAt = 0;

  add(chunk: Uint8Array, at: number): void {
    this.prev = this.cur;
    this.prevAt = this.curAt;
    this.cur = chunk;
    this.curAt = at;
  }

  /** A sample's payload: its data, a view of the chunks, or read again if larger than two chunks. */
  payload(s: Sample, readAt: ReadAt): Uint8Array {
    if (s.data) return s.data;
    const { cur, curAt, prev, prevAt } = this;
    const at = s.offset ?? 0;
    if (at >= curAt && at + s.size <= curAt + cur.length)
      return cur.subarray(at - curAt, at - curAt + s.size);
    if (at >= prevAt && at + s.size <= prevAt + prev.length) {
      return prev.subarray(at - prevAt, at - prevAt + s.size);
    }
    if (at >= prevAt && at + s.size <= curAt + cur.length && prevAt + prev.length === curAt) {
      const b = new Uint8Array(s.size);
      const fromPrev = Math.max(0, prevAt + prev.length - at);
      b.set(prev.subarray(at - prevAt, at - prevAt + fromPrev), 0);
      b.set(cur.subarray(0, s.size - fromPrev), fromPrev);
      return b;
    }
    return readAt(at, s.size);
  }
}
