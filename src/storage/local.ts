import { rmSync, type Stats } from 'node:fs';
import { lstat, open, readlink, realpath, rename, rm, type FileHandle } from 'node:fs/promises';
import { makeDirs } from './make-dirs.js';
import { basename, dirname, join, resolve } from 'node:path';
import { OutputError, systemErrorCode } from '../core/errors.js';
import { writeAllAt, writevAllAt, writevAllAtSync } from './write-all.js';

/** Temporary files of outputs being written, removed by `removeUnfinishedSync` on a hurried exit. */
const unfinished = new Set<string>();

/**
 * Removes the temporary files of every output still being written, synchronously: for a process about to
 * exit without finishing its work (a second Ctrl-C), so that no `.part` file is left behind.
 */
export function removeUnfinishedSync(): void {
  for (const p of unfinished) rmSync(p, { force: true });
  unfinished.clear();
}

/**
 * A file written under a temporary name beside its destination and renamed into place only when
 * complete: a file that looks finished is finished. `abort()` removes the temporary file.
 *
 * The destination is where a symbolic link at `path` leads (the link stays, and the file it names is
 * replaced). Anything else that is not a regular file (a device such as /dev/null, a FIFO, a socket, a
 * directory) is refused: renamed over, it would be replaced by a regular file.
 */
export class AtomicFile {
  readonly tempPath: string;
  private handle: FileHandle | undefined;
  private position = 0;
  private done = false;

  /** `path` is the output as named; `target` the file to replace (the same, unless `path` is a link). */
  private constructor(
    readonly path: string,
    private readonly target: string,
    tempPath?: string,
  ) {
    this.tempPath = tempPath ?? join(dirname(target), `.${basename(target)}.${tempSuffix()}.part`);
  }

  static async create(path: string, mode = 0o644): Promise<AtomicFile> {
    const target = await outputTarget(path).catch((err: unknown) => {
      throw err instanceof OutputError ? err : outputError(`cannot create ${path}`, err, path);
    });
    const f = new AtomicFile(path, target);
    try {
      await makeDirs(dirname(target));
      f.handle = await open(f.tempPath, 'wx', mode);
    } catch (err) {
      throw outputError(`cannot create ${path}`, err, path);
    }
    unfinished.add(f.tempPath);
    return f;
  }

  /**
   * The temporary file of an output a run that died was writing (`tempPath`, from that run), cut back to
   * its first `length` bytes, to be written on from there.
   */
  static async reopen(path: string, tempPath: string, length: number): Promise<AtomicFile> {
    const target = await outputTarget(path).catch((err: unknown) => {
      throw err instanceof OutputError ? err : outputError(`cannot reopen ${path}`, err, path);
    });
    // The name comes from a file on disk (a checkpoint): only a temporary file of this output is written.
    const name = basename(tempPath);
    if (
      resolve(dirname(tempPath)) !== resolve(dirname(target)) ||
      !name.startsWith(`.${basename(target)}.`) ||
      !name.endsWith('.part')
    ) {
      throw new OutputError(`${tempPath} is not a temporary file of ${path}`, {
        code: 'E_OUTPUT_TEMP',
        details: { path, tempPath },
        hint: 'the resume journal beside the output names another file; delete the journal to start afresh',
      });
    }
    const f = new AtomicFile(path, target, tempPath);
    try {
      f.handle = await open(tempPath, 'r+');
      if ((await f.handle.stat()).size < length)
        throw new OutputError(`${tempPath} is shorter than the ${length} bytes written to it before`, {
          code: 'E_OUTPUT_SHORT',
          details: { path: tempPath, length },
        });
      await f.handle.truncate(length);
    } catch (err) {
      await f.handle?.close().catch(() => undefined);
      throw err instanceof OutputError ? err : outputError(`cannot reopen ${tempPath}`, err, path);
    }
    f.position = length;
    unfinished.add(f.tempPath);
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
   * Append `parts` in order, gathered into few system calls (writev). Their memory must stay as it is until
   * this settles. The append position moves at once, so the next writev may start before this one settles
   * (unlike write(), which moves it when done).
   */
  async writev(parts: readonly Uint8Array[]): Promise<void> {
    if (!this.handle) throw new OutputError(`${this.path} is closed`, { code: 'E_OUTPUT_CLOSED' });
    let bytes = 0;
    for (const p of parts) bytes += p.length;
    try {
      const h = this.handle;
      const at = this.position;
      this.position += bytes;
      await writevAllAt(h, parts, at, () => this.handle === h);
    } catch (err) {
      throw outputError(`cannot write ${this.path}`, err, this.path);
    }
  }

  /**
   * writev() on the calling thread: `parts` appended in order before this returns. For a writer with
   * nothing to do meanwhile: no round trip through the thread pool, and no second core taken from it.
   */
  appendvSync(parts: readonly Uint8Array[]): void {
    if (!this.handle) throw new OutputError(`${this.path} is closed`, { code: 'E_OUTPUT_CLOSED' });
    let bytes = 0;
    for (const p of parts) bytes += p.length;
    try {
      writevAllAtSync(this.handle.fd, parts, this.position);
      this.position += bytes;
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
      await replaceFile(this.tempPath, this.target);
      unfinished.delete(this.tempPath);
      this.done = true;
    } catch (err) {
      await this.abort();
      throw outputError(`cannot finish ${this.path}`, err, this.path);
    }
  }

  /** Close and delete the temporary file; the destination is untouched. */
  /**
   * Close the file and keep the temporary file as it is, for reopen() by a later run (a recording that
   * stops and will go on); neither renamed nor removed, not even on a hurried exit.
   */
  async suspend(): Promise<void> {
    this.done = true;
    const h = this.handle;
    this.handle = undefined;
    unfinished.delete(this.tempPath);
    await h?.close();
  }

  async abort(): Promise<void> {
    this.done = true;
    const h = this.handle;
    this.handle = undefined;
    await h?.close().catch(() => undefined);
    await rm(this.tempPath, { force: true }).catch(() => undefined);
    unfinished.delete(this.tempPath);
  }
}

/**
 * The file an output named `path` replaces: `path` itself, or where the symbolic link(s) at `path` lead
 * (a dangling link: the file it names, to be made). An existing non-regular file is an OutputError.
 */
async function outputTarget(path: string): Promise<string> {
  let target = path;
  let st = await lstat(path).catch(() => undefined);
  if (st?.isSymbolicLink()) {
    target = await realpath(path).catch(async () => resolve(dirname(path), await readlink(path)));
    st = await lstat(target).catch(() => undefined);
  }
  if (st && !st.isFile()) {
    throw new OutputError(`cannot write ${path}: it is ${kindOf(st)}, not a regular file`, {
      code: 'E_OUTPUT_NOT_FILE',
      hint: st.isDirectory()
        ? 'name a file inside it'
        : 'castkit writes an output under a temporary name and renames it into place; name a regular file' +
          ' (a recording can go to standard output with -o -)',
      details: { path },
    });
  }
  return target;
}

function kindOf(st: Stats): string {
  if (st.isDirectory()) return 'a directory';
  if (st.isCharacterDevice()) return 'a character device';
  if (st.isBlockDevice()) return 'a block device';
  if (st.isFIFO()) return 'a named pipe (FIFO)';
  if (st.isSocket()) return 'a socket';
  return 'not a regular file';
}

/**
 * Eight hex digits that make a temporary name unlikely to be taken (it is created exclusively, or renamed
 * into, so a taken one fails rather than clobbers). Not node:crypto: loading it costs every command about
 * 4 ms, and nothing here needs to be unguessable.
 */
export function tempSuffix(): string {
  return Math.floor(Math.random() * 0x1_0000_0000)
    .toString(16)
    .padStart(8, '0');
}

/**
 * Renames `from` to `to`, replacing the file at `to` if there is one. An existing file is first renamed aside
 * and deleted after the new one is in place: a rename over an existing file makes ext4 (its default
 * auto_da_alloc) start writing the new file's data out inside the rename, about 40 ms per 100 MB of a file
 * just written, which a rename to a free name does not. Between the two renames `to` is missing for a
 * moment; it never names a partial file. If the second rename fails, the old file is put back.
 */
export async function replaceFile(from: string, to: string): Promise<void> {
  const existing = await lstat(to).catch(() => undefined);
  if (!existing?.isFile()) {
    await rename(from, to); // nothing there, or not a file: a plain rename (which refuses a directory)
    return;
  }
  const aside = join(dirname(to), `.${basename(to)}.${tempSuffix()}.old`);
  try {
    await rename(to, aside);
  } catch {
    await rename(from, to); // could not move it aside (it went away, say): the plain way
    return;
  }
  try {
    await rename(from, to);
  } catch (err) {
    await rename(aside, to).catch(() => undefined);
    throw err;
  }
  await rm(aside, { force: true });
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
