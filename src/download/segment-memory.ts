/**
 * Memory for the segments a download hands to its consumer: bodies fetched into memory (no journal, as
 * for `record -o -`) and segments read back from the journal. Each segment used to get new memory, and
 * on this project's virtual machines the first touch of each new 4 kB page costs about 3 us: 142 MB of
 * segments took about 60 ms more than the same bytes in memory used again. Memory comes back once the
 * consumer lets go of it (give()) and goes to the next segment that fits.
 */
import { READ_SKEW, fileReadBuffer } from '../core/bytes.js';

/** Room for segments a little longer than the one that made the memory (sizes vary by a few percent). */
const HEADROOM = 1 / 8;

export interface SegmentMemoryOptions {
  /** Spare buffers kept at most. Default 4. */
  keep?: number;
  /** Bytes of spare buffers kept at most, beyond the first two. Default 96 MiB. */
  keepBytes?: number;
}

export class SegmentMemory {
  private readonly spare: Uint8Array<ArrayBuffer>[] = [];
  /**
   * Memory take() made and handed out, not yet given back: the only memory give() keeps (a consumer may
   * hand back anything, or the same memory twice).
   */
  private readonly out = new WeakSet<ArrayBufferLike>();
  private readonly keep: number;
  private readonly keepBytes: number;

  constructor(options: SegmentMemoryOptions = {}) {
    this.keep = Math.max(1, options.keep ?? 4);
    this.keepBytes = options.keepBytes ?? 96 << 20;
  }

  /**
   * `n` bytes (a view of the start of memory of their own, past the page boundary as fileReadBuffer
   * gives it): the smallest spare that holds them, or new memory with some room to spare.
   */
  take(n: number): Buffer {
    let best = -1;
    for (let k = 0; k < this.spare.length; k++) {
      const len = (this.spare[k] as Uint8Array).length;
      if (len >= n && (best < 0 || len < (this.spare[best] as Uint8Array).length)) best = k;
    }
    let mem: Uint8Array<ArrayBuffer>;
    if (best >= 0) mem = this.spare.splice(best, 1)[0] as Uint8Array<ArrayBuffer>;
    else mem = fileReadBuffer(n + Math.ceil(n * HEADROOM));
    this.out.add(mem.buffer);
    return Buffer.from(mem.buffer, mem.byteOffset, n);
  }

  /**
   * Memory the consumer no longer refers to, for a later take(). Memory take() did not make, or already
   * given back, is left alone. Beyond `keep` buffers (or `keepBytes` beyond two), the smallest goes.
   */
  give(bytes: Uint8Array): void {
    const buffer = bytes.buffer;
    // A consumer may have moved the memory to a worker thread (detached: no bytes left here).
    if (!this.out.has(buffer) || buffer.byteLength === 0) return;
    this.out.delete(buffer);
    this.spare.push(new Uint8Array(buffer as ArrayBuffer, READ_SKEW, buffer.byteLength - READ_SKEW));
    this.spare.sort((a, b) => b.length - a.length);
    let bytesKept = this.spare.reduce((n, s) => n + s.length, 0);
    while (this.spare.length > this.keep || (this.spare.length > 2 && bytesKept > this.keepBytes)) {
      bytesKept -= (this.spare.pop() as Uint8Array).length;
    }
  }

  /** Spare buffers held now (for tests). */
  get spares(): number {
    return this.spare.length;
  }
}
