import { open, type FileHandle } from 'node:fs/promises';
import { fileReadBuffer } from '../core/bytes.js';
import { InputError } from '../core/errors.js';

/** An input that pieces refer to: an open handle, or a path opened when first needed. */
export interface PieceSource {
  name: string;
  handle?: FileHandle;
  path?: string;
  /** Bytes held in memory, in fixed-size segments (a payload store). */
  memory?: { segments: Uint8Array[]; segmentSize: number };
}

/** The part of an input held in memory, and the part after it being read ahead. */
export interface Window {
  source: PieceSource;
  /** Opened here (closed again when too many are open, and at close()). */
  opened?: FileHandle;
  buf: Uint8Array;
  start: number;
  length: number;
  /** The next window, being read while the current one is used. */
  ahead?: { start: number; buf: Uint8Array; done: Promise<number> };
}

/** Joining thousands of chunk files must not run out of file descriptors. */
const MAX_OPEN = 32;

/**
 * The inputs of a PieceWriter or PieceReader, each read through a window: the files opened when first
 * needed (at most MAX_OPEN at a time, the longest open closed first), reads ahead, and the window buffers
 * of closed inputs kept for the next ones (thousands of chunk files must not mean thousands of
 * multi-megabyte allocations).
 */
export class InputWindows {
  readonly windows: Window[];
  private readonly openOrder: Window[] = [];
  /** Window buffers no input is using. */
  readonly freeBuffers: Uint8Array[] = [];

  constructor(sources: readonly PieceSource[]) {
    this.windows = sources.map((source) => ({ source, buf: new Uint8Array(0), start: 0, length: 0 }));
  }

  async handleOf(w: Window): Promise<FileHandle> {
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
        if (old.buf.length > 0) this.freeBuffers.push(old.buf);
        old.buf = new Uint8Array(0);
        old.length = 0;
      }
    }
    w.opened = await open(w.source.path, 'r');
    this.openOrder.push(w);
    return w.opened;
  }

  /** A window buffer of `size` bytes: a free one when there is one. */
  buffer(size: number): Uint8Array {
    return this.freeBuffers.pop() ?? fileReadBuffer(size);
  }

  /** Start reading the bytes after `w`'s window into `buf`. */
  private readAhead(w: Window, handle: FileHandle, buf: Uint8Array, start: number): void {
    const done = readFull(handle, buf, 0, buf.length, start);
    done.catch(() => undefined); // a failure shows when (if) the window is used
    w.ahead = { start, buf, done };
  }

  /**
   * Moves `w`'s window to hold [at, at + need): from its read-ahead when that holds it, else read there.
   * Then the bytes after the window are read ahead (when the window is full: not at the end of the file).
   * A window buffer is `size` bytes.
   */
  async moveTo(w: Window, at: number, need: number, size: number): Promise<void> {
    const handle = await this.handleOf(w);
    if (w.buf.length === 0) w.buf = this.buffer(size);
    const ahead = w.ahead;
    w.ahead = undefined;
    if (ahead && at >= ahead.start && at + need <= ahead.start + ahead.buf.length) {
      // Read while the previous window was being used: usually already there. The piece may start a
      // little into it (time order across the tracks of an interleaved file).
      const length = await ahead.done;
      const old = w.buf;
      w.buf = ahead.buf;
      w.start = ahead.start;
      w.length = length;
      if (length === w.buf.length) this.readAhead(w, handle, old, ahead.start + length);
      else this.freeBuffers.push(old);
      return;
    }
    let spare: Uint8Array | undefined;
    if (ahead) {
      await ahead.done.catch(() => 0); // a jump: the read-ahead buffer is free once its read is over
      spare = ahead.buf;
    }
    w.start = at;
    w.length = await readFull(handle, w.buf, 0, w.buf.length, at);
    if (w.length === w.buf.length) {
      this.readAhead(w, handle, spare ?? this.buffer(w.buf.length), w.start + w.length);
    } else if (spare) this.freeBuffers.push(spare);
  }

  /** Close the files opened here. */
  async close(): Promise<void> {
    for (const w of this.windows) {
      await w.ahead?.done.catch(() => 0);
      w.ahead = undefined;
    }
    for (const w of this.openOrder) await w.opened?.close();
    this.openOrder.length = 0;
  }
}

/** `size` bytes at `offset` of a memory source, when they lie in one of its segments. */
export function memoryView(
  mem: NonNullable<PieceSource['memory']>,
  offset: number,
  size: number,
): Uint8Array | undefined {
  const seg = Math.floor(offset / mem.segmentSize);
  const within = offset - seg * mem.segmentSize;
  const buf = mem.segments[seg];
  return buf && within + size <= mem.segmentSize ? buf.subarray(within, within + size) : undefined;
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
