/**
 * The recorder's stream fixtures and live origin are what they claim to be, as ffmpeg sees them over HTTP:
 * every VOD package reads, its best video stream has the clip's packets and decodes to the clip's frames,
 * the AES, byte-range, alternate-audio and SegmentBase/SegmentList details are right, and the live origin
 * slides its window, answers 404 for what is not yet published, and ends.
 */
import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { createDecipheriv } from 'node:crypto';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { tools } from '../helpers/fixtures.js';
import { startOrigin, type Origin } from '../helpers/http-origin.js';
import { PUBLISH_SLACK, serveFixture, startLiveOrigin, type LiveOrigin } from '../helpers/live-origin.js';
import { frameHashes } from '../helpers/media-check.js';
import {
  AES_IV1,
  CLIP_SIZE,
  packageFiles,
  STREAM_FIXTURES,
  streamFixture,
  type StreamFixture,
  type StreamFixtureName,
} from '../helpers/stream-fixtures.js';
import { scratchDir } from '../helpers/scratch.js';

const run = promisify(execFile);
const BIG = { maxBuffer: 256 << 20 };
const work = scratchDir('castkit-stream-fixtures-');
after(() => rmSync(work, { recursive: true, force: true }));

function whyNot(): string | undefined {
  try {
    const r = spawnSync(tools().ffmpeg.path, ['-hide_banner', '-encoders'], { encoding: 'utf8' });
    if (!/\blibx264\b/.test(r.stdout)) return `this ffmpeg (${tools().ffmpeg.path}) has no libx264 encoder`;
  } catch (err) {
    return `ffmpeg/ffprobe not found: ${(err as Error).message}`;
  }
  return undefined;
}
const skip = whyNot();
if (skip) console.log(`# stream fixture tests skipped: ${skip}`);

interface ProbedStream {
  index: number;
  codec_type: string;
  codec_name: string;
  profile?: string;
  level?: number;
  width?: number;
  height?: number;
  tags?: Record<string, string>;
}

async function probeStreams(input: string): Promise<ProbedStream[]> {
  const { stdout } = await run(
    tools().ffprobe.path,
    ['-v', 'error', '-show_streams', '-of', 'json', input],
    BIG,
  );
  const all = (JSON.parse(stdout) as { streams: ProbedStream[] }).streams;
  return [...new Map(all.map((s) => [s.index, s])).values()];
}

/** Packets ffprobe reads from one stream (only that one selected, so a demuxer loads only it). */
async function countPackets(input: string, index: number | string): Promise<number> {
  const { stdout } = await run(
    tools().ffprobe.path,
    [
      '-v',
      'error',
      '-select_streams',
      String(index),
      '-count_packets',
      '-show_entries',
      'stream=nb_read_packets',
      '-of',
      'csv=p=0',
      input,
    ],
    BIG,
  );
  const counts = stdout.split('\n').filter((l) => l.trim() !== '');
  assert.ok(counts.length > 0, `ffprobe counted no packets of stream ${index} of ${input}`);
  return Number(counts[0]);
}

/** Decoded-frame hashes of one stream. */
async function streamHashes(input: string, index: number, pre: string[] = []): Promise<string[]> {
  const { stdout } = await run(
    tools().ffmpeg.path,
    ['-v', 'error', ...pre, '-i', input, '-map', `0:${index}`, '-f', 'framemd5', '-'],
    BIG,
  );
  return stdout
    .split('\n')
    .filter((l) => l.trim() !== '' && !l.startsWith('#'))
    .map((l) => l.split(',')[5]?.trim() ?? '');
}

/** Everything ffmpeg says while reading every video and audio stream (stream copy). */
async function readMessages(input: string): Promise<string> {
  const { stderr } = await run(
    tools().ffmpeg.path,
    ['-v', 'error', '-i', input, '-map', '0:v?', '-map', '0:a?', '-c', 'copy', '-f', 'null', '-'],
    BIG,
  );
  return stderr.trim();
}

async function fetchBytes(url: string, range?: string): Promise<{ status: number; body: Buffer }> {
  const res = await fetch(url, range ? { headers: { range } } : {});
  return { status: res.status, body: Buffer.from(await res.arrayBuffer()) };
}

async function fetchText(url: string): Promise<string> {
  const r = await fetchBytes(url);
  assert.equal(r.status, 200, url);
  return r.body.toString('utf8');
}

function bestStream(streams: ProbedStream[]): ProbedStream {
  const best = streams.find((s) => s.codec_type === 'video' && s.width === CLIP_SIZE.width);
  assert.ok(best, `a ${CLIP_SIZE.width}x${CLIP_SIZE.height} video stream`);
  assert.equal(best.height, CLIP_SIZE.height);
  return best;
}

let clipCache: { video: number; audio: number; videoHashes: string[] } | undefined;
async function clipFacts(clip: string): Promise<NonNullable<typeof clipCache>> {
  clipCache ??= {
    video: await countPackets(clip, 'v:0'),
    audio: await countPackets(clip, 'a:0'),
    videoHashes: await streamHashes(clip, 0),
  };
  return clipCache;
}

/** HLS master: the attributes of each variant and its URI. */
function variants(master: string): { attrs: string; uri: string }[] {
  const lines = master.split('\n');
  const out: { attrs: string; uri: string }[] = [];
  lines.forEach((l, i) => {
    if (l.startsWith('#EXT-X-STREAM-INF:')) out.push({ attrs: l, uri: lines[i + 1] ?? '' });
  });
  return out;
}
const bandwidthOf = (attrs: string): number => Number(/[:,]BANDWIDTH=(\d+)/.exec(attrs)?.[1]);

describe('stream fixtures (VOD, read by ffmpeg over HTTP)', { skip }, () => {
  let origin: Origin;
  const fixtures = new Map<StreamFixtureName, StreamFixture>();
  const urls = new Map<StreamFixtureName, string>();

  before(async () => {
    origin = await startOrigin();
    for (const name of STREAM_FIXTURES) {
      const f = await streamFixture(name);
      fixtures.set(name, f);
      urls.set(name, serveFixture(origin, f, `/${name}`));
    }
  });
  after(() => origin?.close());

  const get = (name: StreamFixtureName): { f: StreamFixture; url: string } => {
    const f = fixtures.get(name);
    const url = urls.get(name);
    assert.ok(f && url);
    return { f, url };
  };

  // dash-list: ffmpeg 5.1's DASH demuxer cannot read SegmentURL@mediaRange ("missing template URL"); it is
  // judged by the byte ranges below instead.
  for (const name of STREAM_FIXTURES.filter((n) => n !== 'dash-list')) {
    it(`${name}: the best video stream carries the clip's packets and frames; audio complete`, async () => {
      const { f, url } = get(name);
      const clip = await clipFacts(f.clip);
      const streams = await probeStreams(url);
      const best = bestStream(streams);
      assert.equal(await countPackets(url, best.index), clip.video, 'video packets of the best stream');
      assert.deepEqual(await streamHashes(url, best.index), clip.videoHashes, 'decoded video frames');
      const audio = streams.filter((s) => s.codec_type === 'audio');
      assert.ok(audio.length > 0, 'an audio stream');
      for (const a of audio) assert.equal(await countPackets(url, a.index), clip.audio, `audio ${a.index}`);
      const messages = await readMessages(url);
      if (name === 'dash-number') {
        // ffmpeg's DASH demuxer asks for segment 11 of the video, past what @duration addresses, and logs
        // its 404. That is ffmpeg's over-reach, not the package's: nothing else may go wrong.
        assert.match(messages, /^(\[dash @ \w+\] Error when loading first fragment of playlist\s*)*$/);
        const files = new Set(packageFiles(f).map((p) => `/dash-number/${p}`));
        const missing = origin.log.filter((r) => !files.has(r.path) && r.path.startsWith('/dash-number/'));
        for (const r of missing) assert.match(r.path, /\/chunk-stream\d-0001[12]\.m4s$/, 'only past the end');
      } else {
        assert.equal(messages, '', 'ffmpeg reads it without a message');
      }
      assert.equal(f.videoSegments, 20 / f.segmentSeconds);
    });
  }

  it('HLS masters: BANDWIDTH/RESOLUTION/CODECS set, the highest BANDWIDTH is the clip copy', async () => {
    for (const name of ['hls-ts', 'hls-fmp4', 'hls-aes', 'hls-alt-audio'] as const) {
      const { f, url } = get(name);
      const list = variants(await fetchText(url));
      assert.ok(list.length >= 1, name);
      for (const v of list) {
        assert.match(v.attrs, /[:,]BANDWIDTH=\d+/);
        assert.match(v.attrs, /RESOLUTION=\d+x\d+/);
        assert.match(v.attrs, /CODECS="avc1\.[0-9a-f]{6},mp4a\.40\.2"/);
      }
      const best = list.reduce((a, b) => (bandwidthOf(b.attrs) > bandwidthOf(a.attrs) ? b : a));
      assert.match(best.attrs, new RegExp(`RESOLUTION=${CLIP_SIZE.width}x${CLIP_SIZE.height}`));
      // The CODECS profile/level agree with what ffprobe finds in the clip.
      const clip = (await probeStreams(f.clip)).find((s) => s.codec_type === 'video');
      const codec = /avc1\.([0-9a-f]{2})[0-9a-f]{2}([0-9a-f]{2})/.exec(best.attrs);
      assert.equal(clip?.profile, 'High');
      assert.equal(codec?.[1], '64', `${name}: profile_idc 100 (High)`);
      assert.equal(parseInt(codec?.[2] ?? '', 16), clip?.level, `${name}: level`);
      // The variant playlist it points at reads on its own and is the clip copy.
      const media = new URL(best.uri, url).href;
      const streams = await probeStreams(media);
      assert.equal(await countPackets(media, bestStream(streams).index), (await clipFacts(f.clip)).video);
    }
    // hls-ts lists the low rendition first: the first variant is not the best.
    const ts = variants(await fetchText(get('hls-ts').url));
    assert.match(ts[0]?.attrs ?? '', /RESOLUTION=320x180/);
  });

  it('every HLS segment starts with a keyframe and lasts the nominal duration', async () => {
    const { f, url } = get('hls-ts');
    const media = new URL('v0/index.m3u8', url).href;
    const text = await fetchText(media);
    const segs = text.split('\n').filter((l) => l.endsWith('.ts'));
    assert.equal(segs.length, f.videoSegments);
    for (const s of segs) {
      const segUrl = new URL(s, media).href;
      const { stdout } = await run(tools().ffprobe.path, [
        '-v',
        'error',
        '-select_streams',
        'v:0',
        '-show_entries',
        'packet=flags',
        '-of',
        'csv=p=0',
        segUrl,
      ]);
      const flags = stdout.split('\n').filter((l) => l !== '');
      assert.equal(flags.length, f.segmentSeconds * 25, `${s}: frames`);
      assert.match(flags[0] ?? '', /^K/, `${s} starts with a keyframe`);
      assert.equal(flags.filter((l) => l.startsWith('K')).length, 1, `${s}: one keyframe`);
    }
  });

  it('hls-aes: two keys, explicit IV then the media-sequence IV, from sequence 7; clear text matches', async () => {
    const { f, url } = get('hls-aes');
    const mediaUrl = new URL('v0/index.m3u8', url).href;
    const text = await fetchText(mediaUrl);
    assert.match(text, /#EXT-X-MEDIA-SEQUENCE:7\n/);
    const keyTags = text.split('\n').filter((l) => l.startsWith('#EXT-X-KEY:'));
    assert.equal(keyTags.length, 2);
    assert.match(keyTags[0] ?? '', /URI="\.\.\/keys\/k1\.key",IV=0x[0-9a-f]{32}$/);
    assert.match(keyTags[1] ?? '', /URI="\.\.\/keys\/k2\.key"$/);
    assert.ok(f.keys && f.clear);
    let sequence = 7;
    let key: Buffer | undefined;
    let iv: Buffer | undefined;
    let checked = 0;
    for (const line of text.split('\n')) {
      if (line.startsWith('#EXT-X-KEY:')) {
        const uri = /URI="([^"]+)"/.exec(line)?.[1] ?? '';
        const served = await fetchBytes(new URL(uri, mediaUrl).href);
        assert.equal(served.status, 200);
        key = served.body;
        assert.equal(key.length, 16);
        assert.deepEqual(key, f.keys[new URL(uri, mediaUrl).pathname.replace('/hls-aes/', '')]);
        const hex = /IV=0x([0-9a-f]+)/.exec(line)?.[1];
        iv = hex ? Buffer.from(hex, 'hex') : undefined;
      } else if (line.endsWith('.ts')) {
        assert.ok(key);
        const seqIv = Buffer.alloc(16);
        seqIv.writeUInt32BE(sequence, 12);
        const rightIv = iv ?? seqIv;
        const wrongIv = iv ? seqIv : AES_IV1;
        const { body } = await fetchBytes(new URL(line, mediaUrl).href);
        const decrypt = (v: Buffer): Buffer => {
          const d = createDecipheriv('aes-128-cbc', key!, v);
          return Buffer.concat([d.update(body), d.final()]);
        };
        const clearText: Buffer = readFileSync(f.clear[`v0/${line}`] ?? '');
        const plain = decrypt(rightIv);
        assert.deepEqual(plain, clearText, `${line} decrypts to its clear text`);
        assert.equal(plain[0], 0x47, 'a TS sync byte first');
        // A wrong IV derivation garbles the first block: the fixture can tell them apart.
        assert.notDeepEqual(decrypt(wrongIv).subarray(0, 16), clearText.subarray(0, 16));
        checked++;
        sequence++;
      }
    }
    assert.equal(checked, f.videoSegments);
  });

  it('hls-byterange: one .ts file, every segment a byte range of it, ranges contiguous', async () => {
    const { f, url } = get('hls-byterange');
    const text = await fetchText(url);
    assert.doesNotMatch(text, /#EXT-X-STREAM-INF/, 'the entry is the media playlist');
    const ranges = [...text.matchAll(/#EXT-X-BYTERANGE:(\d+)@(\d+)\n(.+)/g)];
    assert.equal(ranges.length, f.videoSegments);
    let next = 0;
    for (const [, len, off, uri] of ranges) {
      assert.equal(uri, 'media.ts');
      assert.equal(Number(off), next);
      next += Number(len);
      const r = await fetchBytes(new URL('media.ts', url).href, `bytes=${off}-${next - 1}`);
      assert.equal(r.status, 206);
      assert.equal(r.body[0], 0x47, 'a range starts on a TS packet');
      assert.equal(r.body.length % 188, 0);
    }
    const whole = await fetchBytes(new URL('media.ts', url).href);
    assert.equal(whole.body.length, next, 'the ranges cover the file');
  });

  it("hls-alt-audio: video-only variants, 'en' (default) is the clip's audio, 'de' is another tone", async () => {
    const { f, url } = get('hls-alt-audio');
    const master = await fetchText(url);
    const media = master.split('\n').filter((l) => l.startsWith('#EXT-X-MEDIA:'));
    assert.equal(media.length, 2);
    assert.match(
      media[0] ?? '',
      /TYPE=AUDIO,GROUP-ID="aac",.*LANGUAGE="en",DEFAULT=YES.*URI="audio\/en\/index\.m3u8"/,
    );
    assert.match(
      media[1] ?? '',
      /TYPE=AUDIO,GROUP-ID="aac",.*LANGUAGE="de",DEFAULT=NO.*URI="audio\/de\/index\.m3u8"/,
    );
    for (const v of variants(master)) {
      assert.match(v.attrs, /AUDIO="aac"/);
      const types = (await probeStreams(new URL(v.uri, url).href)).map((s) => s.codec_type);
      assert.deepEqual(types, ['video'], `${v.uri} has no audio of its own`);
    }
    assert.ok(f.audioTracks?.en && f.audioTracks.de);
    assert.equal(f.audioTracks.en, f.clip);
    assert.equal(f.audioClip, undefined, "the default rendition is clip's audio");
    const hashes: Record<string, string[]> = {};
    for (const lang of ['en', 'de'] as const) {
      const playlist = new URL(`audio/${lang}/index.m3u8`, url).href;
      const streams = await probeStreams(playlist);
      assert.deepEqual(
        streams.map((s) => s.codec_type),
        ['audio'],
      );
      // TS has no edit list: compare with the source's every decoded frame, priming included.
      const got = await frameHashes(playlist);
      const want = await frameHashes(f.audioTracks[lang] ?? '', { ignoreEditList: true });
      assert.equal(got.audio.length, want.audio.length, `${lang} audio frames`);
      assert.deepEqual(got.audio, want.audio, `${lang} decodes to its source's frames`);
      hashes[lang] = got.audio;
    }
    assert.notDeepEqual(hashes.en?.slice(5, 10), hashes.de?.slice(5, 10), 'en and de differ');
    // ffmpeg's HLS demuxer sees both renditions with their languages.
    const all = await probeStreams(url);
    const langs = all.filter((s) => s.codec_type === 'audio').map((s) => s.tags?.language);
    assert.deepEqual(langs.sort(), ['de', 'en']);
  });

  /** init + the given byte ranges of one file, fetched over HTTP, as one MP4 on disk. */
  async function assemble(fileUrl: string, ranges: [number, number][], out: string): Promise<string> {
    const parts: Buffer[] = [];
    for (const [a, b] of ranges) {
      const r = await fetchBytes(fileUrl, `bytes=${a}-${b}`);
      assert.equal(r.status, 206);
      assert.equal(r.body.length, b - a + 1);
      parts.push(r.body);
    }
    const path = join(work, out);
    writeFileSync(path, Buffer.concat(parts));
    return path;
  }

  const parseRange = (s: string | undefined): [number, number] => {
    const m = /^(\d+)-(\d+)$/.exec(s ?? '');
    assert.ok(m, `a byte range: ${s}`);
    return [Number(m[1]), Number(m[2])];
  };

  /** The Representation of the clip copy (640 wide) in an MPD. */
  const bestRep = (mpd: string): string => {
    const rep = [...mpd.matchAll(/<Representation\s[^>]*>[\s\S]*?<\/Representation>/g)]
      .map((m) => m[0])
      .find((r) => r.includes(`width="${CLIP_SIZE.width}"`));
    assert.ok(rep);
    return rep;
  };

  it('dash-list: Initialization range + every SegmentURL@mediaRange rebuild the clip copy', async () => {
    const { f, url } = get('dash-list');
    const mpd = await fetchText(url);
    assert.match(mpd, /type="static"/);
    const rep = bestRep(mpd);
    const base = /<BaseURL>([^<]+)<\/BaseURL>/.exec(rep)?.[1] ?? '';
    const init = parseRange(/<Initialization range="([^"]+)"/.exec(rep)?.[1]);
    const media = [...rep.matchAll(/<SegmentURL mediaRange="([^"]+)"(?: indexRange="([^"]+)")?/g)];
    assert.equal(media.length, f.videoSegments);
    let next = init[1] + 1;
    for (const [, range, index] of media) {
      const r = parseRange(range);
      assert.equal(r[0], next, 'segments are contiguous');
      next = r[1] + 1;
      if (index) assert.equal(parseRange(index)[0], r[0], 'each segment starts with its sidx');
    }
    const path = await assemble(
      new URL(base, url).href,
      [init, ...media.map((m) => parseRange(m[1]))],
      'dash-list.mp4',
    );
    const clip = await clipFacts(f.clip);
    assert.equal(await countPackets(path, 'v:0'), clip.video);
    assert.deepEqual(await streamHashes(path, 0), clip.videoHashes);
  });

  it('dash-base: SegmentBase indexRange is a sidx whose references rebuild the clip copy', async () => {
    const { f, url } = get('dash-base');
    const mpd = await fetchText(url);
    assert.match(mpd, /profiles="urn:mpeg:dash:profile:isoff-on-demand:2011"/);
    assert.doesNotMatch(mpd, /SegmentList|SegmentTemplate/);
    const clip = await clipFacts(f.clip);
    for (const rep of [...mpd.matchAll(/<Representation\s[^>]*>[\s\S]*?<\/Representation>/g)].map(
      (m) => m[0],
    )) {
      const fileUrl = new URL(/<BaseURL>([^<]+)<\/BaseURL>/.exec(rep)?.[1] ?? '', url).href;
      const index = parseRange(/<SegmentBase[^>]*indexRange="([^"]+)"/.exec(rep)?.[1]);
      const init = parseRange(/<Initialization range="([^"]+)"/.exec(rep)?.[1]);
      assert.equal(init[0], 0);
      assert.equal(init[1] + 1, index[0], 'the index follows the initialization');
      const sidx = (await fetchBytes(fileUrl, `bytes=${index[0]}-${index[1]}`)).body;
      assert.equal(sidx.toString('latin1', 4, 8), 'sidx');
      assert.equal(sidx.readUInt32BE(0), sidx.length, 'indexRange is exactly the sidx box');
      const version = sidx[8];
      let at = 20;
      const firstOffset = version === 0 ? sidx.readUInt32BE(at + 4) : Number(sidx.readBigUInt64BE(at + 8));
      at += version === 0 ? 8 : 16;
      const count = sidx.readUInt16BE(at + 2);
      at += 4;
      const ranges: [number, number][] = [init];
      let start = index[1] + 1 + firstOffset;
      for (let i = 0; i < count; i++) {
        const size = sidx.readUInt32BE(at + 12 * i) & 0x7fffffff;
        ranges.push([start, start + size - 1]);
        start += size;
      }
      const path = await assemble(fileUrl, ranges, `dash-base-${ranges.length}-${init[1]}.mp4`);
      if (rep.includes(`width="${CLIP_SIZE.width}"`)) {
        assert.equal(count, f.videoSegments);
        assert.equal(await countPackets(path, 'v:0'), clip.video);
        assert.deepEqual(await streamHashes(path, 0), clip.videoHashes);
      } else if (rep.includes('audio/mp4')) {
        assert.equal(await countPackets(path, 'a:0'), clip.audio);
      } else {
        assert.equal(await countPackets(path, 'v:0'), clip.video);
      }
    }
  });

  it('dash-timeline and dash-number: separate video and audio AdaptationSets, the expected addressing', async () => {
    const timeline = await fetchText(get('dash-timeline').url);
    const number = await fetchText(get('dash-number').url);
    for (const mpd of [timeline, number]) {
      const sets = [...mpd.matchAll(/<AdaptationSet\s[^>]*contentType="(\w+)"/g)].map((m) => m[1]);
      assert.deepEqual(sets, ['video', 'audio']);
      assert.match(mpd, /media="chunk-stream\$RepresentationID\$-\$Number%05d\$\.m4s"/);
    }
    assert.equal((timeline.match(/<SegmentTimeline>/g) ?? []).length, 3);
    assert.match(bestRep(timeline), /<S t="0" d="25600" r="9" \/>/);
    assert.doesNotMatch(number, /SegmentTimeline/);
    assert.match(bestRep(number), /<SegmentTemplate timescale="1000000" duration="2000000"/);
  });
});

/** An HLS media playlist's window: first sequence number, segment URIs, ENDLIST. */
function hlsWindow(text: string): { sequence: number; uris: string[]; ended: boolean } {
  return {
    sequence: Number(/#EXT-X-MEDIA-SEQUENCE:(\d+)/.exec(text)?.[1]),
    uris: text.split('\n').filter((l) => l !== '' && !l.startsWith('#')),
    ended: text.includes('#EXT-X-ENDLIST'),
  };
}

/** Resolves when `cond` holds (polled). */
async function until(cond: () => boolean, what: string, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** A segment request answers 404 when it was not yet published, 200 when it was. */
async function assertGated(live: LiveOrigin, url: string, index: number): Promise<number> {
  const before = live.publishedSegments();
  const { status } = await fetchBytes(url);
  const after = live.publishedSegments();
  if (after <= index) assert.equal(status, 404, `${url} is not published yet`);
  if (before > index) assert.equal(status, 200, `${url} is published`);
  return status;
}

describe('live origin', { skip }, () => {
  it('HLS: the window slides, the media sequence advances, future segments 404, then ENDLIST', async () => {
    const f = await streamFixture('hls-ts');
    const live = await startLiveOrigin(f, { window: 4, initial: 2, speed: 10 });
    try {
      assert.equal(await fetchText(live.url), readFileSync(join(f.dir, f.entry), 'utf8'), 'the master as is');
      const media = new URL('v0/index.m3u8', live.url).href;
      const first = hlsWindow(await fetchText(media));
      assert.equal(first.sequence, 0);
      assert.deepEqual(first.uris, ['seg_000.ts', 'seg_001.ts']);
      assert.equal(first.ended, false);
      assert.equal(await assertGated(live, new URL('seg_009.ts', media).href, 9), 404);
      assert.equal((await fetchBytes(new URL('seg_000.ts', media).href)).status, 200);
      // The low variant publishes on the same clock.
      const low = hlsWindow(await fetchText(new URL('v1/index.m3u8', live.url).href));
      assert.ok(low.uris.length >= 2 && low.sequence === 0);

      await until(() => live.publishedSegments() >= 7, '7 segments');
      const second = hlsWindow(await fetchText(media));
      assert.equal(second.uris.length, 4, 'a full window');
      assert.ok(second.sequence >= 3, `the window moved: sequence ${second.sequence}`);
      assert.equal(second.uris[0], `seg_${String(second.sequence).padStart(3, '0')}.ts`);
      assert.equal(second.ended, false);
      for (const u of second.uris) assert.equal((await fetchBytes(new URL(u, media).href)).status, 200, u);

      await live.done;
      assert.equal(live.publishedSegments(), f.videoSegments);
      const last = hlsWindow(await fetchText(media));
      assert.equal(last.ended, true, 'EXT-X-ENDLIST once everything is published');
      assert.equal(last.sequence, f.videoSegments - 4);
      assert.deepEqual(last.uris, ['seg_006.ts', 'seg_007.ts', 'seg_008.ts', 'seg_009.ts']);
      assert.equal((await fetchBytes(new URL('seg_000.ts', media).href)).status, 200, 'kept like a CDN');
    } finally {
      await live.close();
    }
  });

  it('HLS: fMP4 keeps its EXT-X-MAP, AES its keys (404 until used), alt-audio playlists all move', async () => {
    for (const name of ['hls-fmp4', 'hls-aes', 'hls-alt-audio', 'hls-byterange'] as const) {
      const f = await streamFixture(name);
      const live = await startLiveOrigin(f, { window: 3, initial: 1, speed: 20, keepExpired: false });
      try {
        const entry = await fetchText(live.url);
        const playlists = entry.includes('#EXTINF')
          ? [live.url]
          : [
              ...variants(entry).map((v) => v.uri),
              ...[...entry.matchAll(/URI="([^"]+)"/g)].map((m) => m[1] ?? ''),
            ].map((u) => new URL(u, live.url).href);
        for (const p of playlists) {
          const text = await fetchText(p);
          const w = hlsWindow(text);
          assert.equal(w.ended, false, p);
          assert.equal(w.sequence, name === 'hls-aes' ? 7 : 0);
          assert.ok(w.uris.length >= 1, `${p} lists the first segment from the start`);
          if (name === 'hls-fmp4') assert.match(text, /#EXT-X-MAP:URI="init\.mp4"\n/);
          if (name === 'hls-aes')
            assert.match(text, /#EXT-X-KEY:METHOD=AES-128,URI="\.\.\/keys\/k1\.key",IV=0x/);
          if (name === 'hls-byterange') assert.match(text, /#EXT-X-BYTERANGE:\d+@0\n/);
        }
        if (name === 'hls-aes') {
          // k2 is only used by the second half.
          assert.equal((await fetchBytes(new URL('keys/k2.key', live.url).href)).status, 404);
          assert.equal((await fetchBytes(new URL('keys/k1.key', live.url).href)).status, 200);
        }
        await live.done;
        for (const p of playlists) {
          const text = await fetchText(p);
          const w = hlsWindow(text);
          assert.equal(w.ended, true, p);
          assert.equal(w.uris.length, 3, p);
          if (name === 'hls-aes') {
            // The key in force is re-stated at the top of the window: k2, with no IV.
            assert.match(text, /#EXT-X-KEY:METHOD=AES-128,URI="\.\.\/keys\/k2\.key"\n/);
            assert.doesNotMatch(text, /k1\.key/);
            assert.equal(w.sequence, 7 + f.videoSegments - 3);
          }
          if (name === 'hls-byterange') assert.match(text, /#EXT-X-BYTERANGE:\d+@[1-9]\d*\n/);
        }
        if (name === 'hls-fmp4') {
          // keepExpired false: a segment that left the window is gone, the init section stays.
          assert.equal((await fetchBytes(new URL('hi/seg_000.m4s', live.url).href)).status, 404);
          assert.equal((await fetchBytes(new URL('hi/init.mp4', live.url).href)).status, 200);
          assert.equal((await fetchBytes(new URL('hi/seg_009.m4s', live.url).href)).status, 200);
        }
      } finally {
        await live.close();
      }
    }
  });

  it('HLS: ffmpeg records the live stream from the window start to ENDLIST, every frame', async () => {
    const f = await streamFixture('hls-ts', { segmentSeconds: 1, seconds: 8 });
    assert.equal(f.videoSegments, 8);
    const live = await startLiveOrigin(f, { window: 6, initial: 2, speed: 2 });
    try {
      const best = variants(await fetchText(live.url)).reduce((a, b) =>
        bandwidthOf(b.attrs) > bandwidthOf(a.attrs) ? b : a,
      );
      const out = join(work, 'live-recorded.ts');
      await run(
        tools().ffmpeg.path,
        [
          '-v',
          'error',
          '-live_start_index',
          '0',
          '-i',
          new URL(best.uri, live.url).href,
          '-map',
          '0',
          '-c',
          'copy',
          '-f',
          'mpegts',
          '-y',
          out,
        ],
        { ...BIG, timeout: 30_000 },
      );
      assert.equal(live.ended(), true, 'ffmpeg stopped by itself at EXT-X-ENDLIST');
      const clip = await countPackets(f.clip, 'v:0');
      assert.equal(await countPackets(out, 'v:0'), clip, 'every video packet');
      assert.deepEqual(await streamHashes(out, 0), await streamHashes(f.clip, 0), 'every frame');
    } finally {
      await live.close();
    }
  });

  const mpdAttr = (mpd: string, name: string): string | undefined =>
    new RegExp(`<MPD\\b[^>]*\\s${name}="([^"]*)"`).exec(mpd)?.[1];

  /** The best video Representation's startNumber and S list in a (timeline) MPD. */
  function timelineOf(mpd: string): { startNumber: number; segments: [number, number][] } {
    const rep = [...mpd.matchAll(/<Representation\s[^>]*>[\s\S]*?<\/Representation>/g)]
      .map((m) => m[0])
      .find((r) => r.includes(`width="${CLIP_SIZE.width}"`));
    assert.ok(rep);
    const segments: [number, number][] = [];
    let t = 0;
    for (const s of rep.matchAll(/<S\s([^>]*)\/>/g)) {
      const a = s[1] ?? '';
      const st = /\bt="(\d+)"/.exec(a)?.[1];
      if (st !== undefined) t = Number(st);
      const d = Number(/\bd="(\d+)"/.exec(a)?.[1]);
      const r = Number(/\br="(\d+)"/.exec(a)?.[1] ?? 0);
      for (let i = 0; i <= r; i++, t += d) segments.push([t, d]);
    }
    return { startNumber: Number(/startNumber="(\d+)"/.exec(rep)?.[1]), segments };
  }

  const chunk = (rep: number, n: number): string => `chunk-stream${rep}-${String(n).padStart(5, '0')}.m4s`;

  it('DASH timeline: dynamic MPD with a sliding SegmentTimeline, 404 before availability, static at the end', async () => {
    const f = await streamFixture('dash-timeline');
    const live = await startLiveOrigin(f, { window: 4, initial: 2, speed: 10 });
    try {
      const first = await fetchText(live.url);
      assert.equal(mpdAttr(first, 'type'), 'dynamic');
      assert.equal(mpdAttr(first, 'mediaPresentationDuration'), undefined);
      assert.equal(mpdAttr(first, 'timeShiftBufferDepth'), 'PT8S');
      assert.equal(mpdAttr(first, 'minimumUpdatePeriod'), 'PT0.2S');
      assert.match(
        first,
        /<UTCTiming schemeIdUri="urn:mpeg:dash:utc:http-iso:2014" value="http:\/\/127\.0\.0\.1:\d+\/live\/utc" \/>/,
      );
      const ast = Date.parse(mpdAttr(first, 'availabilityStartTime') ?? '');
      const published = Date.parse(mpdAttr(first, 'publishTime') ?? '');
      // publishTime - availabilityStartTime is the live edge: the initial 4 s, and a little.
      const edge = (published - ast) / 1000;
      assert.ok(edge >= 4 && edge < 6, `edge ${edge}`);
      const t1 = timelineOf(first);
      assert.equal(t1.startNumber, 1);
      assert.deepEqual(t1.segments, [
        [0, 25600],
        [25600, 25600],
      ]);
      // Every listed segment ends at or before the edge; the next one after it.
      const utc = Date.parse(await fetchText(new URL('utc', live.url).href));
      assert.ok(utc >= published, 'the UTCTiming clock runs on');
      assert.equal(await assertGated(live, new URL(chunk(1, 10), live.url).href, 9), 404);
      assert.equal((await fetchBytes(new URL(chunk(1, 1), live.url).href)).status, 200);
      assert.equal((await fetchBytes(new URL('init-stream1.m4s', live.url).href)).status, 200);

      await until(() => live.publishedSegments() >= 7, '7 segments');
      const second = await fetchText(live.url);
      const t2 = timelineOf(second);
      assert.equal(t2.segments.length, 4, 'the window');
      assert.ok(t2.startNumber >= 4, `startNumber moved: ${t2.startNumber}`);
      assert.equal(t2.segments[0]?.[0], (t2.startNumber - 1) * 25600, 'S@t of the first segment');
      const edge2 = (Date.parse(mpdAttr(second, 'publishTime') ?? '') - ast) / 1000;
      const lastEnd = ((t2.segments.at(-1)?.[0] ?? 0) + 25600) / 12800;
      assert.ok(
        lastEnd <= edge2 + PUBLISH_SLACK + 0.01 && lastEnd + 2 > edge2 - 0.5,
        `last end ${lastEnd}, edge ${edge2}`,
      );
      for (let i = 0; i < 4; i++) {
        const r = await fetchBytes(new URL(chunk(1, t2.startNumber + i), live.url).href);
        assert.equal(r.status, 200);
      }
      // Audio has its own timeline on the same clock.
      assert.match(
        second,
        /<Representation id="2"[\s\S]*?<SegmentTemplate[^>]*startNumber="\d+"[\s\S]*?<S t="\d+"/,
      );

      await live.done;
      const last = await fetchText(live.url);
      assert.equal(mpdAttr(last, 'type'), 'static');
      assert.equal(mpdAttr(last, 'mediaPresentationDuration'), 'PT20.0S');
      assert.equal(mpdAttr(last, 'minimumUpdatePeriod'), undefined);
      assert.equal(last, readFileSync(join(f.dir, f.entry), 'utf8'), 'the on-demand MPD');
    } finally {
      await live.close();
    }
  });

  it("DASH number: $Number$ + @duration unchanged, segments 404 until their end time; dashEnd 'dynamic'", async () => {
    const f = await streamFixture('dash-number');
    const live = await startLiveOrigin(f, { window: 3, initial: 2, speed: 20, dashEnd: 'dynamic' });
    try {
      const first = await fetchText(live.url);
      assert.equal(mpdAttr(first, 'type'), 'dynamic');
      assert.match(first, /<SegmentTemplate timescale="1000000" duration="2000000"[^>]*startNumber="1"/);
      assert.equal((await fetchBytes(new URL(chunk(1, 2), live.url).href)).status, 200);
      assert.equal(await assertGated(live, new URL(chunk(1, 10), live.url).href, 9), 404);
      await live.done;
      const last = await fetchText(live.url);
      assert.equal(mpdAttr(last, 'type'), 'dynamic');
      assert.equal(mpdAttr(last, 'mediaPresentationDuration'), 'PT20S');
      assert.equal(mpdAttr(last, 'minimumUpdatePeriod'), undefined, 'no more updates');
      assert.equal((await fetchBytes(new URL(chunk(1, 10), live.url).href)).status, 200);
      assert.equal((await fetchBytes(new URL(chunk(2, 11), live.url).href)).status, 200);
    } finally {
      await live.close();
    }
  });

  it("DASH timeline, dashEnd 'dynamic': the window stays a window, with the duration and no updates", async () => {
    const f = await streamFixture('dash-timeline');
    const live = await startLiveOrigin(f, { window: 3, initial: 3, speed: 40, dashEnd: 'dynamic' });
    try {
      assert.equal(timelineOf(await fetchText(live.url)).segments.length, 3);
      await live.done;
      const last = await fetchText(live.url);
      assert.equal(mpdAttr(last, 'type'), 'dynamic');
      assert.equal(mpdAttr(last, 'minimumUpdatePeriod'), undefined);
      assert.ok(mpdAttr(last, 'mediaPresentationDuration'));
      const t = timelineOf(last);
      assert.equal(t.startNumber, 8);
      assert.deepEqual(
        t.segments.map(([s]) => s),
        [7, 8, 9].map((i) => i * 25600),
      );
    } finally {
      await live.close();
    }
  });
});
