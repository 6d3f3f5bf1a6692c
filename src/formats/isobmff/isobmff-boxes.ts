/**
 * ISO base media file format boxes (ISO/IEC 14496-12 4.2): a reader over a byte buffer that is already in
 * memory (a moov or moof the demuxer buffered), and writer helpers on top of ByteWriter.
 *
 * Every position in a `Box` is relative to the buffer it was read from; `base` (the buffer's offset in the
 * input) is only used to name absolute byte offsets in errors.
 */
import type { ByteWriter } from '../../core/bytes.js';
import { FormatError } from '../../core/errors.js';

export interface Box {
  /** The four-character code, e.g. "moov". */
  type: string;
  /** Position of the box's first byte (its size field). */
  start: number;
  /** Bytes of header: 8, 16 with a 64-bit largesize, plus 16 for a `uuid` usertype. */
  headerSize: number;
  /** Position just past the box. */
  end: number;
  /** The extended type of a `uuid` box (14496-12 4.2, 16 bytes). */
  usertype?: Uint8Array;
}

/** Box header as seen by a streaming reader, before the body is available. */
export interface BoxHeaderInfo {
  type: string;
  headerSize: number;
  /** Total box size, or -1 when size == 0 ("extends to the end of the file", 14496-12 4.2). */
  size: number;
}

/** Largest size a Number holds exactly; a 64-bit size above this cannot be a real file. */
const MAX_SAFE = Number.MAX_SAFE_INTEGER;

/** Bytes needed before `peekBoxHeader` can decide, given the first 8 bytes. */
export function boxHeaderLength(data: Uint8Array, at: number): number {
  const size = u32(data, at);
  let n = size === 1 ? 16 : 8;
  if (data[at + 4] === 0x75 && data[at + 5] === 0x75 && data[at + 6] === 0x69 && data[at + 7] === 0x64) {
    n += 16; // "uuid"
  }
  return n;
}

/**
 * Read a box header from `data[at..]` when at least `boxHeaderLength` bytes are there; returns undefined
 * when more bytes are needed. Throws FormatError for a size below the header (14496-12 4.2: size counts the
 * header) or a 64-bit size that a Number cannot hold. `offset` names the box's absolute position in errors.
 */
export function peekBoxHeader(
  data: Uint8Array,
  at: number,
  available: number,
  offset: number,
): BoxHeaderInfo | undefined {
  if (available < 8) return undefined;
  const need = boxHeaderLength(data, at);
  if (available < need) return undefined;
  const type = fourccAt(data, at + 4);
  let size = u32(data, at);
  let headerSize = 8;
  if (size === 1) {
    const hi = u32(data, at + 8);
    const lo = u32(data, at + 12);
    size = hi * 2 ** 32 + lo;
    if (size > MAX_SAFE) {
      throw new FormatError(`box '${printable(type)}' has a 64-bit size too large to be real`, {
        code: 'E_MP4_BOX_SIZE',
        offset,
      });
    }
    headerSize = 16;
  } else if (size === 0) {
    size = -1;
  }
  if (type === 'uuid') headerSize += 16;
  if (size !== -1 && size < headerSize) {
    throw new FormatError(`box '${printable(type)}' declares size ${size}, smaller than its own header`, {
      code: 'E_MP4_BOX_SIZE',
      offset,
    });
  }
  return { type, headerSize, size };
}

/**
 * Read the box starting at `at` inside a parent that ends at `end`. A box that runs past `end` or is smaller
 * than its header is a FormatError naming the absolute offset (`base + at`); size 0 extends to `end`.
 */
export function readBox(data: Uint8Array, at: number, end: number, base = 0): Box {
  if (at + 8 > end) {
    throw new FormatError(`truncated box header (${end - at} of 8 bytes)`, {
      code: 'E_MP4_TRUNCATED',
      offset: base + at,
    });
  }
  const need = boxHeaderLength(data, at);
  if (at + need > end) {
    throw new FormatError(`truncated box header (${end - at} of ${need} bytes)`, {
      code: 'E_MP4_TRUNCATED',
      offset: base + at,
    });
  }
  const h = peekBoxHeader(data, at, end - at, base + at) as BoxHeaderInfo;
  const size = h.size === -1 ? end - at : h.size;
  if (at + size > end) {
    throw new FormatError(
      `box '${printable(h.type)}' of ${size} bytes runs past the end of its container (${end - at} bytes left)`,
      { code: 'E_MP4_BOX_SIZE', offset: base + at },
    );
  }
  const box: Box = { type: h.type, start: at, headerSize: h.headerSize, end: at + size };
  if (h.type === 'uuid') box.usertype = data.subarray(at + h.headerSize - 16, at + h.headerSize);
  return box;
}

/** All boxes in `data[start..end)`, in order; unknown types are kept, as ranges. */
export function readBoxes(data: Uint8Array, start: number, end: number, base = 0): Box[] {
  const out: Box[] = [];
  let at = start;
  while (at < end) {
    const box = readBox(data, at, end, base);
    out.push(box);
    at = box.end;
  }
  return out;
}

/** The children of a container box (its body is a sequence of boxes). */
export function childBoxes(data: Uint8Array, parent: Box, base = 0, skip = 0): Box[] {
  return readBoxes(data, parent.start + parent.headerSize + skip, parent.end, base);
}

/** First box of a type in a list. */
export function findBox(boxes: readonly Box[], type: string): Box | undefined {
  for (const b of boxes) if (b.type === type) return b;
  return undefined;
}

/** Position of a box's body (just past its header). */
export function bodyStart(box: Box): number {
  return box.start + box.headerSize;
}

/** Version and flags of a full box (14496-12 4.2: FullBox). Throws when the body is too short. */
export function fullBoxHeader(data: Uint8Array, box: Box, base = 0): { version: number; flags: number } {
  const at = box.start + box.headerSize;
  if (at + 4 > box.end) {
    throw new FormatError(`full box '${box.type}' is too short for its version and flags`, {
      code: 'E_MP4_TRUNCATED',
      offset: base + box.start,
    });
  }
  return { version: data[at] as number, flags: u24(data, at + 1) };
}

/**
 * Bounds-checked big-endian reads over one box body, for tables and headers. Every read names the
 * absolute offset of the box when it would run past the box's end, so a short or lying box is a
 * FormatError rather than an undefined read.
 */
export class BoxCursor {
  pos: number;
  constructor(
    readonly data: Uint8Array,
    readonly box: Box,
    readonly base: number,
    start = box.start + box.headerSize,
  ) {
    this.pos = start;
  }

  get remaining(): number {
    return this.box.end - this.pos;
  }

  need(n: number, what = 'field'): void {
    if (this.pos + n > this.box.end) {
      throw new FormatError(`box '${this.box.type}' is too short for its ${what}`, {
        code: 'E_MP4_TRUNCATED',
        offset: this.base + this.box.start,
      });
    }
  }
  skip(n: number): this {
    this.need(n);
    this.pos += n;
    return this;
  }
  u8(): number {
    this.need(1);
    return this.data[this.pos++] as number;
  }
  u16(): number {
    this.need(2);
    const v = ((this.data[this.pos] as number) << 8) | (this.data[this.pos + 1] as number);
    this.pos += 2;
    return v;
  }
  u24(): number {
    this.need(3);
    const v = u24(this.data, this.pos);
    this.pos += 3;
    return v;
  }
  u32(): number {
    this.need(4);
    const v = u32(this.data, this.pos);
    this.pos += 4;
    return v;
  }
  i32(): number {
    return this.u32() | 0;
  }
  /** An unsigned 64-bit field; above 2^53 it cannot be a real time or offset, so it is a FormatError. */
  u64(what = '64-bit field'): number {
    this.need(8);
    const hi = u32(this.data, this.pos);
    const lo = u32(this.data, this.pos + 4);
    if (hi > 0x1fffff) {
      throw new FormatError(`box '${this.box.type}' has a ${what} too large to be real`, {
        code: 'E_MP4_VALUE',
        offset: this.base + this.pos,
      });
    }
    this.pos += 8;
    return hi * 2 ** 32 + lo;
  }
  /** A signed 64-bit field (elst media_time v1), within +-2^53. */
  i64(what = '64-bit field'): number {
    this.need(8);
    const hi = u32(this.data, this.pos) | 0;
    const lo = u32(this.data, this.pos + 4);
    if (hi > 0x1fffff || hi < -0x200000) {
      throw new FormatError(`box '${this.box.type}' has a ${what} too large to be real`, {
        code: 'E_MP4_VALUE',
        offset: this.base + this.pos,
      });
    }
    this.pos += 8;
    return hi * 2 ** 32 + lo;
  }
  fourcc(): string {
    this.need(4);
    const s = fourccAt(this.data, this.pos);
    this.pos += 4;
    return s;
  }
  bytes(n: number): Uint8Array {
    this.need(n);
    const b = this.data.subarray(this.pos, this.pos + n);
    this.pos += n;
    return b;
  }
}

export function u32(data: Uint8Array, at: number): number {
  return (
    (((data[at] as number) << 24) |
      ((data[at + 1] as number) << 16) |
      ((data[at + 2] as number) << 8) |
      (data[at + 3] as number)) >>>
    0
  );
}

export function u24(data: Uint8Array, at: number): number {
  return ((data[at] as number) << 16) | ((data[at + 1] as number) << 8) | (data[at + 2] as number);
}

export function fourccAt(data: Uint8Array, at: number): string {
  return String.fromCharCode(
    data[at] as number,
    data[at + 1] as number,
    data[at + 2] as number,
    data[at + 3] as number,
  );
}

/** True when all four bytes are printable ASCII (every registered box type is; 14496-12 4.2, Annex D). */
export function isPrintableType(data: Uint8Array, at: number): boolean {
  for (let i = 0; i < 4; i++) {
    const c = data[at + i] as number;
    if (c < 0x20 || c > 0x7e) return false;
  }
  return true;
}

function printable(type: string): string {
  return type.replace(/[^\x20-\x7e]/g, '?');
}

// ---------------------------------------------------------------------------------------------------------
// Writing

/** Write a box: a size placeholder, the type, the body, then the real size (14496-12 4.2). */
export function box(w: ByteWriter, type: string, body?: (w: ByteWriter) => void): void {
  const at = w.length;
  w.u32(0).ascii(type);
  body?.(w);
  w.setU32(at, w.length - at);
}

/** Write a full box: as `box`, with the version byte and 24 flag bits first (14496-12 4.2). */
export function fullBox(
  w: ByteWriter,
  type: string,
  version: number,
  flags: number,
  body?: (w: ByteWriter) => void,
): void {
  box(w, type, (bw) => {
    bw.u8(version).u24(flags);
    body?.(bw);
  });
}

/**
 * `size` bytes of padding as one free box (14496-12 8.1.2): empty for 0, undefined for 1-7, which no box
 * is small enough to fill (its header alone is 8 bytes).
 */
export function freeBox(size: number): Uint8Array | undefined {
  if (size !== 0 && size < 8) return undefined;
  const b = new Uint8Array(size);
  if (size > 0) {
    new DataView(b.buffer).setUint32(0, size);
    b.set([0x66, 0x72, 0x65, 0x65], 4); // 'free'
  }
  return b;
}

/**
 * An mdat header for `payloadSize` bytes: 8 bytes, or 16 with size == 1 and a 64-bit largesize when the
 * box would not fit in 32 bits (14496-12 4.2).
 */
export function mdatHeader(payloadSize: number): Uint8Array {
  if (payloadSize + 8 <= 0xffffffff) {
    const h = new Uint8Array(8);
    const v = new DataView(h.buffer);
    v.setUint32(0, payloadSize + 8);
    h.set([0x6d, 0x64, 0x61, 0x74], 4);
    return h;
  }
  const h = new Uint8Array(16);
  const v = new DataView(h.buffer);
  v.setUint32(0, 1);
  h.set([0x6d, 0x64, 0x61, 0x74], 4);
  const total = payloadSize + 16;
  v.setUint32(8, Math.floor(total / 2 ** 32));
  v.setUint32(12, total >>> 0);
  return h;
}

// ---------------------------------------------------------------------------------------------------------
// Sample flags (14496-12 8.8.3.1): is_leading(2) depends_on(2) is_depended_on(2) has_redundancy(2)
// padding(3) is_non_sync(1) degradation_priority(16), after 4 reserved bits.

/** sample_is_non_sync_sample. */
export const SAMPLE_FLAG_NON_SYNC = 0x00010000;
/** sample_depends_on == 1: this sample depends on others (not an I picture). */
export const SAMPLE_FLAG_DEPENDS_YES = 0x01000000;
/** sample_depends_on == 2: this sample does not depend on others (an I picture). */
export const SAMPLE_FLAG_DEPENDS_NO = 0x02000000;
/** The flags a muxer writes for a sync sample and for a non-sync one. */
export const FLAGS_SYNC = SAMPLE_FLAG_DEPENDS_NO;
export const FLAGS_NON_SYNC = SAMPLE_FLAG_DEPENDS_YES | SAMPLE_FLAG_NON_SYNC;

/**
 * Whether sample flags describe a sync sample. Like ffmpeg's mov demuxer, a sample that says it depends on
 * others is not a keyframe even when the non-sync bit is clear.
 */
export function isSyncFlags(flags: number): boolean {
  return (flags & (SAMPLE_FLAG_NON_SYNC | SAMPLE_FLAG_DEPENDS_YES)) === 0;
}
