import type { ProgressEvent } from '../core/progress.js';
import { parseClock } from '../core/time.js';

/** One progress report from ffmpeg's `-progress pipe:1` key=value blocks. */
export interface FfmpegProgress {
  frame?: number;
  fps?: number;
  /** Media time written so far, seconds. */
  outTimeSec?: number;
  /** Bytes written so far. */
  totalSize?: number;
  bitrateKbps?: number;
  /** Multiple of real time ("1.5x" -> 1.5). */
  speed?: number;
  /** 0..100, when the input duration is known. */
  percent?: number;
  /** Seconds left, when the duration and speed are known. */
  etaSec?: number;
  /** True on the last block (`progress=end`). */
  done: boolean;
}

function num(text: string | undefined): number | undefined {
  if (text === undefined || text === 'N/A') return undefined;
  const v = Number.parseFloat(text);
  return Number.isFinite(v) ? v : undefined;
}

/**
 * Incremental parser: feed it stdout chunks, get a progress event per completed block. Pure: no timers,
 * no I/O, so it is tested with text in, events out.
 */
export class ProgressParser {
  private pending = '';
  private block = new Map<string, string>();

  constructor(private readonly durationSec?: number) {}

  push(chunk: string): FfmpegProgress[] {
    this.pending += chunk;
    const lines = this.pending.split('\n');
    this.pending = lines.pop() ?? '';
    const events: FfmpegProgress[] = [];
    for (const raw of lines) {
      const line = raw.trim();
      const eq = line.indexOf('=');
      if (eq <= 0) continue;
      const key = line.slice(0, eq);
      const value = line.slice(eq + 1).trim();
      if (key === 'progress') {
        events.push(this.finish(value === 'end'));
        this.block = new Map();
      } else {
        this.block.set(key, value);
      }
    }
    // A block line can grow without bound only on garbage input; cap it.
    if (this.pending.length > 65536) this.pending = '';
    return events;
  }

  private finish(done: boolean): FfmpegProgress {
    const b = this.block;
    const ev: FfmpegProgress = { done };
    const frame = num(b.get('frame'));
    if (frame !== undefined) ev.frame = frame;
    const fps = num(b.get('fps'));
    if (fps !== undefined) ev.fps = fps;
    // out_time_us is microseconds; old builds call the same value out_time_ms.
    const us = num(b.get('out_time_us')) ?? num(b.get('out_time_ms'));
    const outTime = us !== undefined ? us / 1e6 : parseClock(b.get('out_time'));
    if (outTime !== undefined && outTime >= 0) ev.outTimeSec = outTime;
    const size = num(b.get('total_size'));
    if (size !== undefined) ev.totalSize = size;
    const bitrate = num(b.get('bitrate')?.replace(/kbits\/s$/, ''));
    if (bitrate !== undefined) ev.bitrateKbps = bitrate;
    const speed = num(b.get('speed')?.replace(/x$/, ''));
    if (speed !== undefined) ev.speed = speed;
    const d = this.durationSec;
    if (d !== undefined && d > 0 && ev.outTimeSec !== undefined) {
      ev.percent = done ? 100 : Math.min(100, Math.max(0, (ev.outTimeSec / d) * 100));
      if (ev.speed !== undefined && ev.speed > 0) {
        ev.etaSec = done ? 0 : Math.max(0, (d - ev.outTimeSec) / ev.speed);
      }
    }
    return ev;
  }
}

/** ffmpeg's progress in the toolkit's generic shape (media seconds done of the input duration). */
export function toProgressEvent(phase: string, p: FfmpegProgress, durationSec?: number): ProgressEvent {
  const ev: ProgressEvent = { phase, done: p.outTimeSec ?? 0, unit: 'seconds' };
  if (durationSec !== undefined && durationSec > 0) ev.total = durationSec;
  if (p.speed !== undefined) ev.rate = p.speed;
  if (p.etaSec !== undefined) ev.etaSec = p.etaSec;
  return ev;
}
