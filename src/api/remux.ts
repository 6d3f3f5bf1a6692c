import { closeSync, openSync, readFileSync, readSync, statSync } from 'node:fs';
import { extname } from 'node:path';
import { CastkitError, InputError, InterruptedError, UsageError, systemErrorCode } from '../core/errors.js';
import type { ProgressEvent } from '../core/progress.js';
import { describeConfig } from '../formats/codecs/describe.js';
import { createDemuxer } from '../formats/demux.js';
import type { FormatWarning, Sample, TrackInfo } from '../formats/media.js';
import { sniffContainer, type ContainerFormat } from '../formats/sniff.js';
import { joinInputs, mergeInputs, type DemuxedInput } from '../formats/timeline.js';
import { planMp4, type Mp4WriterTrack } from '../formats/isobmff/isobmff-mp4-writer.js';
import {
  fragmentAtKeyframes,
  writeFragment,
  writeInitSegment,
} from '../formats/isobmff/isobmff-fmp4-writer.js';
import {
  FlvJoiner,
  type FlvJoinResult,
  type FlvJoinSummary,
  type FlvPiece,
} from '../formats/flv/flv-joiner.js';
import { openInput } from '../sources/file-source.js';
import { AtomicFile } from '../storage/local.js';
import { PayloadStore } from '../storage/payload-store.js';
import { PieceWriter, type PieceSource } from '../storage/piece-writer.js';

export type RemuxFormat = 'mp4' | 'fmp4' | 'flv';

export interface RemuxOptions {
  /** Output path; its extension picks the format (.mp4 .m4v .mov .m4a .flv) unless `format` is given. */
  output: string;
  format?: RemuxFormat;
  /** moov before mdat (default true). */
  faststart?: boolean;
  /** For fmp4: shortest fragment, seconds (default 1; every keyframe after that starts one). */
  fragmentDuration?: number;
  /**
   * Take each input's tracks side by side instead of one after another: a video-only and an audio-only
   * stream (DASH, ustream mp4/segmented) become one A/V file, in sync.
   */
  merge?: boolean;
  /**
   * For tests: the room reserved before the media when MPEG-TS/FLV are written in one pass, in bytes
   * (default: estimated from the first 16 MB). Too little room makes castkit move the media behind the moov.
   */
  moovRoom?: number;
  signal?: AbortSignal;
  onProgress?: (event: ProgressEvent) => void;
}

export interface RemuxTrackSummary {
  kind: 'video' | 'audio';
  codec: string;
  codecString?: string;
  width?: number;
  height?: number;
  sampleRate?: number;
  channels?: number;
  /** Samples written (not counted for FLV joins). */
  samples?: number;
}

export interface RemuxResult {
  output: string;
  format: RemuxFormat;
  inputs: number;
  bytesIn: number;
  bytesOut: number;
  durationSec: number;
  tracks: RemuxTrackSummary[];
  /** What was repaired or dropped, per input. */
  warnings: (FormatWarning & { input: string })[];
  /** FLV joins: what the joiner did to the chunks. */
  join?: FlvJoinSummary;
}

const EXTENSIONS: Record<string, RemuxFormat> = {
  '.mp4': 'mp4',
  '.m4v': 'mp4',
  '.mov': 'mp4',
  '.m4a': 'mp4',
  '.flv': 'flv',
};

function outputFormat(options: RemuxOptions): RemuxFormat {
  if (options.format) return options.format;
  const f = EXTENSIONS[extname(options.output).toLowerCase()];
  if (!f) {
    throw new UsageError(`cannot tell the output format from "${options.output}"`, {
      code: 'E_OUTPUT_FORMAT',
      hint: 'name the output .mp4, .m4a or .flv, or pass --format mp4|fmp4|flv',
    });
  }
  return f;
}

/** Where a sample's payload is when the demuxer produced it: the payload store's memory or its file. */
type Stored = Sample & { store?: 'memory' | 'file' };

type KnownFormat = Exclude<ContainerFormat, 'unknown'>;

/** ISO-BMFF media segments (fMP4 .m4s) carry no moov: they need the init segment given before them. */
function isMediaSegment(head: Uint8Array): boolean {
  const type = String.fromCharCode(...head.subarray(4, 8));
  return type === 'styp' || type === 'moof' || type === 'sidx' || type === 'emsg' || type === 'prft';
}

function sniffFile(path: string): { format: KnownFormat; segment: boolean } {
  statInput(path); // names a missing path or a directory
  const fd = openInputSync(path);
  try {
    const head = new Uint8Array(4096);
    const bytesRead = readSync(fd, head, 0, head.length, 0);
    const format = sniffContainer(head.subarray(0, bytesRead));
    if (format === 'unknown') {
      throw new InputError(`${path} is not FLV, MP4/fMP4 or MPEG-TS`, {
        code: 'E_NOT_MEDIA',
        hint:
          bytesRead === 0 ? 'the file is empty' : 'castkit remux reads FLV, MP4, fragmented MP4 and MPEG-TS',
        details: { path },
      });
    }
    return { format, segment: format === 'mp4' && isMediaSegment(head) };
  } finally {
    closeSync(fd);
  }
}

function progressReporter(options: RemuxOptions, phase: string, total: number): (done: number) => void {
  const started = Date.now();
  return (done) => {
    if (!options.onProgress) return;
    const elapsed = (Date.now() - started) / 1000;
    const rate = elapsed > 0 ? done / elapsed : undefined;
    const ev: ProgressEvent = { phase, done, total, unit: 'bytes' };
    if (rate) {
      ev.rate = rate;
      ev.etaSec = Math.max(0, (total - done) / rate);
    }
    options.onProgress(ev);
  };
}

function withDetails(t: TrackInfo): TrackInfo {
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

/**
 * Change containers without re-encoding: FLV, MP4, fragmented MP4 and MPEG-TS in; MP4, fragmented MP4 or
 * FLV out. Several inputs are joined in order into one timeline.
 * @example
 *   await remux(['part1.ts', 'part2.ts'], { output: 'talk.mp4' });
 */
export async function remux(inputs: readonly string[], options: RemuxOptions): Promise<RemuxResult> {
  if (inputs.length === 0) throw new UsageError('remux needs at least one input', { code: 'E_USAGE' });
  const format = outputFormat(options);
  const sniffed: { format: KnownFormat; segment: boolean }[] = [];
  for (const input of inputs) sniffed.push(sniffFile(input));
  if (format === 'flv') {
    if (options.merge) {
      throw new UsageError('--merge writes MP4 (or fMP4) only', {
        code: 'E_OUTPUT_FORMAT',
        hint: 'name the output .mp4',
      });
    }
    if (sniffed.some((f) => f.format !== 'flv')) {
      throw new UsageError('FLV output is made from FLV inputs only (for now)', {
        code: 'E_OUTPUT_FORMAT',
        hint: 'write .mp4 instead, or remux the inputs to FLV with ffmpeg -c copy',
      });
    }
    return joinFlv(inputs, options);
  }
  const streamable =
    format === 'mp4' &&
    !options.merge &&
    options.faststart !== false &&
    extname(options.output).toLowerCase() !== '.m4a' &&
    sniffed.every((f) => f.format !== 'mp4');
  return streamable ? remuxStreaming(inputs, sniffed, options) : remuxToMp4(inputs, sniffed, format, options);
}

/** Bytes of moov per sample, at the most: stsz 4, ctts 8, stts 8, stss 4, and a chunk entry (co64 8, stsc 12). */
const MOOV_BYTES_PER_SAMPLE = 44;

/**
 * MPEG-TS and FLV inputs to MP4 in one pass: payloads go into the output as they are demuxed, after room
 * reserved for the moov (estimated from the sample rate of the first 16 MB, with a margin); the moov, a
 * `free` box for what is left of the room, and the mdat header are written into that room at the end. The
 * inputs are read once and the media written once, as ffmpeg does; if the estimate was short, the media
 * is moved behind a head of the right size.
 */
async function remuxStreaming(
  inputs: readonly string[],
  sniffed: { format: KnownFormat; segment: boolean }[],
  options: RemuxOptions,
): Promise<RemuxResult> {
  const sizes = inputs.map((p) => statInput(p));
  const total = sizes.reduce((a, b) => a + b, 0);
  const out = await AtomicFile.create(options.output);
  const writer = new PieceWriter(out, [], 8 << 20);
  const warnings: RemuxResult['warnings'] = [];
  const demuxed: DemuxedInput[] = [];
  const progress = progressReporter(options, 'remux', total);
  let reserved: number | undefined;
  let held: Uint8Array[] = [];
  let payloadPos = 0;
  let samplesSeen = 0;
  let bytesIn = 0;
  let sinceYield = 0;
  const reserve = async (): Promise<void> => {
    const perByte = samplesSeen / Math.max(1, bytesIn);
    const estimate = Math.ceil(perByte * total * 1.2) + 256;
    reserved = options.moovRoom ?? 4096 + estimate * MOOV_BYTES_PER_SAMPLE;
    out.reserve(reserved);
    for (const b of held) if (!writer.tryAdd({ bytes: b })) await writer.add({ bytes: b });
    held = [];
  };
  try {
    for (const [i, input] of inputs.entries()) {
      const fd = openInputSync(input);
      const demuxer = createDemuxer((sniffed[i] as { format: KnownFormat }).format);
      const tracks = new Map<number, TrackInfo>();
      const samples: Sample[] = [];
      // The current and the previous chunk, to find FLV payloads (input ranges) without re-reading.
      let cur = new Uint8Array(0);
      let curAt = 0;
      let prev = new Uint8Array(0);
      let prevAt = 0;
      const payloadOf = (s: Sample): Uint8Array => {
        if (s.data) return s.data;
        const at = s.offset ?? 0;
        if (at >= curAt && at + s.size <= curAt + cur.length)
          return cur.subarray(at - curAt, at - curAt + s.size);
        if (at >= prevAt && at + s.size <= prevAt + prev.length) {
          return prev.subarray(at - prevAt, at - prevAt + s.size);
        }
        if (at >= prevAt && at + s.size <= curAt + cur.length && prevAt + prev.length === curAt) {
          const b = new Uint8Array(s.size);
          const fromPrev = Math.max(0, prevAt + prev.length - at);
          b.set(prev.subarray(at - prevAt, at - prevAt + fromPrev), 0);
          b.set(cur.subarray(0, s.size - fromPrev), fromPrev);
          return b;
        }
        const b = new Uint8Array(s.size); // a payload larger than two chunks: read it again
        if (readSync(fd, b, 0, s.size, at) !== s.size) {
          throw new InputError(`${input} ended inside a sample at byte ${at}`, {
            code: 'E_INPUT_CHANGED',
            details: { path: input, offset: at },
          });
        }
        return b;
      };
      const take = async (o: ReturnType<typeof demuxer.push>): Promise<void> => {
        for (const t of o.tracks) if (!tracks.has(t.id)) tracks.set(t.id, t);
        for (const w of o.warnings) warnings.push({ ...w, input });
        for (const s of o.samples) {
          const bytes = payloadOf(s);
          s.data = undefined;
          s.offset = payloadPos;
          payloadPos += s.size;
          samples.push(s);
          samplesSeen++;
          if (reserved === undefined)
            held.push(bytes.buffer === cur.buffer || bytes.buffer === prev.buffer ? bytes.slice() : bytes);
          else if (!writer.tryAdd({ bytes })) await writer.add({ bytes });
        }
      };
      try {
        let position = 0;
        const size = sizes[i] as number;
        while (position < size) {
          if (options.signal?.aborted) throw new InterruptedError();
          const chunk = new Uint8Array(Math.min(4 << 20, size - position));
          const n = readSync(fd, chunk, 0, chunk.length, position);
          if (n === 0) break;
          prev = cur;
          prevAt = curAt;
          cur = n === chunk.length ? chunk : chunk.subarray(0, n);
          curAt = position;
          position += n;
          bytesIn += n;
          await take(demuxer.push(cur));
          if (reserved === undefined && bytesIn >= 16 << 20) await reserve();
          progress(bytesIn);
          if ((sinceYield += n) >= 64 << 20) {
            sinceYield = 0;
            await new Promise((r) => setImmediate(r));
          }
        }
        await take(demuxer.end());
      } catch (err) {
        if (err instanceof CastkitError && err.category === 'input' && !err.message.includes(input)) {
          throw new InputError(`${input}: ${err.message}`, {
            code: err.code,
            hint: err.hint,
            details: { ...err.details, path: input },
            cause: err,
          });
        }
        throw err;
      } finally {
        closeSync(fd);
      }
      if (tracks.size === 0 || samples.length === 0) {
        throw new InputError(`${input} has no audio or video samples castkit can remux`, {
          code: 'E_NO_SAMPLES',
          hint: 'check that the input plays; castkit remuxes H.264, HEVC, AAC and MP3',
          details: { path: input },
        });
      }
      demuxed.push({ name: input, tracks: [...tracks.values()], samples });
    }
    if (reserved === undefined) await reserve();
    await writer.flush();

    const timeline = joinInputs(demuxed);
    for (const w of timeline.warnings) warnings.push({ ...w, input: inputs[0] ?? '' });
    const tracks = timeline.tracks.map(withDetails);
    const planOptions = { explicitOffsets: true, payloadSize: payloadPos };
    let plan = planMp4(tracks as Mp4WriterTrack[], timeline.samples, planOptions);
    const room = reserved as number;
    if (plan.head.length <= room - 8 || plan.head.length === room) {
      plan = planMp4(tracks as Mp4WriterTrack[], timeline.samples, { ...planOptions, headSize: room });
      await out.writeAt(plan.head, 0);
      await out.commit();
    } else {
      // More samples than estimated: a head of the right size, then the media moved behind it.
      await rewriteWithHead(out, plan.head, room, payloadPos, options.output);
    }
    const counts = new Map<number, number>();
    for (const sm of timeline.samples) counts.set(sm.trackId, (counts.get(sm.trackId) ?? 0) + 1);
    return {
      output: options.output,
      format: 'mp4',
      inputs: inputs.length,
      bytesIn,
      bytesOut: (plan.head.length <= room ? room : plan.head.length) + payloadPos,
      durationSec: timeline.durationSec,
      tracks: tracks.map((t) => summary(t, counts.get(t.id) ?? 0)),
      warnings,
    };
  } catch (err) {
    await out.abort();
    throw err;
  }
}

async function remuxToMp4(
  inputs: readonly string[],
  sniffed: { format: KnownFormat; segment: boolean }[],
  format: RemuxFormat,
  options: RemuxOptions,
): Promise<RemuxResult> {
  const out = await AtomicFile.create(options.output);
  const store = new PayloadStore(`${out.tempPath}.spill`);
  const warnings: RemuxResult['warnings'] = [];
  let bytesIn = 0;
  try {
    // Pass 1: demux every input into tables (payloads stay in the inputs or go to the spill file).
    const demuxed: DemuxedInput[] = [];
    let totalIn = 0;
    const sizes: number[] = [];
    for (const input of inputs) {
      const size = statInput(input);
      sizes.push(size);
      totalIn += size;
    }
    const readProgress = progressReporter(options, 'read', totalIn);
    // The last init segment seen (an MP4 with tracks and no samples), for the media segments after it.
    let init: Uint8Array | undefined;
    let sinceYield = 0;
    for (const [i, input] of inputs.entries()) {
      const { format: inFormat, segment } = sniffed[i] as { format: KnownFormat; segment: boolean };
      const size = sizes[i] as number;
      // Synchronous reads: inputs are often thousands of small chunks, where a round of async calls each
      // costs more than the reading. The loop yields to the event loop now and then for signals.
      const fd = openInputSync(input);
      const demuxer = createDemuxer(inFormat, { allocate: (n) => store.allocate(n) });
      const tracks = new Map<number, TrackInfo>();
      const samples: Stored[] = [];
      // A media segment is demuxed after its init segment; its sample offsets are moved back by that much.
      let bias = 0;
      const take = async (o: ReturnType<typeof demuxer.push>): Promise<void> => {
        for (const t of o.tracks) if (!tracks.has(t.id)) tracks.set(t.id, t);
        for (const w of o.warnings) warnings.push({ ...w, input });
        for (const s of o.samples) {
          if (bias !== 0 && s.offset !== undefined) s.offset -= bias;
          if (s.data) {
            let at = store.addToMemory(s.data);
            const where = at >= 0 ? 'memory' : 'file';
            if (at < 0) at = await store.addToFile(s.data);
            samples.push({
              trackId: s.trackId,
              dts: s.dts,
              cts: s.cts,
              duration: s.duration,
              keyframe: s.keyframe,
              size: s.size,
              offset: at,
              store: where,
            });
          } else samples.push(s);
        }
      };
      if (segment) {
        if (!init) {
          closeSync(fd);
          throw new InputError(`${input} is a fragmented MP4 media segment with no init segment before it`, {
            code: 'E_NO_INIT_SEGMENT',
            hint: 'give the init segment (the file with the moov, often init.mp4) first: castkit remux init.mp4 seg*.m4s -o out.mp4',
            details: { path: input },
          });
        }
        await take(demuxer.push(init));
        bias = init.length;
      }
      try {
        // Read in order; jump over what the demuxer says it will not look at (MP4 sample data).
        let position = 0;
        const seekable = demuxer.skippable !== undefined;
        const chunkSize = seekable ? 256 << 10 : 4 << 20;
        while (position < size) {
          if (options.signal?.aborted) throw new InterruptedError();
          const skippable = Math.min(demuxer.skippable?.() ?? 0, size - position);
          if (skippable > 0 && demuxer.skipAhead) {
            await take(demuxer.skipAhead(skippable));
            position += skippable;
            bytesIn += skippable;
            continue;
          }
          const chunk = new Uint8Array(Math.min(chunkSize, size - position));
          const bytesRead = readSync(fd, chunk, 0, chunk.length, position);
          if (bytesRead === 0) break;
          if ((sinceYield += bytesRead) >= 64 << 20) {
            sinceYield = 0;
            await new Promise((r) => setImmediate(r));
          }
          position += bytesRead;
          bytesIn += bytesRead;
          await take(demuxer.push(bytesRead === chunk.length ? chunk : chunk.subarray(0, bytesRead)));
          readProgress(bytesIn);
        }
        await take(demuxer.end());
      } catch (err) {
        if (err instanceof CastkitError && err.category === 'input' && !err.message.includes(input)) {
          throw new InputError(`${input}: ${err.message}`, {
            code: err.code,
            hint: err.hint,
            details: { ...err.details, path: input },
            cause: err,
          });
        }
        throw err;
      } finally {
        closeSync(fd);
      }
      if (inFormat === 'mp4' && !segment && tracks.size > 0 && samples.length === 0 && size <= 64 << 20) {
        init = await readWhole(input, size); // an init segment: it describes the segments after it
        continue;
      }
      if (tracks.size === 0 || samples.length === 0) {
        throw new InputError(`${input} has no audio or video samples castkit can remux`, {
          code: 'E_NO_SAMPLES',
          hint: 'check that the input plays; castkit remuxes H.264, HEVC, AAC and MP3',
          details: { path: input },
        });
      }
      demuxed.push({ name: input, tracks: [...tracks.values()], samples });
    }
    await store.flush();

    const timeline = options.merge ? mergeInputs(demuxed) : joinInputs(demuxed);
    for (const w of timeline.warnings) warnings.push({ ...w, input: inputs[0] ?? '' });
    let tracks = timeline.tracks.map(withDetails);
    let samples = timeline.samples;
    if (extname(options.output).toLowerCase() === '.m4a') {
      tracks = tracks.filter((t) => t.kind === 'audio');
      if (tracks.length === 0) {
        throw new InputError('the inputs have no audio for an .m4a output', { code: 'E_NO_AUDIO' });
      }
      const keep = new Set(tracks.map((t) => t.id));
      samples = samples.filter((s) => keep.has(s.trackId));
    }
    const memoryIndex = demuxed.length;
    const fileIndex = demuxed.length + 1;
    const sourceOf = (s: (typeof samples)[number]): number => {
      const where = (s as Stored).store;
      return where === undefined ? s.input : where === 'memory' ? memoryIndex : fileIndex;
    };

    // Timeline samples name their input by its place among the demuxed inputs (init segments are not).
    const sources: PieceSource[] = demuxed.map((d) => ({ name: d.name, path: d.name }));
    sources.push(store.memorySource(), store.fileSource());
    const writeTotal = (s: number): number => s;
    let payload = 0;
    for (const s of samples) payload += s.size;
    const writeProgress = progressReporter(options, 'write', writeTotal(payload));
    const writer = new PieceWriter(out, sources, 8 << 20, writeProgress);
    try {
      if (format === 'fmp4') {
        await writer.add({ bytes: writeInitSegment(tracks as Mp4WriterTrack[]) });
        const fragments = fragmentAtKeyframes(samples, {
          tracks,
          minDuration: options.fragmentDuration ?? 1,
        });
        let seq = 1;
        for (const fragment of fragments) {
          await writer.add({ bytes: writeFragment(seq++, fragment) });
          for (const ft of fragment) {
            for (const s of ft.samples) {
              const piece = {
                source: sourceOf(s as (typeof samples)[number]),
                offset: s.offset ?? 0,
                size: s.size,
              };
              if (!writer.tryAdd(piece)) await writer.add(piece);
            }
          }
          if (options.signal?.aborted) throw new InterruptedError();
        }
      } else {
        const plan = planMp4(tracks as Mp4WriterTrack[], samples, { faststart: options.faststart ?? true });
        await writer.add({ bytes: plan.head });
        // Neighbouring samples stored back to back in one input move as one range.
        let run: { source: number; offset: number; size: number } | undefined;
        let n = 0;
        for (const s of samples) {
          const source = sourceOf(s);
          const offset = s.offset ?? 0;
          if (run && run.source === source && run.offset + run.size === offset) {
            run.size += s.size;
            continue;
          }
          if (run && !writer.tryAdd(run)) await writer.add(run);
          run = { source, offset, size: s.size };
          if ((++n & 0xfff) === 0 && options.signal?.aborted) throw new InterruptedError();
        }
        if (run && !writer.tryAdd(run)) await writer.add(run);
        await writer.add({ bytes: plan.tail });
      }
      await writer.flush();
    } finally {
      await writer.close();
    }
    await out.commit();
    const counts = new Map<number, number>();
    for (const s of samples) counts.set(s.trackId, (counts.get(s.trackId) ?? 0) + 1);
    return {
      output: options.output,
      format,
      inputs: inputs.length,
      bytesIn,
      bytesOut: out.bytesWritten,
      durationSec: timeline.durationSec,
      tracks: tracks.map((t) => summary(t, counts.get(t.id) ?? 0)),
      warnings,
    };
  } catch (err) {
    await out.abort();
    throw err;
  } finally {
    await store.dispose();
  }
}

function summary(t: TrackInfo, samples: number): RemuxTrackSummary {
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
  return s;
}

function statInput(path: string): number {
  try {
    const st = statSync(path);
    if (st.isDirectory()) {
      throw new InputError(`${path} is a directory, not a media file`, {
        code: 'E_INPUT_IS_DIRECTORY',
        details: { path },
      });
    }
    return st.size;
  } catch (err) {
    if (err instanceof CastkitError) throw err;
    throw new InputError(`no such file: ${path}`, {
      code: 'E_INPUT_NOT_FOUND',
      hint: 'check the path',
      details: { path },
      cause: err,
    });
  }
}

function openInputSync(path: string): number {
  try {
    return openSync(path, 'r');
  } catch (err) {
    throw new InputError(`cannot read ${path}: ${systemErrorCode(err) ?? String(err)}`, {
      code: 'E_INPUT_UNREADABLE',
      details: { path },
      cause: err,
    });
  }
}

function readInputSync(path: string): Uint8Array {
  try {
    const b = readFileSync(path);
    return new Uint8Array(b.buffer, b.byteOffset, b.length);
  } catch (err) {
    throw new InputError(`cannot read ${path}: ${systemErrorCode(err) ?? String(err)}`, {
      code: 'E_INPUT_UNREADABLE',
      details: { path },
      cause: err,
    });
  }
}

/** The rare case of a head larger than the room reserved: a new file with the head, then the body. */
async function rewriteWithHead(
  first: AtomicFile,
  head: Uint8Array,
  bodyAt: number,
  bodySize: number,
  path: string,
): Promise<void> {
  const out = await AtomicFile.create(path);
  const writer = new PieceWriter(out, [{ name: 'joined body', path: first.tempPath }], 8 << 20);
  try {
    await writer.add({ bytes: head });
    await writer.add({ source: 0, offset: bodyAt, size: bodySize });
    await writer.flush();
    await writer.close();
    await out.commit();
  } catch (err) {
    await writer.close();
    await out.abort();
    throw err;
  }
  await first.abort();
}

async function readWhole(path: string, size: number): Promise<Uint8Array> {
  const { handle } = await openInput(path);
  try {
    const buf = new Uint8Array(size);
    let got = 0;
    while (got < size) {
      const { bytesRead } = await handle.read(buf, got, size - got, got);
      if (bytesRead === 0) break;
      got += bytesRead;
    }
    return buf.subarray(0, got);
  } finally {
    await handle.close();
  }
}

/** FLV chunks -> one FLV: one header, one onMetaData, repaired timestamps (the ustream case). */
async function joinFlv(inputs: readonly string[], options: RemuxOptions): Promise<RemuxResult> {
  const sizes: number[] = [];
  for (const input of inputs) sizes.push(statInput(input));
  const total = sizes.reduce((a, b) => a + b, 0);
  const joiner = new FlvJoiner();
  const out = await AtomicFile.create(options.output);
  const readProgress = progressReporter(options, 'join', total);
  const writer = new PieceWriter(out, [], 8 << 20);
  // The onMetaData goes first but is known only at the end (duration, keyframe index): the body is
  // written as the chunks are read, after room reserved for it from the keyframe rate of the first chunks.
  let reserved: number | undefined;
  let held: { buf: Uint8Array; pieces: FlvPiece[] }[] = [];
  let heldBytes = 0;
  let bytesIn = 0;
  const emit = async (buf: Uint8Array, pieces: FlvPiece[]): Promise<void> => {
    for (const p of pieces) {
      const piece = { bytes: 'bytes' in p ? p.bytes : buf.subarray(p.offset, p.offset + p.size) };
      if (!writer.tryAdd(piece)) await writer.add(piece);
    }
  };
  let result: FlvJoinResult;
  try {
    for (const [i, input] of inputs.entries()) {
      if (options.signal?.aborted) throw new InterruptedError();
      // Chunks are small and many: a synchronous read each is far cheaper than a round of async calls.
      const buf = readInputSync(input);
      bytesIn += buf.length;
      const { pieces } = joiner.push(buf);
      if (reserved === undefined) {
        held.push({ buf, pieces });
        heldBytes += buf.length;
        if (heldBytes < 16 << 20 && held.length < 64 && i < inputs.length - 1) continue;
        const estimate = Math.ceil((joiner.keyframeCount / Math.max(1, bytesIn)) * total * 1.25) + 32;
        reserved = joiner.headSizeBound(estimate);
        out.reserve(reserved);
        for (const h of held) await emit(h.buf, h.pieces);
        held = [];
      } else {
        await emit(buf, pieces);
      }
      readProgress(bytesIn);
    }
    await writer.flush();
    try {
      result = joiner.finish({ headSize: reserved });
      await out.writeAt(result.head, 0);
      await out.commit();
    } catch (err) {
      if (!(err instanceof RangeError)) throw err;
      // More keyframes than estimated: write the head, then move the body behind it.
      result = joiner.finish();
      await rewriteWithHead(out, result.head, reserved ?? 0, result.bodySize, options.output);
    }
  } catch (err) {
    await out.abort();
    throw err;
  }
  const warnings: RemuxResult['warnings'] = [];
  for (const r of result.reports) {
    const input = inputs[r.index] ?? '';
    for (const w of r.warnings) warnings.push({ ...w, input });
    if (r.error)
      warnings.push({
        code: r.error.code,
        message: `skipped: ${r.error.message}`,
        offset: r.error.offset,
        input,
      });
  }
  const m = result.metadata;
  const tracks: RemuxTrackSummary[] = [];
  if (m.videocodecid !== undefined) {
    const v: RemuxTrackSummary = { kind: 'video', codec: m.videocodecid === 7 ? 'avc' : 'hevc' };
    if (m.width) v.width = m.width;
    if (m.height) v.height = m.height;
    tracks.push(v);
  }
  if (m.audiocodecid !== undefined) {
    const a: RemuxTrackSummary = { kind: 'audio', codec: m.audiocodecid === 10 ? 'aac' : 'mp3' };
    if (m.audiosamplerate) a.sampleRate = m.audiosamplerate;
    tracks.push(a);
  }
  return {
    output: options.output,
    format: 'flv',
    inputs: inputs.length,
    bytesIn,
    bytesOut: result.size,
    durationSec: result.durationMs / 1000,
    tracks,
    warnings,
    join: result.summary,
  };
}
