import type { FileHandle } from 'node:fs/promises';
import { InputWindows, memoryView, readFull, truncated, type PieceSource } from './input-windows.js';

/** One piece of an output: bytes made by a muxer, or a byte range of one of the inputs. */
export type Piece = { bytes: Uint8Array } | { source: number; offset: number; size: number };

export interface PieceSink {
  write(data: Uint8Array): Promise<void>;
  /**
   * Write `data` after what write() was given, on the calling thread, before returning; with it, write()
   * must take its place in the file when called, not when done (AtomicFile.writev). A writer whose last
   * block is still being written on the thread pool writes the next one itself with this, instead of
   * waiting for the pool.
   */
  writeNow?(data: Uint8Array): void;
}

/** Input window: small reads are served from it; large ranges bypass it. */
const WINDOW = 2 << 20;

/**
 * A range at least this large, not in the window, is read straight into its place in the output buffer,
 * without waiting: the reads of a block run on the thread pool together (and beside the previous block's
 * write), and the buffer is written once they are all in. fMP4 -> MP4 moves each fragment's payload as
 * one range of a few hundred kB; through the window it was read, then copied.
 */
const DIRECT_MIN = 128 << 10;

/**
 * Assembles an output from pieces with few system calls: small ranges of an input are read through a large
 * sliding window (pieces come mostly in input order), large ones straight into their place in the output
 * buffer, and output is gathered into that buffer before each write. Payloads move as whole ranges;
 * nothing is touched byte by byte.
 */
export class PieceWriter {
  // Two output buffers: one fills while the other is being written (one write in flight at a time).
  private out: Uint8Array;
  private spare: Uint8Array;
  private pending: Promise<void> | undefined;
  /** `pending` has not settled yet. */
  private inFlight = false;
  private outLength = 0;
  /** Reads started into `out` (direct ranges): the buffer is written when they are all in. */
  private reads: Promise<void>[] = [];
  private readonly inputs: InputWindows;
  /** Bytes in the file, with every byte before them: a block written at once is counted after the one before. */
  written = 0;

  constructor(
    private readonly sink: PieceSink,
    sources: PieceSource[],
    private readonly blockSize = 8 << 20,
    private readonly onWrite?: (written: number) => void,
  ) {
    this.out = new Uint8Array(blockSize);
    this.spare = new Uint8Array(blockSize);
    this.inputs = new InputWindows(sources);
  }

  /**
   * Take a piece without waiting when that needs no I/O (it fits in the output buffer and, for a range,
   * lies in the input's current window). Returns false when the caller must `await add(piece)` instead.
   * Muxers emit tens of thousands of small pieces; this keeps them off the promise machinery.
   */
  tryAdd(piece: Piece): boolean {
    if ('bytes' in piece) return this.tryAddBytes(piece.bytes);
    const w = this.inputs.windows[piece.source];
    if (!w || this.outLength + piece.size > this.out.length) return false;
    const mem = w.source.memory;
    if (mem) {
      const view = memoryView(mem, piece.offset, piece.size);
      if (!view) return false;
      this.out.set(view, this.outLength);
      this.outLength += piece.size;
      return true;
    }
    const from = piece.offset - w.start;
    if (from < 0 || from + piece.size > w.length) {
      const handle = w.source.handle ?? w.opened;
      if (piece.size < DIRECT_MIN || !handle) return false;
      this.readDirect(handle, w.source.name, piece.offset, piece.size);
      return true;
    }
    this.out.set(w.buf.subarray(from, from + piece.size), this.outLength);
    this.outLength += piece.size;
    return true;
  }

  /** Start reading `size` bytes at `offset` into the output buffer's next bytes (they must fit). */
  private readDirect(handle: FileHandle, name: string, offset: number, size: number): void {
    const at = this.outLength;
    this.outLength += size;
    this.reads.push(
      readFull(handle, this.out, at, size, offset).then((got) => {
        if (got < size) throw truncated(name, offset + got);
      }),
    );
  }

  /** `tryAdd({ bytes })` without the object: for callers that add hundreds of thousands of payloads. */
  tryAddBytes(b: Uint8Array): boolean {
    if (this.outLength + b.length > this.out.length) return false;
    this.out.set(b, this.outLength);
    this.outLength += b.length;
    return true;
  }

  async add(piece: Piece): Promise<void> {
    if ('bytes' in piece) await this.append(piece.bytes);
    else await this.copyRange(piece.source, piece.offset, piece.size);
  }

  private async append(bytes: Uint8Array): Promise<void> {
    if (this.outLength + bytes.length > this.out.length) await this.rotate();
    if (bytes.length >= this.out.length) {
      await this.flush(); // keep the order: the buffered bytes go first
      await this.sink.write(bytes);
      this.advance(bytes.length);
      return;
    }
    this.out.set(bytes, this.outLength);
    this.outLength += bytes.length;
  }

  /** Close the files this writer opened. */
  async close(): Promise<void> {
    // Reads still in flight (an error stopped the writer mid-block) end before their files are closed.
    await Promise.allSettled([...this.reads, this.pending]);
    this.reads = [];
    await this.inputs.close();
  }

  private async copyRange(source: number, offset: number, size: number): Promise<void> {
    const w = this.inputs.windows[source];
    if (!w) throw new RangeError(`no input #${source}`);
    let at = offset;
    let left = size;
    const mem = w.source.memory;
    while (left > 0 && mem) {
      const seg = Math.floor(at / mem.segmentSize);
      const within = at - seg * mem.segmentSize;
      const buf = mem.segments[seg];
      if (!buf) throw new RangeError(`${w.source.name}: no bytes at ${at}`);
      const n = Math.min(left, mem.segmentSize - within);
      await this.append(buf.subarray(within, within + n));
      at += n;
      left -= n;
    }
    while (left > 0) {
      if (at >= w.start && at < w.start + w.length) {
        const n = Math.min(left, w.start + w.length - at);
        await this.append(w.buf.subarray(at - w.start, at - w.start + n));
        at += n;
        left -= n;
        continue;
      }
      if (w.length > 0 && at < w.start && w.start - at <= WINDOW / 2) {
        // A step back to just before the window: a piece that comes later in time order but earlier in
        // the file (FLV tags in time order from an interleaved MP4). It is read on its own, so that the
        // window and its read-ahead stay where the next pieces are.
        const n = Math.min(left, w.start - at);
        if (this.outLength + n > this.out.length) await this.rotate();
        const got = await readFull(await this.inputs.handleOf(w), this.out, this.outLength, n, at);
        if (got < n) throw truncated(w.source.name, at + got);
        this.outLength += n;
        at += n;
        left -= n;
        continue;
      }
      // Large ranges are read straight into the output buffer (see DIRECT_MIN); small ones through the window.
      // A large range split by the end of the buffer stays direct to its end: its tail through the window
      // would start a read-ahead of the window's size that the direct reads after it never use (fMP4 ->
      // MP4 read a third more than its input that way).
      if (size >= DIRECT_MIN) {
        if (this.out.length - this.outLength < Math.min(left, DIRECT_MIN)) await this.rotate();
        const n = Math.min(left, this.out.length - this.outLength);
        this.readDirect(await this.inputs.handleOf(w), w.source.name, at, n);
        at += n;
        left -= n;
        continue;
      }
      await this.inputs.moveTo(w, at, 1, Math.min(WINDOW, this.out.length));
      if (w.length === 0) throw truncated(w.source.name, at);
    }
  }

  private advance(n: number): void {
    this.written += n;
    this.onWrite?.(this.written);
  }

  /**
   * Start writing the filled buffer and continue in the other one (waits for the previous write); or,
   * with a sink that can write at once and the previous write still in flight, write it at once and fill
   * it again. In a recording the main thread waited 63-88 ms for the pool's writes of 139 MB that way.
   */
  private async rotate(): Promise<void> {
    if (this.inFlight && this.sink.writeNow && this.reads.length === 0 && this.outLength > 0) {
      // A write that has finished is seen only once the event loop has run: one turn of it first.
      await new Promise<void>((resolve) => setImmediate(resolve));
      if (this.inFlight) {
        const n = this.outLength;
        this.sink.writeNow(this.out.subarray(0, n));
        this.outLength = 0;
        // Counted once the block before it is written too: `written` is bytes with all before them written
        // (a recording keeps a checkpoint once the output has its bytes: Mp4RecordSink.payloadWritten).
        this.track((this.pending as Promise<void>).then(() => this.advance(n)));
        return;
      }
    }
    await this.pending;
    this.pending = undefined;
    if (this.outLength === 0) return;
    const n = this.outLength;
    const buf = this.out;
    const reads = this.reads;
    this.out = this.spare;
    this.spare = buf;
    this.outLength = 0;
    this.reads = [];
    const write = (): Promise<void> => this.sink.write(buf.subarray(0, n)).then(() => this.advance(n));
    this.track(reads.length > 0 ? Promise.all(reads).then(write) : write());
  }

  /** The write on its way now (awaited by the next rotate or flush). */
  private track(pending: Promise<void>): void {
    this.pending = pending;
    this.inFlight = true;
    const settled = (): void => {
      if (this.pending === pending) this.inFlight = false;
    };
    // Until then a failure must not count as unhandled.
    pending.then(settled, settled);
  }

  /** Write everything taken so far and wait until it is written. */
  async flush(): Promise<void> {
    await this.rotate();
    await this.pending;
    this.pending = undefined;
  }
}
