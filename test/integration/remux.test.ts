import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { promisify } from 'node:util';
import { remux } from '../../src/api/remux.js';
import { CastkitError } from '../../src/core/errors.js';
import { fixture, makeMedia, tools } from '../helpers/fixtures.js';
import { decodeAmf0All, type AmfObject } from '../../src/formats/flv/amf0.js';
import { bodyStart, childBoxes, findBox, readBoxes, u32 } from '../../src/formats/isobmff/isobmff-boxes.js';
import { decodeMessages, frameHashes, packets, type PacketInfo } from '../helpers/media-check.js';
import { scratchDir } from '../helpers/scratch.js';

const run = promisify(execFile);
const dir = scratchDir('castkit-remux-');
let n = 0;
const outPath = (ext: string): string => join(dir, `out-${n++}${ext}`);

/** As many video packets and as many audio packets in `got` as in `want` (`label` leads the message). */
function assertSamePackets(got: readonly PacketInfo[], want: readonly PacketInfo[], label: string): void {
  for (const type of ['video', 'audio']) {
    assert.equal(
      got.filter((p) => p.type === type).length,
      want.filter((p) => p.type === type).length,
      `${label}${type} packets`,
    );
  }
}

/**
 * The output decodes cleanly, to the same frames as the source, with the same packet counts.
 * `ignoreSourceEditList`: the source's edit list (an MP4's AAC priming) is not applied, for an output
 * that has none (FLV).
 */
async function assertSameMedia(
  source: string,
  output: string,
  opts: { ignoreEditList?: boolean; ignoreSourceEditList?: boolean } = {},
): Promise<void> {
  assert.equal(await decodeMessages(output), '', 'ffmpeg decodes the output without a message');
  const ignoreEditList = opts.ignoreEditList === true;
  const [a, b] = await Promise.all([
    frameHashes(source, { ignoreEditList: ignoreEditList || opts.ignoreSourceEditList === true }),
    frameHashes(output, { ignoreEditList }),
  ]);
  assert.equal(b.video.length, a.video.length, 'video frame count');
  assert.equal(b.audio.length, a.audio.length, 'audio frame count');
  assert.deepEqual(b.video, a.video, 'decoded video frames equal the source');
  assert.deepEqual(b.audio, a.audio, 'decoded audio frames equal the source');
  const [pa, pb] = await Promise.all([packets(source), packets(output)]);
  assertSamePackets(pb, pa, '');
}

async function ffmpegCopy(input: string, ext: string, extra: string[] = []): Promise<string> {
  const out = outPath(ext);
  await run(tools().ffmpeg.path, ['-v', 'error', '-i', input, '-c', 'copy', ...extra, out]);
  return out;
}

describe('remux single inputs to MP4', () => {
  for (const name of [
    'h264-aac.mp4',
    'h264-aac.fmp4',
    'h264-aac.flv',
    'h264-aac.ts',
    'hevc-aac.mp4',
    'audio.m4a',
  ]) {
    it(`${name} -> mp4 keeps every frame`, async () => {
      const src = await fixture(name);
      const out = outPath('.mp4');
      const r = await remux([src], { output: out });
      assert.equal(r.format, 'mp4');
      await assertSameMedia(src, out);
    });
  }

  it('HEVC in MPEG-TS and FLV (enhanced RTMP) -> mp4', async () => {
    const hevc = await fixture('hevc-aac.mp4');
    const ts = await ffmpegCopy(hevc, '.ts');
    const out = outPath('.mp4');
    await remux([ts], { output: out });
    await assertSameMedia(ts, out);
  });

  it('an MPEG-TS whose timestamps wrap past 2^33 -> mp4 with every frame', async () => {
    // 95442 s is 2^33 / 90 kHz minus about 1.7 s: the 2 s clip crosses the wrap.
    const wrap = await ffmpegCopy(await fixture('h264-aac.mp4'), '.ts', ['-output_ts_offset', '95442']);
    const out = outPath('.mp4');
    const r = await remux([wrap], { output: out });
    assert.ok(Math.abs(r.durationSec - 2) < 0.1, `duration ${r.durationSec}`);
    await assertSameMedia(wrap, out);
    const ps = await packets(out);
    const v = ps.filter((p) => p.type === 'video').map((p) => p.dts);
    assert.ok(
      v.every((d, i) => i === 0 || d > (v[i - 1] as number)),
      'monotonic after the wrap',
    );
  });

  it('video only and audio only', async () => {
    const src = await fixture('h264-aac.mp4');
    for (const [flag, ext] of [
      ['-an', '.ts'],
      ['-vn', '.ts'],
      ['-an', '.flv'],
    ] as const) {
      const part = await ffmpegCopy(src, ext, [flag]);
      const out = outPath('.mp4');
      await remux([part], { output: out });
      await assertSameMedia(part, out);
    }
  });

  it('-o x.m4a keeps only the audio', async () => {
    const src = await fixture('h264-aac.mp4');
    const out = outPath('.m4a');
    const r = await remux([src], { output: out });
    assert.deepEqual(
      r.tracks.map((t) => t.kind),
      ['audio'],
    );
    const h = await frameHashes(out);
    assert.equal(h.video.length, 0);
    assert.deepEqual(h.audio, (await frameHashes(src)).audio);
    // From MPEG-TS too, and when a format is asked for: an .m4a is audio.
    const ts = await fixture('h264-aac.ts');
    for (const format of [undefined, 'fmp4', 'ts'] as const) {
      const m4a = outPath('.m4a');
      const got = await remux([ts], { output: m4a, format });
      assert.deepEqual(
        got.tracks.map((t) => t.kind),
        ['audio'],
        `TS to .m4a, format ${format}`,
      );
      assert.equal((await frameHashes(m4a)).video.length, 0, `format ${format}: no video in the file`);
    }
  });

  it('MPEG-TS and FLV are written in one pass; the moov lands first whether its room was enough or not', async () => {
    for (const name of ['h264-aac.ts', 'h264-aac.flv']) {
      const src = await fixture(name);
      for (const moovRoom of [undefined, 64]) {
        const out = outPath('.mp4');
        await remux([src], { output: out, moovRoom });
        await assertSameMedia(src, out);
        const head = readFileSync(out).subarray(0, 64).toString('latin1');
        assert.ok(head.indexOf('moov') < head.indexOf('mdat') || !head.includes('mdat'), 'moov before mdat');
        assert.ok(head.includes('moov'), `${name}: moov near the start`);
      }
    }
  });

  it('MPEG-TS and FLV larger than the read that sizes the moov room: the media after it goes straight behind the room', async () => {
    // 8.6 MB of noisy video: the room is sized after the first 2 MB, and most payloads are written after.
    const ts = await fixture('noise.ts');
    const flv = await fixture('noise.flv');
    for (const src of [ts, flv]) {
      assert.ok(statSync(src).size > 6 << 20, `${src}: larger than the first read`);
      const out = outPath('.mp4');
      const r = await remux([src], { output: out });
      assert.equal(r.bytesOut, statSync(out).size, 'the size reported');
      await assertSameMedia(src, out);
      const bytes = readFileSync(out);
      const top = readBoxes(bytes, 0, bytes.length).map((b) => b.type);
      // The room was estimated, not made to measure at the end: what the moov leaves of it is a free box.
      assert.deepEqual(top, ['ftyp', 'moov', 'free', 'mdat'], `${src}: boxes`);
    }
  });

  it('moov after mdat with faststart off', async () => {
    const src = await fixture('h264-aac.flv');
    const out = outPath('.mp4');
    await remux([src], { output: out, faststart: false });
    await assertSameMedia(src, out);
  });
});

describe('remux --merge: separate video and audio streams into one file', () => {
  it('video-only MP4 + audio-only M4A, and video-only fMP4 + audio-only fMP4 (DASH-style)', async () => {
    const src = await fixture('h264-aac.mp4');
    const frag = ['-movflags', 'frag_keyframe+empty_moov+default_base_moof'];
    for (const extra of [[], frag]) {
      const video = await ffmpegCopy(src, '.mp4', ['-an', ...extra]);
      const audio = await ffmpegCopy(src, '.m4a', ['-vn', ...extra]);
      const out = outPath('.mp4');
      const r = await remux([video, audio], { output: out, merge: true });
      assert.deepEqual(
        r.tracks.map((t) => t.kind),
        ['video', 'audio'],
      );
      await assertSameMedia(src, out, { ignoreEditList: extra.length > 0 });
      // In sync: each track starts when it started in its own input.
      const [pv, pa, po] = await Promise.all([packets(video), packets(audio), packets(out)]);
      for (const [type, ps] of [
        ['video', pv],
        ['audio', pa],
      ] as const) {
        const a = ps.map((p) => p.pts);
        const b = po.filter((p) => p.type === type).map((p) => p.pts);
        assert.ok(Math.abs(Math.min(...a) - Math.min(...b)) < 0.001, `${type} starts in sync`);
      }
    }
  });
});

describe('remux MP4 -> fragmented MP4', () => {
  it('writes an init segment and fragments at keyframes that decode to the same frames', async () => {
    const src = await fixture('h264-aac.mp4');
    const out = outPath('.mp4');
    await remux([src], { output: out, format: 'fmp4', fragmentDuration: 0.5 });
    // ffmpeg 5.1 does not apply the AAC priming edit in fragmented files; compare without edit lists.
    await assertSameMedia(src, out, { ignoreEditList: true });
    const { stdout } = await run(tools().ffprobe.path, [
      '-v',
      'error',
      '-show_entries',
      'format_tags=major_brand',
      '-of',
      'csv=p=0',
      out,
    ]);
    assert.equal(stdout.trim(), 'iso6');
  });
});

describe('remux MPEG-TS and FLV -> fragmented MP4 (one pass)', () => {
  /** Per moof: whether the first sample of its video traf (track 1) is a sync sample. */
  function fragmentStarts(path: string): boolean[] {
    const bytes = new Uint8Array(readFileSync(path));
    const starts: boolean[] = [];
    for (const moof of readBoxes(bytes, 0, bytes.length).filter((b) => b.type === 'moof')) {
      for (const traf of childBoxes(bytes, moof).filter((b) => b.type === 'traf')) {
        const kids = childBoxes(bytes, traf);
        const tfhd = findBox(kids, 'tfhd');
        const trun = findBox(kids, 'trun');
        if (!tfhd || !trun || u32(bytes, bodyStart(tfhd) + 4) !== 1) continue;
        // trun v1 with data offset, then per sample: duration, size, flags, composition offset.
        const flags = u32(bytes, bodyStart(trun) + 4 + 4 + 4 + 8);
        starts.push((flags & 0x00010000) === 0);
      }
    }
    return starts;
  }

  it('MPEG-TS -> fmp4 in one pass: the init segment fills its room (a free box after it), or the fragments move behind it', async () => {
    const src = await fixture('h264-aac.ts');
    for (const moovRoom of [undefined, 64, 100_000]) {
      const out = outPath('.mp4');
      const r = await remux([src], { output: out, format: 'fmp4', moovRoom });
      const bytes = readFileSync(out);
      assert.equal(r.bytesOut, bytes.length, `room ${moovRoom}: the size reported`);
      await assertSameMedia(src, out);
      const top = readBoxes(bytes, 0, bytes.length).map((b) => b.type);
      assert.deepEqual(top.slice(0, 2), ['ftyp', 'moov'], `room ${moovRoom}: ${top.slice(0, 4).join(' ')}`);
      assert.equal(top[2], moovRoom === 64 ? 'moof' : 'free', `room ${moovRoom}: what follows the moov`);
      if (moovRoom === 100_000) assert.equal(readBoxes(bytes, 0, bytes.length)[3]?.start, 100_000);
    }
  });

  for (const name of ['h264-aac.ts', 'h264-aac.flv', 'hevc-aac.ts']) {
    it(`${name} -> fmp4: fragments that start at keyframes, the same frames`, async () => {
      const src =
        name === 'hevc-aac.ts'
          ? await makeMedia({
              name: 'hevc-aac',
              ext: '.ts',
              deps: ['hevc-aac.mp4'],
              args: ['-i', '{dep:hevc-aac.mp4}', '-c', 'copy'],
            })
          : await fixture(name);
      const out = outPath('.mp4');
      const r = await remux([src], { output: out, format: 'fmp4', fragmentDuration: 0.5 });
      assert.equal(r.format, 'fmp4');
      await assertSameMedia(src, out);
      const starts = fragmentStarts(out);
      // The HEVC clip has one keyframe (x265's GOP is longer than the clip): one fragment.
      assert.ok(starts.length >= (name === 'hevc-aac.ts' ? 1 : 2), `${starts.length} fragments`);
      assert.ok(
        starts.every((k) => k),
        'every fragment starts with a keyframe',
      );
    });
  }
});

describe('remux several inputs into one', () => {
  it("ffmpeg's FLV from a TS (an empty AAC sequence header first) joins another FLV of the clip, to MP4 and TS", async () => {
    const fromTs = await fixture('h264-aac-from-ts.flv');
    const flv = await fixture('h264-aac.flv');
    const count = async (f: string, kind: string): Promise<number> =>
      (await packets(f)).filter((p) => p.type === kind).length;
    for (const ext of ['.mp4', '.ts']) {
      const out = outPath(ext);
      await remux([fromTs, flv], { output: out });
      assert.equal(await decodeMessages(out), '', ext);
      for (const kind of ['video', 'audio']) {
        assert.equal(
          await count(out, kind),
          (await count(fromTs, kind)) + (await count(flv, kind)),
          `${ext} ${kind}`,
        );
      }
    }
  });

  it('MPEG-TS segments -> one MP4 with every frame', async () => {
    const src = await makeMedia({
      name: 'gop30',
      ext: '.mp4',
      args: [
        '-f',
        'lavfi',
        '-i',
        'testsrc2=size=320x240:rate=30:duration=6',
        '-f',
        'lavfi',
        '-i',
        'sine=frequency=440:sample_rate=48000:duration=6',
        '-c:v',
        'libx264',
        '-preset',
        'veryfast',
        '-g',
        '30',
        '-keyint_min',
        '30',
        '-sc_threshold',
        '0',
        '-c:a',
        'aac',
        '-shortest',
      ],
    });
    const segDir = mkdtempSync(join(dir, 'tsseg-'));
    await run(tools().ffmpeg.path, [
      '-v',
      'error',
      '-i',
      src,
      '-c',
      'copy',
      '-f',
      'segment',
      '-segment_time',
      '2',
      '-segment_format',
      'mpegts',
      join(segDir, 'seg%03d.ts'),
    ]);
    const segs = readdirSync(segDir)
      .sort()
      .map((f) => join(segDir, f));
    assert.ok(segs.length >= 3);
    const whole = await ffmpegCopy(src, '.ts');
    const out = outPath('.mp4');
    const r = await remux(segs, { output: out });
    assert.equal(r.inputs, segs.length);
    await assertSameMedia(whole, out);
  });

  it('half-second TS segments whose timestamps restart -> MP4 and TS with every frame (restarts, not overlaps)', async () => {
    const src = await makeMedia({
      name: 'gop15',
      ext: '.mp4',
      args: [
        ...['-f', 'lavfi', '-i', 'testsrc2=size=320x240:rate=30:duration=6'],
        ...['-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=48000:duration=6'],
        ...['-c:v', 'libx264', '-preset', 'veryfast', '-g', '15', '-keyint_min', '15', '-sc_threshold', '0'],
        ...['-c:a', 'aac', '-shortest'],
      ],
    });
    const segDir = mkdtempSync(join(dir, 'tsreset-'));
    await run(tools().ffmpeg.path, [
      ...['-v', 'error', '-i', src, '-c', 'copy', '-f', 'segment', '-segment_time', '0.5'],
      ...['-reset_timestamps', '1', '-segment_format', 'mpegts', join(segDir, 'seg%03d.ts')],
    ]);
    const segs = readdirSync(segDir)
      .sort()
      .map((f) => join(segDir, f));
    assert.ok(segs.length >= 10, `${segs.length} segments`);
    // Each segment starts 0.5 s "before" the end of the one before (its own clock restarted): within the
    // 1 s run-on tolerance, that used to be taken for an overlap and all but one frame of each dropped.
    const a = await packets(src);
    for (const ext of ['.mp4', '.ts']) {
      const out = outPath(ext);
      const r = await remux(segs, { output: out });
      assert.deepEqual(
        r.warnings.filter((w) => w.code === 'W_OVERLAP'),
        [],
      );
      assertSamePackets(await packets(out), a, `${ext}: `);
      assert.equal(await decodeMessages(out), '');
    }
  });

  it('fragmented MP4 segments (init first) -> one MP4', async () => {
    const src = await fixture('h264-aac.mp4');
    const segDir = mkdtempSync(join(dir, 'm4s-'));
    await run(tools().ffmpeg.path, [
      '-v',
      'error',
      '-i',
      src,
      '-c',
      'copy',
      '-f',
      'hls',
      '-hls_time',
      '0.5',
      '-hls_segment_type',
      'fmp4',
      '-hls_fmp4_init_filename',
      'init.mp4',
      '-hls_segment_filename',
      join(segDir, 'seg%03d.m4s'),
      join(segDir, 'index.m3u8'),
    ]);
    const segs = readdirSync(segDir)
      .filter((f) => f.endsWith('.m4s'))
      .sort()
      .map((f) => join(segDir, f));
    assert.ok(segs.length >= 2);
    // The reference is what the segments hold: init + segments concatenated is one valid fMP4 stream.
    const whole = join(segDir, 'whole.mp4');
    writeFileSync(whole, Buffer.concat([join(segDir, 'init.mp4'), ...segs].map((f) => readFileSync(f))));
    const out = outPath('.mp4');
    await remux([join(segDir, 'init.mp4'), ...segs], { output: out });
    await assertSameMedia(whole, out);
    await assert.rejects(remux(segs, { output: outPath('.mp4') }), /no init segment before it/);
  });
});

describe('remux to FLV from MP4, TS and fMP4', () => {
  /** The FLV's bytes and the name and object of its first tag, the script data tag after the header. */
  function firstScriptTag(flv: string): { bytes: Uint8Array; name: string; meta: AmfObject } {
    const bytes = new Uint8Array(readFileSync(flv));
    const size = (bytes[14]! << 16) | (bytes[15]! << 8) | bytes[16]!;
    const [name, meta] = decodeAmf0All(bytes.subarray(13 + 11, 13 + 11 + size)) as [string, AmfObject];
    return { bytes, name, meta };
  }

  /** onMetaData: filesize, and a keyframe index whose positions are video keyframe tags in time order. */
  function assertFlvIndex(flv: string, keyframes: number): void {
    const { bytes, name, meta } = firstScriptTag(flv);
    assert.equal(name, 'onMetaData');
    assert.equal(meta.filesize, bytes.length);
    const index = meta.keyframes as { times: number[]; filepositions: number[] };
    assert.equal(index.filepositions.length, keyframes);
    let prev = -1;
    for (const [k, pos] of index.filepositions.entries()) {
      assert.equal(bytes[pos], 9, `keyframe ${k} at ${pos} is a video tag`);
      assert.equal((bytes[pos + 11]! >> 4) & 7, 1, `keyframe ${k} at ${pos} is a keyframe`);
      assert.ok(index.times[k]! > prev, 'times increase');
      prev = index.times[k]!;
    }
  }

  const keyframesOf = async (path: string): Promise<number> =>
    (await packets(path)).filter((p) => p.type === 'video' && p.keyframe).length;

  for (const name of ['h264-aac.mp4', 'h264-aac.ts', 'h264-aac.fmp4', 'audio.m4a']) {
    it(`${name} -> flv keeps every frame and indexes its keyframes`, async () => {
      const src = await fixture(name);
      const out = outPath('.flv');
      const r = await remux([src], { output: out });
      assert.equal(r.format, 'flv');
      await assertSameMedia(src, out, { ignoreSourceEditList: !name.endsWith('.ts') });
      assertFlvIndex(out, await keyframesOf(src));
    });
  }

  it('MP4 -> FLV applies the edit lists (AAC priming, B-frame delay, delayed audio): in sync as ffmpeg has it', async () => {
    const src = await fixture('h264-aac.mp4');
    const video = await ffmpegCopy(src, '.mp4', ['-an']);
    const audio = await ffmpegCopy(src, '.m4a', ['-vn']);
    // The audio a second late, said by the audio track's edit list (an empty edit first).
    const delayed = outPath('.mp4');
    await run(tools().ffmpeg.path, [
      ...['-v', 'error', '-i', video, '-itsoffset', '1', '-i', audio],
      ...['-map', '0', '-map', '1', '-c', 'copy', delayed],
    ]);
    const starts = async (path: string): Promise<string> =>
      (
        await run(tools().ffprobe.path, [
          ...['-v', 'error', '-show_entries', 'stream=codec_type,start_time', '-of', 'csv=p=0', path],
        ])
      ).stdout.trim();
    for (const input of [src, delayed]) {
      const mine = outPath('.flv');
      await remux([input], { output: mine });
      const theirs = await ffmpegCopy(input, '.flv');
      const got = await starts(mine);
      assert.equal(got, await starts(theirs), `${input}: stream start times`);
      if (input === delayed) assert.match(got, /audio,1\.0\d+/, 'the audio a second after the video');
      await assertSameMedia(input, mine, { ignoreSourceEditList: true });
    }
  });

  it('mono AAC from an MP4 stays mono: the AudioSpecificConfig counts the channels, not channelcount', async () => {
    // ffmpeg writes channelcount 2 in the sample entry of a mono AAC track.
    const mono = await makeMedia({
      name: 'aac-mono',
      ext: '.m4a',
      args: [
        '-f',
        'lavfi',
        '-i',
        'sine=frequency=440:sample_rate=48000:duration=1',
        '-ac',
        '1',
        '-c:a',
        'aac',
      ],
    });
    const out = outPath('.flv');
    const r = await remux([mono], { output: out });
    assert.equal(r.tracks[0]?.channels, 1);
    const { name, meta } = firstScriptTag(out);
    assert.equal(name, 'onMetaData');
    assert.equal(meta.stereo, false);
  });

  it('MPEG-TS -> FLV in one pass: onMetaData fills its room, or the body moves behind a larger head', async () => {
    const src = await fixture('h264-aac.ts');
    const keyframes = await keyframesOf(src);
    for (const moovRoom of [undefined, 64, 100_000]) {
      const out = outPath('.flv');
      const r = await remux([src], { output: out, moovRoom });
      assert.equal(r.bytesOut, readFileSync(out).length, `room ${moovRoom}: the size reported`);
      await assertSameMedia(src, out);
      assertFlvIndex(out, keyframes);
      if (moovRoom === 100_000) assert.ok(r.bytesOut > 100_000, 'the head padded to its room');
    }
    // Several TS inputs: one FLV, the second input's times running on from the first's.
    const out = outPath('.flv');
    await remux([src, src], { output: out });
    const [one, both] = await Promise.all([packets(src), packets(out)]);
    const video = (ps: { type: string }[]): number => ps.filter((p) => p.type === 'video').length;
    assert.equal(video(both), 2 * video(one));
    assertFlvIndex(out, 2 * keyframes);
    assert.equal(await decodeMessages(out), '');
  });

  it('HEVC goes out as enhanced RTMP hvc1 and comes back to MP4 with the same frames', async () => {
    // ffmpeg 5.1 reads no enhanced-RTMP FLV: castkit's own FLV demuxer reads it back.
    const src = await fixture('hevc-aac.mp4');
    const flv = outPath('.flv');
    await remux([src], { output: flv });
    const bytes = readFileSync(flv);
    assert.ok(bytes.includes(Buffer.from('hvc1')), 'the FourCC is in the file');
    const back = outPath('.mp4');
    await remux([flv], { output: back });
    const [a, b] = await Promise.all([frameHashes(src, { ignoreEditList: true }), frameHashes(back)]);
    assert.equal(b.video.length, a.video.length);
    assert.deepEqual(b.video, a.video, 'decoded video frames equal the source');
    assertFlvIndex(flv, await keyframesOf(src));
  });

  it('keeps the first video and audio track, and says which tracks it dropped', async () => {
    const src = await fixture('h264-aac.mp4');
    const two = outPath('.mp4');
    await run(tools().ffmpeg.path, [
      ...['-v', 'error', '-i', src, '-i', await fixture('audio.m4a')],
      ...['-map', '0:v', '-map', '0:a', '-map', '1:a', '-c', 'copy', '-shortest', two],
    ]);
    const out = outPath('.flv');
    const r = await remux([two], { output: out });
    assert.deepEqual(
      r.tracks.map((t) => t.kind),
      ['video', 'audio'],
    );
    assert.ok(r.warnings.some((w) => w.code === 'W_FLV_TRACKS' && /track 3 dropped/.test(w.message)));
    await assertSameMedia(src, out, { ignoreSourceEditList: true });
  });

  it('an FLV chunk join refuses a chunk of another codec, naming it; HEVC chunks (enhanced RTMP) join', async () => {
    const aac = await fixture('h264-aac.flv');
    const mp3 = outPath('.flv');
    await run(tools().ffmpeg.path, [
      ...['-v', 'error', '-i', aac, '-c:v', 'copy', '-c:a', 'libmp3lame', '-ar', '44100', mp3],
    ]);
    const out = outPath('.flv');
    await assert.rejects(remux([aac, aac, mp3], { output: out }), (err: unknown) => {
      assert.ok(err instanceof CastkitError);
      assert.equal(err.code, 'E_CONCAT_MISMATCH');
      assert.match(err.message, /chunk 3: its audio is MP3, the first chunk's AAC/);
      assert.ok(err.message.startsWith(mp3), err.message);
      return true;
    });
    const base = out.split('/').pop() as string;
    assert.deepEqual(
      readdirSync(dir).filter((f) => f.includes(base)),
      [],
      'no output or temporary file',
    );
    // HEVC as enhanced RTMP: the codec is a FourCC in every video tag, the same in every chunk (a chunk
    // given twice repeats the first, and is dropped as an overlap: the join is not refused).
    const hevc = outPath('.flv');
    await remux([await fixture('hevc-aac.mp4')], { output: hevc });
    const joined = outPath('.flv');
    const r = await remux([hevc, hevc], { output: joined });
    assert.equal(r.join?.chunks, 2);
    assert.equal(r.join?.overlaps, 1);
    // ffmpeg 5 reads no enhanced RTMP: checked back in MP4.
    const back = outPath('.mp4');
    await remux([joined], { output: back });
    assert.equal(await decodeMessages(back), '');
  });

  it('FLV chunks with an MP4 among them are made the general way; non-media is refused', async () => {
    const flv = await fixture('h264-aac.flv');
    const mp4 = await fixture('h264-aac.mp4');
    const out = outPath('.flv');
    const r = await remux([flv, mp4], { output: out });
    assert.equal(r.join, undefined, 'not an FLV chunk join');
    const [one, both] = await Promise.all([packets(flv), packets(out)]);
    const count = (ps: { type: string }[], type: string): number => ps.filter((p) => p.type === type).length;
    assert.equal(count(both, 'video'), 2 * count(one, 'video'), 'the video of both inputs');
    // The clip's audio runs a little past its video: the second input's first frames repeat that time.
    const overlap = r.warnings.find((w) => w.code === 'W_OVERLAP');
    const dropped = Number(/^(\d+) samples/.exec(overlap?.message ?? '')?.[1] ?? 0);
    assert.equal(overlap?.input ?? mp4, mp4, 'the warning names the second input');
    assert.equal(count(both, 'audio'), 2 * count(one, 'audio') - dropped, 'the audio of both, less repeats');
    assert.equal(await decodeMessages(out), '');

    const text = join(dir, 'notes.txt');
    writeFileSync(text, 'not a video\n');
    const bad = outPath('.flv');
    await assert.rejects(remux([flv, text], { output: bad }), (err: { code?: string; message?: string }) => {
      assert.equal(err.code, 'E_NOT_MEDIA');
      assert.ok(err.message?.includes(text), err.message);
      return true;
    });
    const base = bad.split('/').pop() as string;
    assert.deepEqual(
      readdirSync(dir).filter((f) => f.includes(base)),
      [],
      'no output or temporary file',
    );
  });
});

describe('remux to MPEG-TS', () => {
  /** The first presentation time of each kind of track, seconds (ffprobe applies MP4 edit lists). */
  const starts = async (path: string): Promise<{ video: number; audio: number }> => {
    const ps = await packets(path);
    const first = (type: string): number => Math.min(...ps.filter((p) => p.type === type).map((p) => p.pts));
    return { video: first('video'), audio: first('audio') };
  };

  const MP3_TS = {
    name: 'h264-mp3',
    ext: '.ts',
    deps: ['h264-aac.mp4'],
    args: ['-i', '{dep:h264-aac.mp4}', '-c:v', 'copy', '-c:a', 'libmp3lame', '-b:a', '128k'],
  };
  for (const name of [
    'h264-aac.mp4',
    'hevc-aac.mp4',
    'h264-aac.flv',
    'h264-aac.fmp4',
    'h264-mp3.ts',
    'audio.m4a',
  ]) {
    it(`${name} -> ts keeps every frame, in sync`, async () => {
      const src = name === 'h264-mp3.ts' ? await makeMedia(MP3_TS) : await fixture(name);
      const out = outPath('.ts');
      const r = await remux([src], { output: out });
      assert.equal(r.format, 'ts');
      // TS has no edit list: an MP4's AAC priming frame is decoded, as from ffmpeg's own MP4 -> TS.
      await assertSameMedia(src, out, { ignoreSourceEditList: /\.(mp4|fmp4|m4a)$/.test(name) });
      if (name === 'audio.m4a') return;
      // Video and audio keep the distance they had in the source (to within an audio frame).
      const [a, b] = await Promise.all([starts(src), starts(out)]);
      assert.ok(
        Math.abs(b.video - b.audio - (a.video - a.audio)) <= 1024 / 44100 + 0.001,
        `video - audio start: ${b.video - b.audio} s, source ${a.video - a.audio} s`,
      );
    });
  }

  it('FLV inputs that restart at 0 go in one pass and join as they do to MP4: the same length and packets', async () => {
    const flv = await fixture('h264-aac.flv');
    const asTs = outPath('.ts');
    const asMp4 = outPath('.mp4');
    const [a, b] = [
      await remux([flv, flv, flv], { output: asTs }),
      await remux([flv, flv, flv], { output: asMp4 }),
    ];
    assert.equal(await decodeMessages(asTs), '');
    assert.ok(Math.abs(a.durationSec - b.durationSec) < 0.002, `${a.durationSec} s vs ${b.durationSec} s`);
    assert.deepEqual(
      a.warnings.map((w) => [w.code, w.input]),
      b.warnings.map((w) => [w.code, w.input]),
      'the same repairs, named against the same inputs',
    );
    const [pa, pb] = await Promise.all([packets(asTs), packets(asMp4)]);
    assertSamePackets(pa, pb, '');
  });

  it('several inputs -> one TS with continuous decode times', async () => {
    const ts = await fixture('h264-aac.ts');
    const single = await remux([ts], { output: outPath('.ts') });
    const out = outPath('.ts');
    const r = await remux([ts, ts], { output: out });
    const [one, both] = await Promise.all([packets(ts), packets(out)]);
    const count = (ps: { type: string }[], type: string): number => ps.filter((p) => p.type === type).length;
    assert.equal(count(both, 'video'), 2 * count(one, 'video'));
    assert.equal(await decodeMessages(out), '');
    const dts = both.filter((p) => p.type === 'video').map((p) => p.dts);
    assert.ok(
      dts.every((d, i) => i === 0 || d > dts[i - 1]!),
      'video decode times rise across the join',
    );
    // Twice the clip, less the audio that ran past its video and was repeated by the second input.
    assert.ok(
      r.durationSec > 2 * single.durationSec - 0.1 && r.durationSec <= 2 * single.durationSec,
      `${r.durationSec} s`,
    );
  });
});

describe('remux joins of inputs encoded with other video parameters', () => {
  // Clips of two sizes (a phone's, a camera's): each later input whose parameter sets differ from the one
  // before gets its own into its first keyframe, and the output plays each part as its own input does.
  /** Two 2 s H.264 + AAC clips, 320x240 and 640x360, as `ext`; inputs A, B, A and their frames in order. */
  const twoSizes = async (ext: string): Promise<{ inputs: string[]; want: string[] }> => {
    const clips: string[] = [];
    for (const [size, freq] of [
      ['320x240', 440],
      ['640x360', 880],
    ] as const) {
      const path = join(dir, `size-${size}${ext}`);
      await run(tools().ffmpeg.path, [
        ...['-v', 'error', '-y', '-f', 'lavfi', '-i', `testsrc2=s=${size}:r=25:d=2`],
        ...['-f', 'lavfi', '-i', `sine=d=2:f=${freq}`, '-c:v', 'libx264', '-g', '25', '-c:a', 'aac'],
        ...['-shortest', path],
      ]);
      clips.push(path);
    }
    const inputs = [clips[0], clips[1], clips[0]] as string[];
    const want: string[] = [];
    for (const input of inputs) want.push(...(await frameHashes(input)).video);
    return { inputs, want };
  };

  // Clips of each input kind, to each output. MP4 and fMP4 inputs go the two-pass way, where the first
  // keyframe of each changed input gets its parameter sets through the payload store; FLV chunks (two
  // renditions) to MP4 the one-pass way, on their way to the file; to fMP4 as it streams (its init
  // segment comes first), the same under the first input's sample entry. TS inputs carry theirs already.
  // Every MP4 says where the parameters change; the one-pass fMP4, FLV and TS carry them as they come.
  for (const inExt of ['.mp4', '.flv', '.ts'] as const) {
    it(`${inExt.slice(1).toUpperCase()} clips of 320x240, 640x360, 320x240 -> mp4, fmp4, flv, ts: every frame at its size`, async () => {
      const { inputs, want } = await twoSizes(inExt);
      for (const [ext, format] of [
        ['.mp4', undefined],
        ['.mp4', 'fmp4'],
        ['.flv', undefined],
        ['.ts', undefined],
      ] as const) {
        const out = outPath(ext);
        const r = await remux(inputs, { output: out, ...(format ? { format } : {}) });
        const changes = r.warnings.filter((w) => w.code === 'W_CONFIG_CHANGE');
        if (inExt === '.mp4' || (ext === '.mp4' && !format))
          assert.equal(changes.length, 2, `${format ?? ext}: the change and the change back`);
        assert.equal(await decodeMessages(out), '', `${format ?? ext}: a clean decode`);
        const got = (await frameHashes(out, { ownSizes: true })).video;
        assert.deepEqual(got, want, `${format ?? ext}: frames`);
      }
    });
  }
});
