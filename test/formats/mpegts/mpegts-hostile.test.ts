import assert from 'node:assert/strict';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { FormatError } from '../../../src/core/errors.js';
import type { TrackInfo } from '../../../src/formats/media.js';
import { makeAudioSpecificConfig } from '../../../src/formats/codecs/aac.js';
import { parseAvcC } from '../../../src/formats/codecs/h264.js';
import { MpegtsDemuxer, sniffMpegts } from '../../../src/formats/mpegts/mpegts-demuxer.js';
import { fixture, makeMedia, type MediaSpec } from '../../helpers/fixtures.js';
import { ffprobePackets, sampleEntryBox } from '../codecs/probe-helpers.js';
import {
  assertMatchesFfprobe,
  assertSane,
  demuxAll,
  lengthPrefixed,
  pidOf,
  pusiOf,
  samplesOf,
  trackOf,
  type Demuxed,
} from './demux-helpers.js';
import { adtsFrame, concat, TsWriter } from './ts-writer.js';
import { scratchDir } from '../../helpers/scratch.js';

const read = (path: string): Uint8Array => new Uint8Array(readFileSync(path));
const codes = (r: Demuxed): string[] => r.warnings.map((w) => w.code);

let seed = 42;
function rand(n: number): number {
  seed = (seed * 1103515245 + 12345) & 0x7fffffff;
  return seed % n;
}
function randomBytes(n: number, nonZero = false): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = nonZero ? 1 + rand(255) : rand(256);
  return b;
}

/** Packets of the file, without the given packet indices. */
function withoutPackets(bytes: Uint8Array, drop: Set<number>): Uint8Array {
  const parts: Uint8Array[] = [];
  for (let i = 0; i * 188 < bytes.length; i++)
    if (!drop.has(i)) parts.push(bytes.subarray(i * 188, i * 188 + 188));
  return concat(parts);
}

const SMALL_640: MediaSpec = {
  name: 'h264-aac-640',
  ext: '.ts',
  args: [
    '-f',
    'lavfi',
    '-i',
    'testsrc2=size=640x360:rate=30:duration=1',
    '-f',
    'lavfi',
    '-i',
    'sine=frequency=440:sample_rate=48000:duration=1',
    '-c:v',
    'libx264',
    '-preset',
    'ultrafast',
    '-pix_fmt',
    'yuv420p',
    '-g',
    '30',
    '-c:a',
    'aac',
    '-ac',
    '2',
    '-shortest',
  ],
};

describe('MPEG-TS: damaged real streams', () => {
  it('a stream starting mid-GOP is trimmed to the first keyframe, audio to its time', async () => {
    const whole = read(await fixture('h264-aac.ts'));
    // Cut at the packet boundary a third of the way in: inside the first GOP (30 frames of 60).
    const cut = whole.subarray(Math.floor(whole.length / 3 / 188) * 188);
    const r = demuxAll(cut);
    assertSane(r);
    const video = samplesOf(r, trackOf(r, 'video').id);
    assert.equal(video[0]?.keyframe, true);
    const keyPts = (video[0]?.dts as number) + (video[0]?.cts as number);
    for (const a of samplesOf(r, trackOf(r, 'audio').id)) assert.ok((a.dts * 90000) / 48000 >= keyPts);
    // The warning counts what ffprobe shows before its first keyframe.
    const packets = await withTempFile(cut, 'midgop.ts', ffprobePackets);
    const probedVideo = packets.filter((p) => p.codec_type === 'video');
    const before = probedVideo.findIndex((p) => p.flags.startsWith('K'));
    assert.ok(before > 0);
    const trimmed = r.warnings.find((w) => w.code === 'W_TS_TRIMMED');
    assert.ok(trimmed, codes(r).join());
    assert.match(trimmed.message, new RegExp(`; ${before} video samples`));
    assert.equal(typeof trimmed.offset, 'number');
    assertMatchesFfprobe(r, packets);
  });

  it('lost packets are reported with their byte offset and the output stays sane', async () => {
    const whole = read(await fixture('h264-aac.ts'));
    const n = whole.length / 188;
    const videoPid = 0x100;
    // Drop three payload-continuation packets of the video PID in the middle.
    const drop = new Set<number>();
    for (let i = Math.floor(n / 2); drop.size < 3 && i < n; i++) {
      if (pidOf(whole, i) === videoPid && !pusiOf(whole, i)) drop.add(i);
    }
    const damaged = withoutPackets(whole, drop);
    const r = demuxAll(damaged);
    assertSane(r);
    const first = Math.min(...drop);
    // The warning points at the first video packet after the gap, in the damaged file's offsets.
    let next = first;
    while (pidOf(whole, next) !== videoPid || drop.has(next)) next++;
    const nextInDamaged = (next - [...drop].filter((d) => d < next).length) * 188;
    const cc = r.warnings.filter((w) => w.code === 'W_TS_CC');
    assert.ok(cc.length >= 1, codes(r).join());
    assert.equal(cc[0]?.offset, nextInDamaged);
    const intact = demuxAll(whole);
    assert.equal(samplesOf(r, 1).length, samplesOf(intact, 1).length, 'no access unit lost, one is damaged');
  });

  it('random bytes are not a transport stream', () => {
    const big = randomBytes(200_000);
    for (let i = 0; i < big.length; i += 188) if (big[i] === 0x47) big[i] = 0; // no accidental grid
    assert.throws(
      () => demuxAll(big, [4096]),
      (e: unknown) => e instanceof FormatError && e.code === 'E_TS_NO_SYNC' && typeof e.offset === 'number',
    );
    assert.throws(() => demuxAll(randomBytes(5000)), FormatError);
    assert.throws(() => new MpegtsDemuxer().end(), FormatError);
    assert.equal(sniffMpegts(big), false);
  });

  it('garbage in the middle is skipped with a resync warning', async () => {
    const whole = read(await fixture('h264-aac.ts'));
    const at = Math.floor(whole.length / 2 / 188) * 188;
    const garbage = randomBytes(1000);
    garbage.fill(0x47, 100, 101);
    const damaged = concat([whole.subarray(0, at), garbage, whole.subarray(at)]);
    const r = demuxAll(damaged);
    assertSane(r);
    const sync = r.warnings.find((w) => w.code === 'W_TS_SYNC');
    assert.ok(sync, codes(r).join());
    assert.equal(sync.offset, at);
    assert.match(sync.message, /skipped 1000 bytes/);
    const intact = demuxAll(whole);
    assert.equal(samplesOf(r, 1).length, samplesOf(intact, 1).length);
    assert.equal(samplesOf(r, 2).length, samplesOf(intact, 2).length);
  });

  it('a truncated file ends cleanly; one cut before its PMT is an error', async () => {
    const whole = read(await fixture('h264-aac.ts'));
    const cut = whole.subarray(0, Math.floor(whole.length * 0.6) + 77);
    const r = demuxAll(cut);
    assertSane(r);
    assert.ok(codes(r).includes('W_TS_TRUNCATED'), codes(r).join());
    assert.ok(samplesOf(r, 1).length > 20 && samplesOf(r, 1).length < 60);
    assert.throws(
      () => demuxAll(whole.subarray(0, 300)),
      (e: unknown) => e instanceof FormatError && e.code === 'E_TS_NO_PROGRAM' && e.offset === 300,
    );
  });

  it('random corruption never escapes as anything but FormatError, and timelines stay monotonic', async () => {
    const whole = read(await fixture('h264-aac.ts'));
    for (let round = 0; round < 25; round++) {
      const b = whole.slice();
      for (let k = 0; k < 40; k++) b[rand(b.length)] = rand(256);
      if (round % 5 === 4) b.copyWithin(rand(b.length), rand(b.length), rand(b.length)); // shuffled runs
      const sizes = [1 + rand(5000), 1 + rand(300), 188];
      try {
        const r = demuxAll(b, sizes);
        assertSane(r);
        assert.ok(r.warnings.length < 2000, 'warnings are capped');
      } catch (err) {
        assert.ok(err instanceof FormatError, String(err));
      }
    }
  });

  it('two files concatenated: a new SPS emits the track again, the timeline is stitched', async () => {
    const first = read(await fixture('h264-aac.ts'));
    const second = read(await makeMedia(SMALL_640));
    const r = demuxAll(concat([first, second]));
    assertSane(r);
    const videoTracks = r.tracks.filter((t) => t.kind === 'video');
    assert.deepEqual(
      videoTracks.map((t) => [t.id, t.width, t.height]),
      [
        [1, 320, 240],
        [1, 640, 360],
      ],
    );
    assert.ok(codes(r).includes('W_TS_CONFIG_CHANGE'));
    assert.ok(codes(r).includes('W_TS_DISCONTINUITY'));
    const video = samplesOf(r, 1);
    const jumpAt = video.findIndex(
      (s, i) => i > 0 && s.keyframe && s.dts - (video[i - 1]?.dts as number) !== 3000,
    );
    assert.equal(jumpAt, -1, 'video decode times continue in 3000-tick steps across the join');
  });
});

describe('MPEG-TS: hand-made streams', () => {
  const AUDIO_PID = 0x101;
  const VIDEO_PID = 0x100;

  it('CRC-protected ADTS frames spanning PES packets, several per PES', () => {
    const payloads = Array.from({ length: 20 }, () => randomBytes(50 + rand(400)));
    const frames = payloads.map((p) => adtsFrame(p, { crc: true }));
    const stream = concat(frames);
    const w = new TsWriter([{ pid: AUDIO_PID, streamType: 0x0f, language: 'fra' }]).psi();
    // PES boundaries at arbitrary byte positions; each PTS belongs to the first frame starting in its PES.
    const starts: number[] = [];
    for (let i = 0, at = 0; i < frames.length; i++) {
      starts.push(at);
      at += (frames[i] as Uint8Array).length;
    }
    const base = 900000;
    let pos = 0;
    while (pos < stream.length) {
      const end = Math.min(stream.length, pos + 300 + rand(900));
      const firstFrame = starts.findIndex((s) => s >= pos && s < end);
      const pts = firstFrame >= 0 ? base + Math.round((firstFrame * 1024 * 90000) / 48000) : undefined;
      // Every third PES has its header split over two TS packets.
      const split = rand(3) === 0 ? { firstChunk: 1 + rand(12) } : {};
      w.pes(AUDIO_PID, stream.subarray(pos, end), pts === undefined ? split : { pts, ...split });
      pos = end;
    }
    const r = demuxAll(w.bytes());
    assertSane(r);
    assert.deepEqual(r.warnings, []);
    const audio = trackOf(r, 'audio');
    assert.deepEqual(audio.config, makeAudioSpecificConfig(2, 48000, 2));
    assert.equal(audio.language, 'fra');
    const samples = samplesOf(r, audio.id);
    assert.equal(samples.length, 20);
    samples.forEach((s, i) => {
      assert.deepEqual(s.data, payloads[i], `frame ${i}: the 9-byte header with CRC is stripped`);
      assert.equal(s.dts, (base * 48000) / 90000 + i * 1024);
    });
  });

  it('PAT and PMT repeated unchanged, then a PMT that adds a stream: the new stream is read', () => {
    const SECOND_PID = 0x102;
    const payloads = Array.from({ length: 12 }, () => randomBytes(100 + rand(200)));
    const w = new TsWriter([{ pid: AUDIO_PID, streamType: 0x0f, language: 'fra' }]);
    const audioPes = (pid: number, i: number): void => {
      w.pes(pid, adtsFrame(payloads[i] as Uint8Array), {
        pts: 900000 + Math.round((i * 1024 * 90000) / 48000),
      });
    };
    for (let i = 0; i < 6; i++) {
      w.psi(); // the same sections again before every PES, as muxers repeat them
      audioPes(AUDIO_PID, i);
    }
    // Then the PMT changes: it lists a second audio stream.
    w.streams.push({ pid: SECOND_PID, streamType: 0x0f, language: 'eng' });
    for (let i = 6; i < 12; i++) {
      w.psi();
      audioPes(AUDIO_PID, i);
      audioPes(SECOND_PID, i);
    }
    const r = demuxAll(w.bytes());
    assertSane(r);
    assert.deepEqual(r.warnings, []);
    const [fra, eng] = r.tracks.filter((t) => t.kind === 'audio');
    assert.deepEqual([fra?.language, eng?.language], ['fra', 'eng']);
    assert.equal(samplesOf(r, (fra as TrackInfo).id).length, 12);
    const second = samplesOf(r, (eng as TrackInfo).id);
    assert.deepEqual(
      second.map((s) => s.data),
      payloads.slice(6),
    );
  });

  /** SPS and PPS of the h264 fixture, and access units around fake slices. */
  async function h264Units(): Promise<{ sps: Uint8Array; pps: Uint8Array }> {
    const c = parseAvcC(sampleEntryBox(read(await fixture('h264-aac.mp4')), 'avcC') as Uint8Array);
    return { sps: c.sps[0] as Uint8Array, pps: c.pps[0] as Uint8Array };
  }
  const annexB = (nals: Uint8Array[]): Uint8Array =>
    concat(nals.flatMap((n) => [Uint8Array.from([0, 0, 0, 1]), n]));
  const AUD = Uint8Array.from([0x09, 0xf0]);
  // Fake slices with real headers: first_mb_in_slice 0 ("1"), then slice_type 7 (I, "0001000") for the
  // IDR or 5 (P, "00110") for the others, then random non-zero bytes (no start code emulation).
  const slice = (idr: boolean): Uint8Array =>
    concat([Uint8Array.from(idr ? [0x65, 0x88] : [0x41, 0x98]), randomBytes(300 + rand(800), true)]);

  it('video PES without length, access units split over PES packets, discontinuity stitched', async () => {
    const { sps, pps } = await h264Units();
    const w = new TsWriter([
      { pid: VIDEO_PID, streamType: 0x1b },
      { pid: AUDIO_PID, streamType: 0x0f },
    ]).psi();
    const expected: Uint8Array[] = [];
    const audioPayloads: Uint8Array[] = [];
    // 20 frames at 30 fps; at frame 10 the source's clock restarts at 10 s with discontinuity_indicator.
    for (let i = 0; i < 20; i++) {
      const key = i % 10 === 0;
      const t = i < 10 ? 2 ** 33 - 5 * 3000 + i * 3000 : 900000 + (i - 10) * 3000; // also wraps before frame 5
      const s = slice(key);
      const nals = key ? [AUD, sps, pps, s] : [AUD, s];
      expected.push(lengthPrefixed(key ? [sps, pps, s] : [s]));
      const au = annexB(nals);
      const half = Math.floor(au.length / 2);
      // The access unit in two PES packets: only the first has a PTS.
      w.pes(VIDEO_PID, au.subarray(0, half), {
        firstChunk: i % 3 === 0 ? 1 + rand(18) : undefined,
        pts: (t + 3000) % 2 ** 33,
        dts: t % 2 ** 33,
        withLength: false,
        discontinuity: i === 10,
        randomAccess: key,
      });
      w.pes(VIDEO_PID, au.subarray(half), { withLength: false });
      const p = randomBytes(100, true);
      audioPayloads.push(p);
      w.pes(AUDIO_PID, adtsFrame(p), { pts: (t + 3000) % 2 ** 33, discontinuity: i === 10 });
    }
    // A duplicate packet (same continuity counter) is dropped silently (13818-1 2.4.3.3).
    const packets = [...w.packets];
    packets.splice(10, 0, packets[9] as Uint8Array);
    const r = demuxAll(concat(packets));
    assertSane(r);
    assert.deepEqual(codes(r), ['W_TS_DISCONTINUITY']);
    const video = samplesOf(r, 1);
    assert.equal(video.length, 20);
    video.forEach((s, i) => {
      assert.deepEqual(s.data, expected[i], `access unit ${i}`);
      assert.equal(s.keyframe, i % 10 === 0);
      assert.equal(s.cts, 3000);
      assert.equal(
        s.dts - (video[0]?.dts as number),
        i * 3000,
        `dts ${i} continues across wrap and discontinuity`,
      );
    });
    const audio = samplesOf(r, 2);
    // 20 frames of 1024 samples at 48 kHz are 21.3 ms each, audio PES every 33.3 ms: gaps, not overlaps.
    assert.equal(audio.length, 20);
    audio.forEach((s, i) => {
      assert.deepEqual(s.data, audioPayloads[i]);
      const videoPts = (video[i]?.dts as number) + 3000;
      assert.equal(s.dts, Math.round((videoPts * 48000) / 90000), `audio ${i} stays in sync with video`);
    });
  });

  it('without trimming, audio before the keyframe and leading non-keyframes are kept', async () => {
    const { sps, pps } = await h264Units();
    const w = new TsWriter([
      { pid: VIDEO_PID, streamType: 0x1b },
      { pid: AUDIO_PID, streamType: 0x0f },
    ]).psi();
    for (let i = 0; i < 6; i++) {
      w.pes(AUDIO_PID, adtsFrame(randomBytes(64, true)), { pts: 90000 + i * 1920 });
      const key = i === 3;
      // Parameter sets up front so that the non-keyframes have a configuration.
      const nals = i === 0 ? [sps, pps, slice(false)] : key ? [sps, pps, slice(true)] : [slice(false)];
      w.pes(VIDEO_PID, annexB(nals), { pts: 90000 + i * 3000 });
    }
    const trimmed = demuxAll(w.bytes());
    assert.equal(samplesOf(trimmed, 1).length, 3);
    assert.equal(samplesOf(trimmed, 2).length, 1, 'audio before the keyframe pts (99000) dropped');
    assert.ok(codes(trimmed).includes('W_TS_TRIMMED'));
    const all = demuxAll(w.bytes(), [1000], { trimToKeyframe: false });
    assert.equal(samplesOf(all, 1).length, 6);
    assert.equal(samplesOf(all, 2).length, 6);
  });

  it('open GOP without IDR: the random access indicator with SPS and an I slice marks the keyframe', async () => {
    const { sps, pps } = await h264Units();
    // A non-IDR slice NAL (type 1) whose header says first_mb_in_slice 0 (ue "1"), slice_type 7 (I, ue
    // "0001000"): first byte 0b1000_1000.
    const iSlice = concat([Uint8Array.from([0x21, 0x88]), randomBytes(200, true)]);
    for (const rai of [true, false]) {
      const w = new TsWriter([{ pid: VIDEO_PID, streamType: 0x1b }]).psi();
      w.pes(VIDEO_PID, annexB([sps, pps, slice(false)]), { pts: 90000, randomAccess: rai });
      w.pes(VIDEO_PID, annexB([sps, pps, iSlice]), { pts: 93000, randomAccess: rai });
      w.pes(VIDEO_PID, annexB([slice(false)]), { pts: 96000 });
      const r = demuxAll(w.bytes());
      const video = samplesOf(r, 1);
      if (rai) {
        // The first AU has the flag and parameter sets but a P slice: not a random access point.
        assert.deepEqual(
          video.map((v) => [v.dts, v.keyframe]),
          [
            [93000, true],
            [96000, false],
          ],
        );
      } else {
        assert.equal(video.length, 0);
        assert.ok(codes(r).includes('W_TS_NO_KEYFRAME'));
      }
    }
  });

  it('audio is not held back forever when the video never has a keyframe', () => {
    const w = new TsWriter([
      { pid: VIDEO_PID, streamType: 0x1b },
      { pid: AUDIO_PID, streamType: 0x0f },
    ]).psi();
    const frames = 1900; // 40.5 s at 48 kHz
    for (let i = 0; i < frames; i++)
      w.pes(AUDIO_PID, adtsFrame(randomBytes(8, true)), { pts: 90000 + i * 1920 });
    const r = demuxAll(w.bytes(), [65536]);
    assertSane(r);
    assert.equal(samplesOf(r, 2).length, frames);
    assert.deepEqual(codes(r), ['W_TS_NO_KEYFRAME']);
  });

  it('sniffMpegts', async () => {
    const ts = read(await fixture('h264-aac.ts'));
    assert.equal(sniffMpegts(ts.subarray(0, 1024)), true);
    assert.equal(sniffMpegts(ts.subarray(0, 200)), true);
    assert.equal(sniffMpegts(ts.subarray(0, 100)), false, 'one sync byte is not enough');
    assert.equal(sniffMpegts(ts.subarray(1, 1024)), false);
    assert.equal(sniffMpegts(new Uint8Array(0)), false);
  });
});

async function withTempFile<T>(
  bytes: Uint8Array,
  name: string,
  use: (path: string) => Promise<T>,
): Promise<T> {
  const dir = scratchDir('castkit-ts-');
  try {
    const path = join(dir, name);
    writeFileSync(path, bytes);
    return await use(path);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('MPEG-TS: segments of a recording with one missing between them', () => {
  it('after segmentBoundary(), a first packet with the last continuity counter is kept, not taken for a duplicate', async () => {
    const ts = new Uint8Array(readFileSync(await fixture('h264-aac.ts')));
    const n = ts.length / 188;
    const pidOf = (k: number): number => ((ts[k * 188 + 1]! & 0x1f) << 8) | ts[k * 188 + 2]!;
    const pusi = (k: number): boolean => (ts[k * 188 + 1]! & 0x40) !== 0;
    const ccOf = (k: number): number => ts[k * 188 + 3]! & 0x0f;
    // The video PID: the one whose PES packets have stream_id 0xe0 (no adaptation field before it here).
    let videoPid = -1;
    for (let k = 0; k < n && videoPid < 0; k++) {
      const p = k * 188 + 4 + ((ts[k * 188 + 3]! & 0x20) !== 0 ? 1 + ts[k * 188 + 4]! : 0);
      if (pusi(k) && ts[p] === 0 && ts[p + 1] === 0 && ts[p + 2] === 1 && ts[p + 3] === 0xe0)
        videoPid = pidOf(k);
    }
    assert.ok(videoPid > 0, 'a video PID');
    // The second segment starts at a video PES in the second half; the first ends with the video packet
    // 16 video packets earlier, whose counter is the same (the packets between are the missing segment).
    let start = -1;
    for (let k = Math.floor(n / 2); k < n && start < 0; k++) if (pidOf(k) === videoPid && pusi(k)) start = k;
    assert.ok(start > 0, 'a PES start in the second half');
    let back = 0;
    let end = start;
    while (back < 16 && end > 0) if (pidOf(--end) === videoPid) back++;
    assert.equal(ccOf(end), ccOf(start), 'the same counter on both sides of the hole');
    const first = ts.slice(0, (end + 1) * 188);
    const second = ts.slice(start * 188);

    type Out = {
      tracks: TrackInfo[];
      samples: { trackId: number; size: number }[];
      warnings: { code: string }[];
    };
    const run = (parts: Uint8Array[], boundary: boolean): Out => {
      const d = new MpegtsDemuxer({ trimToKeyframe: false });
      const out: Out = { tracks: [], samples: [], warnings: [] };
      const take = (o: Out): void => {
        out.tracks.push(...o.tracks);
        out.samples.push(...o.samples);
        out.warnings.push(...o.warnings);
      };
      parts.forEach((p, k) => {
        if (k > 0 && boundary) d.segmentBoundary();
        take(d.push(p));
      });
      take(d.end());
      return out;
    };
    const videoOf = (o: Out) => {
      const id = o.tracks.find((t) => t.kind === 'video')?.id;
      return o.samples.filter((s) => s.trackId === id).map((s) => s.size);
    };
    const joined = run([first, second], true);
    // The frames of the second segment, demuxed after the first, are the whole file's frames from there
    // on: the first of them whole (its first packet was dropped as a "duplicate" before).
    let frames = 0;
    for (let k = start; k < n; k++) if (pidOf(k) === videoPid && pusi(k)) frames++;
    const whole = videoOf(run([ts], false));
    assert.deepEqual(videoOf(joined).slice(-frames), whole.slice(-frames));
    assert.ok(!joined.warnings.some((w) => w.code === 'W_TS_CC'), 'no continuity warning at the boundary');
  });
});
