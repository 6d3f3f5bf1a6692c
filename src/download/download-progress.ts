/**
 * Rate and ETA for a segment download. The rate counts only segments fetched in this run over the last
 * few seconds, so that segments replayed from the resume journal (instant) do not promise a fast finish.
 */
import type { ProgressEvent } from '../core/progress.js';

export interface DownloadProgress extends ProgressEvent {
  phase: 'download';
  unit: 'segments';
  /** Segments handed to onSegment (or reported missing), in order. */
  done: number;
  total: number;
  /** Segments fetched over the network in this run. */
  fetched: number;
  /** Segments replayed from the resume journal. */
  fromJournal: number;
  /** Segments given up on. */
  missing: number;
  /** Retries so far (all segments). */
  retries: number;
  /** Bytes fetched over the network in this run. */
  bytes: number;
  /** Network bytes per second, over the recent window. */
  bytesPerSec?: number;
}

export class RateMeter {
  private readonly samples: { t: number; segments: number; bytes: number }[] = [];

  constructor(
    private readonly windowMs = 5000,
    private readonly now: () => number = Date.now,
  ) {
    this.samples.push({ t: this.now(), segments: 0, bytes: 0 });
  }

  /** Record running totals (segments and bytes fetched so far). */
  sample(segments: number, bytes: number): void {
    const t = this.now();
    this.samples.push({ t, segments, bytes });
    // Keep one sample older than the window so that the rate spans the whole window.
    while (this.samples.length > 2 && (this.samples[1]?.t ?? t) <= t - this.windowMs) this.samples.shift();
  }

  /** Segments and bytes per second, undefined until some time has passed. */
  rates(): { segments: number; bytes: number } | undefined {
    const first = this.samples[0];
    const last = this.samples[this.samples.length - 1];
    if (!first || !last) return undefined;
    const dt = (last.t - first.t) / 1000;
    if (dt < 0.2) return undefined;
    return { segments: (last.segments - first.segments) / dt, bytes: (last.bytes - first.bytes) / dt };
  }
}
