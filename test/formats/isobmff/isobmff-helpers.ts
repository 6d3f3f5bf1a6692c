/** Shared helpers of the ISO-BMFF tests: chunked demuxing, ffprobe packets, framemd5, writing ranges. */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { closeSync, openSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { FormatWarning, Sample } from '../../../src/formats/media.js';
import { seededRandom } from '../../../src/download/retry-policy.js';
import { IsobmffDemuxer } from '../../../src/formats/isobmff/isobmff-demuxer.js';
import type { Mp4TrackInfo } from '../../../src/formats/isobmff/isobmff-moov.js';
import { tools } from '../../helpers/fixtures.js';
import { scratchDir } from '../../helpers/scratch.js';

export const run = promisify(execFile);

export interface Demuxed {
  tracks: Mp4TrackInfo[];
  samples: Sample[];
  warnings: FormatWarning[];
}

/**
 * Demux `data` pushed in `chunk`-byte pieces, checking that every sample is emitted only once all its bytes
 * have been pushed (what a streaming consumer relies on).
 */
export function demuxChunked(data: Uint8Array, chunk: number): Demuxed {
  const d = new IsobmffDemuxer();
  const out: Demuxed = { tracks: [], samples: [], warnings: [] };
  let pushed = 0;
  const take = (o: ReturnType<IsobmffDemuxer['push']>): void => {
    out.tracks.push(...o.tracks);
    for (const s of o.samples) {
      assert.ok((s.offset ?? Infinity) + s.size <= pushed, `sample at ${s.offset} emitted before its bytes`);
      out.samples.push(s);
    }
    out.warnings.push(...o.warnings);
  };
  for (let i = 0; i < data.length; i += chunk) {
    const piece = data.subarray(i, Math.min(data.length, i + chunk));
    pushed += piece.length;
    take(d.push(piece));
  }
  take(d.end());
  return out;
}

export interface Packet {
  pts: number;
  dts: number;
  size: number;
  key: boolean;
}

/** ffprobe's packets, per stream index, in demux order. */
export async function ffprobePackets(path: string): Promise<Packet[][]> {
  const { stdout } = await run(
    tools().ffprobe.path,
    ['-v', 'error', '-show_entries', 'packet=stream_index,pts,dts,size,flags', '-of', 'json', path],
    { maxBuffer: 64 << 20 },
  );
  const raw = JSON.parse(stdout) as {
    packets: { stream_index: number; pts: number; dts: number; size: string; flags: string }[];
  };
  const out: Packet[][] = [];
  for (const p of raw.packets) {
    (out[p.stream_index] ??= []).push({
      pts: p.pts,
      dts: p.dts,
      size: Number(p.size),
      key: p.flags.includes('K'),
    });
  }
  return out;
}

/**
 * Our samples in ffprobe's terms: ffprobe applies the edit list as a shift (media_time moves to 0, an empty
 * edit delays), so convert our raw decode times the same way.
 */
export function asPackets(d: Demuxed): Packet[][] {
  return d.tracks.map((t) => {
    const shift = t.edit ? t.edit.delay - t.edit.mediaTime : 0;
    return d.samples
      .filter((s) => s.trackId === t.id)
      .map((s) => ({ pts: s.dts + s.cts + shift, dts: s.dts + shift, size: s.size, key: s.keyframe }));
  });
}

/** `ffmpeg -i path -map 0 -f framemd5 -`, with optional input options before -i. */
export async function framemd5(path: string, inputOptions: string[] = []): Promise<string> {
  const { stdout } = await run(
    tools().ffmpeg.path,
    ['-v', 'error', ...inputOptions, '-i', path, '-map', '0', '-f', 'framemd5', '-'],
    { maxBuffer: 64 << 20 },
  );
  return stdout;
}

/** What a full decode prints with -v error (nothing for a clean file). */
export async function decodeErrors(path: string): Promise<string> {
  const { stdout, stderr } = await run(tools().ffmpeg.path, ['-v', 'error', '-i', path, '-f', 'null', '-']);
  return stdout + stderr;
}

/** Write head, the samples' payloads copied from `src`, then tail. */
export function writeFile(path: string, parts: (Uint8Array | Sample[])[], src: Uint8Array): void {
  const fd = openSync(path, 'w');
  try {
    for (const p of parts) {
      if (p instanceof Uint8Array) writeSync(fd, p);
      else for (const s of p) writeSync(fd, src, s.offset as number, s.size);
    }
  } finally {
    closeSync(fd);
  }
}

let dir: string | undefined;
export function tempPath(name: string): string {
  dir ??= scratchDir('castkit-isobmff-');
  return join(dir, name);
}

/** A small deterministic PRNG (mulberry32, the retry policy's), so fuzz failures reproduce. */
export const prng = seededRandom;
