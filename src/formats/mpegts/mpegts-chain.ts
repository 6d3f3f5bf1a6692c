/**
 * A byte sequence made of views into the input chunks: how PES payloads are reassembled from TS packets
 * without copying them. The bytes are copied once, straight into the sample that is handed out.
 */
export class ByteChain {
  /** The pieces, in order; never empty views. */
  views: Uint8Array[] = [];
  /** ends[i] = total length of views[0..i]. */
  ends: number[] = [];
  length = 0;

  push(view: Uint8Array): void {
    if (view.length === 0) return;
    this.views.push(view);
    this.length += view.length;
    this.ends.push(this.length);
  }

  /** Append bytes [start, end) of another chain (as views). */
  pushRange(src: ByteChain, start: number, end: number): void {
    if (start >= end) return;
    let i = src.indexOf(start);
    let pos = start;
    while (pos < end && i < src.views.length) {
      const v = src.views[i] as Uint8Array;
      const vStart = (src.ends[i] as number) - v.length;
      const a = pos - vStart;
      const b = Math.min(v.length, end - vStart);
      this.push(a === 0 && b === v.length ? v : v.subarray(a, b));
      pos = vStart + b;
      i++;
    }
  }

  clear(): void {
    // New arrays rather than length = 0, so that the old chunks can be collected.
    this.views = [];
    this.ends = [];
    this.length = 0;
  }

  /** Index of the view holding byte `pos` (binary search); views.length when pos >= length. */
  indexOf(pos: number): number {
    const ends = this.ends;
    let lo = 0;
    let hi = ends.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((ends[mid] as number) <= pos) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  byteAt(pos: number): number {
    const i = this.indexOf(pos);
    const v = this.views[i];
    if (!v) return -1;
    return v[pos - ((this.ends[i] as number) - v.length)] as number;
  }

  /** Copy bytes [pos, pos + len) into dst at dstOffset. */
  copyTo(pos: number, len: number, dst: Uint8Array, dstOffset: number): void {
    let i = this.indexOf(pos);
    let o = dstOffset;
    let left = len;
    while (left > 0 && i < this.views.length) {
      const v = this.views[i] as Uint8Array;
      const vStart = (this.ends[i] as number) - v.length;
      const a = pos - vStart;
      const n = Math.min(v.length - a, left);
      dst.set(a === 0 && n === v.length ? v : v.subarray(a, a + n), o);
      o += n;
      pos += n;
      left -= n;
      i++;
    }
  }

  /** A copy of bytes [start, end). */
  slice(start: number, end: number): Uint8Array {
    const out = new Uint8Array(Math.max(0, end - start));
    this.copyTo(start, out.length, out, 0);
    return out;
  }

  /** First position >= from holding `byte`, or -1. */
  find(byte: number, from: number): number {
    for (let i = this.indexOf(from); i < this.views.length; i++) {
      const v = this.views[i] as Uint8Array;
      const vStart = (this.ends[i] as number) - v.length;
      const j = v.indexOf(byte, Math.max(0, from - vStart));
      if (j >= 0) return vStart + j;
    }
    return -1;
  }

  /** Remove the first n bytes. */
  drop(n: number): void {
    if (n >= this.length) {
      this.clear();
      return;
    }
    const i = this.indexOf(n);
    const v = this.views[i] as Uint8Array;
    const a = n - ((this.ends[i] as number) - v.length);
    const rest = this.views.slice(i);
    if (a > 0) rest[0] = v.subarray(a);
    this.views = rest;
    this.length -= n;
    this.ends = [];
    let total = 0;
    for (const r of rest) {
      total += r.length;
      this.ends.push(total);
    }
  }
}
