import { open, readFile, truncate, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { systemErrorCode } from '../core/errors.js';
import { LineLog } from '../storage/line-log.js';
import type { StreamName } from '../sources/record-source.js';

/**
 * The order in which a recording's segments were committed to the output, kept in the resume journal's
 * directory (`order.jsonl`). A rerun replays these first, from the journal, so that a live recording
 * resumes into the same output even after its old segments left the playlist.
 */
export interface CommittedItem {
  key: string;
  stream: StreamName;
  kind: 'init' | 'media' | 'gap';
  /** Seconds (media and gap). */
  duration?: number;
  discontinuity?: boolean;
  name?: string;
  /**
   * A gap: the code of the error behind it. Absent in journals of earlier versions and for gaps with no
   * error behind them: read as E_SEGMENT_MISSING (gapCodeOf).
   */
  code?: string;
  /**
   * A gap in place of a segment given up on: that segment's key. Its place in the output is taken, so a
   * rerun must not fetch it again (it would land after what the journal replays). Absent in journals of
   * earlier versions, and for gaps that stand for no segment (a live window missed, EXT-X-GAP).
   */
  missed?: string;
  /**
   * A media segment kept though cut short (--allow-gaps): the part it lacks is a gap, on every rerun too.
   * `code` is its error's (E_SEGMENT_SHORT); absent in journals of earlier versions.
   */
  short?: { startSec?: number; seconds: number; url: string; code?: string; reason: string };
}

/** The code of a gap with no error behind it, and of a gap item journaled by an earlier version. */
export const GAP_CODE_DEFAULT = 'E_SEGMENT_MISSING';

/** The error code of a gap item as journaled (none in journals of earlier versions). */
export function gapCodeOf(item: CommittedItem): string {
  return item.code ?? GAP_CODE_DEFAULT;
}

/**
 * The error code of a short segment's gap as journaled. Earlier versions did not journal it, but a segment
 * is only ever kept short for E_SEGMENT_SHORT (record-segment-check.ts), so that is what it was.
 */
export function shortCodeOf(short: NonNullable<CommittedItem['short']>): string {
  return short.code ?? 'E_SEGMENT_SHORT';
}

export class CommitLog {
  private lines: LineLog | undefined;
  private handle: Promise<FileHandle> | undefined;
  /** Where each item that read() returned starts in the file, in bytes. */
  private starts: number[] = [];
  /** Items in the log: those read() returned (less what cutAt() forgot), and those added since. */
  length = 0;

  constructor(private readonly path: string) {}

  static in(dir: string): CommitLog {
    return new CommitLog(join(dir, 'order.jsonl'));
  }

  /** The items of earlier runs; a line cut by a kill is dropped. */
  async read(): Promise<CommittedItem[]> {
    let text: string;
    try {
      text = await readFile(this.path, 'utf8');
    } catch (err) {
      if (systemErrorCode(err) === 'ENOENT') return [];
      throw err;
    }
    const whole = text.slice(0, text.lastIndexOf('\n') + 1);
    // A line cut by a kill would glue itself to the next one appended: cut it off.
    if (whole.length < text.length) await truncate(this.path, Buffer.byteLength(whole));
    const out: CommittedItem[] = [];
    this.starts = [];
    let at = 0;
    for (const line of whole.split('\n')) {
      const start = at;
      at += Buffer.byteLength(line) + 1;
      if (line === '') continue;
      try {
        const v = JSON.parse(line) as CommittedItem;
        if (typeof v.key === 'string' && typeof v.stream === 'string' && typeof v.kind === 'string') {
          out.push(v);
          this.starts.push(start);
        }
      } catch {
        // torn by a kill: ignore
      }
    }
    this.length = out.length;
    return out;
  }

  /**
   * Forget the items that read() returned from the `index`th on: the replay stopped there, and what comes
   * after is committed (and appended) again, in its new order. Before any add().
   */
  async cutAt(index: number): Promise<void> {
    const start = this.starts[index];
    if (start === undefined) return;
    if (this.lines) throw new Error('CommitLog.cutAt after add');
    await truncate(this.path, start);
    this.starts.length = index;
    this.length = index;
  }

  /** Append one item (lines are written one at a time, in call order). */
  add(item: CommittedItem): Promise<void> {
    this.length++;
    return this.opened().append(JSON.stringify(item));
  }

  /** Resolves once the log is open for addSync(). */
  async ready(): Promise<void> {
    await this.opened().ready();
  }

  /**
   * Append one item now, on this thread (see LineLog.appendSync), after ready(): for a caller that must
   * know it written before it writes what refers to it. Not while an add() is on its way (the order of the
   * lines is the order of the items).
   */
  addSync(item: CommittedItem): void {
    const lines = this.opened();
    if (lines.busy) throw new Error('CommitLog.addSync while an add() is on its way');
    lines.appendSync(JSON.stringify(item));
    this.length++;
  }

  private opened(): LineLog {
    if (!this.lines) {
      this.handle = open(this.path, 'a');
      this.lines = new LineLog(this.handle);
    }
    return this.lines;
  }

  async close(): Promise<void> {
    await this.lines?.settled();
    const h = this.handle;
    this.handle = undefined;
    if (h) await (await h).close().catch(() => undefined);
  }
}
