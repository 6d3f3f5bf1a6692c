/**
 * Bytes kept in order, copied into blocks of one size: for data held back before it can be written (a
 * remux's payloads before the room for the moov is reserved), without one allocation per piece.
 */
export class BlockQueue {
  private readonly full: Uint8Array[] = [];
  private cur: Uint8Array;
  private used = 0;
  /** Bytes added so far. */
  length = 0;

  constructor(private readonly blockSize: number) {
    if (!(blockSize > 0)) throw new RangeError(`block size must be positive, not ${blockSize}`);
    this.cur = new Uint8Array(blockSize);
  }

  /** A copy of `b` at the end (the caller may reuse its memory at once). */
  add(b: Uint8Array): void {
    let from = 0;
    while (from < b.length) {
      if (this.used === this.cur.length) {
        this.full.push(this.cur);
        this.cur = new Uint8Array(this.blockSize);
        this.used = 0;
      }
      const n = Math.min(b.length - from, this.cur.length - this.used);
      this.cur.set(n === b.length ? b : b.subarray(from, from + n), this.used);
      this.used += n;
      from += n;
    }
    this.length += b.length;
  }

  /** Everything added, in order: whole blocks, then the part of the last one in use. */
  blocks(): Uint8Array[] {
    return this.used > 0 ? [...this.full, this.cur.subarray(0, this.used)] : [...this.full];
  }
}
