/**
 * Measures what a recorded file holds while it is written: each unit goes through the push demuxer of its
 * container (which also checks it: a fragment whose moof does not parse is caught before it is written),
 * and the samples' own timestamps tell the seconds recorded. Payloads are not copied (the demuxers return
 * byte ranges); only moof/moov boxes and FLV configurations are held.
 */
import { createDemuxer } from '../../formats/demux.js';
import type { Demuxer, FormatWarning, TrackInfo } from '../../formats/media.js';
import type { MediaUnit } from './ws-units.js';

interface TrackSpan {
  kind: 'video' | 'audio';
  timescale: number;
  first: number;
  end: number;
  /** dts of the last sample, and the step to it (a duration for samples that carry none, as in FLV). */
  last: number;
  step: number;
  samples: number;
}

export class MediaMeter {
  private readonly demuxer: Demuxer;
  private readonly tracks = new Map<number, TrackSpan>();
  private readonly infos = new Map<number, TrackInfo>();

  constructor(container: 'mp4' | 'flv') {
    this.demuxer = createDemuxer(container);
  }

  /** Demux one unit; returns the demuxer's warnings. Throws the demuxer's FormatError for a broken unit. */
  push(unit: MediaUnit): FormatWarning[] {
    const warnings: FormatWarning[] = [];
    for (const piece of unit.pieces) {
      const out = this.demuxer.push(piece);
      for (const t of out.tracks) this.infos.set(t.id, t);
      for (const w of out.warnings) warnings.push(w);
      for (const s of out.samples) {
        const info = this.infos.get(s.trackId);
        if (!info) continue;
        let span = this.tracks.get(s.trackId);
        if (!span) {
          span = {
            kind: info.kind,
            timescale: info.timescale,
            first: s.dts,
            end: s.dts,
            last: s.dts,
            step: 0,
            samples: 0,
          };
          this.tracks.set(s.trackId, span);
        } else if (s.dts > span.last) {
          span.step = s.dts - span.last;
        }
        span.last = Math.max(span.last, s.dts);
        span.first = Math.min(span.first, s.dts);
        span.end = Math.max(span.end, s.dts + (s.duration > 0 ? s.duration : span.step));
        span.samples++;
      }
    }
    return warnings;
  }

  /** The reference track: video if there is one (the remux joins on it), else the first. */
  private reference(): TrackSpan | undefined {
    let first: TrackSpan | undefined;
    for (const t of this.tracks.values()) {
      if (t.kind === 'video') return t;
      first ??= t;
    }
    return first;
  }

  /** Seconds of media held, by the longest track. */
  get spanSec(): number {
    let s = 0;
    for (const t of this.tracks.values()) s = Math.max(s, (t.end - t.first) / t.timescale);
    return s;
  }

  /** The stream's own time of the first sample, seconds (reference track); undefined before any sample. */
  get startSec(): number | undefined {
    const r = this.reference();
    return r ? r.first / r.timescale : undefined;
  }

  /** The stream's own time just past the last sample, seconds (reference track). */
  get endSec(): number | undefined {
    const r = this.reference();
    return r ? r.end / r.timescale : undefined;
  }

  samples(kind: 'video' | 'audio'): number {
    let n = 0;
    for (const t of this.tracks.values()) if (t.kind === kind) n += t.samples;
    return n;
  }
}
