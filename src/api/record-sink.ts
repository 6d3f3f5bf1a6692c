import { InputError } from '../core/errors.js';
import { SlabArena } from '../core/slab-arena.js';
import { createDemuxer } from '../formats/demux.js';
import { planMp4, type Mp4WriterTrack } from '../formats/isobmff/isobmff-mp4-writer.js';
import type { Demuxer, DemuxOutput, FormatWarning, Sample, TrackInfo } from '../formats/media.js';
import { sniffContainer, type ContainerFormat } from '../formats/sniff.js';
import { SampleTable } from '../formats/sample-table.js';
import { joinInputs, mergeInputs, type DemuxedInput, type Timeline } from '../formats/timeline.js';
import { AtomicFile } from '../storage/local.js';
import { PieceWriter } from '../storage/piece-writer.js';
import { rewriteWithHead } from './remux-output.js';
import { trackSummaries, withDetails } from './remux-shared.js';
import type { RemuxTrackSummary } from './remux-types.js';

/** Bytes of moov per sample at the most (see remux-onepass.ts). */
const MOOV_BYTES_PER_SAMPLE = 44;

export type StreamName = 'main' | 'video' | 'audio';

export interface SegmentMeta {
  /** For messages: the segment's key or URL. */
  name: string;
  /** Manifest duration, seconds. */
  duration: number;
  /** Timestamps may restart here (HLS EXT-X-DISCONTINUITY, DASH period): a new demuxer run. */
  discontinuity?: boolean;
}

export interface RecordSinkOptions {
  /** Seconds the recording is expected to last (VOD length, --duration): sizes the room for the moov. */
  expectedSec?: number;
  /** The streams that will come (default ['main']): the room is sized once each has sent a segment. */
  streams?: StreamName[];
}

export interface RecordSinkResult {
  output: string;
  bytesOut: number;
  durationSec: number;
  tracks: RemuxTrackSummary[];
  warnings: FormatWarning[];
}

/** One demuxer run over consecutive segments of a stream (until a discontinuity, init change or gap). */
interface Run {
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

interface StreamState {
  init?: Uint8Array;
  run?: Run;
  runs: DemuxedInput[];
  /** Seconds of segments given up on since the last run ended. */
  pendingGapSec: number;
  recordedSec: number;
  segments: number;
}

/**
 * Writes a recording into one MP4 as its segments arrive, in order: each stream's segments go through one
 * push demuxer per run (so PES packets and GOPs that cross segment boundaries stay whole), payloads are
 * appended after room reserved for the moov, and `finish()` joins each stream's runs into one timeline
 * (keeping known gaps as gaps), puts separate video and audio streams side by side in sync, and writes the
 * moov into the room (or, when it does not fit, moves the media behind a head of the right size).
 */
export class Mp4RecordSink {
  private readonly streams = new Map<StreamName, StreamState>();
  private readonly warnings: FormatWarning[] = [];
  private reserved: number | undefined;
  private payloadPos = 0;
  /** Payloads that arrived before the room for the moov was reserved, in output order. */
  private held: Uint8Array[] = [];

  private constructor(
    readonly output: string,
    private readonly out: AtomicFile,
    private readonly writer: PieceWriter,
    private readonly options: RecordSinkOptions,
  ) {}

  static async create(output: string, options: RecordSinkOptions = {}): Promise<Mp4RecordSink> {
    const out = await AtomicFile.create(output);
    return new Mp4RecordSink(output, out, new PieceWriter(out, [], 4 << 20), options);
  }

  private state(stream: StreamName): StreamState {
    let s = this.streams.get(stream);
    if (!s) {
      s = { runs: [], pendingGapSec: 0, recordedSec: 0, segments: 0 };
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

  get bytesWritten(): number {
    return this.payloadPos;
  }

  /** The initialization segment for the stream's next media segments (fMP4 EXT-X-MAP, DASH init). */
  async setInit(stream: StreamName, bytes: Uint8Array): Promise<void> {
    const s = this.state(stream);
    if (s.init && sameBytes(s.init, bytes)) return;
    await this.endRun(s);
    s.init = bytes.slice(); // the caller may reuse its memory (releasesSegments)
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
        demuxer: createDemuxer(format, { allocate: (n) => this.arena.allocate(n) }),
        tracks: new Map(),
        samples: new SampleTable(1024),
        pushed: 0,
        recent: [],
        keepsInput: format !== 'mpegts',
        gapBeforeSec: s.pendingGapSec,
      };
      s.pendingGapSec = 0;
      s.run = run;
      if (format === 'mp4' && s.init && !isInitSegment(bytes)) await this.push(run, s.init);
    }
    await this.push(run, bytes);
    s.recordedSec += meta.duration;
    s.segments++;
    await this.maybeReserve();
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
    if (this.reserved === undefined) this.held.push(bytes.slice());
    else if (!this.writer.tryAdd({ bytes })) await this.writer.add({ bytes });
  }

  /** Memory for the payloads the demuxer makes (MPEG-TS access units) until they are written. */
  private readonly arena = new SlabArena();

  private async push(run: Run, bytes: Uint8Array): Promise<void> {
    const at = run.pushed;
    if (run.keepsInput) {
      run.recent.push([at, bytes]);
      if (run.recent.length > 3) run.recent.shift();
    }
    run.pushed += bytes.length;
    await this.take(run, run.demuxer.push(bytes));
  }

  private async take(run: Run, o: DemuxOutput): Promise<void> {
    for (const t of o.tracks) if (!run.tracks.has(t.id)) run.tracks.set(t.id, t);
    for (const w of o.warnings) this.warnings.push(w);
    for (const sample of o.samples) {
      const payload = sample.data ?? this.payloadOf(run, sample);
      run.samples.addSample(sample, this.payloadPos);
      this.payloadPos += sample.size;
      // Most payloads fit in the output buffer: no promise for them.
      if (this.reserved === undefined || !this.writer.tryAddBytes(payload)) await this.write(payload);
      this.arena.release(payload);
    }
  }

  private payloadOf(run: Run, s: Sample): Uint8Array {
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

  private async endRun(s: StreamState): Promise<void> {
    const run = s.run;
    if (!run) return;
    s.run = undefined;
    // end() may complete samples (the last PES of an MPEG-TS).
    await this.take(run, run.demuxer.end());
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

  /** No stream's demuxer run refers back to segment bytes (MPEG-TS payloads are copied as they come). */
  releasesSegments(): boolean {
    for (const s of this.streams.values()) if (s.run?.keepsInput) return false;
    return true;
  }

  /** Segments committed so far, all streams. */
  get segments(): number {
    let n = 0;
    for (const s of this.streams.values()) n += s.segments;
    return n;
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
    const plan = planMp4(tracks as Mp4WriterTrack[], timeline.samples, {
      explicitOffsets: true,
      payloadSize: this.payloadPos,
      ...(room > 0 ? { room } : {}),
    });
    let bytesOut: number;
    if (room > 0 && plan.head.length === room) {
      await this.out.writeAt(plan.head, 0);
      await this.writer.close();
      await this.out.commit();
      bytesOut = room + this.payloadPos;
    } else {
      await this.writer.close();
      await rewriteWithHead(this.out, plan.head, room, this.payloadPos, this.output);
      bytesOut = plan.head.length + this.payloadPos;
    }
    return {
      output: this.output,
      bytesOut,
      durationSec: timeline.durationSec,
      tracks: trackSummaries(tracks, timeline.samples),
      warnings: this.warnings,
    };
  }

  private timeline(): Timeline {
    const recorded = [...this.streams.values()].filter((s) => s.runs.length > 0);
    // One stream: its runs joined are the timeline (starting at 0), with no second pass over the samples.
    if (recorded.length === 1) return joinInputs((recorded[0] as StreamState).runs);
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
    const joined = joinInputs(runs);
    if (Number.isFinite(startSec) && startSec !== 0) {
      const shifts: number[] = [];
      for (const t of joined.tracks) shifts[t.id] = Math.round(startSec * t.timescale);
      const j = joined.samples;
      for (let i = 0; i < j.length; i++)
        j.dts[i] = (j.dts[i] as number) + (shifts[j.trackId[i] as number] ?? 0);
    }
    return { tracks: joined.tracks, samples: joined.samples };
  }

  /** Removes the partial output (nothing was worth keeping, or the caller failed). */
  async abort(): Promise<void> {
    await this.writer.close().catch(() => undefined);
    await this.out.abort();
  }
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
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
