import { open, type FileHandle } from 'node:fs/promises';
import { readFull, truncated, type PieceSource } from './piece-writer.js';

/** Input window of each source: pieces inside it are served without a system call. */
const WINDOW = 4 << 20;
/** Joining thousands of chunk files must not run out of file descriptors. */
const MAX_OPEN = 32;

interface Source {
  source: PieceSource;
  opened?: FileHandle;
  buf: Uint8Array;
  start: number;
  length: number;
  /** The next window, read while the current one is used. */
  ahead?: { start: number; buf: Uint8Array; done: Promise<number> };
}

/**
 * Reads byte ranges of the inputs into memory, for a muxer that must transform each payload (TS packets,
 * Annex B) rather than copy it as it is (PieceWriter does that). Each input is read through a window with
 * one window of read-ahead: pieces come mostly in input order. A piece just before the window (time order
 * across the tracks of an interleaved file) is read on its own without moving the window.
 */
export class PieceReader {
  private readonly sources: Source[];
  private readonly openOrder: Source[] = [];
  private scratch = new Uint8Array(1 << 20);

  constructor(sources: readonly PieceSource[]) {
    this.sources = sources.map((source) => ({ source, buf: new Uint8Array(0), start: 0, length: 0 }));
  }

  /** The bytes when no I/O is needed (a view valid until the next call), else undefined: await read(). */
  peek(index: number, offset: number, size: number): Uint8Array | undefined {
    const s = this.sources[index];
    if (!s) return undefined;
    const mem = s.source.memory;
    if (mem) {
      const seg = Math.floor(offset / mem.segmentSize);
      const within = offset - seg * mem.segmentSize;
      const buf = mem.segments[seg];
      return buf && within + size <= mem.segmentSize ? buf.subarray(within, within + size) : undefined;
    }
    const from = offset - s.start;
    return from >= 0 && from + size <= s.length ? s.buf.subarray(from, from + size) : undefined;
  }

  /** The bytes of a range (a view valid until the next call). */
  async read(index: number, offset: number, size: number): Promise<Uint8Array> {
    const hit = this.peek(index, offset, size);
    if (hit) return hit;
    const s = this.sources[index];
    if (!s) throw new RangeError(`no input #${index}`);
    const mem = s.source.memory;
    if (mem) return this.gather(s, mem, offset, size);
    if (size > WINDOW / 2 || (s.length > 0 && offset < s.start && s.start - offset <= WINDOW / 2)) {
      // A large piece, or one just before the window: read on its own, the window stays.
      return this.readAlone(s, offset, size);
    }
    const handle = await this.handleOf(s);
    if (s.buf.length === 0) s.buf = new Uint8Array(WINDOW);
    const ahead = s.ahead;
    s.ahead = undefined;
    let spare: Uint8Array;
    if (ahead && offset >= ahead.start && offset + size <= ahead.start + (await ahead.done)) {
      spare = s.buf;
      s.buf = ahead.buf;
      s.start = ahead.start;
      s.length = await ahead.done;
    } else {
      spare = ahead ? (await ahead.done.catch(() => 0), ahead.buf) : new Uint8Array(WINDOW);
      s.start = offset;
      s.length = await readFull(handle, s.buf, 0, s.buf.length, offset);
    }
    if (s.length === s.buf.length) {
      const start = s.start + s.length;
      const done = readFull(handle, spare, 0, spare.length, start);
      done.catch(() => undefined); // a failure shows when (if) the read-ahead is used
      s.ahead = { start, buf: spare, done };
    }
    const got = this.peek(index, offset, size);
    if (!got) throw truncated(s.source.name, s.start + s.length);
    return got;
  }

  private async readAlone(s: Source, offset: number, size: number): Promise<Uint8Array> {
    if (this.scratch.length < size) this.scratch = new Uint8Array(size);
    const got = await readFull(await this.handleOf(s), this.scratch, 0, size, offset);
    if (got < size) throw truncated(s.source.name, offset + got);
    return this.scratch.subarray(0, size);
  }

  /** A range of a memory source that crosses its segments, copied into one piece. */
  private gather(
    s: Source,
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
      if (!buf) throw new RangeError(`${s.source.name}: no bytes at ${at}`);
      const n = Math.min(size - done, mem.segmentSize - within);
      this.scratch.set(buf.subarray(within, within + n), done);
      done += n;
    }
    return this.scratch.subarray(0, size);
  }

  private async handleOf(s: Source): Promise<FileHandle> {
    if (s.source.handle) return s.source.handle;
    if (s.opened) return s.opened;
    if (!s.source.path) throw new RangeError(`input ${s.source.name} has neither a handle nor a path`);
    if (this.openOrder.length >= MAX_OPEN) {
      const old = this.openOrder.shift() as Source;
      await old.ahead?.done.catch(() => 0);
      old.ahead = undefined;
      await old.opened?.close();
      old.opened = undefined;
      old.buf = new Uint8Array(0);
      old.length = 0;
    }
    s.opened = await open(s.source.path, 'r');
    this.openOrder.push(s);
    return s.opened;
  }

  /** Close the files this reader opened. */
  async close(): Promise<void> {
    for (const s of this.sources) {
      await s.ahead?.done.catch(() => 0);
      s.ahead = undefined;
    }
    for (const s of this.openOrder) await s.opened?.close();
    this.openOrder.length = 0;
  }
}
