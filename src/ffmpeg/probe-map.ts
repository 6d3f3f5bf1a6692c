import { parseClock, parseRational, roundTo } from '../core/time.js';

/** castkit's stable probe schema: numbers as numbers, seconds for durations, absent fields omitted. */
export interface MediaFormat {
  name: string;
  duration?: number;
  size?: number;
  bitRate?: number;
}

export type StreamType = 'video' | 'audio' | 'subtitle' | 'data';

export interface MediaStream {
  index: number;
  type: StreamType;
  codec: string;
  profile?: string;
  level?: number;
  width?: number;
  height?: number;
  frameRate?: number;
  pixelFormat?: string;
  sampleRate?: number;
  channels?: number;
  language?: string;
  bitRate?: number;
  duration?: number;
}

export interface MediaInfo {
  input: string;
  format: MediaFormat;
  streams: MediaStream[];
}

/** The subset of `ffprobe -show_format -show_streams -of json` that castkit reads. */
export interface FfprobeJson {
  format?: Record<string, unknown> & { tags?: Record<string, unknown> };
  streams?: (Record<string, unknown> & {
    tags?: Record<string, unknown>;
    disposition?: Record<string, unknown>;
  })[];
}

function str(v: unknown): string | undefined {
  return typeof v === 'string' && v !== '' ? v : undefined;
}

function posNum(v: unknown): number | undefined {
  const n = typeof v === 'number' ? v : typeof v === 'string' ? Number(v) : NaN;
  return Number.isFinite(n) && n > 0 ? n : undefined;
}

function tag(tags: Record<string, unknown> | undefined, name: string): string | undefined {
  if (!tags) return undefined;
  const key = Object.keys(tags).find((k) => k.toLowerCase() === name.toLowerCase());
  return key === undefined ? undefined : str(tags[key]);
}

function streamType(codecType: unknown): StreamType {
  if (codecType === 'video' || codecType === 'audio' || codecType === 'subtitle') return codecType;
  return 'data';
}

/** H.264 stores level x10 (40 = 4.0), HEVC x30 (120 = 4.0); ffprobe reports them raw. */
function humanLevel(codec: string, level: unknown): number | undefined {
  const n = posNum(level);
  if (n === undefined) return undefined;
  if (codec === 'h264') return n / 10;
  if (codec === 'hevc') return roundTo(n / 30, 1);
  return n;
}

function set<T extends object, K extends keyof T>(obj: T, key: K, value: T[K] | undefined): void {
  if (value !== undefined) obj[key] = value;
}

/** Map ffprobe's JSON to the stable schema. Pure. */
export function mapFfprobe(input: string, json: FfprobeJson): MediaInfo {
  const f = json.format ?? {};
  const format: MediaFormat = { name: str(f.format_name) ?? 'unknown' };
  set(format, 'duration', posNum(f.duration));
  set(format, 'size', posNum(f.size));
  set(format, 'bitRate', posNum(f.bit_rate));

  const streams = (json.streams ?? []).map((s, i): MediaStream => {
    const codec = str(s.codec_name) ?? 'unknown';
    const type = streamType(s.codec_type);
    const out: MediaStream = { index: typeof s.index === 'number' ? s.index : i, type, codec };
    const profile = str(s.profile);
    if (profile !== undefined && profile.toLowerCase() !== 'unknown') out.profile = profile;
    if (type === 'video') {
      set(out, 'level', humanLevel(codec, s.level));
      set(out, 'width', posNum(s.width));
      set(out, 'height', posNum(s.height));
      const isCover = s.disposition?.attached_pic === 1;
      const fps = parseRational(str(s.avg_frame_rate)) ?? parseRational(str(s.r_frame_rate));
      if (!isCover && fps !== undefined) out.frameRate = roundTo(fps, 3);
      set(out, 'pixelFormat', str(s.pix_fmt));
    }
    if (type === 'audio') {
      set(out, 'sampleRate', posNum(s.sample_rate));
      set(out, 'channels', posNum(s.channels));
    }
    const lang = tag(s.tags, 'language');
    if (lang !== undefined && lang !== 'und') out.language = lang;
    // Matroska keeps per-stream bit rate and duration in tags (BPS, DURATION).
    set(out, 'bitRate', posNum(s.bit_rate) ?? posNum(tag(s.tags, 'BPS')));
    set(out, 'duration', posNum(s.duration) ?? parseClock(tag(s.tags, 'DURATION')));
    return out;
  });
  return { input, format, streams };
}
