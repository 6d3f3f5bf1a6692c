import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { record } from '../../src/api/record.js';
import { startOrigin, type Origin } from '../helpers/http-origin.js';
import { serveFixture, startLiveOrigin } from '../helpers/live-origin.js';
import { decodeMessages, formatDuration, frameHashes, packets } from '../helpers/media-check.js';
import { scratchDir } from '../helpers/scratch.js';
import { CLIP_FPS, streamFixture, type StreamFixtureName } from '../helpers/stream-fixtures.js';

const dir = scratchDir('castkit-record-duration-');
let n = 0;
const outPath = (ext = '.mp4'): string => join(dir, `rec-${n++}${ext}`);
const FAST_RETRY = { baseMs: 20, capMs: 200, maxAttempts: 4 };
const FRAME = 1 / CLIP_FPS;

/** An MP4 cut at `seconds`: that long within a frame, every kept frame the clip's, nothing past the end. */
async function assertCutAt(out: string, clip: string, seconds: number): Promise<void> {
  const d = await formatDuration(out);
  assert.ok(Math.abs(d - seconds) <= FRAME / 2, `the file lasts ${seconds} s (${d})`);
  assert.equal(await decodeMessages(out), '', 'ffmpeg decodes the recording without a message');
  const p = await packets(out);
  const video = p.filter((x) => x.type === 'video');
  const audio = p.filter((x) => x.type === 'audio');
  // Decode order is kept whole: a few B-frames decoded before the end may be presented just after it.
  assert.ok(video.length <= Math.round(seconds * CLIP_FPS) + 3, `${video.length} video packets`);
  assert.ok(video.length >= Math.round(seconds * CLIP_FPS) - 3, `${video.length} video packets`);
  const audioSec = audio.length * (1024 / 48000);
  assert.ok(Math.abs(audioSec - seconds) < 0.1, `${audio.length} audio frames for ${seconds} s`);
  const [got, src] = await Promise.all([
    frameHashes(out, { ignoreEditList: true }),
    frameHashes(clip, { ignoreEditList: true }),
  ]);
  assert.deepEqual(got.video, src.video.slice(0, got.video.length), 'the kept frames are the clip’s first');
  // What a player shows (edit lists applied): the length asked for, less any start the source delays.
  const shown = await frameHashes(out);
  assert.ok(
    Math.abs(shown.video.length - seconds * CLIP_FPS) <= 3,
    `${shown.video.length} frames presented for ${seconds} s`,
  );
  const shownAudioSec = shown.audio.length * (1024 / 48000);
  assert.ok(Math.abs(shownAudioSec - seconds) < 0.1, `${shownAudioSec} s of audio presented`);
}

describe('record --duration cuts the MP4 at that length', () => {
  let origin: Origin;
  before(async () => {
    origin = await startOrigin();
  });
  after(async () => origin.close());

  for (const name of ['hls-ts', 'hls-alt-audio', 'hls-fmp4', 'dash-timeline'] as StreamFixtureName[]) {
    it(`VOD ${name}, 2 s segments, --duration 5: 5 s, and no segment past it fetched`, async () => {
      const fx = await streamFixture(name);
      const prefix = `/cut-${name}`;
      const url = serveFixture(origin, fx, prefix);
      const out = outPath();
      const r = await record(url, { output: out, durationSec: 5, retry: FAST_RETRY });
      assert.equal(r.stoppedBy, 'duration');
      assert.ok(Math.abs(r.durationSec - 5) < 1e-3, `the result says 5 s (${r.durationSec})`);
      await assertCutAt(out, fx.clip, 5);
      // Segments start at 0, 2, 4, 6...: the three that hold the first 5 s, per stream, and no more.
      const media = origin.requests.filter(
        (q) => q.path.startsWith(`${prefix}/`) && /\/(seg_\d+|chunk-stream\d+-\d+)\.(ts|m4s)$/.test(q.path),
      );
      const streams = name === 'hls-ts' || name === 'hls-fmp4' ? 1 : 2;
      assert.equal(media.length, 3 * streams, media.map((q) => q.path).join(' '));
    });
  }

  // TS written while recording: TS segments of one rendition go out as they are, the last one cut in its
  // packets (hls-ts); separate renditions and fMP4 segments are muxed, and the samples past the end left
  // out (hls-alt-audio, hls-fmp4, dash-timeline).
  for (const name of ['hls-ts', 'hls-alt-audio', 'hls-fmp4', 'dash-timeline'] as StreamFixtureName[]) {
    it(`VOD ${name} to TS, 2 s segments, --duration 5: 5 s of the clip`, async () => {
      const fx = await streamFixture(name);
      const url = serveFixture(origin, fx, `/cut-ts-${name}`);
      const out = outPath('.ts');
      const r = await record(url, { output: out, format: 'ts', durationSec: 5, retry: FAST_RETRY });
      assert.equal(r.stoppedBy, 'duration');
      assert.ok(Math.abs(r.durationSec - 5) <= FRAME + 0.05, `the result says 5 s (${r.durationSec})`);
      assert.equal(await decodeMessages(out), '', 'ffmpeg decodes it without a message');
      const p = await packets(out);
      const video = p.filter((x) => x.type === 'video');
      // Cut in decode order: within a frame or two of 5 s (B-frames), not the 6 s of three segments.
      assert.ok(Math.abs(video.length - 5 * CLIP_FPS) <= 2, `${video.length} video packets`);
      const audio = p.filter((x) => x.type === 'audio');
      const audioEnd = Math.max(...audio.map((x) => x.pts + x.duration));
      const audioStart = Math.min(...audio.map((x) => x.pts));
      // An audio PES holds several AAC frames: the one that holds the end is kept or left out whole.
      const audioSpan = audioEnd - audioStart;
      assert.ok(Math.abs(audioSpan - 5) < 0.25, `audio ${audioSpan} s`);
      const [got, src] = await Promise.all([
        frameHashes(out),
        frameHashes(fx.clip, { ignoreEditList: true }),
      ]);
      assert.deepEqual(
        got.video,
        src.video.slice(0, got.video.length),
        'the kept frames are the clip’s first',
      );
      assert.ok(got.video.length >= 5 * CLIP_FPS - 3, `${got.video.length} frames decoded`);
    });
  }

  // fMP4 segments of one rendition written as they are: the last one's truns cut, its moof rewritten.
  it('VOD hls-fmp4 to fMP4, 2 s segments, --duration 5: 5 s of the clip', async () => {
    const fx = await streamFixture('hls-fmp4');
    const url = serveFixture(origin, fx, '/cut-fmp4');
    const out = outPath('.mp4');
    const r = await record(url, { output: out, format: 'fmp4', durationSec: 5, retry: FAST_RETRY });
    assert.equal(r.stoppedBy, 'duration');
    assert.ok(Math.abs(r.durationSec - 5) < 1e-3, `the result says 5 s (${r.durationSec})`);
    assert.equal(await decodeMessages(out), '', 'ffmpeg decodes it without a message');
    const p = await packets(out);
    const video = p.filter((x) => x.type === 'video');
    assert.ok(Math.abs(video.length - 5 * CLIP_FPS) <= 2, `${video.length} video packets`);
    const audio = p.filter((x) => x.type === 'audio');
    const audioSec = audio.length * (1024 / 48000);
    assert.ok(Math.abs(audioSec - 5) < 0.05, `${audio.length} audio frames for 5 s`);
    const [got, src] = await Promise.all([
      frameHashes(out, { ignoreEditList: true }),
      frameHashes(fx.clip, { ignoreEditList: true }),
    ]);
    assert.deepEqual(got.video, src.video.slice(0, got.video.length), 'the kept frames are the clip’s first');
    assert.ok(got.video.length >= 5 * CLIP_FPS - 3, `${got.video.length} frames decoded`);
  });

  it('live HLS with separate audio, 1 s segments, --duration 3.5: 3.5 s', async () => {
    const fx = await streamFixture('hls-alt-audio', { segmentSeconds: 1, seconds: 12 });
    const live = await startLiveOrigin(fx, { window: 4, initial: 3, speed: 4 });
    try {
      const out = outPath();
      const r = await record(live.url, { output: out, durationSec: 3.5, retry: FAST_RETRY });
      assert.equal(r.stoppedBy, 'duration');
      const d = await formatDuration(out);
      assert.ok(Math.abs(d - 3.5) <= FRAME / 2, `the file lasts 3.5 s (${d})`);
      assert.equal(await decodeMessages(out), '');
      const shown = await frameHashes(out);
      assert.ok(Math.abs(shown.video.length - 3.5 * CLIP_FPS) <= 3, `${shown.video.length} frames`);
    } finally {
      await live.close();
    }
  });

  it('live HLS to TS written as it records, 1 s segments, --duration 3.5: 3.5 s', async () => {
    const fx = await streamFixture('hls-ts', { segmentSeconds: 1, seconds: 12 });
    const live = await startLiveOrigin(fx, { window: 4, initial: 3, speed: 4 });
    try {
      const out = outPath('.ts');
      const r = await record(live.url, { output: out, format: 'ts', durationSec: 3.5, retry: FAST_RETRY });
      assert.equal(r.stoppedBy, 'duration');
      assert.equal(await decodeMessages(out), '');
      const video = (await packets(out)).filter((x) => x.type === 'video');
      assert.ok(Math.abs(video.length - 3.5 * CLIP_FPS) <= 2, `${video.length} video packets`);
    } finally {
      await live.close();
    }
  });

  it('live DASH from the start, 1 s segments, --duration 2.5: 2.5 s of the clip', async () => {
    const fx = await streamFixture('dash-timeline', { segmentSeconds: 1, seconds: 12 });
    const live = await startLiveOrigin(fx, { window: 6, initial: 3, speed: 4 });
    try {
      const out = outPath();
      const r = await record(live.url, {
        output: out,
        durationSec: 2.5,
        fromStart: true,
        retry: FAST_RETRY,
      });
      assert.equal(r.stoppedBy, 'duration');
      await assertCutAt(out, fx.clip, 2.5);
    } finally {
      await live.close();
    }
  });
});
