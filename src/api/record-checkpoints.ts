/**
 * A recording whose output keeps its segments: a segment committed in its turn straight from memory is
 * not written to the resume journal's segments.bin (142 MB written, checksummed and read back for a
 * 142 MB recording) but kept by a checkpoint of the MP4 sink (Mp4RecordSink.snapshot: about 70 kB),
 * appended to checkpoints.bin with the count of order.jsonl items it holds, and listed in journal.jsonl
 * as kept by it. A rerun restores the sink from the checkpoints and the output's temporary file, and
 * replays from the journal only what was committed after the last one.
 *
 * Order of the writes for one segment, so that a kill anywhere leaves something a rerun can use:
 * checkpoint, order.jsonl line, journal line, written on the main thread in one go. A checkpoint whose
 * order line is missing is dropped (its segment is fetched again); an order line whose journal line is
 * missing is kept (the checkpoint holds the segment, and the journal merely does not say so).
 *
 * A stop that finishes the output (Ctrl-C, a stream lost) renames the temporary file into place: the
 * output's payloads are what the temporary file held. finished.json says where they begin, and a rerun
 * copies them back into a temporary file, leaving the finished output as it is until the new one replaces
 * it.
 */
import { open, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { CheckpointLog } from '../download/checkpoint-log.js';
import type { SegmentJournal } from '../download/journal.js';
import { systemErrorCode } from '../core/errors.js';
import { PieceWriter } from '../storage/piece-writer.js';
import { writeAllAt } from '../storage/write-all.js';
import type { CommitLog, CommittedItem } from './record-order.js';
import { Mp4RecordSink, type Mp4SinkCheckpoint, type RecordSinkOptions } from './record-sink.js';

/** One record of checkpoints.bin: the sink once the first `items` items of order.jsonl were committed. */
interface SinkRecord {
  items: number;
  sink: Mp4SinkCheckpoint;
}

/** What finished.json says of an output finished at a stop that left the recording to go on. */
interface FinishedOutput {
  /** The temporary file that was renamed into the output. */
  tempPath: string;
  payloadStart: number;
  size: number;
  mtimeMs: number;
}

/** Bytes copied at a time when a temporary file is made again from a finished output. */
const COPY_BLOCK = 8 << 20;

/** Segments kept by checkpoints that wait for the output's bytes, at the most, before keep() waits too. */
const MAX_WAITING = 8;

/** A segment whose checkpoint waits for the output's bytes up to it to be written. */
interface WaitingKeep {
  cp: Mp4SinkCheckpoint;
  item: CommittedItem;
}

export class RecordCheckpoints {
  /** The checkpoints keep() was given that wait for the output's bytes, and where they go. */
  private waiting:
    { sink: Mp4RecordSink; journal: SegmentJournal; order: CommitLog; keeps: WaitingKeep[] } | undefined;
  private failure: unknown;

  private constructor(
    private readonly log: CheckpointLog,
    private readonly dir: string,
  ) {}

  static async open(journal: SegmentJournal): Promise<RecordCheckpoints> {
    return new RecordCheckpoints(await CheckpointLog.open(journal.dir), journal.dir);
  }

  /** Checkpoints kept (by this run and the earlier ones it went on from). */
  get count(): number {
    return this.log.length;
  }

  /**
   * The sink as it was at the last checkpoint within the first `limit` items of order.jsonl (those a
   * rerun would replay as they are), and how many items it holds; undefined when there is none, or it
   * cannot be restored (`onNotice` says why: its segments are fetched again). The checkpoints after it
   * are dropped.
   */
  async restore(
    output: string,
    limit: number,
    options: RecordSinkOptions,
    onNotice: ((message: string) => void) | undefined,
  ): Promise<{ sink: Mp4RecordSink; items: number } | undefined> {
    const records = this.log.records;
    this.log.release();
    let last = -1;
    for (const [i, r] of records.entries()) {
      if (!isSinkRecord(r) || r.items > limit) break;
      last = i;
    }
    const record = records[last] as SinkRecord | undefined;
    if (!record) {
      await this.reset();
      return undefined;
    }
    const checkpoints = (records.slice(0, last + 1) as SinkRecord[]).map((r) => r.sink);
    try {
      await this.remakeTemp(output, record.sink);
      const sink = await Mp4RecordSink.restore(output, checkpoints, options);
      await this.log.keep(last + 1);
      await rm(join(this.dir, 'finished.json'), { force: true });
      return { sink, items: record.items };
    } catch (err) {
      onNotice?.(
        `cannot go on from where the output was (${err instanceof Error ? err.message : String(err)}): the segments it held are fetched again`,
      );
      await this.reset();
      return undefined;
    }
  }

  /** No sink restored: the checkpoints are of an output that is not there any more. */
  async reset(): Promise<void> {
    this.log.release();
    await this.log.keep(0);
    await rm(join(this.dir, 'finished.json'), { force: true });
  }

  /**
   * Keep a segment committed from memory (not journaled): by a checkpoint of the sink, or, when the sink
   * cannot give one now (or none is given: a rerun would not restore it), by its bytes in the journal.
   * `item` is then added to the order log.
   *
   * A checkpoint is written once the output's bytes up to it are (see Mp4RecordSink.snapshot): until
   * then it waits here, and the recording goes on with the next segment instead of waiting for the output
   * to be flushed after each one (about 60 ms of 280 for a 142 MB, 30-segment recording, by hand). A
   * segment is kept once its three lines are written (the order in the class comment); a kill before that
   * fetches it again. So they wait only while the recording has the next segment to go on with
   * (`nextReady`), and for at most MAX_WAITING segments: a recording that waits for the network has its
   * output flushed and its checkpoints written at once, as do small segments that fill no block.
   */
  async keep(
    sink: Mp4RecordSink | undefined,
    item: CommittedItem,
    bytes: Uint8Array,
    journal: SegmentJournal,
    order: CommitLog,
    nextReady = false,
  ): Promise<void> {
    this.throwFailure();
    const cp = sink?.snapshot();
    if (!sink || !cp) {
      await this.settle();
      await journal.put(item.key, bytes);
      await order.add(item);
      return;
    }
    if (this.waiting?.sink !== sink) {
      await this.settle();
      await order.ready();
      this.waiting = { sink, journal, order, keeps: [] };
      sink.onPayloadWritten = () => {
        try {
          this.writeDue();
        } catch (err) {
          this.failure ??= err;
        }
      };
    }
    this.waiting.keeps.push({ cp, item });
    this.writeDue();
    if (!nextReady || this.waiting.keeps.length > MAX_WAITING) await this.settle();
  }

  /** The checkpoints waiting whose output bytes are written now, written in their order. */
  private writeDue(): void {
    const w = this.waiting;
    if (!w) return;
    for (let next = w.keeps[0]; next; next = w.keeps[0]) {
      if (w.sink.payloadWritten < next.cp.payloadPos) return;
      w.keeps.shift();
      const index = this.log.appendSync({ items: w.order.length + 1, sink: next.cp } satisfies SinkRecord);
      w.order.addSync(next.item);
      w.journal.mark(next.item.key, index);
    }
  }

  /**
   * Every segment given to keep() kept before this resolves: the output's bytes so far written, and the
   * checkpoints waiting for them with them. Before anything else is added to the order log, and before
   * the sink is finished or dropped.
   */
  async settle(): Promise<void> {
    const w = this.waiting;
    if (w && w.keeps.length > 0) {
      await w.sink.flushPayload();
      this.writeDue();
    }
    this.throwFailure();
    if (w && w.keeps.length > 0)
      throw new Error(`${w.keeps.length} checkpoints still wait after the output was written`);
  }

  /** A failure to write what a keep() left waiting, seen when the output's bytes came. */
  private throwFailure(): void {
    const err = this.failure;
    if (err === undefined) return;
    this.failure = undefined;
    throw err;
  }

  /**
   * The output was finished at a stop that leaves the recording to go on: say where its payloads are,
   * for a rerun to make the temporary file again from it.
   */
  async noteFinished(output: string, tempPath: string, payloadStart: number): Promise<void> {
    if (this.log.length === 0) return;
    const st = await stat(output);
    const note: FinishedOutput = {
      tempPath: resolve(tempPath),
      payloadStart,
      size: st.size,
      mtimeMs: st.mtimeMs,
    };
    await writeFile(join(this.dir, 'finished.json'), JSON.stringify(note) + '\n');
  }

  /**
   * Close the log. Checkpoints still waiting (a run that failed before its output was written) are
   * written if their bytes are there, and dropped otherwise: their segments are fetched again.
   */
  async close(): Promise<void> {
    const w = this.waiting;
    if (w) {
      w.sink.onPayloadWritten = undefined;
      try {
        this.writeDue();
      } catch {
        // the run is failing already; what could not be written is fetched again
      }
      this.waiting = undefined;
    }
    await this.log.close();
  }

  /**
   * When the checkpoint's temporary file is not there but the output it was finished into is (as
   * finished.json describes it, untouched since), the payloads are copied back into a new temporary file
   * of that name. Anything else is left for Mp4RecordSink.restore to refuse.
   */
  private async remakeTemp(output: string, cp: Mp4SinkCheckpoint): Promise<void> {
    if (await exists(cp.tempPath)) return;
    let note: FinishedOutput;
    try {
      note = JSON.parse(await readFile(join(this.dir, 'finished.json'), 'utf8')) as FinishedOutput;
    } catch {
      return;
    }
    const st = await stat(output).catch(() => undefined);
    if (
      note.tempPath !== cp.tempPath ||
      !st ||
      st.size !== note.size ||
      st.mtimeMs !== note.mtimeMs ||
      note.payloadStart + cp.payloadPos > st.size
    ) {
      return;
    }
    // 'wx': the name is one AtomicFile.reopen accepts, and nothing of that name is there. The payloads
    // go where the temporary file had them, after the room for the moov.
    const to = await open(cp.tempPath, 'wx');
    let at = cp.reserved;
    const sink = {
      write: async (data: Uint8Array): Promise<void> => {
        await writeAllAt(to, data, at);
        at += data.length;
      },
    };
    const writer = new PieceWriter(sink, [{ name: output, path: output }], COPY_BLOCK);
    try {
      await writer.add({ source: 0, offset: note.payloadStart, size: cp.payloadPos });
      await writer.flush();
    } finally {
      await writer.close();
      await to.close();
    }
  }
}

function isSinkRecord(r: unknown): r is SinkRecord {
  const v = r as Partial<SinkRecord> | null;
  return (
    typeof v === 'object' &&
    v !== null &&
    Number.isSafeInteger(v.items) &&
    typeof v.sink === 'object' &&
    v.sink !== null &&
    v.sink.kind === 'mp4-record-sink'
  );
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch (err) {
    if (systemErrorCode(err) === 'ENOENT') return false;
    throw err;
  }
}
