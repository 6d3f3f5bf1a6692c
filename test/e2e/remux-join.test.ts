/**
 * Joining 1,400 six-second FLV chunks cut from one clip gives one FLV with one onMetaData, a duration within
 * one frame of the clip, monotonic timestamps and the same decoded frames as the clip; the same chunks with
 * timestamps restarting at 0 in every chunk give the same result. Runs the built CLI on a tiny clip
 * (64x64 at 5 fps, 8 kHz mono AAC) so 8,400 s stays cheap; the clip and both chunk sets are cached under
 * the fixture dir after the first run.
 */
import assert from 'node:assert/strict';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { castkit } from '../helpers/cli.js';
import { fixture, flvChunks, lavfiAv, makeMedia, x264FixedGop, type MediaSpec } from '../helpers/fixtures.js';
import {
  decodeMessages,
  formatDuration,
  frameHashes,
  packets,
  type PacketInfo,
} from '../helpers/media-check.js';
import { scratchDir } from '../helpers/scratch.js';

const FPS = 5;
const CHUNK_SEC = 6;
const CHUNKS = 1400;
const SECONDS = CHUNKS * CHUNK_SEC;
const FRAME = 1 / FPS;

// Video and audio are encoded by two ffmpeg processes at once (the AAC encoder is the slow half), then
// muxed into the FLV clip with -c copy. GOP = 6 s with no scene-cut keyframes, so every chunk is 6 s.
const VIDEO: MediaSpec = {
  name: `join-video-${SECONDS}s-64x64-${FPS}fps`,
  ext: '.mp4',
  args: [
    '-f',
    'lavfi',
    '-i',
    `testsrc2=size=64x64:rate=${FPS}:duration=${SECONDS}`,
    ...x264FixedGop(FPS * CHUNK_SEC),
  ],
};
const AUDIO: MediaSpec = {
  name: `join-audio-${SECONDS}s-8k-mono`,
  ext: '.mp4',
  args: [
    '-f',
    'lavfi',
    '-i',
    `sine=frequency=440:sample_rate=8000:duration=${SECONDS}`,
    '-c:a',
    'aac',
    '-b:a',
    '16k',
    '-ac',
    '1',
  ],
};
const CLIP: MediaSpec = {
  name: `join-clip-${SECONDS}s`,
  ext: '.flv',
  deps: ['video', 'audio'],
  args: ['-i', '{dep:video}', '-i', '{dep:audio}', '-map', '0:v', '-map', '1:a', '-c', 'copy'],
};

interface FlvWalk {
  tags: number;
  onMetaData: number;
}

/** Walks every FLV tag (header, PreviousTagSize chain) and counts the onMetaData script tags. */
function walkFlv(path: string): FlvWalk {
  const b = readFileSync(path);
  assert.equal(b.toString('latin1', 0, 3), 'FLV', `${path}: no FLV header`);
  let at = b.readUInt32BE(5);
  assert.equal(b.readUInt32BE(at), 0, 'PreviousTagSize0 is 0');
  at += 4;
  const walk: FlvWalk = { tags: 0, onMetaData: 0 };
  while (at < b.length) {
    assert.ok(at + 11 <= b.length, `truncated tag header at byte ${at}`);
    const type = (b[at] ?? 0) & 0x1f;
    const size = b.readUIntBE(at + 1, 3);
    assert.ok([8, 9, 18].includes(type), `tag type ${type} at byte ${at}`);
    assert.ok(at + 11 + size + 4 <= b.length, `truncated tag at byte ${at}`);
    assert.equal(b.readUInt32BE(at + 11 + size), 11 + size, `PreviousTagSize after the tag at byte ${at}`);
    if (type === 18) {
      // AMF0 string marker, 16-bit length, then the name.
      const body = b.subarray(at + 11, at + 11 + size);
      if (body[0] === 2 && body.toString('latin1', 3, 3 + body.readUInt16BE(1)) === 'onMetaData') {
        walk.onMetaData++;
      }
    }
    walk.tags++;
    at += 11 + size + 4;
  }
  return walk;
}

/** First pts to last pts + duration, over all packets: how long the media lasts. */
function span(list: readonly PacketInfo[]): number {
  let start = Infinity;
  let end = -Infinity;
  for (const p of list) {
    start = Math.min(start, p.pts);
    end = Math.max(end, p.pts + p.duration);
  }
  return end - start;
}

function countByType(list: readonly PacketInfo[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const p of list) counts[p.type] = (counts[p.type] ?? 0) + 1;
  return counts;
}

/** Equal lists, reported by the first difference rather than a 40,000-line diff. */
function sameList(got: readonly string[], want: readonly string[], what: string): void {
  const i = got.findIndex((h, k) => h !== want[k]);
  assert.ok(i === -1, `${what}: first difference at frame ${i} of ${want.length}`);
  assert.equal(got.length, want.length, `${what}: frame count`);
}

describe('castkit remux: joining 1,400 six-second FLV chunks', { concurrency: true }, () => {
  const scratch = scratchDir('castkit-remux-join-');
  let clip = '';
  let continuing: string[] = [];
  let restarting: string[] = [];
  let clipPackets: PacketInfo[] = [];
  let clipFrames = { video: [] as string[], audio: [] as string[] };

  before(async () => {
    const [video, audio] = await Promise.all([makeMedia(VIDEO), makeMedia(AUDIO)]);
    clip = await makeMedia(CLIP, async (d) => (d === 'video' ? video : audio));
    [continuing, restarting, clipPackets, clipFrames] = await Promise.all([
      flvChunks(clip, CHUNK_SEC, false),
      flvChunks(clip, CHUNK_SEC, true),
      packets(clip),
      frameHashes(clip),
    ]);
    assert.equal(continuing.length, CHUNKS);
    assert.equal(restarting.length, CHUNKS);
    assert.equal(clipFrames.video.length, SECONDS * FPS);
    // The two chunk sets really differ: the second chunk starts near 6 s in one, near 0 in the other.
    const [a, b] = await Promise.all([packets(continuing[1] ?? ''), packets(restarting[1] ?? '')]);
    assert.ok(Math.abs((a[0]?.dts ?? NaN) - CHUNK_SEC) < 1, `continuing chunk 1 starts at ${a[0]?.dts}`);
    assert.ok(Math.abs(b[0]?.dts ?? NaN) < 1, `restarting chunk 1 starts at ${b[0]?.dts}`);
  });

  after(() => rmSync(scratch, { recursive: true, force: true }));

  async function joinsLikeTheClip(chunks: string[], name: string): Promise<void> {
    const out = join(scratch, name);
    const r = await castkit(['remux', ...chunks, '-o', out], { timeoutMs: 180_000 });
    assert.equal(r.code, 0, r.stderr);

    const walk = walkFlv(out);
    assert.equal(walk.onMetaData, 1, 'exactly one onMetaData');

    const got = await packets(out);
    assert.deepEqual(countByType(got), countByType(clipPackets), 'packets per stream');
    for (const type of ['video', 'audio']) {
      const dts = got.filter((p) => p.type === type).map((p) => p.dts);
      const back = dts.findIndex((d, i) => i > 0 && !(d > (dts[i - 1] as number)));
      assert.equal(
        back,
        -1,
        `${type} dts not increasing at packet ${back}: ${dts[back - 1]} then ${dts[back]}`,
      );
    }
    // ffmpeg's FLV muxer writes the clip's duration as its last end time (8,400.4 s here: the media starts
    // at 0.4 s, after the B-frame delay), not as how long it lasts; both are compared to the clip's span.
    const clipSpan = span(clipPackets);
    const duration = await formatDuration(out);
    assert.ok(Math.abs(duration - clipSpan) <= FRAME, `duration ${duration} s, the clip lasts ${clipSpan} s`);
    const joinedSpan = span(got);
    assert.ok(
      Math.abs(joinedSpan - clipSpan) <= FRAME,
      `media lasts ${joinedSpan} s, the clip ${clipSpan} s`,
    );

    const frames = await frameHashes(out);
    sameList(frames.video, clipFrames.video, 'decoded video');
    sameList(frames.audio, clipFrames.audio, 'decoded audio');
  }

  it('chunks cut as they are (timestamps continuing) join into one FLV like the clip', async () => {
    await joinsLikeTheClip(continuing, 'continuing.flv');
  });

  it('the same chunks with timestamps restarting at 0 join into the same FLV', async () => {
    await joinsLikeTheClip(restarting, 'restarting.flv');
  });

  it('the restarting chunks join into an MP4 that decodes cleanly with the same video frames', async () => {
    const out = join(scratch, 'restarting.mp4');
    const r = await castkit(['remux', ...restarting, '-o', out], { timeoutMs: 180_000 });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(await decodeMessages(out), '');
    sameList((await frameHashes(out)).video, clipFrames.video, 'decoded video');
  });
});

describe('castkit remux: FLV inputs whose encoder settings change', () => {
  const scratch = scratchDir('castkit-remux-join-sps-');
  after(() => rmSync(scratch, { recursive: true, force: true }));
  const flv = (name: string, x264: string[]): Promise<string> =>
    makeMedia({
      name: `join-sps-${name}`,
      ext: '.flv',
      args: [...lavfiAv(2), '-c:v', 'libx264', '-g', '25', ...x264, '-c:a', 'aac', '-shortest'],
    });

  it('carries a changed SPS/PPS in-band too: ffmpeg decodes the join silently, every frame of both', async () => {
    const base = await flv('baseline', ['-profile:v', 'baseline']);
    const high = await flv('high-bf3', ['-profile:v', 'high', '-bf', '3']);
    for (const inputs of [
      [base, high],
      [high, base, high],
    ]) {
      const out = join(scratch, `sps-${inputs.length}.flv`);
      const r = await castkit(['remux', ...inputs, '-o', out]);
      assert.equal(r.code, 0, r.stderr);
      // Without the parameter sets in the keyframe after the change, ffmpeg's H.264 parser printed
      // "illegal reordering_of_pic_nums_idc" and the like for every frame after it.
      assert.equal(await decodeMessages(out), '');
      const want: string[] = [];
      for (const i of inputs) want.push(...(await frameHashes(i)).video);
      assert.deepEqual((await frameHashes(out)).video, want);
    }
  });
});

describe('castkit remux: one HEVC stream as MP4 and as MPEG-TS', () => {
  const scratch = scratchDir('castkit-remux-join-hevc-');
  after(() => rmSync(scratch, { recursive: true, force: true }));

  it('joins them: an hvcC with an SEI array (x265 in MP4) decodes like the one made from the TS', async () => {
    const mp4 = await makeMedia({
      name: 'join-hevc-x265',
      ext: '.mp4',
      args: [...lavfiAv(2), '-c:v', 'libx265', '-x265-params', 'log-level=none', '-g', '25', '-c:a', 'aac'],
    });
    const ts = await makeMedia(
      { name: 'join-hevc-x265', ext: '.ts', deps: ['src'], args: ['-i', '{dep:src}', '-c', 'copy'] },
      async () => mp4,
    );
    const single = await packets(mp4);
    for (const inputs of [
      [mp4, ts],
      [ts, mp4],
    ]) {
      const out = join(scratch, `hevc-${inputs.map((i) => i.slice(-3)).join('-')}.mp4`);
      // Refused before ("hevc with other decoder settings"): the records differed only in that SEI array.
      const r = await castkit(['remux', ...inputs, '-o', out]);
      assert.equal(r.code, 0, r.stderr);
      // TS first, the seam left a 105 ms hole in the video when the MP4's edit lists were ignored (its
      // video was put 57 ms late against its audio), and ffmpeg's null muxer printed colliding frames.
      assert.equal(await decodeMessages(out), '');
      const got = await packets(out);
      for (const kind of ['video', 'audio'] as const) {
        const n = single.filter((p) => p.type === kind).length;
        assert.equal(got.filter((p) => p.type === kind).length, 2 * n, kind);
      }
    }
  });
});

describe('castkit remux: a track that only later inputs have', () => {
  const scratch = scratchDir('castkit-remux-join-late-');
  after(() => rmSync(scratch, { recursive: true, force: true }));
  const av = (ext: '.ts' | '.mp4'): Promise<string> => fixture(`h264-aac${ext}`);
  const part = (ext: '.ts' | '.mp4', kind: 'video' | 'audio'): Promise<string> =>
    makeMedia(
      {
        name: `join-late-${kind}-only`,
        ext,
        deps: ['src'],
        args: ['-i', '{dep:src}', '-c', 'copy', kind === 'video' ? '-an' : '-vn'],
      },
      async () => av(ext),
    );
  const count = (ps: PacketInfo[], kind: string): number => ps.filter((p) => p.type === kind).length;
  const start = (ps: PacketInfo[], kind: string): number =>
    Math.min(...ps.filter((p) => p.type === kind).map((p) => p.pts));

  it('keeps it from where it starts, after a gap, instead of dropping it (an intro without sound)', async () => {
    for (const [ext, outExt] of [
      ['.ts', '.mp4'],
      ['.mp4', '.mp4'],
      // One pass: the TS's PMT takes the audio under a new version when it comes; the FLV's head,
      // written last, says it has audio.
      ['.ts', '.ts'],
      ['.ts', '.flv'],
      // The fMP4's init segment goes into room left at the start once every track is known.
      ['.ts', '.fmp4'],
    ] as const) {
      const full = await packets(await av(ext));
      const videoOnly = await part(ext, 'video');
      const fmp4 = outExt === '.fmp4';
      const out = join(scratch, `late${ext}${fmp4 ? '-frag.mp4' : outExt}`);
      // Before, the audio of every input after a video-only first one was dropped (W_EXTRA_TRACK).
      const r = await castkit([
        'remux',
        videoOnly,
        await av(ext),
        '-o',
        out,
        ...(fmp4 ? ['--format', 'fmp4'] : []),
      ]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stderr, /audio starts here/);
      assert.equal(await decodeMessages(out), '', ext);
      const got = await packets(out);
      assert.equal(count(got, 'video'), 2 * count(full, 'video'), `${ext} video`);
      assert.equal(count(got, 'audio'), count(full, 'audio'), `${ext} audio`);
      // The audio starts where the second input does: after the first one's 2 s, not at 0.
      const second = start(got, 'video') + 2;
      assert.ok(Math.abs(start(got, 'audio') - second) < 0.05, `${ext}: audio at ${start(got, 'audio')}`);
    }
  });

  it('puts an input with only the new track after the others', async () => {
    const out = join(scratch, 'v-then-a.mp4');
    const r = await castkit(['remux', await part('.ts', 'video'), await part('.ts', 'audio'), '-o', out]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(await decodeMessages(out), '');
    const got = await packets(out);
    const lastVideo = Math.max(...got.filter((p) => p.type === 'video').map((p) => p.pts + p.duration));
    assert.ok(
      start(got, 'audio') >= lastVideo - 0.001,
      `audio at ${start(got, 'audio')}, video to ${lastVideo}`,
    );
    assert.ok(start(got, 'audio') - lastVideo < 0.05, `a gap of ${start(got, 'audio') - lastVideo} s`);
  });
});
