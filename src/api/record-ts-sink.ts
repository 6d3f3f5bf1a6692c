import type { Writable } from 'node:stream';
import { InputError } from '../core/errors.js';
import type { DemuxOutput, Sample, TrackInfo } from '../formats/media.js';
import type { Mp4TrackInfo } from '../formats/isobmff/isobmff-moov.js';
import { TsMuxer } from '../formats/mpegts/mpegts-muxer.js';
import { AtomicFile } from '../storage/local.js';
import { DemuxingSink, sameBytes, type Run, type StreamName, type StreamState } from './record-demux-sink.js';
import { PipeOutput } from './pipe-output.js';
import type { RecordSink } from './record-raw-sink.js';
import type { RecordSinkResult } from './record-sink.js';
import { trackSummary, withDetails } from './remux-shared.js';

/**
 * Seconds one track may run ahead of another that has nothing queued before samples are written anyway:
 * a stream with a hole (a gap, an audio rendition that stalls) must not hold the others in memory.
 */
const MAX_LEAD_SEC = 10;
/** Output gathered into writes of this size. */
const WRITE_BYTES = 1 << 20;

/** A sample waiting for its turn: time on the recording's clock, seconds, and its payload. */
interface Queued {
  sec: number;
  sample: Sample;
  payload: Uint8Array;
}

interface OutTrack {
  info: TrackInfo;
  queue: Queued[];
  /** Index of the next sample to write in `queue` (the queue is compacted now and then). */
  head: number;
  samples: number;
  endSec: number;
}

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
  private readonly out: OutTrack[] = [];
  /** `${stream}/${kind}/${n}` (the n-th track of that kind in the stream) -> output track. */
  private readonly byKey = new Map<string, OutTrack>();
  /** Output track of a run's track id, per run. */
  private readonly byRun = new WeakMap<Run, Map<number, OutTrack>>();
  private readonly clocks = new Map<StreamName, StreamClock>();
  private muxer: TsMuxer | undefined;
  /** The recording's clock time that becomes 0 (the earliest first sample of the streams). */
  private base = 0;
  private buffer = new Uint8Array(WRITE_BYTES);
  private buffered = 0;
  private written = 0;

  private constructor(
    private readonly name: string,
    private readonly file: AtomicFile | undefined,
    private readonly pipe: PipeOutput | undefined,
    private readonly expected: readonly StreamName[],
  ) {
    super();
  }

  static async toFile(path: string, streams: readonly StreamName[]): Promise<TsRecordSink> {
    return new TsRecordSink(path, await AtomicFile.create(path), undefined, streams);
  }

  static toStream(stream: Writable, streams: readonly StreamName[]): TsRecordSink {
    return new TsRecordSink('stdout', undefined, new PipeOutput(stream, 'stdout'), streams);
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
      // An MP4 edit list (fMP4 init segments: B-frame delay, AAC priming) says where presentation starts.
      const sec = (sample.dts + (shifts.get(sample.trackId) ?? 0)) / t.info.timescale;
      if (clock.runOffset === undefined) {
        clock.runOffset = clock.started ? clock.endSec + run.gapBeforeSec - sec : 0;
        clock.started = true;
      }
      const at = sec + clock.runOffset;
      const payload = sample.data ?? this.payloadOf(run, sample);
      t.queue.push({ sec: at, sample, payload });
      clock.endSec = Math.max(clock.endSec, at + sample.duration / t.info.timescale);
    }
    await this.drain(false);
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
  private mapTrack(stream: StreamName, run: Run, map: Map<number, OutTrack>, t: TrackInfo): void {
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
      if (!sameBytes(known.info.config, t.config)) {
        known.info = { ...known.info, config: t.config };
        this.muxer?.setConfig(known.info.id, t.config);
      }
      map.set(t.id, known);
      return;
    }
    if (this.muxer) {
      this.warnings.push({
        code: 'W_TS_LATE_TRACK',
        message: `a ${t.kind} track of ${stream} appeared after the recording started; TS cannot add it, dropped`,
      });
      return;
    }
    const out: OutTrack = {
      info: withDetails({ ...t, id: this.out.length + 1 }),
      queue: [],
      head: 0,
      samples: 0,
      endSec: 0,
    };
    this.out.push(out);
    this.byKey.set(key, out);
    map.set(t.id, out);
  }

  /**
   * Every expected stream has brought its tracks: the PMT can be written. A stream that keeps the others
   * waiting for long (all its segments missing so far) is given up on: it has no track in the output.
   */
  private ready(): boolean {
    if (this.muxer) return true;
    const missing = this.expected.filter((name) => !this.clocks.get(name)?.started);
    if (missing.length > 0) {
      let span = 0;
      for (const t of this.out) {
        const first = t.queue[t.head];
        const last = t.queue[t.queue.length - 1];
        if (first && last) span = Math.max(span, last.sec - first.sec);
      }
      if (span < 3 * MAX_LEAD_SEC) return false;
      this.warnings.push({
        code: 'W_TS_STREAM_MISSING',
        message: `no ${missing.join(' or ')} arrived in the first ${Math.round(span)} s: the output has none`,
      });
    }
    return this.startMuxer();
  }

  private startMuxer(): boolean {
    if (this.out.length === 0) return false;
    let base = Infinity;
    for (const t of this.out)
      if (t.queue.length > t.head) base = Math.min(base, (t.queue[t.head] as Queued).sec);
    this.base = Number.isFinite(base) ? base : 0;
    this.muxer = new TsMuxer(this.out.map((t) => t.info));
    return true;
  }

  /** Write queued samples in time order, as far as every track has samples (or `all` of them). */
  private async drain(all: boolean): Promise<void> {
    if (!(all ? this.muxer || this.startMuxer() : this.ready())) return;
    const muxer = this.muxer as TsMuxer;
    for (;;) {
      let next: OutTrack | undefined;
      let waiting = false;
      let latest = -Infinity;
      for (const t of this.out) {
        const q = t.queue[t.head];
        if (!q) {
          waiting = true;
          continue;
        }
        latest = Math.max(latest, (t.queue[t.queue.length - 1] as Queued).sec);
        if (!next || q.sec < (next.queue[next.head] as Queued).sec) next = t;
      }
      if (!next) break;
      const q = next.queue[next.head] as Queued;
      // Another track may still bring something earlier, unless this one is far ahead of it.
      if (waiting && !all && latest - q.sec < MAX_LEAD_SEC) break;
      next.queue[next.head] = undefined as unknown as Queued;
      next.head++;
      if (next.head > 1024 && next.head * 2 > next.queue.length) {
        next.queue.splice(0, next.head);
        next.head = 0;
      }
      const ts = next.info.timescale;
      const dts = Math.round((q.sec - this.base) * ts);
      await this.write(muxer.sample(next.info.id, dts, q.sample.cts, q.sample.keyframe, q.payload));
      next.samples++;
      next.endSec = Math.max(next.endSec, q.sec - this.base + q.sample.duration / ts);
    }
  }

  /** Packets are views of the muxer's memory: copied into the write buffer. */
  private async write(bytes: Uint8Array): Promise<void> {
    if (this.buffered + bytes.length > this.buffer.length) await this.flush();
    if (bytes.length > this.buffer.length) {
      await this.emit(bytes.slice());
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
      // A pipe keeps what it is given until it is sent: a new buffer for what comes next.
      this.buffer = new Uint8Array(WRITE_BYTES);
    }
    await this.emit(chunk);
  }

  private async emit(chunk: Uint8Array): Promise<void> {
    this.written += chunk.length;
    if (this.file) await this.file.write(chunk);
    else await (this.pipe as PipeOutput).write(chunk);
  }

  async finish(): Promise<RecordSinkResult> {
    for (const s of this.streams.values()) await this.endRun(s);
    await this.drain(true);
    if (!this.muxer || this.out.every((t) => t.samples === 0)) {
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
      durationSec: Math.max(...this.out.map((t) => t.endSec)),
      tracks: this.out.map((t) => trackSummary(t.info, t.samples)),
      warnings: this.warnings,
    };
  }

  async abort(): Promise<void> {
    this.pipe?.close();
    await this.file?.abort();
  }
}
