/**
 * Test helpers shared by the codec and MPEG-TS tests: a minimal ISO-BMFF box walk that finds a track's
 * decoder configuration (avcC/hvcC) in an MP4 file (the real ISO-BMFF module lives elsewhere), and thin
 * ffprobe/ffmpeg wrappers that return what ffmpeg thinks of the same file.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { promisify } from 'node:util';
import { tools } from '../../helpers/fixtures.js';

const run = promisify(execFile);

function u32(b: Uint8Array, at: number): number {
  return (((b[at] ?? 0) << 24) | ((b[at + 1] ?? 0) << 16) | ((b[at + 2] ?? 0) << 8) | (b[at + 3] ?? 0)) >>> 0;
}
function type(b: Uint8Array, at: number): string {
  return String.fromCharCode(b[at] ?? 0, b[at + 1] ?? 0, b[at + 2] ?? 0, b[at + 3] ?? 0);
}

/** Children of a box body [start, end): [type, bodyStart, bodyEnd]. */
function children(b: Uint8Array, start: number, end: number): Array<[string, number, number]> {
  const out: Array<[string, number, number]> = [];
  let at = start;
  while (at + 8 <= end) {
    let size = u32(b, at);
    let header = 8;
    if (size === 1) {
      size = u32(b, at + 8) * 2 ** 32 + u32(b, at + 12);
      header = 16;
    } else if (size === 0) size = end - at;
    if (size < header || at + size > end) break;
    out.push([type(b, at + 4), at + header, at + size]);
    at += size;
  }
  return out;
}

/**
 * The body of the first `box` (e.g. 'avcC', 'hvcC') inside a video sample entry of the file:
 * moov/trak/mdia/minf/stbl/stsd/<entry>/<box> (ISO/IEC 14496-12 8.5.2, 12.1.3; 14496-15 5.4, 8.4).
 */
export function sampleEntryBox(file: Uint8Array, box: string): Uint8Array | undefined {
  const walk = (start: number, end: number, path: string[]): Uint8Array | undefined => {
    for (const [t, s, e] of children(file, start, end)) {
      if (t !== path[0]) continue;
      if (path.length === 1) {
        // stsd: full box header (4) + entry_count (4), then sample entries; a visual sample entry has
        // 78 bytes of fields after its 8-byte header before its child boxes.
        for (const [, es, ee] of children(file, s + 8, e)) {
          for (const [ct, cs, ce] of children(file, es + 78, ee))
            if (ct === box) return file.subarray(cs, ce);
        }
        continue;
      }
      const found = walk(s, e, path.slice(1));
      if (found) return found;
    }
    return undefined;
  };
  return walk(0, file.length, ['moov', 'trak', 'mdia', 'minf', 'stbl', 'stsd']);
}

export interface ProbePacket {
  codec_type: 'video' | 'audio';
  stream_index: number;
  pts?: number;
  dts?: number;
  size: string;
  flags: string;
}

export async function ffprobePackets(path: string): Promise<ProbePacket[]> {
  const { stdout } = await run(
    tools().ffprobe.path,
    [
      '-v',
      'error',
      '-show_entries',
      'packet=codec_type,stream_index,pts,dts,size,flags',
      '-of',
      'json',
      path,
    ],
    { maxBuffer: 256 << 20 },
  );
  return (JSON.parse(stdout) as { packets: ProbePacket[] }).packets;
}

export interface ProbeStream {
  index: number;
  codec_type: string;
  codec_name: string;
  profile?: string;
  level?: number;
  width?: number;
  height?: number;
  sample_rate?: string;
  channels?: number;
  extradata?: string;
  pix_fmt?: string;
  tags?: { language?: string };
}

export async function ffprobeStreams(path: string): Promise<ProbeStream[]> {
  const { stdout } = await run(
    tools().ffprobe.path,
    ['-v', 'error', '-show_streams', '-show_data', '-of', 'json', path],
    { maxBuffer: 64 << 20 },
  );
  return (JSON.parse(stdout) as { streams: ProbeStream[] }).streams;
}

/** The bytes of ffprobe's `-show_data` hex dump ("00000000: 0164 000d ...  text"). */
export function hexDumpBytes(dump: string | undefined): Uint8Array {
  const bytes: number[] = [];
  for (const line of (dump ?? '').split('\n')) {
    const m = /^[0-9a-f]{8}: ((?:[0-9a-f]{2,4} ?)+)/.exec(line.trim());
    if (!m?.[1]) continue;
    const hex = m[1].replace(/ /g, '');
    for (let i = 0; i + 2 <= hex.length; i += 2) bytes.push(parseInt(hex.slice(i, i + 2), 16));
  }
  return Uint8Array.from(bytes);
}

/** MD5 of each packet of one stream, as ffmpeg's framemd5 muxer computes it with -c copy. */
export async function packetMd5s(path: string, map: string): Promise<string[]> {
  const { stdout } = await run(
    tools().ffmpeg.path,
    ['-v', 'error', '-i', path, '-map', map, '-c', 'copy', '-f', 'framemd5', '-'],
    { maxBuffer: 64 << 20 },
  );
  return stdout
    .split('\n')
    .filter((l) => l && !l.startsWith('#'))
    .map((l) => l.split(',').pop()?.trim() ?? '');
}

export function md5(data: Uint8Array): string {
  return createHash('md5').update(data).digest('hex');
}
