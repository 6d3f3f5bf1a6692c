import { open, unlink, type FileHandle } from 'node:fs/promises';
import type { PieceSource } from './input-windows.js';
import { writeAllAt } from './write-all.js';

const SEGMENT = 8 << 20;

/**
 * Where payloads that a demuxer produced (Annex B turned into length-prefixed samples, raw AAC from ADTS)
 * wait for the muxer: in memory up to a budget, then in a file next to the output, so memory stays bounded
 * whatever the input size while small inputs never touch the disk twice.
 */
export class PayloadStore {
  private readonly segments: Uint8Array[] = [];
  private segUsed = SEGMENT; // forces a new segment on first use
  private memoryUsed = 0;
  private handle: FileHandle | undefined;
  private fileBuf = new Uint8Array(SEGMENT);
  private fileBufUsed = 0;
  private fileSize = 0;

  constructor(
    readonly path: string,
    private readonly memoryBudget = 64 << 20,
  ) {}

  private readonly segmentIndex = new Map<ArrayBufferLike, number>();

  /**
   * Room for a payload a demuxer is about to make: a view of the store's memory while the budget allows
   * (the payload is then stored as it is written), else a fresh array for `addToFile` later.
   */
  allocate(size: number): Uint8Array {
    if (!this.room(size)) return new Uint8Array(size);
    const seg = this.segments.length - 1;
    const view = (this.segments[seg] as Uint8Array).subarray(this.segUsed, this.segUsed + size);
    this.segUsed += size;
    return view;
  }

  /** The position of a view made by `allocate`, or -1 when it is not in the store's memory. */
  positionOf(view: Uint8Array): number {
    const seg = this.segmentIndex.get(view.buffer);
    return seg === undefined ? -1 : seg * SEGMENT + view.byteOffset;
  }

  /** Make sure the current segment has `size` bytes free, within the budget. */
  private room(size: number): boolean {
    if (size > SEGMENT) return false;
    if (this.segUsed + size <= SEGMENT) return true;
    if (this.memoryUsed + SEGMENT > this.memoryBudget) return false;
    const seg = new Uint8Array(SEGMENT);
    this.segmentIndex.set(seg.buffer, this.segments.length);
    this.segments.push(seg);
    this.memoryUsed += SEGMENT;
    this.segUsed = 0;
    return true;
  }

  /**
   * Keep `data` in memory when the budget allows: returns its position (synchronously). Returns -1 when the
   * caller must use `addToFile` instead.
   */
  addToMemory(data: Uint8Array): number {
    const placed = this.positionOf(data);
    if (placed >= 0) return placed; // made in place by allocate()
    if (!this.room(data.length)) return -1;
    const seg = this.segments.length - 1;
    // A sample never straddles two segments, so a position maps to one view.
    (this.segments[seg] as Uint8Array).set(data, this.segUsed);
    const at = seg * SEGMENT + this.segUsed;
    this.segUsed += data.length;
    return at;
  }

  /** Append `data` to the spill file; returns its offset there. */
  async addToFile(data: Uint8Array): Promise<number> {
    this.handle ??= await open(this.path, 'w+', 0o600);
    const at = this.fileSize;
    if (this.fileBufUsed + data.length > this.fileBuf.length) await this.flush();
    if (data.length > this.fileBuf.length) await writeAllAt(this.handle, data, at);
    else {
      this.fileBuf.set(data, this.fileBufUsed);
      this.fileBufUsed += data.length;
    }
    this.fileSize += data.length;
    return at;
  }

  async flush(): Promise<void> {
    if (!this.handle || this.fileBufUsed === 0) return;
    await writeAllAt(
      this.handle,
      this.fileBuf.subarray(0, this.fileBufUsed),
      this.fileSize - this.fileBufUsed,
    );
    this.fileBufUsed = 0;
  }

  /** A view of `size` bytes kept in memory at `at` (a position addToMemory returned). */
  memoryBytes(at: number, size: number): Uint8Array {
    const seg = this.segments[Math.floor(at / SEGMENT)] ?? new Uint8Array(0);
    return seg.subarray(at % SEGMENT, (at % SEGMENT) + size);
  }

  memorySource(): PieceSource {
    return { name: 'payloads in memory', memory: { segments: this.segments, segmentSize: SEGMENT } };
  }

  fileSource(): PieceSource {
    return { name: 'spill file', path: this.path };
  }

  async dispose(): Promise<void> {
    this.segments.length = 0;
    this.segmentIndex.clear();
    if (!this.handle) return; // nothing was spilled: no file to remove
    await this.handle.close().catch(() => undefined);
    this.handle = undefined;
    await unlink(this.path).catch(() => undefined);
  }
}
