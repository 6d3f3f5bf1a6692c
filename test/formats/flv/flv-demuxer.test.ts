import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { promisify } from 'node:util';
import { FormatError } from '../../../src/core/errors.js';
import { FlvDemuxer, sniffFlv } from '../../../src/formats/flv/flv-demuxer.js';
import { FlvTagReader, type FlvTagView } from '../../../src/formats/flv/flv-reader.js';
import { TAG_AUDIO, TAG_SCRIPT, TAG_VIDEO } from '../../../src/formats/flv/flv-tags.js';
import { flvHeader, flvTag } from '../../../src/formats/flv/flv-writer.js';
import type { DemuxOutput, FormatWarning, Sample, TrackInfo } from '../../../src/formats/media.js';
import { fixture, tools } from '../../helpers/fixtures.js';
import { aacTag, avcTag, concat, FAKE_AVCC, metadataTag, payload } from './flv-synth.js';

const run = promisify(execFile);

interface ProbePacket {
  codec_type: string;
  pts: number;
  dts: number;
  size: string;
  pos: string;
  flags: string;
  data_hash: string;
}

async function probePackets(path: string): Promise<ProbePacket[]> {
  const { stdout } = await run(
    tools().ffprobe.path,
    ['-v', 'error', '-show_packets', '-show_data_hash', 'MD5', '-of', 'json', path],
    { maxBuffer: 64 << 20 },
  );
  return (JSON.parse(stdout) as { packets: ProbePacket[] }).packets;
}

interface Demuxed {
  tracks: TrackInfo[];
  samples: Sample[];
  warnings: FormatWarning[];
  demuxer: FlvDemuxer;
}

/** Feeds `bytes` in pieces of the given sizes (cycled), then ends. */
function demux(bytes: Uint8Array, sizes: number[] = [bytes.length]): Demuxed {
  const d = new FlvDemuxer();
  const acc: Demuxed = { tracks: [], samples: [], warnings: [], demuxer: d };
  const take = (o: DemuxOutput): void => {
    acc.tracks.push(...o.tracks);
    acc.samples.push(...o.samples);
    acc.warnings.push(...o.warnings);
  };
  let at = 0;
  for (let i = 0; at < bytes.length; i++) {
    const n = Math.max(1, sizes[i % sizes.length] as number);
    // Copy each piece, as a network reader would hand over fresh buffers.
    take(d.push(bytes.slice(at, at + n)));
    at += n;
  }
  take(d.end());
  return acc;
}

function md5(b: Uint8Array): string {
  return 'MD5:' + createHash('md5').update(b).digest('hex');
}

function withHeader(...tags: Uint8Array[]): Uint8Array {
  return concat([flvHeader({ audio: true, video: true }), ...tags]);
}

function basicFile(frames = 5): Uint8Array {
  const tags: Uint8Array[] = [
    metadataTag({ duration: 1, width: 64, height: 48 }),
    avcTag(0, 0, 0, true, FAKE_AVCC),
  ];
  tags.push(aacTag(0, 0, new Uint8Array([0x11, 0x90])));
  for (let i = 0; i < frames; i++) {
    tags.push(avcTag(i * 40, 1, 80, i === 0, payload(i, 100 + i)));
    tags.push(aacTag(i * 40, 1, payload(1000 + i, 20)));
  }
  return withHeader(...tags);
}

describe('FlvDemuxer on ffmpeg output', () => {
  it('matches ffprobe packet for packet, fed in small odd-sized chunks', async () => {
    const path = await fixture('h264-aac.flv');
    const bytes = new Uint8Array(readFileSync(path));
    const probe = await probePackets(path);
    const got = demux(bytes, [1, 7, 13, 101, 4093, 3]);
    assert.deepEqual(got.warnings, []);
    assert.equal(got.tracks.length, 2);
    const video = got.tracks.find((t) => t.kind === 'video');
    const audio = got.tracks.find((t) => t.kind === 'audio');
    assert.ok(video && audio);
    assert.equal(video.codec, 'avc');
    assert.equal(video.timescale, 1000);
    assert.equal(video.config[0], 1, 'avcC configurationVersion');
    assert.equal(video.width, 320);
    assert.equal(video.height, 240);
    assert.equal(audio.codec, 'aac');
    assert.equal(audio.sampleRate, 48000);
    assert.equal(audio.channels, 2);

    const { stdout } = await run(tools().ffprobe.path, ['-v', 'error', '-show_streams', '-of', 'json', path]);
    const streams = (JSON.parse(stdout) as { streams: { codec_type: string; extradata_size: number }[] })
      .streams;
    assert.equal(video.config.length, streams.find((s) => s.codec_type === 'video')?.extradata_size);
    assert.equal(audio.config.length, streams.find((s) => s.codec_type === 'audio')?.extradata_size);

    assert.equal(got.samples.length, probe.length);
    for (let i = 0; i < probe.length; i++) {
      const p = probe[i] as ProbePacket;
      const s = got.samples[i] as Sample;
      const track: TrackInfo = s.trackId === video.id ? video : audio;
      assert.equal(p.codec_type, track.kind, `packet ${i} kind`);
      assert.equal(s.dts, p.dts, `packet ${i} dts`);
      assert.equal(s.dts + s.cts, p.pts, `packet ${i} pts`);
      assert.equal(s.keyframe, p.flags.startsWith('K'), `packet ${i} keyframe`);
      assert.equal(s.size, Number(p.size), `packet ${i} size`);
      assert.equal(s.data, undefined, 'payloads are ranges, not copies');
      const headerSize = track.kind === 'video' ? 5 : 2;
      assert.equal((s.offset as number) - headerSize - 11, Number(p.pos), `packet ${i} tag position`);
      const o = s.offset as number;
      assert.equal(md5(bytes.subarray(o, o + s.size)), p.data_hash, `packet ${i} payload bytes`);
    }
    const md = got.demuxer.metadata;
    assert.ok(md);
    assert.equal(md.width, 320);
    assert.ok(Math.abs((md.duration as number) - 2.067) < 0.05);
    assert.equal(got.demuxer.header?.hasVideo, true);
    assert.equal(got.demuxer.header?.hasAudio, true);
  });

  it('gives the same result whatever the chunking', async () => {
    const bytes = new Uint8Array(readFileSync(await fixture('h264-aac.flv')));
    const whole = demux(bytes);
    for (const sizes of [[1], [2, 3], [11], [15, 16, 17], [65536]]) {
      const parts = demux(bytes, sizes);
      assert.deepEqual(parts.samples, whole.samples, `chunking ${sizes.join(',')}`);
      assert.deepEqual(parts.tracks, whole.tracks);
    }
  });

  it('sniffs FLV', async () => {
    const bytes = new Uint8Array(readFileSync(await fixture('h264-aac.flv')));
    assert.equal(sniffFlv(bytes), true);
    assert.equal(sniffFlv(bytes.subarray(0, 4)), true);
    assert.equal(sniffFlv(new Uint8Array([0x46, 0x4c, 0x56])), false);
    assert.equal(sniffFlv(new TextEncoder().encode('<html><body>')), false);
    const mp4 = new Uint8Array(readFileSync(await fixture('h264-aac.mp4')));
    assert.equal(sniffFlv(mp4), false);
  });
});

describe('FlvDemuxer codecs', () => {
  it('reads legacy AVC with signed composition times and drops command and end-of-sequence tags', () => {
    const command = flvTag(TAG_VIDEO, 40, new Uint8Array([0x57, 0])); // FrameType 5, AVC
    const eos = avcTag(200, 2, 0, true, new Uint8Array(0));
    const neg = avcTag(80, 1, -33, false, payload(9, 30));
    const got = demux(
      withHeader(avcTag(0, 0, 0, true, FAKE_AVCC), avcTag(0, 1, 67, true, payload(1, 50)), command, neg, eos),
    );
    assert.deepEqual(got.warnings, []);
    assert.equal(got.samples.length, 2);
    assert.deepEqual(
      got.samples.map((s) => [s.dts, s.cts, s.keyframe, s.size]),
      [
        [0, 67, true, 50],
        [80, -33, false, 30],
      ],
    );
    assert.deepEqual(got.tracks[0]?.config, FAKE_AVCC);
  });

  it('reads the extended timestamp byte', () => {
    const tag = avcTag(0x12345678, 1, 0, true, payload(1, 20));
    const got = demux(withHeader(avcTag(0, 0, 0, true, FAKE_AVCC), tag));
    assert.equal(got.samples[0]?.dts, 0x12345678);
  });

  it('reads enhanced-RTMP HEVC (hvc1): SequenceStart, CodedFrames, CodedFramesX, SequenceEnd', () => {
    const hvcc = new Uint8Array([
      1, 1, 0x60, 0, 0, 0, 0x90, 0, 0, 0, 0, 0, 93, 0xf0, 0, 0xfc, 0xfd, 0xf8, 0xf8, 0, 0, 0x0f, 0,
    ]);
    const ex = (frameType: number, packetType: number, rest: Uint8Array): Uint8Array => {
      const body = new Uint8Array(5 + rest.length);
      body[0] = 0x80 | (frameType << 4) | packetType;
      body.set([0x68, 0x76, 0x63, 0x31], 1); // 'hvc1'
      body.set(rest, 5);
      return body;
    };
    const p1 = payload(1, 60);
    const p2 = payload(2, 40);
    const tags = [
      flvTag(TAG_VIDEO, 0, ex(1, 0, hvcc)),
      flvTag(TAG_VIDEO, 0, ex(1, 1, concat([new Uint8Array([0, 0, 33]), p1]))),
      flvTag(TAG_VIDEO, 33, ex(2, 3, p2)),
      flvTag(TAG_VIDEO, 40, new Uint8Array([0xd0 | 1, 0])), // command frame: IsExHeader, FrameType 5
      flvTag(TAG_VIDEO, 66, ex(1, 2, new Uint8Array(0))),
    ];
    const bytes = withHeader(...tags);
    const got = demux(bytes, [5]);
    assert.deepEqual(got.warnings, []);
    assert.equal(got.tracks.length, 1);
    assert.equal(got.tracks[0]?.codec, 'hevc');
    assert.deepEqual(got.tracks[0]?.config, hvcc);
    assert.deepEqual(
      got.samples.map((s) => [s.dts, s.cts, s.keyframe, s.size]),
      [
        [0, 33, true, 60],
        [33, 0, false, 40],
      ],
    );
    const s0 = got.samples[0] as Sample;
    assert.deepEqual(bytes.subarray(s0.offset, (s0.offset as number) + s0.size), p1);
  });

  it('reads legacy CodecID 12 HEVC like AVC', () => {
    const cfg = new Uint8Array([1, 2, 3, 4]);
    const tag = (ts: number, pt: number, data: Uint8Array): Uint8Array =>
      flvTag(TAG_VIDEO, ts, concat([new Uint8Array([0x1c, pt, 0, 0, 0]), data]));
    const got = demux(withHeader(tag(0, 0, cfg), tag(0, 1, payload(3, 25))));
    assert.equal(got.tracks[0]?.codec, 'hevc');
    assert.deepEqual(got.tracks[0]?.config, cfg);
    assert.equal(got.samples[0]?.size, 25);
  });

  it('reads MP3 audio, taking rate and channels from the frame header', () => {
    // MPEG-1 Layer III, 128 kbit/s, 44.1 kHz, joint stereo.
    const frame = concat([new Uint8Array([0xff, 0xfb, 0x90, 0x64]), payload(5, 100)]);
    const got = demux(withHeader(flvTag(TAG_AUDIO, 0, concat([new Uint8Array([0x2f]), frame]))));
    assert.equal(got.tracks[0]?.codec, 'mp3');
    assert.equal(got.tracks[0]?.sampleRate, 44100);
    assert.equal(got.tracks[0]?.channels, 2);
    assert.equal(got.samples[0]?.size, frame.length);
  });

  it('emits a track again only when its configuration changes', () => {
    const other = new Uint8Array([...FAKE_AVCC.subarray(0, 3), 30, ...FAKE_AVCC.subarray(4)]);
    const got = demux(
      withHeader(
        avcTag(0, 0, 0, true, FAKE_AVCC),
        avcTag(0, 1, 0, true, payload(1, 20)),
        avcTag(40, 0, 0, true, FAKE_AVCC),
        avcTag(40, 1, 0, true, payload(2, 20)),
        avcTag(80, 0, 0, true, other),
        avcTag(80, 1, 0, true, payload(3, 20)),
      ),
    );
    assert.equal(got.tracks.length, 2);
    assert.equal(got.tracks[0]?.id, got.tracks[1]?.id);
    assert.deepEqual(got.tracks[1]?.config, other);
    assert.equal(got.samples.length, 3);
  });

  it('fills audio parameters from onMetaData when the codec does not say', () => {
    const got = demux(
      withHeader(
        metadataTag({ audiosamplerate: 22050, stereo: false }),
        flvTag(TAG_AUDIO, 0, concat([new Uint8Array([0x2e]), payload(1, 10)])),
      ),
    );
    // No valid MP3 header in the payload: the metadata gives the values.
    assert.equal(got.tracks[0]?.sampleRate, 22050);
    assert.equal(got.tracks[0]?.channels, 1);
  });

  it('drops frames before the sequence header and unsupported codecs, with one warning each', () => {
    const vp6 = flvTag(TAG_VIDEO, 0, new Uint8Array([0x14, 0, 1, 2]));
    const got = demux(
      withHeader(avcTag(0, 1, 0, true, payload(1, 10)), vp6, vp6, avcTag(0, 0, 0, true, FAKE_AVCC)),
    );
    assert.equal(got.samples.length, 0);
    assert.deepEqual(got.warnings.map((w) => w.code).sort(), ['E_FLV_NO_CONFIG', 'E_FLV_UNSUPPORTED_CODEC']);
  });
});

describe('FlvDemuxer on damaged input', () => {
  const file = basicFile(5);
  const good = demux(file);
  const tagStarts = (bytes: Uint8Array): number[] => {
    const r = new FlvTagReader();
    const starts: number[] = [];
    const sink = { tag: (t: FlvTagView) => starts.push(t.tagOffset), warning: () => {} };
    r.push(bytes, sink);
    r.end(sink);
    return starts;
  };
  const starts = tagStarts(file);

  it('parses the good file cleanly', () => {
    assert.deepEqual(good.warnings, []);
    assert.equal(good.samples.length, 10);
    assert.equal(starts.length, 13);
  });

  it('keeps a tag whose PreviousTagSize alone is wrong, warning with the offset', () => {
    const bad = file.slice();
    const t = starts[5] as number;
    const ptsAt = (starts[6] as number) - 4;
    bad[ptsAt + 3] = (bad[ptsAt + 3] as number) ^ 0x55;
    for (const sizes of [[bad.length], [3, 5]]) {
      const got = demux(bad, sizes);
      assert.deepEqual(got.samples, good.samples);
      assert.equal(got.warnings.length, 1);
      assert.equal(got.warnings[0]?.code, 'E_FLV_PREVIOUS_TAG_SIZE');
      assert.equal(got.warnings[0]?.offset, ptsAt);
      assert.ok(t < ptsAt);
    }
  });

  it('drops a tag whose DataSize is wrong and resyncs on the next tag', () => {
    for (const delta of [+7, -7, +5000]) {
      const bad = file.slice();
      const t = starts[7] as number; // a video frame
      const size = ((bad[t + 1] as number) << 16) | ((bad[t + 2] as number) << 8) | (bad[t + 3] as number);
      const ns = size + delta;
      bad[t + 1] = ns >>> 16;
      bad[t + 2] = (ns >>> 8) & 0xff;
      bad[t + 3] = ns & 0xff;
      for (const sizes of [[bad.length], [1], [64, 3]]) {
        const got = demux(bad, sizes);
        const lost = good.samples.filter((s) => s.offset !== t + 16);
        assert.deepEqual(got.samples, lost, `delta ${delta}, chunks ${sizes.join(',')}`);
        const codes = got.warnings.map((w) => w.code);
        assert.ok(codes.includes('E_FLV_RESYNC'), codes.join());
        const resync = got.warnings.find((w) => w.code === 'E_FLV_RESYNC');
        assert.equal(resync?.offset, starts[8]);
      }
    }
  });

  it('drops a tag running past the end, with a warning', () => {
    const cut = file.subarray(0, (starts[12] as number) + 30);
    const got = demux(cut, [7]);
    assert.equal(got.samples.length, good.samples.length - 1);
    assert.deepEqual(
      got.warnings.map((w) => [w.code, w.offset]),
      [['E_FLV_TAG_PAST_END', starts[12]]],
    );
    // A last tag with its body but no PreviousTagSize is kept.
    const noPts = demux(file.subarray(0, file.length - 2));
    assert.equal(noPts.samples.length, good.samples.length);
    assert.equal(noPts.warnings[0]?.code, 'E_FLV_NO_PREVIOUS_TAG_SIZE');
  });

  it('skips garbage between tags', () => {
    const t = starts[8] as number;
    const garbage = payload(77, 333);
    const bad = concat([file.subarray(0, t), garbage, file.subarray(t)]);
    const got = demux(bad, [50]);
    assert.equal(got.samples.length, good.samples.length);
    assert.ok(got.warnings.some((w) => w.code === 'E_FLV_BAD_TAG' || w.code === 'E_FLV_PREVIOUS_TAG_SIZE'));
  });

  it('rejects non-FLV input with a FormatError at offset 0', () => {
    for (const input of [new Uint8Array(0), payload(3, 5000), new TextEncoder().encode('FLX\x01')]) {
      assert.throws(
        () => demux(input, [100]),
        (e: unknown) => e instanceof FormatError && e.offset <= 2,
      );
    }
    assert.throws(
      () => demux(file.subarray(0, 6)),
      (e: unknown) => e instanceof FormatError && e.code === 'E_FLV_TRUNCATED',
    );
  });

  it('survives random bytes after a valid header and random mutations, quickly and within bounds', () => {
    const junk = concat([flvHeader({ audio: true, video: true }), payload(42, 200_000)]);
    const j = demux(junk, [4096]);
    assert.equal(j.samples.length, 0);
    let seed = 12345;
    const rnd = (n: number): number => {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      return seed % n;
    };
    for (let round = 0; round < 300; round++) {
      const bad = file.slice();
      const flips = 1 + rnd(8);
      for (let k = 0; k < flips; k++) bad[13 + rnd(bad.length - 13)] = rnd(256);
      const cut = bad.subarray(0, bad.length - rnd(40));
      const got = demux(cut, [1 + rnd(64)]);
      for (const s of got.samples) {
        assert.ok(
          (s.offset as number) >= 0 && (s.offset as number) + s.size <= cut.length,
          'sample inside input',
        );
      }
    }
  });

  it('hands out the same tags and warnings from whole input (its clean-run path) as from small pieces', () => {
    const read = (bytes: Uint8Array, piece: number): string[] => {
      const r = new FlvTagReader();
      const out: string[] = [];
      const sink = {
        tag: (t: FlvTagView) => {
          const m = t.media;
          const n = Math.min(t.dataSize, 16);
          const body = Array.from(t.buf.subarray(t.at, t.at + n)).join(',');
          out.push(
            `${t.type} ${t.timestamp} ${t.tagOffset} ${t.bodyOffset} ${t.dataSize} ${t.sizeOk} ${t.headerClean} ` +
              `${m.packet} ${m.codec} ${m.codecName} ${m.keyframe} ${m.cts} ${m.headerSize} [${body}]`,
          );
        },
        warning: (w: FormatWarning) => out.push(`warning ${w.code} ${w.offset} ${w.message}`),
      };
      for (let at = 0; at < bytes.length; at += piece) r.push(bytes.subarray(at, at + piece), sink);
      r.end(sink);
      return out;
    };
    let seed = 99;
    const rnd = (n: number): number => {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      return (seed >>> 8) % n;
    };
    for (let round = 0; round < 300; round++) {
      const bad = file.slice();
      const flips = rnd(6);
      for (let k = 0; k < flips; k++) {
        const at = rnd(2) ? 13 + rnd(bad.length - 13) : (starts[rnd(starts.length)] as number) + rnd(16);
        bad[at] = rnd(256);
      }
      const cut = bad.subarray(0, bad.length - rnd(30));
      const whole = read(cut, cut.length);
      assert.ok(whole.length > 0);
      assert.deepEqual(read(cut, 1 + rnd(7)), whole, `round ${round}`);
    }
  });

  it('reports a truncated onMetaData as a warning and keeps the media', () => {
    const md = metadataTag({ duration: 3, width: 640, height: 360 });
    const body = md.subarray(11, md.length - 4).subarray(0, 30);
    const broken = flvTag(TAG_SCRIPT, 0, body);
    const got = demux(
      withHeader(broken, avcTag(0, 0, 0, true, FAKE_AVCC), avcTag(0, 1, 0, true, payload(1, 10))),
    );
    assert.equal(got.samples.length, 1);
    assert.equal(got.demuxer.metadata, undefined);
    assert.equal(got.warnings[0]?.code, 'E_AMF0_TRUNCATED');
    assert.ok((got.warnings[0]?.offset as number) >= 13 + 11);
  });
});
