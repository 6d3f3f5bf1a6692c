/**
 * A progressive MP4 writer (ISO/IEC 14496-12, 14496-14). The caller decides the order of the payloads in
 * the mdat and writes them itself (copying input ranges straight to the output); this module only plans:
 * it returns the bytes that go before the payloads (ftyp, moov with faststart, mdat header) and after them
 * (moov without faststart).
 */
import { ByteWriter } from '../../core/bytes.js';
import { UsageError } from '../../core/errors.js';
import type { TrackInfo } from '../media.js';
import type { SampleTable } from '../sample-table.js';
import { fullBox, mdatHeader } from './isobmff-boxes.js';
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
   * Payloads are where each sample's `offset` says (relative to the payload start), not back to back in
   * the order given: for media data written while demuxing, where some samples were later dropped. A gap
   * or a jump starts a new chunk.
   */
  explicitOffsets?: boolean;
  /** With explicitOffsets: the bytes written into mdat (dropped samples' bytes at the end count too). */
  payloadSize?: number;
}

export interface Mp4Plan {
  /** ftyp + moov + mdat header (faststart), or ftyp + mdat header. */
  head: Uint8Array;
  /** Empty (faststart), or the moov. */
  tail: Uint8Array;
  /** Bytes of sample payloads the caller writes between head and tail, in the order given. */
  payloadSize: number;
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
}

const U32_LIMIT = 2 ** 32;

/**
 * Write stts, ctts, stss, stsz, stsc and stco/co64 (8.6.1.2, 8.6.1.3, 8.6.2, 8.7.3.2, 8.7.4, 8.7.5) into
 * an stbl being written. Chunk offsets are `base + chunkOffsets[i]`; co64 is used when any of them is at
 * or above 2^32. ctts is left out when every offset is 0 and is version 1 when one is negative; stss is
 * left out when every sample is a sync sample.
 */
export function writeSampleTables(w: ByteWriter, t: TrackTables, base: number): void {
  const n = t.sizes.length;
  // stts: runs of equal durations
  runs(w, 'stts', 0, n, t.durations);
  // ctts
  let anyCts = false;
  let negative = false;
  for (let i = 0; i < n; i++) {
    const c = t.cts[i] as number;
    if (c !== 0) anyCts = true;
    if (c < 0) negative = true;
  }
  if (anyCts) runs(w, 'ctts', negative ? 1 : 0, n, t.cts);
  // stss
  let sync = 0;
  for (let i = 0; i < n; i++) sync += t.keyframes[i] ? 1 : 0;
  if (sync < n) {
    fullBox(w, 'stss', 0, 0, (b) => {
      b.u32(sync);
      for (let i = 0; i < n; i++) if (t.keyframes[i]) b.u32(i + 1);
    });
  }
  // stsz: one size for all when they are all equal
  let same = n > 0;
  const first = t.sizes[0] as number;
  for (let i = 1; i < n && same; i++) same = t.sizes[i] === first;
  fullBox(w, 'stsz', 0, 0, (b) => {
    if (same) b.u32(first).u32(n);
    else {
      b.u32(0).u32(n);
      for (let i = 0; i < n; i++) b.u32(t.sizes[i] as number);
    }
  });
  // stsc: a new entry whenever the samples-per-chunk changes
  const chunks = t.chunkCounts.length;
  let entries = 0;
  for (let c = 0; c < chunks; c++) if (c === 0 || t.chunkCounts[c] !== t.chunkCounts[c - 1]) entries++;
  fullBox(w, 'stsc', 0, 0, (b) => {
    b.u32(entries);
    for (let c = 0; c < chunks; c++) {
      if (c === 0 || t.chunkCounts[c] !== t.chunkCounts[c - 1])
        b.u32(c + 1)
          .u32(t.chunkCounts[c] as number)
          .u32(1);
    }
  });
  // stco / co64
  let max = 0;
  for (let c = 0; c < chunks; c++) max = Math.max(max, base + (t.chunkOffsets[c] as number));
  if (max >= U32_LIMIT) {
    fullBox(w, 'co64', 0, 0, (b) => {
      b.u32(chunks);
      for (let c = 0; c < chunks; c++) b.u64(base + (t.chunkOffsets[c] as number));
    });
  } else {
    fullBox(w, 'stco', 0, 0, (b) => {
      b.u32(chunks);
      for (let c = 0; c < chunks; c++) b.u32(base + (t.chunkOffsets[c] as number));
    });
  }
}

/** A run-length table of (count, value) pairs: stts, ctts. */
function runs(w: ByteWriter, type: string, version: number, n: number, values: ArrayLike<number>): void {
  fullBox(w, type, version, 0, (b) => {
    const countAt = b.length;
    b.u32(0);
    let entries = 0;
    let i = 0;
    while (i < n) {
      const v = values[i] as number;
      let j = i + 1;
      while (j < n && values[j] === v) j++;
      b.u32(j - i);
      if (version === 1) b.i32(v);
      else b.u32(v);
      entries++;
      i = j;
    }
    b.setU32(countAt, entries);
  });
}

interface WorkTables {
  durations: Uint32Array;
  cts: Int32Array;
  sizes: Uint32Array;
  keyframes: Uint8Array;
  chunkOffsets: Float64Array;
  chunkCounts: Uint32Array;
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
  const plans = gather(tracks, samples, explicit);
  const movieTs = options.movieTimescale ?? movieTimescaleOf(tracks);
  const edits = planEdits(plans, movieTs);
  let payloadSize = 0;
  for (let i = 0; i < samples.length; i++) {
    const size = samples.size[i] as number;
    payloadSize = explicit ? Math.max(payloadSize, (samples.offset[i] as number) + size) : payloadSize + size;
  }
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
  let capacity = 4096;
  for (const p of plans) capacity += 1024 + p.count * 25 + p.tables.chunkCounts.length * 20;
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
        tables: (st) => writeSampleTables(st, p.tables, base),
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
    return { head: concat([ftyp.view8(), hdr]), tail: build(base), payloadSize };
  }
  if (options.headSize !== undefined) {
    // The payload starts at headSize whatever the moov's size: one build places every chunk.
    const moov = build(options.headSize);
    const pad = options.headSize - ftyp.length - moov.length - hdr.length;
    if (pad < 8 && pad !== 0) {
      throw new RangeError(
        `the MP4 head needs ${options.headSize - pad + 8} bytes; ${options.headSize} were reserved`,
      );
    }
    const free = new Uint8Array(pad);
    if (pad > 0) {
      new DataView(free.buffer).setUint32(0, pad);
      free.set([0x66, 0x72, 0x65, 0x65], 4); // 'free'
    }
    return { head: concat([ftyp.view8(), moov, free, hdr]), tail: new Uint8Array(0), payloadSize };
  }
  // The moov's size does not depend on the chunk offsets, only on stco vs co64: build until it is stable.
  let moov = build(0);
  for (;;) {
    const next = build(ftyp.length + moov.length + hdr.length);
    const stable = next.length === moov.length;
    moov = next;
    if (stable) break;
  }
  return { head: concat([ftyp.view8(), moov, hdr]), tail: new Uint8Array(0), payloadSize };
}

function defaultBrands(tracks: readonly TrackInfo[]): Brands {
  const compatible = ['isom', 'iso2'];
  if (tracks.some((t) => t.codec === 'avc')) compatible.push('avc1');
  compatible.push('mp41');
  return { major: 'isom', minor: 512, compatible };
}

/** Split the samples per track into decode-order tables and chunks. */
function gather(tracks: readonly Mp4WriterTrack[], samples: SampleTable, explicit = false): TrackPlan[] {
  const index: number[] = []; // track id -> place in `tracks`
  tracks.forEach((t, k) => {
    if (index[t.id] !== undefined)
      throw new UsageError(`planMp4: track id ${t.id} given twice`, { code: 'E_MP4_PLAN' });
    index[t.id] = k;
  });
  const counts = new Float64Array(tracks.length);
  const chunkCounts = new Float64Array(tracks.length);
  const n = samples.length;
  const ids = samples.trackId;
  const sizes = samples.size;
  const offsets = samples.offset;
  let prev = -1;
  let prevEnd = -1;
  for (let i = 0; i < n; i++) {
    const k = index[ids[i] as number];
    if (k === undefined) {
      throw new UsageError(`planMp4: a sample refers to track ${ids[i]}, which is not in the track list`, {
        code: 'E_MP4_PLAN',
      });
    }
    counts[k] = (counts[k] as number) + 1;
    const at = explicit ? (offsets[i] as number) : prevEnd;
    if (k !== prev || at !== prevEnd) chunkCounts[k] = (chunkCounts[k] as number) + 1;
    prev = k;
    prevEnd = at + (sizes[i] as number);
  }
  const plans: TrackPlan[] = tracks.map((track, k) => {
    const count = counts[k] as number;
    const c = chunkCounts[k] as number;
    return {
      track,
      outId: k + 1,
      tables: {
        durations: new Uint32Array(count),
        cts: new Int32Array(count),
        sizes: new Uint32Array(count),
        keyframes: new Uint8Array(count),
        chunkOffsets: new Float64Array(c),
        chunkCounts: new Uint32Array(c),
      },
      count: 0,
      firstDts: 0,
      firstCts: 0,
      mediaDuration: 0,
      compositionEnd: 0,
      bytes: 0,
      maxBitrate: 0,
      maxSample: 0,
    };
  });
  const dts = plans.map((p) => new Float64Array(p.tables.sizes.length));
  const lastGiven = new Array<number>(plans.length).fill(0);
  const chunkAt = new Array<number>(plans.length).fill(0);
  let offset = 0;
  prev = -1;
  for (let j = 0; j < n; j++) {
    const k = index[ids[j] as number] as number;
    const p = plans[k] as TrackPlan;
    const t = p.tables;
    const i = p.count++;
    const size = sizes[j] as number;
    let ci = chunkAt[k] as number;
    const at = explicit ? (offsets[j] as number) : offset;
    if (k !== prev || at !== offset) {
      offset = at;
      t.chunkOffsets[ci] = offset;
      chunkAt[k] = ++ci;
    }
    t.chunkCounts[ci - 1] = (t.chunkCounts[ci - 1] as number) + 1;
    (dts[k] as Float64Array)[i] = samples.dts[j] as number;
    t.cts[i] = samples.cts[j] as number;
    t.sizes[i] = size;
    t.keyframes[i] = samples.keyframe[j] as number;
    lastGiven[k] = samples.duration[j] as number;
    p.bytes += size;
    if (size > p.maxSample) p.maxSample = size;
    offset += size;
    prev = k;
  }
  plans.forEach((p, k) => {
    const n = p.count;
    const d = dts[k] as Float64Array;
    const durations = p.tables.durations;
    for (let i = 0; i + 1 < n; i++) {
      const delta = (d[i + 1] as number) - (d[i] as number);
      // Decode times must not go back (8.6.1.2: sample_delta is unsigned); a step back becomes 0.
      durations[i] = delta > 0 ? Math.min(delta, U32_LIMIT - 1) : 0;
    }
    if (n > 0) {
      const given = lastGiven[k] as number;
      durations[n - 1] =
        given > 0 ? Math.min(given, U32_LIMIT - 1) : n > 1 ? (durations[n - 2] as number) : 0;
      p.firstDts = d[0] as number;
      p.firstCts = p.tables.cts[0] as number;
    }
    let total = 0;
    let end = 0;
    for (let i = 0; i < n; i++) {
      const du = durations[i] as number;
      end = Math.max(end, total + (p.tables.cts[i] as number) + du);
      total += du;
    }
    p.mediaDuration = total;
    p.compositionEnd = end;
    p.maxBitrate = maxBitrate(p, d);
  });
  return plans;
}

/** Largest number of bits in any one second of decode time (esds maxBitrate, 14496-1 7.2.6.6). */
function maxBitrate(p: TrackPlan, dts: Float64Array): number {
  const ts = p.track.timescale;
  let best = 0;
  let second = -1;
  let bytes = 0;
  for (let i = 0; i < p.count; i++) {
    const s = Math.floor(((dts[i] as number) - p.firstDts) / ts);
    if (s !== second) {
      best = Math.max(best, bytes);
      second = s;
      bytes = 0;
    }
    bytes += p.tables.sizes[i] as number;
  }
  return Math.max(best, bytes) * 8;
}

/** Edit lists for each track (undefined: none needed), durations in the movie timescale. */
function planEdits(plans: TrackPlan[], movieTs: number): (EditOut | undefined)[] {
  const out: (EditOut | undefined)[] = [];
  // The earliest first presentation time of the tracks without an input edit list, in seconds.
  let t0 = Infinity;
  for (const p of plans) {
    if (p.count > 0 && !usableEdit(p)) t0 = Math.min(t0, (p.firstDts + p.firstCts) / p.track.timescale);
  }
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
      out.push({ delay: rescale(e.delay, ts, movieTs), mediaTime, duration: rescale(duration, ts, movieTs) });
      continue;
    }
    const mediaTime = Math.max(0, p.firstCts);
    const delay = Math.round(((p.firstDts + p.firstCts) / ts - t0) * movieTs);
    if (mediaTime === 0 && delay <= 0) {
      out.push(undefined);
      continue;
    }
    out.push({
      delay: Math.max(0, delay),
      mediaTime,
      duration: rescale(Math.max(0, p.compositionEnd - mediaTime), ts, movieTs),
    });
  }
  return out;
}

function usableEdit(p: TrackPlan): Mp4Edit | undefined {
  const e = p.track.edit;
  return e && e.mediaTime - p.firstDts >= 0 ? e : undefined;
}

function concat(parts: Uint8Array[]): Uint8Array {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
