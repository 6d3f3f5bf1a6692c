/** Test helpers: run the TS demuxer over bytes fed in awkward chunk sizes, and check timelines. */
import assert from 'node:assert/strict';
import type { FormatWarning, Sample, TrackInfo } from '../../../src/formats/media.js';
import { MpegtsDemuxer, type MpegtsDemuxerOptions } from '../../../src/formats/mpegts/mpegts-demuxer.js';
import type { ProbePacket } from '../codecs/probe-helpers.js';

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

function demuxIn(
  bytes: Uint8Array,
  sizes: readonly number[],
  direct: boolean,
  options?: MpegtsDemuxerOptions,
): Demuxed {
  const d = new MpegtsDemuxer(options);
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
