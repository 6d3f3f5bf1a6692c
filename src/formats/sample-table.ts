import { resized } from '../core/bytes.js';
import type { Sample } from './media.js';

/** A sample read back from a table, with the columns a timeline adds. */
export interface TableSample extends Sample {
  /** The input the payload lives in (set by the timeline; 0 before). */
  input: number;
  /** The caller's tag for where the payload is kept (0 unless the caller set one). */
  tag: number;
}

const EMPTY = 0;

/** The columns of a SampleTable. */
const COLUMNS = ['trackId', 'keyframe', 'tag', 'dts', 'cts', 'duration', 'size', 'offset', 'input'] as const;

/** Rows of a SampleTable as columns of their own (SampleTable.rows). */
export type SampleRows = Pick<SampleTable, (typeof COLUMNS)[number]>;

/**
 * Samples as columns (a struct of typed arrays) instead of one object each: about 40 bytes a sample
 * instead of 150, no garbage for the collector to walk, and loops over them that the JIT makes tight.
 * A recording of hours has hundreds of thousands of samples, and every demuxed input, timeline and muxer
 * plan is one of these. Payloads are not kept: `offset` says where a payload is in `input` (or in the
 * store the caller's `tag` names).
 */
export class SampleTable {
  length = 0;
  trackId: Uint16Array;
  keyframe: Uint8Array;
  tag: Uint8Array;
  dts: Float64Array;
  cts: Int32Array;
  duration: Float64Array;
  size: Uint32Array;
  offset: Float64Array;
  input: Uint32Array;

  constructor(capacity = 256) {
    const n = Math.max(EMPTY, Math.floor(capacity));
    this.trackId = new Uint16Array(n);
    this.keyframe = new Uint8Array(n);
    this.tag = new Uint8Array(n);
    this.dts = new Float64Array(n);
    this.cts = new Int32Array(n);
    this.duration = new Float64Array(n);
    this.size = new Uint32Array(n);
    this.offset = new Float64Array(n);
    this.input = new Uint32Array(n);
  }

  /** A table of the given samples (tests, small inputs). */
  static from(samples: readonly Sample[], input = 0): SampleTable {
    const t = new SampleTable(samples.length);
    for (const s of samples) t.addSample(s, s.offset ?? 0, 0, input);
    return t;
  }

  get capacity(): number {
    return this.dts.length;
  }

  /** Append one sample; returns its index. */
  add(
    trackId: number,
    dts: number,
    cts: number,
    duration: number,
    keyframe: boolean,
    size: number,
    offset: number,
    tag = 0,
    input = 0,
  ): number {
    const i = this.length;
    if (i === this.dts.length) this.resize(Math.max(256, i * 2));
    this.trackId[i] = trackId;
    this.dts[i] = dts;
    this.cts[i] = cts;
    this.duration[i] = duration;
    this.keyframe[i] = keyframe ? 1 : 0;
    this.size[i] = size;
    this.offset[i] = offset;
    this.tag[i] = tag;
    this.input[i] = input;
    this.length = i + 1;
    return i;
  }

  /**
   * `rows` ordered by `time` (a clock the caller computed per row), rows of `first` tracks before the others
   * at equal times, then in table order: the order in which muxers that interleave tracks write samples.
   */
  timeOrder(rows: readonly number[], time: Float64Array, first: (trackId: number) => boolean): Uint32Array {
    const order = Uint32Array.from(rows);
    order.sort((a, b) => {
      const d = (time[a] as number) - (time[b] as number);
      if (d !== 0) return d;
      const fa = first(this.trackId[a] as number) ? 0 : 1;
      const fb = first(this.trackId[b] as number) ? 0 : 1;
      return fa !== fb ? fa - fb : a - b;
    });
    return order;
  }

  /** Append a demuxed sample whose payload is at `offset` (of `input`, or of the store `tag` names). */
  addSample(s: Sample, offset: number, tag = 0, input = 0): number {
    return this.add(s.trackId, s.dts, s.cts, s.duration, s.keyframe, s.size, offset, tag, input);
  }

  /** Append sample `i` of another table (or of this one). */
  copyFrom(from: SampleTable, i: number): number {
    const j = this.length;
    if (j === this.dts.length) this.resize(Math.max(256, j * 2));
    this.length = j + 1;
    this.setFrom(j, from, i);
    return j;
  }

  /** Overwrite sample `j` (which must exist) with sample `i` of another table, or of this one. */
  setFrom(j: number, from: SampleTable, i: number): void {
    this.trackId[j] = from.trackId[i] as number;
    this.dts[j] = from.dts[i] as number;
    this.cts[j] = from.cts[i] as number;
    this.duration[j] = from.duration[i] as number;
    this.keyframe[j] = from.keyframe[i] as number;
    this.size[j] = from.size[i] as number;
    this.offset[j] = from.offset[i] as number;
    this.tag[j] = from.tag[i] as number;
    this.input[j] = from.input[i] as number;
  }

  /** Sample `i` as an object (cold paths and tests). */
  get(i: number): TableSample {
    if (i < 0 || i >= this.length) throw new RangeError(`sample ${i} of ${this.length}`);
    return {
      trackId: this.trackId[i] as number,
      dts: this.dts[i] as number,
      cts: this.cts[i] as number,
      duration: this.duration[i] as number,
      keyframe: this.keyframe[i] === 1,
      size: this.size[i] as number,
      offset: this.offset[i] as number,
      tag: this.tag[i] as number,
      input: this.input[i] as number,
    };
  }

  /** Every sample as an object, in order. */
  toSamples(): TableSample[] {
    const out: TableSample[] = [];
    for (let i = 0; i < this.length; i++) out.push(this.get(i));
    return out;
  }

  /** The first sample of a track at or after `from`, or -1. */
  firstOf(trackId: number, from = 0): number {
    for (let i = from; i < this.length; i++) if (this.trackId[i] === trackId) return i;
    return -1;
  }

  /** The last sample of a track, or -1. */
  lastOf(trackId: number): number {
    for (let i = this.length - 1; i >= 0; i--) if (this.trackId[i] === trackId) return i;
    return -1;
  }

  /** Samples per track id. */
  countByTrack(): Map<number, number> {
    const counts = new Map<number, number>();
    const ids = this.trackId;
    let id = -1;
    let run = 0;
    for (let i = 0; i < this.length; i++) {
      const t = ids[i] as number;
      if (t === id) {
        run++;
        continue;
      }
      if (run > 0) counts.set(id, (counts.get(id) ?? 0) + run);
      id = t;
      run = 1;
    }
    if (run > 0) counts.set(id, (counts.get(id) ?? 0) + run);
    return counts;
  }

  /** A new table with the samples `keep` says yes to, in order. */
  filter(keep: (trackId: number) => boolean): SampleTable {
    const out = new SampleTable(this.length);
    for (let i = 0; i < this.length; i++) if (keep(this.trackId[i] as number)) out.copyFrom(this, i);
    out.trim();
    return out;
  }

  /**
   * Rows [from, to) as plain typed arrays of their own (for a checkpoint; tables only grow, so a caller may
   * keep the rows added since its last one). `appendRows` adds them back.
   */
  rows(from = 0, to = this.length): SampleRows {
    const out: Record<string, unknown> = {};
    for (const c of COLUMNS) out[c] = this[c].slice(from, to);
    return out as unknown as SampleRows;
  }

  appendRows(r: SampleRows): void {
    const n = r.dts.length;
    const at = this.length;
    if (at + n > this.dts.length) this.resize(Math.max(256, at + n));
    for (const c of COLUMNS) (this[c] as Float64Array).set(r[c], at);
    this.length = at + n;
  }

  /** Give back the memory beyond `length` (a table that is complete). */
  trim(): void {
    if (this.dts.length > this.length) this.resize(this.length);
  }

  /** Drop every sample and the memory (a table that has been consumed). */
  clear(): void {
    this.length = 0;
    this.resize(0);
  }

  private resize(n: number): void {
    const k = this.length;
    this.trackId = resized(this.trackId, n, k);
    this.keyframe = resized(this.keyframe, n, k);
    this.tag = resized(this.tag, n, k);
    this.dts = resized(this.dts, n, k);
    this.cts = resized(this.cts, n, k);
    this.duration = resized(this.duration, n, k);
    this.size = resized(this.size, n, k);
    this.offset = resized(this.offset, n, k);
    this.input = resized(this.input, n, k);
  }
}
