import { copyOf, sameBytes } from '../core/bytes.js';
import { createDemuxer } from '../formats/demux.js';
import type { Sample, TrackInfo } from '../formats/media.js';
import { concatMismatch, lateTrackWarning, runsOn } from '../formats/timeline.js';
import { statInput } from '../sources/file-source.js';
import { AtomicFile } from '../storage/local.js';
import { PieceWriter } from '../storage/piece-writer.js';
import { IO_BLOCK } from '../storage/write-all.js';
import { demuxFile, pacer, RecentChunks } from './remux-demux.js';
import type { SniffedInput } from './remux-inputs.js';
import { progressReporter, withDetails } from './remux-shared.js';
import type { RemuxOptions, RemuxResult, RemuxWarning } from './remux-types.js';
import { Fmp4Streamer } from './fmp4-streamer.js';
import { FlvStreamer } from './flv-streamer.js';
import { rewriteWithHead } from './remux-output.js';
import { repeatsQueued, SeamRing, shiftAfter, type Pending } from './remux-seam.js';
import { TsInterleaver, type OnePassSink, type TsTrack } from './ts-interleaver.js';

/** Seconds of an input's samples looked at before its start (the earliest of its tracks) is decided. */
const START_WINDOW_SEC = 2;

/**
 * MPEG-TS and FLV inputs to MPEG-TS or fragmented MP4 in one pass, as ffmpeg does: each input is demuxed
 * as it is read and its samples muxed into the output as they come (TsInterleaver: in time order across
 * the tracks; Fmp4Streamer: in fragments at keyframes), so nothing is held but a few seconds of samples
 * and nothing is written twice. Inputs are joined as joinInputs does: one
 * whose times run on from the previous one keeps them, one that restarts or jumps is moved to continue,
 * and samples that repeat the end of the previous input (the same bytes at the same time) are dropped
 * (W_OVERLAP).
 */
export async function remuxStreamInOnePass(
  inputs: readonly string[],
  sniffed: readonly SniffedInput[],
  format: 'ts' | 'fmp4' | 'flv',
  options: RemuxOptions,
): Promise<RemuxResult> {
  const sizes = inputs.map((p) => statInput(p));
  const total = sizes.reduce((a, b) => a + b, 0);
  const out = await AtomicFile.create(options.output);
  const writer = new PieceWriter(out, [], IO_BLOCK);
  const write = async (bytes: Uint8Array): Promise<void> => {
    if (!writer.tryAddBytes(bytes)) await writer.add({ bytes });
  };
  const flv =
    format === 'flv'
      ? new FlvStreamer(write, total, (room) => out.reserve(room), options.moovRoom)
      : undefined;
  const fmp4 =
    format === 'fmp4'
      ? new Fmp4Streamer(write, (room) => out.reserve(room), options.fragmentDuration ?? 1, options.moovRoom)
      : undefined;
  const ts: OnePassSink = flv ?? fmp4 ?? new TsInterleaver(write);
  // Per output track, the decoder configuration its latest samples came with: an fMP4's track keeps the
  // first one (its init segment's), so a change back to it (A, B, A) is a change too.
  const inForce = new WeakMap<TsTrack, Uint8Array>();
  const newConfig = (o: TsTrack, config: Uint8Array): void => {
    if (sameBytes(inForce.get(o) ?? o.info.config, config)) return;
    ts.setConfig(o, config);
    inForce.set(o, config);
  };
  const warnings: RemuxWarning[] = [];
  const progress = progressReporter(options, 'remux', total);
  const pace = pacer();
  let bytesIn = 0;
  // Where the previous input ended on its own clock, and the shift it was given.
  let prevOrigEnd = 0;
  let prevShift = 0;
  let prevStart = 0;
  // The last samples queued of each output track (by id), to place the next input after them.
  const rings: SeamRing[] = [];
  const ringOf = (t: TsTrack): SeamRing | undefined => rings[t.info.id];
  /**
   * Where the output's reference track (video, else the first) ends: the next input continues from there,
   * and the other tracks keep their offsets to it, so A/V offsets inside inputs never become drift.
   */
  const referenceEnd = (): number => {
    const ref = ts.tracks.find((t) => t.info.kind === 'video') ?? ts.tracks[0];
    return ref && Number.isFinite(ref.lastSec) ? ref.lastSec + ref.lastStep : 0;
  };
  try {
    for (const [index, input] of inputs.entries()) {
      const demuxer = createDemuxer((sniffed[index] as SniffedInput).format);
      const recent = new RecentChunks();
      const map = new Map<number, TsTrack | null>();
      const inScale = new Map<number, number>();
      const kindCount = new Map<string, number>();
      const pending: Pending[] = [];
      const keptHere = new Set<TsTrack>();
      let shift: number | undefined;
      let overlaps = 0;

      const trackOf = (t: TrackInfo): TsTrack | null => {
        const n = kindCount.get(t.kind) ?? 0;
        kindCount.set(t.kind, n + 1);
        const same = ts.tracks.filter((o) => o.info.kind === t.kind)[n];
        if (same) {
          if (same.info.codec !== t.codec) throw concatMismatch(input, t, same.info);
          newConfig(same, t.config);
          return same;
        }
        if (flv && n > 0) {
          warnings.push({
            code: 'W_FLV_TRACKS',
            message: `FLV carries one ${t.kind} track: track ${t.id} dropped`,
            input,
          });
          return null;
        }
        if (index > 0 || ts.started) warnings.push(lateTrackWarning(t.kind, input));
        return ts.addTrack(withDetails(t));
      };
      const put = (p: Pending): void => {
        let at = p.sec + (shift as number);
        if (at <= p.t.lastSec) {
          // Before this input has kept a sample of the track, it repeats what the previous one wrote.
          if (!keptHere.has(p.t)) {
            overlaps++;
            return;
          }
          at = p.t.lastSec + 1 / p.t.info.timescale;
        }
        keptHere.add(p.t);
        ts.queue(p.t, at, p.sample, p.payload);
        (rings[p.t.info.id] ??= new SeamRing()).add(at, p);
      };
      /** This input's shift, once its start is known: the earliest first time of its tracks. */
      const decide = (): void => {
        let start = Infinity;
        const seen = new Set<TsTrack>();
        for (const p of pending) {
          if (seen.has(p.t)) continue;
          seen.add(p.t);
          start = Math.min(start, p.sec);
        }
        if (index === 0) shift = 0;
        else {
          // Times that run on are kept, unless the samples landing on written time are new content (the
          // clocks only happen to overlap): then, as for a restart, the input goes after every track's end.
          let continues = runsOn(start, prevOrigEnd, prevStart);
          if (continues && repeatsQueued(pending, prevShift, ringOf) === false) continues = false;
          shift = continues ? prevShift : (shiftAfter(pending, ringOf) ?? referenceEnd() - start);
        }
        prevStart = start;
        for (const p of pending) put(p);
        pending.length = 0;
      };

      const { bytes } = await demuxFile(input, sizes[index] as number, demuxer, {
        signal: options.signal,
        pace,
        warnings,
        onChunk: (chunk, at) => recent.add(chunk, at),
        onTracks: (announced) => {
          for (const t of announced) {
            inScale.set(t.id, t.timescale);
            const o = map.get(t.id);
            if (o === undefined) map.set(t.id, trackOf(t));
            else if (o) newConfig(o, t.config); // new parameters
          }
        },
        onSamples: async (got, readAt) => {
          for (const s of got) {
            const t = map.get(s.trackId);
            if (!t) continue; // a track with no place in the output
            // Views of the input's chunks are copied: the chunks are read into again while samples wait.
            const payload = s.data ?? copyOf(recent.payload(s, readAt));
            const scale = inScale.get(s.trackId) ?? t.info.timescale;
            const sec = s.dts / scale;
            const p: Pending = { t, sec, sample: rescaled(s, scale, t.info.timescale), payload };
            if (shift !== undefined) put(p);
            else {
              pending.push(p);
              if (sec - (pending[0] as Pending).sec >= START_WINDOW_SEC) decide();
            }
          }
          if (index === 0 && shift !== undefined && !ts.started && ts.queuedSpan() >= START_WINDOW_SEC)
            ts.start();
          if (ts.started) await ts.drain(false);
        },
        onRead: (done) => progress(bytesIn + done),
      });
      if (shift === undefined) decide();
      // The first input's tracks are all known by its end: a short first input (one chunk of many) must
      // not keep the output from starting, or every later input would wait in memory.
      if (index === 0 && ts.start()) await ts.drain(false);
      if (overlaps > 0) {
        warnings.push({
          code: 'W_OVERLAP',
          message: `${overlaps} samples at its start repeated the end of the previous input; dropped`,
          input,
        });
      }
      prevShift = shift as number;
      prevOrigEnd = referenceEnd() - prevShift;
      bytesIn += bytes;
    }
    if (ts.start()) await ts.drain(true);
    await writer.flush();
    await writer.close();
    let bytesOut = writer.written;
    // What is known only at the end goes into the room left for it at the start: the FLV's onMetaData, the
    // fMP4's init segment (listing the tracks that started in later inputs too). Or, when it outgrew its
    // room, the body moves behind it.
    const headed = flv ?? (fmp4?.started ? fmp4 : undefined);
    if (headed) {
      const head = headed.head();
      bytesOut += head.bytes.length;
      if (head.fits) await out.writeAt(head.bytes, 0);
      else {
        await rewriteWithHead(out, head.bytes, headed.room, writer.written, options.output);
        return result(bytesOut);
      }
    }
    await out.commit();
    return result(bytesOut);
  } catch (err) {
    await writer.close().catch(() => undefined);
    await out.abort();
    throw err;
  }

  function result(bytesOut: number): RemuxResult {
    return {
      output: options.output,
      format,
      inputs: inputs.length,
      bytesIn,
      bytesOut,
      durationSec: ts.durationSec,
      tracks: ts.summaries(),
      warnings,
    };
  }
}

/** A sample in another timescale (a later input's track whose clock differs from the output track's). */
function rescaled(s: Sample, from: number, to: number): Sample {
  if (from === to) return s;
  const k = to / from;
  return { ...s, cts: Math.round(s.cts * k), duration: Math.round(s.duration * k) };
}
