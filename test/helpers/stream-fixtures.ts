/**
 * HLS and DASH packages for the recorder tests, made by ffmpeg at test time from one source clip and cached
 * under the OS temp dir (see fixtures.ts). The best video rendition of every package is a stream copy of the
 * clip, so a correct recording decodes to exactly the clip's video frames.
 *
 * The source clip: testsrc2 + a 440 Hz sine, H.264 (libx264 veryfast, 2 B-frames, a closed GOP of exactly one
 * segment, scene-cut off, so every segment starts with an IDR frame) + AAC-LC 48 kHz stereo 96 kb/s,
 * 640x360 at 25 fps, 20 s by default. A 320x180 re-encode of it (same GOP, audio copied) is the second
 * rendition where there is one, and a 660 Hz sine (AAC, same settings) is the 'de' audio of hls-alt-audio.
 *
 * A package is built in a work folder and renamed into place whole, keyed by a hash of its inputs (whose
 * names carry the ffmpeg version key), its options and the text of this module, so any change to the recipes
 * below remakes them; a half-made package is never used.
 */
import { execFile } from 'node:child_process';
import { createCipheriv, createHash } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { FIXTURE_DIR, makeMedia, tools, x264FixedGop, type MediaSpec } from './fixtures.js';

const run = promisify(execFile);

export type StreamFixtureName =
  | 'hls-ts'
  | 'hls-fmp4'
  | 'hls-aes'
  | 'hls-byterange'
  | 'hls-alt-audio'
  | 'dash-timeline'
  | 'dash-number'
  | 'dash-list'
  | 'dash-base';

export const STREAM_FIXTURES: readonly StreamFixtureName[] = [
  'hls-ts',
  'hls-fmp4',
  'hls-aes',
  'hls-byterange',
  'hls-alt-audio',
  'dash-timeline',
  'dash-number',
  'dash-list',
  'dash-base',
];

export interface StreamFixture {
  name: StreamFixtureName;
  kind: 'hls' | 'dash';
  /** Every file of the package, served as-is under a URL prefix (see serveFixture in live-origin.ts). */
  dir: string;
  /** Path relative to dir of the playlist/MPD to give the recorder. */
  entry: string;
  /** The source clip (MP4): the best video rendition carries its frames unchanged (stream copy). */
  clip: string;
  /**
   * When the audio a recorder picks by default is a different track than clip's audio: a file with that
   * audio. No fixture needs it today: in hls-alt-audio the default ('en') rendition is clip's own audio
   * (stream copy); the other language is in `audioTracks`.
   */
  audioClip?: string;
  /** hls-alt-audio: the file whose audio each rendition carries unchanged, by LANGUAGE ('en' is clip). */
  audioTracks?: Record<string, string>;
  /** Nominal segment duration, seconds. */
  segmentSeconds: number;
  /** Media segments of the best video stream. */
  videoSegments: number;
  /** hls-aes: the AES-128 keys by path relative to dir ('keys/k1.key', 'keys/k2.key'). */
  keys?: Record<string, Buffer>;
  /**
   * hls-aes: the clear-text TS of every encrypted segment, by the segment's path relative to dir. A wrong IV
   * only garbles the first 16 bytes of a segment (its PAT packet), which a demuxer may skip over silently,
   * so compare decrypted bytes with these (or check the 0x47 sync byte at offset 0) to catch it.
   */
  clear?: Record<string, string>;
}

export interface StreamFixtureOptions {
  /** Segment (and GOP) duration in seconds; segmentSeconds * 25 must be a whole number. Default 2. */
  segmentSeconds?: number;
  /** Clip duration in seconds. Default 20. */
  seconds?: number;
}

export const CLIP_SIZE = { width: 640, height: 360 } as const;
export const LOW_SIZE = { width: 320, height: 180 } as const;
export const CLIP_FPS = 25;
/** AES-128 IV written explicitly (IV=0x...) on the first key's EXT-X-KEY in hls-aes. */
export const AES_IV1 = Buffer.from('c0ffee00112233445566778899aabbcc', 'hex');
/** The sine frequency of each audio rendition, by language. */
export const AUDIO_HZ = { en: 440, de: 660 } as const;

const X264 = (gop: number): string[] => [...x264FixedGop(gop), '-x264-params', 'scenecut=0:open_gop=0'];
const AAC = ['-c:a', 'aac', '-b:a', '96k', '-ac', '2', '-ar', '48000'];

function gopFrames(segmentSeconds: number): number {
  const gop = segmentSeconds * CLIP_FPS;
  if (!Number.isInteger(gop) || gop < 1) {
    throw new Error(`segmentSeconds ${segmentSeconds}: segmentSeconds * ${CLIP_FPS} fps must be whole`);
  }
  return gop;
}

/** The source clip of every stream fixture with these options. */
export function streamClipSpec(options: StreamFixtureOptions = {}): MediaSpec {
  const seconds = options.seconds ?? 20;
  const seg = options.segmentSeconds ?? 2;
  const { width, height } = CLIP_SIZE;
  return {
    name: `stream-clip-${seconds}s-gop${seg}s`,
    ext: '.mp4',
    args: [
      '-f',
      'lavfi',
      '-i',
      `testsrc2=size=${width}x${height}:rate=${CLIP_FPS}:duration=${seconds}`,
      '-f',
      'lavfi',
      '-i',
      `sine=frequency=${AUDIO_HZ.en}:sample_rate=48000:duration=${seconds}`,
      ...X264(gopFrames(seg)),
      ...AAC,
      '-metadata:s:a:0',
      'language=eng',
      '-shortest',
      '-movflags',
      '+faststart',
    ],
  };
}

function lowSpec(options: StreamFixtureOptions): MediaSpec {
  const seg = options.segmentSeconds ?? 2;
  return {
    name: `stream-low-${options.seconds ?? 20}s-gop${seg}s`,
    ext: '.mp4',
    deps: ['clip'],
    args: [
      '-i',
      '{dep:clip}',
      '-map',
      '0:v',
      '-map',
      '0:a',
      '-vf',
      `scale=${LOW_SIZE.width}:${LOW_SIZE.height}`,
      ...X264(gopFrames(seg)),
      '-b:v',
      '250k',
      '-maxrate',
      '300k',
      '-bufsize',
      '600k',
      '-c:a',
      'copy',
      '-movflags',
      '+faststart',
    ],
  };
}

function germanSpec(options: StreamFixtureOptions): MediaSpec {
  const seconds = options.seconds ?? 20;
  return {
    name: `stream-audio-de-${seconds}s`,
    ext: '.m4a',
    args: [
      '-f',
      'lavfi',
      '-i',
      `sine=frequency=${AUDIO_HZ.de}:sample_rate=48000:duration=${seconds}`,
      ...AAC,
      '-metadata:s:a:0',
      'language=ger',
    ],
  };
}

interface Inputs {
  clip: string;
  low: string;
  de: string;
}

async function inputs(options: StreamFixtureOptions): Promise<Inputs> {
  const clip = await makeMedia(streamClipSpec(options));
  const [low, de] = await Promise.all([
    makeMedia(lowSpec(options), () => Promise.resolve(clip)),
    makeMedia(germanSpec(options)),
  ]);
  return { clip, low, de };
}

/** What is stored next to a package (meta.json), from which a StreamFixture is rebuilt. */
interface Meta {
  kind: 'hls' | 'dash';
  entry: string;
  videoSegments: number;
  keys?: Record<string, string>;
  audioTracks?: Record<string, string>;
  /** Relative to the fixture folder (outside the package). */
  clear?: Record<string, string>;
}

interface BuildContext {
  /** The package folder (everything served). */
  pkg: string;
  /** The fixture folder: pkg plus files that are not served (clear text, meta.json). */
  root: string;
  in: Inputs;
  seg: number;
}

async function ffmpeg(cwd: string, args: string[]): Promise<void> {
  mkdirSync(cwd, { recursive: true });
  await run(tools().ffmpeg.path, ['-hide_banner', '-v', 'error', '-y', ...args], {
    cwd,
    maxBuffer: 16 << 20,
  });
}

/** One HLS media playlist of `input`'s `maps`, written by ffmpeg's hls muxer into `dir`. */
function hlsArgs(
  input: string,
  maps: string[],
  seg: number,
  extra: string[] = [],
  segmentName = 'seg_%03d.ts',
): string[] {
  return [
    '-i',
    input,
    ...maps.flatMap((m) => ['-map', m]),
    '-c',
    'copy',
    '-f',
    'hls',
    '-hls_time',
    String(seg),
    '-hls_playlist_type',
    'vod',
    '-hls_segment_filename',
    segmentName,
    ...extra,
    'index.m3u8',
  ];
}

interface MediaLine {
  duration: number;
  uri: string;
  /** [length, offset] */
  range?: [number, number];
}

/** The segments of an HLS media playlist (ffmpeg's own output; just enough to measure it). */
function readMedia(path: string): { segments: MediaLine[]; sequence: number; lines: string[] } {
  const lines = readFileSync(path, 'utf8').split(/\r?\n/);
  const segments: MediaLine[] = [];
  let duration: number | undefined;
  let range: [number, number] | undefined;
  let sequence = 0;
  let nextOffset = 0;
  for (const line of lines) {
    if (line.startsWith('#EXTINF:')) duration = parseFloat(line.slice(8));
    else if (line.startsWith('#EXT-X-MEDIA-SEQUENCE:')) sequence = Number(line.slice(22));
    else if (line.startsWith('#EXT-X-BYTERANGE:')) {
      const [len, off] = line.slice(17).split('@');
      range = [Number(len), off === undefined ? nextOffset : Number(off)];
      nextOffset = range[0] + range[1];
    } else if (line !== '' && !line.startsWith('#')) {
      if (duration === undefined) throw new Error(`${path}: ${line} has no EXTINF`);
      segments.push({ duration, uri: line, ...(range ? { range } : {}) });
      duration = undefined;
      range = undefined;
    }
  }
  return { segments, sequence, lines };
}

/** Peak and average bit rate of a media playlist's segments (RFC 8216 4.3.4.2 BANDWIDTH/AVERAGE-BANDWIDTH). */
function bitrates(playlist: string): { peak: number; average: number } {
  const dir = dirname(playlist);
  let peak = 0;
  let bits = 0;
  let seconds = 0;
  for (const s of readMedia(playlist).segments) {
    const bytes = s.range ? s.range[0] : statSync(join(dir, s.uri)).size;
    // A tail segment of a frame or two says nothing about the peak rate.
    if (s.duration >= 0.5) peak = Math.max(peak, (bytes * 8) / s.duration);
    bits += bytes * 8;
    seconds += s.duration;
  }
  return { peak: Math.ceil(peak), average: Math.ceil(bits / seconds) };
}

/** RFC 6381 avc1.PPCCLL from the avcC box of an MP4 (profile, constraint flags, level). */
function avcCodec(mp4: string): string {
  const bytes = readFileSync(mp4);
  const at = bytes.indexOf('avcC');
  if (at < 0 || at + 8 > bytes.length) throw new Error(`${mp4}: no avcC box`);
  const hex = (i: number): string => (bytes[at + i] ?? 0).toString(16).padStart(2, '0');
  return `avc1.${hex(5)}${hex(6)}${hex(7)}`;
}

interface Variant {
  uri: string;
  bandwidth: number;
  average: number;
  width: number;
  height: number;
  codecs: string;
  audio?: string;
}

function masterPlaylist(variants: Variant[], media: string[] = []): string {
  const lines = ['#EXTM3U', '#EXT-X-VERSION:3', '#EXT-X-INDEPENDENT-SEGMENTS', ...media];
  for (const v of variants) {
    const attrs = [
      `BANDWIDTH=${v.bandwidth}`,
      `AVERAGE-BANDWIDTH=${v.average}`,
      `RESOLUTION=${v.width}x${v.height}`,
      `CODECS="${v.codecs}"`,
      `FRAME-RATE=${CLIP_FPS.toFixed(3)}`,
      ...(v.audio ? [`AUDIO="${v.audio}"`] : []),
    ];
    lines.push(`#EXT-X-STREAM-INF:${attrs.join(',')}`, v.uri);
  }
  return lines.join('\n') + '\n';
}

const AAC_CODEC = 'mp4a.40.2';

/** A muxed (video + audio) variant folder made by ffmpeg, measured for the master playlist. */
async function muxedVariant(
  c: BuildContext,
  folder: string,
  input: string,
  size: { width: number; height: number },
  fmp4 = false,
): Promise<Variant> {
  const dir = join(c.pkg, folder);
  const args = fmp4
    ? hlsArgs(input, ['0:v', '0:a'], c.seg, FMP4, 'seg_%03d.m4s')
    : hlsArgs(input, ['0:v', '0:a'], c.seg);
  await ffmpeg(dir, args);
  const rate = bitrates(join(dir, 'index.m3u8'));
  return {
    uri: `${folder}/index.m3u8`,
    bandwidth: rate.peak,
    average: rate.average,
    ...size,
    codecs: `${avcCodec(input)},${AAC_CODEC}`,
  };
}

function videoCount(playlist: string): number {
  return readMedia(playlist).segments.length;
}

const FMP4 = ['-hls_segment_type', 'fmp4', '-hls_fmp4_init_filename', 'init.mp4'];

function aesKey(label: string): Buffer {
  return createHash('sha256').update(`castkit stream fixture ${label}`).digest().subarray(0, 16);
}

/** RFC 8216 5.2: with no IV attribute the IV is the media sequence number, a 128-bit big-endian integer. */
function sequenceIv(sequence: number): Buffer {
  const iv = Buffer.alloc(16);
  iv.writeBigUInt64BE(BigInt(sequence), 8);
  return iv;
}

function encrypt(data: Buffer, key: Buffer, iv: Buffer): Buffer {
  // Node's default padding for CBC is PKCS#7, as RFC 8216 4.3.2.4 requires.
  const cipher = createCipheriv('aes-128-cbc', key, iv);
  return Buffer.concat([cipher.update(data), cipher.final()]);
}

interface Box {
  type: string;
  start: number;
  size: number;
}

/** Top-level ISO-BMFF boxes of a file (ISO/IEC 14496-12 4.2), to place SegmentBase ranges. */
function topBoxes(bytes: Buffer): Box[] {
  const boxes: Box[] = [];
  let at = 0;
  while (at + 8 <= bytes.length) {
    let size = bytes.readUInt32BE(at);
    const type = bytes.toString('latin1', at + 4, at + 8);
    if (size === 1) size = Number(bytes.readBigUInt64BE(at + 8));
    else if (size === 0) size = bytes.length - at;
    if (size < 8 || at + size > bytes.length) throw new Error(`bad box ${type} at ${at}`);
    boxes.push({ type, start: at, size });
    at += size;
  }
  return boxes;
}

/** The referenced sizes of a sidx box (ISO/IEC 14496-12 8.16.3) and its first_offset. */
function sidxReferences(bytes: Buffer, box: Box): { firstOffset: number; sizes: number[] } {
  const version = bytes[box.start + 8];
  let at = box.start + 12 + 8; // reference_ID, timescale
  let firstOffset: number;
  if (version === 0) {
    firstOffset = bytes.readUInt32BE(at + 4);
    at += 8;
  } else {
    firstOffset = Number(bytes.readBigUInt64BE(at + 8));
    at += 16;
  }
  const count = bytes.readUInt16BE(at + 2);
  at += 4;
  const sizes: number[] = [];
  for (let i = 0; i < count; i++) sizes.push(bytes.readUInt32BE(at + 12 * i) & 0x7fffffff);
  return { firstOffset, sizes };
}

/** ffmpeg's dash muxer, all renditions copied: low video, clip video (best), clip audio, in that order. */
function dashArgs(c: BuildContext, extra: string[]): string[] {
  return [
    '-i',
    c.in.low,
    '-i',
    c.in.clip,
    '-map',
    '0:v',
    '-map',
    '1:v',
    '-map',
    '1:a',
    '-c',
    'copy',
    '-f',
    'dash',
    '-seg_duration',
    String(c.seg),
    '-adaptation_sets',
    'id=0,streams=v id=1,streams=a',
    ...extra,
    'manifest.mpd',
  ];
}

/** Segment count of a Representation (by id) in an ffmpeg-written MPD, or from the files it wrote. */
function dashVideoSegments(c: BuildContext, mpd: string, repId: string): number {
  const rep = new RegExp(`<Representation id="${repId}"[\\s\\S]*?</Representation>`).exec(mpd)?.[0];
  if (!rep) throw new Error(`no Representation ${repId} in the MPD`);
  const timeline = /<SegmentTimeline>([\s\S]*?)<\/SegmentTimeline>/.exec(rep)?.[1];
  if (timeline !== undefined) {
    let n = 0;
    for (const m of timeline.matchAll(/<S\b([^>]*)\/>/g))
      n += 1 + Number(/\br="(\d+)"/.exec(m[1] ?? '')?.[1] ?? 0);
    return n;
  }
  const list = rep.match(/<SegmentURL\b/g);
  if (list) return list.length;
  return readdirSync(c.pkg).filter((f) => f.startsWith(`chunk-stream${repId}-`)).length;
}

type Builder = (c: BuildContext) => Promise<Meta>;

const BUILDERS: Record<StreamFixtureName, Builder> = {
  'hls-ts': async (c) => {
    // The low rendition is listed first, so "the first variant" is not the best one.
    const lo = await muxedVariant(c, 'v1', c.in.low, LOW_SIZE);
    const hi = await muxedVariant(c, 'v0', c.in.clip, CLIP_SIZE);
    writeFileSync(join(c.pkg, 'master.m3u8'), masterPlaylist([lo, hi]));
    return { kind: 'hls', entry: 'master.m3u8', videoSegments: videoCount(join(c.pkg, 'v0/index.m3u8')) };
  },

  'hls-fmp4': async (c) => {
    const hi = await muxedVariant(c, 'hi', c.in.clip, CLIP_SIZE, true);
    const lo = await muxedVariant(c, 'lo', c.in.low, LOW_SIZE, true);
    writeFileSync(join(c.pkg, 'master.m3u8'), masterPlaylist([hi, lo]));
    return { kind: 'hls', entry: 'master.m3u8', videoSegments: videoCount(join(c.pkg, 'hi/index.m3u8')) };
  },

  'hls-aes': async (c) => {
    const FIRST_SEQUENCE = 7;
    const clearDir = join(c.root, 'clear');
    await ffmpeg(
      clearDir,
      hlsArgs(c.in.clip, ['0:v', '0:a'], c.seg, ['-start_number', String(FIRST_SEQUENCE)]),
    );
    const media = readMedia(join(clearDir, 'index.m3u8'));
    if (media.sequence !== FIRST_SEQUENCE) throw new Error(`ffmpeg wrote media sequence ${media.sequence}`);
    const keys = { 'keys/k1.key': aesKey('k1'), 'keys/k2.key': aesKey('k2') };
    mkdirSync(join(c.pkg, 'keys'));
    mkdirSync(join(c.pkg, 'v0'));
    for (const [path, key] of Object.entries(keys)) writeFileSync(join(c.pkg, path), key);
    const half = Math.ceil(media.segments.length / 2);
    const target = Math.max(...media.segments.map((s) => Math.round(s.duration)));
    const out = [
      '#EXTM3U',
      '#EXT-X-VERSION:3',
      `#EXT-X-TARGETDURATION:${target}`,
      `#EXT-X-MEDIA-SEQUENCE:${FIRST_SEQUENCE}`,
      '#EXT-X-PLAYLIST-TYPE:VOD',
    ];
    const clear: Record<string, string> = {};
    media.segments.forEach((s, i) => {
      const sequence = FIRST_SEQUENCE + i;
      if (i === 0) {
        out.push(`#EXT-X-KEY:METHOD=AES-128,URI="../keys/k1.key",IV=0x${AES_IV1.toString('hex')}`);
      } else if (i === half) {
        out.push('#EXT-X-KEY:METHOD=AES-128,URI="../keys/k2.key"');
      }
      const [key, iv] =
        i < half ? [keys['keys/k1.key'], AES_IV1] : [keys['keys/k2.key'], sequenceIv(sequence)];
      writeFileSync(join(c.pkg, 'v0', s.uri), encrypt(readFileSync(join(clearDir, s.uri)), key, iv));
      clear[`v0/${s.uri}`] = `clear/${s.uri}`;
      out.push(`#EXTINF:${s.duration.toFixed(6)},`, s.uri);
    });
    out.push('#EXT-X-ENDLIST');
    writeFileSync(join(c.pkg, 'v0/index.m3u8'), out.join('\n') + '\n');
    const rate = bitrates(join(c.pkg, 'v0/index.m3u8'));
    const variant: Variant = {
      uri: 'v0/index.m3u8',
      bandwidth: rate.peak,
      average: rate.average,
      ...CLIP_SIZE,
      codecs: `${avcCodec(c.in.clip)},${AAC_CODEC}`,
    };
    writeFileSync(join(c.pkg, 'master.m3u8'), masterPlaylist([variant]));
    return {
      kind: 'hls',
      entry: 'master.m3u8',
      videoSegments: media.segments.length,
      keys: Object.fromEntries(Object.entries(keys).map(([p, k]) => [p, k.toString('hex')])),
      clear,
    };
  },

  'hls-byterange': async (c) => {
    // The entry is the media playlist itself: no master.
    await ffmpeg(c.pkg, hlsArgs(c.in.clip, ['0:v', '0:a'], c.seg, ['-hls_flags', 'single_file'], 'media.ts'));
    const media = readMedia(join(c.pkg, 'index.m3u8'));
    if (!media.segments.every((s) => s.range && s.uri === 'media.ts')) {
      throw new Error('ffmpeg did not write EXT-X-BYTERANGE segments of media.ts');
    }
    return { kind: 'hls', entry: 'index.m3u8', videoSegments: media.segments.length };
  },

  'hls-alt-audio': async (c) => {
    const video = async (folder: string, input: string, size: { width: number; height: number }) => {
      await ffmpeg(join(c.pkg, folder), hlsArgs(input, ['0:v'], c.seg));
      return { folder, input, size, rate: bitrates(join(c.pkg, folder, 'index.m3u8')) };
    };
    const hi = await video('video/hi', c.in.clip, CLIP_SIZE);
    const lo = await video('video/lo', c.in.low, LOW_SIZE);
    await ffmpeg(join(c.pkg, 'audio/en'), hlsArgs(c.in.clip, ['0:a'], c.seg));
    await ffmpeg(join(c.pkg, 'audio/de'), hlsArgs(c.in.de, ['0:a'], c.seg));
    const audioRate = ['en', 'de'].map((l) => bitrates(join(c.pkg, `audio/${l}/index.m3u8`)));
    const audioPeak = Math.max(...audioRate.map((r) => r.peak));
    const audioAverage = Math.max(...audioRate.map((r) => r.average));
    const media = [
      '#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="aac",NAME="English",LANGUAGE="en",DEFAULT=YES,AUTOSELECT=YES,' +
        'CHANNELS="2",URI="audio/en/index.m3u8"',
      '#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="aac",NAME="Deutsch",LANGUAGE="de",DEFAULT=NO,AUTOSELECT=YES,' +
        'CHANNELS="2",URI="audio/de/index.m3u8"',
    ];
    // BANDWIDTH of a variant counts the audio rendition it plays with (RFC 8216 4.3.4.2).
    const variants = [hi, lo].map((v): Variant => ({
      uri: `${v.folder}/index.m3u8`,
      bandwidth: v.rate.peak + audioPeak,
      average: v.rate.average + audioAverage,
      ...v.size,
      codecs: `${avcCodec(v.input)},${AAC_CODEC}`,
      audio: 'aac',
    }));
    writeFileSync(join(c.pkg, 'master.m3u8'), masterPlaylist(variants, media));
    return {
      kind: 'hls',
      entry: 'master.m3u8',
      videoSegments: videoCount(join(c.pkg, 'video/hi/index.m3u8')),
      audioTracks: { en: c.in.clip, de: c.in.de },
    };
  },

  'dash-timeline': async (c) => {
    await ffmpeg(c.pkg, dashArgs(c, ['-use_template', '1', '-use_timeline', '1']));
    const mpd = readFileSync(join(c.pkg, 'manifest.mpd'), 'utf8');
    return { kind: 'dash', entry: 'manifest.mpd', videoSegments: dashVideoSegments(c, mpd, '1') };
  },

  'dash-number': async (c) => {
    await ffmpeg(c.pkg, dashArgs(c, ['-use_template', '1', '-use_timeline', '0']));
    const mpd = readFileSync(join(c.pkg, 'manifest.mpd'), 'utf8');
    return { kind: 'dash', entry: 'manifest.mpd', videoSegments: dashVideoSegments(c, mpd, '1') };
  },

  'dash-list': async (c) => {
    // ffmpeg's single_file mode: one MP4 per Representation, a sidx before every fragment, and a
    // SegmentList of mediaRange (+ indexRange) byte ranges.
    await ffmpeg(c.pkg, dashArgs(c, ['-use_template', '0', '-single_file', '1']));
    const mpd = readFileSync(join(c.pkg, 'manifest.mpd'), 'utf8');
    return { kind: 'dash', entry: 'manifest.mpd', videoSegments: dashVideoSegments(c, mpd, '1') };
  },

  'dash-base': async (c) => {
    // ffmpeg's dash muxer cannot write SegmentBase: with -global_sidx 1 it still writes a SegmentList
    // (whose Initialization range swallows the sidx). So ffmpeg makes the files (ftyp, moov, one global
    // sidx, then the fragments) and the MPD is its own with each SegmentList replaced by a SegmentBase.
    const work = join(c.root, 'dash-base-work');
    await ffmpeg(work, dashArgs(c, ['-use_template', '0', '-single_file', '1', '-global_sidx', '1']));
    let mpd = readFileSync(join(work, 'manifest.mpd'), 'utf8');
    const names: Record<string, string> = { '0': 'video-180p.mp4', '1': 'video-360p.mp4', '2': 'audio.mp4' };
    let videoSegments = 0;
    for (const [id, name] of Object.entries(names)) {
      const file = `manifest-stream${id}.mp4`;
      const bytes = readFileSync(join(work, file));
      const boxes = topBoxes(bytes);
      const sidxAt = boxes.findIndex((b) => b.type === 'sidx');
      const sidx = boxes[sidxAt];
      if (
        !sidx ||
        boxes[sidxAt + 1]?.type !== 'moof' ||
        boxes.slice(0, sidxAt).some((b) => b.type !== 'ftyp' && b.type !== 'moov')
      ) {
        throw new Error(
          `${file}: expected ftyp, moov, sidx, moof..., got ${boxes.map((b) => b.type).join(' ')}`,
        );
      }
      const refs = sidxReferences(bytes, sidx);
      const first = sidx.start + sidx.size + refs.firstOffset;
      const total = refs.sizes.reduce((a, b) => a + b, 0);
      if (first + total !== bytes.length) {
        throw new Error(`${file}: sidx references end at ${first + total}, the file at ${bytes.length}`);
      }
      if (id === '1') videoSegments = refs.sizes.length;
      renameSync(join(work, file), join(c.pkg, name));
      const timescale = /timescale="(\d+)"/;
      const re = new RegExp(
        `(<Representation id="${id}"[\\s\\S]*?)<BaseURL>${file}</BaseURL>\\s*<SegmentList[\\s\\S]*?</SegmentList>`,
      );
      if (!re.test(mpd)) throw new Error(`no SegmentList for Representation ${id} in ffmpeg's MPD`);
      mpd = mpd.replace(re, (_all, head: string) => {
        const ts = timescale.exec(_all)?.[1] ?? '1';
        return (
          `${head}<BaseURL>${name}</BaseURL>\n` +
          `\t\t\t\t<SegmentBase timescale="${ts}" indexRange="${sidx.start}-${sidx.start + sidx.size - 1}">\n` +
          `\t\t\t\t\t<Initialization range="0-${sidx.start - 1}" />\n` +
          `\t\t\t\t</SegmentBase>`
        );
      });
    }
    mpd = mpd.replace('urn:mpeg:dash:profile:isoff-live:2011', 'urn:mpeg:dash:profile:isoff-on-demand:2011');
    writeFileSync(join(c.pkg, 'manifest.mpd'), mpd);
    rmSync(work, { recursive: true, force: true });
    return { kind: 'dash', entry: 'manifest.mpd', videoSegments };
  },
};

let moduleHash: string | undefined;
/** This module's own text: a change to any recipe above changes every package key. */
function recipeHash(): string {
  return (moduleHash ??= createHash('sha256')
    .update(readFileSync(fileURLToPath(import.meta.url)))
    .digest('hex'));
}

function load(name: StreamFixtureName, root: string, inp: Inputs, seg: number): StreamFixture {
  const meta = JSON.parse(readFileSync(join(root, 'meta.json'), 'utf8')) as Meta;
  const f: StreamFixture = {
    name,
    kind: meta.kind,
    dir: join(root, 'pkg'),
    entry: meta.entry,
    clip: inp.clip,
    segmentSeconds: seg,
    videoSegments: meta.videoSegments,
  };
  if (meta.audioTracks) f.audioTracks = meta.audioTracks;
  if (meta.keys) {
    f.keys = Object.fromEntries(Object.entries(meta.keys).map(([p, hex]) => [p, Buffer.from(hex, 'hex')]));
  }
  if (meta.clear) {
    f.clear = Object.fromEntries(Object.entries(meta.clear).map(([p, c]) => [p, join(root, c)]));
  }
  return f;
}

const pending = new Map<string, Promise<StreamFixture>>();

/** Make (or reuse) the package `name`; see the module comment and StreamFixture. */
export function streamFixture(
  name: StreamFixtureName,
  options: StreamFixtureOptions = {},
): Promise<StreamFixture> {
  const memo = JSON.stringify([name, options.segmentSeconds ?? 2, options.seconds ?? 20]);
  let p = pending.get(memo);
  if (!p) {
    p = makeStreamFixture(name, options);
    pending.set(memo, p);
    p.catch(() => pending.delete(memo));
  }
  return p;
}

async function makeStreamFixture(
  name: StreamFixtureName,
  options: StreamFixtureOptions,
): Promise<StreamFixture> {
  const builder = BUILDERS[name];
  if (!builder) throw new Error(`unknown stream fixture ${String(name)}`);
  const seg = options.segmentSeconds ?? 2;
  const inp = await inputs(options);
  const key = createHash('sha256')
    .update(JSON.stringify([name, seg, inp, recipeHash()]))
    .digest('hex')
    .slice(0, 12);
  const root = join(FIXTURE_DIR, `stream-${name}-${seg}s-${key}`);
  if (existsSync(join(root, 'meta.json'))) return load(name, root, inp, seg);
  mkdirSync(FIXTURE_DIR, { recursive: true });
  const work = mkdtempSync(join(FIXTURE_DIR, `.work-${key}-`));
  try {
    const pkg = join(work, 'pkg');
    mkdirSync(pkg);
    const meta = await builder({ pkg, root: work, in: inp, seg });
    writeFileSync(join(work, 'meta.json'), JSON.stringify(meta, null, 2));
    try {
      renameSync(work, root);
    } catch (e) {
      if (!existsSync(join(root, 'meta.json'))) throw e; // another run made it meanwhile: use theirs
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  return load(name, root, inp, seg);
}

/** Every file of a package, as paths relative to its dir with '/' separators, sorted. */
export function packageFiles(fixture: Pick<StreamFixture, 'dir'>): string[] {
  const out: string[] = [];
  const walk = (dir: string): void => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else out.push(relative(fixture.dir, p).split('\\').join('/'));
    }
  };
  walk(fixture.dir);
  return out.sort();
}

/**
 * The best variant's media playlist (the highest BANDWIDTH), relative to the fixture's folder; the entry
 * itself when it is a media playlist.
 */
export function mediaPlaylistOf(fx: StreamFixture): string {
  const master = readFileSync(join(fx.dir, fx.entry), 'utf8');
  if (!master.includes('#EXT-X-STREAM-INF')) return fx.entry;
  const lines = master.split('\n');
  let best = -1;
  let rel = '';
  lines.forEach((l, i) => {
    const bw = Number(/BANDWIDTH=(\d+)/.exec(l)?.[1] ?? -1);
    if (l.startsWith('#EXT-X-STREAM-INF') && bw > best) {
      best = bw;
      rel = (lines[i + 1] ?? '').trim();
    }
  });
  const dir = fx.entry.includes('/') ? fx.entry.slice(0, fx.entry.lastIndexOf('/') + 1) : '';
  return `${dir}${rel}`;
}

/** The best variant's media playlist: its path and, by journal key, each segment's path. */
export function bestVariant(
  fx: StreamFixture,
  prefix: string,
): { playlist: string; byKey: Map<string, string> } {
  const rel = mediaPlaylistOf(fx);
  const base = rel.includes('/') ? rel.slice(0, rel.lastIndexOf('/') + 1) : '';
  const lines = readFileSync(join(fx.dir, rel), 'utf8').split('\n');
  let seq = Number(/#EXT-X-MEDIA-SEQUENCE:(\d+)/.exec(lines.join('\n'))?.[1] ?? 0);
  const byKey = new Map<string, string>();
  for (const l of lines) {
    if (l.trim() === '' || l.startsWith('#')) continue;
    byKey.set(`main:d0:m${seq++}`, `${prefix}/${base}${l.trim()}`);
  }
  return { playlist: `${prefix}/${rel}`, byKey };
}
