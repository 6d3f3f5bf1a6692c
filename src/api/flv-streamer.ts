import {
  flvSequenceHeader,
  flvTrackFields,
  flvTrackPlan,
  writeFlvSamplePrefix,
  type FlvTrackPlan,
} from '../formats/flv/flv-muxer.js';
import { PREVIOUS_TAG_SIZE, TAG_HEADER_SIZE } from '../formats/flv/flv-tags.js';
import {
  flvHeader,
  onMetaDataTag,
  onMetaDataTagSize,
  writePreviousTagSize,
  type FlvMetadataInfo,
} from '../formats/flv/flv-writer.js';
import { QueuedTracks, type OnePassSink, type Queued, type TsTrack } from './ts-interleaver.js';

/** onMetaData's filler field costs up to this much on top of the fields (flv-writer.ts, padTo). */
const PAD_FIELD = 22;

/**
 * Writes FLV as the samples come (one-pass remux of MPEG-TS or FLV inputs): tags in time order across the
 * tracks, as TsInterleaver orders them. onMetaData goes first but is known only at the end (duration,
 * file size, the keyframe index with file positions): room for it is reserved when the output starts,
 * sized from the keyframes per input byte seen so far and the inputs' total size, with a margin; `head()`
 * then gives the file header and onMetaData padded to exactly that room, or, when the estimate was short,
 * a head of its own size (the body is then moved behind it). At most one video and one audio track; one
 * that starts in a later input is taken from there on.
 */
export class FlvStreamer extends QueuedTracks implements OnePassSink {
  private plans: Map<number, FlvTrackPlan> | undefined;
  /** Bytes reserved for the head (file header + onMetaData), once started. */
  room = 0;
  /** Body bytes written (tags after the head). */
  bodySize = 0;
  private readonly kfTimes: number[] = [];
  private readonly kfPos: number[] = [];
  private readonly pendingConfig = new Set<number>();
  private readonly lastMs = new Map<number, number>();
  private lastTagMs = 0;
  private readonly bytes = { video: 0, audio: 0 };
  private seenKeyframes = 0;
  private seenBytes = 0;
  private readonly prefix = new Uint8Array(TAG_HEADER_SIZE + 8);
  private readonly trailer = new Uint8Array(PREVIOUS_TAG_SIZE);
  private headersWritten = false;

  constructor(
    private readonly write: (bytes: Uint8Array) => Promise<void>,
    /** The inputs' total size, bytes: with the keyframes per byte seen, how many keyframes to make room for. */
    private readonly inputBytes: number,
    /** Called once, before the first tag is written, with the room to leave at the start of the file. */
    private readonly reserve: (room: number) => void,
    /** The room to reserve instead of the estimate (tests: RemuxOptions.moovRoom). */
    private readonly fixedRoom?: number,
    private readonly maxLeadSec = 10,
  ) {
    super();
  }

  get started(): boolean {
    return this.plans !== undefined;
  }

  /**
   * A new output track; one that starts after the output did (the head, with its flags and onMetaData, is
   * written last) has its sequence header before its first keyframe.
   */
  override addTrack(info: TsTrack['info']): TsTrack {
    const t = super.addTrack(info);
    if (this.plans) {
      this.plans.set(t.info.id, flvTrackPlan(t.info));
      if (this.headersWritten) this.pendingConfig.add(t.info.id);
    }
    return t;
  }

  /** A track's new decoder configuration: its sequence header is written again before its next keyframe. */
  setConfig(t: TsTrack, config: Uint8Array): void {
    t.info = { ...t.info, config };
    if (this.plans) {
      this.plans.set(t.info.id, flvTrackPlan(t.info));
      this.pendingConfig.add(t.info.id);
    }
  }

  override queue(t: TsTrack, sec: number, sample: Queued['sample'], payload: Uint8Array): void {
    super.queue(t, sec, sample, payload);
    this.seenBytes += sample.size;
    if (sample.keyframe && t.info.kind === 'video') this.seenKeyframes++;
  }

  /** Reserve the head's room (the sequence headers open the body at the first drain); false with no tracks. */
  start(): boolean {
    if (this.plans) return true;
    if (this.tracks.length === 0) return false;
    const plans = new Map<number, FlvTrackPlan>();
    for (const t of this.tracks) plans.set(t.info.id, flvTrackPlan(t.info));
    this.setBase();
    // Keyframes to make room for: the rate so far over all the input, a quarter more, and some to spare.
    const expected =
      Math.ceil((this.seenKeyframes / Math.max(1, this.seenBytes)) * this.inputBytes * 1.25) + 32;
    this.room = this.fixedRoom ?? 13 + onMetaDataTagSize(this.metadata(expected)) + PAD_FIELD + 64;
    this.reserve(this.room);
    this.plans = plans;
    return true;
  }

  /** Write queued samples in time order, as far as every track has samples (or all of them). */
  async drain(all: boolean): Promise<void> {
    if (!this.plans) return;
    if (!this.headersWritten) {
      this.headersWritten = true;
      for (const t of this.tracks) await this.sequenceHeader(t, 0);
    }
    for (;;) {
      const next = this.nextInTimeOrder(all, this.maxLeadSec);
      if (!next) break;
      await this.tag(next);
    }
  }

  private async sequenceHeader(t: TsTrack, ms: number): Promise<void> {
    const tag = flvSequenceHeader(
      (this.plans as Map<number, FlvTrackPlan>).get(t.info.id) as FlvTrackPlan,
      ms,
    );
    if (!tag) return;
    await this.write(tag);
    this.bodySize += tag.length;
  }

  private async tag(t: TsTrack): Promise<void> {
    const { q, dts } = this.take(t);
    const p = (this.plans as Map<number, FlvTrackPlan>).get(t.info.id) as FlvTrackPlan;
    const ts = t.info.timescale;
    // FLV times are milliseconds; a track's tags never go back in time (rounding could make them).
    const ms = Math.max(Math.round((dts * 1000) / ts), this.lastMs.get(t.info.id) ?? 0);
    this.lastMs.set(t.info.id, ms);
    const ctsMs = p.video ? Math.round(((dts + q.sample.cts) * 1000) / ts) - ms : 0;
    if (q.sample.keyframe && this.pendingConfig.delete(t.info.id)) await this.sequenceHeader(t, ms);
    if (p.video && q.sample.keyframe) {
      this.kfTimes.push(ms / 1000);
      this.kfPos.push(this.bodySize);
    }
    const size = q.payload.length;
    // Each write is taken (copied into the output) before the next is asked for: the buffers are reused.
    const n = writeFlvSamplePrefix(this.prefix, p, size, ms, q.sample.keyframe, ctsMs);
    await this.write(this.prefix.subarray(0, n));
    await this.write(q.payload);
    writePreviousTagSize(this.trailer, 0, p.headerSize + size);
    await this.write(this.trailer);
    this.bodySize += n + size + PREVIOUS_TAG_SIZE;
    this.bytes[p.video ? 'video' : 'audio'] += size;
    this.lastTagMs = Math.max(this.lastTagMs, ms);
  }

  /** onMetaData's fields for the output so far, with room for `keyframes` keyframes (values come later). */
  private metadata(keyframes: number): FlvMetadataInfo {
    const videoTrack = this.tracks.find((t) => t.info.kind === 'video');
    const video = videoTrack?.info;
    const audio = this.tracks.find((t) => t.info.kind === 'audio')?.info;
    const sec = this.durationSec;
    const info: FlvMetadataInfo = {
      duration: sec,
      filesize: 0,
      hasVideo: video !== undefined,
      hasAudio: audio !== undefined,
      lasttimestamp: this.lastTagMs / 1000,
      ...flvTrackFields(video, audio),
      keyframes: {
        times: new Array<number>(keyframes).fill(0),
        filepositions: new Array<number>(keyframes).fill(0),
      },
    };
    if (videoTrack) {
      info.videodatarate = sec > 0 ? (this.bytes.video * 8) / 1000 / sec : 0;
      info.framerate = sec > 0 ? Math.round((videoTrack.samples / sec) * 1000) / 1000 : 0;
    }
    if (audio) info.audiodatarate = sec > 0 ? (this.bytes.audio * 8) / 1000 / sec : 0;
    return info;
  }

  /**
   * The file header and onMetaData, once every sample is written: exactly `room` bytes (`fits`), or, when
   * more keyframes came than there is room for, a head of its own size, to go before the body moved.
   */
  head(): { bytes: Uint8Array; fits: boolean } {
    const info = this.metadata(this.kfTimes.length);
    const natural = 13 + onMetaDataTagSize(info);
    const fits = natural + PAD_FIELD <= this.room;
    const size = fits ? this.room : natural;
    info.keyframes = { times: this.kfTimes, filepositions: this.kfPos.map((p) => p + size) };
    info.filesize = size + this.bodySize;
    const video = this.tracks.some((t) => t.info.kind === 'video');
    const audio = this.tracks.some((t) => t.info.kind === 'audio');
    const tag = onMetaDataTag(info, fits ? { padTo: size - 13 } : {});
    const bytes = new Uint8Array(size);
    bytes.set(flvHeader({ audio, video }), 0);
    bytes.set(tag, 13);
    return { bytes, fits };
  }
}
