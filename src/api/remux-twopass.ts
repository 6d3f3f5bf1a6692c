import { extname } from 'node:path';
import { sameBytes } from '../core/bytes.js';
import { InputError, InterruptedError } from '../core/errors.js';
import { createDemuxer } from '../formats/demux.js';
import {
  fragmentRowsAtKeyframes,
  writeFragment,
  writeInitSegment,
  type Fmp4FragmentTrack,
  type FragmentInput,
  type FragmentRows,
} from '../formats/isobmff/isobmff-fmp4-writer.js';
import { planFlv } from '../formats/flv/flv-muxer.js';
import { planMp4, type Mp4WriterTrack } from '../formats/isobmff/isobmff-mp4-writer.js';
import { TsMuxer, type TsMuxerTrackOptions } from '../formats/mpegts/mpegts-muxer.js';
import type { Sample, TrackInfo } from '../formats/media.js';
import { SampleTable, type TableSample } from '../formats/sample-table.js';
import {
  joinInputs,
  mergeInputs,
  parameterSetsToCarry,
  type DemuxedInput,
  type Timeline,
} from '../formats/timeline.js';
import { withParameterSets } from '../formats/codecs/parameter-sets.js';
import { AtomicFile } from '../storage/local.js';
import { PayloadStore } from '../storage/payload-store.js';
import { PieceReader } from '../storage/piece-reader.js';
import type { PieceSource } from '../storage/input-windows.js';
import { PieceWriter } from '../storage/piece-writer.js';
import { IO_BLOCK } from '../storage/write-all.js';
import { demuxedInput, demuxFile, pacer } from './remux-demux.js';
import { readInputSync, statInput } from '../sources/file-source.js';
import type { SniffedInput } from './remux-inputs.js';
import type { PayloadRef } from '../formats/join-seam.js';
import { PayloadPeek } from './remux-payloads.js';
import { progressReporter, trackSummaries, withDetails } from './remux-shared.js';
import type { RemuxFormat, RemuxOptions, RemuxResult, RemuxWarning } from './remux-types.js';

/** Where a sample's payload is (its table tag): the input, or the payload store's memory or file. */
const IN_INPUT = 0;
const IN_MEMORY = 1;
const IN_FILE = 2;

/**
 * Any inputs to MP4, fragmented MP4 or FLV in two passes: every input demuxed into tables first (payloads stay
 * in the inputs, or go to the payload store where the demuxer made them), then the output written from the
 * tables, the payloads copied as large ranges.
 */
export async function remuxInTwoPasses(
  inputs: readonly string[],
  sniffed: readonly SniffedInput[],
  format: RemuxFormat,
  options: RemuxOptions,
): Promise<RemuxResult> {
  const out = await AtomicFile.create(options.output);
  const store = new PayloadStore(`${out.tempPath}.spill`);
  const warnings: RemuxWarning[] = [];
  try {
    // Pass 1: demux every input into tables (payloads stay in the inputs or go to the spill file).
    const { demuxed, bytesIn } = await demuxAll(inputs, sniffed, store, warnings, options);
    await store.flush();
    // For MPEG-TS too: its muxer then switches to each input's own parameter sets (writeTs).
    if (!options.merge) {
      await carryParameterSets(demuxed, store); // reads spilled payloads back: after the flush above
      await store.flush();
    }

    const timeline = options.merge ? mergeInputs(demuxed) : joinDemuxed(demuxed, store);
    for (const w of timeline.warnings) warnings.push({ ...w, input: w.input ?? inputs[0] ?? '' });
    let tracks = timeline.tracks.map(withDetails);
    let samples = timeline.samples;
    let keep: TrackInfo[] | undefined;
    if (extname(options.output).toLowerCase() === '.m4a') {
      keep = tracks.filter((t) => t.kind === 'audio');
      if (keep.length === 0) {
        throw new InputError('the inputs have no audio for an .m4a output', { code: 'E_NO_AUDIO' });
      }
    } else if (format === 'flv') {
      // FLV carries one video and one audio track: the first of each.
      keep = [];
      for (const kind of ['video', 'audio'] as const) {
        const [first, ...extra] = tracks.filter((t) => t.kind === kind);
        if (first) keep.push(first);
        if (extra.length === 0) continue;
        warnings.push({
          code: 'W_FLV_TRACKS',
          message: `FLV carries one ${kind} track: track ${extra.map((t) => t.id).join(', ')} dropped`,
          input: inputs[0] ?? '',
        });
      }
    }
    if (keep && keep.length < tracks.length) {
      const ids = new Set(keep.map((t) => t.id));
      tracks = tracks.filter((t) => ids.has(t.id));
      samples = samples.filter((id) => ids.has(id));
    }

    // Pass 2: the output, from the tables; each writer says how long its output plays, as a player reads it.
    let durationSec: number;
    if (format === 'flv') durationSec = await writeFlv(out, store, demuxed, tracks, samples, options);
    else if (format === 'ts') durationSec = await writeTs(out, store, demuxed, tracks, samples, options);
    else {
      durationSec = await writeMp4(
        out,
        store,
        demuxed,
        tracks,
        samples,
        format,
        options,
        timeline.durationSec,
      );
    }
    await out.commit();
    return {
      output: options.output,
      format,
      inputs: inputs.length,
      bytesIn,
      bytesOut: out.bytesWritten,
      durationSec,
      tracks: trackSummaries(tracks, samples),
      warnings,
    };
  } catch (err) {
    await out.abort();
    throw err;
  } finally {
    await store.dispose();
  }
}

/**
 * Inputs whose video was encoded with other parameters than the input before (clips of another size, the
 * renditions of a stream): unless their samples carry their parameter sets (MPEG-TS ones do), the first
 * keyframe of each such input gets its own put in front, through the payload store, and its track says
 * so (inBandParameterSets): joinInputs then keeps them under the first sample entry, and each part
 * decodes as its own input did. The first video track of each input is compared, as joinInputs matches.
 */
async function carryParameterSets(demuxed: DemuxedInput[], store: PayloadStore): Promise<void> {
  const peek = new PayloadPeek();
  try {
    let before: TrackInfo | undefined;
    for (const input of demuxed) {
      const k = input.tracks.findIndex((t) => t.kind === 'video');
      const t = input.tracks[k];
      if (!t) continue;
      const params = parameterSetsToCarry(t, before);
      before = t;
      if (!params) continue;
      const table = input.samples;
      let j = 0;
      while (j < table.length && !(table.trackId[j] === t.id && table.keyframe[j] === 1)) j++;
      if (j === table.length) continue;
      const payload = readBack(peek, store, input.name, {
        tag: table.tag[j] as number,
        offset: table.offset[j] as number,
        size: table.size[j] as number,
      });
      const grown = withParameterSets(payload, params);
      if (grown !== payload) {
        const at = store.addToMemory(grown);
        table.tag[j] = at >= 0 ? IN_MEMORY : IN_FILE;
        table.offset[j] = at >= 0 ? at : await store.addToFile(grown);
        table.size[j] = grown.length;
      }
      input.tracks[k] = { ...t, inBandParameterSets: true };
    }
  } finally {
    peek.close();
  }
}

/** A payload read back from where its table tag says it is: the input named `input`, or the store. */
function readBack(
  peek: PayloadPeek,
  store: PayloadStore,
  input: string,
  at: Pick<PayloadRef, 'tag' | 'offset' | 'size'>,
): Uint8Array {
  if (at.tag === IN_INPUT) return peek.read(input, at.offset, at.size);
  if (at.tag === IN_MEMORY) return store.memoryBytes(at.offset, at.size);
  return peek.read(store.path, at.offset, at.size);
}

/** joinInputs, with payloads read back from the inputs or the store where a seam needs to compare them. */
function joinDemuxed(demuxed: DemuxedInput[], store: PayloadStore): Timeline {
  const peek = new PayloadPeek();
  try {
    return joinInputs(demuxed, {
      samePayload: PayloadPeek.same((r) => readBack(peek, store, (demuxed[r.input] as DemuxedInput).name, r)),
    });
  } finally {
    peek.close();
  }
}

/** Pass 1: the inputs' tables, in order. Init segments are kept to demux the media segments after them. */
async function demuxAll(
  inputs: readonly string[],
  sniffed: readonly SniffedInput[],
  store: PayloadStore,
  warnings: RemuxWarning[],
  options: RemuxOptions,
): Promise<{ demuxed: DemuxedInput[]; bytesIn: number }> {
  const demuxed: DemuxedInput[] = [];
  const sizes = inputs.map((p) => statInput(p));
  const totalIn = sizes.reduce((a, b) => a + b, 0);
  const readProgress = progressReporter(options, 'read', totalIn);
  const pace = pacer();
  let bytesIn = 0;
  // The last init segment seen (an MP4 with tracks and no samples), for the media segments after it.
  let init: Uint8Array | undefined;
  for (const [i, input] of inputs.entries()) {
    const { format: inFormat, segment } = sniffed[i] as SniffedInput;
    const size = sizes[i] as number;
    if (segment && !init) {
      throw new InputError(`${input} is a fragmented MP4 media segment with no init segment before it`, {
        code: 'E_NO_INIT_SEGMENT',
        hint: 'give the init segment (the file with the moov, often init.mp4) first: castkit remux init.mp4 seg*.m4s -o out.mp4',
        details: { path: input },
      });
    }
    const demuxer = createDemuxer(inFormat, { allocate: (n) => store.allocate(n) });
    const samples = new SampleTable(4096);
    const { tracks, bytes } = await demuxFile(input, size, demuxer, {
      // A media segment is demuxed after its init segment; its sample offsets stay the segment's own.
      prefix: segment ? init : undefined,
      signal: options.signal,
      pace,
      warnings,
      // An indexed loop: it runs once per sample, mostly interpreted for a short remux (see cli/jit.ts).
      onSamples: async (got) => {
        for (let k = 0; k < got.length; k++) {
          const s = got[k] as Sample;
          if (!s.data) {
            samples.addSample(s, s.offset ?? 0, IN_INPUT);
            continue;
          }
          // A payload the demuxer made goes into the store (its memory if it fits).
          const at = store.addToMemory(s.data);
          if (at >= 0) samples.addSample(s, at, IN_MEMORY);
          else samples.addSample(s, await store.addToFile(s.data), IN_FILE);
        }
      },
      onRead: (done) => readProgress(bytesIn + done),
    });
    bytesIn += bytes;
    if (inFormat === 'mp4' && !segment && tracks.length > 0 && samples.length === 0 && size <= 64 << 20) {
      init = readInputSync(input); // an init segment: it describes the segments after it
      continue;
    }
    demuxed.push(demuxedInput(input, tracks, samples));
  }
  if (demuxed.length === 0) {
    // Every input was an init segment (tracks, no samples).
    throw new InputError(
      `${inputs.length === 1 ? inputs[0] : 'the inputs'}: no media samples, only an init segment`,
      {
        code: 'E_NO_SAMPLES',
        hint: 'give the media segments after the init segment: castkit remux init.mp4 seg*.m4s -o out.mp4',
        details: { inputs: inputs.length },
      },
    );
  }
  return { demuxed, bytesIn };
}

/**
 * Where the payloads are: the demuxed inputs, then the store's memory and its file. Timeline samples name
 * their input by its place among the demuxed inputs (init segments are not).
 */
function payloadSources(
  store: PayloadStore,
  demuxed: readonly DemuxedInput[],
  samples: SampleTable,
): { sources: PieceSource[]; sourceOf: (row: number) => number; memoryIndex: number; fileIndex: number } {
  const memoryIndex = demuxed.length;
  const fileIndex = demuxed.length + 1;
  const sourceOf = (i: number): number => {
    const where = samples.tag[i] as number;
    return where === IN_INPUT ? (samples.input[i] as number) : where === IN_MEMORY ? memoryIndex : fileIndex;
  };
  const sources: PieceSource[] = demuxed.map((d) => ({ name: d.name, path: d.name }));
  sources.push(store.memorySource(), store.fileSource());
  return { sources, sourceOf, memoryIndex, fileIndex };
}

/** Pass 2 for FLV: onMetaData and the sequence headers, then each tag in time order around its payload. */
async function writeFlv(
  out: AtomicFile,
  store: PayloadStore,
  demuxed: readonly DemuxedInput[],
  tracks: TrackInfo[],
  samples: SampleTable,
  options: RemuxOptions,
): Promise<number> {
  const { sources, sourceOf } = payloadSources(store, demuxed, samples);
  // The inputs' edit lists, applied as for MPEG-TS (a player of the input would).
  const shifts = new Map<number, number>();
  for (const [id, o] of tsTrackOptions(tracks, samples)) if (o.shift) shifts.set(id, o.shift);
  const plan = planFlv(tracks, samples, shifts);
  const writer = new PieceWriter(out, sources, 2 * IO_BLOCK, progressReporter(options, 'write', plan.size));
  try {
    await writer.add({ bytes: plan.head });
    let n = 0;
    for (const row of plan.order) {
      const prefix = plan.prefixOf(row);
      if (!writer.tryAddBytes(prefix)) await writer.add({ bytes: prefix }); // copied into the buffer
      const piece = {
        source: sourceOf(row),
        offset: samples.offset[row] as number,
        size: samples.size[row] as number,
      };
      if (!writer.tryAdd(piece)) {
        await writer.add(piece);
        interrupted(options); // a write in between: signals have been seen
      }
      const trailer = plan.trailerOf(row);
      if (!writer.tryAddBytes(trailer)) await writer.add({ bytes: trailer });
      if ((++n & 0xfff) === 0) interrupted(options);
    }
    await writer.flush();
  } finally {
    await writer.close();
  }
  return plan.durationSec;
}

/**
 * Pass 2 for MPEG-TS: every sample in decode-time order across the tracks, read into memory and muxed
 * (Annex B, ADTS, PES, packets). Edit lists are applied to the timestamps, as a player of the input would.
 */
async function writeTs(
  out: AtomicFile,
  store: PayloadStore,
  demuxed: readonly DemuxedInput[],
  tracks: TrackInfo[],
  samples: SampleTable,
  options: RemuxOptions,
): Promise<number> {
  const { sources, sourceOf } = payloadSources(store, demuxed, samples);
  const trackOptions = tsTrackOptions(tracks, samples);
  const muxer = new TsMuxer(tracks, trackOptions);
  const order = decodeOrder(tracks, samples);
  // Progress against an estimate: each sample's packets with room for its PES header, start codes and
  // ADTS header, plus a PAT and PMT at each keyframe.
  let estimate = 0;
  for (let i = 0; i < samples.length; i++) {
    estimate += Math.ceil(((samples.size[i] as number) + 40) / 184) * 188;
    if (samples.keyframe[i]) estimate += 2 * 188;
  }
  // The video's configuration per input (the first video track of each, as joinInputs matches them): an
  // input encoded with other parameters switches the muxer to its own, which it puts before every keyframe.
  const video = tracks.find((t) => t.kind === 'video');
  const configOf = demuxed.map((d) => d.tracks.find((t) => t.kind === 'video')?.config);
  let inForce = video?.config;
  const reader = new PieceReader(sources);
  const writer = new PieceWriter(out, [], 2 * IO_BLOCK, progressReporter(options, 'write', estimate));
  try {
    let n = 0;
    for (const row of order) {
      if (video && samples.trackId[row] === video.id) {
        const config = configOf[samples.input[row] as number];
        if (config && config !== inForce) {
          if (!inForce || !sameBytes(config, inForce)) muxer.setConfig(video.id, config);
          inForce = config;
        }
      }
      const source = sourceOf(row);
      const offset = samples.offset[row] as number;
      const size = samples.size[row] as number;
      const bytes = reader.peek(source, offset, size) ?? (await reader.read(source, offset, size));
      const packets = muxer.sample(
        samples.trackId[row] as number,
        samples.dts[row] as number,
        samples.cts[row] as number,
        samples.keyframe[row] === 1,
        bytes,
      );
      if (!writer.tryAddBytes(packets)) {
        await writer.add({ bytes: packets });
        interrupted(options);
      }
      if ((++n & 0xfff) === 0) interrupted(options);
    }
    await writer.flush();
    // The estimate was an estimate: the last event says the whole was written.
    progressReporter(options, 'write', writer.written)(writer.written);
  } finally {
    await writer.close();
    await reader.close();
  }
  return presentationSpan(tracks, samples, trackOptions);
}

/**
 * Seconds from the earliest presentation time to the latest presentation end, over the tracks, with the
 * shifts the TS muxer applies: the duration a player or ffprobe finds in an MPEG-TS (which has no header
 * saying it).
 */
function presentationSpan(
  tracks: readonly TrackInfo[],
  samples: SampleTable,
  options: ReadonlyMap<number, TsMuxerTrackOptions>,
): number {
  const scale: number[] = [];
  const shift: number[] = [];
  for (const t of tracks) {
    scale[t.id] = 1 / t.timescale;
    shift[t.id] = options.get(t.id)?.shift ?? 0;
  }
  let start = Infinity;
  let end = -Infinity;
  for (let i = 0; i < samples.length; i++) {
    const id = samples.trackId[i] as number;
    const k = scale[id];
    if (k === undefined) continue;
    const pts = ((samples.dts[i] as number) + (samples.cts[i] as number) + (shift[id] as number)) * k;
    start = Math.min(start, pts);
    end = Math.max(end, pts + (samples.duration[i] as number) * k);
  }
  return end > start ? end - start : 0;
}

/** Rows in decode-time order across the tracks (seconds); at equal times, video first, then input order. */
function decodeOrder(tracks: readonly TrackInfo[], samples: SampleTable): Uint32Array {
  const scale = new Map(tracks.map((t) => [t.id, 1 / t.timescale]));
  const video = new Set(tracks.filter((t) => t.kind === 'video').map((t) => t.id));
  const sec = new Float64Array(samples.length);
  const rows: number[] = [];
  for (let i = 0; i < samples.length; i++) {
    const k = scale.get(samples.trackId[i] as number);
    if (k === undefined) continue;
    sec[i] = (samples.dts[i] as number) * k;
    rows.push(i);
  }
  return samples.timeOrder(rows, sec, (id) => video.has(id));
}

/**
 * Per track: the input's edit list as a shift of its timestamps (presentation starts where it did), and
 * the lead of decode over presentation times that negative composition offsets need.
 */
function tsTrackOptions(
  tracks: readonly TrackInfo[],
  samples: SampleTable,
): Map<number, TsMuxerTrackOptions> {
  const firstDts = new Map<number, number>();
  const minCts = new Map<number, number>();
  for (let i = 0; i < samples.length; i++) {
    const id = samples.trackId[i] as number;
    if (!firstDts.has(id)) firstDts.set(id, samples.dts[i] as number);
    minCts.set(id, Math.min(minCts.get(id) ?? 0, samples.cts[i] as number));
  }
  const out = new Map<number, TsMuxerTrackOptions>();
  for (const t of tracks as Mp4WriterTrack[]) {
    const o: TsMuxerTrackOptions = { decodeLead: -(minCts.get(t.id) ?? 0) };
    const e = t.edit;
    // Our decode times start where the timeline put them: the media time moves by the first dts.
    const mediaTime = e ? e.mediaTime - (firstDts.get(t.id) ?? 0) : -1;
    if (e && mediaTime >= 0) o.shift = e.delay - mediaTime;
    out.set(t.id, o);
  }
  return out;
}

/** A table's columns as fragmenting reads them. */
function tableInput(t: SampleTable): FragmentInput {
  return {
    length: t.length,
    trackId: (i) => t.trackId[i] as number,
    dts: (i) => t.dts[i] as number,
    keyframe: (i) => t.keyframe[i] === 1,
  };
}

/** Pass 2: the head, then the payloads from the inputs and the store (as fragments for fmp4). */
async function writeMp4(
  out: AtomicFile,
  store: PayloadStore,
  demuxed: readonly DemuxedInput[],
  tracks: TrackInfo[],
  samples: SampleTable,
  format: RemuxFormat,
  options: RemuxOptions,
  timelineDuration: number,
): Promise<number> {
  const { sources, sourceOf, memoryIndex, fileIndex } = payloadSources(store, demuxed, samples);
  let payload = 0;
  for (let i = 0; i < samples.length; i++) payload += samples.size[i] as number;
  // Everything but the payloads is made first, so that progress knows the exact output size.
  let head: Uint8Array;
  let tail: Uint8Array = new Uint8Array(0);
  let fragments: FragmentRows[][] = [];
  // The moof of fragment f (made twice: once to size the output for progress, once to write it, so that
  // only one fragment's Sample objects exist at a time, not hundreds of thousands).
  const fragmentOf = (f: number): { header: Uint8Array; tracks: Fmp4FragmentTrack[] } => {
    const tracks = (fragments[f] as FragmentRows[]).map((t) => {
      const ft: Fmp4FragmentTrack = { trackId: t.trackId, samples: t.rows.map((i) => samples.get(i)) };
      if (t.endDts !== undefined) ft.endDts = t.endDts;
      return ft;
    });
    return { header: writeFragment(f + 1, tracks), tracks };
  };
  let total = payload;
  // An fMP4's duration is read from its fragments: the timeline's. An MP4's is its mvhd's.
  let durationSec = timelineDuration;
  if (format === 'fmp4') {
    head = writeInitSegment(tracks as Mp4WriterTrack[]);
    fragments = fragmentRowsAtKeyframes(tableInput(samples), {
      tracks,
      minDuration: options.fragmentDuration ?? 1,
    });
    for (let f = 0; f < fragments.length; f++) total += fragmentOf(f).header.length;
  } else {
    const plan = planMp4(tracks as Mp4WriterTrack[], samples, { faststart: options.faststart ?? true });
    head = plan.head;
    tail = plan.tail;
    durationSec = plan.durationSec;
  }
  total += head.length + tail.length;
  const writer = new PieceWriter(out, sources, 2 * IO_BLOCK, progressReporter(options, 'write', total));
  try {
    await writer.add({ bytes: head });
    if (format === 'fmp4') {
      for (let f = 0; f < fragments.length; f++) {
        const fragment = fragmentOf(f);
        await writer.add({ bytes: fragment.header });
        for (const ft of fragment.tracks) {
          for (const s of ft.samples) {
            const t = s as TableSample;
            const source = t.tag === IN_INPUT ? t.input : t.tag === IN_MEMORY ? memoryIndex : fileIndex;
            const piece = { source, offset: s.offset ?? 0, size: s.size };
            if (!writer.tryAdd(piece)) await writer.add(piece);
          }
        }
        if (options.signal?.aborted) throw new InterruptedError();
      }
    } else {
      // Neighbouring samples stored back to back in one input move as one range.
      let run: { source: number; offset: number; size: number } | undefined;
      let n = 0;
      for (let i = 0; i < samples.length; i++) {
        const source = sourceOf(i);
        const offset = samples.offset[i] as number;
        const size = samples.size[i] as number;
        if (run && run.source === source && run.offset + run.size === offset && run.size < RUN_MAX) {
          run.size += size;
          continue;
        }
        if (run && !writer.tryAdd(run)) {
          // Neighbouring samples coalesce into few runs: a large input may have only a handful, so the
          // signal is looked at after every write as well as every 4096 runs.
          await writer.add(run);
          interrupted(options);
        }
        run = { source, offset, size };
        if ((++n & 0xfff) === 0) interrupted(options);
      }
      if (run && !writer.tryAdd(run)) await writer.add(run);
      await writer.add({ bytes: tail });
    }
    await writer.flush();
  } finally {
    await writer.close();
  }
  return durationSec;
}

/** The largest range moved in one piece: a signal is looked at between pieces (see writeMp4). */
const RUN_MAX = 64 << 20;

/** Throws InterruptedError once the caller's signal has been aborted. */
function interrupted(options: RemuxOptions): void {
  if (options.signal?.aborted) throw new InterruptedError();
}
