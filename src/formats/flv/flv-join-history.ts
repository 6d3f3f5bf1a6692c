/**
 * The FLV joiner's memory of the frames it wrote last, to recognise a chunk that repeats them (an overlap,
 * also when the repeat carries reset timestamps): a fingerprint per frame, in a ring in the order written,
 * so that each track's times increase in it.
 */
import { readU32 } from '../../core/bytes.js';
import { HISTORY_MAX, K_AFRAME, K_VFRAME, SCAN_KIND } from './flv-tag-classes.js';
import type { FlvChunkScan, FlvTagRows } from './flv-tag-rows.js';
import { PREVIOUS_TAG_SIZE, TAG_HEADER_SIZE, tagTimestamp, u24 } from './flv-tags.js';

/**
 * A fingerprint of a tag: a hash of its size and of its first 16 and last 8 body bytes (the codec header
 * with the start of the slice header, whose frame number and picture order differ from frame to frame, and
 * the end of the entropy-coded payload). Identical tags repeated by an overlapping chunk match; different
 * frames practically never do (30 bits). Taken for the last 256 frames of every chunk (about two thirds of
 * all frames for 6 s chunks), so it is kept short: the bytes are taken as six 32-bit words and mixed in
 * six multiplies (hashing them one byte at a time was a third of the join's planning time). Under 2^30,
 * a small integer to V8: a larger number (the size times 2^24 plus 24 hash bits, before) was a new heap
 * object wherever the call was not inlined, a third of the garbage of a 1,400-chunk join.
 */
export function fingerprint(b: Uint8Array, at: number, size: number): number {
  let h = 0x811c9dc5 ^ size;
  if (size < 24) {
    for (let i = 0; i < size; i++) h = Math.imul(h ^ (b[at + i] as number), 0x01000193);
  } else {
    const e = at + size - 8;
    h = Math.imul(h ^ word(b, at), 0x85ebca6b);
    h = Math.imul(h ^ word(b, at + 4), 0xc2b2ae35);
    h = Math.imul(h ^ word(b, at + 8), 0x85ebca6b);
    h = Math.imul(h ^ word(b, at + 12), 0xc2b2ae35);
    h = Math.imul(h ^ word(b, e), 0x85ebca6b);
    h = Math.imul(h ^ word(b, e + 4), 0xc2b2ae35);
  }
  h = Math.imul(h ^ (h >>> 15), 0x2c1b3c6d);
  return (h ^ (h >>> 12)) >>> 2;
}

function word(b: Uint8Array, at: number): number {
  return (
    (b[at] as number) |
    ((b[at + 1] as number) << 8) |
    ((b[at + 2] as number) << 16) |
    ((b[at + 3] as number) << 24)
  );
}

/** The size of FrameHistory.lastAdded (a power of 2): 512 remembered frames leave 97% of it stale. */
const SEEN = 16384;

/** FrameHistory.printAt: the frames remembered around that time hold no frame of the track at it. */
export const NO_FRAME = -1;

export class FrameHistory {
  private readonly time = new Float64Array(HISTORY_MAX);
  private readonly print = new Int32Array(HISTORY_MAX);
  private readonly track = new Uint8Array(HISTORY_MAX);
  /**
   * By a fingerprint's low bits: the count after the newest frame added with them (0 never). A fingerprint
   * whose entry is older than the ring is not remembered, which nearly every lookup finds without a walk
   * over the ring (a chunk that repeats nothing).
   */
  private readonly lastAdded = new Float64Array(SEEN);
  /** Frames ever remembered: the newest is at (count - 1) % HISTORY_MAX. */
  private count = 0;
  /**
   * Ascending: the counts at which a frame was added whose predecessors in writing are not remembered
   * (the first of a long chunk's tail). Kept out of add(), the join's hot loop: one a chunk at most.
   */
  private readonly cuts: number[] = [];

  /**
   * Tells that the frames added next are not the next ones written after the last added: the tail of a
   * chunk longer than what is kept of it.
   */
  skipped(): void {
    const cuts = this.cuts;
    while (cuts.length > 0 && (cuts[0] as number) < this.count - HISTORY_MAX) cuts.shift();
    cuts.push(this.count);
  }

  /** Remembers a written frame of track `tr` at output time `out`. */
  add(out: number, tr: number, print: number): void {
    const j = this.count++ & (HISTORY_MAX - 1);
    this.lastAdded[print & (SEEN - 1)] = this.count;
    this.time[j] = out;
    this.print[j] = print;
    this.track[j] = tr;
  }

  /**
   * The fingerprint of the written frame of track `tr` at time `out`, where the frames written around that
   * time are remembered: NO_FRAME when none of that track was written at it, undefined when they are not
   * remembered (before the oldest kept, between a chunk's tail and what came before it, or after the newest
   * of the track).
   */
  printAt(out: number, tr: number): number | undefined {
    const n = this.count;
    const cuts = this.cuts;
    // The newest cut at or before the frame looked at.
    let c = cuts.length - 1;
    while (c >= 0 && (cuts[c] as number) >= n) c--;
    // Whether a frame written after `out` is remembered with no frame missing in between.
    let held = false;
    for (let k = n - 1; k >= 0 && k >= n - HISTORY_MAX; k--) {
      const j = k & (HISTORY_MAX - 1);
      if (this.track[j] === tr) {
        const t = this.time[j] as number;
        if (t === out) return this.print[j];
        if (t < out) return held ? NO_FRAME : undefined;
        held = true;
      }
      if (c >= 0 && cuts[c] === k) {
        held = false;
        while (c >= 0 && cuts[c] === k) c--;
      }
    }
    return undefined;
  }

  /**
   * The time of the written frame of track `tr` with fingerprint `p`, if exactly one remembered frame has
   * it: repeated content (AAC frames of silence are all alike) gives no time to align by.
   */
  uniqueTimeOf(p: number, tr: number): number | undefined {
    const n = this.count;
    const added = this.lastAdded[p & (SEEN - 1)] as number;
    if (added === 0 || added <= n - HISTORY_MAX) return undefined;
    let time: number | undefined;
    for (let k = n - 1; k >= 0 && k >= n - HISTORY_MAX; k--) {
      const j = k & (HISTORY_MAX - 1);
      if (this.print[j] === p && this.track[j] === tr) {
        if (time !== undefined) return undefined;
        time = this.time[j];
      }
    }
    return time;
  }

  /** The time of the oldest remembered frame of track `tr`, Infinity when there is none. */
  oldest(tr: number): number {
    const n = this.count;
    for (let k = Math.max(0, n - HISTORY_MAX); k < n; k++) {
      const j = k & (HISTORY_MAX - 1);
      if (this.track[j] === tr) return this.time[j] as number;
    }
    return Infinity;
  }
}

/** The audio and video frames of the part of a chunk being placed, in order (the joiner's history checks). */
export interface PartFrames {
  /** Back to before the part's first frame. */
  rewind(): void;
  /** Moves to the next frame: its track (0 video, 1 audio), or -1 past the last. */
  next(): number;
  /** On to after the part's last frame. */
  toEnd(): void;
  /** Moves to the frame before: its track, or -1 before the first. */
  prev(): number;
  /** The input time (ms) of the frame next() or prev() moved to. */
  readonly ts: number;
  /** Its fingerprint. */
  print(): number;
}

/** The frames of rows [from, to) of a chunk. */
export class RowFrames implements PartFrames {
  ts = 0;
  private i: number;

  constructor(
    private readonly rows: FlvTagRows,
    private readonly b: Uint8Array,
    private readonly from: number,
    private readonly to: number,
  ) {
    this.i = from - 1;
  }

  rewind(): void {
    this.i = this.from - 1;
  }

  next(): number {
    const rows = this.rows;
    for (let i = this.i + 1; i < this.to; i++) {
      const k = rows.kind[i] as number;
      if (k !== K_VFRAME && k !== K_AFRAME) continue;
      this.i = i;
      this.ts = rows.ts[i] as number;
      return k === K_VFRAME ? 0 : 1;
    }
    this.i = this.to;
    return -1;
  }

  toEnd(): void {
    this.i = this.to;
  }

  prev(): number {
    const rows = this.rows;
    for (let i = this.i - 1; i >= this.from; i--) {
      const k = rows.kind[i] as number;
      if (k !== K_VFRAME && k !== K_AFRAME) continue;
      this.i = i;
      this.ts = rows.ts[i] as number;
      return k === K_VFRAME ? 0 : 1;
    }
    this.i = this.from - 1;
    return -1;
  }

  print(): number {
    const r = this.rows;
    return fingerprint(this.b, (r.start[this.i] as number) + TAG_HEADER_SIZE, r.size[this.i] as number);
  }
}

/**
 * The frames of a whole chunk as scanChunk left it in `scan` (every tag accounted for, every
 * PreviousTagSize right: prev() walks back by them), read from its bytes.
 */
export class ScanFrames implements PartFrames {
  ts = 0;
  private i = -1;
  private at = 0;
  private size = 0;
  private nextAt: number;

  constructor(
    private readonly scan: FlvChunkScan,
    private readonly b: Uint8Array,
  ) {
    this.nextAt = scan.firstTag;
  }

  rewind(): void {
    this.i = -1;
    this.nextAt = this.scan.firstTag;
  }

  next(): number {
    const b = this.b;
    const kinds = this.scan.kinds;
    let q = this.nextAt;
    for (let i = this.i + 1; i < this.scan.count; i++) {
      const size = u24(b, q + 1);
      const k = (kinds[i] as number) & SCAN_KIND;
      const at = q;
      q += TAG_HEADER_SIZE + size + PREVIOUS_TAG_SIZE;
      if (k !== K_VFRAME && k !== K_AFRAME) continue;
      this.i = i;
      this.at = at;
      this.size = size;
      this.nextAt = q;
      this.ts = tagTimestamp(b, at);
      return k === K_VFRAME ? 0 : 1;
    }
    this.i = this.scan.count;
    this.nextAt = q;
    return -1;
  }

  toEnd(): void {
    this.i = this.scan.count;
    this.nextAt = this.b.length;
  }

  prev(): number {
    const b = this.b;
    const kinds = this.scan.kinds;
    // The offset of the current tag: the PreviousTagSize of the one before is just before it.
    let q = this.i >= this.scan.count ? b.length : this.at;
    for (let i = this.i - 1; i >= 0; i--) {
      const at = q - PREVIOUS_TAG_SIZE - readU32(b, q - PREVIOUS_TAG_SIZE);
      const k = (kinds[i] as number) & SCAN_KIND;
      q = at;
      if (k !== K_VFRAME && k !== K_AFRAME) continue;
      const size = u24(b, at + 1);
      this.i = i;
      this.at = at;
      this.size = size;
      this.nextAt = at + TAG_HEADER_SIZE + size + PREVIOUS_TAG_SIZE;
      this.ts = tagTimestamp(b, at);
      return k === K_VFRAME ? 0 : 1;
    }
    this.i = -1;
    this.nextAt = this.scan.firstTag;
    return -1;
  }

  print(): number {
    return fingerprint(this.b, this.at + TAG_HEADER_SIZE, this.size);
  }
}
