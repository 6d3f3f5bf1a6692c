/**
 * A fragmented MP4 writer for CMAF (ISO/IEC 23000-19) on ISO/IEC 14496-12 8.8: an init segment (ftyp + moov
 * with mvex/trex and empty sample tables) and media fragments (moof + mdat header; the caller appends the
 * payloads, copying input ranges, in the order given).
 */
import { ByteWriter } from '../../core/bytes.js';
import { UsageError } from '../../core/errors.js';
import type { Sample, TrackInfo } from '../media.js';
import { FLAGS_NON_SYNC, FLAGS_SYNC, box, fullBox, mdatHeader } from './isobmff-boxes.js';
import {
  type Brands,
  movieTimescaleOf,
  rescale,
  writeFtyp,
  writeMvhd,
  writeTrak,
} from './isobmff-moov-writer.js';
import type { Mp4WriterTrack } from './isobmff-mp4-writer.js';

/** CMAF header brands (23000-19 7.2: 'cmfc' for the structural brand; 'iso6' for tfdt/trun v1). */
export const CMAF_BRANDS: Brands = { major: 'iso6', minor: 0, compatible: ['iso6', 'cmfc', 'mp41'] };

export interface InitSegmentOptions {
  brands?: Brands;
  movieTimescale?: number;
}

/**
 * The init segment: ftyp + moov (mvhd, one trak per track with an empty stbl, mvex with a trex per track).
 * Track ids are the TrackInfo ids (1-based and unique); `writeFragment` refers to them. A track carrying an
 * input edit list keeps it as an open-ended edit (segment_duration 0, 14496-12 8.6.6.1), so its presentation
 * offset (B-frame delay, AAC priming) survives.
 */
export function writeInitSegment(
  tracks: readonly Mp4WriterTrack[],
  options: InitSegmentOptions = {},
): Uint8Array {
  if (tracks.length === 0) throw new UsageError('writeInitSegment: no tracks', { code: 'E_MP4_PLAN' });
  const ids = new Set<number>();
  for (const t of tracks) {
    if (!Number.isInteger(t.id) || t.id < 1 || t.id > 0xffffffff || ids.has(t.id)) {
      throw new UsageError(`writeInitSegment: track id ${t.id} is not a unique positive integer`, {
        code: 'E_MP4_PLAN',
      });
    }
    ids.add(t.id);
  }
  const movieTs = options.movieTimescale ?? movieTimescaleOf(tracks);
  const w = new ByteWriter(2048);
  writeFtyp(w, options.brands ?? CMAF_BRANDS);
  box(w, 'moov', (m) => {
    writeMvhd(m, movieTs, 0, Math.max(...ids) + 1);
    for (const t of tracks) {
      const e = t.edit && (t.edit.mediaTime !== 0 || t.edit.delay > 0) ? t.edit : undefined;
      writeTrak(m, t, {
        trackId: t.id,
        duration: 0,
        mediaDuration: 0,
        ...(e
          ? { edit: { delay: rescale(e.delay, t.timescale, movieTs), mediaTime: e.mediaTime, duration: 0 } }
          : {}),
        tables: (st) => {
          // Empty stts, stsc, stsz, stco: the samples are in the fragments (8.8.1).
          fullBox(st, 'stts', 0, 0, (b) => b.u32(0));
          fullBox(st, 'stsc', 0, 0, (b) => b.u32(0));
          fullBox(st, 'stsz', 0, 0, (b) => b.u32(0).u32(0));
          fullBox(st, 'stco', 0, 0, (b) => b.u32(0));
        },
      });
    }
    box(m, 'mvex', (x) => {
      for (const t of tracks) {
        // trex (8.8.3): description 1, no other defaults; every trun says what it means.
        fullBox(x, 'trex', 0, 0, (b) => b.u32(t.id).u32(1).u32(0).u32(0).u32(0));
      }
    });
  });
  return w.toBytes();
}

/** One track's samples in one fragment. */
export interface Fmp4FragmentTrack {
  /** The TrackInfo id given to writeInitSegment. */
  trackId: number;
  /** Decode order; the first one's dts becomes the tfdt. */
  samples: readonly Sample[];
  /** The dts just after the last sample (the next fragment's first dts), for a last sample without duration. */
  endDts?: number;
}

// trun flags (8.8.8.1): data-offset, sample-duration, sample-size, sample-flags, sample-composition-time.
const TRUN_FLAGS = 0x000001 | 0x000100 | 0x000200 | 0x000400 | 0x000800;
const TFHD_DEFAULT_BASE_IS_MOOF = 0x020000;

/**
 * One fragment: moof (mfhd, then per track a traf with tfhd default-base-is-moof, tfdt v1 and a trun v1
 * with a data offset and per-sample duration, size, flags and signed composition offset) followed by the
 * mdat header. The caller appends the payloads: each track's samples in order, tracks in the order given.
 * A sample's duration is the distance to the next sample's dts; the last one uses `endDts`, its own
 * duration, or the previous duration.
 */
export function writeFragment(sequenceNumber: number, tracks: readonly Fmp4FragmentTrack[]): Uint8Array {
  const w = new ByteWriter(1024);
  const patches: { at: number; dataBefore: number }[] = [];
  let payload = 0;
  box(w, 'moof', (m) => {
    fullBox(m, 'mfhd', 0, 0, (b) => b.u32(sequenceNumber));
    for (const t of tracks) {
      const s = t.samples;
      const n = s.length;
      if (n === 0) continue;
      const first = s[0] as Sample;
      if (first.dts < 0 || !Number.isFinite(first.dts)) {
        throw new UsageError(
          `writeFragment: track ${t.trackId} starts at dts ${first.dts}; tfdt cannot be negative`,
          {
            code: 'E_MP4_PLAN',
          },
        );
      }
      box(m, 'traf', (tr) => {
        fullBox(tr, 'tfhd', 0, TFHD_DEFAULT_BASE_IS_MOOF, (b) => b.u32(t.trackId));
        fullBox(tr, 'tfdt', 1, 0, (b) => b.u64(first.dts));
        fullBox(tr, 'trun', 1, TRUN_FLAGS, (b) => {
          b.u32(n);
          patches.push({ at: b.length, dataBefore: payload });
          b.u32(0); // data_offset, patched once the moof size is known
          let prevDuration = 0;
          for (let i = 0; i < n; i++) {
            const x = s[i] as Sample;
            let duration: number;
            if (i + 1 < n) duration = (s[i + 1] as Sample).dts - x.dts;
            else if (t.endDts !== undefined) duration = t.endDts - x.dts;
            else duration = x.duration > 0 ? x.duration : prevDuration;
            if (!(duration > 0)) duration = 0;
            prevDuration = duration;
            b.u32(Math.min(duration, 0xffffffff))
              .u32(x.size)
              .u32(x.keyframe ? FLAGS_SYNC : FLAGS_NON_SYNC)
              .i32(x.cts);
            payload += x.size;
          }
        });
      });
    }
  });
  const hdr = mdatHeader(payload);
  const moofSize = w.length;
  // data_offset is from the moof's first byte (default-base-is-moof) to this traf's first payload byte.
  for (const p of patches) {
    const offset = moofSize + hdr.length + p.dataBefore;
    if (offset > 0x7fffffff) {
      throw new UsageError('writeFragment: a fragment above 2 GiB cannot be addressed by trun data_offset', {
        code: 'E_MP4_PLAN',
      });
    }
    w.setU32(p.at, offset);
  }
  w.bytes(hdr);
  return w.toBytes();
}

export interface FragmentOptions {
  /** The tracks the samples belong to (kind and timescale are used). */
  tracks: readonly TrackInfo[];
  /**
   * Shortest fragment, seconds: a video keyframe closer than this to the fragment's start does not start a
   * new one (default 0: every keyframe starts a fragment). Without video, fragments are cut every
   * `minDuration` seconds (1 s when 0).
   */
  minDuration?: number;
}

/** What fragmenting needs to know of the samples, by index: a Sample[] or a SampleTable's columns. */
export interface FragmentInput {
  length: number;
  trackId(i: number): number;
  dts(i: number): number;
  keyframe(i: number): boolean;
}

/** One track of a planned fragment: its samples by index, and the dts that ends its last one. */
export interface FragmentRows {
  trackId: number;
  rows: number[];
  endDts?: number;
}

/**
 * Group samples (any interleaving; each track in decode order) into fragments that start at video keyframes.
 * Other tracks' samples go to the fragment whose time span holds their dts. Each fragment lists its tracks
 * in the order of `options.tracks`, and `endDts` is set from the next fragment, so writeFragment can give
 * every last sample its exact duration.
 */
export function fragmentAtKeyframes(
  samples: readonly Sample[],
  options: FragmentOptions,
): Fmp4FragmentTrack[][] {
  const input: FragmentInput = {
    length: samples.length,
    trackId: (i) => (samples[i] as Sample).trackId,
    dts: (i) => (samples[i] as Sample).dts,
    keyframe: (i) => (samples[i] as Sample).keyframe,
  };
  return fragmentRowsAtKeyframes(input, options).map((fragment) =>
    fragment.map((t) => {
      const ft: Fmp4FragmentTrack = { trackId: t.trackId, samples: t.rows.map((i) => samples[i] as Sample) };
      if (t.endDts !== undefined) ft.endDts = t.endDts;
      return ft;
    }),
  );
}

/**
 * fragmentAtKeyframes by sample index: for a large table, whose samples are then made one fragment at a
 * time instead of all at once (hundreds of thousands of Sample objects for a long recording).
 */
export function fragmentRowsAtKeyframes(samples: FragmentInput, options: FragmentOptions): FragmentRows[][] {
  const tracks = options.tracks;
  const order = new Map<number, number>();
  tracks.forEach((t, k) => order.set(t.id, k));
  const perTrack: number[][] = tracks.map(() => []);
  for (let i = 0; i < samples.length; i++) {
    const k = order.get(samples.trackId(i));
    if (k === undefined) {
      throw new UsageError(
        `fragmentAtKeyframes: a sample refers to track ${samples.trackId(i)}, not in the track list`,
        {
          code: 'E_MP4_PLAN',
        },
      );
    }
    (perTrack[k] as number[]).push(i);
  }
  let ref = tracks.findIndex((t, k) => t.kind === 'video' && (perTrack[k] as number[]).length > 0);
  const video = ref >= 0;
  if (!video) ref = perTrack.findIndex((p) => p.length > 0);
  if (ref < 0) return [];
  const refTrack = tracks[ref] as TrackInfo;
  const refRows = perTrack[ref] as number[];
  const minDuration = options.minDuration ?? 0;
  const minTicks = (video ? minDuration : minDuration > 0 ? minDuration : 1) * refTrack.timescale;

  // Cut points on the reference track: positions in refRows and their dts.
  const cutIndex: number[] = [0];
  const cutDts: number[] = [samples.dts(refRows[0] as number)];
  for (let i = 1; i < refRows.length; i++) {
    const row = refRows[i] as number;
    if (samples.keyframe(row) && samples.dts(row) - (cutDts[cutDts.length - 1] as number) >= minTicks) {
      cutIndex.push(i);
      cutDts.push(samples.dts(row));
    }
  }
  const fragments: number[][][] = cutIndex.map(() => tracks.map(() => []));
  // Reference track: by index.
  for (let f = 0; f < cutIndex.length; f++) {
    const from = cutIndex[f] as number;
    const to = f + 1 < cutIndex.length ? (cutIndex[f + 1] as number) : refRows.length;
    const into = (fragments[f] as number[][])[ref] as number[];
    for (let i = from; i < to; i++) into.push(refRows[i] as number);
  }
  // Others: by time, comparing dts * refTimescale with cutDts * timescale (exact in integers).
  tracks.forEach((t, k) => {
    if (k === ref) return;
    let f = 0;
    for (const row of perTrack[k] as number[]) {
      const dts = samples.dts(row);
      while (f + 1 < cutDts.length && dts * refTrack.timescale >= (cutDts[f + 1] as number) * t.timescale)
        f++;
      ((fragments[f] as number[][])[k] as number[]).push(row);
    }
  });
  // endDts from the next fragment that has samples of the track.
  const out: FragmentRows[][] = fragments.map((fr) =>
    fr.flatMap((rows, k) => (rows.length > 0 ? [{ trackId: (tracks[k] as TrackInfo).id, rows }] : [])),
  );
  tracks.forEach((t, k) => {
    let next: number | undefined;
    for (let f = fragments.length - 1; f >= 0; f--) {
      const rows = (fragments[f] as number[][])[k] as number[];
      if (rows.length === 0) continue;
      const ft = (out[f] as FragmentRows[]).find((x) => x.trackId === t.id);
      if (ft && next !== undefined) ft.endDts = next;
      next = samples.dts(rows[0] as number);
    }
  });
  return out;
}
