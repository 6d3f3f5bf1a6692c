import type { ProgressEvent } from '../core/progress.js';
import { formatBytes } from '../core/units.js';
import { describeConfig } from '../formats/codecs/describe.js';
import type { TrackInfo } from '../formats/media.js';
import type { SampleTable } from '../formats/sample-table.js';
import type { RemuxOptions, RemuxTrackSummary } from './remux-types.js';

/** Progress events of one phase are at least this far apart, except the first and the last. */
const PROGRESS_EVERY_MS = 50;

/**
 * Progress of one phase (in bytes, or in inputs for `items`), with rate and ETA, to `options.onProgress`
 * if there is one. `bytes`, when given with items, is shown as the amount read so far. Events come at most
 * every 50 ms, and always when `done` reaches `total`: a join reports after each of its thousands of
 * chunks, and making an event for each took about 1% of it.
 */
export function progressReporter(
  options: RemuxOptions,
  phase: string,
  total: number,
  unit: 'bytes' | 'items' = 'bytes',
): (done: number, bytes?: number) => void {
  const started = Date.now();
  let last = -Infinity;
  return (done, bytes) => {
    if (!options.onProgress) return;
    const now = Date.now();
    if (now - last < PROGRESS_EVERY_MS && done < total) return;
    last = now;
    const elapsed = (now - started) / 1000;
    const rate = elapsed > 0 ? done / elapsed : undefined;
    const ev: ProgressEvent = { phase, done, total, unit };
    if (rate) {
      ev.rate = rate;
      ev.etaSec = Math.max(0, (total - done) / rate);
    }
    if (bytes !== undefined) ev.detail = `${formatBytes(bytes)} read`;
    options.onProgress(ev);
  };
}

/** A track with the size and audio layout its codec config tells, where the demuxer did not. */
export function withDetails(t: TrackInfo): TrackInfo {
  try {
    const d = describeConfig(t.codec, t.config);
    return {
      ...t,
      width: t.width ?? d.width,
      height: t.height ?? d.height,
      sampleRate: t.sampleRate ?? d.sampleRate,
      channels: t.channels ?? d.channels,
    };
  } catch {
    return t; // a muxer can still write what it was given
  }
}

/** The result's summary of the tracks written, with the samples written of each. */
export function trackSummaries(tracks: readonly TrackInfo[], samples: SampleTable): RemuxTrackSummary[] {
  const counts = samples.countByTrack();
  return tracks.map((t) => trackSummary(t, counts.get(t.id) ?? 0));
}

/** The result's summary of one track, with the number of samples written. */
export function trackSummary(t: TrackInfo, samples: number): RemuxTrackSummary {
  const s: RemuxTrackSummary = { kind: t.kind, codec: t.codec, samples };
  try {
    s.codecString = describeConfig(t.codec, t.config).codecString;
  } catch {
    // leave it out
  }
  if (t.width) s.width = t.width;
  if (t.height) s.height = t.height;
  if (t.sampleRate) s.sampleRate = t.sampleRate;
  if (t.channels) s.channels = t.channels;
  if (t.language && t.language !== 'und') s.language = t.language;
  return s;
}
