/**
 * Whether a fragmented-MP4 media segment (styp/sidx/moof/mdat..., ISO/IEC 14496-12 4.2, 8.16) ends where
 * its last top-level box ends, read from box headers only as bytes are pushed. A segment that a server cut
 * short while sending a Content-Length that matches ends inside a box (its mdat, most often).
 */
import { fourccAt, u32 } from './isobmff-boxes.js';

export interface BoxWalkResult {
  /** False when the bytes end inside a box. */
  complete: boolean;
  /** The box the bytes end in, its declared size and the bytes of it that came. */
  cut?: { type: string; size: number; present: number };
}

export class BoxWalk {
  private header = new Uint8Array(16);
  private headerBytes = 0;
  /** Bytes of the current box's body still to come (after its header). */
  private remaining = 0;
  private box = { type: '', size: 0 };
  /** A size-0 box (to the end) or a size that cannot be: nothing more to check. */
  private done = false;

  push(chunk: Uint8Array): void {
    let i = 0;
    while (i < chunk.length && !this.done) {
      if (this.remaining > 0) {
        const skip = Math.min(this.remaining, chunk.length - i);
        this.remaining -= skip;
        i += skip;
        continue;
      }
      // A header: 8 bytes, or 16 with a 64-bit largesize.
      const want = this.headerBytes >= 8 && u32(this.header, 0) === 1 ? 16 : 8;
      const take = Math.min(want - this.headerBytes, chunk.length - i);
      this.header.set(chunk.subarray(i, i + take), this.headerBytes);
      this.headerBytes += take;
      i += take;
      if (this.headerBytes < want) continue;
      if (want === 8 && u32(this.header, 0) === 1) continue; // read the largesize too
      const size32 = u32(this.header, 0);
      const size = size32 === 1 ? u32(this.header, 8) * 2 ** 32 + u32(this.header, 12) : size32;
      this.box = { type: fourccAt(this.header, 4), size };
      if (size32 === 0 || size < want) {
        this.done = true; // to the end of the segment, or not a box size: nothing to say
        return;
      }
      this.remaining = size - want;
      this.headerBytes = 0;
    }
  }

  result(): BoxWalkResult {
    if (this.done || (this.remaining === 0 && this.headerBytes === 0)) return { complete: true };
    const { type, size } = this.box;
    if (this.remaining > 0) return { complete: false, cut: { type, size, present: size - this.remaining } };
    // The bytes end inside a box header: a box of unknown type and size.
    return { complete: false, cut: { type: '????', size: 8, present: this.headerBytes } };
  }
}
