import { copyOf, sameBytes } from '../core/bytes.js';
import { InputError } from '../core/errors.js';
import { createDemuxer, demuxerSnapshot, restoreDemuxer, type DemuxerState } from '../formats/demux.js';
import { plainCopy } from '../formats/plain-copy.js';
import type { Demuxer, DemuxOutput, FormatWarning, Sample, TrackInfo } from '../formats/media.js';
import { sniffContainer, type ContainerFormat } from '../formats/sniff.js';
import { SampleTable, type SampleRows } from '../formats/sample-table.js';
import type { DemuxedInput } from '../formats/timeline.js';
import type { ReleasedSegments } from './released-segments.js';
import type { StreamLanguages } from '../sources/record-source.js';

/**
 * How a recording's MPEG-TS segment goes to its demuxer: PUSH_PIECE bytes at a time, and the event loop is
 * let run between two pieces once YIELD_AFTER_MS have passed since it last ran. A recording demuxes each
 * segment while the next ones are being fetched, on this same thread: pushed whole (about 3-25 ms for a
 * 4.7 MB segment), the sockets of those were not read meanwhile, their receive buffers filled, and the
 * server stopped sending until the demuxer was done; the next segment then came late (segment 1 of the
 * record bench's stream took 36-53 ms where the others took 5, by hand, and the commits waited for it).
 * By hand, 142 MB in 30 segments from nginx on loopback: 1 MB pieces with the loop run after each took
 * 267 ms against 306 ms whole (19 interleaved runs each; 512 kB 268 ms); 256 kB pieces with the loop run
 * after each millisecond, 257.9 ms against 263.7 ms for the 1 MB ones (17 runs): a new connection's receive
 * buffer is small (128 kB) until it has been read fast for a while, and V8's first passes over the
 * demuxer are slow.
 */
const PUSH_PIECE = 256 << 10;
const YIELD_AFTER_MS = 1;

export type StreamName = 'main' | 'video' | 'audio';

export interface SegmentMeta {
  /** For messages: the segment's key or URL. */
  name: string;
  /** Manifest duration, seconds. */
  duration: number;
  /** Timestamps may restart here (HLS EXT-X-DISCONTINUITY, DASH period): a new demuxer run. */
  discontinuity?: boolean;
}

/** One demuxer run over consecutive segments of a stream (until a discontinuity, init change or gap). */
export interface Run {
  demuxer: Demuxer;
  tracks: Map<number, TrackInfo>;
  samples: SampleTable;
  /** Bytes pushed into the demuxer so far (sample offsets count from the run's first byte). */
  pushed: number;
  /** The segments pushed whose bytes samples may still point into: [start offset, bytes]. */
  recent: [number, Uint8Array][];
  /** False for MPEG-TS, whose demuxer copies every payload out: no segment is kept in `recent`. */
  keepsInput: boolean;
  gapBeforeSec: number;
}

export interface StreamState {
  name: StreamName;
  init?: Uint8Array;
  run?: Run;
  runs: DemuxedInput[];
  /** Seconds of segments given up on since the last run ended. */
  pendingGapSec: number;
  recordedSec: number;
  segments: number;
}

/** A run that ended since the checkpoint before: what it is besides its samples. */
interface SavedInput {
  /** Its index among the stream's runs. */
  index: number;
  name: string;
  tracks: TrackInfo[];
  gapBeforeSec?: number;
}

/** The run in progress: its demuxer's snapshot instead of the segments it has read. */
interface SavedRun {
  demuxer: DemuxerState;
  tracks: TrackInfo[];
  pushed: number;
  keepsInput: boolean;
  gapBeforeSec: number;
  dropped: number[];
}

interface SavedStream {
  name: StreamName;
  init?: Uint8Array;
  /** Runs ended so far; the run in progress, if any, is the next one. */
  ended: number;
  /** Runs that ended since the checkpoint before. */
  endedNow: SavedInput[];
  /** Sample rows added since the checkpoint before: [run index, rows the run had before, the rows]. */
  rows: [number, number, SampleRows][];
  run?: SavedRun;
  pendingGapSec: number;
  recordedSec: number;
  segments: number;
}

/**
 * What DemuxingSink.saveStreams() keeps: plain data. Each one holds what changed since the one before
 * (the sample rows added, the runs ended) and the rest whole (small: the demuxers' snapshots, the tracks);
 * a sink is restored from all of them, in order.
 */
export interface DemuxingSinkState {
  streams: SavedStream[];
  /** Warnings given since the checkpoint before. */
  warnings: FormatWarning[];
}

/**
 * What the sinks that demux their segments share: each stream's segments go through one push demuxer per
 * run (so PES packets and GOPs that cross segment boundaries stay whole), an init segment goes before the
 * media segments after it, and a sample's payload is found in the segment bytes it points into. What
 * becomes of the samples is the subclass's: `take()`.
 */
export abstract class DemuxingSink {
  protected readonly streams = new Map<StreamName, StreamState>();
  protected readonly warnings: FormatWarning[] = [];

  /**
   * A separate audio stream is recorded beside the video (an HLS audio rendition with a URI, a DASH audio
   * adaptation set): audio muxed into the video stream's own segments (an HLS variant that carries its
   * default audio) is not what was chosen, and is left out (RFC 8216 4.3.4.2.1: the rendition replaces it).
   */
  protected separateAudio = false;
  /** An .m4a: the video tracks of every stream are left out (a muxed rendition carries them). */
  protected audioOnly = false;
  /** Per run: the ids of the tracks left out (audio of the video stream, or video). */
  private readonly dropped = new WeakMap<Run, Set<number>>();

  /**
   * ISO 639-2/T codes the manifest gives each stream's tracks, by kind: they replace what the segments
   * say (often nothing, "und"); a track the manifest says nothing about keeps its own.
   */
  protected languages: StreamLanguages = {};

  /** Where a run's demuxer makes payloads (MPEG-TS access units); default: new memory each. */
  protected allocate: ((n: number) => Uint8Array) | undefined;

  /**
   * Made by a sink whose take() copies every payload it is given (the MP4 sink): the segments of runs that
   * keep their input, once out of `recent` (no sample can point into them any more), wait here for
   * releasesSegments to hand them back. Without it, nothing is collected.
   */
  protected leftBehind: ReleasedSegments | undefined;

  /** What becomes of what a push demuxed: the samples (payloads from `payloadOf` when not in `data`). */
  protected abstract take(s: StreamState, run: Run, o: DemuxOutput): Promise<void>;

  protected state(stream: StreamName): StreamState {
    let s = this.streams.get(stream);
    if (!s) {
      s = { name: stream, runs: [], pendingGapSec: 0, recordedSec: 0, segments: 0 };
      this.streams.set(stream, s);
    }
    return s;
  }

  /** Seconds of media committed for a stream (by manifest durations), gaps not counted. */
  recordedSec(stream?: StreamName): number {
    if (stream) return this.streams.get(stream)?.recordedSec ?? 0;
    let max = 0;
    for (const s of this.streams.values()) max = Math.max(max, s.recordedSec);
    return max;
  }

  /** The initialization segment for the stream's next media segments (fMP4 EXT-X-MAP, DASH init). */
  async setInit(stream: StreamName, bytes: Uint8Array): Promise<void> {
    const s = this.state(stream);
    if (s.init && sameBytes(s.init, bytes)) return;
    await this.endRun(s);
    s.init = copyOf(bytes); // the caller may reuse its memory (releasesSegments)
  }

  /** A segment that was given up on: the next run starts after a gap of its duration. */
  async addGap(stream: StreamName, seconds: number): Promise<void> {
    const s = this.state(stream);
    await this.endRun(s);
    s.pendingGapSec += Math.max(0, seconds);
  }

  /** The next media segment of a stream, in order. */
  async addSegment(stream: StreamName, bytes: Uint8Array, meta: SegmentMeta): Promise<void> {
    const s = this.state(stream);
    if (meta.discontinuity) await this.endRun(s);
    let run = s.run;
    if (!run) {
      const format = this.formatOf(bytes, s, meta);
      run = {
        demuxer: createDemuxer(format, this.allocate ? { allocate: this.allocate } : {}),
        tracks: new Map(),
        samples: new SampleTable(1024),
        pushed: 0,
        recent: [],
        keepsInput: format !== 'mpegts',
        gapBeforeSec: s.pendingGapSec,
      };
      s.pendingGapSec = 0;
      s.run = run;
      if (format === 'mp4' && s.init && !isInitSegment(bytes)) await this.push(s, run, s.init);
    }
    await this.push(s, run, bytes);
    s.recordedSec += meta.duration;
    s.segments++;
  }

  private formatOf(
    bytes: Uint8Array,
    s: StreamState,
    meta: SegmentMeta,
  ): Exclude<ContainerFormat, 'unknown'> {
    const head = bytes.subarray(0, 4096);
    let format = sniffContainer(head);
    if (format === 'unknown' && s.init && sniffContainer(s.init.subarray(0, 4096)) === 'mp4') format = 'mp4';
    if (format === 'unknown' && looksLikeFragment(head)) format = 'mp4';
    if (format === 'unknown') {
      throw new InputError(`segment ${meta.name} is not MPEG-TS, fMP4 or FLV`, {
        code: 'E_SEGMENT_FORMAT',
        hint: 'the server answered with something else (an error page?); check the URL in a browser',
        details: { segment: meta.name, head: Buffer.from(bytes.subarray(0, 16)).toString('hex') },
      });
    }
    return format;
  }

  private async push(s: StreamState, run: Run, bytes: Uint8Array): Promise<void> {
    const at = run.pushed;
    if (run.keepsInput) {
      run.recent.push([at, bytes]);
      if (run.recent.length > 3) {
        this.leaveBehind(s, (run.recent.shift() as [number, Uint8Array])[1]);
      }
    }
    // Each segment after the first starts afresh for the checks that look back (MPEG-TS continuity).
    if (at > 0) run.demuxer.segmentBoundary?.();
    run.pushed += bytes.length;
    if (run.keepsInput || bytes.length <= PUSH_PIECE) {
      await this.take(s, run, this.chosen(s, run, run.demuxer.push(bytes)));
      return;
    }
    // A run that keeps no reference to its input takes the segment a piece at a time, and lets the event
    // loop run between pieces: see PUSH_PIECE.
    let ran = performance.now();
    for (let k = 0; k < bytes.length; k += PUSH_PIECE) {
      if (k > 0 && performance.now() - ran >= YIELD_AFTER_MS) {
        await new Promise<void>((resolve) => setImmediate(resolve));
        ran = performance.now();
      }
      const piece = bytes.subarray(k, k + PUSH_PIECE);
      await this.take(s, run, this.chosen(s, run, run.demuxer.push(piece)));
    }
  }

  /**
   * What a push demuxed, less the video stream's own audio when a separate audio stream was chosen (or
   * less the video, for an .m4a), with the tracks in the languages the manifest gives them.
   */
  private chosen(s: StreamState, run: Run, o: DemuxOutput): DemuxOutput {
    const out = this.withoutDropped(s, run, o);
    const langs = this.languages[s.name];
    if (!langs || out.tracks.length === 0) return out;
    return {
      ...out,
      tracks: out.tracks.map((t) => {
        const language = langs[t.kind];
        return language !== undefined && language !== t.language ? { ...t, language } : t;
      }),
    };
  }

  private withoutDropped(s: StreamState, run: Run, o: DemuxOutput): DemuxOutput {
    const kind = this.audioOnly ? 'video' : this.separateAudio && s.name === 'video' ? 'audio' : undefined;
    if (kind === undefined) return o;
    let drop = this.dropped.get(run);
    for (const t of o.tracks) {
      if (t.kind !== kind) continue;
      if (!drop) this.dropped.set(run, (drop = new Set()));
      drop.add(t.id);
    }
    if (!drop) return o;
    const ids = drop;
    return {
      ...o,
      tracks: o.tracks.filter((t) => !ids.has(t.id)),
      samples: o.samples.filter((x) => !ids.has(x.trackId)),
    };
  }

  protected payloadOf(run: Run, s: Sample): Uint8Array {
    const at = s.offset ?? 0;
    for (const [start, bytes] of run.recent) {
      if (at >= start && at + s.size <= start + bytes.length)
        return bytes.subarray(at - start, at - start + s.size);
    }
    throw new InputError(`a sample's payload lies outside its segment (offset ${at}, ${s.size} bytes)`, {
      code: 'E_SEGMENT_PAYLOAD',
      details: { offset: at, size: s.size },
    });
  }

  /** Ends the stream's run: the last samples are taken and the run joins `s.runs` (when it had any). */
  protected async endRun(s: StreamState): Promise<void> {
    const run = s.run;
    if (!run) return;
    s.run = undefined;
    // end() may complete samples (the last PES of an MPEG-TS).
    await this.take(s, run, this.chosen(s, run, run.demuxer.end()));
    for (const [, bytes] of run.recent) this.leaveBehind(s, bytes);
    run.recent = [];
    if (run.samples.length > 0 && run.tracks.size > 0) {
      run.samples.trim();
      const input: DemuxedInput = {
        name: `run ${s.runs.length + 1}`,
        tracks: [...run.tracks.values()],
        samples: run.samples,
      };
      if (run.gapBeforeSec > 0) input.gapBeforeSec = run.gapBeforeSec;
      s.runs.push(input);
    }
  }

  /**
   * A segment no sample can point into any more, for releasesSegments; never the init section, which is
   * the sink's own copy, pushed again at the next run.
   */
  private leaveBehind(s: StreamState, bytes: Uint8Array): void {
    if (bytes !== s.init) this.leftBehind?.add(bytes);
  }

  /**
   * No stream's demuxer run refers back to segment bytes (MPEG-TS payloads are copied as they come): the
   * segment just given may be used again. A subclass may hand back older ones instead (leftBehind).
   */
  releasesSegments(): boolean | readonly Uint8Array[] {
    for (const s of this.streams.values()) if (s.run?.keepsInput) return false;
    return true;
  }

  /** Per sample table: the rows the last saveStreams() reported. */
  private readonly savedRows = new WeakMap<SampleTable, number>();
  /** Per stream: the runs the last saveStreams() reported ended; and the warnings it reported. */
  private readonly savedEnded = new Map<StreamName, number>();
  private savedWarnings = 0;

  /**
   * What changed in every stream since the last call, as plain data (see DemuxingSinkState), or undefined
   * when a run's demuxer cannot be saved without the segments it has read (FLV; samples to come that point
   * back into them). Every state it gives is needed, in order, to restore the sink.
   */
  protected saveStreams(): DemuxingSinkState | undefined {
    const demuxers = new Map<StreamName, DemuxerState>();
    for (const s of this.streams.values()) {
      if (!s.run) continue;
      const d = demuxerSnapshot(s.run.demuxer);
      if (!d) return undefined;
      demuxers.set(s.name, d);
    }
    const streams: SavedStream[] = [];
    for (const s of this.streams.values()) {
      const ended = this.savedEnded.get(s.name) ?? 0;
      const saved: SavedStream = {
        name: s.name,
        ended: s.runs.length,
        endedNow: s.runs.slice(ended).map((r, k) => {
          const input: SavedInput = {
            index: ended + k,
            name: r.name,
            tracks: plainCopy(r.tracks) as unknown as TrackInfo[],
          };
          if (r.gapBeforeSec !== undefined) input.gapBeforeSec = r.gapBeforeSec;
          return input;
        }),
        rows: [],
        pendingGapSec: s.pendingGapSec,
        recordedSec: s.recordedSec,
        segments: s.segments,
      };
      this.savedEnded.set(s.name, s.runs.length);
      const tables = s.runs.map((r) => r.samples);
      if (s.run) tables.push(s.run.samples);
      // Only the runs that ended since, and the one in progress, can have rows not reported yet.
      for (let i = ended; i < tables.length; i++) {
        const t = tables[i] as SampleTable;
        const from = this.savedRows.get(t) ?? 0;
        if (t.length > from) saved.rows.push([i, from, t.rows(from)]);
        this.savedRows.set(t, t.length);
      }
      if (s.init) saved.init = s.init.slice();
      const run = s.run;
      if (run) {
        saved.run = {
          demuxer: demuxers.get(s.name) as DemuxerState,
          tracks: plainCopy([...run.tracks.values()]) as unknown as TrackInfo[],
          pushed: run.pushed,
          keepsInput: run.keepsInput,
          gapBeforeSec: run.gapBeforeSec,
          dropped: [...(this.dropped.get(run) ?? [])],
        };
      }
      streams.push(saved);
    }
    const warnings = plainCopy(this.warnings.slice(this.savedWarnings)) as unknown as FormatWarning[];
    this.savedWarnings = this.warnings.length;
    return { streams, warnings };
  }

  /**
   * The streams of a sink that has none yet, from every state saveStreams() gave, in order. Returns the
   * runs in progress.
   */
  protected restoreStreams(states: readonly DemuxingSinkState[]): Map<StreamName, Run> {
    const tables = new Map<StreamName, SampleTable[]>();
    const inputs = new Map<StreamName, SavedInput[]>();
    for (const state of states) {
      for (const st of state.streams) {
        let ts = tables.get(st.name);
        if (!ts) tables.set(st.name, (ts = []));
        for (const [i, from, rows] of st.rows) {
          const t = (ts[i] ??= new SampleTable(1024));
          if (t.length !== from)
            throw new RangeError(
              `checkpoints out of order: run ${i} of ${st.name} has ${t.length} rows, not ${from}`,
            );
          t.appendRows(rows);
        }
        let ins = inputs.get(st.name);
        if (!ins) inputs.set(st.name, (ins = []));
        for (const e of st.endedNow) ins[e.index] = e;
      }
      for (const w of state.warnings) this.warnings.push(plainCopy(w) as unknown as FormatWarning);
    }
    const last = states[states.length - 1];
    const runs = new Map<StreamName, Run>();
    if (!last) return runs;
    for (const saved of last.streams) {
      const s = this.state(saved.name);
      const ts = tables.get(saved.name) ?? [];
      const ins = inputs.get(saved.name) ?? [];
      if (saved.init) s.init = saved.init.slice();
      for (let i = 0; i < saved.ended; i++) {
        const meta = ins[i];
        if (!meta) throw new RangeError(`checkpoints without run ${i} of ${saved.name}`);
        const samples = ts[i] ?? new SampleTable(0);
        samples.trim();
        const input: DemuxedInput = { name: meta.name, tracks: meta.tracks, samples };
        if (meta.gapBeforeSec !== undefined) input.gapBeforeSec = meta.gapBeforeSec;
        s.runs.push(input);
      }
      s.pendingGapSec = saved.pendingGapSec;
      s.recordedSec = saved.recordedSec;
      s.segments = saved.segments;
      const r = saved.run;
      if (r) {
        const run: Run = {
          demuxer: restoreDemuxer(r.demuxer, this.allocate ? { allocate: this.allocate } : {}),
          tracks: new Map(r.tracks.map((t) => [t.id, t])),
          samples: ts[saved.ended] ?? new SampleTable(1024),
          pushed: r.pushed,
          recent: [],
          keepsInput: r.keepsInput,
          gapBeforeSec: r.gapBeforeSec,
        };
        if (r.dropped.length > 0) this.dropped.set(run, new Set(r.dropped));
        s.run = run;
        runs.set(saved.name, run);
      }
      // What was restored counts as reported: the next checkpoint goes on from here.
      this.savedEnded.set(saved.name, saved.ended);
      ts.forEach((t) => this.savedRows.set(t, t.length));
    }
    this.savedWarnings = this.warnings.length;
    return runs;
  }

  /** Segments committed so far, all streams. */
  get segments(): number {
    let n = 0;
    for (const s of this.streams.values()) n += s.segments;
    return n;
  }
}

function boxType(bytes: Uint8Array): string {
  return String.fromCharCode(...bytes.subarray(4, 8));
}

/** An fMP4 media segment may start with a box sniffContainer does not list (styp, sidx, moof, emsg, prft). */
function looksLikeFragment(head: Uint8Array): boolean {
  return head.length >= 8 && ['styp', 'moof', 'sidx', 'emsg', 'prft'].includes(boxType(head));
}

/** A segment carrying its own moov (a whole MP4 or an init+media segment) needs no init pushed before it. */
function isInitSegment(bytes: Uint8Array): boolean {
  return ['ftyp', 'moov'].includes(boxType(bytes));
}
