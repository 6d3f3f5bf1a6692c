/**
 * What plays the output decides whether it is right: ffmpeg decodes it fully, framemd5 hashes of the
 * decoded frames, and ffprobe's packet list.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { tools } from './fixtures.js';

const run = promisify(execFile);
const BIG = { maxBuffer: 512 << 20 };

/**
 * Decoded-frame hashes per stream type ("video"/"audio"), in presentation order. `ownSizes`: each frame
 * at the size it decodes to (ffmpeg -autoscale 0); by default ffmpeg scales every frame to the first
 * one's size, so the frames after a change of resolution hash differently from the same frames decoded
 * from a file of their own.
 */
export async function frameHashes(
  path: string,
  options: { ignoreEditList?: boolean; ownSizes?: boolean } = {},
): Promise<{ video: string[]; audio: string[] }> {
  const pre = options.ignoreEditList ? ['-ignore_editlist', '1'] : [];
  const scale = options.ownSizes ? ['-autoscale', '0'] : [];
  const { stdout } = await run(
    tools().ffmpeg.path,
    ['-v', 'error', ...pre, '-i', path, '-map', '0:v?', '-map', '0:a?', ...scale, '-f', 'framemd5', '-'],
    BIG,
  );
  const out = { video: [] as string[], audio: [] as string[] };
  // framemd5 lines: stream_index, dts, pts, duration, size, hash; stream 0 = first mapped (video if any).
  const types = await streamTypes(path);
  const mapped = [...types.filter((t) => t === 'video'), ...types.filter((t) => t === 'audio')];
  for (const line of stdout.split('\n')) {
    if (line.startsWith('#') || line.trim() === '') continue;
    const cols = line.split(',').map((c) => c.trim());
    const kind = mapped[Number(cols[0])];
    const hash = cols[5];
    if (hash && (kind === 'video' || kind === 'audio')) out[kind].push(hash);
  }
  return out;
}

export async function streamTypes(path: string): Promise<string[]> {
  // JSON, because the csv form also lists each program's streams again (MPEG-TS).
  const { stdout } = await run(tools().ffprobe.path, [
    '-v',
    'error',
    '-show_entries',
    'stream=codec_type',
    '-of',
    'json',
    path,
  ]);
  return (JSON.parse(stdout) as { streams: { codec_type: string }[] }).streams.map((s) => s.codec_type);
}

/** Each stream's language tag as ffprobe reads it (TAG:language; '' when there is none), in stream order. */
export async function trackLanguages(path: string): Promise<{ type: string; language: string }[]> {
  const { stdout } = await run(tools().ffprobe.path, [
    '-v',
    'error',
    '-show_entries',
    'stream=codec_type:stream_tags=language',
    '-of',
    'json',
    path,
  ]);
  const json = JSON.parse(stdout) as { streams: { codec_type: string; tags?: { language?: string } }[] };
  return json.streams.map((s) => ({ type: s.codec_type, language: s.tags?.language ?? '' }));
}

export interface PacketInfo {
  type: string;
  pts: number;
  dts: number;
  duration: number;
  size: number;
  keyframe: boolean;
}

/**
 * ffprobe's packets, timestamps in seconds. `asWritten`: no timestamp made up where the file has none (an
 * MPEG-TS PES without a DTS has it equal to its PTS, which ffmpeg otherwise guesses from the frame delay).
 */
export async function packets(path: string, options: { asWritten?: boolean } = {}): Promise<PacketInfo[]> {
  const { stdout } = await run(
    tools().ffprobe.path,
    [
      '-v',
      'error',
      ...(options.asWritten ? ['-fflags', '+nofillin'] : []),
      '-show_entries',
      'packet=codec_type,pts_time,dts_time,duration_time,size,flags',
      '-of',
      'json',
      path,
    ],
    BIG,
  );
  const json = JSON.parse(stdout) as { packets: Record<string, string>[] };
  return json.packets.map((p) => ({
    type: p.codec_type ?? '',
    pts: Number(p.pts_time),
    dts: Number(p.dts_time),
    duration: Number(p.duration_time),
    size: Number(p.size),
    keyframe: (p.flags ?? '').includes('K'),
  }));
}

/** ffprobe's duration of the file (for an MP4 the movie's, edit lists included), seconds. */
export async function formatDuration(path: string): Promise<number> {
  const { stdout } = await run(tools().ffprobe.path, [
    ...['-v', 'error', '-show_entries', 'format=duration', '-of', 'csv=p=0', path],
  ]);
  return Number(stdout.trim());
}

/** Everything ffmpeg says while decoding the whole file; '' means a clean decode. */
export async function decodeMessages(path: string): Promise<string> {
  const { stderr } = await run(tools().ffmpeg.path, ['-v', 'error', '-i', path, '-f', 'null', '-'], BIG);
  return stderr.trim();
}
