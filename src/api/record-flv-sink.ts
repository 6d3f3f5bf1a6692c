import { InputError, UsageError } from '../core/errors.js';
import { sniffFlv } from '../formats/flv/flv-demuxer.js';
import { FlvJoiner, type FlvJoinResult, type FlvPiece } from '../formats/flv/flv-joiner.js';
import { flvHeader } from '../formats/flv/flv-writer.js';
import type { FormatWarning } from '../formats/media.js';
import type { StreamName } from '../sources/record-source.js';
import { AtomicFile } from '../storage/local.js';
import { PieceWriter } from '../storage/piece-writer.js';
import { IO_BLOCK } from '../storage/write-all.js';
import type { RecordSink } from './record-raw-sink.js';
import type { RecordSinkResult, SegmentMeta } from './record-sink.js';
import { rewriteWithHead } from './remux-output.js';
import type { RemuxTrackSummary } from './remux-types.js';

/** Chunks held before the room for the onMetaData is sized from their keyframe rate. */
const HOLD_CHUNKS = 32;
const HOLD_BYTES = 16 << 20;

export interface FlvRecordSinkOptions {
  /** Seconds the recording is expected to last (VOD length, --duration): sizes the onMetaData's room. */
  expectedSec?: number;
  /** --duration: the frames from this many seconds of the output on are left out. */
  endSec?: number;
}

/**
 * `-o out.flv` for streams of FLV chunks (ustream flv/segmented): every chunk goes through the FLV joiner
 * as it is committed (one header, one onMetaData with the real duration, size and keyframe index, a
 * sequence header only when it changes, timestamps continuous and monotonic), its tag bodies written as
 * ranges of the chunk. The onMetaData goes first but is known only at the end: room is reserved for it
 * from the keyframe rate of the first chunks and the expected length; when that is too little (or the
 * length is unknown, live without --duration) the body is moved behind the head at the end.
 *
 * Anything that is not an FLV file (an error page served with 200) is refused, never skipped: the joiner
 * alone would skip it as an invalid chunk and leave a silent hole.
 */
export class FlvRecordSink implements RecordSink {
  private readonly joiner: FlvJoiner;
  private reserved: number | undefined;
  private held: { bytes: Uint8Array; pieces: FlvPiece[] }[] = [];
  private heldBytes = 0;
  private recorded = 0;
  private chunks = 0;
  private gapSec = 0;
  private readonly warnings: FormatWarning[] = [];

  private constructor(
    private readonly output: string,
    private readonly out: AtomicFile,
    private readonly writer: PieceWriter,
    private readonly options: FlvRecordSinkOptions,
  ) {
    this.joiner = joinerForSink(options.endSec);
  }

  static async create(output: string, options: FlvRecordSinkOptions = {}): Promise<FlvRecordSink> {
    const out = await AtomicFile.create(output);
    return new FlvRecordSink(output, out, new PieceWriter(out, [], IO_BLOCK), options);
  }

  async setInit(stream: StreamName): Promise<void> {
    throw notFlv(`the ${stream} stream has an initialization segment (fragmented MP4)`);
  }

  async addSegment(stream: StreamName, bytes: Uint8Array, meta: SegmentMeta): Promise<void> {
    if (stream !== 'main') throw notFlv(`the stream comes as separate ${stream} segments`);
    if (!sniffFlv(bytes.subarray(0, 16))) {
      throw new InputError(`segment ${meta.name} is not an FLV file`, {
        code: 'E_SEGMENT_FORMAT',
        hint: 'the server answered with something else (an error page?); check the URL in a browser',
        details: { segment: meta.name, head: Buffer.from(bytes.subarray(0, 16)).toString('hex') },
      });
    }
    const plan = this.joiner.push(bytes);
    if (plan.report.kind === 'invalid') {
      throw new InputError(
        `segment ${meta.name} is not a readable FLV file: ${plan.report.error?.message ?? ''}`,
        {
          code: 'E_SEGMENT_FORMAT',
          details: { segment: meta.name },
        },
      );
    }
    for (const w of plan.report.warnings) this.warnings.push({ ...w, message: `${meta.name}: ${w.message}` });
    this.recorded += meta.duration;
    this.chunks++;
    if (this.reserved === undefined) {
      this.held.push({ bytes, pieces: plan.pieces });
      this.heldBytes += bytes.length;
      if (this.held.length < HOLD_CHUNKS && this.heldBytes < HOLD_BYTES) return;
      await this.reserve();
      return;
    }
    await this.emit(bytes, plan.pieces);
  }

  /** The joiner closes gaps (a missing chunk leaves no hole in the timestamps); counted for the result. */
  async addGap(_stream: StreamName, seconds: number): Promise<void> {
    this.gapSec += Math.max(0, seconds);
  }

  recordedSec(): number {
    return this.recorded;
  }

  /** Room for the head: keyframes per second so far times the expected length, with a margin. */
  private async reserve(): Promise<void> {
    const expected = this.options.expectedSec;
    let room = 0;
    if (expected !== undefined && this.recorded > 0) {
      const perSec = this.joiner.keyframeCount / this.recorded;
      room = this.joiner.headSizeBound(Math.ceil(perSec * expected * 1.25) + 32);
    }
    this.reserved = room;
    this.out.reserve(room);
    const held = this.held;
    this.held = [];
    this.heldBytes = 0;
    for (const h of held) await this.emit(h.bytes, h.pieces);
  }

  private async emit(bytes: Uint8Array, pieces: FlvPiece[]): Promise<void> {
    for (const p of pieces) {
      const piece = { bytes: 'bytes' in p ? p.bytes : bytes.subarray(p.offset, p.offset + p.size) };
      if (!this.writer.tryAdd(piece)) await this.writer.add(piece);
    }
  }

  async finish(): Promise<RecordSinkResult> {
    if (this.chunks === 0) {
      throw new InputError('nothing playable was recorded', {
        code: 'E_NOTHING_RECORDED',
        hint: 'no FLV chunk arrived; check the URL and the chosen rendition',
      });
    }
    if (this.reserved === undefined) await this.reserve();
    await this.writer.flush();
    const room = this.reserved ?? 0;
    let result: FlvJoinResult;
    try {
      if (room === 0) throw new RangeError('no room reserved');
      result = this.joiner.finish({ headSize: room });
      await this.writer.close();
      await this.out.writeAt(result.head, 0);
      await this.out.commit();
    } catch (err) {
      if (!(err instanceof RangeError)) throw err;
      // More keyframes than estimated, or no estimate: the head, then the body moved behind it.
      result = this.joiner.finish();
      await this.writer.close();
      await rewriteWithHead(this.out, result.head, room, result.bodySize, this.output);
    }
    const s = result.summary;
    if (s.restarts > 0 || s.gapsClosed > 0 || s.overlaps > 0) {
      this.warnings.push({
        code: 'W_FLV_TIMESTAMPS',
        message: `timestamps repaired: ${s.restarts} chunks restarted, ${s.gapsClosed} gaps closed, ${s.overlaps} overlaps dropped`,
      });
    }
    if (this.gapSec > 0) {
      this.warnings.push({
        code: 'W_FLV_GAP_CLOSED',
        message: `${this.gapSec.toFixed(1)} s of missing chunks: the FLV runs on across them (no hole in the timestamps)`,
      });
    }
    return {
      output: this.output,
      bytesOut: result.size,
      durationSec: result.durationMs / 1000,
      tracks: flvTracks(result.metadata),
      warnings: this.warnings,
    };
  }

  async abort(): Promise<void> {
    await this.writer.close().catch(() => undefined);
    await this.out.abort();
  }
}

function notFlv(why: string): UsageError {
  return new UsageError(`FLV output needs a stream of FLV chunks: ${why}`, {
    code: 'E_OUTPUT_FORMAT',
    hint: 'write an .mp4 instead (--format mp4)',
  });
}

/** The tracks of the joined FLV, as its onMetaData says. */
function flvTracks(m: FlvJoinResult['metadata']): RemuxTrackSummary[] {
  const tracks: RemuxTrackSummary[] = [];
  if (m.videocodecid !== undefined) {
    const v: RemuxTrackSummary = {
      kind: 'video',
      codec: m.videocodecid === 7 ? 'avc' : m.videocodecid === 12 ? 'hevc' : String(m.videocodecid),
    };
    if (m.width) v.width = m.width;
    if (m.height) v.height = m.height;
    tracks.push(v);
  }
  if (m.audiocodecid !== undefined) {
    const a: RemuxTrackSummary = {
      kind: 'audio',
      codec: m.audiocodecid === 10 ? 'aac' : m.audiocodecid === 2 ? 'mp3' : String(m.audiocodecid),
    };
    if (m.audiosamplerate) a.sampleRate = m.audiosamplerate;
    tracks.push(a);
  }
  return tracks;
}

/**
 * A joiner that retimes tags in the chunk's own bytes: a sink is handed each committed segment's bytes
 * to keep or write, and nothing else reads them after it.
 */
function joinerForSink(endSec?: number): FlvJoiner {
  return new FlvJoiner({ rewriteInPlace: true, ...(endSec !== undefined ? { endMs: endSec * 1000 } : {}) });
}

/**
 * FLV chunks (each a whole FLV file, as ustream serves them) into another sink, the MP4 one: each stream's
 * FLV chunks go through an FLV joiner first, so that the sink demuxes one continuous FLV stream (one
 * header, sequence headers only when they change, timestamps repaired: restarts moved on, overlaps
 * dropped) instead of a run per chunk whose timestamps it would have to guess the relation of. Anything
 * that is not FLV goes through as it is (mp4/segmented tracks); a non-FLV segment in a stream of FLV
 * chunks (an error page served with 200) is refused.
 */
export class FlvChunkJoiningSink implements RecordSink {
  private readonly joiners = new Map<StreamName, { joiner: FlvJoiner; needHeader: boolean }>();

  constructor(private readonly inner: RecordSink) {}

  async setInit(stream: StreamName, bytes: Uint8Array): Promise<void> {
    await this.inner.setInit(stream, bytes);
  }

  async addSegment(stream: StreamName, bytes: Uint8Array, meta: SegmentMeta): Promise<void> {
    let j = this.joiners.get(stream);
    const flv = sniffFlv(bytes.subarray(0, 16));
    if (!j) {
      if (!flv) return this.inner.addSegment(stream, bytes, meta);
      j = { joiner: joinerForSink(), needHeader: true };
      this.joiners.set(stream, j);
    }
    if (!flv) {
      throw new InputError(`segment ${meta.name} is not an FLV file, as the stream's other chunks are`, {
        code: 'E_SEGMENT_FORMAT',
        hint: 'the server answered with something else (an error page?); check the URL in a browser',
        details: { segment: meta.name, head: Buffer.from(bytes.subarray(0, 16)).toString('hex') },
      });
    }
    const plan = j.joiner.push(bytes);
    if (plan.report.kind === 'invalid') {
      throw new InputError(
        `segment ${meta.name} is not a readable FLV file: ${plan.report.error?.message ?? ''}`,
        {
          code: 'E_SEGMENT_FORMAT',
          details: { segment: meta.name },
        },
      );
    }
    const parts: Uint8Array[] = [];
    const header = j.needHeader;
    if (header) parts.push(flvHeader({ audio: true, video: true }));
    for (const p of plan.pieces)
      parts.push('bytes' in p ? p.bytes : bytes.subarray(p.offset, p.offset + p.size));
    j.needHeader = false;
    // Retimed in place, a chunk is usually one range of its own bytes: no copy then.
    const joined = parts.length === 1 ? (parts[0] as Uint8Array) : Buffer.concat(parts);
    // A new demuxer run only where a header starts one: after a gap (the inner sink ends its run there).
    await this.inner.addSegment(stream, joined, { ...meta, discontinuity: header });
  }

  /**
   * The inner sink ends its run at a gap and starts a new demuxer after it, which needs the sequence
   * headers again: a new joiner, which keeps the next chunk's own. The sink places the new run after the
   * known gap (its timestamps start again at 0).
   */
  async addGap(stream: StreamName, seconds: number): Promise<void> {
    if (this.joiners.has(stream)) this.joiners.set(stream, { joiner: joinerForSink(), needHeader: true });
    await this.inner.addGap(stream, seconds);
  }

  recordedSec(stream?: StreamName): number {
    return this.inner.recordedSec(stream);
  }

  finish(): Promise<RecordSinkResult> {
    return this.inner.finish();
  }

  abort(): Promise<void> {
    return this.inner.abort();
  }
}
