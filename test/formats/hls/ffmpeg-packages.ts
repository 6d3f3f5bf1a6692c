/**
 * HLS and DASH packages written by ffmpeg at test time (4 s of testsrc2 + sine), each in its own temporary
 * directory, so manifest tests can compare what the parsers list with the files ffmpeg actually wrote.
 */
import { execFile } from 'node:child_process';
import { readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { tools } from '../../helpers/fixtures.js';
import { scratchDir } from '../../helpers/scratch.js';

const run = promisify(execFile);

export const INPUT = [
  '-f',
  'lavfi',
  '-i',
  'testsrc2=size=320x240:rate=30:duration=4',
  '-f',
  'lavfi',
  '-i',
  'sine=frequency=440:sample_rate=48000:duration=4',
];
export const VIDEO_ONLY_INPUT = ['-f', 'lavfi', '-i', 'testsrc2=size=320x240:rate=30:duration=4'];
export const X264 = ['-c:v', 'libx264', '-preset', 'veryfast', '-pix_fmt', 'yuv420p', '-g', '30', '-bf', '0'];
export const AAC = ['-c:a', 'aac', '-b:a', '64k'];

export interface Package {
  dir: string;
  /** Manifest file name inside dir. */
  manifest: string;
  text: string;
  /** Every file ffmpeg wrote, sorted. */
  files: string[];
  /** Extra files written before ffmpeg ran (key info...). */
  cleanup(): void;
}

/** Run ffmpeg with `args` then the manifest path, in a fresh directory; `before` writes input files there. */
export async function ffmpegPackage(
  name: string,
  manifest: string,
  args: (dir: string) => string[],
  before?: (dir: string) => void,
): Promise<Package> {
  const dir = scratchDir(`castkit-${name}-`);
  before?.(dir);
  const pre = new Set(readdirSync(dir));
  await run(tools().ffmpeg.path, ['-hide_banner', '-v', 'error', '-y', ...args(dir), join(dir, manifest)], {
    cwd: dir,
    maxBuffer: 16 << 20,
  });
  return {
    dir,
    manifest,
    text: readFileSync(join(dir, manifest), 'utf8'),
    files: readdirSync(dir)
      .filter((f) => !pre.has(f))
      .sort(),
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}

export function writeFile(dir: string, name: string, data: string | Uint8Array): string {
  const p = join(dir, name);
  writeFileSync(p, data);
  return p;
}

/** The last path component of a URL, without its query. */
export function fileOf(uri: string): string {
  return new URL(uri).pathname.split('/').pop() ?? '';
}
