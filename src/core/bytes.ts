/**
 * Byte and bit helpers shared by the format code. Hot paths use DataView/Uint8Array directly; these are
 * for headers and tables, where clarity matters more than the last nanosecond.
 */

/** A growable big-endian writer. */
export class ByteWriter {
  private buf: Uint8Array;
  private view: DataView;
  length = 0;

  constructor(initial = 1024) {
    this.buf = new Uint8Array(initial);
    this.view = new DataView(this.buf.buffer);
  }

  private ensure(extra: number): void {
    const need = this.length + extra;
    if (need <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < need) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buf.subarray(0, this.length));
    this.buf = next;
    this.view = new DataView(next.buffer);
  }

  u8(v: number): this {
    this.ensure(1);
    this.buf[this.length++] = v & 0xff;
    return this;
  }
  u16(v: number): this {
    this.ensure(2);
    this.view.setUint16(this.length, v);
    this.length += 2;
    return this;
  }
  u24(v: number): this {
    this.ensure(3);
    this.buf[this.length] = (v >>> 16) & 0xff;
    this.buf[this.length + 1] = (v >>> 8) & 0xff;
    this.buf[this.length + 2] = v & 0xff;
    this.length += 3;
    return this;
  }
  u32(v: number): this {
    this.ensure(4);
    this.view.setUint32(this.length, v >>> 0);
    this.length += 4;
    return this;
  }
  i32(v: number): this {
    this.ensure(4);
    this.view.setInt32(this.length, v);
    this.length += 4;
    return this;
  }
  u64(v: number): this {
    this.ensure(8);
    this.view.setUint32(this.length, Math.floor(v / 2 ** 32));
    this.view.setUint32(this.length + 4, v >>> 0);
    this.length += 8;
    return this;
  }
  f64(v: number): this {
    this.ensure(8);
    this.view.setFloat64(this.length, v);
    this.length += 8;
    return this;
  }
  bytes(b: Uint8Array): this {
    this.ensure(b.length);
    this.buf.set(b, this.length);
    this.length += b.length;
    return this;
  }
  ascii(s: string): this {
    this.ensure(s.length);
    for (let i = 0; i < s.length; i++) this.buf[this.length++] = s.charCodeAt(i) & 0xff;
    return this;
  }
  /**
   * Room for `n` bytes, skipped over: returns where they start, for a hot loop to fill through
   * `dataView` (valid until the next write) instead of one call per value.
   */
  claim(n: number): number {
    this.ensure(n);
    const at = this.length;
    this.length += n;
    return at;
  }
  get dataView(): DataView {
    return this.view;
  }
  /** Overwrite a u32 already written (box sizes). */
  setU32(at: number, v: number): void {
    this.view.setUint32(at, v >>> 0);
  }
  /** The written bytes (a view, valid until the next write). */
  view8(): Uint8Array {
    return this.buf.subarray(0, this.length);
  }
  /** A copy of the written bytes. */
  toBytes(): Uint8Array {
    return this.buf.slice(0, this.length);
  }
}

/** Reads bits MSB first, with Exp-Golomb codes (H.264/HEVC parameter sets, ISO/IEC 14496-10 9.1). */
export class BitReader {
  private pos = 0; // in bits

  constructor(private readonly data: Uint8Array) {}

  get bitsLeft(): number {
    return this.data.length * 8 - this.pos;
  }

  bit(): number {
    if (this.pos >= this.data.length * 8) throw new RangeError('BitReader: read past the end');
    const byte = this.data[this.pos >>> 3] ?? 0;
    const b = (byte >>> (7 - (this.pos & 7))) & 1;
    this.pos++;
    return b;
  }

  bits(n: number): number {
    let v = 0;
    for (let i = 0; i < n; i++) v = v * 2 + this.bit();
    return v;
  }

  skip(n: number): void {
    if (this.pos + n > this.data.length * 8) throw new RangeError('BitReader: skip past the end');
    this.pos += n;
  }

  /** ue(v) */
  ue(): number {
    let zeros = 0;
    while (this.bit() === 0) {
      zeros++;
      if (zeros > 31) throw new RangeError('BitReader: Exp-Golomb code too long');
    }
    return 2 ** zeros - 1 + this.bits(zeros);
  }

  /** se(v) */
  se(): number {
    const k = this.ue();
    return k % 2 === 1 ? (k + 1) / 2 : -(k / 2);
  }
}

/** Remove emulation-prevention bytes (00 00 03 -> 00 00) from a NAL unit payload. */
export function unescapeRbsp(nal: Uint8Array): Uint8Array {
  let zeros = 0;
  let needed = false;
  for (let i = 0; i < nal.length; i++) {
    const b = nal[i];
    if (zeros >= 2 && b === 3) {
      needed = true;
      break;
    }
    zeros = b === 0 ? zeros + 1 : 0;
  }
  if (!needed) return nal;
  const out = new Uint8Array(nal.length);
  let n = 0;
  zeros = 0;
  for (let i = 0; i < nal.length; i++) {
    const b = nal[i] as number;
    if (zeros >= 2 && b === 3) {
      zeros = 0;
      continue;
    }
    out[n++] = b;
    zeros = b === 0 ? zeros + 1 : 0;
  }
  return out.subarray(0, n);
}

export function fourcc(data: Uint8Array, at: number): string {
  return String.fromCharCode(data[at] ?? 0, data[at + 1] ?? 0, data[at + 2] ?? 0, data[at + 3] ?? 0);
}

export function readU32(data: Uint8Array, at: number): number {
  return (
    (((data[at] ?? 0) << 24) |
      ((data[at + 1] ?? 0) << 16) |
      ((data[at + 2] ?? 0) << 8) |
      (data[at + 3] ?? 0)) >>>
    0
  );
}

/** A big-endian 32-bit unsigned value at `at`, in place. */
export function writeU32(data: Uint8Array, at: number, v: number): void {
  data[at] = (v >>> 24) & 0xff;
  data[at + 1] = (v >>> 16) & 0xff;
  data[at + 2] = (v >>> 8) & 0xff;
  data[at + 3] = v & 0xff;
}

/** The parts one after another, in new memory. */
export function concatBytes(parts: readonly Uint8Array[]): Uint8Array {
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

/**
 * A copy in new memory. Not `b.slice()`: on a Buffer (what the network and file reads give) slice() is a
 * view of the same memory, so a "copy" made with it changes when that memory is used again.
 */
export function copyOf(b: Uint8Array): Uint8Array<ArrayBuffer> {
  return new Uint8Array(b);
}

/** Whether two byte arrays hold the same bytes. */
export function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** A typed array of the same kind as `a`, `n` long, holding a's first `keep` elements (as many as fit). */
export function resized<T extends Uint8Array | Uint16Array | Uint32Array | Int32Array | Float64Array>(
  a: T,
  n: number,
  keep = a.length,
): T {
  const b = new (a.constructor as new (length: number) => T)(n);
  b.set(a.subarray(0, Math.min(keep, n)));
  return b;
}

/**
 * Bytes into which the kernel copies file data past the first page boundary: the view starts 64 bytes
 * into its own memory. Large allocations start on a page boundary, and so does a read at a file offset
 * that is a multiple of 4096 (every sequential read in whole blocks); the kernel's copy from the page
 * cache into a destination at the same offset within a page runs into 4K aliasing of loads and stores,
 * and took 3.5 times as long on this project's machines (142 MB in 64 kB or 512 kB reads: 65-88 ms with
 * the view on a page boundary, 16-22 ms with it 16 to 4080 bytes past one). Copies between user memory
 * and writes to files showed no such difference.
 */
export function fileReadBuffer(size: number): Uint8Array<ArrayBuffer> {
  return new Uint8Array(size + READ_SKEW).subarray(READ_SKEW);
}

/** How far into its memory a fileReadBuffer starts: one cache line, so copies stay line-aligned. */
export const READ_SKEW = 64;
