import type { Writable } from 'node:stream';
import { OutputError } from '../core/errors.js';

/**
 * A stream written as a recording comes (`-o -`): waits when the pipe is full, and turns the reader going
 * away (EPIPE: the player was closed, `| head` had enough) into one OutputError at the next write instead
 * of an unhandled 'error' event that would end the process with a stack trace.
 */
export class PipeOutput {
  private failure: Error | undefined;
  private readonly onError = (err: Error): void => {
    this.failure ??= err;
  };

  constructor(
    private readonly pipe: Writable,
    private readonly name: string,
  ) {
    pipe.on('error', this.onError);
  }

  async write(bytes: Uint8Array): Promise<void> {
    this.check();
    if (this.pipe.write(bytes)) return;
    await new Promise<void>((resolve) => {
      const done = (): void => {
        this.pipe.off('drain', done);
        this.pipe.off('error', done);
        this.pipe.off('close', done);
        resolve();
      };
      this.pipe.once('drain', done);
      this.pipe.once('error', done);
      this.pipe.once('close', done);
    });
    this.check();
  }

  /**
   * Everything written has been handed to the operating system, which copied it: the memory written may
   * be used again. Only a stream on a file descriptor (standard output, a file) says so; any other stream
   * may pass the very bytes on to whoever reads it.
   */
  get holdsNothing(): boolean {
    return this.onDescriptor && this.pipe.writableLength === 0;
  }

  /** The stream writes to a file descriptor (standard output, a file): see holdsNothing. */
  get onDescriptor(): boolean {
    return typeof (this.pipe as { fd?: unknown }).fd === 'number';
  }

  /** Stop listening (the error listener stays until then, so a late EPIPE is never unhandled). */
  close(): void {
    this.pipe.off('error', this.onError);
    // A failure after this point has nobody to report to: swallow it rather than crash.
    this.pipe.on('error', () => undefined);
  }

  private check(): void {
    const err = this.failure ?? (this.pipe.destroyed ? new Error('closed') : undefined);
    if (!err) return;
    const gone = (err as NodeJS.ErrnoException).code === 'EPIPE' || this.pipe.destroyed;
    throw new OutputError(`cannot write to ${this.name}: ${gone ? 'the reader closed it' : err.message}`, {
      code: gone ? 'E_OUTPUT_CLOSED' : 'E_OUTPUT_WRITE',
      hint: gone ? "the program reading castkit's output exited; castkit stops with it" : undefined,
    });
  }
}
