/**
 * FLV push demuxer (FLV spec v10.1 Annex E, enhanced RTMP v1 for HEVC): tags in, tracks and samples out.
 *
 * Sample payloads are byte ranges of the input: an AVC/HEVC tag body after its 5-byte (legacy) or
 * 5/8-byte (enhanced) header is already a run of length-prefixed NAL units, i.e. an MP4 sample
 * (ISO/IEC 14496-15 5.3.2), and an AAC tag body after its 2-byte header is a raw access unit. Nothing is
 * copied except decoder configurations and script data.
 *
 * Timestamps are the tag timestamps in ms (timescale 1000); cts is the SI24 CompositionTime.
 */
import { FormatError } from '../../core/errors.js';
import {
  emptyOutput,
  type DemuxOutput,
  type Demuxer,
  type FormatWarning,
  type Sample,
  type TrackInfo,
} from '../media.js';
import { decodeAmf0All, isAmfObject, type AmfObject } from './amf0.js';
import { FlvTagReader, type FlvFileHeader, type FlvTagSink, type FlvTagView } from './flv-reader.js';
import {
  PACKET_COMMAND,
  PACKET_CONFIG,
  PACKET_END_OF_SEQUENCE,
  PACKET_FRAME,
  PACKET_METADATA,
  PACKET_TRUNCATED,
  parseAudioSpecificConfig,
  parseMp3Header,
  TAG_AUDIO,
  TAG_SCRIPT,
  TAG_VIDEO,
} from './flv-tags.js';

/** FLV timestamps are milliseconds (E.4.1). */
export const FLV_TIMESCALE = 1000;

/** True when `bytes` start like an FLV file (E.2): "FLV", version 1, a DataOffset of at least 9. */
export function sniffFlv(bytes: Uint8Array): boolean {
  if (bytes.length < 4 || bytes[0] !== 0x46 || bytes[1] !== 0x4c || bytes[2] !== 0x56 || bytes[3] !== 1) {
    return false;
  }
  if (bytes.length < 9) return true;
  if (((bytes[4] as number) & 0xfa) !== 0) return false; // reserved TypeFlags bits are 0
  const dataOffset =
    (((bytes[5] as number) << 24) |
      ((bytes[6] as number) << 16) |
      ((bytes[7] as number) << 8) |
      (bytes[8] as number)) >>>
    0;
  return dataOffset >= 9;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function num(v: unknown): number | undefined {
  return typeof v === 'number' && Number.isFinite(v) && v > 0 ? v : undefined;
}

export class FlvDemuxer implements Demuxer, FlvTagSink {
  /** The tag reader copies an incomplete tag; samples are input ranges, configs are copied. */
  readonly copiesInput = true;
  /** The first onMetaData object found (script data, E.5), or undefined. */
  metadata: AmfObject | undefined;

  private readonly reader = new FlvTagReader();
  private out: DemuxOutput = emptyOutput();
  private video: TrackInfo | undefined;
  private audio: TrackInfo | undefined;
  private nextId = 1;
  private readonly warned = new Set<string>();

  /** The FLV file header, once read. */
  get header(): FlvFileHeader | undefined {
    return this.reader.header;
  }

  /** The current video and audio tracks (latest configuration). */
  get tracks(): TrackInfo[] {
    const t: TrackInfo[] = [];
    if (this.video) t.push(this.video);
    if (this.audio) t.push(this.audio);
    return t.sort((x, y) => x.id - y.id);
  }

  push(chunk: Uint8Array): DemuxOutput {
    const out = (this.out = emptyOutput());
    this.reader.push(chunk, this);
    return out;
  }

  end(): DemuxOutput {
    const out = (this.out = emptyOutput());
    this.reader.end(this);
    return out;
  }

  /** FlvTagSink: a reader warning. */
  warning(w: FormatWarning): void {
    this.out.warnings.push(w);
  }

  private warnOnce(code: string, message: string, offset: number): void {
    const key = `${code}:${message}`;
    if (this.warned.has(key)) return;
    this.warned.add(key);
    this.out.warnings.push({ code, message, offset });
  }

  /** FlvTagSink: one complete tag. */
  tag(t: FlvTagView): void {
    if (t.type === TAG_VIDEO) this.videoTag(t);
    else if (t.type === TAG_AUDIO) this.audioTag(t);
    else if (t.type === TAG_SCRIPT) this.scriptTag(t);
  }

  private videoTag(t: FlvTagView): void {
    const m = t.media;
    switch (m.packet) {
      case PACKET_FRAME: {
        if (m.codec === undefined) {
          this.warnOnce(
            'E_FLV_UNSUPPORTED_CODEC',
            `video ${m.codecName} is not supported; its tags are dropped`,
            t.tagOffset,
          );
          return;
        }
        const track = this.video;
        if (track === undefined) {
          this.warnOnce(
            'E_FLV_NO_CONFIG',
            'video frames before the sequence header are dropped',
            t.tagOffset,
          );
          return;
        }
        const size = t.dataSize - m.headerSize;
        if (size <= 0) return;
        this.out.samples.push(
          this.sample(track.id, t.timestamp, m.cts, m.keyframe, size, t.bodyOffset + m.headerSize),
        );
        return;
      }
      case PACKET_CONFIG: {
        if (m.codec === undefined) {
          this.warnOnce(
            'E_FLV_UNSUPPORTED_CODEC',
            `video ${m.codecName} is not supported; its tags are dropped`,
            t.tagOffset,
          );
          return;
        }
        // Copy: the configuration outlives the pushed chunk.
        const config = t.buf.slice(t.at + m.headerSize, t.at + t.dataSize);
        const prev = this.video;
        if (prev && prev.codec === m.codec && sameBytes(prev.config, config)) return;
        const track: TrackInfo = {
          id: prev?.id ?? this.nextId++,
          kind: 'video',
          codec: m.codec,
          timescale: FLV_TIMESCALE,
          config,
        };
        const w = num(this.metadata?.width);
        const h = num(this.metadata?.height);
        if (w !== undefined && h !== undefined) {
          track.width = w;
          track.height = h;
        }
        this.video = track;
        this.out.tracks.push(track);
        return;
      }
      case PACKET_TRUNCATED:
        this.warnOnce('E_FLV_SHORT_TAG', 'video tag too short for its header; dropped', t.tagOffset);
        return;
      case PACKET_COMMAND:
      case PACKET_END_OF_SEQUENCE:
      case PACKET_METADATA:
        // No picture: video info/command frames, end of sequence, enhanced colour metadata.
        return;
      default:
        this.warnOnce(
          'E_FLV_UNSUPPORTED_PACKET',
          `video packet of ${m.codecName} not supported; dropped`,
          t.tagOffset,
        );
    }
  }

  private audioTag(t: FlvTagView): void {
    const m = t.media;
    if (m.packet === PACKET_TRUNCATED) {
      this.warnOnce('E_FLV_SHORT_TAG', 'audio tag too short for its header; dropped', t.tagOffset);
      return;
    }
    if (m.codec === undefined || (m.packet !== PACKET_FRAME && m.packet !== PACKET_CONFIG)) {
      this.warnOnce(
        'E_FLV_UNSUPPORTED_CODEC',
        `audio ${m.codecName} is not supported; its tags are dropped`,
        t.tagOffset,
      );
      return;
    }
    if (m.packet === PACKET_CONFIG) {
      const config = t.buf.slice(t.at + m.headerSize, t.at + t.dataSize);
      // ffmpeg's FLV from ADTS input opens with an empty sequence header, the real one coming with the
      // first frame: an empty one configures nothing (taken as the track's config, it made such a file
      // unjoinable with any other: 'aac with other decoder settings').
      if (config.length === 0 && m.codec === 'aac') return;
      const prev = this.audio;
      if (prev && prev.codec === m.codec && sameBytes(prev.config, config)) return;
      const params = parseAudioSpecificConfig(config);
      this.setAudio(prev, 'aac', config, params.sampleRate, params.channels);
      return;
    }
    let track = this.audio;
    if (m.codec === 'mp3') {
      if (track === undefined || track.codec !== 'mp3') {
        // MP3 has no configuration record: the first frame header defines the track.
        const p = parseMp3Header(t.buf, t.at + m.headerSize, t.avail - m.headerSize);
        track = this.setAudio(track, 'mp3', new Uint8Array(0), p.sampleRate, p.channels);
      }
    } else if (track === undefined) {
      this.warnOnce('E_FLV_NO_CONFIG', 'AAC frames before the AudioSpecificConfig are dropped', t.tagOffset);
      return;
    }
    const size = t.dataSize - m.headerSize;
    if (size <= 0) return;
    this.out.samples.push(this.sample(track.id, t.timestamp, 0, true, size, t.bodyOffset + m.headerSize));
  }

  private setAudio(
    prev: TrackInfo | undefined,
    codec: 'aac' | 'mp3',
    config: Uint8Array,
    sampleRate: number | undefined,
    channels: number | undefined,
  ): TrackInfo {
    const md = this.metadata;
    const track: TrackInfo = {
      id: prev?.id ?? this.nextId++,
      kind: 'audio',
      codec,
      timescale: FLV_TIMESCALE,
      config,
    };
    const rate = sampleRate ?? num(md?.audiosamplerate);
    let ch = channels;
    if (ch === undefined && md !== undefined) {
      ch = num(md.audiochannels) ?? (typeof md.stereo === 'boolean' ? (md.stereo ? 2 : 1) : undefined);
    }
    if (rate !== undefined) track.sampleRate = rate;
    if (ch !== undefined) track.channels = ch;
    this.audio = track;
    this.out.tracks.push(track);
    return track;
  }

  private sample(
    trackId: number,
    dts: number,
    cts: number,
    keyframe: boolean,
    size: number,
    offset: number,
  ): Sample {
    // One shape for every sample (no `data`), so that consumers' property accesses stay monomorphic.
    return { trackId, dts, cts, duration: 0, keyframe, size, offset };
  }

  private scriptTag(t: FlvTagView): void {
    if (this.metadata !== undefined) return;
    let values;
    try {
      values = decodeAmf0All(t.buf.subarray(t.at, t.at + t.dataSize), { baseOffset: t.bodyOffset });
    } catch (err) {
      if (!(err instanceof FormatError)) throw err;
      this.out.warnings.push({
        code: err.code,
        message: `script data tag ignored: ${err.message}`,
        offset: err.offset,
      });
      return;
    }
    // RTMP-recorded files may carry "@setDataFrame" before the name.
    let i = values[0] === '@setDataFrame' ? 1 : 0;
    if (values[i] !== 'onMetaData') return;
    i++;
    const md = values[i];
    if (md !== undefined && isAmfObject(md)) this.metadata = md;
  }
}
