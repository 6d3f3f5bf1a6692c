import type { Writable } from 'node:stream';
import { copyOf } from '../core/bytes.js';
import { InputError } from '../core/errors.js';
import {
  fmp4Clocks,
  fmp4JoinShift,
  fmp4SegmentTimes,
  shiftFmp4Times,
  type Fmp4Clocks,
  type Fmp4TrackClock,
  withTrackLanguages,
} from '../formats/isobmff/isobmff-retime.js';
import { cutFmp4At } from '../formats/isobmff/isobmff-cut.js';
import { PmtLanguageWriter } from '../formats/mpegts/mpegts-pmt-language.js';
import {
  cutTsAt,
  shiftTsTimes,
  tsJoinOffset,
  tsLater,
  tsSegmentTimes,
  type TsPidTimes,
} from '../formats/mpegts/mpegts-retime.js';
import { sniffContainer } from '../formats/sniff.js';
import { sameDecoding, trackDifference } from '../formats/timeline.js';
import type { StreamLanguages, StreamName } from '../sources/record-source.js';

/** ISO 639-2/T codes for a stream's tracks, by kind. */
type TrackLanguages = NonNullable<StreamLanguages[StreamName]>;
import { AtomicFile } from '../storage/local.js';
import { PipeOutput } from './pipe-output.js';
import { ReleasedSegments } from './released-segments.js';
import type { RecordSinkResult, SegmentMeta } from './record-sink.js';

/** What the recorder needs of an output: the MP4 sink and the pass-through sink both are one. */
export interface RecordSink {
  setInit(stream: StreamName, bytes: Uint8Array): Promise<void>;
  addSegment(stream: StreamName, bytes: Uint8Array, meta: SegmentMeta): Promise<void>;
  addGap(stream: StreamName, seconds: number): Promise<void>;
  recordedSec(stream?: StreamName): number;
  finish(): Promise<RecordSinkResult>;
  abort(): Promise<void>;
  /**
   * The segment memory the sink no longer refers to, which the caller may use again: `true` for the bytes
   * it was last given, or a list of bytes it was given (see DownloadSegmentsOptions.segmentReleased).
   */
  releasesSegments?(): boolean | readonly Uint8Array[];
}

/**
 * The segments themselves, in order, as one MPEG-TS or fragmented MP4 stream (what `--format ts|fmp4` and
 * `-o -` write for a stream that comes as one muxed rendition): TS segments back to back, or the init
 * section followed by the media segments. Nothing is parsed or rewritten, so it can go to a pipe while it
 * is being recorded, with two exceptions at a discontinuity (an ad, a restarted encoder): segments whose
 * timestamps restart have their times (TS: PTS, DTS and PCR; fMP4: tfdt and sidx) moved to go on from
 * where the output was, or the file would go back in time and play the parts over each other; and a new
 * fMP4 init section is not written into the file (players read the first moov only): one that describes
 * the same tracks decoded alike is left out, another encoding is refused, as the MP4 output refuses it.
 */
export class RawRecordSink implements RecordSink {
  private recorded = 0;
  private written = 0;
  private lastInit: Uint8Array | undefined;
  private pendingInit: Uint8Array | undefined;
  /** TS: the last segment written (its end is read only when a discontinuity needs it). */
  private lastTs: Uint8Array | undefined;
  /** The caller's segment memory lastTs or lastFmp4 still refers to (see releasesSegments). */
  private kept: Uint8Array | undefined;
  /** The caller's segment memory this sink no longer refers to, not yet handed back. */
  private readonly freed = new ReleasedSegments();
  /** Seconds of gaps since the last segment written. */
  private gapSec = 0;
  /** TS: 90 kHz ticks added to the times of the current run of segments (since the last discontinuity). */
  private tsShift = 0;
  /** fMP4: the last segment written, and the tracks of its init section. */
  private lastFmp4: { bytes: Uint8Array; init: Uint8Array | undefined } | undefined;
  /** fMP4: seconds added to the times of the current run of segments. */
  private fmp4Shift = 0;
  private clocksCache: { init: Uint8Array; clocks: Fmp4Clocks } | undefined;
  /** TS with an end (--duration): the output's first decoding time (90 kHz), once a segment has come. */
  private startDts: number | undefined;
  /** fMP4 with an end: the output's first decoding time (seconds), once a segment has come. */
  private startSec: number | undefined;
  /** The segment holding the end has been cut there; nothing more goes out. */
  private ended = false;

  private constructor(
    private format: 'ts' | 'fmp4' | 'auto',
    private readonly name: string,
    private readonly file: AtomicFile | undefined,
    private readonly pipe: PipeOutput | undefined,
    private readonly languages: TrackLanguages | undefined,
    private readonly endSec: number | undefined,
  ) {
    if (languages?.audio) this.pmtLanguage = new PmtLanguageWriter(languages.audio);
  }

  /** TS: the audio language the manifest gives, written into the PMTs. */
  private readonly pmtLanguage: PmtLanguageWriter | undefined;

  /**
   * `languages`: ISO 639-2/T codes written into the fMP4 init section's tracks, by kind, or for TS the
   * audio's into the PMT. `endSec` (--duration): the output ends there, each track cut at its first
   * frame decoded at or past it (a TS at a PES).
   */
  static async toFile(
    path: string,
    format: 'ts' | 'fmp4' | 'auto',
    languages?: TrackLanguages,
    endSec?: number,
  ): Promise<RawRecordSink> {
    return new RawRecordSink(format, path, await AtomicFile.create(path), undefined, languages, endSec);
  }

  static toStream(
    stream: Writable,
    format: 'ts' | 'fmp4' | 'auto',
    languages?: TrackLanguages,
    endSec?: number,
  ): RawRecordSink {
    const pipe = new PipeOutput(stream, 'stdout');
    return new RawRecordSink(format, 'stdout', undefined, pipe, languages, endSec);
  }

  async setInit(_stream: StreamName, bytes: Uint8Array): Promise<void> {
    if (this.languages) {
      try {
        bytes = withTrackLanguages(bytes, this.languages);
      } catch {
        // An init section this cannot read goes out as it came.
      }
    }
    if (this.lastInit && Buffer.compare(this.lastInit, bytes) === 0) return;
    this.pendingInit = copyOf(bytes); // the caller may use its memory again (releasesSegments)
  }

  async addSegment(_stream: StreamName, bytes: Uint8Array, meta: SegmentMeta): Promise<void> {
    await this.addOne(bytes, meta);
    // The last segment written is kept for the next discontinuity: the one kept before it is let go of.
    const referenced = (this.lastTs ?? this.lastFmp4?.bytes)?.buffer;
    if (this.kept && this.kept.buffer !== referenced) {
      this.free(this.kept);
      this.kept = undefined;
    }
    if (bytes.buffer === referenced) this.kept = bytes;
    else this.free(bytes);
  }

  /**
   * Memory let go of, for releasesSegments. A stream that is not on a descriptor never lets the caller
   * have it back, so none is collected for it.
   */
  private free(bytes: Uint8Array): void {
    if (!this.pipe || this.pipe.onDescriptor) this.freed.add(bytes);
  }

  /**
   * The caller's segment memory this sink has let go of: the segment before the last when the last is
   * kept for its times (a discontinuity may need them), or the last itself when it was copied or not
   * written. Nothing while the output may still hold what was written (a stream not on a descriptor).
   */
  releasesSegments(): readonly Uint8Array[] {
    return this.pipe && !this.pipe.holdsNothing ? [] : this.freed.takeAll();
  }

  private async addOne(bytes: Uint8Array, meta: SegmentMeta): Promise<void> {
    if (this.ended) return; // past the end (--duration): nothing more goes out, an init section neither
    const kind = sniffContainer(bytes.subarray(0, 4096));
    const isTs = kind === 'mpegts';
    if (this.format === 'auto') this.format = isTs ? 'ts' : 'fmp4';
    if (this.format === 'ts' && !isTs) {
      throw new InputError(`segment ${meta.name} is not MPEG-TS, so it cannot be written as a TS stream`, {
        code: 'E_OUTPUT_FORMAT',
        hint: 'this stream has fragmented MP4 segments: use --format fmp4 or mp4',
      });
    }
    if (this.format === 'fmp4' && isTs) {
      throw new InputError(
        `segment ${meta.name} is MPEG-TS, so it cannot be written as fragmented MP4 as is`,
        {
          code: 'E_OUTPUT_FORMAT',
          hint: 'use --format ts, or mp4',
        },
      );
    }
    if (this.pendingInit) {
      if (!this.lastInit || this.initChangeNeedsWriting(this.lastInit, this.pendingInit))
        await this.write(this.pendingInit);
      this.lastInit = this.pendingInit;
      this.pendingInit = undefined;
    }
    let seconds = meta.duration;
    if (isTs) bytes = this.retimed(this.pmtLanguage?.apply(bytes) ?? bytes, meta.discontinuity === true);
    else bytes = this.retimedFmp4(bytes, meta.discontinuity === true);
    if (this.endSec !== undefined) {
      const cut = isTs ? this.cutAtEnd(bytes, this.endSec) : this.cutFmp4AtEnd(bytes, this.endSec);
      if (cut) {
        bytes = cut;
        seconds = Math.max(0, this.endSec - this.recorded);
      }
    }
    await this.write(bytes);
    this.recorded += seconds;
  }

  /**
   * An fMP4 segment whose media runs past `endSec` of the output (from its first decoding time), cut there
   * (cutFmp4At); undefined when it ends before. A fragment the cut does not handle goes out whole.
   */
  private cutFmp4AtEnd(bytes: Uint8Array, endSec: number): Uint8Array | undefined {
    try {
      const clocks = this.clocksOf(this.lastInit);
      const times = [...fmp4SegmentTimes(bytes, clocks).values()];
      if (times.length === 0) return undefined;
      this.startSec ??= Math.min(...times.map((t) => t.start));
      const end = this.startSec + endSec;
      if (!times.some((t) => t.end > end + 1e-9)) return undefined;
      this.ended = true;
      return cutFmp4At(bytes, clocks, end);
    } catch {
      return undefined; // boxes this cannot read: the segment goes out as it came, as retimedFmp4 does
    }
  }

  /**
   * A TS segment whose media runs past `endSec` of the output (from its first decoding time), cut there
   * (cutTsAt); undefined when it ends before. The output's clock is continuous (see retimed), so the end
   * is one time for every segment.
   */
  private cutAtEnd(bytes: Uint8Array, endSec: number): Uint8Array | undefined {
    const times = [...tsSegmentTimes(bytes).values()];
    if (times.length === 0) return undefined;
    if (this.startDts === undefined) {
      const first = times[0] as TsPidTimes;
      this.startDts = times.reduce((a, t) => (tsLater(a, t.firstDts) ? t.firstDts : a), first.firstDts);
    }
    const end = this.startDts + Math.round(endSec * 90_000);
    if (!times.some((t) => tsLater(t.end, end))) return undefined;
    this.ended = true;
    return cutTsAt(bytes, end);
  }

  async addGap(_stream: StreamName, seconds: number): Promise<void> {
    // The segments carry their own timestamps: a hole shows as a jump, as in the source (and is kept as
    // one when the times after it are moved, see retimed()).
    this.gapSec += seconds;
  }

  /** retimed() for fMP4 segments: the run after a discontinuity moved to begin where the output ended. */
  private retimedFmp4(bytes: Uint8Array, discontinuity: boolean): Uint8Array {
    const init = this.lastInit;
    try {
      if (discontinuity && this.lastFmp4) {
        const prev = fmp4SegmentTimes(this.lastFmp4.bytes, this.clocksOf(this.lastFmp4.init));
        const shift = fmp4JoinShift(prev, fmp4SegmentTimes(bytes, this.clocksOf(init)), this.gapSec);
        if (shift !== undefined) this.fmp4Shift = shift;
      }
      if (this.fmp4Shift !== 0) {
        const out = bytes.slice(); // the caller's bytes are left as they came
        shiftFmp4Times(out, this.clocksOf(init), this.fmp4Shift);
        bytes = out;
      }
    } catch {
      // Boxes the retiming cannot read: the segment goes out as it came (as it always did).
    }
    this.lastFmp4 = { bytes, init };
    this.gapSec = 0;
    return bytes;
  }

  /**
   * A new init section in the middle of a fragmented MP4 (after a discontinuity): a player reads the first
   * moov only, so one that describes the same tracks decoded alike is left out, and one that does not is
   * refused (what comes after it would not play) in the words the MP4 output uses. An init section this
   * cannot read goes out as before.
   */
  private initChangeNeedsWriting(prev: Uint8Array, next: Uint8Array): boolean {
    let a: Fmp4Clocks;
    let b: Fmp4Clocks;
    try {
      a = fmp4Clocks(prev);
      b = fmp4Clocks(next);
    } catch {
      return true;
    }
    if (a.size === 0 || b.size === 0) return true;
    let what: string | undefined;
    let encoding = true;
    for (const [id, p] of a) {
      const q = b.get(id);
      if (!q) what = `track ${id} went away`;
      else if (!sameDecoding(q.info, p.info)) what = trackDifference(q.info, p.info);
      else if (q.timescale !== p.timescale || !sameTrex(q, p)) {
        what = `track ${id} has another timescale or other defaults`;
        encoding = false;
      }
      if (what) break;
    }
    if (!what && [...b.keys()].some((id) => !a.has(id))) what = 'a track was added';
    if (!what) return false;
    throw new InputError(
      `the stream changed its ${encoding ? 'encoding' : 'init section'} at a discontinuity (${what}): one fragmented MP4 cannot hold both`,
      {
        code: 'E_CONCAT_MISMATCH',
        hint: encoding
          ? 'record with --format ts (an MPEG-TS carries the change), or record each part on its own'
          : 'record with --format mp4 or ts',
      },
    );
  }

  private clocksOf(init: Uint8Array | undefined): Fmp4Clocks {
    if (!init) return new Map();
    if (this.clocksCache?.init !== init) this.clocksCache = { init, clocks: fmp4Clocks(init) };
    return this.clocksCache.clocks;
  }

  /**
   * A TS segment on the output's clock: after a discontinuity, the run it starts is moved to begin where
   * the last segment ended (plus any gap in between); the segments of that run follow with the same shift.
   */
  private retimed(bytes: Uint8Array, discontinuity: boolean): Uint8Array {
    if (discontinuity && this.lastTs) {
      // The last segment is already on the output's clock: the new run's shift replaces the old one.
      const gap = Math.round(this.gapSec * 90_000);
      const shift = tsJoinOffset(tsSegmentTimes(this.lastTs), tsSegmentTimes(bytes), gap);
      if (shift !== undefined) this.tsShift = shift;
    }
    let out = bytes;
    if (this.tsShift !== 0) {
      out = bytes.slice(); // the caller's bytes are left as they came (the journal holds the source's)
      shiftTsTimes(out, this.tsShift);
    }
    this.lastTs = out;
    this.gapSec = 0;
    return out;
  }

  recordedSec(): number {
    return this.recorded;
  }

  private async write(bytes: Uint8Array): Promise<void> {
    this.written += bytes.length;
    if (this.file) return this.file.write(bytes);
    await (this.pipe as PipeOutput).write(bytes);
  }

  async finish(): Promise<RecordSinkResult> {
    await this.file?.commit();
    this.pipe?.close();
    return {
      output: this.name,
      bytesOut: this.written,
      durationSec: this.recorded,
      tracks: [],
      warnings: [],
    };
  }

  async abort(): Promise<void> {
    this.pipe?.close();
    await this.file?.abort();
  }
}

function sameTrex(a: Fmp4TrackClock, b: Fmp4TrackClock): boolean {
  return (
    a.trex.duration === b.trex.duration &&
    a.trex.size === b.trex.size &&
    a.trex.flags === b.trex.flags &&
    a.trex.descriptionIndex === b.trex.descriptionIndex
  );
}
