import {
  InputWindows,
  memoryView,
  readFull,
  truncated,
  type PieceSource,
  type Window,
} from './input-windows.js';

/** Input window of each source: pieces inside it are served without a system call. */
const WINDOW = 4 << 20;

/**
 * Reads byte ranges of the inputs into memory, for a muxer that must transform each payload (TS packets,
 * Annex B) rather than copy it as it is (PieceWriter does that). Each input is read through a window with
 * one window of read-ahead: pieces come mostly in input order. A piece just before the window (time order
 * across the tracks of an interleaved file) is read on its own without moving the window.
 */
export class PieceReader {
  private readonly inputs: InputWindows;
  private scratch = new Uint8Array(1 << 20);

  constructor(sources: readonly PieceSource[]) {
    this.inputs = new InputWindows(sources);
  }

  /** The bytes when no I/O is needed (a view valid until the next call), else undefined: await read(). */
  peek(index: number, offset: number, size: number): Uint8Array | undefined {
    const w = this.inputs.windows[index];
    if (!w) return undefined;
    if (w.source.memory) return memoryView(w.source.memory, offset, size);
    const from = offset - w.start;
    return from >= 0 && from + size <= w.length ? w.buf.subarray(from, from + size) : undefined;
  }

  /** The bytes of a range (a view valid until the next call). */
  async read(index: number, offset: number, size: number): Promise<Uint8Array> {
    const hit = this.peek(index, offset, size);
    if (hit) return hit;
    const w = this.inputs.windows[index];
    if (!w) throw new RangeError(`no input #${index}`);
    const mem = w.source.memory;
    if (mem) return this.gather(w, mem, offset, size);
    if (size > WINDOW / 2 || (w.length > 0 && offset < w.start && w.start - offset <= WINDOW / 2)) {
      // A large piece, or one just before the window: read on its own, the window stays.
      return this.readAlone(w, offset, size);
    }
    await this.inputs.moveTo(w, offset, size, WINDOW);
    const got = this.peek(index, offset, size);
    if (!got) throw truncated(w.source.name, w.start + w.length);
    return got;
  }

  private async readAlone(w: Window, offset: number, size: number): Promise<Uint8Array> {
    if (this.scratch.length < size) this.scratch = new Uint8Array(size);
    const got = await readFull(await this.inputs.handleOf(w), this.scratch, 0, size, offset);
    if (got < size) throw truncated(w.source.name, offset + got);
    return this.scratch.subarray(0, size);
  }

  /** A range of a memory source that crosses its segments, copied into one piece. */
  private gather(
    w: Window,
    mem: NonNullable<PieceSource['memory']>,
    offset: number,
    size: number,
  ): Uint8Array {
    if (this.scratch.length < size) this.scratch = new Uint8Array(size);
    let done = 0;
    while (done < size) {
      const at = offset + done;
      const seg = Math.floor(at / mem.segmentSize);
      const within = at - seg * mem.segmentSize;
      const buf = mem.segments[seg];
      if (!buf) throw new RangeError(`${w.source.name}: no bytes at ${at}`);
      const n = Math.min(size - done, mem.segmentSize - within);
      this.scratch.set(buf.subarray(within, within + n), done);
      done += n;
    }
    return this.scratch.subarray(0, size);
  }

  /** Close the files this reader opened. */
  async close(): Promise<void> {
    await this.inputs.close();
  }
}
