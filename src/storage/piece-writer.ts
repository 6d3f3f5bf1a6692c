import type { FileHandle } from 'node:fs/promises';
import { InputError } from '../core/errors.js';

/** One piece of an output: bytes made by a muxer, or a byte range of one of the inputs. */
export type Piece = { bytes: Uint8Array } | { source: number; offset: number; size: number };

export interface PieceSink {
  write(data: Uint8Array): Promise<void>;
}

interface Window {
  handle: FileHandle;
  name: string;
  buf: Uint8Array;
  start: number;
  length: number;
}

/**
 * Assembles an output from pieces with few system calls: each input is read through a large sliding
 * window (pieces come mostly in input order) and output is gathered into a large buffer before each write.
 * Payloads move as whole ranges; nothing is touched byte by byte.
 */
export class PieceWriter {
  private readonly out: Uint8Array;
  private outLength = 0;
  private readonly windows: Window[];
  written = 0;

  constructor(
    private readonly sink: PieceSink,
    sources: { handle: FileHandle; name: string }[],
    private readonly blockSize = 8 << 20,
    private readonly onWrite?: (written: number) => void,
  ) {
    this.out = new Uint8Array(blockSize);
    this.windows = sources.map((s) => ({ ...s, buf: new Uint8Array(0), start: 0, length: 0 }));
  }

  async add(piece: Piece): Promise<void> {
    if ('bytes' in piece) await this.append(piece.bytes);
    else await this.copyRange(piece.source, piece.offset, piece.size);
  }

  private async append(bytes: Uint8Array): Promise<void> {
    if (this.outLength + bytes.length > this.out.length) await this.flush();
    if (bytes.length >= this.out.length) {
      await this.sink.write(bytes);
      this.advance(bytes.length);
      return;
    }
    this.out.set(bytes, this.outLength);
    this.outLength += bytes.length;
  }

  private async copyRange(source: number, offset: number, size: number): Promise<void> {
    const w = this.windows[source];
    if (!w) throw new RangeError(`no input #${source}`);
    let at = offset;
    let left = size;
    while (left > 0) {
      if (at >= w.start && at < w.start + w.length) {
        const n = Math.min(left, w.start + w.length - at);
        await this.append(w.buf.subarray(at - w.start, at - w.start + n));
        at += n;
        left -= n;
        continue;
      }
      // Large ranges are read straight into the output buffer; small ones through the window.
      if (left >= this.out.length / 2) {
        await this.flush();
        const n = Math.min(left, this.out.length);
        const got = await readFull(w.handle, this.out, 0, n, at);
        if (got < n) throw truncated(w.name, at + got);
        this.outLength = n;
        await this.flush();
        at += n;
        left -= n;
        continue;
      }
      if (w.buf.length === 0) w.buf = new Uint8Array(this.out.length);
      w.start = at;
      w.length = await readFull(w.handle, w.buf, 0, w.buf.length, at);
      if (w.length === 0) throw truncated(w.name, at);
    }
  }

  private advance(n: number): void {
    this.written += n;
    this.onWrite?.(this.written);
  }

  async flush(): Promise<void> {
    if (this.outLength === 0) return;
    const n = this.outLength;
    await this.sink.write(this.out.subarray(0, n));
    this.outLength = 0;
    this.advance(n);
  }
}

async function readFull(
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

function truncated(name: string, offset: number): InputError {
  return new InputError(`${name} ended at byte ${offset} while reading a sample`, {
    code: 'E_INPUT_CHANGED',
    hint: 'the input was truncated or changed while castkit was reading it',
    details: { path: name, offset },
  });
}
