/**
 * The checkpoints of a recording's sink (Mp4RecordSink.snapshot), kept in the resume journal's directory
 * as `checkpoints.bin`: one record after another, each a 4-byte length, the CRC-32 of its body, and the
 * body (v8.serialize: typed arrays, Maps and NaN come back as they were). A record is complete once its
 * append has resolved; after kill -9 the last one may be cut short, and one cut short (or damaged: its CRC)
 * ends the log there: it is cut back, so that the next append follows the last whole record. As for the
 * journal, no fsync: the log survives the process dying, not the machine losing power.
 */
import { open, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { deserialize, serialize } from 'node:v8';
import { OutputError, systemErrorCode } from '../core/errors.js';
import { writeAllAt, writevAllAtSync } from '../storage/write-all.js';
import { crc32 } from './crc32.js';

const HEAD = 8;

export class CheckpointLog {
  private closed = false;

  private constructor(
    readonly path: string,
    private readonly file: FileHandle,
    /**
     * The records the log held when it was opened, in order (for a restore). Records appended later are
     * not kept in memory: a long recording appends one per segment. release() lets go of these too.
     */
    public records: unknown[],
    /** Where each record ends in the file. */
    private readonly ends: number[],
  ) {}

  private get end(): number {
    return this.ends[this.ends.length - 1] ?? 0;
  }

  /** Open (or create) `checkpoints.bin` in `dir` and read the whole records it holds. */
  static async open(dir: string): Promise<CheckpointLog> {
    const path = join(dir, 'checkpoints.bin');
    let file: FileHandle | undefined;
    try {
      await (await open(path, 'a')).close();
      file = await open(path, 'r+');
      const bytes = await file.readFile();
      const records: unknown[] = [];
      const ends: number[] = [];
      let at = 0;
      while (at + HEAD <= bytes.length) {
        const n = bytes.readUInt32LE(at);
        const body = bytes.subarray(at + HEAD, at + HEAD + n);
        if (body.length < n || crc32(body) !== bytes.readUInt32LE(at + 4)) break;
        let record: unknown;
        try {
          record = deserialize(body);
        } catch {
          break; // a whole record that does not read back: the log ends before it
        }
        records.push(record);
        at += HEAD + n;
        ends.push(at);
      }
      if (at < bytes.length) await file.truncate(at);
      return new CheckpointLog(path, file, records, ends);
    } catch (err) {
      await file?.close().catch(() => undefined);
      throw logError(`cannot open ${path}`, err, path);
    }
  }

  /** Appends waiting for the one before (one at a time: each goes where the one before ended). */
  private queue: Promise<unknown> = Promise.resolve();
  /** append() calls not yet settled. */
  private appending = 0;

  /** Append a record; resolves once it is written. Returns its index. */
  append(record: unknown): Promise<number> {
    this.appending++;
    const next = this.queue.then(() => this.write(record));
    this.queue = next.catch(() => undefined).finally(() => this.appending--);
    return next;
  }

  /**
   * Append a record now, on this thread (see LineLog.appendSync: a recording appends one for each segment
   * it keeps so, and must know it written before the lines that refer to it). Returns its index. Not while
   * an append() is on its way.
   */
  appendSync(record: unknown): number {
    if (this.appending > 0) throw new Error('CheckpointLog.appendSync while an append() is on its way');
    this.checkOpen();
    const whole = this.encode(record);
    const at = this.end;
    try {
      writevAllAtSync(this.file.fd, [whole], at);
    } catch (err) {
      throw logError(`cannot write ${this.path}`, err, this.path);
    }
    this.ends.push(at + whole.length);
    return this.ends.length - 1;
  }

  private async write(record: unknown): Promise<number> {
    this.checkOpen();
    const whole = this.encode(record);
    const at = this.end;
    try {
      await writeAllAt(this.file, whole, at);
    } catch (err) {
      throw logError(`cannot write ${this.path}`, err, this.path);
    }
    this.ends.push(at + whole.length);
    return this.ends.length - 1;
  }

  private checkOpen(): void {
    if (this.closed)
      throw new OutputError(`${this.path} is closed`, {
        code: 'E_JOURNAL_CLOSED',
        details: { path: this.path },
      });
  }

  /** A record as it is in the file: its length, its CRC-32, its body. */
  private encode(record: unknown): Buffer {
    const body = serialize(record);
    const whole = Buffer.alloc(HEAD + body.length);
    whole.writeUInt32LE(body.length, 0);
    whole.writeUInt32LE(crc32(body), 4);
    body.copy(whole, HEAD);
    return whole;
  }

  /** Records in the log: read at open, and appended since. */
  get length(): number {
    return this.ends.length;
  }

  /** Let go of the records read at open (restored from): the log goes on, its count too. */
  release(): void {
    this.records = [];
  }

  /** Keep only the first `n` records (a resume that could not use the rest): the file is cut after them. */
  async keep(n: number): Promise<void> {
    await this.queue;
    if (n >= this.ends.length) return;
    const at = n > 0 ? (this.ends[n - 1] as number) : 0;
    try {
      await this.file.truncate(at);
    } catch (err) {
      throw logError(`cannot write ${this.path}`, err, this.path);
    }
    if (this.records.length > n) this.records.length = n;
    this.ends.length = n;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    await this.queue;
    this.closed = true;
    await this.file.close().catch(() => undefined);
  }
}

function logError(what: string, err: unknown, path: string): OutputError {
  if (err instanceof OutputError) return err;
  return new OutputError(`${what}: ${systemErrorCode(err) ?? String(err)}`, {
    code: 'E_JOURNAL_IO',
    cause: err,
    details: { path },
    hint:
      systemErrorCode(err) === 'ENOSPC' ? 'the disk is full; free space and run again to resume' : undefined,
  });
}
