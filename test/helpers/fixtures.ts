/**
 * Small media fixtures made by ffmpeg at test time (testsrc2 + sine) and cached under the OS temp dir,
 * keyed by a hash of the exact ffmpeg arguments and the ffmpeg version, so a change to either remakes them.
 * Files are written under a temporary name and renamed, so a half-written fixture is never used.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { locateTools, type Toolset } from '../../src/ffmpeg/locate.js';

const run = promisify(execFile);

let toolsCache: Toolset | undefined;
export function tools(): Toolset {
  return (toolsCache ??= locateTools({}));
}

export const FIXTURE_DIR = join(tmpdir(), 'castkit-fixtures');

export interface MediaSpec {
  /** File name stem, for people reading the cache dir. */
  name: string;
  /** Output extension including the dot. */
  ext: string;
  /** ffmpeg arguments between `ffmpeg -y` and the output path. `{dep:NAME}` is replaced by that fixture's path. */
  args: string[];
  /** Other fixtures this one is made from. */
  deps?: string[];
  /** Text files written next to the output first: name -> content; `{file:NAME}` in args points at them. */
  files?: Record<string, string>;
}

const SUBTITLES = `1
00:00:00,000 --> 00:00:01,000
castkit fixture

2
00:00:01,000 --> 00:00:02,000
second cue
`;

/** ffmpeg inputs: `source` video (testsrc2 by default) and a 440 Hz sine at 48 kHz, `seconds` long. */
export const lavfiAv = (seconds: number, size = '320x240', rate = 30, source = 'testsrc2'): string[] => [
  '-f',
  'lavfi',
  '-i',
  `${source}=size=${size}:rate=${rate}:duration=${seconds}`,
  '-f',
  'lavfi',
  '-i',
  `sine=frequency=440:sample_rate=48000:duration=${seconds}`,
];

/**
 * x264 with B-frames and a keyframe every `gop` frames exactly (no shorter GOPs, no scene cuts): the
 * fixtures that are cut into chunks or segments are cut at those keyframes.
 */
export const x264FixedGop = (gop: number): string[] => [
  '-c:v',
  'libx264',
  '-preset',
  'veryfast',
  '-pix_fmt',
  'yuv420p',
  '-bf',
  '2',
  '-g',
  String(gop),
  '-keyint_min',
  String(gop),
  '-sc_threshold',
  '0',
];
const X264 = ['-c:v', 'libx264', '-preset', 'veryfast', '-pix_fmt', 'yuv420p', '-bf', '2', '-g', '30'];
const AAC = ['-c:a', 'aac', '-b:a', '96k', '-ac', '2'];

/** Fixture `dep` put into another container by ffmpeg -c copy. */
const copied = (dep: string, name: string, ext: string): MediaSpec => ({
  name,
  ext,
  deps: [dep],
  args: ['-i', `{dep:${dep}}`, '-c', 'copy'],
});

/** The generated fixtures every format test can use. */
export const FIXTURES: Record<string, MediaSpec> = {
  'h264-aac.mp4': {
    name: 'h264-aac',
    ext: '.mp4',
    args: [...lavfiAv(2), ...X264, ...AAC, '-metadata:s:a:0', 'language=eng', '-shortest'],
  },
  'h264-aac.fmp4': {
    name: 'h264-aac-frag',
    ext: '.mp4',
    deps: ['h264-aac.mp4'],
    args: [
      '-i',
      '{dep:h264-aac.mp4}',
      '-c',
      'copy',
      '-movflags',
      'frag_keyframe+empty_moov+default_base_moof',
    ],
  },
  'h264-aac.flv': copied('h264-aac.mp4', 'h264-aac', '.flv'),
  'h264-aac.ts': copied('h264-aac.mp4', 'h264-aac', '.ts'),
  /** ffmpeg's FLV from a TS (ADTS audio): an empty AAC sequence header first, the real one with the frames. */
  'h264-aac-from-ts.flv': copied('h264-aac.ts', 'h264-aac-from-ts', '.flv'),
  /**
   * 8.6 MB of noisy 320x240 video (6 s) with AAC: larger than what a remux reads before it sizes the moov
   * room, and big enough to take a noticeable time when given many times over.
   */
  'noise.ts': {
    name: 'h264-aac-noise',
    ext: '.ts',
    args: [...lavfiAv(6), '-vf', 'noise=alls=30:allf=t', ...X264, '-crf', '14', ...AAC, '-shortest'],
  },
  'noise.mp4': copied('noise.ts', 'h264-aac-noise', '.mp4'),
  'noise.flv': copied('noise.ts', 'h264-aac-noise', '.flv'),
  'hevc-aac.mp4': {
    name: 'hevc-aac',
    ext: '.mp4',
    args: [
      ...lavfiAv(2),
      '-c:v',
      'libx265',
      '-preset',
      'ultrafast',
      '-pix_fmt',
      'yuv420p',
      '-tag:v',
      'hvc1',
      '-x265-params',
      'log-level=error',
      ...AAC,
      '-shortest',
    ],
  },
  'audio.m4a': {
    name: 'audio',
    ext: '.m4a',
    args: ['-f', 'lavfi', '-i', 'sine=frequency=330:sample_rate=44100:duration=2', ...AAC],
  },
  'subs.mkv': {
    name: 'subs',
    ext: '.mkv',
    deps: ['h264-aac.mp4'],
    files: { 'subs.srt': SUBTITLES },
    args: [
      '-i',
      '{dep:h264-aac.mp4}',
      '-i',
      '{file:subs.srt}',
      '-map',
      '0',
      '-map',
      '1',
      '-c:v',
      'copy',
      '-c:a',
      'copy',
      '-c:s',
      'srt',
      '-metadata:s:s:0',
      'language=fre',
    ],
  },
};

let versionCache: string | undefined;
async function ffmpegVersion(): Promise<string> {
  if (versionCache === undefined) {
    const { stdout } = await run(tools().ffmpeg.path, ['-version']);
    versionCache = stdout.split('\n')[0] ?? '';
  }
  return versionCache;
}

/** Make (or reuse) the file described by `spec`; returns its path. */
export async function makeMedia(
  spec: MediaSpec,
  resolveDep: (name: string) => Promise<string> = fixture,
): Promise<string> {
  const deps: Record<string, string> = {};
  for (const d of spec.deps ?? []) deps[d] = await resolveDep(d);
  const key = createHash('sha256')
    .update(JSON.stringify([spec, deps, await ffmpegVersion()]))
    .digest('hex')
    .slice(0, 12);
  mkdirSync(FIXTURE_DIR, { recursive: true });
  const out = join(FIXTURE_DIR, `${spec.name}-${key}${spec.ext}`);
  if (existsSync(out)) return out;
  const work = mkdtempSync(join(FIXTURE_DIR, `.work-${key}-`));
  try {
    for (const [name, content] of Object.entries(spec.files ?? {})) writeFileSync(join(work, name), content);
    const args = spec.args.map((a) =>
      a
        .replace(/\{dep:([^}]+)\}/g, (_, d: string) => deps[d] ?? a)
        .replace(/\{file:([^}]+)\}/g, (_, f: string) => join(work, f)),
    );
    const tmp = join(work, `out${spec.ext}`);
    await run(tools().ffmpeg.path, ['-hide_banner', '-v', 'error', '-y', ...args, tmp], {
      maxBuffer: 16 << 20,
    });
    renameSync(tmp, out);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  return out;
}

/** Path of a named fixture from FIXTURES, generated on first use. */
export async function fixture(name: keyof typeof FIXTURES | string): Promise<string> {
  const spec = FIXTURES[name];
  if (!spec) throw new Error(`unknown fixture ${name}`);
  return makeMedia(spec);
}

/** A longer clip, for benchmarks and long-stream tests. */
export function clipSpec(seconds: number, size = '1280x720', rate = 30, videoBitrate = '2M'): MediaSpec {
  return {
    name: `clip-${seconds}s-${size}-${videoBitrate}`,
    ext: '.mp4',
    args: [
      ...lavfiAv(seconds, size, rate),
      ...X264,
      '-b:v',
      videoBitrate,
      ...AAC,
      '-shortest',
      '-movflags',
      '+faststart',
    ],
  };
}

/**
 * Cuts `clip` into `seconds`-long FLV chunks at keyframes (timestamps restarting at 0 in every chunk, or
 * running on), into a folder under the fixture dir keyed by the clip (its name carries the ffmpeg version
 * key) and the arguments; made once, in a work folder renamed into place whole. Returns the chunk paths
 * in order.
 */
export async function flvChunks(clip: string, seconds: number, resetTimestamps: boolean): Promise<string[]> {
  const args = ['-map', '0', '-c', 'copy', '-f', 'segment', '-segment_time', String(seconds)];
  args.push('-segment_format', 'flv', '-reset_timestamps', resetTimestamps ? '1' : '0');
  const key = createHash('sha256')
    .update(JSON.stringify([clip, args]))
    .digest('hex')
    .slice(0, 12);
  const dir = join(FIXTURE_DIR, `flv-chunks-${key}`);
  if (!existsSync(dir)) {
    mkdirSync(FIXTURE_DIR, { recursive: true });
    const work = mkdtempSync(join(FIXTURE_DIR, `.work-${key}-`));
    try {
      await run(tools().ffmpeg.path, [
        '-hide_banner',
        '-v',
        'error',
        '-y',
        '-i',
        clip,
        ...args,
        join(work, 'chunk_%05d.flv'),
      ]);
      try {
        renameSync(work, dir);
      } catch (e) {
        if (!existsSync(dir)) throw e; // another run made it meanwhile: use theirs
      }
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
  }
  return readdirSync(dir)
    .filter((f) => /^chunk_\d+\.flv$/.test(f))
    .sort()
    .map((f) => join(dir, f));
}
