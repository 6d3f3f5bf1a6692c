import { writeFileSync } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';

/**
 * Appends text lines to a file opened for appending, one write at a time, in call order: lines that
 * arrive while a write is on its way go out together in the next one. A recording of thousands of
 * segments journals a line each; one write call per line cost more main-thread time than the lines are
 * worth. `append` resolves once its line has been written, and rejects when that write failed.
 */
export class LineLog {
  private queued: string[] = [];
  private waiting: { resolve: () => void; reject: (err: unknown) => void }[] = [];
  private flushing: Promise<void> | undefined;
  /** The file's descriptor once it is open (appendSync). */
  private fd: number | undefined;

  constructor(private readonly handle: FileHandle | Promise<FileHandle>) {
    if (!(handle instanceof Promise)) this.fd = handle.fd;
  }

  /** Resolves once the file is open: appendSync() may be used from then on. */
  async ready(): Promise<void> {
    this.fd = (await this.handle).fd;
  }

  /** Lines given to append() are still on their way. */
  get busy(): boolean {
    return this.flushing !== undefined;
  }

  /**
   * Append one line now, on this thread, before returning: for the few lines a caller must know written
   * before it goes on, where a round trip through the thread pool for each (three small writes for each
   * segment a recording keeps by a checkpoint: 30 segments took 20 ms longer that way, by hand) costs
   * more than the write. Lines still queued by append() land after it: for a log whose lines may be read
   * in any order, or one that is not `busy`. After ready() when the file was given as a promise.
   */
  appendSync(text: string): void {
    const fd = this.fd;
    if (fd === undefined) throw new Error('LineLog.appendSync before the file is open (ready())');
    writeFileSync(fd, text + '\n');
  }

  /** Append one line (`text` without its newline). */
  append(text: string): Promise<void> {
    this.queued.push(text + '\n');
    const done = new Promise<void>((resolve, reject) => this.waiting.push({ resolve, reject }));
    this.flushing ??= this.flush();
    return done;
  }

  /** Resolves when every line appended so far has been written (or failed). */
  async settled(): Promise<void> {
    while (this.flushing) await this.flushing;
  }

  private async flush(): Promise<void> {
    try {
      while (this.queued.length > 0) {
        const text = this.queued.join('');
        const waiting = this.waiting;
        this.queued = [];
        this.waiting = [];
        try {
          await (await this.handle).write(text);
          for (const w of waiting) w.resolve();
        } catch (err) {
          for (const w of waiting) w.reject(err);
        }
      }
    } finally {
      this.flushing = undefined;
    }
  }
}
