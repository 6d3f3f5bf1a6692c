import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { FormatError } from '../../../src/core/errors.js';
import {
  makeAudioSpecificConfig,
  parseAdtsHeader,
  parseAudioSpecificConfig,
} from '../../../src/formats/codecs/aac.js';
import { describeConfig } from '../../../src/formats/codecs/describe.js';
import { buildAvcC, parseAvcC, parseH264Sps, splitAnnexB } from '../../../src/formats/codecs/h264.js';
import {
  buildHvcC,
  HEVC_NAL,
  hevcCodecString,
  parseHevcSps,
  parseHevcVps,
  parseHvcC,
} from '../../../src/formats/codecs/hevc.js';
import { parseMpegAudioHeader } from '../../../src/formats/codecs/mp3.js';
import { fixture, makeMedia, type MediaSpec } from '../../helpers/fixtures.js';
import { ffprobePackets, ffprobeStreams, hexDumpBytes, sampleEntryBox } from './probe-helpers.js';

const still = (
  name: string,
  size: string,
  codec: string,
  pixFmt: string,
  extra: string[] = [],
): MediaSpec => ({
  name,
  ext: '.mp4',
  args: [
    '-f',
    'lavfi',
    '-i',
    `testsrc2=size=${size}:rate=25:duration=0.2`,
    '-c:v',
    codec,
    '-pix_fmt',
    pixFmt,
    ...extra,
    '-tag:v',
    codec === 'libx265' ? 'hvc1' : 'avc1',
  ],
});

/** Video files whose SPS exercise cropping, field coding, chroma formats and bit depths. */
const VIDEO: Record<string, () => Promise<string>> = {
  'h264-aac.mp4': () => fixture('h264-aac.mp4'),
  // 200 lines of field pairs: 7 map units of 32 lines, cropped by 12 units of 2 (4:2:2, field coding).
  'h264 interlaced 4:2:2 10-bit': () =>
    makeMedia(still('h264-422i', '352x200', 'libx264', 'yuv422p10le', ['-flags', '+ildct+ilme'])),
  'h264 1366x768 4:4:4': () =>
    makeMedia(still('h264-444', '1366x768', 'libx264', 'yuv444p', ['-preset', 'ultrafast'])),
  'hevc-aac.mp4': () => fixture('hevc-aac.mp4'),
  // 362 lines: coded as 368 with a conformance window.
  'hevc Main 10 cropped': () =>
    makeMedia(still('hevc-main10', '642x362', 'libx265', 'yuv420p10le', ['-x265-params', 'log-level=error'])),
};

const CHROMA: Record<string, number> = { yuv420p: 1, yuv422p: 2, yuv444p: 3 };
function pixFmtFacts(pixFmt: string): { chroma: number; depth: number } {
  const m = /^(yuv4[24][024]p)(\d+)?/.exec(pixFmt);
  return { chroma: CHROMA[m?.[1] ?? ''] ?? -1, depth: m?.[2] ? Number(m[2]) : 8 };
}

describe('splitAnnexB', () => {
  it('splits on 3- and 4-byte start codes and drops trailing zero bytes', () => {
    const data = Uint8Array.from([
      0xaa, // garbage before the first start code
      0,
      0,
      0,
      1,
      0x09,
      0xf0, // AUD with a 4-byte start code
      0,
      0,
      1,
      0x67,
      1,
      2,
      0,
      0, // SPS followed by trailing_zero_8bits
      0,
      0,
      0,
      1,
      0x65,
      0,
      0,
      3,
      1,
      7, // IDR with an emulation prevention byte
    ]);
    const nals = splitAnnexB(data).map((n) => Array.from(n));
    assert.deepEqual(nals, [
      [0x09, 0xf0],
      [0x67, 1, 2],
      [0x65, 0, 0, 3, 1, 7],
    ]);
    assert.deepEqual(splitAnnexB(Uint8Array.from([1, 2, 3])), []);
    assert.deepEqual(splitAnnexB(new Uint8Array(0)), []);
  });
});

describe('decoder configuration records agree with ffmpeg', () => {
  for (const [name, make] of Object.entries(VIDEO)) {
    it(name, async () => {
      const path = await make();
      const [stream] = (await ffprobeStreams(path)).filter((s) => s.codec_type === 'video');
      assert.ok(stream);
      const facts = pixFmtFacts(stream.pix_fmt ?? '');
      const file = new Uint8Array(readFileSync(path));
      if (stream.codec_name === 'h264') {
        const record = sampleEntryBox(file, 'avcC');
        assert.ok(record, 'avcC box');
        const c = parseAvcC(record);
        assert.equal(c.level, stream.level);
        const sps = parseH264Sps(c.sps[0] as Uint8Array);
        assert.equal(sps.width, stream.width);
        assert.equal(sps.height, stream.height);
        assert.equal(sps.chromaFormatIdc, facts.chroma);
        assert.equal(sps.bitDepthLuma, facts.depth);
        assert.equal(sps.frameMbsOnly, !name.includes('interlaced'));
        if (name.includes('interlaced')) assert.ok(sps.crop.bottom > 0 && sps.codedHeight > sps.height);
        // ffmpeg writes the record with the same rules (ff_isom_write_avcc): byte for byte equal.
        assert.deepEqual(buildAvcC(c.sps, c.pps), record);
        const d = describeConfig('avc', record);
        assert.equal(d.width, stream.width);
        assert.equal(d.height, stream.height);
        assert.equal(d.profile, stream.profile);
        const hex = (v: number): string => v.toString(16).padStart(2, '0');
        assert.equal(d.codecString, `avc1.${hex(c.profile)}${hex(c.compat)}${hex(c.level)}`);
      } else {
        const record = sampleEntryBox(file, 'hvcC');
        assert.ok(record, 'hvcC box');
        const c = parseHvcC(record);
        assert.equal(c.levelIdc, stream.level);
        assert.equal(c.chromaFormat, facts.chroma);
        assert.equal(c.bitDepthLuma, facts.depth);
        const sps = parseHevcSps(c.sps[0] as Uint8Array);
        if (name.includes('cropped')) assert.ok(sps.codedHeight > sps.height);
        assert.equal(sps.width, stream.width);
        assert.equal(sps.height, stream.height);
        assert.equal(parseHevcVps(c.vps[0] as Uint8Array).ptl.profileIdc, c.profileIdc);
        // Rebuilt from its own NAL units (SEI arrays included) the record is byte for byte ffmpeg's.
        const sei = c.arrays
          .filter((a) => a.type === HEVC_NAL.SEI_PREFIX || a.type === HEVC_NAL.SEI_SUFFIX)
          .flatMap((a) => a.nalus);
        assert.deepEqual(buildHvcC(c.vps, c.sps, c.pps, { sei }), record);
        const d = describeConfig('hevc', record);
        assert.equal(d.width, stream.width);
        assert.equal(d.height, stream.height);
        assert.equal(d.profile, stream.profile);
      }
    });
  }

  it('codec strings (RFC 6381, 14496-15 Annex E)', async () => {
    const h264 = sampleEntryBox(new Uint8Array(readFileSync(await fixture('h264-aac.mp4'))), 'avcC');
    assert.equal(describeConfig('avc', h264 as Uint8Array).codecString, 'avc1.64000d');
    const hevc = sampleEntryBox(new Uint8Array(readFileSync(await fixture('hevc-aac.mp4'))), 'hvcC');
    assert.equal(describeConfig('hevc', hevc as Uint8Array).codecString, 'hvc1.1.6.L60.90');
    const main10Path = await (VIDEO['hevc Main 10 cropped'] as () => Promise<string>)();
    const main10 = sampleEntryBox(new Uint8Array(readFileSync(main10Path)), 'hvcC');
    const [probed] = await ffprobeStreams(main10Path);
    // Main 10: profile 2, compatibility flags 1 and 2 (reversed: 0x4... -> "4"), progressive + frame-only.
    assert.equal(
      describeConfig('hevc', main10 as Uint8Array, { entry: 'hev1' }).codecString,
      `hev1.2.4.L${probed?.level}.90`,
    );
    // The example of 14496-15 E.3: Main profile, level 3.1, progressive + frame-only constraint flags.
    const example = {
      profileSpace: 0,
      profileIdc: 1,
      compatFlags: 0x60000000,
      tierFlag: 0,
      levelIdc: 93,
      constraintFlags: Uint8Array.from([0xb0, 0, 0, 0, 0, 0]),
    };
    assert.equal(hevcCodecString(example), 'hvc1.1.6.L93.B0');
    assert.equal(describeConfig('mp3', new Uint8Array(0)).codecString, 'mp4a.40.34');
  });
});

describe('AAC', () => {
  it('AudioSpecificConfig agrees with ffprobe', async () => {
    for (const name of ['audio.m4a', 'h264-aac.mp4']) {
      const [stream] = (await ffprobeStreams(await fixture(name))).filter((s) => s.codec_type === 'audio');
      assert.ok(stream);
      const asc = hexDumpBytes(stream.extradata);
      const a = parseAudioSpecificConfig(asc);
      assert.equal(a.sampleRate, Number(stream.sample_rate));
      assert.equal(a.channels, stream.channels);
      assert.equal(a.objectType, 2);
      assert.equal(a.sbr, false, 'ffmpeg signals "SBR absent" with a sync extension');
      assert.equal(describeConfig('aac', asc).codecString, 'mp4a.40.2');
      // ffmpeg's encoder appends the 0x2b7 sync extension; the core two bytes are the minimal config.
      assert.deepEqual(makeAudioSpecificConfig(2, a.sampleRate, 2), asc.subarray(0, 2));
    }
  });

  it('explicit frequencies (index 15), escaped object types and HE-AAC signalling', () => {
    const odd = makeAudioSpecificConfig(2, 22000, 1);
    assert.equal(odd.length, 5);
    const parsed = parseAudioSpecificConfig(odd);
    assert.equal(parsed.samplingIndex, 15);
    assert.equal(parsed.sampleRate, 22000);
    assert.equal(parsed.channels, 1);
    const escaped = parseAudioSpecificConfig(makeAudioSpecificConfig(42, 48000, 2));
    assert.equal(escaped.objectType, 42);
    assert.equal(escaped.sampleRate, 48000);
    // Hierarchical HE-AAC v1: AOT 5, 24 kHz core, stereo, 48 kHz SBR, core AOT 2, GASpecificConfig 000.
    // 00101 0110 0010 0011 00010 000 -> 0x2b 0x11 0x88 0x00
    const he = parseAudioSpecificConfig(Uint8Array.from([0x2b, 0x11, 0x88, 0x00]));
    assert.equal(he.objectType, 5);
    assert.equal(he.coreObjectType, 2);
    assert.equal(he.sampleRate, 24000);
    assert.equal(he.extensionSampleRate, 48000);
    assert.equal(he.sbr, true);
    const d = describeConfig('aac', Uint8Array.from([0x2b, 0x11, 0x88, 0x00]));
    assert.equal(d.codecString, 'mp4a.40.5');
    assert.equal(d.sampleRate, 48000);
    assert.throws(() => parseAudioSpecificConfig(Uint8Array.from([0x12])), FormatError);
    assert.throws(() => parseAudioSpecificConfig(Uint8Array.from([0x17, 0x80])), FormatError); // reserved index 14
  });

  it('ADTS headers: every frame of an ffmpeg ADTS file, and CRC-protected headers', async () => {
    const path = await makeMedia({
      name: 'audio-adts',
      ext: '.aac',
      deps: ['audio.m4a'],
      args: ['-i', '{dep:audio.m4a}', '-c', 'copy', '-f', 'adts'],
    });
    const bytes = new Uint8Array(readFileSync(path));
    const packets = await ffprobePackets(path);
    let at = 0;
    let frames = 0;
    while (at < bytes.length) {
      const h = parseAdtsHeader(bytes, at);
      assert.ok(h, `ADTS header at ${at}`);
      assert.equal(h.sampleRate, 44100);
      assert.equal(h.channelConfig, 2);
      assert.equal(h.headerSize, 7);
      assert.equal(h.frameLength, Number(packets[frames]?.size));
      at += h.frameLength;
      frames++;
    }
    assert.equal(at, bytes.length);
    assert.equal(frames, packets.length);

    // protection_absent = 0: a 16-bit CRC follows the fixed+variable header.
    const crc = Uint8Array.from([0xff, 0xf0, 0x4c, 0x80, 0x01, 0x7f, 0xfc, 0xab, 0xcd, 1, 2]);
    const h = parseAdtsHeader(crc);
    assert.deepEqual(
      {
        size: h?.headerSize,
        length: h?.frameLength,
        rate: h?.sampleRate,
        ch: h?.channelConfig,
        aot: h?.objectType,
      },
      { size: 9, length: 11, rate: 48000, ch: 2, aot: 2 },
    );
    assert.equal(
      parseAdtsHeader(Uint8Array.from([0xff, 0xf1, 0x4c, 0x80, 0x00, 0x1f, 0xfc])),
      undefined,
      'length < header',
    );
    assert.equal(
      parseAdtsHeader(Uint8Array.from([0xff, 0xf7, 0x4c, 0x80, 0x01, 0x7f, 0xfc])),
      undefined,
      'layer != 0',
    );
    assert.equal(
      parseAdtsHeader(Uint8Array.from([0xff, 0xf1, 0x7c, 0x80, 0x01, 0x7f, 0xfc])),
      undefined,
      'rate index 15',
    );
    assert.equal(parseAdtsHeader(Uint8Array.from([0xff, 0xf1])), undefined, 'short');
  });
});

describe('MPEG audio', () => {
  it('frame headers walk an ffmpeg MP3 file frame by frame', async () => {
    const path = await makeMedia({
      name: 'audio-mp3',
      ext: '.mp3',
      args: [
        '-f',
        'lavfi',
        '-i',
        'sine=frequency=330:sample_rate=44100:duration=1',
        '-c:a',
        'libmp3lame',
        '-b:a',
        '128k',
        '-write_xing',
        '0',
        '-id3v2_version',
        '0',
      ],
    });
    const bytes = new Uint8Array(readFileSync(path));
    const packets = await ffprobePackets(path);
    let at = 0;
    let frames = 0;
    while (at + 4 <= bytes.length) {
      const h = parseMpegAudioHeader(bytes, at);
      if (!h) break; // an ID3v1 tag may follow the frames
      assert.equal(h.sampleRate, 44100);
      assert.equal(h.layer, 3);
      assert.equal(h.samplesPerFrame, 1152);
      assert.equal(h.frameLength, Number(packets[frames]?.size));
      at += h.frameLength;
      frames++;
    }
    assert.equal(frames, packets.length);
    assert.equal(parseMpegAudioHeader(Uint8Array.from([0xff, 0xfb, 0x00, 0x00])), undefined, 'free format');
    assert.equal(
      parseMpegAudioHeader(Uint8Array.from([0xff, 0xe9, 0x90, 0x00])),
      undefined,
      'reserved version',
    );
  });
});

describe('hostile parameter sets and records', () => {
  it('truncated and oversized records give FormatErrors with offsets', async () => {
    const avcc = sampleEntryBox(
      new Uint8Array(readFileSync(await fixture('h264-aac.mp4'))),
      'avcC',
    ) as Uint8Array;
    for (let cut = 0; cut < avcc.length - 4; cut++) {
      // Cutting into the PPS or SPS must fail; cutting only the optional extension may not.
      try {
        parseAvcC(avcc.subarray(0, cut), 1000);
      } catch (err) {
        assert.ok(err instanceof FormatError, String(err));
        assert.ok(err.offset >= 1000);
      }
    }
    assert.throws(
      () => parseAvcC(avcc.subarray(0, 20), 500),
      (e: unknown) => e instanceof FormatError && e.offset > 500,
    );
    const hvcc = sampleEntryBox(
      new Uint8Array(readFileSync(await fixture('hevc-aac.mp4'))),
      'hvcC',
    ) as Uint8Array;
    const bogus = hvcc.slice(0, 26);
    bogus[22] = 1; // one array
    bogus[24] = 0xff; // claiming 65535 NAL units
    bogus[25] = 0xff;
    assert.throws(() => parseHvcC(bogus), FormatError);
    assert.throws(() => parseHvcC(hvcc.subarray(0, 40)), FormatError);
  });

  it('mutated parameter sets never escape as anything but FormatError', async () => {
    const avcc = parseAvcC(
      sampleEntryBox(new Uint8Array(readFileSync(await fixture('h264-aac.mp4'))), 'avcC') as Uint8Array,
    );
    const hvcc = parseHvcC(
      sampleEntryBox(new Uint8Array(readFileSync(await fixture('hevc-aac.mp4'))), 'hvcC') as Uint8Array,
    );
    let seed = 12345;
    const rand = (n: number): number => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed % n;
    };
    const cases: Array<[Uint8Array, (b: Uint8Array) => unknown]> = [
      [avcc.sps[0] as Uint8Array, (b) => parseH264Sps(b)],
      [hvcc.sps[0] as Uint8Array, (b) => parseHevcSps(b)],
      [hvcc.vps[0] as Uint8Array, (b) => parseHevcVps(b)],
      [hvcc.sps[0] as Uint8Array, (b) => buildHvcC(hvcc.vps, [b], hvcc.pps)],
    ];
    for (const [orig, parse] of cases) {
      for (let i = 0; i < 500; i++) {
        const b = orig.slice(0, 1 + rand(orig.length));
        for (let k = rand(4); k >= 0; k--) b[1 + rand(b.length - 1)] = rand(256);
        if (b[0] !== undefined) b[0] = orig[0] as number;
        try {
          parse(b);
        } catch (err) {
          assert.ok(err instanceof FormatError, `${String(err)}`);
        }
      }
    }
  });
});
