/**
 * Joins many complete FLV files ("chunks", as served by ustream's UMS segmented FLV) into one FLV
 * (FLV spec v10.1 Annex E), as a plan of output pieces: small rewritten tag headers interleaved with tag
 * bodies moved as ranges of the input chunks. Nothing is copied here and no chunk is kept after push().
 *
 * What a naive join (strip 13 bytes, append) gets wrong and this repairs, reporting every repair:
 * - one FLV header and one onMetaData, with the real duration, file size and a keyframe index
 *   (`keyframes: {times, filepositions}`), instead of one onMetaData per chunk;
 * - a sequence header (AVC/HEVC decoder configuration, AAC AudioSpecificConfig) only when it changes;
 * - video info/command frames and end-of-sequence tags (ffmpeg writes one at the end of every file) dropped;
 * - timestamps continuous and monotonic: a chunk that restarts at 0 or steps back, or jumps forward by
 *   more than `maxGapMs` (every track jumping: sparse video over running audio is no gap), is shifted to
 *   continue one frame after the previous chunk's last frame; a chunk that overlaps the previous one
 *   loses the tags at or before the last written time of their track. A whole chunk moves by one shift,
 *   so audio and video keep their relative offsets; a discontinuity inside a chunk splits it there.
 *
 * Overlap versus restart: a chunk whose time steps back is an overlap when the tags landing on written
 * time are the written tags again (same size and hash of their bytes), also when the repeat carries reset
 * timestamps (found by content). A step back of at most a frame is an overlap too. Anything else going
 * back is a restart: its tags are new content and are moved after the end, not dropped.
 *
 * The output is: `head` (file header + onMetaData, known only at finish()) then every chunk's pieces in
 * order. onMetaData holds only fixed-size AMF0 values, so its size follows from the keyframe count and
 * the keyframe file positions are computed as (head size + position in the pieces).
 */
import { copyOf, sameBytes } from '../../core/bytes.js';
import { CastkitError, FormatError } from '../../core/errors.js';
import type { FormatWarning } from '../media.js';
import { decodeAmf0, decodeAmf0All, isAmfObject, type AmfObject } from './amf0.js';
import { FlvTagReader, type FlvTagSink, type FlvTagView } from './flv-reader.js';
import { fingerprint, FrameHistory, RowFrames, ScanFrames, type PartFrames } from './flv-join-history.js';
import {
  CODEC_SAMPLE,
  F_KEY,
  F_RAW_OK,
  HISTORY_KEEP,
  K_ACONFIG,
  K_AFRAME,
  K_COMMAND,
  K_CONFIG_DUP,
  K_EOS,
  K_META,
  K_SCRIPT,
  K_UNUSABLE,
  K_VCONFIG,
  K_VFRAME,
  K_VOTHER,
  SCAN_CTS,
  SCAN_KEY,
  SCAN_KIND,
  SPAN_RAW,
  SPAN_SPLIT,
  SPANS,
  TRACK_AUDIO as A,
  TRACK_VIDEO as V,
} from './flv-tag-classes.js';
import {
  FlvChunkScan,
  FlvTagRows,
  mediaKind,
  fillRows,
  resolveHooks,
  scanChunk,
  type CleanScanHooks,
} from './flv-tag-rows.js';
import { inBandParams, paramsInsertAt, type InBandParams } from './flv-inband-params.js';
import {
  PREVIOUS_TAG_SIZE,
  TAG_AUDIO,
  TAG_HEADER_SIZE,
  TAG_SCRIPT,
  TAG_VIDEO,
  tagTimestamp,
} from './flv-tags.js';
import {
  flvHeader,
  onMetaDataTag,
  onMetaDataTagSize,
  writePreviousTagSize,
  writeTagHeader,
  type FlvMetadataInfo,
} from './flv-writer.js';

export interface FlvJoinerOptions {
  /**
   * A chunk whose timestamps continue more than this many ms after where the previous chunk ended is a
   * gap and is closed up. Default 1000.
   */
  maxGapMs?: number;
  /** Shift the first chunk so that the output starts at 0 ms. Default true. */
  startAtZero?: boolean;
  /**
   * Output time (ms) the join ends at (`record --duration`): audio and video frames at or after it are
   * left out (counted as `pastEnd`), in tag order, which is decode order. Default: no end.
   */
  endMs?: number;
  /**
   * Write the new timestamps of retimed tags into the chunk's own tag headers (the bytes given to
   * `push` are changed), so that a chunk whose timestamps restart moves as a few large ranges instead
   * of three pieces a tag. For callers that own the chunk bytes and write them out right away.
   */
  rewriteInPlace?: boolean;
  /**
   * Read a chunk whose every tag is well formed with one tight scan (scanCleanFlv) instead of FlvTagReader.
   * Default true; false reads every chunk with the reader (tests compare the two).
   */
  cleanScan?: boolean;
  /**
   * With `rewriteInPlace` and the clean scan: plan a clean chunk that continues, restarts or jumps (no
   * overlap, no split, no change of video configuration after the first) in one pass over its bytes, with
   * no table of rows. Default true; false plans every chunk from rows (tests compare the two).
   */
  onePass?: boolean;
}

/** Output bytes: either bytes made by the joiner or a range of input chunk number `chunk` (0-based). */
export type FlvPiece = { bytes: Uint8Array } | { chunk: number; offset: number; size: number };

/**
 * How a chunk's timestamps related to the output so far:
 * first (the first usable chunk), continuous (ran on, gaps up to maxGapMs kept), gap (jumped forward,
 * closed up), restart (went back, e.g. to 0: moved to continue), overlap (repeated tags of the previous
 * chunk: duplicates dropped), empty (no audio or video frames), invalid (not an FLV file: skipped).
 */
export type FlvChunkKind = 'first' | 'continuous' | 'gap' | 'restart' | 'overlap' | 'empty' | 'invalid';

export interface FlvDropCounts {
  /** Audio/video frames already written (time <= last written time of their track, from an earlier chunk). */
  duplicate: number;
  /** Frames going back in time within the chunk. */
  nonMonotonic: number;
  /** Sequence headers identical to the one in force. */
  sequenceHeader: number;
  /** onMetaData script tags (one new one is written at the head). */
  metadata: number;
  /** Video info/command frames (FrameType 5). */
  command: number;
  /** AVC/HEVC end-of-sequence tags. */
  endOfSequence: number;
  /** Audio and video frames at or after the end (`endMs`). */
  pastEnd: number;
  /** Tags too short for their own header, or unreadable script data. */
  unusable: number;
}

export interface FlvChunkReport {
  index: number;
  kind: FlvChunkKind;
  /** Input timestamp (ms) of the chunk's first audio or video frame. */
  firstTimestamp?: number;
  /** ms added to every timestamp of this chunk. */
  shift: number;
  /**
   * ms this chunk was moved relative to where its own timestamps put it (shift minus the previous chunk's
   * shift): positive after a restart, negative when a gap was closed, 0 otherwise.
   */
  correction: number;
  tags: number;
  kept: number;
  dropped: FlvDropCounts;
  videoConfigChanged: boolean;
  audioConfigChanged: boolean;
  /**
   * Further discontinuities inside the chunk (time going back, or jumping forward by more than
   * maxGapMs), each placed like a chunk of its own from the tag at `tagOffset` on.
   */
  splits: { tagOffset: number; kind: FlvChunkKind; correction: number }[];
  /** Reader warnings; offsets are within the chunk. */
  warnings: FormatWarning[];
  /** Why an invalid chunk was skipped. */
  error?: { code: string; message: string; offset: number };
}

export interface FlvChunkPlan {
  index: number;
  /** Write these after the head and the pieces of the chunks before. */
  pieces: FlvPiece[];
  /** Bytes the pieces add up to. */
  size: number;
  report: FlvChunkReport;
}

export interface FlvJoinSummary {
  chunks: number;
  invalid: number;
  restarts: number;
  gapsClosed: number;
  overlaps: number;
  dropped: FlvDropCounts;
}

export interface FlvJoinResult {
  /** FLV header + PreviousTagSize0 + onMetaData tag: the first bytes of the output. */
  head: Uint8Array;
  /** Bytes of all chunk pieces together. */
  bodySize: number;
  /** Total output size: head + body. */
  size: number;
  durationMs: number;
  keyframes: { times: number[]; filepositions: number[] };
  metadata: FlvMetadataInfo;
  reports: FlvChunkReport[];
  summary: FlvJoinSummary;
}

const NO_BYTES = new Uint8Array(0);

function zeroDrops(): FlvDropCounts {
  return {
    duplicate: 0,
    nonMonotonic: 0,
    sequenceHeader: 0,
    metadata: 0,
    command: 0,
    endOfSequence: 0,
    pastEnd: 0,
    unusable: 0,
  };
}

function finite(v: unknown): number | undefined {
  return typeof v === 'number' && Number.isFinite(v) ? v : undefined;
}

interface Placement {
  kind: FlvChunkKind;
  shift: number;
  correction: number;
}

/**
 * Output being built for one chunk: joiner-made bytes go to `pool` (made on first use, room for every tag
 * of the chunk: most chunks need none), input ranges are merged when adjacent.
 */
interface Emitter {
  index: number;
  pool: Uint8Array;
  poolSize: number;
  poolStart: number;
  poolPos: number;
  pieces: FlvPiece[];
  lastRange: { chunk: number; offset: number; size: number } | undefined;
}

function flushBytes(e: Emitter): void {
  if (e.poolPos > e.poolStart) {
    e.pieces.push({ bytes: e.pool.subarray(e.poolStart, e.poolPos) });
    e.poolStart = e.poolPos;
    e.lastRange = undefined;
  }
}

function addRange(e: Emitter, offset: number, size: number): void {
  flushBytes(e);
  const last = e.lastRange;
  if (last !== undefined && last.offset + last.size === offset) last.size += size;
  else {
    e.lastRange = { chunk: e.index, offset, size };
    e.pieces.push(e.lastRange);
  }
}

export class FlvJoiner implements FlvTagSink {
  private readonly maxGap: number;
  private readonly startAtZero: boolean;
  private readonly endMs: number;
  private count = 0;
  private started = false;
  private prevShift = 0;
  /** Last written frame time per track (V, A); -Infinity before any. */
  private readonly lastOut = [-Infinity, -Infinity];
  /** Estimated frame duration per track, ms. */
  private readonly dur = [0, 0];
  private readonly bytesPerTrack = [0, 0];
  private maxEnd = 0;
  private minStart = Infinity;
  private lastTagTime = 0;
  private bodySize = 0;
  private readonly kfTimes: number[] = [];
  private readonly kfPos: number[] = [];
  private videoConfig: Uint8Array | undefined;
  private audioConfig: Uint8Array | undefined;
  private meta: AmfObject | undefined;
  private videoCodecId: number | undefined;
  private audioCodecId: number | undefined;
  /** The first chunk's codecs (see requireSameCodecs). */
  private firstVideoCodec: number | undefined;
  private firstAudioCodec: number | undefined;
  private readonly reports: FlvChunkReport[] = [];

  /** The last frames written: looked up only for chunks that step back over written time. */
  private readonly history = new FrameHistory();

  /** The current chunk's tags. */
  private readonly rows = new FlvTagRows();
  private readonly scan = new FlvChunkScan();
  /** trackSpans' result. */
  private readonly span = new Float64Array(7);
  /** The spans of the whole current chunk, from the clean scan; valid while `scanned`. */
  private readonly chunkSpans = new Float64Array(SPANS);
  private scanned = false;
  /** Index of the first tag of the current chunk's last HISTORY_KEEP frames. */
  private tailFrom = 0;
  private readonly inPlace: boolean;
  private readonly cleanScan: boolean;
  private readonly onePass: boolean;
  private onePassCount = 0;
  /** The chunk being planned (during push() only). */
  private cur: Uint8Array = NO_BYTES;
  private report: FlvChunkReport | undefined;
  private chunkVideoConfigChanged = false;
  /** A video sequence header has been written; the parameter sets of a changed one, until a keyframe. */
  private videoConfigWritten = false;
  private pendingParams: InBandParams | undefined;
  private chunkAudioConfigChanged = false;

  constructor(options: FlvJoinerOptions = {}) {
    this.maxGap = options.maxGapMs ?? 1000;
    this.startAtZero = options.startAtZero ?? true;
    this.endMs = options.endMs ?? Infinity;
    this.inPlace = options.rewriteInPlace ?? false;
    this.cleanScan = options.cleanScan ?? true;
    this.onePass = this.inPlace && this.cleanScan && (options.onePass ?? true);
  }

  /** Plans one chunk (a complete FLV file). The chunk's bytes are not kept. */
  push(chunk: Uint8Array): FlvChunkPlan {
    const index = this.count++;
    const report: FlvChunkReport = {
      index,
      kind: 'empty',
      shift: this.prevShift,
      correction: 0,
      tags: 0,
      kept: 0,
      dropped: zeroDrops(),
      videoConfigChanged: false,
      audioConfigChanged: false,
      splits: [],
      warnings: [],
    };
    this.reports.push(report);
    this.report = report;
    this.chunkVideoConfigChanged = this.chunkAudioConfigChanged = false;
    const scan = this.scan;
    const spans = this.chunkSpans;
    let sample: CodecSample;
    let onePass = false;
    this.scanned = this.cleanScan && scanChunk(chunk, scan, spans, this.maxGap);
    if (this.scanned) {
      const vconfigs = resolveHooks(chunk, scan, this.hooks);
      const framesV = spanFrames(spans, V);
      const framesA = spanFrames(spans, A);
      if (framesV > 0) this.videoCodecId ??= scan.codecs[0];
      if (framesA > 0) this.audioCodecId ??= scan.codecs[CODEC_SAMPLE];
      sample = {
        codecs: scan.codecs,
        video: Math.min(framesV, CODEC_SAMPLE),
        audio: Math.min(framesA, CODEC_SAMPLE),
      };
      // In one pass: no split, every tag header as the joiner would write it, and no change of video
      // configuration after the first (its parameter sets go into the next keyframe).
      onePass =
        this.onePass &&
        spans[SPAN_SPLIT] === 0 &&
        spans[SPAN_RAW] !== 0 &&
        this.pendingParams === undefined &&
        vconfigs <= (this.videoConfigWritten ? 0 : 1);
    } else {
      // Configurations as of the chunk start: restored if the reader finds the chunk unusable.
      const savedVideo = this.videoConfig;
      const savedAudio = this.audioConfig;
      this.rows.count = 0;
      try {
        const reader = new FlvTagReader();
        reader.push(chunk, this);
        reader.end(this);
      } catch (err) {
        if (!(err instanceof FormatError)) throw err;
        this.videoConfig = savedVideo;
        this.audioConfig = savedAudio;
        report.kind = 'invalid';
        report.error = { code: err.code, message: err.message, offset: err.offset };
        this.report = undefined;
        return { index, pieces: [], size: 0, report };
      }
      sample = this.codecSampleFromRows(chunk);
    }
    this.report = undefined;
    this.requireSameCodecs(sample);
    report.tags = this.scanned ? scan.count : this.rows.count;
    report.videoConfigChanged = this.chunkVideoConfigChanged;
    report.audioConfigChanged = this.chunkAudioConfigChanged;
    if (onePass) {
      const plan = this.planOnePass(chunk, index, report);
      if (plan !== undefined) {
        this.onePassCount++;
        return plan;
      }
    }
    if (this.scanned) fillRows(chunk, scan, this.rows);
    this.cur = chunk;
    let from = this.rows.count;
    for (let frames = 0; from > 0 && frames < HISTORY_KEEP;) {
      const k = this.rows.kind[--from] as number;
      if (k === K_VFRAME || k === K_AFRAME) frames++;
    }
    this.tailFrom = from;
    for (let i = 0; i < from; i++) {
      const k = this.rows.kind[i] as number;
      if (k === K_VFRAME || k === K_AFRAME) {
        this.history.skipped();
        break;
      }
    }
    try {
      return this.plan(index, report);
    } finally {
      this.cur = NO_BYTES;
    }
  }

  // ---- one pass (most chunks of a join) ----

  /**
   * Plans a chunk push() found fit (clean, no split, no rewritten header, no change of video configuration
   * after the first) in one pass over its bytes, without rows, unless place() finds it overlaps what was
   * written: undefined then, with nothing changed but `report`'s placement (place() again fills it), and
   * the chunk is planned from rows, whose emit() drops the repeated tags one by one.
   */
  private planOnePass(chunk: Uint8Array, index: number, report: FlvChunkReport): FlvChunkPlan | undefined {
    const spans = this.chunkSpans;
    const bodyStart = this.bodySize;
    const placed = this.place(new ScanFrames(this.scan, chunk), spans, report);
    if (placed.kind === 'overlap') return undefined;
    this.placed(spans, placed.shift);
    const pieces: FlvPiece[] = [];
    const frames = spanFrames(spans, V) + spanFrames(spans, A);
    this.emitOnePass(chunk, index, placed.shift, frames - HISTORY_KEEP, pieces, report);
    return { index, pieces, size: this.bodySize - bodyStart, report };
  }

  /**
   * emit() for a chunk planOnePass takes: the tags straight from the chunk's bytes and their classes from
   * the scan, every kept tag retimed in place and moved with its neighbours as one range, the frames from
   * number `tailFrame` on remembered.
   */
  private emitOnePass(
    b: Uint8Array,
    index: number,
    shift: number,
    tailFrame: number,
    pieces: FlvPiece[],
    report: FlvChunkReport,
  ): void {
    const kinds = this.scan.kinds;
    const n = this.scan.count;
    const history = this.history;
    if (tailFrame > 0) history.skipped();
    const kfTimes = this.kfTimes;
    const kfPos = this.kfPos;
    const prevLastV = this.lastOut[V]!;
    const prevLastA = this.lastOut[A]!;
    let lastV = prevLastV;
    let lastA = prevLastA;
    let bytesV = 0;
    let bytesA = 0;
    let minStart = this.minStart;
    let maxEnd = this.maxEnd;
    let lastTagTime = this.lastTagTime;
    let bodySize = this.bodySize;
    let kept = 0;
    let duplicate = 0;
    let nonMonotonic = 0;
    let pastEnd = 0;
    let vconfig = false;
    const endMs = this.endMs;
    let frame = 0;
    let rangeStart = -1;
    let rangeEnd = -1;
    let p = this.scan.firstTag;
    for (let i = 0; i < n; i++) {
      const tag = p;
      const size = ((b[p + 1] as number) << 16) | ((b[p + 2] as number) << 8) | (b[p + 3] as number);
      const whole = TAG_HEADER_SIZE + size + PREVIOUS_TAG_SIZE;
      p += whole;
      const kf = kinds[i] as number;
      const k = kf & SCAN_KIND;
      const t = tagTimestamp(b, tag);
      let out = t + shift;
      if (k === K_VFRAME || k === K_AFRAME) {
        const tail = frame++ >= tailFrame;
        if (out >= endMs) {
          pastEnd++;
          continue;
        }
        if (k === K_VFRAME) {
          if (out <= prevLastV) {
            duplicate++;
            continue;
          }
          if (out < lastV || out > 0xffffffff) {
            nonMonotonic++;
            continue;
          }
          lastV = out;
          bytesV += size;
          // The CompositionTime (si24) read in line, as every read of this loop (see scanChunk).
          const pts =
            (kf & SCAN_CTS) === 0
              ? out
              : out +
                (((((b[tag + 13] as number) << 16) |
                  ((b[tag + 14] as number) << 8) |
                  (b[tag + 15] as number)) <<
                  8) >>
                  8);
          if (pts < minStart) minStart = pts;
          if (pts > maxEnd) maxEnd = pts;
          if ((kf & SCAN_KEY) !== 0) {
            kfTimes.push(out / 1000);
            kfPos.push(bodySize);
          }
        } else {
          if (out <= prevLastA) {
            duplicate++;
            continue;
          }
          if (out < lastA || out > 0xffffffff) {
            nonMonotonic++;
            continue;
          }
          lastA = out;
          bytesA += size;
          if (out < minStart) minStart = out;
          if (out > maxEnd) maxEnd = out;
        }
        if (tail) history.add(out, k === K_VFRAME ? V : A, fingerprint(b, tag + TAG_HEADER_SIZE, size));
      } else {
        if (k >= K_META) {
          const drops = report.dropped;
          if (k === K_META) drops.metadata++;
          else if (k === K_COMMAND) drops.command++;
          else if (k === K_EOS) drops.endOfSequence++;
          else if (k === K_UNUSABLE) drops.unusable++;
          else if (k === K_CONFIG_DUP) drops.sequenceHeader++;
          if (k !== K_SCRIPT && k !== K_VOTHER) continue;
        }
        // Configs, other script data, other video packets: keep, time-shifted, never before 0.
        if (out < 0) out = 0;
        if (out > 0xffffffff) out = 0xffffffff;
        if (k === K_VCONFIG) vconfig = true;
      }
      kept++;
      if (out > lastTagTime) lastTagTime = out;
      if (out !== t) writeTimestamp(b, tag, out);
      if (tag !== rangeEnd) {
        if (rangeStart >= 0) pieces.push({ chunk: index, offset: rangeStart, size: rangeEnd - rangeStart });
        rangeStart = tag;
      }
      rangeEnd = tag + whole;
      bodySize += whole;
    }
    if (rangeStart >= 0) pieces.push({ chunk: index, offset: rangeStart, size: rangeEnd - rangeStart });
    if (vconfig) this.videoConfigWritten = true;
    this.lastOut[V] = lastV;
    this.lastOut[A] = lastA;
    this.bytesPerTrack[V]! += bytesV;
    this.bytesPerTrack[A]! += bytesA;
    this.minStart = minStart;
    this.maxEnd = maxEnd;
    this.lastTagTime = lastTagTime;
    this.bodySize = bodySize;
    report.kept += kept;
    report.dropped.duplicate += duplicate;
    report.dropped.nonMonotonic += nonMonotonic;
    report.dropped.pastEnd += pastEnd;
  }

  // ---- collection (FlvTagSink, for chunks the clean scan leaves to the reader) ----

  /**
   * The codec ids of the chunk's first CODEC_SAMPLE video frames, then of its first CODEC_SAMPLE audio
   * frames (into `this.scan.codecs`, as the clean scan leaves them), and how many of each there are.
   */
  private codecSampleFromRows(chunk: Uint8Array): CodecSample {
    const r = this.rows;
    const codecs = this.scan.codecs;
    let video = 0;
    let audio = 0;
    for (let i = 0; i < r.count && (video < CODEC_SAMPLE || audio < CODEC_SAMPLE); i++) {
      const at = (r.start[i] as number) + TAG_HEADER_SIZE;
      if (r.kind[i] === K_VFRAME) {
        if (video < CODEC_SAMPLE) codecs[video++] = videoCodecIdAt(chunk, at, (r.size[i] as number) >= 5);
      } else if (r.kind[i] === K_AFRAME) {
        if (audio < CODEC_SAMPLE) codecs[CODEC_SAMPLE + audio++] = (chunk[at] as number) >> 4;
      }
    }
    return { codecs, video, audio };
  }

  /**
   * Throws E_CONCAT_MISMATCH when the chunk is of another video or audio codec than the first chunk: one FLV
   * has one codec per track in its onMetaData and sequence headers, and players decode every later frame
   * with it (an MP3 chunk after AAC ones was silently unplayable). A chunk's codec is the one most of its
   * first frames have, so that a damaged byte in a tag is not taken for a change of codec.
   */
  private requireSameCodecs(sample: CodecSample): void {
    const index = this.count - 1;
    const video = mainCodec(sample.codecs, 0, sample.video);
    const audio = mainCodec(sample.codecs, CODEC_SAMPLE, sample.audio);
    this.firstVideoCodec ??= video;
    this.firstAudioCodec ??= audio;
    if (video !== undefined && this.firstVideoCodec !== undefined && video !== this.firstVideoCodec)
      throw codecMismatch(index, 'video', video, this.firstVideoCodec);
    if (audio !== undefined && this.firstAudioCodec !== undefined && audio !== this.firstAudioCodec)
      throw codecMismatch(index, 'audio', audio, this.firstAudioCodec);
  }

  warning(w: FormatWarning): void {
    this.report?.warnings.push(w);
  }

  tag(t: FlvTagView): void {
    const m = t.media;
    let k: number;
    let flags = t.sizeOk && t.headerClean ? F_RAW_OK : 0;
    if (t.type === TAG_SCRIPT) k = this.script(t.buf, t.at, t.dataSize, t.bodyOffset);
    else {
      const video = t.type === TAG_VIDEO;
      k = mediaKind(video, m, t.buf, t.at, t.dataSize, this.hooks);
      if (k === K_VFRAME) {
        if (m.keyframe) flags |= F_KEY;
        if (this.videoCodecId === undefined) this.videoCodecId = videoCodecIdAt(t.buf, t.at, t.avail >= 5);
      } else if (k === K_AFRAME && this.audioCodecId === undefined) {
        this.audioCodecId = (t.buf[t.at] as number) >> 4;
      }
    }
    this.rows.add(k, t.timestamp, t.tagOffset, t.dataSize, m.cts, flags);
  }

  /**
   * K_VCONFIG/K_ACONFIG when this sequence header differs from the one in force (and makes it the one in
   * force), K_CONFIG_DUP when it repeats it.
   */
  private readonly config = (b: Uint8Array, at: number, size: number, video: boolean): number => {
    const body = b.subarray(at, at + size);
    const cur = video ? this.videoConfig : this.audioConfig;
    if (cur !== undefined && sameBytes(cur, body)) return K_CONFIG_DUP;
    const copy = copyOf(body);
    if (video) {
      this.videoConfig = copy;
      if (cur !== undefined) this.chunkVideoConfigChanged = true;
      return K_VCONFIG;
    }
    this.audioConfig = copy;
    if (cur !== undefined) this.chunkAudioConfigChanged = true;
    return K_ACONFIG;
  };

  /** The class of a script data tag (K_META for onMetaData, whose first one is kept as `meta`). */
  private readonly script = (b: Uint8Array, at: number, size: number, bodyOffset: number): number => {
    const body = b.subarray(at, at + size);
    let name;
    try {
      name = decodeAmf0(body, 0, { baseOffset: bodyOffset }).value;
    } catch (err) {
      if (!(err instanceof FormatError)) throw err;
      this.report?.warnings.push({
        code: err.code,
        message: `script data tag dropped: ${err.message}`,
        offset: err.offset,
      });
      return K_UNUSABLE;
    }
    if (name !== 'onMetaData' && name !== '@setDataFrame') return K_SCRIPT;
    if (this.meta === undefined) {
      try {
        const values = decodeAmf0All(body, { baseOffset: bodyOffset });
        const md = values[name === 'onMetaData' ? 1 : 2];
        if (md !== undefined && isAmfObject(md)) this.meta = md;
      } catch (err) {
        if (!(err instanceof FormatError)) throw err;
        this.report?.warnings.push({
          code: err.code,
          message: `onMetaData unreadable: ${err.message}`,
          offset: err.offset,
        });
      }
    }
    return K_META;
  };

  private readonly hooks: CleanScanHooks = { config: this.config, script: this.script };

  // ---- planning ----

  /**
   * Splits the chunk where a track's time goes back or jumps forward by more than maxGapMs (a publisher
   * that reconnected mid-chunk, a corrupt timestamp), then places each part like a chunk of its own.
   */
  private plan(index: number, report: FlvChunkReport): FlvChunkPlan {
    const n = this.rows.count;
    // A clean chunk that needs no split (nearly all): its spans came with the scan.
    const whole = this.scanned && this.chunkSpans[SPAN_SPLIT] === 0;
    const bounds = whole ? [0, n] : splitPoints(this.rows, this.maxGap);
    const e: Emitter = {
      index,
      pool: NO_BYTES,
      poolSize: n * (TAG_HEADER_SIZE + PREVIOUS_TAG_SIZE),
      poolStart: 0,
      poolPos: 0,
      pieces: [],
      lastRange: undefined,
    };
    const bodyStart = this.bodySize;
    for (let s = 0; s + 1 < bounds.length; s++) {
      const from = bounds[s] as number;
      const to = bounds[s + 1] as number;
      const span = whole ? this.chunkSpans : trackSpans(this.rows, from, to, this.span);
      const placed = this.place(
        new RowFrames(this.rows, this.cur, from, to),
        span,
        s === 0 ? report : undefined,
      );
      this.placed(span, placed.shift);
      this.emit(from, to, placed.shift, e, report);
      if (s > 0) {
        report.splits.push({
          tagOffset: this.rows.start[from] as number,
          kind: placed.kind,
          correction: placed.correction,
        });
      }
    }
    flushBytes(e);
    return { index, pieces: e.pieces, size: this.bodySize - bodyStart, report };
  }

  /** Decides the shift of a part of the current chunk (see placed()); records it in `report` when given. */
  private place(part: PartFrames, span: Float64Array, report: FlvChunkReport | undefined): Placement {
    const i0 = span[6] as number;
    const hasFrames = i0 >= 0;
    const minFirst = Math.min(
      spanFrames(span, V) ? spanFirst(span, V) : Infinity,
      spanFrames(span, A) ? spanFirst(span, A) : Infinity,
    );
    if (report && hasFrames) report.firstTimestamp = minFirst;

    let shift = this.prevShift;
    let kind: FlvChunkKind;
    if (!hasFrames) {
      kind = 'empty';
      if (!this.started) shift = 0;
    } else if (!this.started) {
      kind = 'first';
      shift = this.startAtZero ? 0 - minFirst : 0; // 0 - x: never -0
    } else {
      // The shift that makes the part continue one frame after the last written frame. Video decides when
      // both tracks can: chunks are cut at video keyframes, so the video timeline is the one that lines
      // up exactly, while audio frames straddle the cut. Audio overlap is then prevented below.
      let need = -Infinity;
      for (let tr = V; tr <= A; tr++) {
        if (need === -Infinity && spanFrames(span, tr) > 0 && this.lastOut[tr]! > -Infinity) {
          need = this.lastOut[tr]! + this.frameDur(tr) - spanFirst(span, tr);
        }
      }
      if (need === -Infinity) {
        // No track in common with what was written: continue after the latest end.
        let end = -Infinity;
        for (let tr = V; tr <= A; tr++) {
          if (this.lastOut[tr]! > -Infinity) end = Math.max(end, this.lastOut[tr]! + this.frameDur(tr));
        }
        need = end - minFirst;
      }
      let overlaps = false;
      for (let tr = V; tr <= A; tr++) {
        if (spanFrames(span, tr) > 0 && spanFirst(span, tr) + this.prevShift <= this.lastOut[tr]!)
          overlaps = true;
      }
      if (!overlaps) {
        // A gap only when every track jumps: sparse video over continuous audio is not a gap.
        let jump = Infinity;
        for (let tr = V; tr <= A; tr++) {
          if (spanFrames(span, tr) > 0 && this.lastOut[tr]! > -Infinity) {
            jump = Math.min(
              jump,
              spanFirst(span, tr) + this.prevShift - this.lastOut[tr]! - this.frameDur(tr),
            );
          }
        }
        if (jump === Infinity) jump = this.prevShift - need;
        if (jump <= this.maxGap) kind = 'continuous';
        else {
          kind = 'gap';
          shift = Math.round(need);
        }
      } else if (this.repeatsHistory(part, this.prevShift, span)) {
        kind = 'overlap';
      } else {
        const aligned = this.alignByContent(part, span);
        if (aligned !== undefined) {
          kind = 'overlap';
          shift = aligned;
        } else if (need - this.prevShift <= Math.max(this.frameDur(V), this.frameDur(A))) {
          // Steps back by about a frame with different bytes: not a restart, just a repeated time.
          // Tags at or before the last written time of their track are dropped as duplicates.
          kind = 'overlap';
        } else {
          kind = 'restart';
          shift = Math.round(need);
        }
      }
      if (kind === 'gap' || kind === 'restart') {
        for (let tr = V; tr <= A; tr++) {
          if (spanFrames(span, tr) > 0 && spanFirst(span, tr) + shift <= this.lastOut[tr]!)
            shift = this.lastOut[tr]! - spanFirst(span, tr) + 1;
        }
      }
    }
    const correction = this.started && hasFrames ? shift - this.prevShift : 0;
    if (report) {
      report.kind = kind;
      report.shift = shift;
      report.correction = correction;
    }
    return { kind, shift, correction };
  }

  /** Takes the placement of a part (whose trackSpans are `span`) under `shift`: what place() decided. */
  private placed(span: Float64Array, shift: number): void {
    for (let tr = V; tr <= A; tr++) {
      const frames = spanFrames(span, tr);
      if (frames < 2) continue;
      const d = (spanLast(span, tr) - spanFirst(span, tr)) / (frames - 1);
      if (d > 0 && d <= 500) this.dur[tr] = d;
    }
    if ((span[6] as number) >= 0) {
      this.started = true;
      this.prevShift = shift;
    }
  }

  /**
   * Writes the plan for tags [from, to) under `shift`, dropping what must go and counting it. The hot loop
   * of a join (once per tag): state is kept in locals and stored back at the end.
   */
  private emit(from: number, to: number, shift: number, e: Emitter, report: FlvChunkReport): void {
    const kinds = this.rows.kind;
    const times = this.rows.ts;
    const starts = this.rows.start;
    const sizes = this.rows.size;
    const flags = this.rows.flags;
    const cur = this.cur;
    const inPlace = this.inPlace;
    const tailFrom = this.tailFrom;
    const prevLastV = this.lastOut[V]!;
    const prevLastA = this.lastOut[A]!;
    let lastV = prevLastV;
    let lastA = prevLastA;
    let bytesV = 0;
    let bytesA = 0;
    let minStart = this.minStart;
    let maxEnd = this.maxEnd;
    let lastTagTime = this.lastTagTime;
    let bodySize = this.bodySize;
    let kept = 0;
    let duplicate = 0;
    let nonMonotonic = 0;
    let pastEnd = 0;
    const endMs = this.endMs;
    // The open input range: runs of tags moved whole are merged into it.
    let rangeStart = -1;
    let rangeEnd = -1;
    for (let i = from; i < to; i++) {
      const k = kinds[i] as number;
      const t = times[i] as number;
      let out = t + shift;
      if (k === K_VFRAME || k === K_AFRAME) {
        if (out >= endMs) {
          pastEnd++;
          continue;
        }
        if (k === K_VFRAME) {
          if (out <= prevLastV) {
            duplicate++;
            continue;
          }
          if (out < lastV || out > 0xffffffff) {
            nonMonotonic++;
            continue;
          }
          lastV = out;
          bytesV += sizes[i] as number;
          const pts = out + (this.rows.cts[i] as number);
          if (pts < minStart) minStart = pts;
          if (pts > maxEnd) maxEnd = pts;
          if (((flags[i] as number) & F_KEY) !== 0) {
            this.kfTimes.push(out / 1000);
            this.kfPos.push(bodySize);
          }
        } else {
          if (out <= prevLastA) {
            duplicate++;
            continue;
          }
          if (out < lastA || out > 0xffffffff) {
            nonMonotonic++;
            continue;
          }
          lastA = out;
          bytesA += sizes[i] as number;
          if (out < minStart) minStart = out;
          if (out > maxEnd) maxEnd = out;
        }
        if (i >= tailFrom) this.remember(i, out, k === K_VFRAME ? V : A);
      } else {
        if (k >= K_META) {
          const drops = report.dropped;
          if (k === K_META) drops.metadata++;
          else if (k === K_COMMAND) drops.command++;
          else if (k === K_EOS) drops.endOfSequence++;
          else if (k === K_UNUSABLE) drops.unusable++;
          else if (k === K_CONFIG_DUP) drops.sequenceHeader++;
          if (k !== K_SCRIPT && k !== K_VOTHER) continue;
        }
        // Configs, other script data, other video packets: keep, time-shifted, never before 0.
        if (out < 0) out = 0;
        if (out > 0xffffffff) out = 0xffffffff;
      }
      kept++;
      if (out > lastTagTime) lastTagTime = out;
      const start = starts[i] as number;
      const size = sizes[i] as number;
      const whole = TAG_HEADER_SIZE + size + PREVIOUS_TAG_SIZE;
      if (k === K_VCONFIG) {
        // A change of configuration: its parameter sets also go into the next keyframe (in-band).
        const body = cur.subarray(start + TAG_HEADER_SIZE, start + TAG_HEADER_SIZE + size);
        if (this.videoConfigWritten) this.pendingParams = inBandParams(body);
        this.videoConfigWritten = true;
      } else if (k === K_VFRAME && this.pendingParams && ((flags[i] as number) & F_KEY) !== 0) {
        const params = this.pendingParams;
        this.pendingParams = undefined;
        const insertAt = paramsInsertAt(cur, start + TAG_HEADER_SIZE, size, params);
        if (insertAt !== undefined) {
          if (rangeStart >= 0) addRange(e, rangeStart, rangeEnd - rangeStart);
          rangeStart = rangeEnd = -1;
          this.emitWithParams(e, start, size, out, insertAt, params.units);
          bytesV += params.units.length;
          bodySize += whole + params.units.length;
          continue;
        }
      }
      if (((flags[i] as number) & F_RAW_OK) !== 0 && (out === t || inPlace)) {
        // The input's own header and PreviousTagSize are right (once the timestamp is written into the
        // header, when allowed): move the tag whole, and runs of such tags as one range.
        if (out !== t) writeTimestamp(cur, start, out);
        if (start !== rangeEnd) {
          // Joiner-made bytes before it are flushed by addRange, in order.
          if (rangeStart >= 0) addRange(e, rangeStart, rangeEnd - rangeStart);
          rangeStart = start;
        }
        rangeEnd = start + whole;
      } else {
        if (rangeStart >= 0) addRange(e, rangeStart, rangeEnd - rangeStart);
        rangeStart = rangeEnd = -1;
        const type =
          k === K_AFRAME || k === K_ACONFIG
            ? TAG_AUDIO
            : k === K_META || k === K_SCRIPT
              ? TAG_SCRIPT
              : TAG_VIDEO;
        if (e.pool === NO_BYTES) e.pool = new Uint8Array(e.poolSize);
        writeTagHeader(e.pool, e.poolPos, type, size, out);
        e.poolPos += TAG_HEADER_SIZE;
        if (size > 0) addRange(e, start + TAG_HEADER_SIZE, size);
        writePreviousTagSize(e.pool, e.poolPos, size);
        e.poolPos += PREVIOUS_TAG_SIZE;
      }
      bodySize += whole;
    }
    if (rangeStart >= 0) addRange(e, rangeStart, rangeEnd - rangeStart);
    this.lastOut[V] = lastV;
    this.lastOut[A] = lastA;
    this.bytesPerTrack[V]! += bytesV;
    this.bytesPerTrack[A]! += bytesA;
    this.minStart = minStart;
    this.maxEnd = maxEnd;
    this.lastTagTime = lastTagTime;
    this.bodySize = bodySize;
    report.kept += kept;
    report.dropped.duplicate += duplicate;
    report.dropped.nonMonotonic += nonMonotonic;
    report.dropped.pastEnd += pastEnd;
  }

  /** A video tag at `start` of the current chunk, retimed to `out`, with `units` inserted at `insertAt`. */
  private emitWithParams(
    e: Emitter,
    start: number,
    size: number,
    out: number,
    insertAt: number,
    units: Uint8Array,
  ): void {
    const grown = size + units.length;
    const bodyAt = start + TAG_HEADER_SIZE;
    if (e.pool === NO_BYTES) e.pool = new Uint8Array(e.poolSize);
    writeTagHeader(e.pool, e.poolPos, TAG_VIDEO, grown, out);
    e.poolPos += TAG_HEADER_SIZE;
    addRange(e, bodyAt, insertAt - bodyAt);
    e.pieces.push({ bytes: units });
    e.lastRange = undefined;
    if (bodyAt + size > insertAt) addRange(e, insertAt, bodyAt + size - insertAt);
    writePreviousTagSize(e.pool, e.poolPos, grown);
    e.poolPos += PREVIOUS_TAG_SIZE;
  }

  private frameDur(tr: number): number {
    const d = this.dur[tr]!;
    if (d > 0) return d;
    const fr = finite(this.meta?.framerate);
    if (tr === V) return fr !== undefined && fr > 0 ? 1000 / fr : 1000 / 30;
    const rate = finite(this.meta?.audiosamplerate);
    return rate !== undefined && rate > 0 ? 1024000 / rate : 1024000 / 44100;
  }

  /** Remembers a written frame (of the chunk's tail), to recognise a later chunk that repeats it. */
  private remember(i: number, out: number, tr: number): void {
    const r = this.rows;
    this.history.add(
      out,
      tr,
      fingerprint(this.cur, (r.start[i] as number) + TAG_HEADER_SIZE, r.size[i] as number),
    );
  }

  /**
   * Under `shift`, do the frames of the part that land on already written time repeat the written
   * frames? Checks those the history remembers from the part's end back (where a repeat meets what was
   * written last, which is remembered), at least 3 and, where it can, one of each track: one track alike
   * is not enough (the same sound under video encoded anew). All that are checked must match, and one of
   * them must be unlike every other remembered frame: frames all alike (silence) tell nothing. A chunk
   * longer than the history's reach that lands on written time is still recognised by its later frames.
   */
  private repeatsHistory(part: PartFrames, shift: number, span: Float64Array): boolean {
    const history = this.history;
    const oldestV = history.oldest(V);
    const oldestA = history.oldest(A);
    // Per track, whether a frame matched, and whether the walk is done with it: the part has no frames of
    // it or the walk went back past the oldest remembered of it.
    let matchedV = false;
    let matchedA = false;
    let doneV = spanFrames(span, V) === 0;
    let doneA = spanFrames(span, A) === 0;
    let checked = 0;
    let distinct = false;
    part.toEnd();
    for (let tr = part.prev(); tr >= 0; tr = part.prev()) {
      const out = part.ts + shift;
      if (out > this.lastOut[tr]!) continue;
      if (out < (tr === V ? oldestV : oldestA)) {
        if (tr === V) doneV = true;
        else doneA = true;
        if (doneV && doneA) break;
        continue;
      }
      const p = history.printAt(out, tr);
      if (p === undefined) continue;
      if (p !== part.print()) return false;
      checked++;
      if (tr === V) matchedV = true;
      else matchedA = true;
      if (!distinct) {
        distinct = history.uniqueTimeOf(p, tr) !== undefined;
        if (!distinct && checked >= 16) return false;
      }
      if (checked >= 3 && distinct && (matchedV || doneV) && (matchedA || doneA)) break;
    }
    return distinct;
  }

  /**
   * Finds the shift that lays the part (whose trackSpans are `span`) onto identical written frames (an
   * overlap whose timestamps were also reset): by its first frame, or else by its last (a chunk sent again
   * whose start is older than the history's reach), when exactly one remembered frame is like it; then the
   * part must repeat what it lands on (repeatsHistory).
   */
  private alignByContent(part: PartFrames, span: Float64Array): number | undefined {
    part.rewind();
    let tr = part.next();
    if (tr < 0) return undefined;
    let at = this.history.uniqueTimeOf(part.print(), tr);
    if (at === undefined) {
      part.toEnd();
      tr = part.prev();
      at = this.history.uniqueTimeOf(part.print(), tr);
      if (at === undefined) return undefined;
    }
    const shift = at - part.ts;
    // A chunk sent again overlaps the end of what was written. One that, laid there, would end before
    // the end of a track is older content coming back (a, b, a joined): new frames, a restart.
    for (let tr = V; tr <= A; tr++) {
      if (spanFrames(span, tr) > 0 && spanLast(span, tr) + shift < this.lastOut[tr]!) return undefined;
    }
    return this.repeatsHistory(part, shift, span) ? shift : undefined;
  }

  /**
   * An upper bound of the head size (file header + onMetaData) for an output with `keyframes` keyframes:
   * a writer that streams the body while joining reserves this much room first, then asks `finish` for a
   * head of exactly that size.
   */
  headSizeBound(keyframes: number): number {
    const full: FlvMetadataInfo = {
      duration: 0,
      filesize: 0,
      width: 0,
      height: 0,
      framerate: 0,
      videocodecid: 0,
      audiocodecid: 0,
      videodatarate: 0,
      audiodatarate: 0,
      audiosamplerate: 0,
      audiosamplesize: 0,
      stereo: true,
      hasVideo: true,
      hasAudio: true,
      lasttimestamp: 0,
      lastkeyframetimestamp: 0,
      lastkeyframelocation: 0,
      keyframes: {
        times: new Array<number>(keyframes).fill(0),
        filepositions: new Array<number>(keyframes).fill(0),
      },
    };
    // + the padding field's own cost (22 bytes at most) and some room.
    return 13 + onMetaDataTagSize(full) + 64;
  }

  /** Chunks planned in one pass (see `onePass`), for tests and diagnostics. */
  get onePassChunks(): number {
    return this.onePassCount;
  }

  /** Keyframes in the output so far. */
  get keyframeCount(): number {
    return this.kfTimes.length;
  }

  /**
   * Builds the head (file header + onMetaData) once every chunk has been pushed. With `headSize`, the head
   * is padded to exactly that many bytes (a RangeError when it needs more), so that it can be written into
   * room reserved before the body.
   */
  finish(options: { headSize?: number } = {}): FlvJoinResult {
    const hasVideo = this.lastOut[V]! > -Infinity;
    const hasAudio = this.lastOut[A]! > -Infinity;
    // Duration is the presentation span: from the first frame shown (B-frame delay and audio priming
    // make that later than 0) to the end of the last one.
    const start = this.minStart === Infinity ? 0 : this.minStart;
    let end = 0;
    if (hasVideo) end = Math.max(end, this.maxEnd, this.lastOut[V]! + this.frameDur(V));
    if (hasAudio) end = Math.max(end, this.lastOut[A]! + this.frameDur(A));
    const durationMs = Math.max(0, end - start);
    const sec = durationMs / 1000;
    const md = this.meta;
    const info: FlvMetadataInfo = { duration: sec, filesize: 0 };
    if (hasVideo) {
      const w = finite(md?.width);
      const h = finite(md?.height);
      if (w !== undefined && h !== undefined) {
        info.width = w;
        info.height = h;
      }
      info.framerate =
        finite(md?.framerate) ?? (this.dur[V]! > 0 ? Math.round(100000 / this.dur[V]!) / 100 : undefined);
      info.videocodecid = finite(md?.videocodecid) ?? this.videoCodecId;
      info.videodatarate = sec > 0 ? (this.bytesPerTrack[V]! * 8) / 1000 / sec : 0;
    }
    if (hasAudio) {
      info.audiocodecid = finite(md?.audiocodecid) ?? this.audioCodecId;
      info.audiodatarate = sec > 0 ? (this.bytesPerTrack[A]! * 8) / 1000 / sec : 0;
      info.audiosamplerate = finite(md?.audiosamplerate);
      info.audiosamplesize = finite(md?.audiosamplesize);
      if (typeof md?.stereo === 'boolean') info.stereo = md.stereo;
    }
    info.hasVideo = hasVideo;
    info.hasAudio = hasAudio;
    info.lasttimestamp = this.lastTagTime / 1000;
    const times = this.kfTimes;
    info.lastkeyframetimestamp = times.length > 0 ? (times[times.length - 1] as number) : 0;
    info.lastkeyframelocation = 0;
    info.keyframes = { times, filepositions: new Array<number>(times.length).fill(0) };
    // Size first (values do not change it), then the real positions.
    const natural = 13 + onMetaDataTagSize(info);
    if (options.headSize !== undefined && options.headSize < natural + 22) {
      throw new RangeError(`the onMetaData needs ${natural + 22} bytes; ${options.headSize} were reserved`);
    }
    const headSize = options.headSize ?? natural;
    const filepositions = this.kfPos.map((p) => p + headSize);
    info.keyframes = { times, filepositions };
    info.lastkeyframelocation =
      filepositions.length > 0 ? (filepositions[filepositions.length - 1] as number) : 0;
    info.filesize = headSize + this.bodySize;
    const tag = onMetaDataTag(info, options.headSize !== undefined ? { padTo: headSize - 13 } : {});
    const head = new Uint8Array(headSize);
    head.set(flvHeader({ audio: hasAudio, video: hasVideo }), 0);
    if (13 + tag.length !== headSize) throw new Error('FlvJoiner: onMetaData size changed with its values');
    head.set(tag, 13);

    const summary: FlvJoinSummary = {
      chunks: this.count,
      invalid: 0,
      restarts: 0,
      gapsClosed: 0,
      overlaps: 0,
      dropped: zeroDrops(),
    };
    for (const r of this.reports) {
      if (r.kind === 'invalid') summary.invalid++;
      else if (r.kind === 'restart') summary.restarts++;
      else if (r.kind === 'gap') summary.gapsClosed++;
      else if (r.kind === 'overlap') summary.overlaps++;
      for (const key of Object.keys(summary.dropped) as (keyof FlvDropCounts)[])
        summary.dropped[key] += r.dropped[key];
    }
    return {
      head,
      bodySize: this.bodySize,
      size: headSize + this.bodySize,
      durationMs,
      keyframes: info.keyframes,
      metadata: info,
      reports: this.reports,
      summary,
    };
  }
}

/**
 * Where a part of a chunk starts: at 0, and wherever a track's time goes back or jumps forward by more than
 * `maxGap` (the comparison starts afresh on both tracks after each). Ends with rows.count.
 */
function splitPoints(rows: FlvTagRows, maxGap: number): number[] {
  const n = rows.count;
  const kind = rows.kind;
  const ts = rows.ts;
  const bounds = [0];
  let prevV = NaN;
  let prevA = NaN;
  for (let i = 0; i < n; i++) {
    const k = kind[i] as number;
    if (k !== K_VFRAME && k !== K_AFRAME) continue;
    const t = ts[i] as number;
    const p = k === K_VFRAME ? prevV : prevA;
    if (p === p && (t < p || t - p > maxGap)) {
      bounds.push(i);
      prevV = prevA = NaN;
    }
    if (k === K_VFRAME) prevV = t;
    else prevA = t;
  }
  bounds.push(n);
  return bounds;
}

/**
 * Of the frames among rows [from, to): first time, last time and count of video (out[0..2]) and audio
 * (out[3..5]), and the row of the first frame (out[6], -1 when none). Times are NaN for a track without.
 */
function trackSpans(rows: FlvTagRows, from: number, to: number, out: Float64Array): Float64Array {
  const kind = rows.kind;
  const ts = rows.ts;
  let firstV = NaN;
  let lastV = NaN;
  let framesV = 0;
  let firstA = NaN;
  let lastA = NaN;
  let framesA = 0;
  let i0 = -1;
  for (let i = from; i < to; i++) {
    const k = kind[i] as number;
    if (k === K_VFRAME) {
      const t = ts[i] as number;
      if (framesV++ === 0) firstV = t;
      lastV = t;
    } else if (k === K_AFRAME) {
      const t = ts[i] as number;
      if (framesA++ === 0) firstA = t;
      lastA = t;
    } else continue;
    if (i0 < 0) i0 = i;
  }
  out[0] = firstV;
  out[1] = lastV;
  out[2] = framesV;
  out[3] = firstA;
  out[4] = lastA;
  out[5] = framesA;
  out[6] = i0;
  return out;
}

/** An FLV tag header's Timestamp and TimestampExtended (E.4.1), written in place. */
function writeTimestamp(b: Uint8Array, tagStart: number, ts: number): void {
  const v = ts >>> 0;
  b[tagStart + 4] = (v >>> 16) & 0xff;
  b[tagStart + 5] = (v >>> 8) & 0xff;
  b[tagStart + 6] = v & 0xff;
  b[tagStart + 7] = v >>> 24;
}

/** The first frame time of track `tr` in trackSpans `span` (read in place: a join places every chunk). */
function spanFirst(span: Float64Array, tr: number): number {
  return span[tr * 3] as number;
}

/** The last frame time of track `tr` in trackSpans `span`. */
function spanLast(span: Float64Array, tr: number): number {
  return span[tr * 3 + 1] as number;
}

/** The frame count of track `tr` in trackSpans `span`. */
function spanFrames(span: Float64Array, tr: number): number {
  return span[tr * 3 + 2] as number;
}

/** Plans a join of chunks held in memory: the head, then all pieces in order. */
export function planFlvJoin(
  chunks: Iterable<Uint8Array>,
  options: FlvJoinerOptions = {},
): { result: FlvJoinResult; pieces: FlvPiece[] } {
  const j = new FlvJoiner(options);
  const pieces: FlvPiece[] = [];
  for (const c of chunks) for (const p of j.push(c).pieces) pieces.push(p);
  return { result: j.finish(), pieces };
}

/** Concatenates head and pieces into one buffer (for small outputs and tests; a writer streams instead). */
export function assembleFlv(head: Uint8Array, pieces: FlvPiece[], chunks: readonly Uint8Array[]): Uint8Array {
  let total = head.length;
  for (const p of pieces) total += 'bytes' in p ? p.bytes.length : p.size;
  const out = new Uint8Array(total);
  out.set(head, 0);
  let at = head.length;
  for (const p of pieces) {
    if ('bytes' in p) {
      out.set(p.bytes, at);
      at += p.bytes.length;
    } else {
      const c = chunks[p.chunk];
      if (c === undefined) throw new RangeError(`assembleFlv: no chunk ${p.chunk}`);
      out.set(c.subarray(p.offset, p.offset + p.size), at);
      at += p.size;
    }
  }
  return out;
}

/**
 * An FLV video tag's codec: CodecID (FLV 10.1 E.4.3.1), or an enhanced RTMP FourCC as a number (what an
 * onMetaData videocodecid carries for it); 0 when the body is too short to hold the FourCC.
 */
function videoCodecIdAt(b: Uint8Array, at: number, hasFourCc: boolean): number {
  const b0 = b[at] as number;
  if ((b0 & 0x80) === 0) return b0 & 0x0f;
  if (!hasFourCc) return 0;
  return (
    (((b[at + 1] as number) << 24) |
      ((b[at + 2] as number) << 16) |
      ((b[at + 3] as number) << 8) |
      (b[at + 4] as number)) >>>
    0
  );
}

/** Codec ids of a chunk's first frames: `video` at codecs[0..), `audio` at codecs[CODEC_SAMPLE..). */
interface CodecSample {
  codecs: Int32Array;
  video: number;
  audio: number;
}

/**
 * The codec most of the `n` ids from codecs[from] have, when at least two of them agree on it; undefined
 * otherwise (too few frames to tell).
 */
function mainCodec(codecs: Int32Array, from: number, n: number): number | undefined {
  // The only id that can hold a majority (Boyer-Moore's vote), then counted: one pass each, where
  // counting every id against every other took 256 steps a track for each of a join's thousands of chunks.
  let candidate = 0;
  let votes = 0;
  for (let i = from; i < from + n; i++) {
    const id = codecs[i] as number;
    if (votes === 0) candidate = id;
    votes += id === candidate ? 1 : -1;
  }
  let same = 0;
  for (let i = from; i < from + n; i++) if (codecs[i] === candidate) same++;
  return same >= 2 && same * 2 > n ? candidate : undefined;
}

function codecMismatch(index: number, kind: 'video' | 'audio', got: number, first: number): CastkitError {
  return new CastkitError(
    `chunk ${index + 1}: its ${kind} is ${codecName(kind, got)}, the first chunk's ${codecName(kind, first)}; FLV chunks of different codecs cannot be joined into one FLV`,
    {
      code: 'E_CONCAT_MISMATCH',
      category: 'input',
      hint: 'join only chunks of one stream, or remux to .mp4 / .ts, or re-encode them with ffmpeg first',
      details: { chunk: index },
    },
  );
}

const AUDIO_CODECS: Record<number, string> = { 2: 'MP3', 10: 'AAC', 11: 'Speex', 14: 'MP3 8 kHz' };
const VIDEO_CODECS: Record<number, string> = { 2: 'Sorenson H.263', 4: 'VP6', 7: 'H.264', 12: 'HEVC' };

function codecName(kind: 'video' | 'audio', id: number): string {
  const known = (kind === 'audio' ? AUDIO_CODECS : VIDEO_CODECS)[id];
  if (known) return known;
  if (id > 0xffff) return String.fromCharCode(id >>> 24, (id >>> 16) & 0xff, (id >>> 8) & 0xff, id & 0xff);
  return `codec id ${id}`;
}
