/**
 * Muxing demuxed samples into FLV (spec v10.1 Annex E; HEVC as enhanced RTMP v1 'hvc1'): the whole file is
 * planned before any payload is written, so that onMetaData (duration, filesize, and the keyframe index
 * with file positions) goes first and the payloads then move as ranges in one sequential pass.
 *
 * Tags go in timestamp order (milliseconds) across tracks, video first at equal times. Each tag is its
 * header bytes (`prefixOf`), the payload unchanged, and the 4-byte PreviousTagSize (`trailerOf`).
 */
import { CastkitError } from '../../core/errors.js';
import type { TrackInfo } from '../media.js';
import type { SampleTable } from '../sample-table.js';
import {
  PREVIOUS_TAG_SIZE,
  SOUND_FORMAT_AAC,
  SOUND_FORMAT_MP3,
  TAG_AUDIO,
  TAG_HEADER_SIZE,
  TAG_VIDEO,
  VIDEO_CODEC_AVC,
} from './flv-tags.js';
import {
  flvHeader,
  flvTag,
  onMetaDataTag,
  onMetaDataTagSize,
  writePreviousTagSize,
  writeTagHeader,
} from './flv-writer.js';
import type { FlvMetadataInfo } from './flv-writer.js';

/** The FourCC 'hvc1' of enhanced RTMP, and as a number for onMetaData's videocodecid. */
const HVC1_BYTES = Uint8Array.of(0x68, 0x76, 0x63, 0x31);
const HVC1 = 0x68766331;
const FRAME_KEY = 1;
const FRAME_INTER = 2;

export interface FlvPlan {
  /** FLV header, onMetaData, and the sequence headers: the first bytes of the file. */
  head: Uint8Array;
  /** Sample rows of the table in output order. */
  order: Uint32Array;
  /** Output size, bytes. */
  size: number;
  /** The duration written in onMetaData, seconds: what a player or ffprobe reads as the file's duration. */
  durationSec: number;
  /** The bytes before sample row `row`'s payload (tag header and codec header), valid until the next call. */
  prefixOf(row: number): Uint8Array;
  /** The PreviousTagSize after sample row `row`'s payload, valid until the next call. */
  trailerOf(row: number): Uint8Array;
}

export interface FlvTrackPlan {
  track: TrackInfo;
  video: boolean;
  /** Codec header bytes before each payload: 5 (AVC), 8 (HEVC), 2 (AAC), 1 (MP3). */
  headerSize: number;
  /** Legacy SoundFormat byte (audio) or CodecID (AVC). */
  first: number;
}

/** How a track's samples are written as FLV tags; E_FLV_CODEC for a codec FLV cannot carry. */
export function flvTrackPlan(track: TrackInfo): FlvTrackPlan {
  if (track.kind === 'video') {
    if (track.codec === 'avc') return { track, video: true, headerSize: 5, first: VIDEO_CODEC_AVC };
    if (track.codec === 'hevc') return { track, video: true, headerSize: 8, first: 0 };
  } else {
    // SoundFormat, SoundRate 3 (44 kHz: what FLV says for 48 kHz too; decoders read the stream's own),
    // SoundSize 1 (16-bit), SoundType from the channels (AAC: always 1, E.4.2.1).
    const stereo = track.codec === 'aac' || (track.channels ?? 2) > 1 ? 1 : 0;
    if (track.codec === 'aac')
      return { track, video: false, headerSize: 2, first: (SOUND_FORMAT_AAC << 4) | 0x0f };
    if (track.codec === 'mp3') {
      return { track, video: false, headerSize: 1, first: (SOUND_FORMAT_MP3 << 4) | 0x0e | stereo };
    }
  }
  throw new CastkitError(`${track.kind} codec ${track.codec} cannot be written to FLV`, {
    code: 'E_FLV_CODEC',
    category: 'input',
    hint: 'write .mp4 instead',
  });
}

/** The sequence header tag of a track (at `timestamp`, 0 by default), or undefined for MP3 (it has none). */
export function flvSequenceHeader(p: FlvTrackPlan, timestamp = 0): Uint8Array | undefined {
  const cfg = p.track.config;
  if (p.video && p.track.codec === 'avc') {
    const body = new Uint8Array(5 + cfg.length);
    body[0] = (FRAME_KEY << 4) | VIDEO_CODEC_AVC;
    body.set(cfg, 5); // AVCPacketType 0, CompositionTime 0
    return flvTag(TAG_VIDEO, timestamp, body);
  }
  if (p.video) {
    const body = new Uint8Array(5 + cfg.length);
    body[0] = 0x80 | (FRAME_KEY << 4); // IsExHeader, keyframe, PacketTypeSequenceStart
    body.set(HVC1_BYTES, 1);
    body.set(cfg, 5);
    return flvTag(TAG_VIDEO, timestamp, body);
  }
  if (p.track.codec === 'aac') {
    const body = new Uint8Array(2 + cfg.length);
    body[0] = p.first;
    body.set(cfg, 2); // AACPacketType 0
    return flvTag(TAG_AUDIO, timestamp, body);
  }
  return undefined;
}

/**
 * The bytes before a sample's payload in its tag: the tag header and the codec header (frame type and
 * composition time for video; the AAC packet type). `prefix` holds at least TAG_HEADER_SIZE + 8 bytes;
 * returns how many were written.
 */
export function writeFlvSamplePrefix(
  prefix: Uint8Array,
  p: FlvTrackPlan,
  size: number,
  ms: number,
  keyframe: boolean,
  ctsMs: number,
): number {
  writeTagHeader(prefix, 0, p.video ? TAG_VIDEO : TAG_AUDIO, p.headerSize + size, ms);
  const b = TAG_HEADER_SIZE;
  if (p.video) {
    const frame = keyframe ? FRAME_KEY : FRAME_INTER;
    let c = b + 1;
    if (p.track.codec === 'avc') {
      prefix[b] = (frame << 4) | VIDEO_CODEC_AVC;
      prefix[c++] = 1; // AVCPacketType NALU
    } else {
      prefix[b] = 0x80 | (frame << 4) | 1; // IsExHeader, PacketTypeCodedFrames
      prefix.set(HVC1_BYTES, c);
      c += 4;
    }
    prefix[c] = (ctsMs >> 16) & 0xff;
    prefix[c + 1] = (ctsMs >> 8) & 0xff;
    prefix[c + 2] = ctsMs & 0xff;
  } else {
    prefix[b] = p.first;
    if (p.headerSize === 2) prefix[b + 1] = 1; // AACPacketType raw
  }
  return TAG_HEADER_SIZE + p.headerSize;
}

/**
 * The onMetaData fields that come from the tracks themselves: codec ids, picture size, and the audio's
 * rate, sample size and channels (the rest is measured from the samples by the caller).
 */
export function flvTrackFields(
  video: TrackInfo | undefined,
  audio: TrackInfo | undefined,
): Partial<FlvMetadataInfo> {
  const f: Partial<FlvMetadataInfo> = {};
  if (video) {
    f.videocodecid = video.codec === 'hevc' ? HVC1 : VIDEO_CODEC_AVC;
    if (video.width) f.width = video.width;
    if (video.height) f.height = video.height;
  }
  if (audio) {
    f.audiocodecid = audio.codec === 'aac' ? SOUND_FORMAT_AAC : SOUND_FORMAT_MP3;
    if (audio.sampleRate) f.audiosamplerate = audio.sampleRate;
    f.audiosamplesize = 16;
    f.stereo = (audio.channels ?? 2) > 1;
  }
  return f;
}

/**
 * Plans an FLV of `tracks` (at most one video and one audio) from `samples` (decode times from 0; payload
 * sizes as they will be written). `shifts`: ticks added to a track's times, as its input's edit list asks
 * (AAC priming skipped, audio delayed, the B-frame delay of video taken off). FLV times cannot be
 * negative, so when a shift takes any time below 0 every track is lifted by as much, which keeps the
 * tracks in sync as ffmpeg does (avoid_negative_ts).
 */
export function planFlv(
  tracks: readonly TrackInfo[],
  samples: SampleTable,
  shifts?: ReadonlyMap<number, number>,
): FlvPlan {
  const video = tracks.find((t) => t.kind === 'video');
  const audio = tracks.find((t) => t.kind === 'audio');
  const plans = new Map<number, FlvTrackPlan>();
  for (const t of [video, audio]) if (t) plans.set(t.id, flvTrackPlan(t));
  const n = samples.length;
  // Times in ms (dts, and pts rounded on its own so that the composition offset matches it).
  const ms = new Float64Array(n);
  const ctsMs = new Int32Array(n);
  const rows: number[] = [];
  let minMs = 0;
  for (let i = 0; i < n; i++) {
    const id = samples.trackId[i] as number;
    const p = plans.get(id);
    if (!p) continue;
    const ts = p.track.timescale;
    const dts = (samples.dts[i] as number) + (shifts?.get(id) ?? 0);
    const t = Math.round((dts * 1000) / ts);
    ms[i] = t;
    if (t < minMs) minMs = t;
    if (p.video) ctsMs[i] = Math.round(((dts + (samples.cts[i] as number)) * 1000) / ts) - t;
    rows.push(i);
  }
  if (minMs < 0) for (const i of rows) ms[i] = (ms[i] as number) - minMs;
  const videoId = video?.id ?? -1;
  // Stable: equal times keep the input order, video first.
  const order = samples.timeOrder(rows, ms, (id) => id === videoId);

  const seq: Uint8Array[] = [];
  for (const p of plans.values()) {
    const s = flvSequenceHeader(p);
    if (s) seq.push(s);
  }
  // Duration: the latest end of any sample (its time plus its duration); video frames and keyframes.
  let lastMs = 0;
  let endMs = 0;
  let videoEndMs = 0;
  let frames = 0;
  let keyCount = 0;
  for (const i of order) {
    const p = plans.get(samples.trackId[i] as number) as FlvTrackPlan;
    const t = ms[i] as number;
    const end = t + Math.round(((samples.duration[i] as number) * 1000) / p.track.timescale);
    lastMs = Math.max(lastMs, t);
    endMs = Math.max(endMs, end);
    if (!p.video) continue;
    videoEndMs = Math.max(videoEndMs, end);
    frames++;
    if (samples.keyframe[i]) keyCount++;
  }

  const info: FlvMetadataInfo = {
    duration: endMs / 1000,
    filesize: 0,
    hasVideo: video !== undefined,
    hasAudio: audio !== undefined,
    lasttimestamp: lastMs / 1000,
    ...flvTrackFields(video, audio),
    keyframes: {
      times: new Array<number>(keyCount).fill(0),
      filepositions: new Array<number>(keyCount).fill(0),
    },
  };
  // The video's own span: audio running on past the last frame must not lower the rate.
  if (video && videoEndMs > 0 && frames > 1)
    info.framerate = Math.round((frames / (videoEndMs / 1000)) * 1000) / 1000;
  // onMetaData's size depends on its fields and the keyframe count, not on the values: positions first.
  const header = flvHeader({ audio: audio !== undefined, video: video !== undefined });
  const metaSize = onMetaDataTagSize(info);
  let pos = header.length + metaSize;
  for (const s of seq) pos += s.length;
  // The keyframe index: times and positions of the video keyframe tags.
  const times: number[] = [];
  const filepositions: number[] = [];
  for (const i of order) {
    const p = plans.get(samples.trackId[i] as number) as FlvTrackPlan;
    if (p.video && samples.keyframe[i]) {
      times.push((ms[i] as number) / 1000);
      filepositions.push(pos);
    }
    pos += TAG_HEADER_SIZE + p.headerSize + (samples.size[i] as number) + PREVIOUS_TAG_SIZE;
  }
  info.filesize = pos;
  info.keyframes = { times, filepositions };
  const meta = onMetaDataTag(info);
  if (meta.length !== metaSize) throw new RangeError('onMetaData changed size with its values');
  const head = new Uint8Array(header.length + meta.length + seq.reduce((a, s) => a + s.length, 0));
  head.set(header, 0);
  head.set(meta, header.length);
  let at = header.length + meta.length;
  for (const s of seq) {
    head.set(s, at);
    at += s.length;
  }

  const prefix = new Uint8Array(TAG_HEADER_SIZE + 8);
  const trailer = new Uint8Array(PREVIOUS_TAG_SIZE);
  return {
    head,
    order,
    size: pos,
    durationSec: endMs / 1000,
    prefixOf(row: number): Uint8Array {
      const p = plans.get(samples.trackId[row] as number) as FlvTrackPlan;
      const n = writeFlvSamplePrefix(
        prefix,
        p,
        samples.size[row] as number,
        ms[row] as number,
        samples.keyframe[row] === 1,
        ctsMs[row] as number,
      );
      return prefix.subarray(0, n);
    },
    trailerOf(row: number): Uint8Array {
      const p = plans.get(samples.trackId[row] as number) as FlvTrackPlan;
      writePreviousTagSize(trailer, 0, p.headerSize + (samples.size[row] as number));
      return trailer;
    },
  };
}
