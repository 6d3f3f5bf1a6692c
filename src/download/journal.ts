/**
 * The resume journal: a directory beside the output holding
 *   segments.bin   the bytes of every completed segment, appended in completion order
 *   journal.jsonl  a header line, then one line per completed segment: key, offset, length, CRC-32; or
 *                  key and checkpoint, for a segment whose bytes are not kept here but in the output the
 *                  recording writes (its sink's checkpoint of that index, in checkpoints.bin: see mark())
 *   lock           the pid of the run using it
 * A segment's bytes are written first and its line appended after, so a line always describes bytes that
 * were fully handed to the OS. After kill -9 the last line may be torn (cut mid-write): it is dropped and
 * the file cut back to its last newline, and segments.bin is cut back to the end of the last listed
 * segment, so the half-written bytes of segments in flight are overwritten by the next run. No fsync: the
 * journal survives the process dying (the page cache keeps what was written), not the machine losing
 * power; the CRC catches the rare segment that came back damaged, and that segment is fetched again.
 */
import { open, readFile, rm, writeFile, type FileHandle } from 'node:fs/promises';
import { makeDirs } from '../storage/make-dirs.js';
import { basename, dirname, join } from 'node:path';
import { fileReadBuffer } from '../core/bytes.js';
import type { CastkitError } from '../core/errors.js';
import { InputError, OutputError, isCastkitError, systemErrorCode } from '../core/errors.js';
import { LineLog } from '../storage/line-log.js';
import { writeAllAt } from '../storage/write-all.js';
import { crc32 } from './crc32.js';

export interface JournalEntry {
  key: string;
  offset: number;
  length: number;
  crc: number;
}

export interface JournalOptions {
  /**
   * What this journal is for (the source URL, say). A journal written for something else is refused
   * rather than mixed in. Not checked when absent.
   */
  identity?: string;
}

const MAGIC = 'castkit-segment-journal';
const VERSION = 1;

/** Where the journal for `outputPath` lives: `<output>.castkit-journal/` beside it. */
export function journalPathFor(outputPath: string): string {
  return join(dirname(outputPath), `${basename(outputPath)}.castkit-journal`);
}

export class SegmentJournal {
  private readonly entries = new Map<string, JournalEntry>();
  /** Segments kept by a checkpoint of the output instead of their bytes (mark()). */
  private readonly marks = new Set<string>();
  /** @internal Bytes handed to writers and not yet on disk (bounded; see JournalWriter). */
  queuedBytes = 0;
  /** Write batches whose write is done, for the next ones (no new memory to fault in for each). */
  private readonly spareBatches: Buffer[] = [];
  private dataEnd = 0;
  private readonly lines: LineLog;
  private closed = false;

  private constructor(
    readonly dir: string,
    private readonly data: FileHandle,
    private readonly log: FileHandle,
  ) {
    this.lines = new LineLog(log);
  }

  /** Open (or create) the journal in `dir`, recovering from a torn tail. */
  static async open(dir: string, options: JournalOptions = {}): Promise<SegmentJournal> {
    try {
      await makeDirs(dir);
    } catch (err) {
      throw journalError(
        `cannot create the resume journal ${dir}`,
        err,
        dir,
        'the journal goes beside the output: give an output (-o) in a directory where files can be made',
      );
    }
    await takeLock(dir);
    try {
      return await SegmentJournal.openLocked(dir, options);
    } catch (err) {
      await rm(join(dir, 'lock'), { force: true }).catch(() => undefined);
      throw err;
    }
  }

  private static async openLocked(dir: string, options: JournalOptions): Promise<SegmentJournal> {
    const logPath = join(dir, 'journal.jsonl');
    const dataPath = join(dir, 'segments.bin');
    let text = '';
    try {
      text = await readFile(logPath, 'utf8');
    } catch (err) {
      if (systemErrorCode(err) !== 'ENOENT') throw journalError(`cannot read ${logPath}`, err, dir);
    }
    // Everything after the last newline is a line cut by a kill: it never happened.
    const whole = text.slice(0, text.lastIndexOf('\n') + 1);
    const lines = whole.split('\n').filter((l) => l !== '');
    const entries: JournalEntry[] = [];
    const marks = new Set<string>();
    let header: { identity?: unknown } | undefined;
    for (const [i, line] of lines.entries()) {
      let v: unknown;
      try {
        v = JSON.parse(line);
      } catch {
        continue; // only a torn line can be unparsable; it was cut above, so this is defensive
      }
      if (i === 0) {
        if (typeof v === 'object' && v !== null && (v as { castkit?: unknown }).castkit === MAGIC) {
          header = v as { identity?: unknown };
          continue;
        }
        throw new InputError(`${logPath} is not a castkit resume journal`, {
          code: 'E_JOURNAL_FOREIGN',
          details: { path: logPath },
          hint: `move ${dir} away or delete it to start afresh`,
        });
      }
      const e = v as { k?: unknown; o?: unknown; n?: unknown; c?: unknown; cp?: unknown };
      if (typeof e.k === 'string' && Number.isSafeInteger(e.cp) && (e.cp as number) >= 0) {
        marks.add(e.k);
      } else if (
        typeof e.k === 'string' &&
        Number.isSafeInteger(e.o) &&
        Number.isSafeInteger(e.n) &&
        Number.isSafeInteger(e.c)
      ) {
        entries.push({ key: e.k, offset: e.o as number, length: e.n as number, crc: e.c as number });
        marks.delete(e.k); // fetched again after its checkpoint was given up: the bytes are what counts
      }
    }
    const recorded = header?.identity;
    if (
      recorded !== undefined &&
      recorded !== null &&
      options.identity !== undefined &&
      recorded !== options.identity
    ) {
      throw new InputError(`the resume journal ${dir} belongs to another download`, {
        code: 'E_JOURNAL_MISMATCH',
        details: { path: dir, journal: recorded, wanted: options.identity },
        hint: `delete ${dir} to start afresh, or write to another output`,
      });
    }
    let data: FileHandle | undefined;
    let log: FileHandle | undefined;
    try {
      await (await open(dataPath, 'a')).close();
      // Positional writes: not 'a', whose O_APPEND would make every write land at the end.
      data = await open(dataPath, 'r+');
      const size = (await data.stat()).size;
      const j = new SegmentJournal(dir, data, (log = await open(logPath, 'a')));
      for (const e of entries) {
        if (e.offset + e.length > size) continue;
        j.entries.set(e.key, e);
        j.dataEnd = Math.max(j.dataEnd, e.offset + e.length);
      }
      for (const key of marks) j.marks.add(key);
      // Only when there is a torn tail to cut: ext4 marks a truncated file for a flush of all its dirty
      // data at close (auto_da_alloc), which made closing a 1 GB journal take a third of a second.
      if (size > j.dataEnd) await data.truncate(j.dataEnd);
      if (!header) {
        await log.truncate(0);
        await log.write(JSON.stringify({ castkit: MAGIC, v: VERSION, identity: options.identity }) + '\n');
      } else if (whole.length < text.length) {
        await log.truncate(Buffer.byteLength(whole));
      }
      return j;
    } catch (err) {
      await data?.close().catch(() => undefined);
      await log?.close().catch(() => undefined);
      throw journalError(`cannot open the resume journal ${dir}`, err, dir);
    }
  }

  has(key: string): boolean {
    return this.entries.has(key);
  }

  /**
   * Treat a listed segment as not fetched, in this run: it is fetched again, and listed again (the later
   * line wins when the journal is opened). Until then, an opened journal still lists the old bytes.
   */
  forget(key: string): void {
    this.entries.delete(key);
    this.marks.delete(key);
  }

  /**
   * List a committed segment as kept by checkpoint `cp` of the recording's output (its bytes are not in
   * segments.bin). The line is written before this returns, on this thread (see LineLog.appendSync; the
   * journal's lines may be read in any order). has() stays false for it: a later run that cannot restore
   * that checkpoint fetches the segment again.
   */
  mark(key: string, cp: number): void {
    if (this.closed)
      throw new OutputError(`the resume journal ${this.dir} is closed`, { code: 'E_JOURNAL_CLOSED' });
    try {
      this.lines.appendSync(JSON.stringify({ k: key, cp }));
    } catch (err) {
      throw journalError(`cannot write to the resume journal ${this.dir}`, err, this.dir);
    }
    this.marks.add(key);
  }

  /** Bytes of a completed segment (0 for a key not listed). */
  lengthOf(key: string): number {
    return this.entries.get(key)?.length ?? 0;
  }

  get size(): number {
    return this.entries.size;
  }

  /** Nothing listed and no bytes written, by this run or an earlier one: nothing to resume from. */
  get isEmpty(): boolean {
    return this.entries.size === 0 && this.marks.size === 0 && this.dataEnd === 0;
  }

  keys(): IterableIterator<string> {
    return this.entries.keys();
  }

  /** Bytes held for completed segments. */
  get bytes(): number {
    let n = 0;
    for (const e of this.entries.values()) n += e.length;
    return n;
  }

  /** Record a completed segment; resolves once its journal line is written. A known key is kept as is. */
  async put(key: string, bytes: Uint8Array): Promise<void> {
    if (this.closed)
      throw new OutputError(`the resume journal ${this.dir} is closed`, { code: 'E_JOURNAL_CLOSED' });
    if (this.entries.has(key)) return;
    const offset = this.dataEnd;
    this.dataEnd += bytes.length;
    await this.writeData(bytes, offset);
    const entry: JournalEntry = { key, offset, length: bytes.length, crc: crc32(bytes) };
    // Whole lines, one write at a time: lines never interleave.
    try {
      await this.lines.append(JSON.stringify({ k: key, o: offset, n: entry.length, c: entry.crc }));
    } catch (err) {
      throw journalError(`cannot write to the resume journal ${this.dir}`, err, this.dir);
    }
    this.entries.set(key, entry);
  }

  /**
   * A segment written as it arrives (see JournalWriter): its bytes go straight to segments.bin, into room
   * reserved when its length is known, so a download in flight holds no more than a chunk in memory.
   */
  writer(key: string): JournalWriter {
    return new JournalWriter(this, key);
  }

  /** @internal Room for `n` bytes at the end of segments.bin; returns where it starts. */
  reserveData(n: number): number {
    const at = this.dataEnd;
    this.dataEnd += n;
    return at;
  }

  /** @internal Memory for one write batch (WRITE_BATCH_BYTES). */
  takeBatch(): Buffer {
    return this.spareBatches.pop() ?? Buffer.allocUnsafeSlow(WRITE_BATCH_BYTES);
  }

  /** @internal A batch whose write is done; kept for the next while the queue's bound could use it. */
  giveBatch(b: Buffer): void {
    const whole = Buffer.from(b.buffer, b.byteOffset, WRITE_BATCH_BYTES);
    if (this.spareBatches.length < MAX_QUEUED_TOTAL / WRITE_BATCH_BYTES) this.spareBatches.push(whole);
  }

  /** @internal Write bytes at a position of segments.bin. */
  async writeData(bytes: Uint8Array, position: number): Promise<void> {
    if (this.closed)
      throw new OutputError(`the resume journal ${this.dir} is closed`, { code: 'E_JOURNAL_CLOSED' });
    try {
      await writeAllAt(this.data, bytes, position);
    } catch (err) {
      throw journalError(`cannot write to the resume journal ${this.dir}`, err, this.dir);
    }
  }

  /** @internal Record a segment whose bytes are in segments.bin already. */
  async addEntry(entry: JournalEntry): Promise<void> {
    try {
      await this.lines.append(
        JSON.stringify({ k: entry.key, o: entry.offset, n: entry.length, c: entry.crc }),
      );
    } catch (err) {
      throw journalError(`cannot write to the resume journal ${this.dir}`, err, this.dir);
    }
    this.entries.set(entry.key, entry);
  }

  /**
   * The bytes of a completed segment, or undefined (and the entry forgotten, so that the segment is
   * fetched again) when they do not match their checksum. `verify: false` skips the checksum (for bytes
   * this run wrote and checksummed as they arrived). With `into` large enough, the bytes are read into it
   * (the result is a view of it) instead of into new memory.
   */
  async read(key: string, verify = true, into?: Uint8Array): Promise<Buffer | undefined> {
    const e = this.entries.get(key);
    if (!e) return undefined;
    // New memory is never a slice of the shared pool (it may be reused whole), and off the page boundary.
    const target = into && into.length >= e.length ? into : fileReadBuffer(e.length);
    const buf = Buffer.from(target.buffer, target.byteOffset, e.length);
    try {
      let got = 0;
      while (got < e.length) {
        const { bytesRead } = await this.data.read(buf, got, e.length - got, e.offset + got);
        if (bytesRead === 0) break;
        got += bytesRead;
      }
      if (got === e.length && (!verify || crc32(buf) === e.crc)) return buf;
    } catch (err) {
      throw journalError(`cannot read the resume journal ${this.dir}`, err, this.dir);
    }
    this.entries.delete(key);
    return undefined;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.lines.settled();
    await this.data.close().catch(() => undefined);
    await this.log.close().catch(() => undefined);
    await rm(join(this.dir, 'lock'), { force: true }).catch(() => undefined);
  }

  /** Close and delete the journal: call once the output it feeds is complete. */
  async remove(): Promise<void> {
    await this.close();
    await rm(this.dir, { recursive: true, force: true });
  }
}

/** One run per journal: a second run would interleave its segments with ours. */
async function takeLock(dir: string): Promise<void> {
  const path = join(dir, 'lock');
  for (let tries = 0; tries < 2; tries++) {
    try {
      await writeFile(path, String(process.pid), { flag: 'wx' });
      return;
    } catch (err) {
      if (systemErrorCode(err) !== 'EEXIST') throw journalError(`cannot lock ${dir}`, err, dir);
    }
    const pid = Number((await readFile(path, 'utf8').catch(() => '')).trim());
    if (Number.isSafeInteger(pid) && pid > 0 && isAlive(pid)) {
      throw new OutputError(`the resume journal ${dir} is in use by process ${pid}`, {
        code: 'E_JOURNAL_LOCKED',
        details: { path: dir, pid },
        hint: 'wait for that run to finish, or stop it; two runs cannot share one output',
      });
    }
    // A lock left by a run that died (kill -9): take it over.
    await rm(path, { force: true });
  }
  throw new OutputError(`cannot lock the resume journal ${dir}`, {
    code: 'E_JOURNAL_LOCKED',
    details: { path: dir },
  });
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return systemErrorCode(err) === 'EPERM';
  }
}

function journalError(what: string, err: unknown, dir: string, otherHint?: string): CastkitError {
  if (isCastkitError(err)) return err;
  return new OutputError(`${what}: ${systemErrorCode(err) ?? String(err)}`, {
    code: 'E_JOURNAL_IO',
    cause: err,
    details: { path: dir },
    hint:
      systemErrorCode(err) === 'ENOSPC' ? 'the disk is full; free space and run again to resume' : otherHint,
  });
}

/**
 * One segment being written into the journal as it arrives. `start(length)` with the length the response
 * announced reserves room for it; without one, the bytes wait in memory until `done()`. Nothing is listed
 * in the journal until `done()`: a writer that is dropped (a failed attempt) leaves unlisted bytes, which
 * a later open cuts off or which stay as an unused hole.
 */
/** Bytes of one segment's body waiting for the disk at most, before reading waits for it. */
const MAX_QUEUED_BYTES = 8 << 20;
/** Chunks gathered into one write. */
const WRITE_BATCH_BYTES = 1 << 20;
/** The same over all the segments in flight. */
const MAX_QUEUED_TOTAL = 16 << 20;

export class JournalWriter {
  private offset = -1;
  private capacity = 0;
  private written = 0;
  private crc = 0;
  private memory: Buffer[] | undefined;
  private pending: Promise<void> = Promise.resolve();
  private queued = 0;
  private batch: Buffer | undefined;
  private batchBytes = 0;
  /** Where the next batch starts in segments.bin, relative to the segment's room. */
  private flushed = 0;

  constructor(
    private readonly journal: SegmentJournal,
    readonly key: string,
  ) {}

  get length(): number {
    return this.written;
  }

  start(length: number | undefined): void {
    if (length === undefined || length === 0) {
      this.memory = [];
      return;
    }
    this.capacity = length;
    this.offset = this.journal.reserveData(length);
  }

  /** Bytes of one piece of a body; they are copied (the caller may reuse the memory at once). */
  async chunk(bytes: Uint8Array): Promise<void> {
    if (bytes.length === 0) return;
    if (this.memory) {
      this.memory.push(Buffer.from(bytes));
      this.written += bytes.length;
      return;
    }
    if (this.offset < 0) this.start(undefined);
    if (this.memory) return this.chunk(bytes);
    if (this.written + bytes.length > this.capacity) {
      throw new OutputError(`segment ${this.key} is longer than its announced length`, {
        code: 'E_JOURNAL_OVERFLOW',
        details: { key: this.key, capacity: this.capacity },
      });
    }
    this.written += bytes.length;
    this.crc = crc32(bytes, this.crc);
    this.queued += bytes.length;
    this.journal.queuedBytes += bytes.length;
    // Pieces are copied into writes of about a megabyte (one call each, not one per network read), and
    // the writes are queued, not awaited one by one: a response body that waits on the disk would pause
    // the connection. The queue is bounded.
    let at = 0;
    while (at < bytes.length) {
      if (!this.batch) {
        const left = this.capacity - this.flushed;
        this.batch = this.journal.takeBatch().subarray(0, Math.min(WRITE_BATCH_BYTES, left));
        this.batchBytes = 0;
      }
      const n = Math.min(bytes.length - at, this.batch.length - this.batchBytes);
      this.batch.set(bytes.subarray(at, at + n), this.batchBytes);
      this.batchBytes += n;
      at += n;
      if (this.batchBytes === this.batch.length) this.flushBatch();
    }
    if (this.queued > MAX_QUEUED_BYTES || this.journal.queuedBytes > MAX_QUEUED_TOTAL) {
      this.flushBatch();
      await this.pending;
    }
  }

  private flushBatch(): void {
    const batch = this.batch;
    if (!batch || this.batchBytes === 0) return;
    const size = this.batchBytes;
    const at = this.offset + this.flushed;
    this.flushed += size;
    this.batch = undefined;
    this.batchBytes = 0;
    this.pending = this.pending.then(async () => {
      try {
        await this.journal.writeData(batch.subarray(0, size), at);
      } finally {
        this.journal.giveBatch(batch);
        this.queued -= size;
        this.journal.queuedBytes -= size;
      }
    });
    this.pending.catch(() => undefined);
  }

  /** List the segment as complete (after its last byte is written). */
  async done(): Promise<void> {
    this.flushBatch();
    await this.pending;
    if (this.memory) {
      await this.journal.put(this.key, Buffer.concat(this.memory, this.written));
      return;
    }
    if (this.offset < 0) {
      await this.journal.put(this.key, new Uint8Array(0));
      return;
    }
    await this.journal.addEntry({ key: this.key, offset: this.offset, length: this.written, crc: this.crc });
  }
}
