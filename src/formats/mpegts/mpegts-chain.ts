/**
 * A growable byte queue in one contiguous buffer: how PES payloads, access units and audio frames are
 * reassembled from 184-byte TS packet payloads. Each payload is copied in once (one native copy per packet,
 * no object kept per packet), so start codes can be searched natively over a whole access unit and frames
 * copied out in one piece. The buffer is kept between access units, so steady streams allocate nothing.
 */
export class ByteChain {
  private buf = new Uint8Array(0);
  /** Index in `buf` of the first live byte (bytes before it were dropped). */
  private head = 0;
  /** Live bytes. */
  length = 0;

  /** The live bytes, as a view that is valid until the next change. */
  bytes(): Uint8Array {
    return this.buf.subarray(this.head, this.head + this.length);
  }

  /** Make room for n more bytes at the end. */
  private room(n: number): void {
    const need = this.length + n;
    if (this.head + need <= this.buf.length) return;
    if (need <= this.buf.length && this.head >= this.buf.length >> 1) {
      this.buf.copyWithin(0, this.head, this.head + this.length);
      this.head = 0;
      return;
    }
    const next = new Uint8Array(Math.max(need, this.buf.length * 2, 4096));
    next.set(this.buf.subarray(this.head, this.head + this.length));
    this.buf = next;
    this.head = 0;
  }

  push(view: Uint8Array): void {
    if (view.length === 0) return;
    this.room(view.length);
    this.buf.set(view, this.head + this.length);
    this.length += view.length;
  }

  /** Append bytes [start, end) of `src`, without making a view of them first. */
  pushFrom(src: Uint8Array, start: number, end: number): void {
    const n = end - start;
    if (n <= 0) return;
    this.room(n);
    this.buf.set(new Uint8Array(src.buffer, src.byteOffset + start, n), this.head + this.length);
    this.length += n;
  }

  /** Append bytes [start, end) of another chain. */
  pushRange(src: ByteChain, start: number, end: number): void {
    const e = Math.min(end, src.length);
    if (start >= e) return;
    this.pushFrom(src.buf, src.head + start, src.head + e);
  }

  clear(): void {
    this.head = 0;
    this.length = 0;
    // An unusually large access unit must not pin its memory for the rest of the stream.
    if (this.buf.length > 8 << 20) this.buf = new Uint8Array(0);
  }

  byteAt(pos: number): number {
    return pos >= 0 && pos < this.length ? (this.buf[this.head + pos] as number) : -1;
  }

  /** Copy bytes [pos, pos + len) into dst at dstOffset (as many of them as there are). */
  copyTo(pos: number, len: number, dst: Uint8Array, dstOffset: number): void {
    const n = Math.min(len, this.length - pos);
    if (n <= 0 || pos < 0) return;
    dst.set(new Uint8Array(this.buf.buffer, this.buf.byteOffset + this.head + pos, n), dstOffset);
  }

  /** A copy of bytes [start, end). */
  slice(start: number, end: number): Uint8Array {
    const out = new Uint8Array(Math.max(0, Math.min(end, this.length) - start));
    this.copyTo(start, out.length, out, 0);
    return out;
  }

  /** First position >= from holding `byte`, or -1. */
  find(byte: number, from: number): number {
    return this.bytes().indexOf(byte, Math.max(0, from));
  }

  /** Remove the first n bytes. */
  drop(n: number): void {
    if (n >= this.length) {
      this.clear();
      return;
    }
    this.head += n;
    this.length -= n;
  }
}
