/** Segments let go of and waiting to be handed back, at most this many (older ones are simply dropped). */
const MAX_WAITING = 8;

/**
 * The caller's segment memory a sink no longer refers to, waiting for releasesSegments to hand it back
 * (see DownloadSegmentsOptions.segmentReleased). At most a few wait: a caller that never asks, or an output
 * that keeps holding bytes, would otherwise keep every segment of a recording alive.
 */
export class ReleasedSegments {
  private waiting: Uint8Array[] = [];

  add(bytes: Uint8Array): void {
    this.waiting.push(bytes);
    if (this.waiting.length > MAX_WAITING) this.waiting.shift();
  }

  get size(): number {
    return this.waiting.length;
  }

  /** Every segment waiting, each handed out once. */
  takeAll(): Uint8Array[] {
    const all = this.waiting;
    this.waiting = [];
    return all;
  }
}
