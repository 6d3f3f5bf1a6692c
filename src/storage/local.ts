import { randomBytes } from 'node:crypto';
import { mkdir, open, rename, rm, type FileHandle } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { OutputError, systemErrorCode } from '../core/errors.js';
import { writeAllAt } from './write-all.js';

/**
 * A file written under a temporary name beside its destination and renamed into place only when
 * complete: a file that looks finished is finished. `abort()` removes the temporary file.
 */
export class AtomicFile {
  readonly tempPath: string;
  private handle: FileHandle | undefined;
  private position = 0;
  private done = false;

  private constructor(readonly path: string) {
    this.tempPath = join(dirname(path), `.${basename(path)}.${randomBytes(4).toString('hex')}.part`);
  }

  static async create(path: string, mode = 0o644): Promise<AtomicFile> {
    const f = new AtomicFile(path);
    try {
      await mkdir(dirname(path), { recursive: true });
      f.handle = await open(f.tempPath, 'wx', mode);
    } catch (err) {
      throw outputError(`cannot create ${path}`, err, path);
    }
    return f;
  }

  get bytesWritten(): number {
    return this.position;
  }

  /** Leave the first `n` bytes to be filled later with `writeAt` (room for a header known at the end). */
  reserve(n: number): void {
    if (this.position !== 0) throw new RangeError('reserve() must come before any write');
    this.position = n;
  }

  /** Write at a given position without moving the append position. */
  async writeAt(data: Uint8Array, position: number): Promise<void> {
    if (!this.handle) throw new OutputError(`${this.path} is closed`, { code: 'E_OUTPUT_CLOSED' });
    try {
      const h = this.handle;
      await writeAllAt(h, data, position, () => this.handle === h);
    } catch (err) {
      throw outputError(`cannot write ${this.path}`, err, this.path);
    }
  }

  async write(data: Uint8Array): Promise<void> {
    if (!this.handle) throw new OutputError(`${this.path} is closed`, { code: 'E_OUTPUT_CLOSED' });
    try {
      const h = this.handle;
      await writeAllAt(h, data, this.position, () => this.handle === h);
      this.position += data.length;
    } catch (err) {
      throw outputError(`cannot write ${this.path}`, err, this.path);
    }
  }

  /**
   * Close and rename into place. Atomic against interruption (a crash leaves the old file or none, never
   * half of one); not fsync'd, like ffmpeg's outputs: that would cost a full disk flush per output.
   */
  async commit(): Promise<void> {
    if (!this.handle || this.done) return;
    try {
      await this.handle.close();
      this.handle = undefined;
      await rename(this.tempPath, this.path);
      this.done = true;
    } catch (err) {
      await this.abort();
      throw outputError(`cannot finish ${this.path}`, err, this.path);
    }
  }

  /** Close and delete the temporary file; the destination is untouched. */
  async abort(): Promise<void> {
    this.done = true;
    const h = this.handle;
    this.handle = undefined;
    await h?.close().catch(() => undefined);
    await rm(this.tempPath, { force: true }).catch(() => undefined);
  }
}

function outputError(what: string, err: unknown, path: string): OutputError {
  const code = systemErrorCode(err);
  const hint =
    code === 'ENOSPC'
      ? 'the disk is full; free space or choose another output directory'
      : code === 'EACCES' || code === 'EPERM'
        ? 'check the permissions of the output directory'
        : code === 'EROFS'
          ? 'the output directory is read-only'
          : undefined;
  return new OutputError(`${what}: ${code ?? String(err)}`, {
    code: 'E_OUTPUT_WRITE',
    hint,
    cause: err,
    details: { path },
  });
}
