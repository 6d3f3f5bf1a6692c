/**
 * A progressive MP4 writer (ISO/IEC 14496-12, 14496-14). The caller decides the order of the payloads in
 * the mdat and writes them itself (copying input ranges straight to the output); this module only plans:
 * it returns the bytes that go before the payloads (ftyp, moov with faststart, mdat header) and after them
 * (moov without faststart).
 */
import { ByteWriter, concatBytes } from '../../core/bytes.js';
import { UsageError } from '../../core/errors.js';
import type { TrackInfo } from '../media.js';
import { SampleTable } from '../sample-table.js';
import { freeBox, fullBox, mdatHeader } from './isobmff-boxes.js';
import type { Mp4Edit } from './isobmff-moov.js';
import {
  type Brands,
  type EditOut,
  movieTimescaleOf,
  rescale,
  writeFtyp,
  writeMvhd,
  writeTrak,
} from './isobmff-moov-writer.js';

export interface PlanMp4Options {
  /** moov before mdat, so that playback can start before the whole file is read (default true). */
  faststart?: boolean;
  /** ftyp brands (default isom/512 with isom, iso2, avc1 when there is H.264, mp41). */
  brands?: Brands;
  /** mvhd timescale (default: the first video track's timescale, else the first track's). */
  movieTimescale?: number;
  /**
   * With faststart: make the head exactly this many bytes, with a `free` box (8.1.2) between the moov and
   * the mdat header, so that media data written before the moov was known can stay where it is. A
   * RangeError when the head needs more.
   */
  headSize?: number;
  /**
   * With faststart and no headSize: the room reserved before media data written early. The head is made
   * exactly this size when the moov fits in it (as headSize), else as small as it can be, and the caller
   * moves the media behind it (`Mp4Plan.head.length !== room` tells). One plan either way.
   */
  room?: number;
  /**
   * Payloads are where each sample's `offset` says (relative to the payload start), not back to back in
   * the order given: for media data written while demuxing, where some samples were later dropped. A gap
   * or a jump starts a new chunk.
   */
  explicitOffsets?: boolean;
  /** With explicitOffsets: the bytes written into mdat (dropped samples' bytes at the end count too). */
  payloadSize?: number;
  /**
   * Seconds of presentation at the most: each track's edit list ends there (a recording cut to a length
   * whose last video frames are presented after it). The samples past it are cutToPresentation's to drop.
   */
  endSec?: number;
}

export interface Mp4Plan {
  /** ftyp + moov + mdat header (faststart), or ftyp + mdat header. */
  head: Uint8Array;
  /** Empty (faststart), or the moov. */
  tail: Uint8Array;
  /** Bytes of sample payloads the caller writes between head and tail, in the order given. */
  payloadSize: number;
  /** The movie's duration (mvhd), seconds: what a player or ffprobe reads as the file's duration. */
  durationSec: number;
}

/** A track given to the writers: TrackInfo, and the input's edit list when it had one. */
export type Mp4WriterTrack = TrackInfo & { edit?: Mp4Edit };

/** One track's sample tables, in decode order, as the table builder takes them. */
export interface TrackTables {
  /** Per-sample duration, ticks (stts). */
  durations: ArrayLike<number>;
  /** Per-sample composition offset, ticks (ctts). */
  cts: ArrayLike<number>;
  /** Per-sample size, bytes (stsz). */
  sizes: ArrayLike<number>;
  /** Per-sample sync flag, 1 or 0 (stss). */
  keyframes: ArrayLike<number>;
  /** Chunk offsets relative to `base` (stco/co64), and the number of samples in each chunk (stsc). */
  chunkOffsets: ArrayLike<number>;
  chunkCounts: ArrayLike<number>;
  /** What the box writers would otherwise count with a pass over the samples each (planMp4 has them). */
  stats?: TableStats;
}

/** Counts over one track's tables, gathered while they are filled. */
export interface TableStats {
  /** Runs of equal durations (stts entries). */
  durationRuns: number;
  /** Runs of equal composition offsets (ctts entries). */
  ctsRuns: number;
  /** Some composition offset is not 0; some is negative. */
  anyCts: boolean;
  negativeCts: boolean;
  /** Sync samples. */
  sync: number;
  /** Every sample has the first one's size. */
  sameSize: boolean;
  /** Runs of chunks with equal sample counts (stsc entries). */
  chunkRuns: number;
  /** The largest chunk offset (before `base`). */
  maxChunkOffset: number;
}

/** Tables with their counts, as the box writers take them. */
export type CountedTables = TrackTables & { stats: TableStats };

const U32_LIMIT = 2 ** 32;
/** Uint32Array bytes are little-endian here (they are copied, then swapped to big-endian, for stsz). */
const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

/**
 * Write stts, ctts, stss, stsz, stsc and stco/co64 (8.6.1.2, 8.6.1.3, 8.6.2, 8.7.3.2, 8.7.4, 8.7.5) into
 * an stbl being written. Chunk offsets are `base + chunkOffsets[i]`; co64 is used when any of them is at
 * or above 2^32. ctts is left out when every offset is 0 and is version 1 when one is negative; stss is
 * left out when every sample is a sync sample.
 */
export function writeSampleTables(w: ByteWriter, t: TrackTables, base: number): void {
  const counted = { ...t, stats: t.stats ?? countTables(t) };
  writeSampleTablesBeforeOffsets(w, counted);
  writeChunkOffsets(w, counted, base);
}

/** stts, ctts, stss, stsz and stsc: everything of the sample tables that does not depend on `base`. */
export function writeSampleTablesBeforeOffsets(w: ByteWriter, t: CountedTables): void {
  const n = t.sizes.length;
  const stats = t.stats;
  // stts: runs of equal durations
  runs(w, 'stts', 0, n, t.durations, stats.durationRuns);
  // ctts
  if (stats.anyCts) runs(w, 'ctts', stats.negativeCts ? 1 : 0, n, t.cts, stats.ctsRuns);
  // stss
  const sync = stats.sync;
  if (sync < n) {
    fullBox(w, 'stss', 0, 0, (b) => {
      b.u32(sync);
      let at = b.claim(4 * sync);
      const v = b.dataView;
      for (let i = 0; i < n; i++) {
        if (!t.keyframes[i]) continue;
        v.setUint32(at, i + 1);
        at += 4;
      }
    });
  }
  // stsz: one size for all when they are all equal
  const first = t.sizes[0] as number;
  fullBox(w, 'stsz', 0, 0, (b) => {
    if (stats.sameSize) b.u32(first).u32(n);
    else {
      b.u32(0).u32(n);
      const at = b.claim(4 * n);
      const v = b.dataView;
      const sizes = t.sizes;
      if (sizes instanceof Uint32Array && LITTLE_ENDIAN) {
        // The sizes' bytes, then swapped to big-endian in place: two native calls instead of a loop.
        const out = Buffer.from(v.buffer, v.byteOffset + at, 4 * n);
        out.set(new Uint8Array(sizes.buffer, sizes.byteOffset, 4 * n));
        out.swap32();
      } else for (let i = 0; i < n; i++) v.setUint32(at + 4 * i, sizes[i] as number);
    }
  });
  // stsc: a new entry whenever the samples-per-chunk changes
  const chunks = t.chunkCounts.length;
  const entries = stats.chunkRuns;
  fullBox(w, 'stsc', 0, 0, (b) => {
    b.u32(entries);
    let at = b.claim(12 * entries);
    const v = b.dataView;
    for (let c = 0; c < chunks; c++) {
      if (c > 0 && t.chunkCounts[c] === t.chunkCounts[c - 1]) continue;
      v.setUint32(at, c + 1);
      v.setUint32(at + 4, t.chunkCounts[c] as number);
      v.setUint32(at + 8, 1);
      at += 12;
    }
  });
}

/** stco, or co64 when a chunk starts at or above 2^32: `base + chunkOffsets[i]`. */
export function writeChunkOffsets(w: ByteWriter, t: CountedTables, base: number): void {
  const chunks = t.chunkCounts.length;
  const wide = chunks > 0 && base + t.stats.maxChunkOffset >= U32_LIMIT;
  fullBox(w, wide ? 'co64' : 'stco', 0, 0, (b) => {
    b.u32(chunks);
    const at = b.claim((wide ? 8 : 4) * chunks);
    const v = b.dataView;
    for (let c = 0; c < chunks; c++) {
      const o = base + (t.chunkOffsets[c] as number);
      if (wide) {
        v.setUint32(at + 8 * c, Math.floor(o / U32_LIMIT));
        v.setUint32(at + 8 * c + 4, o >>> 0);
      } else v.setUint32(at + 4 * c, o);
    }
  });
}

/** The counts the tables' writer needs, for tables that come without them. */
function countTables(t: TrackTables): TableStats {
  const n = t.sizes.length;
  const stats = emptyStats();
  stats.sameSize = n > 0;
  for (let c = 0; c < t.chunkCounts.length; c++) {
    if (c === 0 || t.chunkCounts[c] !== t.chunkCounts[c - 1]) stats.chunkRuns++;
    stats.maxChunkOffset = Math.max(stats.maxChunkOffset, t.chunkOffsets[c] as number);
  }
  const first = t.sizes[0] as number;
  for (let i = 0; i < n; i++) {
    const c = t.cts[i] as number;
    if (i === 0 || t.durations[i] !== t.durations[i - 1]) stats.durationRuns++;
    if (i === 0 || c !== t.cts[i - 1]) stats.ctsRuns++;
    if (c !== 0) stats.anyCts = true;
    if (c < 0) stats.negativeCts = true;
    if (t.keyframes[i]) stats.sync++;
    if (t.sizes[i] !== first) stats.sameSize = false;
  }
  return stats;
}

/** The counts of tables with no samples and no chunks. */
function emptyStats(): TableStats {
  return {
    durationRuns: 0,
    ctsRuns: 0,
    anyCts: false,
    negativeCts: false,
    sync: 0,
    sameSize: false,
    chunkRuns: 0,
    maxChunkOffset: 0,
  };
}

/** A run-length table of (count, value) pairs: stts, ctts; `entries` is the number of runs. */
function runs(
  w: ByteWriter,
  type: string,
  version: number,
  n: number,
  values: ArrayLike<number>,
  entries: number,
): void {
  fullBox(w, type, version, 0, (b) => {
    b.u32(entries);
    let at = b.claim(8 * entries);
    const v = b.dataView;
    let i = 0;
    while (i < n) {
      const value = values[i] as number;
      let j = i + 1;
      while (j < n && values[j] === value) j++;
      v.setUint32(at, j - i);
      if (version === 1) v.setInt32(at + 4, value);
      else v.setUint32(at + 4, value >>> 0);
      at += 8;
      i = j;
    }
  });
}

interface WorkTables {
  durations: Uint32Array;
  cts: Int32Array;
  sizes: Uint32Array;
  keyframes: Uint8Array;
  chunkOffsets: Float64Array;
  chunkCounts: Uint32Array;
  /** Filled in at the end of gather() for a track with samples. */
  stats: TableStats;
}

interface TrackPlan {
  track: Mp4WriterTrack;
  outId: number;
  tables: WorkTables;
  count: number;
  firstDts: number;
  firstCts: number;
  mediaDuration: number;
  /** The end of the last presented sample on our media timeline: max(dts + cts + duration). */
  compositionEnd: number;
  bytes: number;
  maxBitrate: number;
  maxSample: number;
}

/**
 * Plan a progressive MP4. `samples` are in the order their payloads will be written into the mdat (each
 * track's samples in decode order); consecutive samples of one track form a chunk. Track ids are renumbered
 * 1..n in the order of `tracks`.
 *
 * Timing: each sample's duration is the distance to the next sample's dts (so decode times are kept even
 * across gaps); the last one uses its own duration, or the previous one's when 0. A track that carries the
 * input's edit list keeps it; otherwise an edit list makes presentation start at 0 when the first sample's
 * composition time is not 0 (as ffmpeg does for B-frames), with an empty edit for a track that starts later
 * than the earliest one, so the tracks stay in sync.
 */
export function planMp4(
  tracks: readonly Mp4WriterTrack[],
  samples: SampleTable,
  options: PlanMp4Options = {},
): Mp4Plan {
  if (tracks.length === 0) throw new UsageError('planMp4: no tracks', { code: 'E_MP4_PLAN' });
  const explicit = options.explicitOffsets === true;
  const { plans, payloadEnd } = gather(tracks, samples, explicit);
  const movieTs = options.movieTimescale ?? movieTimescaleOf(tracks);
  const edits = planEdits(plans, movieTs, options.endSec);
  let payloadSize = payloadEnd;
  if (explicit && options.payloadSize !== undefined) payloadSize = Math.max(payloadSize, options.payloadSize);
  const hdr = mdatHeader(payloadSize);
  const ftyp = new ByteWriter(64);
  writeFtyp(ftyp, options.brands ?? defaultBrands(tracks));

  // The track durations first (mvhd comes before the traks), then one writer sized for the tables.
  const tkhdDurations = plans.map((p, k) => {
    const e = edits[k];
    return e ? e.delay + e.duration : rescale(p.mediaDuration, p.track.timescale, movieTs);
  });
  const duration = Math.max(0, ...tkhdDurations);
  const durationSec = duration / movieTs;
  let capacity = 4096;
  for (const p of plans) capacity += 1024 + p.count * 25 + p.tables.chunkCounts.length * 20;
  // Only the chunk offsets depend on where the media data starts: the rest of each track's tables is
  // written once, however many times the moov is built to find its size.
  const fixedTables = plans.map((p) => {
    const t = new ByteWriter(1024 + p.count * 25 + p.tables.chunkCounts.length * 12);
    writeSampleTablesBeforeOffsets(t, p.tables);
    return t.view8();
  });
  const build = (base: number): Uint8Array => {
    const w = new ByteWriter(capacity);
    w.u32(0).ascii('moov');
    writeMvhd(w, movieTs, duration, plans.length + 1);
    for (let k = 0; k < plans.length; k++) {
      const p = plans[k] as TrackPlan;
      const e = edits[k];
      const seconds = p.mediaDuration / p.track.timescale;
      writeTrak(w, p.track, {
        trackId: p.outId,
        duration: tkhdDurations[k] as number,
        mediaDuration: p.mediaDuration,
        ...(e ? { edit: e } : {}),
        tables: (st) => {
          st.bytes(fixedTables[k] as Uint8Array);
          writeChunkOffsets(st, p.tables, base);
        },
        avgBitrate: seconds > 0 ? (p.bytes * 8) / seconds : 0,
        maxBitrate: p.maxBitrate,
        bufferSize: p.maxSample,
      });
    }
    w.setU32(0, w.length);
    return w.view8();
  };

  const faststart = options.faststart ?? true;
  if (!faststart) {
    const base = ftyp.length + hdr.length;
    return { head: concatBytes([ftyp.view8(), hdr]), tail: build(base), payloadSize, durationSec };
  }
  const fixed = options.headSize ?? options.room;
  if (fixed !== undefined) {
    // The payload starts at `fixed` whatever the moov's size: one build places every chunk.
    const moov = build(fixed);
    const pad = fixed - ftyp.length - moov.length - hdr.length;
    const free = freeBox(pad);
    if (free) {
      return {
        head: concatBytes([ftyp.view8(), moov, free, hdr]),
        tail: new Uint8Array(0),
        payloadSize,
        durationSec,
      };
    }
    if (options.headSize !== undefined) {
      throw new RangeError(`the MP4 head needs ${fixed - pad + 8} bytes; ${fixed} were reserved`);
    }
    // `room` is too small (or leaves no room for a free box): the smallest head, below.
  }
  // The moov's size does not depend on the chunk offsets, only on stco vs co64: build until it is stable.
  let moov = build(0);
  for (;;) {
    const next = build(ftyp.length + moov.length + hdr.length);
    const stable = next.length === moov.length;
    moov = next;
    if (stable) break;
  }
  return { head: concatBytes([ftyp.view8(), moov, hdr]), tail: new Uint8Array(0), payloadSize, durationSec };
}

function defaultBrands(tracks: readonly TrackInfo[]): Brands {
  const compatible = ['isom', 'iso2'];
  if (tracks.some((t) => t.codec === 'avc')) compatible.push('avc1');
  compatible.push('mp41');
  return { major: 'isom', minor: 512, compatible };
}

/**
 * Split the samples per track into decode-order tables and chunks, and find where the payloads end. Two
 * passes over the samples in all (count, then fill), each touching every sample once whatever the number
 * of tracks, and the counts the box writer needs (TableStats) taken on the way: this runs once per output,
 * mostly before the JIT has optimized it, so the number of passes is what it costs (each pass over 23,000
 * samples is a few milliseconds of interpreted code).
 */
function gather(
  tracks: readonly Mp4WriterTrack[],
  samples: SampleTable,
  explicit = false,
): { plans: TrackPlan[]; payloadEnd: number } {
  const seen = new Set<number>();
  for (const t of tracks) {
    if (seen.has(t.id)) throw new UsageError(`planMp4: track id ${t.id} given twice`, { code: 'E_MP4_PLAN' });
    seen.add(t.id);
  }
  const n = samples.length;
  const ids = samples.trackId;
  const sizes = samples.size;
  const offsets = samples.offset;
  const T = tracks.length;
  // Track index by id (ids are 16-bit in a sample table); -1 for a track not in the list.
  const slot = new Int16Array(65536).fill(-1);
  tracks.forEach((t, k) => {
    if (t.id >= 0 && t.id < 65536) slot[t.id] = k;
  });

  // Pass 1: samples and chunks per track. A sample starts a chunk when the one before it in the mdat is
  // another track's or (explicit offsets) does not end where it starts.
  const counts = new Int32Array(T);
  const chunkCounts = new Int32Array(T);
  let prevId = -1;
  let prevEnd = 0;
  // Explicit offsets: the end of the payload that ends last; otherwise the sum of the sizes.
  let payloadEnd = 0;
  for (let j = 0; j < n; j++) {
    const id = ids[j] as number;
    const k = slot[id] as number;
    if (k < 0) {
      throw new UsageError(`planMp4: a sample refers to track ${id}, which is not in the track list`, {
        code: 'E_MP4_PLAN',
      });
    }
    counts[k] = (counts[k] as number) + 1;
    if (id !== prevId || (explicit && offsets[j] !== prevEnd))
      chunkCounts[k] = (chunkCounts[k] as number) + 1;
    prevId = id;
    if (explicit) {
      prevEnd = (offsets[j] as number) + (sizes[j] as number);
      if (prevEnd > payloadEnd) payloadEnd = prevEnd;
    } else payloadEnd += sizes[j] as number;
  }

  const work: WorkTables[] = [];
  for (let k = 0; k < T; k++) {
    const count = counts[k] as number;
    const chunks = chunkCounts[k] as number;
    work.push({
      durations: new Uint32Array(count),
      cts: new Int32Array(count),
      sizes: new Uint32Array(count),
      keyframes: new Uint8Array(count),
      chunkOffsets: new Float64Array(chunks),
      chunkCounts: new Uint32Array(chunks),
      stats: emptyStats(),
    });
  }

  // Pass 2: fill, and per track as it goes: each sample's duration (the distance to the next dts of its
  // track), the media duration, the end of presentation and the busiest second's bytes. Without explicit
  // offsets, payloads are back to back in the order given.
  const next = new Int32Array(T);
  const chunk = new Int32Array(T).fill(-1);
  const bytes = new Float64Array(T);
  const maxSample = new Float64Array(T);
  const lastGiven = new Float64Array(T);
  const firstDts = new Float64Array(T);
  const prevDts = new Float64Array(T);
  const total = new Float64Array(T);
  const end = new Float64Array(T);
  const second = new Float64Array(T);
  const secondBytes = new Float64Array(T);
  const busiest = new Float64Array(T);
  const timescale = Float64Array.from(tracks, (t) => t.timescale);
  // TableStats, per track.
  const durationRuns = new Int32Array(T);
  const ctsRuns = new Int32Array(T);
  const anyCts = new Uint8Array(T);
  const negativeCts = new Uint8Array(T);
  const sync = new Int32Array(T);
  const otherSize = new Uint8Array(T);
  const chunkRuns = new Int32Array(T);
  const maxChunkOffset = new Float64Array(T);
  const sDts = samples.dts;
  const sCts = samples.cts;
  const sKey = samples.keyframe;
  const sDur = samples.duration;
  let at = 0;
  prevId = -1;
  prevEnd = 0;
  for (let j = 0; j < n; j++) {
    const id = ids[j] as number;
    const k = slot[id] as number;
    const t = work[k] as WorkTables;
    const size = sizes[j] as number;
    const start = explicit ? (offsets[j] as number) : at;
    if (id !== prevId || (explicit && start !== prevEnd)) {
      const c = (chunk[k] as number) + 1;
      chunk[k] = c;
      t.chunkOffsets[c] = start;
      if (start > (maxChunkOffset[k] as number)) maxChunkOffset[k] = start;
      // The chunk before this one is complete: a new stsc entry if its count differs from the one before.
      if (c === 1 || (c > 1 && t.chunkCounts[c - 1] !== t.chunkCounts[c - 2]))
        chunkRuns[k] = (chunkRuns[k] as number) + 1;
    }
    const c = chunk[k] as number;
    t.chunkCounts[c] = (t.chunkCounts[c] as number) + 1;
    const i = next[k] as number;
    next[k] = i + 1;
    const dts = sDts[j] as number;
    if (i === 0) firstDts[k] = dts;
    else {
      // Decode times must not go back (8.6.1.2: sample_delta is unsigned); a step back becomes 0.
      const delta = dts - (prevDts[k] as number);
      const du = delta > 0 ? Math.min(delta, U32_LIMIT - 1) : 0;
      t.durations[i - 1] = du;
      if (i === 1 || t.durations[i - 1] !== t.durations[i - 2])
        durationRuns[k] = (durationRuns[k] as number) + 1;
      const e = (total[k] as number) + (t.cts[i - 1] as number) + du;
      if (e > (end[k] as number)) end[k] = e;
      total[k] = (total[k] as number) + du;
    }
    prevDts[k] = dts;
    // esds maxBitrate: the most bytes in any one second of decode time.
    const sec = Math.floor((dts - (firstDts[k] as number)) / (timescale[k] as number));
    if (i === 0 || sec !== second[k]) {
      if ((secondBytes[k] as number) > (busiest[k] as number)) busiest[k] = secondBytes[k] as number;
      second[k] = sec;
      secondBytes[k] = 0;
    }
    secondBytes[k] = (secondBytes[k] as number) + size;
    const cts = sCts[j] as number;
    t.cts[i] = cts;
    if (i === 0 || cts !== t.cts[i - 1]) ctsRuns[k] = (ctsRuns[k] as number) + 1;
    if (cts !== 0) anyCts[k] = 1;
    if (cts < 0) negativeCts[k] = 1;
    t.sizes[i] = size;
    if (size !== t.sizes[0]) otherSize[k] = 1;
    const key = sKey[j] as number;
    t.keyframes[i] = key;
    if (key) sync[k] = (sync[k] as number) + 1;
    lastGiven[k] = sDur[j] as number;
    bytes[k] = (bytes[k] as number) + size;
    if (size > (maxSample[k] as number)) maxSample[k] = size;
    prevId = id;
    prevEnd = start + size;
    at += size;
  }

  const plans = tracks.map((track, k): TrackPlan => {
    const count = counts[k] as number;
    const t = work[k] as WorkTables;
    const p: TrackPlan = {
      track,
      outId: k + 1,
      tables: t,
      count,
      firstDts: 0,
      firstCts: 0,
      mediaDuration: 0,
      compositionEnd: 0,
      bytes: bytes[k] as number,
      maxBitrate: Math.max(busiest[k] as number, secondBytes[k] as number) * 8,
      maxSample: maxSample[k] as number,
    };
    if (count === 0) return p;
    // The last sample's duration: its own, or the one before it's when 0.
    const given = lastGiven[k] as number;
    const last =
      given > 0 ? Math.min(given, U32_LIMIT - 1) : count > 1 ? (t.durations[count - 2] as number) : 0;
    t.durations[count - 1] = last;
    if (count === 1 || t.durations[count - 1] !== t.durations[count - 2])
      durationRuns[k] = (durationRuns[k] as number) + 1;
    // The last chunk is complete now.
    const lastChunk = t.chunkCounts.length - 1;
    if (lastChunk === 0 || t.chunkCounts[lastChunk] !== t.chunkCounts[lastChunk - 1])
      chunkRuns[k] = (chunkRuns[k] as number) + 1;
    t.stats = {
      durationRuns: durationRuns[k] as number,
      ctsRuns: ctsRuns[k] as number,
      anyCts: anyCts[k] === 1,
      negativeCts: negativeCts[k] === 1,
      sync: sync[k] as number,
      sameSize: otherSize[k] === 0,
      chunkRuns: chunkRuns[k] as number,
      maxChunkOffset: maxChunkOffset[k] as number,
    };
    p.firstDts = firstDts[k] as number;
    p.firstCts = t.cts[0] as number;
    p.mediaDuration = (total[k] as number) + last;
    p.compositionEnd = Math.max(end[k] as number, (total[k] as number) + (t.cts[count - 1] as number) + last);
    return p;
  });
  return { plans, payloadEnd };
}

/**
 * Where presentation starts on the media timeline, seconds: the earliest first presentation time of the
 * tracks without a usable input edit list (planEdits gives each of those an edit relative to it).
 */
function presentationZero(
  firsts: readonly { track: Mp4WriterTrack; firstDts: number; firstCts: number }[],
): number {
  let t0 = Infinity;
  let edited = false;
  for (const f of firsts) {
    if (usableEdit(f)) edited = true;
    else t0 = Math.min(t0, (f.firstDts + f.firstCts) / f.track.timescale);
  }
  // Tracks that keep an edit list are presented from decode time 0 on: a track without one that starts
  // later (joined from a later input) is delayed by its start, not moved to the beginning.
  return edited ? Math.min(t0, 0) : t0;
}

/**
 * Edit lists for each track (undefined: none needed), durations in the movie timescale. With `endSec`, no
 * track is presented past it (an edit ends there, added when the track had none).
 */
function planEdits(plans: TrackPlan[], movieTs: number, endSec?: number): (EditOut | undefined)[] {
  const out: (EditOut | undefined)[] = [];
  const t0 = presentationZero(plans.filter((p) => p.count > 0));
  const cap = endSec !== undefined ? Math.round(endSec * movieTs) : Infinity;
  const capped = (e: EditOut): EditOut => ({
    ...e,
    duration: Math.max(0, Math.min(e.duration, cap - e.delay)),
  });
  for (const p of plans) {
    const ts = p.track.timescale;
    if (p.count === 0) {
      out.push(undefined);
      continue;
    }
    const e = usableEdit(p);
    if (e) {
      // Keep the input's edit. Our decode times start at 0, so the media time moves by the first dts.
      const mediaTime = e.mediaTime - p.firstDts;
      const duration = e.duration > 0 ? e.duration : Math.max(0, p.compositionEnd - mediaTime);
      out.push(
        capped({ delay: rescale(e.delay, ts, movieTs), mediaTime, duration: rescale(duration, ts, movieTs) }),
      );
      continue;
    }
    const mediaTime = Math.max(0, p.firstCts);
    const delay = Math.round(((p.firstDts + p.firstCts) / ts - t0) * movieTs);
    const duration = rescale(Math.max(0, p.compositionEnd - mediaTime), ts, movieTs);
    if (mediaTime === 0 && delay <= 0 && duration <= cap) {
      out.push(undefined);
      continue;
    }
    out.push(capped({ delay: Math.max(0, delay), mediaTime, duration }));
  }
  return out;
}

/**
 * The samples presented in the first `endSec` seconds of the MP4 planMp4 would make of them (the same
 * presentation start, edit lists included): video in decode order up to the first whose decode time is at
 * or past the end (so nothing kept refers to a frame left out; the few kept frames presented later are
 * hidden by the edit list that planMp4's `endSec` ends there), audio and the rest by presentation time. A
 * new table; the input is left as it is.
 */
export function cutToPresentation(
  tracks: readonly Mp4WriterTrack[],
  samples: SampleTable,
  endSec: number,
): SampleTable {
  const firsts = tracks.flatMap((track) => {
    const i = samples.firstOf(track.id);
    return i < 0 ? [] : [{ track, firstDts: samples.dts[i] as number, firstCts: samples.cts[i] as number }];
  });
  const t0 = presentationZero(firsts);
  // Per track id: the media time (timeline ticks) at which its presentation reaches endSec.
  const ends = new Map<number, { end: number; byDecode: boolean }>();
  for (const f of firsts) {
    const ts = f.track.timescale;
    const e = usableEdit(f);
    const end = e ? e.mediaTime + Math.round(endSec * ts) - e.delay : Math.round((t0 + endSec) * ts);
    ends.set(f.track.id, { end, byDecode: f.track.kind === 'video' });
  }
  const out = new SampleTable(samples.length);
  for (let i = 0; i < samples.length; i++) {
    const cut = ends.get(samples.trackId[i] as number);
    const dts = samples.dts[i] as number;
    const at = cut?.byDecode ? dts : dts + (samples.cts[i] as number);
    if (!cut || at < cut.end) out.copyFrom(samples, i);
  }
  return out;
}

function usableEdit(p: { track: Mp4WriterTrack; firstDts: number }): Mp4Edit | undefined {
  const e = p.track.edit;
  return e && e.mediaTime - p.firstDts >= 0 ? e : undefined;
}
