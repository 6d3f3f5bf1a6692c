import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import {
  createWriteStream,
  existsSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import { record } from '../../src/api/record.js';
import { openRecordSource } from '../../src/api/record-open.js';
import { isCastkitError } from '../../src/core/errors.js';
import { startOrigin, type Origin } from '../helpers/http-origin.js';
import { serveFixture, startLiveOrigin } from '../helpers/live-origin.js';
import { makeMedia, tools } from '../helpers/fixtures.js';
import { decodeMessages, frameHashes, packets, streamTypes } from '../helpers/media-check.js';
import {
  mediaPlaylistOf,
  streamFixture,
  type StreamFixture,
  type StreamFixtureName,
} from '../helpers/stream-fixtures.js';
import { gapReportCodes } from '../helpers/gap-report.js';
import { scratchDir } from '../helpers/scratch.js';

const run = promisify(execFile);
const dir = scratchDir('castkit-record-');
let n = 0;
const outPath = (ext = '.mp4'): string => join(dir, `rec-${n++}${ext}`);
const FAST_RETRY = { baseMs: 20, capMs: 200, maxAttempts: 4 };

/** First presentation time of each kind, seconds. */
async function starts(path: string): Promise<{ video?: number; audio?: number }> {
  const out: { video?: number; audio?: number } = {};
  for (const p of await packets(path)) {
    if (p.type !== 'video' && p.type !== 'audio') continue;
    out[p.type] = Math.min(out[p.type] ?? Infinity, p.pts);
  }
  return out;
}

/**
 * The recording decodes cleanly to the source's video frames and audio frames (edit lists ignored: TS
 * segments carry the encoder's priming frame that the clip's MP4 hides), with audio where it was
 * relative to the video (within an audio frame and a video frame).
 */
async function assertRecordingOf(
  output: string,
  video: string,
  audio: string = video,
  expect: { videoFrames?: [number, number]; audioEndsWithPresentation?: boolean; maxSkew?: number } = {},
): Promise<void> {
  assert.equal(await decodeMessages(output), '', 'ffmpeg decodes the recording without a message');
  const [got, v, a] = await Promise.all([
    frameHashes(output, { ignoreEditList: !output.endsWith('.ts') }),
    frameHashes(video, { ignoreEditList: true }),
    audio === video ? undefined : frameHashes(audio, { ignoreEditList: true }),
  ]);
  const wantVideo = expect.videoFrames ? v.video.slice(...expect.videoFrames) : v.video;
  assert.equal(got.video.length, wantVideo.length, 'video frame count');
  assert.deepEqual(got.video, wantVideo, 'decoded video frames equal the source clip');
  if (!expect.videoFrames) {
    let wantAudio = (a ?? v).audio;
    if (expect.audioEndsWithPresentation) {
      // The MPD's presentation ends with the video: audio frames past it are not part of it.
      const frameSec = 1024 / 48000;
      const videoSec = v.video.length / 25;
      assert.ok(
        got.audio.length * frameSec >= videoSec - frameSec,
        'audio lasts as long as the presentation',
      );
      wantAudio = wantAudio.slice(0, got.audio.length);
    }
    assert.equal(got.audio.length, wantAudio.length, 'audio frame count');
    assert.deepEqual(got.audio, wantAudio, 'decoded audio frames equal the source');
    const [s, src] = await Promise.all([starts(output), starts(video)]);
    const skew = (s.audio ?? 0) - (s.video ?? 0) - ((src.audio ?? 0) - (src.video ?? 0));
    assert.ok(
      Math.abs(skew) < (expect.maxSkew ?? 0.065),
      `audio in sync with video (skew ${skew.toFixed(3)} s)`,
    );
  } else {
    assert.ok(got.audio.length > 0, 'the recording has audio');
  }
}

describe('record VOD', () => {
  let origin: Origin;
  before(async () => {
    origin = await startOrigin();
  });
  after(async () => origin.close());

  const cases: StreamFixtureName[] = [
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
  for (const name of cases) {
    it(`${name} -> mp4 has every frame of the clip, audio in sync`, async () => {
      const fx = await streamFixture(name);
      const url = serveFixture(origin, fx, `/${name}`);
      const out = outPath();
      const r = await record(url, { output: out, retry: FAST_RETRY });
      assert.equal(r.kind, fx.kind);
      assert.equal(r.live, false);
      assert.equal(r.gaps.length, 0);
      assert.equal(r.stoppedBy, 'end');
      // Every download is a segment or an init section: the counts add up (23 fetched for 21 segments did not).
      assert.equal(r.fetched + r.fromJournal, r.segments + r.initSections);
      const fmp4 = name === 'hls-fmp4' || name.startsWith('dash-');
      assert.ok(fmp4 ? r.initSections > 0 : r.initSections === 0, `${r.initSections} init sections`);
      assert.ok(!existsSync(`${out}.castkit-journal`), 'the journal is removed after a complete run');
      await assertRecordingOf(out, fx.clip, fx.audioClip ?? fx.clip, {
        audioEndsWithPresentation: name === 'dash-number',
      });
    });
  }

  it('hls-alt-audio --audio-lang de takes the German rendition', async () => {
    const fx = await streamFixture('hls-alt-audio');
    const url = serveFixture(origin, fx, '/alt-de');
    const out = outPath();
    const r = await record(url, { output: out, audioLang: 'de' });
    assert.match(r.chosen, /audio de/);
    const de = fx.audioTracks?.de;
    assert.ok(de, 'the fixture names the de audio file');
    await assertRecordingOf(out, fx.clip, de);
  });

  it('an .m4a output: the audio alone, every frame; a separate rendition is fetched without the video, a muxed one has its video left out', async () => {
    const alt = await streamFixture('hls-alt-audio');
    const de = alt.audioTracks?.de;
    assert.ok(de, 'the fixture names the de audio file');
    const url = serveFixture(origin, alt, '/m4a-alt');
    const before = origin.requests.length;
    const out = outPath('.m4a');
    const r = await record(url, { output: out, audioLang: 'de' });
    assert.match(r.chosen, /audio de, audio only$/);
    assert.deepEqual(await streamTypes(out), ['audio']);
    assert.deepEqual(
      r.tracks.map((t) => t.kind),
      ['audio'],
    );
    const fetched = origin.requests.slice(before).map((q) => q.path);
    assert.ok(
      fetched.every((p) => !p.includes('/video/') || p.endsWith('.m3u8')),
      `no video segment fetched: ${fetched.join(' ')}`,
    );
    assert.ok(
      fetched.some((p) => p.includes('/audio/de/') && !p.endsWith('.m3u8')),
      'the de segments',
    );
    assert.equal(await decodeMessages(out), '');
    const [got, want] = await Promise.all([frameHashes(out), frameHashes(de, { ignoreEditList: true })]);
    assert.equal(got.audio.length, want.audio.length, 'audio frame count');
    assert.deepEqual(got.audio, want.audio, 'decoded audio frames equal the rendition');

    const muxed = await streamFixture('hls-ts');
    const m = outPath('.m4a');
    const rm = await record(serveFixture(origin, muxed, '/m4a-muxed'), { output: m });
    assert.deepEqual(await streamTypes(m), ['audio']);
    assert.equal(rm.tracks.length, 1);
    const [gm, wm] = await Promise.all([frameHashes(m), frameHashes(muxed.clip, { ignoreEditList: true })]);
    assert.deepEqual(gm.audio, wm.audio, 'the muxed audio, every frame');

    // No audio at all: refused with what to do, and no journal left (another run would find none either).
    const videoOnly = await makeMedia({
      name: 'record-video-only',
      ext: '.ts',
      deps: ['h264-aac.ts'],
      args: ['-i', '{dep:h264-aac.ts}', '-c', 'copy', '-an'],
    });
    origin.route('/m4a-none/v.ts', { file: videoOnly, type: 'video/mp2t' });
    origin.route('/m4a-none/list.m3u8', {
      body: '#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:2\n#EXTINF:2.0,\nv.ts\n#EXT-X-ENDLIST\n',
      type: 'application/vnd.apple.mpegurl',
    });
    const none = outPath('.m4a');
    await assert.rejects(record(origin.url('/m4a-none/list.m3u8'), { output: none }), (err: unknown) => {
      assert.ok(isCastkitError(err));
      assert.equal(err.code, 'E_NO_AUDIO');
      assert.equal(err.category, 'input');
      assert.match(err.hint ?? '', /\.mp4/);
      return true;
    });
    assert.ok(!existsSync(none) && !existsSync(`${none}.castkit-journal`));
  });

  // The variant carries its own (default) audio, and the German rendition has a URI: the output had both
  // audio tracks, the variant's first, so a player played the English one.
  for (const ext of ['.mp4', '.ts'] as const)
    it(`--audio-lang de on a variant with muxed audio: only the German audio (${ext})`, async () => {
      const muxed = await streamFixture('hls-ts');
      const alt = await streamFixture('hls-alt-audio');
      const de = alt.audioTracks?.de;
      assert.ok(de, 'the fixture names the de audio file');
      const m = serveFixture(origin, muxed, `/muxed-de${ext}`);
      const a = serveFixture(origin, alt, `/alt-for-muxed${ext}`);
      const variant = readFileSync(join(muxed.dir, muxed.entry), 'utf8')
        .split('\n')
        .find((l) => l.startsWith('#EXT-X-STREAM-INF') && l.includes('RESOLUTION=640x360'));
      const lines = readFileSync(join(muxed.dir, muxed.entry), 'utf8').split('\n');
      const uri = lines[lines.indexOf(variant as string) + 1] as string;
      const master = [
        '#EXTM3U',
        '#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="a",LANGUAGE="en",NAME="main",DEFAULT=YES,AUTOSELECT=YES',
        `#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="a",LANGUAGE="de",NAME="Deutsch",URI="${new URL('audio/de/index.m3u8', a).href}"`,
        `${variant as string},AUDIO="a"`,
        new URL(uri, m).href,
        '',
      ].join('\n');
      origin.route(`/muxed-de${ext}/with-de.m3u8`, { body: master, type: 'application/vnd.apple.mpegurl' });
      const out = outPath(ext);
      const r = await record(origin.url(`/muxed-de${ext}/with-de.m3u8`), { output: out, audioLang: 'de' });
      assert.match(r.chosen, /audio de/);
      assert.deepEqual(await streamTypes(out), ['video', 'audio'], 'one audio track');
      await assertRecordingOf(out, muxed.clip, de);
    });

  it('refused with what to do: --audio-lang on a media playlist and --subs to a pipe (usage), a parent that is a file (output)', async () => {
    const fx = await streamFixture('hls-ts');
    const url = serveFixture(origin, fx, '/refusals');
    const master = await (await fetch(url)).text();
    const variant = master.split('\n').find((l) => l !== '' && !l.startsWith('#')) as string;
    const media = new URL(variant, url).href;
    await assert.rejects(record(media, { output: outPath(), audioLang: 'de' }), (err: unknown) => {
      assert.ok(isCastkitError(err));
      assert.equal(err.category, 'usage');
      assert.match(err.message, /no audio renditions to choose "de" from: .* is a media playlist/);
      return true;
    });
    await assert.rejects(record(url, { output: '-', format: 'ts', subs: true }), (err: unknown) => {
      assert.ok(isCastkitError(err));
      assert.equal(err.category, 'usage');
      assert.match(err.message, /--subs saves the subtitles beside the output file/);
      return true;
    });
    const file = outPath();
    writeFileSync(file, 'a file, not a directory');
    await assert.rejects(record(url, { output: join(file, 'x.mp4') }), (err: unknown) => {
      assert.ok(isCastkitError(err), String(err));
      assert.equal(err.category, 'output');
      return true;
    });
  });

  it('hls-ts --quality worst picks the low variant', async () => {
    const fx = await streamFixture('hls-ts');
    const url = serveFixture(origin, fx, '/worst');
    const out = outPath();
    const r = await record(url, { output: out, quality: 'worst' });
    const video = r.tracks.find((t) => t.kind === 'video');
    assert.equal(video?.height, 180);
  });

  it('ts and fmp4 pass-through outputs hold the same frames', async () => {
    const ts = await streamFixture('hls-ts');
    const fm = await streamFixture('hls-fmp4');
    const u1 = serveFixture(origin, ts, '/pt-ts');
    const u2 = serveFixture(origin, fm, '/pt-fmp4');
    const o1 = outPath('.ts');
    const o2 = outPath('.mp4');
    await record(u1, { output: o1 });
    await record(u2, { output: o2, format: 'fmp4' });
    await assertRecordingOf(o1, ts.clip);
    await assertRecordingOf(o2, fm.clip);
  });

  for (const name of ['hls-fmp4', 'hls-alt-audio', 'dash-timeline', 'dash-base'] as const) {
    it(`${name} -> ts: the segments demuxed and muxed into one TS with every frame, in sync`, async () => {
      const fx = await streamFixture(name);
      const url = serveFixture(origin, fx, `/ts-${name}`);
      const out = outPath('.ts');
      const r = await record(url, { output: out, retry: FAST_RETRY });
      assert.equal(r.format, 'ts');
      assert.deepEqual(r.tracks.map((t) => t.kind).sort(), ['audio', 'video']);
      // fMP4 segments: their init segments' edit lists are applied, in sync to within an audio frame. The
      // TS segments of hls-alt-audio keep the times ffmpeg gave them (video 80 ms after the AAC priming).
      const maxSkew = name === 'hls-alt-audio' ? 0.065 : 0.022;
      await assertRecordingOf(out, fx.clip, fx.audioClip ?? fx.clip, { maxSkew });
    });
  }

  it('HLS with AES-128 (two keys) to -o - on a descriptor: decrypted, every frame', async () => {
    const fx = await streamFixture('hls-aes');
    const url = serveFixture(origin, fx, '/pipe-aes');
    const out = outPath('.ts');
    const stdout = createWriteStream(out);
    // Two at a time: segment memory is used again while the segments are decrypted out of it.
    const r = await record(url, { output: '-', stdout, retry: FAST_RETRY, concurrency: 2 });
    await new Promise((resolve) => stdout.end(resolve));
    assert.equal(r.format, 'ts');
    assert.equal(r.segments, fx.videoSegments);
    await assertRecordingOf(out, fx.clip);
  });

  it('DASH to a pipe (-o -) comes out as one TS stream with every frame', async () => {
    const fx = await streamFixture('dash-timeline');
    const url = serveFixture(origin, fx, '/pipe-dash');
    const chunks: Buffer[] = [];
    const stdout = new PassThrough();
    stdout.on('data', (c: Buffer) => chunks.push(c));
    const r = await record(url, { output: '-', stdout, retry: FAST_RETRY });
    assert.equal(r.format, 'ts');
    const out = outPath('.ts');
    writeFileSync(out, Buffer.concat(chunks));
    await assertRecordingOf(out, fx.clip, fx.audioClip ?? fx.clip);
    // fMP4 to a pipe needs one muxed rendition: DASH has two.
    await assert.rejects(record(url, { output: '-', format: 'fmp4', stdout: new PassThrough() }), {
      code: 'E_OUTPUT_FORMAT',
    });
  });
});

describe('record EXT-X-DISCONTINUITY', () => {
  // .ts and fmp4 from fMP4 segments: the segments are written as they are, and went back in time after
  // the discontinuity (the second part played over the first: 12 s recorded, 6 s of timeline).
  // `pipe`: written to -o - (here a file's stream, on a descriptor like standard output: the segments'
  // memory is used again for later ones while the last is kept for the discontinuity's times).
  const cases = [
    { fixture: 'hls-ts', ext: '.mp4', format: undefined, pipe: false },
    { fixture: 'hls-ts', ext: '.ts', format: undefined, pipe: false },
    { fixture: 'hls-ts', ext: '.ts', format: undefined, pipe: true },
    { fixture: 'hls-fmp4', ext: '.mp4', format: 'fmp4', pipe: false },
    { fixture: 'hls-fmp4', ext: '.mp4', format: 'fmp4', pipe: true },
  ] as const;
  for (const { fixture, ext, format, pipe } of cases)
    it(`timestamps that restart after a discontinuity continue in the output (${fixture} to ${format ?? ext}${pipe ? ', -o -' : ''})`, async () => {
      const origin = await startOrigin();
      try {
        const fx = await streamFixture(fixture);
        serveFixture(origin, fx, '/disc');
        const media = mediaPlaylistOf(fx);
        const base = dirnameOf(media);
        const playlist = readFileSync(join(fx.dir, media), 'utf8').split('\n');
        const segs = playlist.filter((l) => l.endsWith('.ts') || l.endsWith('.m4s')).slice(0, 3);
        const map = playlist.find((l) => l.startsWith('#EXT-X-MAP:'));
        // The same three segments twice: the second time their timestamps start over.
        const lines = ['#EXTM3U', '#EXT-X-VERSION:7', '#EXT-X-TARGETDURATION:2', '#EXT-X-MEDIA-SEQUENCE:0'];
        for (const k of [0, 1]) {
          if (k > 0) lines.push('#EXT-X-DISCONTINUITY');
          if (map) lines.push(map.replace('URI="', `URI="/disc/${base}`));
          for (const s of segs) lines.push(`#EXTINF:${fx.segmentSeconds}.0,`, `/disc/${base}${s}`);
        }
        lines.push('#EXT-X-ENDLIST', '');
        origin.route('/disc/twice.m3u8', { body: lines.join('\n'), type: 'application/vnd.apple.mpegurl' });
        const out = outPath(ext);
        const stdout = pipe ? createWriteStream(out) : undefined;
        const r = await record(origin.url('/disc/twice.m3u8'), {
          output: stdout ? '-' : out,
          ...(format ? { format } : {}),
          ...(stdout ? { stdout, concurrency: 2 } : {}),
        });
        if (stdout) await new Promise((resolve) => stdout.end(resolve));
        assert.equal(r.segments, 6);
        assert.equal(await decodeMessages(out), '');
        const [got, clip] = await Promise.all([
          frameHashes(out),
          frameHashes(fx.clip, { ignoreEditList: ext === '.ts' }),
        ]);
        const frames = 3 * fx.segmentSeconds * 25;
        const part = clip.video.slice(0, frames);
        assert.deepEqual(got.video, [...part, ...part], 'the three segments twice, every frame');
        const pts = (await packets(out))
          .filter((p) => p.type === 'video')
          .map((p) => p.pts)
          .sort((a, b) => a - b);
        const steps = pts.slice(1).map((t, i) => t - (pts[i] as number));
        assert.ok(
          Math.max(...steps) < 0.05 && Math.min(...steps) > 0,
          'video timestamps continue, frame after frame',
        );
        assert.ok(
          Math.abs((pts[pts.length - 1] as number) - (pts[0] as number) - (2 * frames - 1) / 25) < 0.05,
          `${(2 * frames) / 25} s of video`,
        );
      } finally {
        await origin.close();
      }
    });
});

describe('record EXT-X-DISCONTINUITY from fMP4 to TS segments', () => {
  // The TS run's 90 kHz times were read in the fMP4 init's timescales (12800 video, the sample rate for
  // audio): its video played about seven times too slowly and its audio went before the start.
  it('--format ts: each run read in its own timescale, the output plays straight through', async () => {
    const origin = await startOrigin();
    try {
      const lines = ['#EXTM3U', '#EXT-X-VERSION:7', '#EXT-X-TARGETDURATION:2', '#EXT-X-MEDIA-SEQUENCE:0'];
      let frames = 0;
      for (const name of ['hls-fmp4', 'hls-ts'] as const) {
        const fx = await streamFixture(name);
        serveFixture(origin, fx, `/mix-${name}`);
        const media = mediaPlaylistOf(fx);
        const base = `/mix-${name}/${dirnameOf(media)}`;
        const playlist = readFileSync(join(fx.dir, media), 'utf8').split('\n');
        const segs = playlist.filter((l) => l.endsWith('.ts') || l.endsWith('.m4s')).slice(0, 2);
        if (name === 'hls-ts') lines.push('#EXT-X-DISCONTINUITY');
        const map = playlist.find((l) => l.startsWith('#EXT-X-MAP:'));
        if (map) lines.push(map.replace('URI="', `URI="${base}`));
        for (const s of segs) lines.push(`#EXTINF:${fx.segmentSeconds}.0,`, `${base}${s}`);
        frames += 2 * fx.segmentSeconds * 25;
      }
      lines.push('#EXT-X-ENDLIST', '');
      origin.route('/mix.m3u8', { body: lines.join('\n'), type: 'application/vnd.apple.mpegurl' });
      const out = outPath('.ts');
      const r = await record(origin.url('/mix.m3u8'), { output: out, format: 'ts' });
      assert.equal(r.segments, 4);
      assert.equal(await decodeMessages(out), '');
      const all = await packets(out);
      for (const kind of ['video', 'audio'] as const) {
        const pts = all
          .filter((p) => p.type === kind)
          .map((p) => p.pts)
          .sort((a, b) => a - b);
        const steps = pts.slice(1).map((t, i) => t - (pts[i] as number));
        const [lo, hi] = [Math.min(...steps), Math.max(...steps)];
        // Audio may have a hole of a few frames at the join (the runs join on their earliest sample).
        assert.ok(
          hi < (kind === 'video' ? 0.05 : 0.1) && lo > 0,
          `${kind} timestamps continue (steps ${lo.toFixed(3)} to ${hi.toFixed(3)} s)`,
        );
        const span = (pts[pts.length - 1] as number) - (pts[0] as number);
        assert.ok(Math.abs(span - frames / 25) < 0.1, `${kind}: ${frames / 25} s, not ${span.toFixed(2)} s`);
      }
    } finally {
      await origin.close();
    }
  });
});

describe('record EXT-X-DISCONTINUITY to another encoding', () => {
  // An ad break or an encoder restart: MPEG-TS segments carry their parameter sets (SPS/PPS) in band, so
  // one MP4 holds both parts as the stream sent them (this was refused, and a live recording's MP4 lost).
  it('an MP4 output keeps both encodings of MPEG-TS segments, every frame decoded as the segments decode; --format ts too', async () => {
    const origin = await startOrigin();
    try {
      const fx = await streamFixture('hls-ts');
      serveFixture(origin, fx, '/change');
      const master = readFileSync(join(fx.dir, fx.entry), 'utf8').split('\n');
      const variants = master.filter((l) => l !== '' && !l.startsWith('#'));
      assert.ok(variants.length >= 2, 'two variants of different sizes');
      const lines = ['#EXTM3U', '#EXT-X-VERSION:3', '#EXT-X-TARGETDURATION:2', '#EXT-X-MEDIA-SEQUENCE:0'];
      const files: string[] = [];
      for (const [k, v] of variants.slice(0, 2).entries()) {
        if (k > 0) lines.push('#EXT-X-DISCONTINUITY');
        const base = dirnameOf(v);
        const segs = readFileSync(join(fx.dir, v), 'utf8')
          .split('\n')
          .filter((l) => l.endsWith('.ts'))
          .slice(0, 2);
        for (const s of segs) {
          lines.push('#EXTINF:2.0,', `/change/${base}${s}`);
          files.push(join(fx.dir, base, s));
        }
      }
      lines.push('#EXT-X-ENDLIST', '');
      origin.route('/change/mixed.m3u8', { body: lines.join('\n'), type: 'application/vnd.apple.mpegurl' });
      const url = origin.url('/change/mixed.m3u8');
      // What a player shows of the four segments, decoded one after another.
      const want: string[] = [];
      for (const f of files) want.push(...(await frameHashes(f)).video);
      const mp4 = outPath();
      const r = await record(url, { output: mp4 });
      assert.equal(r.segments, 4);
      const change = r.warnings.filter((w) => w.code === 'W_CONFIG_CHANGE');
      assert.equal(change.length, 1, 'one change of parameters, where the second part starts');
      const m = /the video parameters change here \((\d+x\d+), not (\d+x\d+)\)/.exec(
        change[0]?.message ?? '',
      );
      assert.ok(m && m[1] !== m[2], change[0]?.message);
      assert.equal(await decodeMessages(mp4), '');
      // At their own sizes: ffmpeg would otherwise scale the second part's frames to the first part's.
      assert.deepEqual((await frameHashes(mp4, { ownSizes: true })).video, want, 'every frame, in order');
      const ts = outPath('.ts');
      const t = await record(url, { output: ts, format: 'ts' });
      assert.equal(t.segments, 4);
      assert.equal(await decodeMessages(ts), '');
      assert.deepEqual((await frameHashes(ts, { ownSizes: true })).video, want);
    } finally {
      await origin.close();
    }
  });
  // fMP4 written as it came: the second init section was written into the file, where players read only
  // the first, so the part after it was decoded with the wrong parameter sets (exit 0, a broken file).
  it('--format fmp4 is refused the same way, MP4 keeps both; an init section that only differs in bytes is left out', async () => {
    const origin = await startOrigin();
    try {
      const fx = await streamFixture('hls-fmp4');
      serveFixture(origin, fx, '/fchange');
      const master = readFileSync(join(fx.dir, fx.entry), 'utf8').split('\n');
      const variants = master.filter((l) => l !== '' && !l.startsWith('#'));
      assert.ok(variants.length >= 2, 'two variants of different sizes');
      const partOf = (v: string, map?: string, from = 0): string[] => {
        const base = dirnameOf(v);
        const text = readFileSync(join(fx.dir, v), 'utf8').split('\n');
        const out = [`#EXT-X-MAP:URI="${map ?? `/fchange/${base}init.mp4`}"`];
        for (const s of text.filter((l) => l.endsWith('.m4s')).slice(from, from + 2))
          out.push(`#EXTINF:${fx.segmentSeconds}.0,`, `/fchange/${base}${s}`);
        return out;
      };
      const head = ['#EXTM3U', '#EXT-X-VERSION:7', '#EXT-X-TARGETDURATION:2', '#EXT-X-MEDIA-SEQUENCE:0'];
      const [hi, lo] = variants as [string, string];
      const mixed = [...head, ...partOf(hi), '#EXT-X-DISCONTINUITY', ...partOf(lo), '#EXT-X-ENDLIST', ''];
      origin.route('/fchange/mixed.m3u8', { body: mixed.join('\n'), type: 'application/vnd.apple.mpegurl' });
      await assert.rejects(
        record(origin.url('/fchange/mixed.m3u8'), { output: outPath(), format: 'fmp4' }),
        (err: unknown) => {
          assert.ok(isCastkitError(err));
          assert.equal(err.code, 'E_CONCAT_MISMATCH');
          assert.match(err.message, /changed its encoding at a discontinuity .*one fragmented MP4/);
          assert.match(err.hint ?? '', /--format ts/);
          return true;
        },
      );
      // To MP4 (the default), every part: a part's parameter sets go into its first keyframe. The first
      // init comes back for a third part (an ad break, then the programme): it is fetched and used again
      // (it was not: the third part was read with the second's init, a broken file with exit 0).
      const aba = [
        ...head,
        ...partOf(hi),
        '#EXT-X-DISCONTINUITY',
        ...partOf(lo),
        '#EXT-X-DISCONTINUITY',
        ...partOf(hi, undefined, 2),
        '#EXT-X-ENDLIST',
        '',
      ];
      origin.route('/fchange/aba.m3u8', { body: aba.join('\n'), type: 'application/vnd.apple.mpegurl' });
      const want: string[] = [];
      for (const [v, from] of [
        [hi, 0],
        [lo, 0],
        [hi, 2],
      ] as const) {
        const base = dirnameOf(v);
        const segs = readFileSync(join(fx.dir, v), 'utf8')
          .split('\n')
          .filter((l) => l.endsWith('.m4s'))
          .slice(from, from + 2);
        for (const seg of segs) {
          const whole = join(dir, `fchange-${base.replace(/\W/g, '')}-${seg}.mp4`);
          writeFileSync(
            whole,
            Buffer.concat([
              readFileSync(join(fx.dir, base, 'init.mp4')),
              readFileSync(join(fx.dir, base, seg)),
            ]),
          );
          want.push(...(await frameHashes(whole)).video);
        }
      }
      const mp4 = outPath();
      const r = await record(origin.url('/fchange/aba.m3u8'), { output: mp4 });
      assert.equal(r.warnings.filter((w) => w.code === 'W_CONFIG_CHANGE').length, 2);
      assert.equal(await decodeMessages(mp4), '');
      assert.deepEqual((await frameHashes(mp4, { ownSizes: true })).video, want, 'every frame, in order');
      const ts = outPath('.ts');
      await record(origin.url('/fchange/aba.m3u8'), { output: ts, format: 'ts' });
      assert.equal(await decodeMessages(ts), '');
      assert.deepEqual((await frameHashes(ts, { ownSizes: true })).video, want, 'every frame, in order');
      // The same init section again under another name, one byte of its handler name changed.
      const init = readFileSync(join(fx.dir, `${dirnameOf(hi)}init.mp4`));
      const other = Buffer.from(init);
      const at = other.indexOf('VideoHandler');
      assert.ok(at > 0, 'the init names its handler');
      other[at] = 'W'.charCodeAt(0);
      origin.route('/fchange/init-b.mp4', { body: other, type: 'video/mp4' });
      const same = [
        ...head,
        ...partOf(hi),
        '#EXT-X-DISCONTINUITY',
        ...partOf(hi, '/fchange/init-b.mp4'),
        '#EXT-X-ENDLIST',
        '',
      ];
      origin.route('/fchange/same.m3u8', { body: same.join('\n'), type: 'application/vnd.apple.mpegurl' });
      const out = outPath();
      await record(origin.url('/fchange/same.m3u8'), { output: out, format: 'fmp4' });
      assert.equal(await decodeMessages(out), '');
      const bytes = readFileSync(out);
      let moovs = 0;
      for (let i = bytes.indexOf('moov'); i >= 0; i = bytes.indexOf('moov', i + 4)) moovs++;
      assert.equal(moovs, 1, 'one init section in the file');
    } finally {
      await origin.close();
    }
  });
});

describe('record DASH periods of other encodings', () => {
  // An ad period between programme periods, or a period of another size: each period's first keyframe
  // gets its parameter sets, and the MP4 plays them one after another (this was refused after the download).
  it('two periods whose video representations differ: one MP4, every frame as the segments decode', async () => {
    const origin = await startOrigin();
    try {
      const fx = await streamFixture('dash-number');
      serveFixture(origin, fx, '/periods');
      const sec = fx.segmentSeconds;
      const us = sec * 1_000_000;
      const template = (start: number): string =>
        `<SegmentTemplate timescale="1000000" duration="${us}" initialization="init-stream$RepresentationID$.m4s"` +
        ` media="chunk-stream$RepresentationID$-$Number%05d$.m4s" startNumber="${start}"` +
        ` presentationTimeOffset="${(start - 1) * us}"/>`;
      const period = (id: string, rep: string, width: number, height: number, start: number): string =>
        `<Period id="${id}" start="PT${(start - 1) * sec}S" duration="PT${2 * sec}S">` +
        `<AdaptationSet contentType="video" startWithSAP="1"><Representation id="${rep}" mimeType="video/mp4"` +
        ` codecs="avc1.640015" bandwidth="500000" width="${width}" height="${height}">${template(start)}` +
        '</Representation></AdaptationSet><AdaptationSet contentType="audio" startWithSAP="1" lang="eng">' +
        `<Representation id="2" mimeType="audio/mp4" codecs="mp4a.40.2" bandwidth="96000">${template(start)}` +
        '</Representation></AdaptationSet></Period>';
      const mpd =
        '<?xml version="1.0"?><MPD xmlns="urn:mpeg:dash:schema:mpd:2011" type="static"' +
        ` profiles="urn:mpeg:dash:profile:isoff-live:2011" mediaPresentationDuration="PT${4 * sec}S">` +
        `${period('p0', '1', 640, 360, 1)}${period('p1', '0', 320, 180, 3)}</MPD>`;
      origin.route('/periods/two.mpd', { body: mpd, type: 'application/dash+xml' });
      const want: string[] = [];
      for (const [rep, n] of [
        ['1', 1],
        ['1', 2],
        ['0', 3],
        ['0', 4],
      ] as const) {
        const whole = join(dir, `period-${rep}-${n}.mp4`);
        const chunk = `chunk-stream${rep}-${String(n).padStart(5, '0')}.m4s`;
        writeFileSync(
          whole,
          Buffer.concat([
            readFileSync(join(fx.dir, `init-stream${rep}.m4s`)),
            readFileSync(join(fx.dir, chunk)),
          ]),
        );
        want.push(...(await frameHashes(whole)).video);
      }
      const out = outPath();
      const r = await record(origin.url('/periods/two.mpd'), { output: out });
      assert.ok(
        r.warnings.some((w) => w.code === 'W_CONFIG_CHANGE'),
        'the change is said',
      );
      assert.equal(await decodeMessages(out), '');
      assert.deepEqual((await frameHashes(out, { ownSizes: true })).video, want, 'every frame, in order');
    } finally {
      await origin.close();
    }
  });
});

describe('record EXT-X-DISCONTINUITY to other audio settings', () => {
  // One MP4 track has one AudioSpecificConfig: 44.1 kHz then 48 kHz AAC is refused, after the download.
  // The journal stays, and the same command with --format ts writes the TS from it, fetching nothing.
  it('MP4 is refused with the way out, and --format ts writes the recording from the journal', async () => {
    const origin = await startOrigin();
    try {
      const pkg = mkdtempSync(join(dir, 'audio-change-'));
      const lines = ['#EXTM3U', '#EXT-X-VERSION:3', '#EXT-X-TARGETDURATION:2', '#EXT-X-MEDIA-SEQUENCE:0'];
      for (const rate of [44100, 48000]) {
        await run(tools().ffmpeg.path, [
          ...['-v', 'error', '-f', 'lavfi', '-i', 'testsrc2=s=160x120:r=25:d=4'],
          ...['-f', 'lavfi', '-i', `sine=d=4:sample_rate=${rate}`, '-c:v', 'libx264', '-g', '25'],
          ...['-c:a', 'aac', '-ar', String(rate), '-f', 'hls', '-hls_time', '2'],
          ...['-hls_segment_filename', join(pkg, `a${rate}-%d.ts`), join(pkg, `a${rate}.m3u8`)],
        ]);
        if (rate === 48000) lines.push('#EXT-X-DISCONTINUITY');
        for (const k of [0, 1]) {
          const name = `a${rate}-${k}.ts`;
          origin.route(`/audio-change/${name}`, { body: readFileSync(join(pkg, name)), type: 'video/mp2t' });
          lines.push('#EXTINF:2.0,', `/audio-change/${name}`);
        }
      }
      lines.push('#EXT-X-ENDLIST', '');
      origin.route('/audio-change/index.m3u8', {
        body: lines.join('\n'),
        type: 'application/vnd.apple.mpegurl',
      });
      const url = origin.url('/audio-change/index.m3u8');
      const out = outPath();
      await assert.rejects(record(url, { output: out }), (err: unknown) => {
        assert.ok(isCastkitError(err));
        assert.equal(err.code, 'E_CONCAT_MISMATCH');
        assert.match(err.message, /\(48000 Hz, not 44100 Hz\)/);
        assert.match(err.hint ?? '', /same command again with --format ts/);
        return true;
      });
      assert.ok(existsSync(`${out}.castkit-journal`), 'the journal is kept');
      // The segments committed in their turn were kept by checkpoints of the MP4, not in the journal: a TS
      // cannot be made from those, so they are fetched again; the others come from the journal.
      const listed = readFileSync(join(`${out}.castkit-journal`, 'journal.jsonl'), 'utf8')
        .split('\n')
        .slice(1)
        .filter((l) => l !== '')
        .map((l) => JSON.parse(l) as { k: string; o?: number; cp?: number });
      const kept = listed.filter((l) => l.o !== undefined).length;
      assert.equal(listed.length, 4, 'every segment is listed');
      assert.ok(
        listed.some((l) => l.cp !== undefined),
        'some kept by a checkpoint',
      );
      const r = await record(url, { output: out, format: 'ts' });
      assert.equal(r.segments, 4);
      assert.equal(r.fromJournal, kept, 'what the journal holds is not fetched again');
      assert.equal(r.fetched, 4 - kept);
      assert.deepEqual(await streamTypes(out), ['video', 'audio']);
      assert.equal((await packets(out)).filter((p) => p.type === 'video').length, 200);
    } finally {
      await origin.close();
    }
  });
});

describe('record --subs', () => {
  it('saves the WebVTT subtitles rendition beside the output', async () => {
    const origin = await startOrigin();
    try {
      const fx = await streamFixture('hls-ts');
      const pkg = mkdtempSync(join(dir, 'subs-'));
      const srt = join(pkg, 'in.srt');
      writeFileSync(
        srt,
        '1\n00:00:01.000 --> 00:00:03.000\nfirst cue\n\n2\n00:00:15.000 --> 00:00:16.500\nlast cue\n',
      );
      await run(tools().ffmpeg.path, [
        '-v',
        'error',
        '-i',
        fx.clip,
        '-i',
        srt,
        '-map',
        '0:v',
        '-map',
        '0:a',
        '-map',
        '1:s',
        '-c:v',
        'copy',
        '-c:a',
        'copy',
        '-c:s',
        'webvtt',
        '-f',
        'hls',
        '-hls_time',
        '2',
        '-hls_playlist_type',
        'vod',
        '-var_stream_map',
        'v:0,a:0,s:0,sgroup:subs,language:en',
        '-master_pl_name',
        'master.m3u8',
        '-hls_segment_filename',
        join(pkg, 'v%v_%03d.ts'),
        join(pkg, 'out_%v.m3u8'),
      ]);
      for (const f of readdirSync(pkg)) origin.route(`/subs/${f}`, { file: join(pkg, f) });
      const out = join(pkg, 'show.mp4');
      const r = await record(origin.url('/subs/master.m3u8'), { output: out, subs: true });
      assert.ok(r.subtitles, 'the result names the subtitles file');
      const vtt = readFileSync(r.subtitles, 'utf8');
      assert.match(vtt, /^WEBVTT\n/);
      assert.match(vtt, /00:00:01\.\d{3} --> 00:00:03\.\d{3}\nfirst cue/);
      assert.match(vtt, /00:00:15\.\d{3} --> 00:00:16\.\d{3}\nlast cue/);
      assert.equal((vtt.match(/-->/g) ?? []).length, 2, 'each cue once');
      await assert.rejects(
        record(origin.url('/subs/master.m3u8'), { output: join(pkg, 'x.mp4'), subs: 'fr' }),
        /no subtitles in language "fr"/,
      );
    } finally {
      await origin.close();
    }
  });
});

describe('record through faults', () => {
  let origin: Origin;
  let fx: StreamFixture;
  before(async () => {
    origin = await startOrigin();
    fx = await streamFixture('hls-ts');
  });
  after(async () => origin.close());

  const segPaths = (prefix: string): string[] =>
    readFileSync(join(fx.dir, mediaPlaylistOf(fx)), 'utf8')
      .split('\n')
      .filter((l) => l.endsWith('.ts'))
      .map((l) => `${prefix}/${dirnameOf(mediaPlaylistOf(fx))}${l}`);

  it('503, 429 with Retry-After, resets, truncated and stalled bodies are retried: every frame arrives', async () => {
    const url = serveFixture(origin, fx, '/faults');
    const segs = segPaths('/faults');
    assert.ok(segs.length >= 6, `the fixture has segments (${segs.length})`);
    origin.fault(segs[0] as string, { kind: 'status', status: 503, times: 2 });
    origin.fault(segs[1] as string, {
      kind: 'status',
      status: 429,
      headers: { 'retry-after': '1' },
      times: 1,
    });
    origin.fault(segs[2] as string, { kind: 'reset', times: 1 });
    origin.fault(segs[3] as string, { kind: 'truncate', bytes: 1000, times: 1 });
    origin.fault(segs[4] as string, { kind: 'stall-body', bytes: 5000, times: 1 });
    origin.fault(segs[5] as string, { kind: 'reset-body', bytes: 3000, times: 1 });
    // The master playlist too: a retried manifest is announced (nothing else is on the screen then).
    origin.fault(new URL(url).pathname, { kind: 'status', status: 503, times: 1 });
    const notices: string[] = [];
    const out = outPath();
    const t0 = Date.now();
    const r = await record(url, {
      output: out,
      retry: FAST_RETRY,
      stallMs: 500,
      onNotice: (m) => notices.push(m),
    });
    assert.equal(r.gaps.length, 0);
    assert.ok(
      notices.some((m) => m.startsWith(`retrying ${url} in `) && m.includes('HTTP 503')),
      `the manifest retry was announced: ${JSON.stringify(notices)}`,
    );
    assert.ok(Date.now() - t0 >= 1000, 'Retry-After: 1 was honoured');
    const hits = (p: string): number => origin.requests.filter((q) => q.path === p).length;
    assert.equal(hits(segs[0] as string), 3, '503 twice, then the segment');
    assert.equal(hits(segs[1] as string), 2, '429 once, then the segment');
    await assertRecordingOf(out, fx.clip);
  });

  it('a segment that keeps failing: exit with E_SEGMENTS_MISSING naming it; --allow-gaps writes the file and a gap report', async () => {
    const url = serveFixture(origin, fx, '/gone');
    const segs = segPaths('/gone');
    const bad = segs[3] as string;
    origin.remove(bad);
    const out = outPath();
    await assert.rejects(record(url, { output: out, retry: FAST_RETRY }), (err: unknown) => {
      assert.ok(isCastkitError(err));
      assert.equal(err.code, 'E_SEGMENTS_MISSING');
      assert.equal(err.category, 'network');
      assert.match(err.message, /404|seg/);
      return true;
    });
    assert.ok(!existsSync(out), 'no output that looks finished');
    assert.ok(existsSync(`${out}.castkit-journal`), 'the journal keeps what was fetched');
    const good = (q: { path: string }): boolean => q.path !== bad && q.path.endsWith('.ts');
    const fetchedBefore = origin.requests.filter(good).length;
    const pathsBefore = new Set(origin.requests.filter(good).map((q) => q.path));

    const r = await record(url, { output: out, retry: FAST_RETRY, allowGaps: true });
    assert.equal(r.gaps.length, 1);
    // The error behind the gap (the 404), not the generic "missing".
    assert.deepEqual(gapReportCodes(r.gapReport), ['E_HTTP_STATUS']);
    assert.equal(r.gaps[0]?.code, 'E_HTTP_STATUS');
    assert.equal(await decodeMessages(out), '');
    // Honest timestamps: the hole stays where the missing segment was, the output keeps its full length.
    const pk = await packets(out);
    const v = pk
      .filter((p) => p.type === 'video')
      .map((p) => p.pts)
      .sort((a, b) => a - b);
    const jump = Math.max(...v.slice(1).map((t, i) => t - (v[i] as number)));
    assert.ok(
      jump >= fx.segmentSeconds - 0.1,
      `a ${fx.segmentSeconds} s hole in the video (${jump.toFixed(2)} s)`,
    );
    assert.ok((v[v.length - 1] as number) > 18, 'the timeline keeps its length');
    // The failed run stopped taking new segments at the failure: the rest are fetched now, once each.
    const after = origin.requests
      .slice()
      .filter(good)
      .slice(fetchedBefore)
      .map((q) => q.path);
    assert.deepEqual(
      after.filter((p) => pathsBefore.has(p)),
      [],
      'segments fetched by the failed run are not fetched again',
    );
    assert.equal(new Set(after).size, after.length, 'each of the others once');
  });

  it('--allow-gaps, stopped after a gap and run again: the segment is tried again, the others come from the journal; once it is back, a rerun fills the hole', async () => {
    const url = serveFixture(origin, fx, '/unavailable');
    const segs = segPaths('/unavailable');
    const bad = segs[3] as string;
    origin.fault(bad, { kind: 'status', status: 503, times: 1000 });
    // The 7th segment stalls the first time: the run is stopped while it waits, the gap journaled.
    origin.fault(segs[6] as string, { kind: 'stall', times: 1 });
    const out = outPath();
    const journalDir = `${out}.castkit-journal`;
    const ac = new AbortController();
    const onProgress = (p: { done: number; missing: number }): void => {
      if (p.done >= 5 && p.missing >= 1) ac.abort();
    };
    await assert.rejects(
      record(url, { output: out, retry: FAST_RETRY, allowGaps: true, signal: ac.signal, onProgress }),
      { category: 'interrupted' },
    );
    const order = readFileSync(join(journalDir, 'order.jsonl'), 'utf8');
    assert.match(order, /"kind":"gap".*"code":"E_HTTP_STATUS"/, order);
    const hits = (p: string): number => origin.requests.filter((q) => q.path === p).length;
    const isSeg = (q: { path: string }): boolean => q.path.endsWith('.ts');
    const badHits = hits(bad);
    const before = origin.requests.length;
    const journaled = readFileSync(join(journalDir, 'journal.jsonl'), 'utf8')
      .split('\n')
      .slice(1)
      .filter((l) => l !== '')
      .map((l) => (JSON.parse(l) as { k: string }).k);
    // Keys name a segment by its place in the playlist: main:d0:m<N> is segs[N].
    const completed = segs.filter((_, n) => journaled.includes(`main:d0:m${n}`));
    assert.ok(completed.length >= 5, `completed by the first run: ${journaled.join(' ')}`);

    // Still failing: tried again (a VOD playlist still lists it), a gap again, in the same place.
    const r = await record(url, { output: out, retry: FAST_RETRY, allowGaps: true });
    assert.ok(hits(bad) > badHits, 'the segment given up on is tried again');
    assert.ok(r.fromJournal >= 5, `the others replayed from the journal (${r.fromJournal})`);
    const second = origin.requests
      .slice(before)
      .filter(isSeg)
      .map((q) => q.path);
    assert.deepEqual(
      second.filter((p) => completed.includes(p)),
      [],
      'no segment completed by the first run is fetched again',
    );
    assert.equal(r.gaps.length, 1, JSON.stringify(r.gaps));
    assert.equal(r.gaps[0]?.code, 'E_HTTP_STATUS');
    assert.equal(r.gaps[0]?.retryable, true);
    assert.deepEqual(gapReportCodes(r.gapReport), ['E_HTTP_STATUS']);
    assert.equal(r.journal, journalDir, 'the journal stays for a later run to fill the gap');
    assert.ok(existsSync(journalDir));
    assert.equal(await decodeMessages(out), '');
    const v = (await packets(out)).filter((p) => p.type === 'video').map((p) => p.pts);
    const length = segs.length * fx.segmentSeconds;
    assert.ok(Math.max(...v) < length, `the timeline keeps its length, no more (${Math.max(...v)} s)`);
    assert.equal(
      v.filter((t) => t >= 3 * fx.segmentSeconds && t < 4 * fx.segmentSeconds).length,
      0,
      'the hole is where the segment was',
    );

    // Back: the same command fills the hole, fetching that segment only.
    origin.heal(bad);
    const third = origin.requests.length;
    const r3 = await record(url, { output: out, retry: FAST_RETRY });
    assert.deepEqual(
      origin.requests
        .slice(third)
        .filter(isSeg)
        .map((q) => q.path),
      [bad],
      'only the missing segment is fetched',
    );
    assert.equal(r3.gaps.length, 0);
    assert.equal(r3.fromJournal, segs.length - 1);
    assert.equal(r3.journal, undefined);
    assert.ok(!existsSync(journalDir), 'the journal goes once the recording is whole');
    assert.ok(!existsSync(`${out}.gaps.json`), 'the gap report of the earlier run goes with its gap');
    await assertRecordingOf(out, fx.clip);
  });

  it('a journaled segment damaged on disk is fetched again, and a later rerun replays each segment once', async () => {
    const url = serveFixture(origin, fx, '/damaged');
    const segs = segPaths('/damaged');
    const bad = segs[4] as string;
    origin.fault(bad, { kind: 'status', status: 404, times: 1000 });
    const out = outPath('.ts');
    const journalDir = `${out}.castkit-journal`;
    // To TS: every segment is journaled (an MP4 keeps those committed in their turn by its checkpoints).
    const options = { output: out, retry: FAST_RETRY, concurrency: 1, format: 'ts' as const };
    await assert.rejects(record(url, options), { code: 'E_SEGMENTS_MISSING' });
    // One byte of the 2nd segment changed on disk: its CRC no longer matches.
    const line = readFileSync(join(journalDir, 'journal.jsonl'), 'utf8')
      .split('\n')
      .find((l) => l.includes('"main:d0:m1"'));
    const { o, n } = JSON.parse(line as string) as { o: number; n: number };
    const data = join(journalDir, 'segments.bin');
    const bytes = readFileSync(data);
    const at = o + Math.floor(n / 2);
    bytes[at] = (bytes[at] as number) ^ 0xff;
    writeFileSync(data, bytes);
    const hits = (p: string): number => origin.requests.filter((q) => q.path === p).length;
    const before = hits(segs[1] as string);
    // Still failing further on: the run stops again, after committing the damaged one and those after it.
    await assert.rejects(record(url, options), { code: 'E_SEGMENTS_MISSING' });
    assert.equal(hits(segs[1] as string), before + 1, 'the damaged segment is fetched again');
    origin.heal(bad);
    const r = await record(url, { ...options, concurrency: 16 });
    assert.equal(r.segments, segs.length);
    await assertRecordingOf(out, fx.clip);
  });

  it('a playlist with no segment: exit 3, and no journal left beside an output that is not there', async () => {
    origin.route('/empty/list.m3u8', {
      body: '#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:2\n#EXT-X-ENDLIST\n',
      type: 'application/vnd.apple.mpegurl',
    });
    const out = outPath();
    await assert.rejects(record(origin.url('/empty/list.m3u8'), { output: out }), (err: unknown) => {
      assert.ok(isCastkitError(err));
      assert.equal(err.category, 'input');
      assert.match(err.message, /nothing playable was recorded/);
      return true;
    });
    assert.ok(!existsSync(out));
    assert.ok(!existsSync(`${out}.castkit-journal`), 'no empty journal left behind');
  });

  it('--allow-gaps on a VOD whose segment stays missing: a rerun without it exits 4 and leaves the file with its gap as it was', async () => {
    const url = serveFixture(origin, fx, '/still-gone');
    const segs = segPaths('/still-gone');
    const bad = segs[2] as string;
    origin.fault(bad, { kind: 'status', status: 404, times: 1000 });
    const out = outPath();
    const r = await record(url, { output: out, retry: FAST_RETRY, allowGaps: true });
    assert.equal(r.gaps.length, 1);
    assert.ok(r.journal);
    const bytes = readFileSync(out);
    await assert.rejects(record(url, { output: out, retry: FAST_RETRY }), { code: 'E_SEGMENTS_MISSING' });
    assert.ok(readFileSync(out).equals(bytes), 'the file with its gap is kept as it was');
    assert.ok(existsSync(`${out}.gaps.json`), 'and its gap report');
    // With --allow-gaps again: the same file as the first time.
    const again = await record(url, { output: out, retry: FAST_RETRY, allowGaps: true });
    assert.equal(again.gaps.length, 1);
    assert.equal(again.fromJournal, segs.length - 1);
    assert.ok(readFileSync(out).equals(bytes), 'the same bytes as the first run');
  });
});

describe('record live', () => {
  // Every HLS kind live: the window re-states EXT-X-MAP and EXT-X-KEY (two keys) at its top.
  for (const name of ['hls-ts', 'hls-fmp4', 'hls-aes', 'hls-byterange'] as const) {
    it(`HLS live (${name}) from the start of the window to the end of the stream: every frame`, async () => {
      const fx = await streamFixture(name, { segmentSeconds: 1, seconds: 12 });
      const live = await startLiveOrigin(fx, { window: 6, initial: 3, speed: 4 });
      try {
        const out = outPath();
        const r = await record(live.url, { output: out, fromStart: true, retry: FAST_RETRY });
        assert.equal(r.live, true);
        assert.equal(r.stoppedBy, 'end');
        assert.equal(r.gaps.length, 0);
        await assertRecordingOf(out, fx.clip);
      } finally {
        await live.close();
      }
    });
  }

  it('HLS live with separate audio, stopped by --duration: a valid file of that length', async () => {
    const fx = await streamFixture('hls-alt-audio', { segmentSeconds: 1, seconds: 12 });
    const live = await startLiveOrigin(fx, { window: 4, initial: 3, speed: 4 });
    try {
      const out = outPath();
      const r = await record(live.url, { output: out, durationSec: 4, retry: FAST_RETRY });
      assert.equal(r.stoppedBy, 'duration');
      assert.equal(await decodeMessages(out), '');
      assert.ok(r.durationSec >= 3.9 && r.durationSec <= 6.1, `about 4 s recorded (${r.durationSec})`);
      const s = await starts(out);
      assert.ok(Math.abs((s.audio ?? 0) - (s.video ?? 0)) < 0.1, 'audio starts with the video');
    } finally {
      await live.close();
    }
  });

  it('HLS live stopped (Ctrl-C) then run again: a valid file at the stop, then every frame in the same output', async () => {
    const fx = await streamFixture('hls-ts', { segmentSeconds: 1, seconds: 12 });
    const live = await startLiveOrigin(fx, { window: 12, initial: 3, speed: 2 });
    try {
      const out = outPath();
      const ac = new AbortController();
      // Stopped once a few seconds are in (not after a fixed time: a loaded machine may be slow to start).
      const onProgress = (p: { recordedSec: number }): void => {
        if (p.recordedSec >= 3) ac.abort();
      };
      await assert.rejects(
        record(live.url, { output: out, fromStart: true, signal: ac.signal, onProgress }),
        (err: unknown) => {
          assert.ok(isCastkitError(err));
          assert.equal(err.category, 'interrupted');
          return true;
        },
      );
      assert.equal(await decodeMessages(out), '', 'the output at the stop plays');
      const partial = (await frameHashes(out)).video.length;
      assert.ok(partial > 0 && partial < 300, `part of the stream (${partial} frames)`);
      assert.ok(existsSync(`${out}.castkit-journal`), 'the journal is kept for the next run');
      const r = await record(live.url, { output: out, fromStart: true });
      assert.ok(r.fromJournal > 0, 'the second run replayed the segments of the first');
      await assertRecordingOf(out, fx.clip);
    } finally {
      await live.close();
    }
  });

  it('HLS live run again after the edge moved on: it continues after what it has, not near the edge', async () => {
    const fx = await streamFixture('hls-ts', { segmentSeconds: 1, seconds: 20 });
    const live = await startLiveOrigin(fx, { window: 20, initial: 3, speed: 2 });
    try {
      const out = outPath();
      const ac = new AbortController();
      const onProgress = (p: { recordedSec: number }): void => {
        if (p.recordedSec >= 3) ac.abort();
      };
      // No --from-start: the first run starts at the live edge less three segments (here: the start).
      await assert.rejects(record(live.url, { output: out, signal: ac.signal, onProgress }), (err: unknown) =>
        isCastkitError(err),
      );
      const stoppedAt = live.publishedSegments();
      // Until the live edge is well past where the first run stopped, with the stream still going.
      while (live.publishedSegments() < stoppedAt + 8) await new Promise((r) => setTimeout(r, 50));
      assert.ok(!live.ended(), 'still live when the second run starts');
      const r = await record(live.url, { output: out });
      assert.equal(r.gaps.length, 0, 'nothing missed');
      await assertRecordingOf(out, fx.clip);
    } finally {
      await live.close();
    }
  });

  it('DASH live to .ts stopped (Ctrl-C) then run again: a TS that plays at the stop, then every frame', async () => {
    const fx = await streamFixture('dash-timeline', { segmentSeconds: 1, seconds: 12 });
    const live = await startLiveOrigin(fx, { window: 12, initial: 3, speed: 2 });
    try {
      const out = outPath('.ts');
      const ac = new AbortController();
      const onProgress = (p: { recordedSec: number }): void => {
        if (p.recordedSec >= 3) ac.abort();
      };
      await assert.rejects(
        record(live.url, { output: out, fromStart: true, signal: ac.signal, onProgress, retry: FAST_RETRY }),
        (err: unknown) => isCastkitError(err) && err.category === 'interrupted',
      );
      assert.equal(await decodeMessages(out), '', 'the TS at the stop plays');
      const partial = (await frameHashes(out)).video.length;
      assert.ok(partial > 0 && partial < 300, `part of the stream (${partial} frames)`);
      const r = await record(live.url, { output: out, fromStart: true, retry: FAST_RETRY });
      assert.ok(r.fromJournal > 0, 'the second run replayed the segments of the first');
      await assertRecordingOf(out, fx.clip, fx.clip, { maxSkew: 0.022 });
    } finally {
      await live.close();
    }
  });

  it('a live playlist that stops changing, or whose server goes away: a playable file with what came, exit 4', async () => {
    const origin = await startOrigin();
    try {
      const fx = await streamFixture('hls-ts');
      const media = mediaPlaylistOf(fx);
      const text = readFileSync(join(fx.dir, media), 'utf8')
        .replace(/^#EXT-X-ENDLIST\s*$/m, '')
        .replace(/^#EXT-X-PLAYLIST-TYPE:.*$/m, '');
      for (const how of ['stalled', 'gone'] as const) {
        const prefix = `/${how}`;
        serveFixture(origin, fx, prefix);
        // A live playlist (no ENDLIST) that never changes: the encoder died without ending it.
        const path = `${prefix}/${media}`;
        origin.route(path, { body: text, type: 'application/vnd.apple.mpegurl' });
        const out = outPath();
        const onProgress = (p: { recordedSec: number }): void => {
          if (how === 'gone' && p.recordedSec > 0) origin.remove(path);
        };
        await assert.rejects(
          record(origin.url(path), { output: out, liveStallSec: 1.5, retry: FAST_RETRY, onProgress }),
          (err: unknown) => {
            assert.ok(isCastkitError(err));
            assert.equal(err.code, 'E_STREAM_LOST', `${how}: ${err.message}`);
            assert.equal(err.category, 'network');
            return true;
          },
        );
        assert.equal(await decodeMessages(out), '', `${how}: the output plays`);
        assert.ok((await frameHashes(out)).video.length > 0, `${how}: with what came`);
      }
    } finally {
      await origin.close();
    }
  });

  it('DASH live near the edge: video and audio start at one time of the presentation', async () => {
    const fx = await streamFixture('dash-timeline', { segmentSeconds: 1, seconds: 30 });
    const live = await startLiveOrigin(fx, { window: 20, initial: 12, speed: 1 });
    try {
      // Every start offset against the edge: the origin publishes audio and video segments at their
      // own ends (AAC frames do not fall on the video's segment boundaries), so their edges differ.
      for (let k = 0; k < 6; k++) {
        const opened = await openRecordSource(live.url, { retry: FAST_RETRY });
        try {
          const batch = await opened.source.next();
          const first = (stream: string): number =>
            Math.min(...batch.segments.filter((s) => s.stream === stream).map((s) => s.start));
          assert.ok(first('video') > 0, 'a window near the edge, not the start');
          assert.ok(
            Math.abs(first('audio') - first('video')) <= 0.51,
            `audio from ${first('audio')} s, video from ${first('video')} s`,
          );
        } finally {
          await opened.client.close();
        }
        await new Promise((r) => setTimeout(r, 170));
      }
    } finally {
      await live.close();
    }
  });

  for (const name of ['dash-number', 'dash-timeline'] as const) {
    it(`DASH live (${name}) from the start: every frame`, async () => {
      const fx = await streamFixture(name, { segmentSeconds: 1, seconds: 12 });
      const live = await startLiveOrigin(fx, { window: 8, initial: 3, speed: 2 });
      try {
        const out = outPath();
        const r = await record(live.url, { output: out, fromStart: true, retry: FAST_RETRY });
        assert.equal(r.live, true);
        assert.equal(r.gaps.length, 0, JSON.stringify(r.gaps));
        await assertRecordingOf(out, fx.clip, fx.clip, { audioEndsWithPresentation: name === 'dash-number' });
      } finally {
        await live.close();
      }
    });
  }
});

function dirnameOf(p: string): string {
  const i = p.lastIndexOf('/');
  return i < 0 ? '' : p.slice(0, i + 1);
}
