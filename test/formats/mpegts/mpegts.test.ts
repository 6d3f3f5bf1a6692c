import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { parseAudioSpecificConfig } from '../../../src/formats/codecs/aac.js';
import { describeConfig } from '../../../src/formats/codecs/describe.js';
import { buildHvcC, HEVC_NAL, hevcNalType, parseHvcC } from '../../../src/formats/codecs/hevc.js';
import { sniffMpegts } from '../../../src/formats/mpegts/mpegts-demuxer.js';
import { fixture, makeMedia, type MediaSpec } from '../../helpers/fixtures.js';
import {
  ffprobePackets,
  ffprobeStreams,
  hexDumpBytes,
  md5,
  packetMd5s,
  sampleEntryBox,
} from '../codecs/probe-helpers.js';
import {
  assertMatchesFfprobe,
  assertSane,
  demuxAll,
  demuxViaInputBuffer,
  fromMp4,
  HEVC_TS,
  lengthPrefixed,
  M2TS,
  nalUnits,
  samplesOf,
  trackOf,
  WRAP_TS,
} from './demux-helpers.js';

const REMUX_MP4 = fromMp4('h264-aac-remux', 'h264-aac.ts', '.mp4');
const MP3_TS: MediaSpec = {
  name: 'h264-mp3',
  ext: '.ts',
  deps: ['h264-aac.mp4'],
  args: ['-i', '{dep:h264-aac.mp4}', '-c:v', 'copy', '-c:a', 'libmp3lame', '-b:a', '128k'],
};

const read = (path: string): Uint8Array => new Uint8Array(readFileSync(path));

/** Drop the NAL units ffmpeg's mp4toannexb inserted (parameter sets, and the extradata's SEI for HEVC). */
function withoutInsertedNals(data: Uint8Array, hevc: boolean, extradataSei: Uint8Array[]): Uint8Array {
  return lengthPrefixed(
    nalUnits(data).filter((n) => {
      if (!hevc) return ![7, 8].includes((n[0] as number) & 0x1f);
      const t = hevcNalType(n[0] as number);
      if (t === HEVC_NAL.VPS || t === HEVC_NAL.SPS || t === HEVC_NAL.PPS) return false;
      return !extradataSei.some((s) => s.length === n.length && md5(s) === md5(n));
    }),
  );
}

async function checkAgainstSource(tsPath: string, mp4Path: string, hevc: boolean): Promise<void> {
  const r = demuxAll(read(tsPath));
  assertSane(r);
  assert.deepEqual(
    r.warnings.map((w) => w.code),
    [],
    'a stream that starts at a keyframe keeps all its audio',
  );
  assertMatchesFfprobe(r, await ffprobePackets(tsPath));

  const video = trackOf(r, 'video');
  const audio = trackOf(r, 'audio');
  assert.equal(r.tracks.length, 2, 'each track emitted once');
  assert.equal(video.codec, hevc ? 'hevc' : 'avc');
  const mp4 = read(mp4Path);
  const streams = await ffprobeStreams(mp4Path);
  const v = streams.find((s) => s.codec_type === 'video');
  const a = streams.find((s) => s.codec_type === 'audio');
  assert.ok(v && a);

  // Decoder configuration: the one ffmpeg wrote into the MP4 the TS was made from.
  let extradataSei: Uint8Array[] = [];
  if (hevc) {
    const source = sampleEntryBox(mp4, 'hvcC') as Uint8Array;
    const c = parseHvcC(source);
    // ffmpeg's record also carries x265's info SEI, which a TS has no way to declare; the rest is equal.
    assert.deepEqual(video.config, buildHvcC(c.vps, c.sps, c.pps));
    assert.deepEqual(video.config.subarray(0, 22), source.subarray(0, 22));
    extradataSei = c.arrays.filter((x) => x.type === HEVC_NAL.SEI_PREFIX).flatMap((x) => x.nalus);
  } else {
    assert.deepEqual(video.config, sampleEntryBox(mp4, 'avcC'));
  }
  const d = describeConfig(video.codec, video.config);
  assert.deepEqual([d.width, d.height, d.profile], [v.width, v.height, v.profile]);
  assert.deepEqual([video.width, video.height], [v.width, v.height]);

  // AudioSpecificConfig: ffmpeg's encoder wrote 5 bytes (with an "SBR absent" sync extension); the ADTS
  // headers carry the 2-byte core, which is also what ffmpeg's own TS -> MP4 remux writes.
  const asc = hexDumpBytes(a.extradata);
  assert.deepEqual(audio.config, asc.subarray(0, 2));
  const ascInfo = parseAudioSpecificConfig(audio.config);
  assert.deepEqual([ascInfo.sampleRate, ascInfo.channels], [Number(a.sample_rate), a.channels]);
  assert.equal(audio.timescale, Number(a.sample_rate));
  assert.equal(audio.language, a.tags?.language ?? 'und');

  // Payloads: byte for byte the MP4's packets.
  const videoMd5 = await packetMd5s(mp4Path, '0:v');
  const ours = samplesOf(r, video.id);
  assert.equal(ours.length, videoMd5.length);
  ours.forEach((s, i) => {
    assert.equal(
      md5(withoutInsertedNals(s.data as Uint8Array, hevc, extradataSei)),
      videoMd5[i],
      `video ${i}`,
    );
  });
  const audioMd5 = await packetMd5s(mp4Path, '0:a');
  const oursA = samplesOf(r, audio.id).map((s) => md5(s.data as Uint8Array));
  // The MP4's first (priming) packet is hidden by its edit list in ffmpeg's packet list; ours keeps it.
  const k = oursA.findIndex((h) => audioMd5.includes(h));
  assert.ok(k === 0 || k === 1, `first matching audio frame ${k}`);
  const start = audioMd5.indexOf(oursA[k] as string);
  assert.deepEqual(oursA.slice(k), audioMd5.slice(start, start + oursA.length - k));
}

describe('MPEG-TS demuxer against ffprobe and the source MP4', () => {
  it('h264-aac.ts, fed in odd-sized chunks', async () => {
    await checkAgainstSource(await fixture('h264-aac.ts'), await fixture('h264-aac.mp4'), false);
  });

  it('gives the same samples from small chunks, large chunks (copied into its space) and its inputBuffer()', async () => {
    for (const bytes of [read(await fixture('h264-aac.ts')), read(await makeMedia(HEVC_TS))]) {
      const key = (r: ReturnType<typeof demuxAll>): string[] =>
        r.samples.map(
          (x) =>
            `${x.trackId} ${x.dts} ${x.cts} ${x.keyframe} ${Buffer.from(x.data ?? []).toString('base64')}`,
        );
      const small = demuxAll(bytes);
      // 1.1 MB and 3,000,001-byte pushes: several 512 KB slots per push, packets across slot ends.
      assert.deepEqual(key(demuxAll(bytes, [1_100_000, 3_000_001])), key(small));
      // Read straight into the demuxer's memory, as a file remux does, in sizes that cut packets.
      assert.deepEqual(key(demuxViaInputBuffer(bytes, [100_003, 1 << 20, 4093])), key(small));
    }
  });

  it('hevc-aac.ts', async () => {
    await checkAgainstSource(await makeMedia(HEVC_TS), await fixture('hevc-aac.mp4'), true);
  });

  it('the AudioSpecificConfig equals ffmpeg’s own TS -> MP4 remux extradata', async () => {
    const r = demuxAll(read(await fixture('h264-aac.ts')), [65536]);
    const streams = await ffprobeStreams(await makeMedia(REMUX_MP4));
    const a = streams.find((s) => s.codec_type === 'audio');
    assert.deepEqual(trackOf(r, 'audio').config, hexDumpBytes(a?.extradata));
  });

  it('M2TS (192-byte packets) gives the same samples as TS', async () => {
    const ts = demuxAll(read(await fixture('h264-aac.ts')), [4096]);
    const m2tsBytes = read(await makeMedia(M2TS));
    assert.equal(m2tsBytes.length % 192, 0);
    assert.equal(sniffMpegts(m2tsBytes), true);
    const m2ts = demuxAll(m2tsBytes);
    assertSane(m2ts);
    const key = (r: typeof ts): string[] =>
      r.samples.map((s) => `${s.trackId}:${s.dts}:${s.cts}:${s.keyframe}:${md5(s.data as Uint8Array)}`);
    assert.deepEqual(key(m2ts), key(ts));
    assert.deepEqual(m2ts.tracks, ts.tracks);
  });

  it('MP3 audio (stream type 0x03) against ffprobe', async () => {
    const path = await makeMedia(MP3_TS);
    const r = demuxAll(read(path));
    assertSane(r);
    const audio = trackOf(r, 'audio');
    assert.equal(audio.codec, 'mp3');
    assert.equal(audio.config.length, 0);
    assert.deepEqual([audio.sampleRate, audio.channels, audio.timescale], [48000, 2, 48000]);
    const packets = await ffprobePackets(path);
    // ffprobe's MP3 packet timestamps come from the PES; compare counts and the frame grid.
    const video = samplesOf(r, trackOf(r, 'video').id);
    assert.ok(video[0]?.keyframe, 'the stream starts at a keyframe, so all audio is kept');
    const theirs = packets.filter((p) => p.codec_type === 'audio');
    const ours = samplesOf(r, audio.id);
    assert.equal(ours.length, theirs.length);
    ours.forEach((s, i) => {
      assert.equal(s.size, Number(theirs[i]?.size));
      assert.equal(Math.round((s.dts * 90000) / 48000), theirs[i]?.pts, `mp3 frame ${i}`);
    });
  });

  it('timestamps crossing 2^33 stay monotonic and continuous', async () => {
    const path = await makeMedia(WRAP_TS);
    const r = demuxAll(read(path));
    assertSane(r);
    assert.deepEqual(
      r.warnings.map((w) => w.code),
      [],
    );
    const video = samplesOf(r, trackOf(r, 'video').id);
    const audio = samplesOf(r, trackOf(r, 'audio').id);
    assert.ok((video[0]?.dts as number) < 2 ** 33, 'starts before the wrap');
    assert.ok((video[video.length - 1]?.dts as number) > 2 ** 33, 'ends after it, unwrapped');
    for (let i = 1; i < video.length; i++)
      assert.equal((video[i]?.dts as number) - (video[i - 1]?.dts as number), 3000);
    for (let i = 1; i < audio.length; i++)
      assert.equal((audio[i]?.dts as number) - (audio[i - 1]?.dts as number), 1024);
    // ffprobe moves the part before the wrap down by 2^33 instead; the timelines differ by exactly that.
    assertMatchesFfprobe(r, await ffprobePackets(path), 2 ** 33);
  });
});
