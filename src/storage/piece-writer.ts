import { open, type FileHandle } from 'node:fs/promises';
import { InputError } from '../core/errors.js';

/** One piece of an output: bytes made by a muxer, or a byte range of one of the inputs. */
export type Piece = { bytes: Uint8Array } | { source: number; offset: number; size: number };

export interface PieceSink {
  write(data: Uint8Array): Promise<void>;
}

/** An input that pieces refer to: an open handle, or a path opened when first needed. */
export interface PieceSource {
  name: string;
  handle?: FileHandle;
  path?: string;
  /** Bytes held in memory, in fixed-size segments (a payload store). */
  memory?: { segments: Uint8Array[]; segmentSize: number };
}

interface Window {
  source: PieceSource;
  /** Opened by this writer (closed again when too many are open, and at close()). */
  opened?: FileHandle;
  buf: Uint8Array;
  start: number;
  length: number;
  /** The next window, being read while the current one is copied from. */
  ahead?: { start: number; buf: Uint8Array; done: Promise<number> };
}

/** Joining thousands of chunk files must not run out of file descriptors. */
const MAX_OPEN = 32;
/** Input window: small reads are served from it; ranges of half a block or more bypass it. */
const WINDOW = 2 << 20;

/**
 * Assembles an output from pieces with few system calls: each input is read through a large sliding
 * window (pieces come mostly in input order) and output is gathered into a large buffer before each write.
 * Payloads move as whole ranges; nothing is touched byte by byte.
 */
export class PieceWriter {
  // Two output buffers: one fills while the other is being written (one write in flight at a time).
  private out: Uint8Array;
  private spare: Uint8Array;
  private pending: Promise<void> | undefined;
  private outLength = 0;
  private readonly windows: Window[];
  private readonly openOrder: Window[] = [];
  private readonly freeBuffers: Uint8Array[] = [];
  written = 0;

  constructor(
    private readonly sink: PieceSink,
    sources: PieceSource[],
    private readonly blockSize = 8 << 20,
    private readonly onWrite?: (written: number) => void,
  ) {
    this.out = new Uint8Array(blockSize);
    this.spare = new Uint8Array(blockSize);
    this.windows = sources.map((source) => ({ source, buf: new Uint8Array(0), start: 0, length: 0 }));
  }

  /**
   * Take a piece without waiting when that needs no I/O (it fits in the output buffer and, for a range,
   * lies in the input's current window). Returns false when the caller must `await add(piece)` instead.
   * Muxers emit tens of thousands of small pieces; this keeps them off the promise machinery.
   */
  tryAdd(piece: Piece): boolean {
    if ('bytes' in piece) return this.tryAddBytes(piece.bytes);
    const w = this.windows[piece.source];
    if (!w || this.outLength + piece.size > this.out.length) return false;
    const mem = w.source.memory;
    if (mem) {
      const seg = Math.floor(piece.offset / mem.segmentSize);
      const within = piece.offset - seg * mem.segmentSize;
      const buf = mem.segments[seg];
      if (!buf || within + piece.size > mem.segmentSize) return false;
      this.out.set(buf.subarray(within, within + piece.size), this.outLength);
      this.outLength += piece.size;
      return true;
    }
    const from = piece.offset - w.start;
    if (from < 0 || from + piece.size > w.length) return false;
    this.out.set(w.buf.subarray(from, from + piece.size), this.outLength);
    this.outLength += piece.size;
    return true;
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

  private async handleOf(w: Window): Promise<FileHandle> {
    if (w.source.handle) return w.source.handle;
    if (w.opened) return w.opened;
    if (!w.source.path) throw new RangeError(`input ${w.source.name} has neither a handle nor a path`);
    if (this.openOrder.length >= MAX_OPEN) {
      const old = this.openOrder.shift();
      if (old?.opened) {
        await old.ahead?.done.catch(() => 0);
        old.ahead = undefined;
        await old.opened.close();
        old.opened = undefined;
        // Its window buffer serves the next input: thousands of chunk files must not mean thousands of
        // multi-megabyte allocations.
        if (old.buf.length > 0) this.freeBuffers.push(old.buf);
        old.buf = new Uint8Array(0);
        old.length = 0;
      }
    }
    w.opened = await open(w.source.path, 'r');
    this.openOrder.push(w);
    return w.opened;
  }

  /** Close the files this writer opened. */
  async close(): Promise<void> {
    for (const w of this.windows) {
      await w.ahead?.done.catch(() => 0);
      w.ahead = undefined;
    }
    for (const w of this.openOrder) await w.opened?.close();
    this.openOrder.length = 0;
  }

  private async copyRange(source: number, offset: number, size: number): Promise<void> {
    const w = this.windows[source];
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
        const got = await readFull(await this.handleOf(w), this.out, this.outLength, n, at);
        if (got < n) throw truncated(w.source.name, at + got);
        this.outLength += n;
        at += n;
        left -= n;
        continue;
      }
      // Large ranges are read straight into the output buffer; small ones through the window.
      if (left >= Math.min(WINDOW, this.out.length / 2)) {
        await this.rotate();
        const n = Math.min(left, this.out.length);
        const got = await readFull(await this.handleOf(w), this.out, 0, n, at);
        if (got < n) throw truncated(w.source.name, at + got);
        this.outLength = n;
        await this.rotate();
        at += n;
        left -= n;
        continue;
      }
      const handle = await this.handleOf(w);
      if (w.buf.length === 0)
        w.buf = this.freeBuffers.pop() ?? new Uint8Array(Math.min(WINDOW, this.out.length));
      const ahead = w.ahead;
      w.ahead = undefined;
      if (ahead && at >= ahead.start && at < ahead.start + ahead.buf.length) {
        // Read ahead while the previous window was being copied: usually already there. The piece may
        // start a little into it (time order across the tracks of an interleaved file).
        const length = await ahead.done;
        const old = w.buf;
        w.buf = ahead.buf;
        w.start = ahead.start;
        w.length = length;
        if (length === w.buf.length) this.readAhead(w, handle, old, ahead.start + length);
        else this.freeBuffers.push(old);
      } else {
        let spare: Uint8Array | undefined;
        if (ahead) {
          await ahead.done.catch(() => 0); // a jump: the read-ahead buffer is free once its read is over
          spare = ahead.buf;
        }
        w.start = at;
        w.length = await readFull(handle, w.buf, 0, w.buf.length, at);
        if (w.length === w.buf.length) {
          this.readAhead(
            w,
            handle,
            spare ?? this.freeBuffers.pop() ?? new Uint8Array(w.buf.length),
            w.start + w.length,
          );
        } else if (spare) this.freeBuffers.push(spare);
      }
      if (w.length === 0) throw truncated(w.source.name, at);
    }
  }

  private readAhead(w: Window, handle: FileHandle, buf: Uint8Array, start: number): void {
    const done = readFull(handle, buf, 0, buf.length, start);
    done.catch(() => undefined); // a failure shows when (if) the window is used
    w.ahead = { start, buf, done };
  }

  private advance(n: number): void {
    this.written += n;
    this.onWrite?.(this.written);
  }

  /** Start writing the filled buffer and continue in the other one (waits for the previous write). */
  private async rotate(): Promise<void> {
    await this.pending;
    this.pending = undefined;
    if (this.outLength === 0) return;
    const n = this.outLength;
    const buf = this.out;
    this.out = this.spare;
    this.spare = buf;
    this.outLength = 0;
    this.pending = this.sink.write(buf.subarray(0, n)).then(() => this.advance(n));
  }

  /** Write everything taken so far and wait until it is written. */
  async flush(): Promise<void> {
    await this.rotate();
    await this.pending;
    this.pending = undefined;
  }
}

/** Read until `length` bytes or the end of the file; returns the bytes read. */
export async function readFull(
  h: FileHandle,
  buf: Uint8Array,
  at: number,
  length: number,
  position: number,
): Promise<number> {
  let got = 0;
  while (got < length) {
    const { bytesRead } = await h.read(buf, at + got, length - got, position + got);
    if (bytesRead === 0) break;
    got += bytesRead;
  }
  return got;
}

export function truncated(name: string, offset: number): InputError {
  return new InputError(`${name} ended at byte ${offset} while reading a sample`, {
    code: 'E_INPUT_CHANGED',
    hint: 'the input was truncated or changed while castkit was reading it',
    details: { path: name, offset },
  });
}
