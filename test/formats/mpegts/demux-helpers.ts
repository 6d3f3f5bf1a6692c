/** Test helpers: run the TS demuxer over bytes fed in awkward chunk sizes, and check timelines. */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { FormatError } from '../../../src/core/errors.js';
import { parseAvcC } from '../../../src/formats/codecs/h264.js';
import type { FormatWarning, Sample, TrackInfo } from '../../../src/formats/media.js';
import { MpegtsDemuxer, type MpegtsDemuxerOptions } from '../../../src/formats/mpegts/mpegts-demuxer.js';
import { fixture, type MediaSpec } from '../../helpers/fixtures.js';
import { sampleEntryBox, type ProbePacket } from '../codecs/probe-helpers.js';
import { adtsFrame, concat, TsWriter } from './ts-writer.js';

const read = (path: string): Uint8Array => new Uint8Array(readFileSync(path));

/** A stream made from an MP4 fixture by `ffmpeg -c copy` (and `extra` arguments). */
export const fromMp4 = (name: string, dep: string, ext: string, extra: string[] = []): MediaSpec => ({
  name,
  ext,
  deps: [dep],
  args: ['-i', `{dep:${dep}}`, '-c', 'copy', ...extra],
});
export const HEVC_TS = fromMp4('hevc-aac', 'hevc-aac.mp4', '.ts');
export const M2TS = fromMp4('h264-aac', 'h264-aac.mp4', '.m2ts', ['-mpegts_m2ts_mode', '1', '-f', 'mpegts']);
/** 2^33 / 90000 = 95443.72 s: an offset of 95442 s puts the 33-bit wrap about 0.3 s into the clip. */
export const WRAP_TS = fromMp4('h264-aac-wrap', 'h264-aac.mp4', '.ts', ['-output_ts_offset', '95442']);

/** A repeatable pseudo-random source: rand(n) is in [0, n). */
export function seededRandom(seed: number): (n: number) => number {
  let x = seed;
  return (n) => {
    x = (x * 1103515245 + 12345) & 0x7fffffff;
    return x % n;
  };
}

export interface Demuxed {
  tracks: TrackInfo[];
  samples: Sample[];
  warnings: FormatWarning[];
}

/** Odd sizes, so packets and PES headers straddle every possible chunk boundary. */
export const ODD_CHUNKS = [1, 7, 187, 189, 1000, 4093, 333, 65537, 2, 376];

export function demuxAll(bytes: Uint8Array, sizes = ODD_CHUNKS, options?: MpegtsDemuxerOptions): Demuxed {
  return demuxIn(bytes, sizes, false, options);
}

/**
 * The same, each piece read straight into the demuxer's own memory (inputBuffer) as a file remux or a
 * recording does; a size larger than the memory it lends is cut to it.
 */
export function demuxViaInputBuffer(bytes: Uint8Array, sizes: readonly number[]): Demuxed {
  return demuxIn(bytes, sizes, true);
}

/**
 * The bytes pushed in `sizes` pieces (into the demuxer's own memory when `direct`); `after` may put
 * another demuxer in its place after each piece (one restored from its snapshot, say).
 */
export function demuxIn(
  bytes: Uint8Array,
  sizes: readonly number[],
  direct: boolean,
  options?: MpegtsDemuxerOptions,
  after?: (d: MpegtsDemuxer, piece: number) => MpegtsDemuxer,
): Demuxed {
  let d = new MpegtsDemuxer(options);
  const out: Demuxed = { tracks: [], samples: [], warnings: [] };
  const take = (o: Demuxed): void => {
    out.tracks.push(...o.tracks);
    out.samples.push(...o.samples);
    out.warnings.push(...o.warnings);
  };
  let at = 0;
  for (let i = 0; at < bytes.length; i++) {
    const n = sizes[i % sizes.length] as number;
    if (direct) {
      const buf = d.inputBuffer(n);
      const m = Math.min(buf.length, bytes.length - at);
      buf.set(bytes.subarray(at, at + m));
      take(d.push(buf.subarray(0, m)));
      at += m;
    } else {
      take(d.push(bytes.subarray(at, at + n)));
      at += n;
    }
    if (after) d = after(d, i);
  }
  take(d.end());
  return out;
}

export function trackOf(r: Demuxed, kind: 'video' | 'audio'): TrackInfo {
  const t = r.tracks.find((x) => x.kind === kind);
  assert.ok(t, `a ${kind} track`);
  return t;
}

export function samplesOf(r: Demuxed, trackId: number): Sample[] {
  return r.samples.filter((s) => s.trackId === trackId);
}

/** Every track's dts strictly increases, every sample has a payload of its size and a duration. */
export function assertSane(r: Demuxed): void {
  for (const t of r.tracks) {
    let last = -Infinity;
    for (const s of samplesOf(r, t.id)) {
      assert.ok(s.dts > last, `track ${t.id}: dts ${s.dts} after ${last}`);
      assert.equal(s.data?.length, s.size);
      assert.ok(s.duration > 0, `track ${t.id}: duration ${s.duration}`);
      assert.ok(Number.isInteger(s.dts) && Number.isInteger(s.cts), 'integer timestamps');
      last = s.dts;
    }
  }
}

/**
 * Compare our samples with ffprobe's packets of the same TS: count, pts, dts and keyframe flags per stream.
 * ffprobe keeps audio before the first video keyframe, which the demuxer drops when video started
 * mid-GOP; `shift` is added to
 * ffprobe's timestamps (ffprobe moves timestamps from before a 33-bit wrap down by 2^33).
 */
export function assertMatchesFfprobe(r: Demuxed, packets: ProbePacket[], shift = 0): void {
  const video = trackOf(r, 'video');
  const audio = trackOf(r, 'audio');
  const ours = samplesOf(r, video.id);
  const theirs = packets.filter((p) => p.codec_type === 'video');
  const firstKey = theirs.findIndex((p) => p.flags.startsWith('K'));
  const fromKey = theirs.slice(firstKey);
  assert.equal(ours.length, fromKey.length, 'video sample count');
  ours.forEach((s, i) => {
    const p = fromKey[i] as ProbePacket;
    assert.equal(s.dts, (p.dts as number) + shift, `video ${i} dts`);
    assert.equal(s.dts + s.cts, (p.pts as number) + shift, `video ${i} pts`);
    assert.equal(s.keyframe, p.flags.startsWith('K'), `video ${i} keyframe`);
  });
  // Audio is cut at the first keyframe only when video started mid-GOP (firstKey > 0).
  const keyPts = firstKey > 0 ? (fromKey[0]?.pts as number) + shift : -Infinity;
  const rate = audio.timescale;
  const oursA = samplesOf(r, audio.id);
  const theirsA = packets.filter((p) => p.codec_type === 'audio' && (p.pts as number) + shift >= keyPts);
  assert.equal(oursA.length, theirsA.length, 'audio sample count');
  oursA.forEach((s, i) => {
    const p = theirsA[i] as ProbePacket;
    assert.equal(Math.round((s.dts * 90000) / rate), (p.pts as number) + shift, `audio ${i} pts`);
    assert.equal(s.duration, audio.codec === 'aac' ? 1024 : 1152);
    if (audio.codec === 'aac')
      assert.equal(s.size + 7, Number(p.size), `audio ${i}: ADTS frame minus its header`);
    else assert.equal(s.size, Number(p.size), `audio ${i}: whole MP3 frame`);
  });
}

/** Split a length-prefixed sample into its NAL units. */
export function nalUnits(data: Uint8Array): Uint8Array[] {
  const out: Uint8Array[] = [];
  let at = 0;
  while (at + 4 <= data.length) {
    const len =
      (data[at] as number) * 2 ** 24 +
      ((data[at + 1] as number) << 16) +
      (((data[at + 2] as number) << 8) | (data[at + 3] as number));
    out.push(data.subarray(at + 4, at + 4 + len));
    at += 4 + len;
  }
  assert.equal(at, data.length, 'NAL unit lengths add up to the sample size');
  return out;
}

export function lengthPrefixed(nals: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(nals.reduce((n, x) => n + 4 + x.length, 0));
  let o = 0;
  for (const n of nals) {
    new DataView(out.buffer).setUint32(o, n.length);
    out.set(n, o + 4);
    o += 4 + n.length;
  }
  return out;
}

/** Split a transport stream into 188-byte packets and give each packet's PID. */
export function pidOf(bytes: Uint8Array, packet: number): number {
  return (((bytes[packet * 188 + 1] as number) & 0x1f) << 8) | (bytes[packet * 188 + 2] as number);
}
export function pusiOf(bytes: Uint8Array, packet: number): boolean {
  return ((bytes[packet * 188 + 1] as number) & 0x40) !== 0;
}

/** Everything a caller sees, as comparable strings (or the error it got). */
export function outcome(run: () => Demuxed): string[] {
  try {
    const r = run();
    return [
      ...r.tracks.map((t) => `track ${t.id} ${t.codec} ${Buffer.from(t.config ?? []).toString('hex')}`),
      ...r.samples.map(
        (s) =>
          `${s.trackId} ${s.dts} ${s.cts} ${s.duration} ${s.keyframe} ${Buffer.from(s.data ?? []).toString('base64')}`,
      ),
      ...r.warnings.map((w) => `${w.code} @${w.offset}: ${w.message}`),
    ];
  } catch (err) {
    assert.ok(err instanceof FormatError, String(err));
    return [`error ${err.code} @${err.offset}: ${err.message}`];
  }
}

/** Damage aimed at what the fast path decides on: header flags, PIDs, continuity counters, PES lengths. */
export function damage(whole: Uint8Array, hits: number, rand: (n: number) => number): Uint8Array {
  const packets: Uint8Array[] = [];
  for (let i = 0; i + 188 <= whole.length; i += 188) packets.push(whole.slice(i, i + 188));
  for (let k = 0; k < hits; k++) {
    const i = rand(packets.length);
    const p = packets[i] as Uint8Array;
    switch (rand(8)) {
      case 0:
        p[1] = (p[1] as number) ^ [0x80, 0x40, 0x01, 0x10][rand(4)]!; // TEI, PUSI, PID bits
        break;
      case 1:
        p[3] = ((p[3] as number) & 0xf0) | rand(16); // continuity counter
        break;
      case 2:
        p[3] = (p[3] as number) ^ [0x40, 0x80, 0x10, 0x20][rand(4)]!; // scrambling, adaptation_field_control
        break;
      case 3:
        p[4 + rand(16)] = rand(256); // PES header (lengths, flags) when the packet starts one
        break;
      case 4:
        packets.splice(i, 1); // a lost packet
        break;
      case 5:
        packets.splice(i, 0, p.slice()); // a repeated packet
        break;
      case 6:
        p[9] = rand(256); // PES_packet_length, low byte
        break;
      default:
        p[rand(188)] = rand(256);
    }
  }
  return concat(packets);
}

/** H.264 + AAC with PES_packet_length set on the video PES packets, which ffmpeg leaves at 0. */
export async function boundedVideoStream(rand: (n: number) => number): Promise<Uint8Array> {
  const c = parseAvcC(sampleEntryBox(read(await fixture('h264-aac.mp4')), 'avcC') as Uint8Array);
  const sps = c.sps[0] as Uint8Array;
  const pps = c.pps[0] as Uint8Array;
  const annexB = (nals: Uint8Array[]): Uint8Array =>
    concat(nals.flatMap((n) => [Uint8Array.from([0, 0, 0, 1]), n]));
  const body = (n: number): Uint8Array => {
    const b = new Uint8Array(n);
    for (let i = 0; i < n; i++) b[i] = 1 + rand(255);
    return b;
  };
  const w = new TsWriter([
    { pid: 0x100, streamType: 0x1b },
    { pid: 0x101, streamType: 0x0f },
  ]).psi();
  for (let i = 0; i < 60; i++) {
    const key = i % 15 === 0;
    const slice = concat([Uint8Array.from(key ? [0x65, 0x88] : [0x41, 0x98]), body(200 + rand(6000))]);
    const au = annexB(key ? [Uint8Array.from([0x09, 0xf0]), sps, pps, slice] : [slice]);
    w.pes(0x100, au, { pts: 93000 + i * 3000, dts: 90000 + i * 3000, randomAccess: key });
    w.pes(0x101, adtsFrame(body(80)), { pts: 93000 + i * 3000 });
    if (i % 20 === 19) w.psi();
  }
  return w.bytes();
}
