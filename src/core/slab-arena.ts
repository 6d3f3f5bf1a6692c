/**
 * Memory for short-lived payloads (demuxed access units on their way to the output), carved out of
 * large slabs that are used again once everything carved from them has been released. A remux of a
 * 2 GB MPEG-TS makes half a million payloads; allocating each (zero-filled, then collected) costs more
 * than copying it. Payloads may be released in any order: a demuxer holds one sample back, and audio
 * may wait for the first video keyframe; a slab is free when its last payload is released.
 */
interface Slab {
  bytes: Uint8Array;
  used: number;
  /** Payloads carved from it and not yet released. */
  live: number;
}

export class SlabArena {
  private current: Slab | undefined;
  private readonly free: Slab[] = [];
  private readonly byBuffer = new Map<ArrayBufferLike, Slab>();

  /**
   * @param slabSize bytes per slab; a payload over a quarter of it gets memory of its own
   * @param maxFree slabs kept for reuse beyond the current one
   */
  constructor(
    private readonly slabSize = 1 << 20,
    private readonly maxFree = 4,
  ) {}

  /** `n` bytes (not zeroed), to be given back with `release` once copied out. */
  allocate(n: number): Uint8Array {
    if (n > this.slabSize >> 2) return new Uint8Array(n);
    let slab = this.current;
    if (!slab || slab.used + n > slab.bytes.length) {
      if (slab && slab.live === 0) slab.used = 0;
      else {
        slab = this.free.pop() ?? this.newSlab();
        slab.used = 0;
        this.current = slab;
      }
    }
    const b = slab.bytes.subarray(slab.used, slab.used + n);
    slab.used += n;
    slab.live++;
    return b;
  }

  /** Give back a payload from `allocate` (others are ignored). */
  release(b: Uint8Array): void {
    const slab = this.byBuffer.get(b.buffer);
    if (!slab) return;
    slab.live--;
    if (slab.live === 0 && slab !== this.current) {
      if (this.free.length < this.maxFree) this.free.push(slab);
      else this.byBuffer.delete(slab.bytes.buffer);
    }
  }

  private newSlab(): Slab {
    const slab: Slab = { bytes: new Uint8Array(this.slabSize), used: 0, live: 0 };
    this.byBuffer.set(slab.bytes.buffer, slab);
    return slab;
  }
}
