import type { Sample, TrackInfo } from '../formats/media.js';
import { TsMuxer } from '../formats/mpegts/mpegts-muxer.js';
import { trackSummary } from './remux-shared.js';
import type { RemuxTrackSummary } from './remux-types.js';

/** A sample waiting for its turn: time on the output's clock (seconds, before `base`), and its payload. */
export interface Queued {
  sec: number;
  sample: Sample;
  payload: Uint8Array;
}

/** An output track of a TS being written as its samples come: what waits, and what was written. */
export interface TsTrack {
  info: TrackInfo;
  queue: Queued[];
  /** Index of the next sample to write in `queue` (the queue is compacted now and then). */
  head: number;
  samples: number;
  /** Latest end (time + duration) written, seconds from `base`. */
  endSec: number;
  /** Time of the last sample queued, seconds, and the step before it (a duration for the last sample). */
  lastSec: number;
  lastStep: number;
}

/**
 * Where a one-pass remux puts samples: tracks added until it starts, samples queued per track (each in its
 * decode order, times in seconds on the output clock), written as far as they can be by drain().
 */
export interface OnePassSink {
  readonly tracks: TsTrack[];
  readonly started: boolean;
  readonly durationSec: number;
  addTrack(info: TrackInfo): TsTrack;
  setConfig(t: TsTrack, config: Uint8Array): void;
  queue(t: TsTrack, sec: number, sample: Sample, payload: Uint8Array): void;
  queuedSpan(): number;
  start(): boolean;
  drain(all: boolean): Promise<void>;
  summaries(): RemuxTrackSummary[];
}

/**
 * What the one-pass sinks share: output tracks (ids from 1, fixed once the output starts), samples queued
 * per track, and the output clock's zero (the earliest sample queued when the output started).
 */
export abstract class QueuedTracks {
  readonly tracks: TsTrack[] = [];
  /** The output clock's time that becomes 0. */
  protected base = 0;

  abstract get started(): boolean;

  /**
   * A new output track (ids are given in order from 1), before or after the output started: a TS's PMT
   * changes version, an FLV's head and an fMP4's init segment are written last.
   */
  addTrack(info: TrackInfo): TsTrack {
    const t: TsTrack = {
      info: { ...info, id: this.tracks.length + 1 },
      queue: [],
      head: 0,
      samples: 0,
      endSec: 0,
      lastSec: -Infinity,
      lastStep: 0,
    };
    this.tracks.push(t);
    return t;
  }

  queue(t: TsTrack, sec: number, sample: Sample, payload: Uint8Array): void {
    if (Number.isFinite(t.lastSec)) t.lastStep = sec - t.lastSec;
    t.lastSec = sec;
    t.queue.push({ sec, sample, payload });
  }

  /** The span of samples waiting in any one track, seconds. */
  queuedSpan(): number {
    let span = 0;
    for (const t of this.tracks) {
      const first = t.queue[t.head];
      const last = t.queue[t.queue.length - 1];
      if (first && last) span = Math.max(span, last.sec - first.sec);
    }
    return span;
  }

  /** Sets the clock's zero at the earliest sample queued. */
  protected setBase(): void {
    let base = Infinity;
    for (const t of this.tracks) {
      const q = t.queue[t.head];
      if (q) base = Math.min(base, q.sec);
    }
    this.base = Number.isFinite(base) ? base : 0;
  }

  /**
   * The next sample of a track, taken off its queue and counted as written (its end extends the track's),
   * with its decode time in the track's ticks from the clock's zero.
   */
  protected take(t: TsTrack): { q: Queued; dts: number } {
    const q = t.queue[t.head] as Queued;
    t.queue[t.head] = undefined as unknown as Queued;
    t.head++;
    // What was written leaves the front of the queue now and then.
    if (t.head > 1024 && t.head * 2 > t.queue.length) {
      t.queue.splice(0, t.head);
      t.head = 0;
    }
    const ts = t.info.timescale;
    t.samples++;
    const duration = q.sample.duration > 0 ? q.sample.duration / ts : t.lastStep;
    t.endSec = Math.max(t.endSec, q.sec - this.base + duration);
    return { q, dts: Math.round((q.sec - this.base) * ts) };
  }

  /**
   * The track whose queued sample comes next in time order across the tracks, or undefined to wait: a
   * sample goes once every track has something queued at or after it, or when it is `maxLeadSec` behind
   * the newest sample queued (a track with a hole must not hold the others in memory), or with `all`.
   */
  protected nextInTimeOrder(all: boolean, maxLeadSec: number): TsTrack | undefined {
    let next: TsTrack | undefined;
    let waiting = false;
    let latest = -Infinity;
    for (const t of this.tracks) {
      const q = t.queue[t.head];
      if (!q) {
        waiting = true;
        continue;
      }
      latest = Math.max(latest, (t.queue[t.queue.length - 1] as Queued).sec);
      if (!next || q.sec < (next.queue[next.head] as Queued).sec) next = t;
    }
    if (!next) return undefined;
    // Another track may still bring something earlier, unless this one is far ahead of it.
    if (waiting && !all && latest - (next.queue[next.head] as Queued).sec < maxLeadSec) return undefined;
    return next;
  }

  /** Seconds from the first sample to the latest end written. */
  get durationSec(): number {
    return Math.max(0, ...this.tracks.map((t) => t.endSec));
  }

  summaries(): RemuxTrackSummary[] {
    return this.tracks.map((t) => trackSummary(t.info, t.samples));
  }
}

/**
 * Puts the samples of several tracks, each given in its own decode order, into one time order across the
 * tracks and muxes them into MPEG-TS: a sample is written once every track has something queued at or
 * after it, or when it is `maxLeadSec` behind the newest sample queued (a track with a hole must not hold
 * the others in memory). Shared by the recorder's TS sink and remux's one-pass TS writer.
 */
export class TsInterleaver extends QueuedTracks implements OnePassSink {
  private muxer: TsMuxer | undefined;
  /** The earliest presentation time and the latest presentation end written, seconds from the zero. */
  private ptsStart = Infinity;
  private ptsEnd = -Infinity;

  constructor(
    private readonly write: (packets: Uint8Array) => Promise<void>,
    private readonly maxLeadSec = 10,
  ) {
    super();
  }

  get started(): boolean {
    return this.muxer !== undefined;
  }

  /** A new output track; after the output started, it is added to the PMT from here on. */
  override addTrack(info: TrackInfo): TsTrack {
    const t = super.addTrack(info);
    this.muxer?.addTrack(t.info);
    return t;
  }

  /** A track's new decoder configuration (same codec): later keyframes carry it. */
  setConfig(t: TsTrack, config: Uint8Array): void {
    t.info = { ...t.info, config };
    this.muxer?.setConfig(t.info.id, config);
  }

  /** Write the PAT/PMT for the tracks added so far; false when there are none. */
  start(): boolean {
    if (this.muxer) return true;
    if (this.tracks.length === 0) return false;
    this.setBase();
    this.muxer = new TsMuxer(this.tracks.map((t) => t.info));
    return true;
  }

  /** Write queued samples in time order, as far as every track has samples (or all of them). */
  async drain(all: boolean): Promise<void> {
    const muxer = this.muxer;
    if (!muxer) return;
    for (;;) {
      const next = this.nextInTimeOrder(all, this.maxLeadSec);
      if (!next) break;
      const { q, dts } = this.take(next);
      const ts = next.info.timescale;
      const pts = (dts + q.sample.cts) / ts;
      if (pts < this.ptsStart) this.ptsStart = pts;
      const end = pts + (q.sample.duration > 0 ? q.sample.duration / ts : next.lastStep);
      if (end > this.ptsEnd) this.ptsEnd = end;
      await this.write(muxer.sample(next.info.id, dts, q.sample.cts, q.sample.keyframe, q.payload));
    }
  }

  /**
   * Seconds from the earliest presentation time to the latest presentation end: what a player or ffprobe
   * takes for an MPEG-TS's duration (no header says it).
   */
  override get durationSec(): number {
    return this.ptsEnd > this.ptsStart ? this.ptsEnd - this.ptsStart : 0;
  }
}
