import type { Writable } from 'node:stream';
import { InputError } from '../core/errors.js';
import type { DemuxOutput, Sample, TrackInfo } from '../formats/media.js';
import type { Mp4TrackInfo } from '../formats/isobmff/isobmff-moov.js';
import type { StreamLanguages } from '../sources/record-source.js';
import { AtomicFile } from '../storage/local.js';
import { copyOf, sameBytes } from '../core/bytes.js';
import { DemuxingSink, type Run, type StreamName, type StreamState } from './record-demux-sink.js';
import { PipeOutput } from './pipe-output.js';
import type { RecordSink } from './record-raw-sink.js';
import type { RecordSinkResult } from './record-sink.js';
import { withDetails } from './remux-shared.js';
import { TsInterleaver, type TsTrack } from './ts-interleaver.js';

/**
 * Seconds one track may run ahead of another that has nothing queued before samples are written anyway:
 * a stream with a hole (a gap, an audio rendition that stalls) must not hold the others in memory.
 */
const MAX_LEAD_SEC = 10;
/** Output gathered into writes of this size. */
const WRITE_BYTES = 1 << 20;

/** Per stream: how the current run's times map onto the recording's clock. */
interface StreamClock {
  /** Added to the current run's times (seconds); undefined until its first sample. */
  runOffset?: number;
  /** The run this offset is for. */
  run?: Run;
  /** Latest end (time + duration) of the stream's samples on the recording's clock. */
  endSec: number;
  started: boolean;
}

/**
 * Writes a recording as one MPEG-TS while it is being recorded, from any segments: TS, fragmented MP4 (one
 * muxed stream, or separate video and audio renditions, as DASH has them) or FLV. Each stream's segments
 * are demuxed, the samples of all tracks interleaved in time order, and muxed again (TsMuxer). Times stay
 * the source's across segments; after a discontinuity or a gap a stream continues where it was (plus the
 * gap), so the output plays straight through and a gap shows as a jump of its length. Written as it
 * comes, so it can go to a pipe.
 */
export class TsRecordSink extends DemuxingSink implements RecordSink {
  private readonly ts = new TsInterleaver((packets) => this.write(packets), MAX_LEAD_SEC);
  /** `${stream}/${kind}/${n}` (the n-th track of that kind in the stream) -> output track. */
  private readonly byKey = new Map<string, TsTrack>();
  /** Output track of a run's track id, per run. */
  private readonly byRun = new WeakMap<Run, Map<number, TsTrack>>();
  private readonly clocks = new Map<StreamName, StreamClock>();
  private buffer = new Uint8Array(WRITE_BYTES);
  private buffered = 0;
  /** To stdout: memory written before that the pipe no longer holds (see flush). */
  private spare: Uint8Array<ArrayBuffer> | undefined;
  private written = 0;
  /** The recording's first time (seconds, its clock), from the first sample of any stream. */
  private firstAt: number | undefined;

  private constructor(
    private readonly name: string,
    private readonly file: AtomicFile | undefined,
    private readonly pipe: PipeOutput | undefined,
    private readonly expected: readonly StreamName[],
    languages: StreamLanguages,
    /** --duration: samples from this many seconds after the first on are left out. */
    private readonly endSec: number | undefined,
  ) {
    super();
    this.separateAudio = expected.includes('audio');
    this.languages = languages;
  }

  /**
   * `languages`: ISO 639-2/T codes for each stream's tracks, by kind (written in the PMT). `endSec`
   * (--duration): the output ends there, each track at its first sample decoded at or after it.
   */
  static async toFile(
    path: string,
    streams: readonly StreamName[],
    languages: StreamLanguages = {},
    endSec?: number,
  ): Promise<TsRecordSink> {
    const file = await AtomicFile.create(path);
    return new TsRecordSink(path, file, undefined, streams, languages, endSec);
  }

  static toStream(
    stream: Writable,
    streams: readonly StreamName[],
    languages: StreamLanguages = {},
    endSec?: number,
  ): TsRecordSink {
    const pipe = new PipeOutput(stream, 'stdout');
    return new TsRecordSink('stdout', undefined, pipe, streams, languages, endSec);
  }

  protected async take(s: StreamState, run: Run, o: DemuxOutput): Promise<void> {
    for (const w of o.warnings) this.warnings.push(w);
    let map = this.byRun.get(run);
    if (!map) {
      map = new Map();
      this.byRun.set(run, map);
    }
    for (const t of o.tracks) {
      run.tracks.set(t.id, t);
      this.mapTrack(s.name, run, map, t);
    }
    if (o.samples.length === 0) return;
    const clock = this.clockOf(s.name);
    if (clock.run !== run) {
      // A new run: the stream's first keeps the source's times; a later one continues where the stream
      // was, after the gap that ended the last run.
      clock.run = run;
      clock.runOffset = undefined;
    }
    const shifts = this.shiftsOf(run);
    for (const sample of o.samples) {
      const t = map.get(sample.trackId);
      if (!t) continue; // a track that came too late for the PMT (warned)
      // The sample's times are in its own track's timescale, which a later run may have changed (another
      // init section after a discontinuity, TS segments after fMP4 ones): the output track keeps the first.
      const own = run.tracks.get(sample.trackId)?.timescale ?? t.info.timescale;
      // An MP4 edit list (fMP4 init segments: B-frame delay, AAC priming) says where presentation starts.
      const sec = (sample.dts + (shifts.get(sample.trackId) ?? 0)) / own;
      const streamFirst = !clock.started; // the stream's first sample on the recording's clock
      if (clock.runOffset === undefined) {
        clock.runOffset = clock.started ? clock.endSec + run.gapBeforeSec - sec : 0;
        clock.started = true;
      }
      const at = sec + clock.runOffset;
      if (this.firstAt === undefined || (streamFirst && at < this.firstAt)) this.firstAt = at;
      // Past the end (--duration): left out, in decode order, so what is kept has what it refers to.
      if (this.endSec !== undefined && at >= this.firstAt + this.endSec - 1e-9) continue;
      const payload = sample.data ?? this.payloadOf(run, sample);
      this.ts.queue(t, at, rescaled(sample, own, t.info.timescale), payload);
      clock.endSec = Math.max(clock.endSec, at + sample.duration / own);
    }
    if (this.ready()) await this.ts.drain(false);
  }

  /** Per track id of a run: ticks its edit list moves its times by (delay minus media time). */
  private shiftsOf(run: Run): Map<number, number> {
    const shifts = new Map<number, number>();
    for (const t of run.tracks.values()) {
      const e = (t as Mp4TrackInfo).edit;
      if (e) shifts.set(t.id, e.delay - e.mediaTime);
    }
    return shifts;
  }

  private clockOf(stream: StreamName): StreamClock {
    let c = this.clocks.get(stream);
    if (!c) {
      c = { endSec: 0, started: false };
      this.clocks.set(stream, c);
    }
    return c;
  }

  /** The output track a demuxed track goes to: the same one for the same place in the same stream. */
  private mapTrack(stream: StreamName, run: Run, map: Map<number, TsTrack>, t: TrackInfo): void {
    let n = 0;
    for (const other of run.tracks.values()) {
      if (other.id === t.id) break;
      if (other.kind === t.kind) n++;
    }
    const key = `${stream}/${t.kind}/${n}`;
    const known = this.byKey.get(key);
    if (known) {
      if (known.info.codec !== t.codec) {
        throw new InputError(`the ${t.kind} of ${stream} changed from ${known.info.codec} to ${t.codec}`, {
          code: 'E_TS_CODEC_CHANGE',
          hint: 'a TS program cannot change codecs midway: record to MP4 instead (--format mp4)',
        });
      }
      if (!sameBytes(known.info.config, t.config)) this.ts.setConfig(known, t.config);
      map.set(t.id, known);
      return;
    }
    if (this.ts.started) {
      this.warnings.push({
        code: 'W_TS_LATE_TRACK',
        message: `a ${t.kind} track of ${stream} appeared after the recording started; TS cannot add it, dropped`,
      });
      return;
    }
    const out = this.ts.addTrack(withDetails(t));
    this.byKey.set(key, out);
    map.set(t.id, out);
  }

  /**
   * Every expected stream has brought its tracks: the PMT can be written. A stream that keeps the others
   * waiting for long (all its segments missing so far) is given up on: it has no track in the output.
   */
  private ready(): boolean {
    if (this.ts.started) return true;
    const missing = this.expected.filter((name) => !this.clocks.get(name)?.started);
    if (missing.length > 0) {
      const span = this.ts.queuedSpan();
      if (span < 3 * MAX_LEAD_SEC) return false;
      this.warnings.push({
        code: 'W_TS_STREAM_MISSING',
        message: `no ${missing.join(' or ')} arrived in the first ${Math.round(span)} s: the output has none`,
      });
    }
    return this.ts.start();
  }

  /** Packets are views of the muxer's memory: copied into the write buffer. */
  private async write(bytes: Uint8Array): Promise<void> {
    if (this.buffered + bytes.length > this.buffer.length) await this.flush();
    if (bytes.length > this.buffer.length) {
      await this.emit(copyOf(bytes));
      return;
    }
    this.buffer.set(bytes, this.buffered);
    this.buffered += bytes.length;
  }

  private async flush(): Promise<void> {
    if (this.buffered === 0) return;
    const chunk = this.buffer.subarray(0, this.buffered);
    this.buffered = 0;
    if (this.pipe) {
      // A pipe may keep what it is given until it is sent: other memory for what comes next, the memory
      // written before when the pipe has let go of it (new memory costs its page faults).
      this.buffer = this.spare ?? new Uint8Array(WRITE_BYTES);
      this.spare = undefined;
    }
    await this.emit(chunk);
    if (this.pipe?.holdsNothing) this.spare = new Uint8Array(chunk.buffer, chunk.byteOffset, WRITE_BYTES);
  }

  private async emit(chunk: Uint8Array): Promise<void> {
    this.written += chunk.length;
    if (this.file) await this.file.write(chunk);
    else await (this.pipe as PipeOutput).write(chunk);
  }

  async finish(): Promise<RecordSinkResult> {
    for (const s of this.streams.values()) await this.endRun(s);
    if (this.ts.start()) await this.ts.drain(true);
    if (this.ts.tracks.every((t) => t.samples === 0)) {
      throw new InputError('nothing playable was recorded', {
        code: 'E_NOTHING_RECORDED',
        hint: 'no segment with audio or video samples arrived; check the URL and the chosen rendition',
      });
    }
    await this.flush();
    await this.file?.commit();
    this.pipe?.close();
    return {
      output: this.name,
      bytesOut: this.written,
      durationSec: this.ts.durationSec,
      tracks: this.ts.summaries(),
      warnings: this.warnings,
    };
  }

  async abort(): Promise<void> {
    this.pipe?.close();
    await this.file?.abort();
  }
}

/** A sample with its times in another timescale (the output track's), or itself when it is the same. */
function rescaled(sample: Sample, from: number, to: number): Sample {
  if (from === to || from <= 0) return sample;
  const k = to / from;
  return {
    ...sample,
    dts: Math.round(sample.dts * k),
    cts: Math.round(sample.cts * k),
    duration: Math.round(sample.duration * k),
  };
}
