/**
 * One ArrayBuffer shared by a demuxer's input and its chains. A packet's payload moves from the input into
 * a chain with `copyWithin` when both are in it: no view object per packet. Cold, as most of a remux runs,
 * that is about half the time of making a view and `set` (645,000 packets of a 121 MB file: 24-44 ms
 * against 53-104 ms, by hand), and the views' garbage goes with it.
 */
export class ChainSpace {
  /** The whole space, from byte 0 of its ArrayBuffer. */
  readonly whole: Uint8Array;
  private used = 0;

  constructor(size: number) {
    this.whole = new Uint8Array(size);
  }

  /** `n` bytes of the space for one user, or undefined when it is used up. */
  take(n: number): Uint8Array | undefined {
    if (this.used + n > this.whole.length) return undefined;
    const region = this.whole.subarray(this.used, this.used + n);
    this.used += n;
    return region;
  }

  holds(bytes: Uint8Array): boolean {
    return bytes.buffer === this.whole.buffer;
  }
}

/**
 * A growable byte queue in one contiguous buffer: how PES payloads, access units and audio frames are
 * reassembled from 184-byte TS packet payloads. Each payload is copied in once (one native copy per packet,
 * no object kept per packet), so start codes can be searched natively over a whole access unit and frames
 * copied out in one piece. The buffer is kept between access units, so steady streams allocate nothing.
 */
export class ByteChain {
  private buf: Uint8Array;
  /** This chain's part of a shared space (see ChainSpace), used while its bytes fit in it. */
  private readonly region: Uint8Array | undefined;
  /** Index in `buf` of the first live byte (bytes before it were dropped). */
  private head = 0;
  /** Live bytes. */
  length = 0;

  /** Where the region starts in the space. */
  private readonly regionStart: number;

  /** A chain in its own memory, or in `regionSize` bytes of `space` while it fits there. */
  constructor(
    private readonly space?: ChainSpace,
    regionSize = 0,
  ) {
    this.region = regionSize > 0 ? space?.take(regionSize) : undefined;
    this.buf = this.region ?? new Uint8Array(0);
    this.regionStart = this.region?.byteOffset ?? 0;
  }

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

  /**
   * Append bytes [start, end) of the shared space (positions in `space.whole`): a copyWithin while this
   * chain is in its region, no object made. The caller knows its bytes are in the space.
   */
  pushFromSpace(start: number, end: number): void {
    const n = end - start;
    if (n <= 0) return;
    this.room(n);
    const space = this.space as ChainSpace;
    if (this.buf === this.region)
      space.whole.copyWithin(this.regionStart + this.head + this.length, start, end);
    else this.buf.set(new Uint8Array(space.whole.buffer, start, n), this.head + this.length);
    this.length += n;
  }

  /** Append bytes [start, end) of another chain. */
  pushRange(src: ByteChain, start: number, end: number): void {
    const e = Math.min(end, src.length);
    if (start >= e) return;
    if (src.buf === src.region && src.space === this.space) {
      this.pushFromSpace(src.regionStart + src.head + start, src.regionStart + src.head + e);
    } else this.pushFrom(src.buf, src.head + start, src.head + e);
  }

  clear(): void {
    this.head = 0;
    this.length = 0;
    // Back into the shared space once empty; an unusually large access unit must not pin its memory for
    // the rest of the stream.
    if (this.region) this.buf = this.region;
    else if (this.buf.length > 8 << 20) this.buf = new Uint8Array(0);
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
