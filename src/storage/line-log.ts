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

  constructor(private readonly handle: FileHandle | Promise<FileHandle>) {}

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
