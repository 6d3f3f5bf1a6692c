import { resolve } from 'node:path';
import { copyOf } from '../core/bytes.js';
import { InputError, isCastkitError } from '../core/errors.js';
import { SlabArena } from '../core/slab-arena.js';
import { withParameterSets, type InBandParams } from '../formats/codecs/parameter-sets.js';
import { plainCopy } from '../formats/plain-copy.js';
import { cutToPresentation, planMp4, type Mp4WriterTrack } from '../formats/isobmff/isobmff-mp4-writer.js';
import type { DemuxOutput, FormatWarning, TrackInfo } from '../formats/media.js';
import type { SampleTable } from '../formats/sample-table.js';
import {
  joinInputs,
  mergeInputs,
  parameterSetsToCarry,
  type DemuxedInput,
  type Timeline,
} from '../formats/timeline.js';
import type { StreamLanguages } from '../sources/record-source.js';
import { AtomicFile } from '../storage/local.js';
import { ReleasedSegments } from './released-segments.js';
import { PieceWriter } from '../storage/piece-writer.js';
import { IO_BLOCK } from '../storage/write-all.js';
import {
  DemuxingSink,
  type DemuxingSinkState,
  type Run,
  type SegmentMeta,
  type StreamName,
  type StreamState,
} from './record-demux-sink.js';
import { rewriteWithHead } from './remux-output.js';
import { trackSummaries, withDetails } from './remux-shared.js';
import type { RemuxTrackSummary } from './remux-types.js';

/** Bytes of moov per sample at the most (see remux-onepass.ts). */
const MOOV_BYTES_PER_SAMPLE = 44;

export type { SegmentMeta, StreamName } from './record-demux-sink.js';

export interface RecordSinkOptions {
  /** Seconds the recording is expected to last (VOD length, --duration): sizes the room for the moov. */
  expectedSec?: number;
  /** The streams that will come (default ['main']): the room is sized once each has sent a segment. */
  streams?: StreamName[];
  /**
   * Seconds of presentation the MP4 ends at (--duration): the samples past it are left out, and the
   * tracks' edit lists end there.
   */
  endSec?: number;
  /** ISO 639-2/T codes for the tracks of each stream, by kind (DemuxingSink.languages). */
  languages?: StreamLanguages;
  /** An .m4a: only the audio tracks are written. */
  audioOnly?: boolean;
}

/**
 * An Mp4RecordSink between two segments (Mp4RecordSink.snapshot), as plain data: what changed since the
 * checkpoint before. With all of them, in order, and the output's temporary file as it was at the last,
 * Mp4RecordSink.restore() makes a sink that goes on exactly as it would have.
 */
export interface Mp4SinkCheckpoint {
  readonly kind: 'mp4-record-sink';
  readonly v: 1;
  /** The temporary file the output is written to. */
  tempPath: string;
  /** Bytes of the output that are written: the room for the moov and the payloads. */
  length: number;
  reserved: number;
  payloadPos: number;
  videoInForce: [StreamName, TrackInfo][];
  /** Per stream: parameter sets its run's first keyframe is still to carry. */
  pendingParams: [StreamName, [number, InBandParams][]][];
  streams: DemuxingSinkState;
}

export interface RecordSinkResult {
  output: string;
  bytesOut: number;
  durationSec: number;
  tracks: RemuxTrackSummary[];
  warnings: FormatWarning[];
  /** Where the payloads begin in the output (Mp4RecordSink): they are the temporary file's, from `reserved`. */
  payloadStart?: number;
}

/**
 * Writes a recording into one MP4 as its segments arrive, in order: each stream's segments go through one
 * push demuxer per run (so PES packets and GOPs that cross segment boundaries stay whole), payloads are
 * appended after room reserved for the moov, and `finish()` joins each stream's runs into one timeline
 * (keeping known gaps as gaps), puts separate video and audio streams side by side in sync, and writes the
 * moov into the room (or, when it does not fit, moves the media behind a head of the right size).
 */
export class Mp4RecordSink extends DemuxingSink {
  private reserved: number | undefined;
  private payloadPos = 0;
  /** Payloads that arrived before the room for the moov was reserved, in output order. */
  private held: Uint8Array[] = [];

  private readonly writer: PieceWriter;
  /** Payload bytes the output's file held when this sink went on from a checkpoint (restore). */
  private writtenBefore = 0;
  /**
   * Called on this thread whenever more of the payloads are in the output's file (payloadWritten): a
   * checkpoint given by snapshot() is good to keep once its payloadPos is reached.
   */
  onPayloadWritten: (() => void) | undefined;

  private constructor(
    readonly output: string,
    private readonly out: AtomicFile,
    private readonly options: RecordSinkOptions,
  ) {
    super();
    this.writer = payloadWriter(out, () => this.onPayloadWritten?.());
    this.allocate = (n) => this.arena.allocate(n);
    // take() copies every payload (into the output's buffer, or held): segments can be handed back.
    this.leftBehind = new ReleasedSegments();
    this.separateAudio = options.streams?.includes('audio') === true;
    this.audioOnly = options.audioOnly === true;
    if (options.languages) this.languages = options.languages;
  }

  static async create(output: string, options: RecordSinkOptions = {}): Promise<Mp4RecordSink> {
    const out = await AtomicFile.create(output);
    return new Mp4RecordSink(output, out, options);
  }

  /** The temporary file the output is written to until finish() renames it into place. */
  get tempPath(): string {
    return this.out.tempPath;
  }

  get bytesWritten(): number {
    return this.payloadPos;
  }

  /** Payload bytes in the output's file: written, not only gathered for a write to come. */
  get payloadWritten(): number {
    return this.writtenBefore + this.writer.written;
  }

  /**
   * What this sink holds between two segments (the sample rows and warnings added since the checkpoint
   * before, the rest whole), or undefined when it cannot be kept without the segments given (before the
   * room for the moov is reserved; a demuxer that cannot be saved: see saveStreams). Made for recordings:
   * kept after each segment, they let a run that died go on into the same output without the segments'
   * bytes. Every one given is needed, in order, and one is good to keep only once the output's bytes up to
   * it are written (payloadWritten >= its payloadPos; flushPayload() writes them).
   */
  snapshot(): Mp4SinkCheckpoint | undefined {
    if (this.reserved === undefined || this.held.length > 0) return undefined;
    const streams = this.saveStreams();
    if (!streams) return undefined;
    const pendingParams: Mp4SinkCheckpoint['pendingParams'] = [];
    for (const [name, s] of this.streams) {
      const p = s.run && this.pendingParams.get(s.run);
      if (p && p.size > 0)
        pendingParams.push([name, plainCopy([...p]) as unknown as [number, InBandParams][]]);
    }
    return {
      kind: 'mp4-record-sink',
      v: 1,
      // Absolute: a rerun may be started from another directory.
      tempPath: resolve(this.out.tempPath),
      length: this.reserved + this.payloadPos,
      reserved: this.reserved,
      payloadPos: this.payloadPos,
      videoInForce: plainCopy([...this.videoInForce]) as unknown as [StreamName, TrackInfo][],
      pendingParams,
      streams,
    };
  }

  /** Write the payloads gathered so far, and wait until they are in the output's file. */
  async flushPayload(): Promise<void> {
    await this.writer.flush();
  }

  /**
   * The sink of a run that died, from every snapshot() it gave, in order: the output's temporary file
   * is cut back to what was written at the last, and the next segments go on from there. `options` as the
   * first run gave them.
   */
  static async restore(
    output: string,
    checkpoints: readonly Mp4SinkCheckpoint[],
    options: RecordSinkOptions = {},
  ): Promise<Mp4RecordSink> {
    const cp = checkpoints[checkpoints.length - 1];
    if (!cp || checkpoints.some((c) => c?.kind !== 'mp4-record-sink' || c.v !== 1))
      throw new RangeError('Mp4RecordSink.restore: not checkpoints of this sink');
    const out = await AtomicFile.reopen(output, cp.tempPath, cp.length);
    const sink = new Mp4RecordSink(output, out, options);
    sink.reserved = cp.reserved;
    sink.payloadPos = cp.payloadPos;
    sink.writtenBefore = cp.payloadPos;
    for (const [name, t] of cp.videoInForce)
      sink.videoInForce.set(name, plainCopy(t) as unknown as TrackInfo);
    const runs = sink.restoreStreams(checkpoints.map((c) => c.streams));
    for (const [name, params] of cp.pendingParams) {
      const run = runs.get(name);
      if (run) sink.pendingParams.set(run, new Map(plainCopy(params) as unknown as [number, InBandParams][]));
    }
    return sink;
  }

  /**
   * The segments fMP4 and FLV runs no longer point into (this sink copies what it takes), or else, as
   * DemuxingSink says, the segment just given when no run keeps its input.
   */
  override releasesSegments(): boolean | readonly Uint8Array[] {
    return this.leftBehind?.size ? this.leftBehind.takeAll() : super.releasesSegments();
  }

  /** The next media segment of a stream, in order. */
  override async addSegment(stream: StreamName, bytes: Uint8Array, meta: SegmentMeta): Promise<void> {
    await super.addSegment(stream, bytes, meta);
    await this.maybeReserve();
  }

  /**
   * Room for the moov, once the first segment of every expected stream is in: the samples per second
   * they carry times the expected length, with a margin.
   */
  private async maybeReserve(): Promise<void> {
    if (this.reserved !== undefined) return;
    const expected = this.options.expectedSec;
    const wanted = this.options.streams ?? ['main'];
    let perSec = 0;
    for (const name of wanted) {
      const st = this.streams.get(name);
      if (!st || st.recordedSec <= 0) return; // not every stream has shown its rate yet
      const samples = (st.run?.samples.length ?? 0) + st.runs.reduce((n, r) => n + r.samples.length, 0);
      perSec += samples / st.recordedSec;
    }
    // Unknown length (live without --duration): no room; the media is moved behind the moov at the end.
    this.reserved =
      expected === undefined ? 0 : 4096 + Math.ceil(perSec * expected * 1.25 + 512) * MOOV_BYTES_PER_SAMPLE;
    this.out.reserve(this.reserved);
    const held = this.held;
    this.held = [];
    for (const b of held) if (!this.writer.tryAdd({ bytes: b })) await this.writer.add({ bytes: b });
  }

  private async write(bytes: Uint8Array): Promise<void> {
    // Held bytes are copied: they may be arena memory or a view of a segment that is going away.
    if (this.reserved === undefined) this.held.push(copyOf(bytes));
    else if (!this.writer.tryAdd({ bytes })) await this.writer.add({ bytes });
  }

  /** Memory for the payloads the demuxer makes (MPEG-TS access units) until they are written. */
  private readonly arena = new SlabArena();

  /** Per stream: the video track whose configuration the last run's samples decode with. */
  private readonly videoInForce = new Map<StreamName, TrackInfo>();
  /** Per run: video track id -> the parameter sets its first keyframe must carry (see announced). */
  private readonly pendingParams = new WeakMap<Run, Map<number, InBandParams>>();

  protected async take(s: StreamState, run: Run, o: DemuxOutput): Promise<void> {
    for (const t of o.tracks) if (!run.tracks.has(t.id)) run.tracks.set(t.id, this.announced(s, run, t));
    for (const w of o.warnings) this.warnings.push(w);
    const pending = this.pendingParams.get(run);
    for (const sample of o.samples) {
      const given = sample.data ?? this.payloadOf(run, sample);
      const params = sample.keyframe ? pending?.get(sample.trackId) : undefined;
      let payload = given;
      if (params) {
        pending?.delete(sample.trackId);
        payload = withParameterSets(given, params);
      }
      run.samples.addSample(
        payload === given ? sample : { ...sample, size: payload.length },
        this.payloadPos,
      );
      this.payloadPos += payload.length;
      // Most payloads fit in the output buffer: no promise for them.
      if (this.reserved === undefined || !this.writer.tryAddBytes(payload)) await this.write(payload);
      this.arena.release(given);
    }
  }

  /**
   * A run's track, as the run will be joined: a video track whose configuration differs from the one the
   * stream's previous run decoded with (an ad break, an encoder restart, another fMP4 init at a
   * discontinuity), and whose samples do not carry parameter sets themselves (MPEG-TS ones do), gets the
   * new ones into its first keyframe: the MP4 keeps one sample entry, and the run decodes as it did.
   */
  private announced(s: StreamState, run: Run, t: TrackInfo): TrackInfo {
    if (t.kind !== 'video') return t;
    const params = parameterSetsToCarry(t, this.videoInForce.get(s.name));
    this.videoInForce.set(s.name, t);
    if (!params) return t;
    let pending = this.pendingParams.get(run);
    if (!pending) this.pendingParams.set(run, (pending = new Map()));
    pending.set(t.id, params);
    return { ...t, inBandParameterSets: true };
  }

  /**
   * Ends every stream and writes the MP4 (moov in front). Throws an InputError when nothing playable was
   * recorded; the caller aborts the sink then.
   */
  async finish(): Promise<RecordSinkResult> {
    for (const s of this.streams.values()) await this.endRun(s);
    if (this.reserved === undefined) {
      this.reserved = 0; // a stream never came: no room, the media is moved behind the moov
      this.out.reserve(0);
      const held = this.held;
      this.held = [];
      for (const b of held) await this.write(b);
    }
    await this.writer.flush();
    const timeline = this.timeline();
    for (const w of timeline.warnings) this.warnings.push(w);
    const tracks = timeline.tracks.map(withDetails);
    const room = this.reserved;
    const endSec = this.options.endSec;
    const samples =
      endSec !== undefined
        ? cutToPresentation(tracks as Mp4WriterTrack[], timeline.samples, endSec)
        : timeline.samples;
    const plan = planMp4(tracks as Mp4WriterTrack[], samples, {
      explicitOffsets: true,
      payloadSize: this.payloadPos,
      ...(room > 0 ? { room } : {}),
      ...(endSec !== undefined ? { endSec } : {}),
    });
    let bytesOut: number;
    let payloadStart: number;
    if (room > 0 && plan.head.length === room) {
      payloadStart = room;
      await this.out.writeAt(plan.head, 0);
      await this.writer.close();
      await this.out.commit();
      bytesOut = room + this.payloadPos;
    } else {
      await this.writer.close();
      await rewriteWithHead(this.out, plan.head, room, this.payloadPos, this.output);
      bytesOut = plan.head.length + this.payloadPos;
      payloadStart = plan.head.length;
    }
    return {
      output: this.output,
      bytesOut,
      durationSec: endSec !== undefined ? plan.durationSec : timeline.durationSec,
      tracks: trackSummaries(tracks, samples),
      warnings: this.warnings,
      payloadStart,
    };
  }

  private timeline(): Timeline {
    const recorded = [...this.streams.values()].filter((s) => s.runs.length > 0);
    // One stream: its runs joined are the timeline (starting at 0), with no second pass over the samples.
    if (recorded.length === 1) return joinRuns((recorded[0] as StreamState).runs);
    const parts: DemuxedInput[] = [];
    for (const [name, s] of this.streams) {
      if (s.runs.length === 0) continue;
      parts.push({ name, ...this.joinStream(s.runs) });
    }
    if (parts.length === 0) {
      throw new InputError('nothing playable was recorded', {
        code: 'E_NOTHING_RECORDED',
        hint: 'no segment with audio or video samples arrived; check the URL and the chosen rendition',
      });
    }
    return mergeInputs(parts);
  }

  /** One stream's runs joined, with the stream's own start time kept (for sync with the other stream). */
  private joinStream(runs: DemuxedInput[]): { tracks: TrackInfo[]; samples: SampleTable } {
    const first = runs[0] as DemuxedInput;
    let startSec = Infinity;
    for (const t of first.tracks) {
      const i = first.samples.firstOf(t.id);
      if (i >= 0) startSec = Math.min(startSec, (first.samples.dts[i] as number) / t.timescale);
    }
    const joined = joinRuns(runs);
    // What joining the runs repaired or noticed (a change of parameters, a repeat) is said as for one stream.
    for (const w of joined.warnings) this.warnings.push(w);
    if (Number.isFinite(startSec) && startSec !== 0) {
      const shifts: number[] = [];
      for (const t of joined.tracks) shifts[t.id] = Math.round(startSec * t.timescale);
      const j = joined.samples;
      for (let i = 0; i < j.length; i++)
        j.dts[i] = (j.dts[i] as number) + (shifts[j.trackId[i] as number] ?? 0);
    }
    return { tracks: joined.tracks, samples: joined.samples };
  }

  /** Stops with the output's temporary file kept as it is, for restore() from a checkpoint. */
  async suspend(): Promise<void> {
    await this.writer.flush();
    await this.writer.close();
    await this.out.suspend();
  }

  /** Removes the partial output (nothing was worth keeping, or the caller failed). */
  async abort(): Promise<void> {
    await this.writer.close().catch(() => undefined);
    await this.out.abort();
  }
}

/**
 * The writer of a recording's payloads: blocks go to the thread pool, and one filled while the pool still
 * writes the one before is written on this thread (PieceSink.writeNow).
 */
function payloadWriter(out: AtomicFile, onWrite: () => void): PieceWriter {
  return new PieceWriter(
    { write: (data) => out.writev([data]), writeNow: (data) => out.appendvSync([data]) },
    [],
    IO_BLOCK,
    onWrite,
  );
}

/**
 * joinInputs over a stream's runs, with a refusal in a recording's words: the runs are the parts between
 * discontinuities, not inputs a user gave.
 */
function joinRuns(runs: DemuxedInput[]): Timeline {
  try {
    return joinInputs(runs);
  } catch (err) {
    if (!isCastkitError(err) || err.code !== 'E_CONCAT_MISMATCH') throw err;
    const what = /\(([^)]*)\)/.exec(err.message)?.[1];
    throw new InputError(
      `the stream changed its encoding at a discontinuity${what ? ` (${what})` : ''}: one MP4 cannot hold both`,
      {
        code: 'E_CONCAT_MISMATCH',
        hint:
          'run the same command again with --format ts: an MPEG-TS carries the change, and it is written' +
          ' from the resume journal kept beside the output (what it holds is not fetched again)',
      },
    );
  }
}
