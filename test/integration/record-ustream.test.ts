import assert from 'node:assert/strict';
import childProcess from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { syncBuiltinESMExports } from 'node:module';
import { after, before, describe, it } from 'node:test';
import {
  listUstream,
  parseRegistration,
  recordUstream,
  recordUstreamAll,
  ustreamOutputPath,
  type UstreamRecordOptions,
} from '../../src/api/record-ustream.js';
import type { RecordResult } from '../../src/api/record-types.js';
import { isCastkitError, type CastkitError } from '../../src/core/errors.js';
import { journalPathFor } from '../../src/download/journal.js';
import { chunkUrl, hashFor, joinChunkUrl, keySpacing } from '../../src/sources/ustream/ustream-chunks.js';
import { parseUmsText, umsEvents, connectMessage } from '../../src/sources/ustream/ums-protocol.js';
import { channelIdFromPage, idsFromUrl, isUstreamUrl } from '../../src/sources/ustream/ustream-url.js';
import { startOrigin, type Origin } from '../helpers/http-origin.js';
import { serveFixture } from '../helpers/live-origin.js';
import { decodeMessages, frameHashes, packets } from '../helpers/media-check.js';
import { streamFixture } from '../helpers/stream-fixtures.js';
import {
  startUstreamEmulator,
  ustreamFixture,
  type UstreamEmulator,
  type UstreamEmulatorOptions,
  type UstreamFixture,
} from '../helpers/ustream-emulator.js';
import { scratchDir } from '../helpers/scratch.js';

const dir = scratchDir('castkit-ustream-');
after(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
const outPath = (ext = '.mp4'): string => join(dir, `rec-${n++}${ext}`);
const FAST_RETRY = { baseMs: 10, capMs: 100, maxAttempts: 4 };
const VIDEO = '98765432';

const hashCache = new Map<string, Promise<{ video: string[]; audio: string[] }>>();
const clipHashes = (path: string): Promise<{ video: string[]; audio: string[] }> => {
  let p = hashCache.get(path);
  if (!p) {
    p = frameHashes(path, { ignoreEditList: true });
    hashCache.set(path, p);
  }
  return p;
};

/** Decodes cleanly, and its video (and audio) frames are the clip's, in order. */
async function assertFramesOf(
  output: string,
  clip: string,
  o: { videoFrames?: number; audio?: boolean } = {},
): Promise<void> {
  assert.equal(await decodeMessages(output), '', 'ffmpeg decodes the recording without a message');
  const [got, want] = await Promise.all([
    frameHashes(output, { ignoreEditList: /\.(mp4|m4a)$/.test(output) }),
    clipHashes(clip),
  ]);
  const wantVideo = o.videoFrames !== undefined ? want.video.slice(0, o.videoFrames) : want.video;
  assert.equal(got.video.length, wantVideo.length, 'video frame count');
  assert.deepEqual(got.video, wantVideo, 'decoded video frames equal the clip');
  if (o.audio !== false && o.videoFrames === undefined) {
    assert.equal(got.audio.length, want.audio.length, 'audio frame count');
    assert.deepEqual(got.audio, want.audio, 'decoded audio frames equal the clip');
  } else {
    assert.ok(got.audio.length > 0, 'the recording has audio');
  }
}

/** FLV tags walked here (not by castkit's reader): script tag names, and the A/V timestamps per type. */
function flvTags(path: string): { scripts: string[]; video: number[]; audio: number[]; duration?: number } {
  const b = readFileSync(path);
  const out: { scripts: string[]; video: number[]; audio: number[]; duration?: number } = {
    scripts: [],
    video: [],
    audio: [],
  };
  let at = b.readUInt32BE(5) + 4;
  while (at + 11 <= b.length) {
    const type = b[at]! & 0x1f;
    const size = b.readUIntBE(at + 1, 3);
    const ts = (b.readUIntBE(at + 4, 3) | (b[at + 7]! << 24)) >>> 0;
    const body = b.subarray(at + 11, at + 11 + size);
    if (type === 18) {
      // AMF0 string marker 2, u16 length, name
      const name = body[0] === 2 ? body.subarray(3, 3 + body.readUInt16BE(1)).toString('latin1') : '?';
      out.scripts.push(name);
      if (name === 'onMetaData') {
        const i = body.indexOf(Buffer.from('\x00\x08duration\x00', 'latin1'));
        if (i >= 0) out.duration = body.readDoubleBE(i + 11);
      }
    } else if (type === 9) out.video.push(ts);
    else if (type === 8) out.audio.push(ts);
    assert.equal(b.readUInt32BE(at + 11 + size), 11 + size, `PreviousTagSize after the tag at ${at}`);
    at += 11 + size + 4;
  }
  assert.equal(at, b.length, 'the FLV ends at a tag boundary');
  return out;
}

/**
 * How long the clip's media lasts: the longest track's packet durations added up, every packet counted (its
 * MP4 edit list trims the AAC priming, which FLV cannot say, so the FLV of it lasts that long too).
 */
async function mediaSeconds(clip: string): Promise<number> {
  const sum = { video: 0, audio: 0 } as Record<string, number>;
  for (const p of await packets(clip)) sum[p.type] = (sum[p.type] ?? 0) + p.duration;
  return Math.max(sum.video ?? 0, sum.audio ?? 0);
}

const monotonic = (ts: number[]): boolean => ts.every((t, i) => i === 0 || t >= (ts[i - 1] as number));

/** Runs `fn` with every child_process spawn counted (and refused): the ustream path must start no ffmpeg. */
async function withoutChildProcesses<T>(fn: () => Promise<T>): Promise<{ value: T; spawned: string[] }> {
  const cp = childProcess as unknown as Record<string, unknown>;
  const names = ['spawn', 'spawnSync', 'execFile', 'execFileSync', 'exec', 'execSync', 'fork'];
  const saved = names.map((n) => cp[n]);
  const spawned: string[] = [];
  for (const n of names) {
    cp[n] = (file: unknown): never => {
      spawned.push(`${n} ${String(file)}`);
      throw new Error(`${n} ${String(file)} during a ustream recording`);
    };
  }
  syncBuiltinESMExports();
  try {
    return { value: await fn(), spawned };
  } finally {
    names.forEach((n, i) => (cp[n] = saved[i]));
    syncBuiltinESMExports();
  }
}

async function rejects(p: Promise<unknown>): Promise<CastkitError> {
  try {
    await p;
  } catch (err) {
    assert.ok(isCastkitError(err), `a CastkitError, not ${String(err)}`);
    return err;
  }
  assert.fail('expected a failure');
}

describe('ustream: URLs, hashes and messages', () => {
  it('finds ids in the URL shapes and the meta tag', () => {
    assert.deepEqual(idsFromUrl('https://www.ustream.tv/channel/id/123'), { channelId: '123' });
    assert.deepEqual(idsFromUrl('https://www.ustream.tv/channel/456'), { channelId: '456' });
    assert.deepEqual(idsFromUrl('https://www.ustream.tv/channel/curJSsZFUUu'), {});
    assert.deepEqual(idsFromUrl('https://ustream.tv/embed/789'), { channelId: '789' });
    assert.deepEqual(idsFromUrl('https://video.ibm.com/recorded/111'), { videoId: '111' });
    assert.deepEqual(idsFromUrl('https://video.ibm.com/embed/recorded/222'), { videoId: '222' });
    assert.deepEqual(idsFromUrl('https://video.ibm.com/combined-embed/33/video/44'), {
      channelId: '33',
      videoId: '44',
    });
    assert.ok(isUstreamUrl('https://www.ustream.tv/channel/x'));
    assert.ok(isUstreamUrl('https://video.ibm.com/recorded/1'));
    assert.ok(!isUstreamUrl('https://example.com/channel/1'));
    assert.ok(!isUstreamUrl('https://notustream.tv/channel/1'));
    assert.equal(channelIdFromPage(`<head><meta content='9876' name="ustream:channel_id" /></head>`), '9876');
    assert.equal(channelIdFromPage('<meta name="ustream:channel_id" content="12">'), '12');
    assert.equal(channelIdFromPage('<meta name="other" content="12">'), undefined);
  });

  it('builds the spec example chunk URL: the hash under the largest key <= n, one slash between parts', () => {
    const hashes: [number, string][] = [
      [0, 'a1b2c3d4e5'],
      [10, '0f1e2d3c4b'],
      [20, '99aa88bb77'],
    ];
    const fmt = { chunkTime: 5000, chunkId: 0, hashes, path: 'sjc01/rec/98765432/plain/uhs/', streams: [] };
    assert.equal(
      chunkUrl('https://vod-cdn.ustream.tv/', fmt, '2/1/chunk_%_%.flv', 13),
      'https://vod-cdn.ustream.tv/sjc01/rec/98765432/plain/uhs/2/1/chunk_13_0f1e2d3c4b.flv',
    );
    assert.equal(hashFor(hashes, 9), 'a1b2c3d4e5');
    assert.equal(hashFor(hashes, 29), '99aa88bb77');
    assert.equal(hashFor([[5, 'x']], 4), undefined);
    assert.equal(keySpacing(hashes), 10);
    assert.equal(joinChunkUrl('http://h:1/cdn/', '/a//b/', '2/c.flv'), 'http://h:1/cdn/a/b/2/c.flv');
  });

  it('reads UMS frames tolerantly: empty or missing args, junk, unknown commands, arrays', () => {
    assert.deepEqual(parseUmsText('not json'), []);
    assert.deepEqual(parseUmsText('{"args":[]}'), []);
    const [empty] = parseUmsText('{"cmd":"moduleInfo","args":[]}');
    assert.deepEqual(umsEvents(empty!), []);
    const [missing] = parseUmsText('{"cmd":"moduleInfo"}');
    assert.deepEqual(umsEvents(missing!), []);
    const list = parseUmsText(
      '[{"cmd":"tracking","args":[{"host":"h","connectionId":"c1"}]},{"cmd":"x","args":[1]}]',
    );
    assert.equal(list.length, 2);
    assert.deepEqual(umsEvents(list[0]!), [{ type: 'tracking', host: 'h', connectionId: 'c1' }]);
    const rejects = ['{"cluster":{"name":"a","host":"b"}}', '{"nonexistent":{}}', '{"geoLock":{}}'].map(
      (a) => umsEvents(parseUmsText(`{"cmd":"reject","args":[${a}]}`)[0]!)[0],
    );
    assert.deepEqual(
      rejects.map((e) => (e?.type === 'reject' ? e.reject.kind : '')),
      ['cluster', 'nonexistent', 'geoLock'],
    );
    // The hash is JSON text inside the string field.
    const connect = JSON.parse(
      connectMessage({
        referrer: 'http://x/',
        media: '1',
        application: 'recorded',
        hash: { a: 1 },
        rsid: 'a:b',
        rpin: '_rpin.1',
      }),
    ) as { args: [{ hash: string; isOffairRecorded: boolean }] };
    assert.equal(connect.args[0].hash, '{"a":1}');
    assert.equal(connect.args[0].isOffairRecorded, true);
  });

  it('parses --register and names the files of --all', () => {
    assert.deepEqual(parseRegistration('name=Ada,email=a@b.c,company=Acme, Inc.,role=dev,phone=1'), {
      name: 'Ada',
      email: 'a@b.c',
      company: 'Acme, Inc.',
      role: 'dev',
      phone: '1',
    });
    assert.throws(() => parseRegistration('nom=x'), /unknown field "nom"/);
    assert.equal(ustreamOutputPath('/tmp/show.mp4', '12'), '/tmp/show-12.mp4');
  });
});

describe('ustream: recorded videos from the emulator', () => {
  let fx: UstreamFixture;
  let emu: UstreamEmulator;
  const started: UstreamEmulator[] = [];
  const emulator = async (o: Partial<UstreamEmulatorOptions> = {}): Promise<UstreamEmulator> => {
    const e = await startUstreamEmulator({ fixture: fx, ...o });
    started.push(e);
    return e;
  };
  const opts = (e: UstreamEmulator, o: Partial<UstreamRecordOptions> = {}): UstreamRecordOptions => ({
    output: outPath(),
    umsUrl: e.umsUrl,
    retry: FAST_RETRY,
    ...o,
  });

  before(async () => {
    fx = await ustreamFixture();
    emu = await emulator({ order: 3, warning: 'emulated warning' });
  });
  after(async () => {
    await Promise.all(started.map((e) => e.close()));
  });

  it('300 FLV chunks -> MP4: every frame of the clip, the whole last range, one session done by the book', async () => {
    const notices: string[] = [];
    const o = opts(emu, { video: VIDEO, onNotice: (m) => notices.push(m) });
    const { value: r, spawned } = await withoutChildProcesses(() => recordUstream(emu.pageUrl, o));
    assert.deepEqual(spawned, [], 'no ffmpeg (no process at all) on the ustream path');
    assert.equal(r.kind, 'ustream');
    assert.equal(r.streamFormat, 'flv/segmented');
    assert.equal(r.chunks, 300);
    assert.equal(r.segments, 300);
    assert.equal(r.gaps.length, 0);
    // Every chunk once, the last key's whole range (290..299) included; a probe found the end at 300.
    const gets = emu.chunkGets(VIDEO);
    assert.deepEqual(
      [...gets].sort((a, b) => a - b),
      Array.from({ length: 300 }, (_, i) => i),
    );
    const probes = emu.requests
      .filter((q) => q.range !== undefined)
      .map((q) => /chunk_(\d+)_/.exec(q.path)?.[1]);
    assert.ok(probes.includes('300'), 'the chunk after the last one was probed (and answered 404)');
    await assertFramesOf(o.output, fx.clip);
    // The session: connect checked by the emulator (hash double encoded, every field), the cookie sent as Cookie.
    const s = emu.sessions[emu.sessions.length - 1]!;
    assert.deepEqual(s.problems, []);
    assert.match(String(s.headers.cookie), /ustream_viewer=/);
    assert.equal(s.headers.cookies, undefined);
    assert.equal(typeof s.connect?.hash, 'string');
    // Noise came (empty args too) before the session had what it needed, and was read past (ustream-dl
    // indexed args[0] and crashed); the warning was passed on.
    const empty = s.sent.indexOf('{"cmd":"moduleInfo","args":[]}');
    const needed = Math.max(
      s.sent.findIndex((f) => f.includes('cdnConfig')),
      s.sent.findIndex((f) => f.includes('streamFormats')),
    );
    assert.ok(
      empty >= 0 && empty < needed,
      `an empty args frame came before the stream was complete (${empty} < ${needed})`,
    );
    assert.ok(
      notices.some((m) => m.includes('emulated warning')),
      notices.join('\n'),
    );
  });

  it("-o out.flv: one header, one onMetaData, monotonic timestamps, the clip's duration within a frame", async () => {
    const o = opts(emu, { video: VIDEO, output: outPath('.flv') });
    const { value: r, spawned } = await withoutChildProcesses(() => recordUstream(emu.pageUrl, o));
    assert.deepEqual(spawned, []);
    assert.equal(r.format, 'flv');
    assert.equal(r.segments, 300);
    const tags = flvTags(o.output);
    assert.deepEqual(tags.scripts, ['onMetaData'], 'exactly one script tag: onMetaData');
    assert.ok(monotonic(tags.video) && monotonic(tags.audio), 'timestamps never go back');
    const ref = await mediaSeconds(fx.clip);
    const frame = 1 / 30;
    assert.ok(
      tags.duration !== undefined && Math.abs(tags.duration - ref) <= frame,
      `duration ${tags.duration} vs ${ref}`,
    );
    assert.ok(Math.abs(r.durationSec - ref) <= frame);
    await assertFramesOf(o.output, fx.clip);
  });

  it('chunks whose timestamps restart at 0: the FLV is still continuous, the MP4 still the clip', async () => {
    // 1 s chunks (30 frames each): the joiner takes a restarted chunk's frame step from its own timestamps.
    const fx1 = await ustreamFixture({ seconds: 20, chunkMs: 1000, mp4: false });
    const e = await startUstreamEmulator({
      fixture: fx1,
      videos: [
        {
          id: VIDEO,
          formats: ['flv'],
          renditions: [{ preset: 'original', width: 320, height: 240, bitrate: 400, chunks: fx1.flvReset }],
        },
      ],
    });
    started.push(e);
    const flv = opts(e, { video: VIDEO, output: outPath('.flv') });
    const r = await recordUstream(e.pageUrl, flv);
    assert.equal(r.segments, 20);
    assert.ok(
      r.warnings.some((w) => w.code === 'W_FLV_TIMESTAMPS'),
      'the restarts were repaired and said so',
    );
    const tags = flvTags(flv.output);
    assert.deepEqual(tags.scripts, ['onMetaData']);
    assert.ok(monotonic(tags.video) && monotonic(tags.audio), 'timestamps never go back');
    const ref = await mediaSeconds(fx1.clip);
    assert.ok(Math.abs((tags.duration ?? 0) - ref) <= 1 / 30, `duration ${tags.duration} vs ${ref}`);
    await assertFramesOf(flv.output, fx1.clip);
    const mp4 = opts(e, { video: VIDEO });
    await recordUstream(e.pageUrl, mp4);
    await assertFramesOf(mp4.output, fx1.clip);
    // And to MPEG-TS: the joined chunks muxed as they come.
    const ts = opts(e, { video: VIDEO, output: outPath('.ts') });
    await recordUstream(e.pageUrl, ts);
    await assertFramesOf(ts.output, fx1.clip);
  });

  it('a last hash range that is only partly there: fetched up to the first 404, nothing lost', async () => {
    const e = await emulator({ videos: [{ id: VIDEO, chunks: 295, formats: ['flv'] }] });
    const o = opts(e, { video: VIDEO });
    const r = await recordUstream(e.pageUrl, o);
    assert.equal(r.chunks, 295);
    assert.deepEqual(
      [...e.chunkGets(VIDEO)].sort((a, b) => a - b),
      Array.from({ length: 295 }, (_, i) => i),
    );
    assert.deepEqual(Object.keys(e.hashes(VIDEO)).at(-1), '290');
    await assertFramesOf(o.output, fx.clip, { videoFrames: 295 * 3 });
  });

  it('several "original" renditions: one is chosen (the largest, or by --quality), never both concatenated', async () => {
    const low = await ustreamFixture({ size: '160x120', source: 'testsrc', mp4: false });
    const e = await emulator({
      videos: [
        {
          id: VIDEO,
          formats: ['flv'],
          renditions: [
            { preset: 'original', width: 160, height: 120, bitrate: 150, chunks: low.flv },
            { preset: 'original', width: 320, height: 240, bitrate: 400, chunks: fx.flv },
          ],
        },
      ],
    });
    const best = opts(e, { video: VIDEO });
    const r = await recordUstream(e.pageUrl, best);
    assert.match(r.chosen, /320x240/);
    assert.equal(r.segments, 300);
    const paths = e.requests
      .filter((q) => q.path.includes('/cdn/') && q.range === undefined)
      .map((q) => q.path);
    assert.ok(
      paths.every((p) => p.includes('/2/2/chunk_')),
      'only the chosen rendition was fetched',
    );
    await assertFramesOf(best.output, fx.clip);
    const worst = opts(e, { video: VIDEO, quality: 'worst' });
    const w = await recordUstream(e.pageUrl, worst);
    assert.match(w.chosen, /160x120/);
    await assertFramesOf(worst.output, low.clip);
  });

  it('mp4/segmented: init segments per track, video and audio muxed into one MP4', async () => {
    const e = await emulator({ videos: [{ id: VIDEO, formats: ['mp4'] }] });
    const o = opts(e, { video: VIDEO });
    const r = await recordUstream(e.pageUrl, o);
    assert.equal(r.streamFormat, 'mp4/segmented');
    assert.equal(r.segments, 600, '300 video and 300 audio chunks');
    assert.deepEqual(r.tracks.map((t) => t.kind).sort(), ['audio', 'video']);
    const inits = e.requests.filter((q) => /\.m4[av]h$/.test(q.path));
    assert.equal(inits.length, 2, 'each init segment fetched once');
    assert.ok(
      inits.every((q) => /chunk_0_[0-9a-f]{10}\.m4[av]h$/.test(q.path)),
      'filled with the first chunk',
    );
    await assertFramesOf(o.output, fx.clip);
    // FLV output cannot be made of it.
    const err = await rejects(recordUstream(e.pageUrl, opts(e, { video: VIDEO, output: outPath('.flv') })));
    assert.equal(err.code, 'E_USTREAM_FORMAT');
  });

  it('CDN faults: 503 with an error page, resets, truncated bodies and stalls are retried, never saved', async () => {
    const e = await emulator({ videos: [{ id: VIDEO, chunks: 120, formats: ['flv'] }] });
    e.fault(VIDEO, 10, { kind: 'status', status: 503, times: 2 });
    e.fault(VIDEO, 20, { kind: 'reset', times: 1 });
    e.fault(VIDEO, 30, { kind: 'truncate', bytes: 700, times: 1 });
    e.fault(VIDEO, 40, { kind: 'stall', times: 1 });
    e.fault(VIDEO, 50, { kind: 'status', status: 500, times: 1 });
    const o = opts(e, { video: VIDEO, stallMs: 400, timeoutMs: 400 });
    const r = await recordUstream(e.pageUrl, o);
    assert.equal(r.segments, 120);
    assert.equal(r.gaps.length, 0);
    await assertFramesOf(o.output, fx.clip, { videoFrames: 360 });
    const gets = e.chunkGets(VIDEO);
    for (const c of [10, 20, 30, 40, 50])
      assert.ok(gets.filter((g) => g === c).length >= 2, `chunk ${c} retried`);
  });

  it('a chunk that keeps answering 404 with an error page: no output, the chunk named, and a rerun resumes', async () => {
    const e = await emulator({ videos: [{ id: VIDEO, chunks: 100, formats: ['flv'] }] });
    e.fault(VIDEO, 42, { kind: 'status', status: 404, times: 1000 });
    const o = opts(e, { video: VIDEO });
    const err = await rejects(recordUstream(e.pageUrl, o));
    assert.equal(err.code, 'E_SEGMENTS_MISSING');
    assert.match(err.message, /:42\b/);
    assert.equal(err.category, 'network');
    assert.ok(!existsSync(o.output), 'no output with a hole in it');
    assert.ok(existsSync(`${o.output}.castkit-journal`), 'the journal is kept');
    // The fault is gone: the rerun fetches what is missing and nothing it already has.
    e.fault(VIDEO, 42, { kind: 'status', status: 404, times: 0 });
    const before = e.chunkGets(VIDEO).length;
    const r = await recordUstream(e.pageUrl, o);
    const again = e.chunkGets(VIDEO).slice(before);
    assert.ok(r.fromJournal > 0, `chunks from the journal: ${r.fromJournal}`);
    assert.equal(r.fetched + r.fromJournal, 100);
    assert.equal(again.length, r.fetched);
    assert.ok(again.includes(42));
    assert.ok(!existsSync(`${o.output}.castkit-journal`));
    await assertFramesOf(o.output, fx.clip, { videoFrames: 300 });
  });

  it('--allow-gaps: a chunk given up on leaves a gap the report names, and the MP4 keeps its place', async () => {
    const e = await emulator({ videos: [{ id: VIDEO, chunks: 60, formats: ['flv'] }] });
    e.fault(VIDEO, 20, { kind: 'status', status: 403, times: 1000 });
    const o = opts(e, { video: VIDEO, allowGaps: true });
    const r = await recordUstream(e.pageUrl, o);
    assert.equal(r.segments, 59);
    assert.equal(r.gaps.length, 1);
    assert.match(r.gaps[0]!.key, /:20$/);
    assert.ok(r.gapReport && existsSync(r.gapReport), 'a gap report beside the output');
    const video = (await packets(o.output)).filter((p) => p.type === 'video');
    assert.equal(video.length, 59 * 3);
    // The frames after the gap are where they were: chunk 21's first frame at 2.1 s (a hole, not a splice).
    const after = video.map((p) => p.dts).filter((t) => t > 1.95 && t < 2.2);
    assert.ok(Math.min(...after) > 2.05, `first frame after the gap at ${Math.min(...after)} s`);
  });

  it('an HTML error page served with 200 is refused, not muxed in (MP4 and FLV)', async () => {
    const e = await emulator({ videos: [{ id: VIDEO, chunks: 40, formats: ['flv'] }] });
    e.fault(VIDEO, 7, { kind: 'html200', times: 1000 });
    for (const ext of ['.mp4', '.flv']) {
      const o = opts(e, { video: VIDEO, output: outPath(ext) });
      const err = await rejects(recordUstream(e.pageUrl, o));
      assert.equal(err.code, 'E_SEGMENT_FORMAT', ext);
      assert.match(err.message, /chunk_7_/);
      assert.ok(!existsSync(o.output), `no ${ext} written`);
    }
  });

  it('reject cluster: the session moves to the named host and the recording goes on', async () => {
    const e = await emulator({ reject: 'cluster', videos: [{ id: VIDEO, chunks: 20, formats: ['flv'] }] });
    const notices: string[] = [];
    const o = opts(e, { video: VIDEO, onNotice: (m) => notices.push(m) });
    const r = await recordUstream(e.pageUrl, o);
    assert.equal(r.segments, 20);
    assert.deepEqual(
      e.sessions.map((x) => x.port === e.clusterPort),
      [false, true],
    );
    assert.ok(e.sessions[0]!.sent.some((f) => f.includes('"reject"')));
    assert.ok(
      notices.some((m) => m.includes('emu-cluster')),
      notices.join('\n'),
    );
  });

  it('reject referrerLock: connects again with the referrer it names', async () => {
    const e = await emulator({
      reject: 'referrerLock',
      videos: [{ id: VIDEO, chunks: 20, formats: ['flv'] }],
    });
    const r = await recordUstream(e.pageUrl, opts(e, { video: VIDEO }));
    assert.equal(r.segments, 20);
    assert.equal(e.sessions.length, 2);
    assert.equal(e.sessions[0]!.connect?.referrer, e.pageUrl);
    assert.equal(e.sessions[1]!.connect?.referrer, e.lockUrl);
  });

  for (const [kind, code, text] of [
    ['nonexistent', 'E_USTREAM_NONEXISTENT', /does not exist/],
    ['geoLock', 'E_USTREAM_GEOLOCK', /in this country/],
  ] as const) {
    it(`reject ${kind}: a clear input error (exit 3), nothing written`, async () => {
      const e = await emulator({ reject: kind });
      const o = opts(e, { video: VIDEO });
      const err = await rejects(recordUstream(e.pageUrl, o));
      assert.equal(err.code, code);
      assert.equal(err.category, 'input');
      assert.match(err.message, text);
      assert.match(err.message, new RegExp(VIDEO));
      assert.ok(!existsSync(o.output));
      assert.equal(e.requests.filter((q) => q.path.includes('/cdn/')).length, 0);
    });
  }

  it('an unknown video id is nonexistent; an offline video and an offline channel without videos say so', async () => {
    const e = await emulator({ videos: [{ id: VIDEO, offline: true }] });
    const missing = await rejects(recordUstream(e.pageUrl, opts(e, { video: '111' })));
    assert.equal(missing.code, 'E_USTREAM_NONEXISTENT');
    const offline = await rejects(recordUstream(e.pageUrl, opts(e, { video: VIDEO })));
    assert.equal(offline.code, 'E_USTREAM_OFFLINE');
    assert.equal(offline.category, 'input');
    assert.match(offline.message, /not available \(contentAvailable: false\)/);
    const empty = await emulator({ videos: [] });
    const channel = await rejects(recordUstream(empty.pageUrl, opts(empty)));
    assert.equal(channel.code, 'E_USTREAM_OFFLINE');
    assert.match(channel.message, /channel \d+ is offline/);
  });

  it('a channel page: not live, so its newest video; --list shows every video id; --all records each', async () => {
    const e = await emulator({
      order: 7,
      videos: [
        { id: '5001', title: 'newest', chunks: 12, formats: ['flv'] },
        { id: '5000', title: 'older', chunks: 15, formats: ['flv'] },
      ],
    });
    const listing = await listUstream(e.pageUrl, { umsUrl: e.umsUrl, retry: FAST_RETRY });
    assert.equal(listing.channelId, e.channelId);
    assert.deepEqual(
      listing.videos.map((v) => v.id),
      ['5001', '5000'],
    );
    assert.equal(listing.channelLive, false);
    const one = await listUstream(e.pageUrl, { umsUrl: e.umsUrl, retry: FAST_RETRY, video: '5000' });
    assert.equal(one.media?.chunks, 15);
    assert.equal(one.media?.renditions.length, 1);
    const notices: string[] = [];
    const r = await recordUstream(e.pageUrl, opts(e, { onNotice: (m) => notices.push(m) }));
    assert.equal(r.media.id, '5001');
    assert.equal(r.segments, 12);
    assert.ok(
      notices.some((m) => /not live.*5001/.test(m)),
      notices.join('\n'),
    );
    const base = outPath();
    const all = await recordUstreamAll(e.pageUrl, opts(e, { output: base }));
    assert.deepEqual(
      all.map((x) => [x.media.id, x.segments, x.output]),
      [
        ['5001', 12, ustreamOutputPath(base, '5001')],
        ['5000', 15, ustreamOutputPath(base, '5000')],
      ],
    );
    // A second --all skips the videos already recorded.
    const skipped: string[] = [];
    const again = await recordUstreamAll(
      e.pageUrl,
      opts(e, { output: base, onNotice: (m) => skipped.push(m) }),
    );
    assert.deepEqual(again, []);
    assert.equal(skipped.filter((m) => /already recorded; skipped/.test(m)).length, 2);
    // One registration per run, with every field; the listing posted its hash as JSON text.
    for (const reg of e.registrations) {
      for (const f of ['name', 'email', 'company', 'role', 'phone']) assert.ok(reg[`fields[${f}]`], f);
    }
  });

  it('--register values are sent; the site cookie goes back as Cookie (a strict UMS refuses without it)', async () => {
    const e = await emulator({ videos: [{ id: VIDEO, chunks: 10, formats: ['flv'] }] });
    await recordUstream(
      e.pageUrl,
      opts(e, { video: VIDEO, register: parseRegistration('name=Ada Lovelace,company=Analytical, Ltd.') }),
    );
    const reg = e.registrations.at(-1)!;
    assert.equal(reg['fields[name]'], 'Ada Lovelace');
    assert.equal(reg['fields[company]'], 'Analytical, Ltd.');
    assert.equal(reg['fields[email]'], 'castkit@example.com');
    const upgrades = e.requests.filter((q) => q.method === 'UPGRADE');
    assert.ok(upgrades.length > 0 && upgrades.every((q) => /ustream_viewer=/.test(String(q.headers.cookie))));
    assert.ok(upgrades.every((q) => q.headers.cookies === undefined));
    assert.ok(upgrades.every((q) => q.headers.origin === e.siteUrl));
    // No registration wall (the endpoint answers 404): the session goes on without a hash.
    const open = await emulator({
      registrationWall: false,
      videos: [{ id: VIDEO, chunks: 10, formats: ['flv'] }],
    });
    const r = await recordUstream(open.pageUrl, opts(open, { video: VIDEO }));
    assert.equal(r.segments, 10);
    assert.equal(open.sessions[0]!.connect?.hash, undefined);
  });

  it('frames in any order (several seeds), noise included: the same session result', async () => {
    for (const order of [1, 2, 5, 11]) {
      const e = await emulator({
        order,
        warning: 'w',
        videos: [{ id: VIDEO, chunks: 25, formats: ['flv', 'mp4'] }],
      });
      const l = await listUstream(e.pageUrl, { umsUrl: e.umsUrl, retry: FAST_RETRY, video: VIDEO });
      assert.equal(l.media?.chunks, 25, `order ${order}`);
      assert.deepEqual(l.media?.formats, ['flv/segmented', 'mp4/segmented']);
      const sent = e.sessions[0]!.sent.map((f) => (JSON.parse(f) as { cmd: string }).cmd);
      assert.ok(sent.length >= 7, `order ${order}: ${sent.join(',')}`);
    }
  });
});

describe('ustream: live channels and the long-poll variant', () => {
  let fx: UstreamFixture;
  const started: UstreamEmulator[] = [];
  let origin: Origin | undefined;
  const live = async (o: Partial<UstreamEmulatorOptions> = {}): Promise<UstreamEmulator> => {
    const e = await startUstreamEmulator({
      fixture: fx,
      live: { chunks: 40, windowChunks: 30 },
      order: 4,
      ...o,
    });
    started.push(e);
    return e;
  };
  before(async () => {
    fx = await ustreamFixture();
  });
  after(async () => {
    await Promise.all(started.map((e) => e.close()));
    await origin?.close();
  });

  it('a live channel is followed to the end of the broadcast: every chunk, in order, the sliding hashes used', async () => {
    const e = await live();
    const o: UstreamRecordOptions = { output: outPath(), umsUrl: e.umsUrl, retry: FAST_RETRY };
    const r = await recordUstream(e.pageUrl, o);
    assert.equal(r.live, true);
    assert.equal(r.media.application, 'channel');
    assert.equal(r.stoppedBy, 'end');
    assert.equal(r.segments, 40);
    assert.equal(r.gaps.length, 0);
    const gets = e.requests
      .filter((q) => q.path.includes('/live/') && q.range === undefined)
      .map((q) => Number(/chunk_(\d+)_/.exec(q.path)?.[1]) - e.liveBase);
    assert.deepEqual(
      [...gets].sort((a, b) => a - b),
      Array.from({ length: 40 }, (_, i) => i),
    );
    // Several stream messages moved the chunk id while it recorded.
    const ids = new Set(
      e.sessions[0]!.sent.filter((f) => f.includes('streamFormats')).map(
        (f) => /"chunkId":(\d+)/.exec(f)?.[1],
      ),
    );
    assert.ok(ids.size >= 5, `chunk ids seen: ${[...ids].join(', ')}`);
    await assertFramesOf(o.output, fx.clip, { videoFrames: 120 });
  });

  it('a dropped UMS session is connected again and the recording goes on without a hole', async () => {
    const e = await live({ live: { chunks: 30, dropFirstSessionAfterMs: 1000 } });
    const notices: string[] = [];
    const o: UstreamRecordOptions = {
      output: outPath(),
      umsUrl: e.umsUrl,
      retry: FAST_RETRY,
      onNotice: (m) => notices.push(m),
    };
    const r = await recordUstream(e.pageUrl, o);
    assert.equal(r.segments, 30);
    assert.equal(r.gaps.length, 0);
    assert.ok(e.sessions.filter((x) => x.connect?.application === 'channel').length >= 2, 'a second session');
    assert.ok(
      notices.some((m) => /UMS session lost/.test(m)),
      notices.join('\n'),
    );
    await assertFramesOf(o.output, fx.clip, { videoFrames: 90 });
  });

  it('a UMS session lost for good: the file is kept and playable, the run fails with E_STREAM_LOST', async () => {
    const channel = { chunks: 60, windowChunks: 60, dropFirstSessionAfterMs: 1500, refuseAfterDrop: true };
    const e = await live({ live: channel });
    const notices: string[] = [];
    const o: UstreamRecordOptions = {
      output: outPath(),
      umsUrl: e.umsUrl,
      retry: FAST_RETRY,
      maxReconnects: 1,
      onNotice: (m) => notices.push(m),
    };
    const err = await recordUstream(e.pageUrl, o).then(
      () => assert.fail('a lost session must not look like a complete recording'),
      (x: unknown) => x,
    );
    assert.ok(isCastkitError(err), String(err));
    assert.equal(err.code, 'E_STREAM_LOST');
    assert.equal(err.category, 'network');
    assert.match(err.hint ?? '', /run the same command again/);
    const result = err.details.result as RecordResult;
    assert.equal(result.stoppedBy, 'lost');
    assert.ok(result.segments >= 1 && result.segments < 60, `${result.segments} segments`);
    assert.ok(
      notices.some((m) => /lost for good/.test(m)),
      notices.join('\n'),
    );
    assert.equal(await decodeMessages(o.output), '', 'what was recorded plays');
    assert.ok(existsSync(journalPathFor(o.output)), 'the journal is kept');

    // The stream is back: the same command goes on into the same file, with nothing lost silently.
    channel.refuseAfterDrop = false;
    const again = await recordUstream(e.pageUrl, { ...o, maxReconnects: 5 });
    assert.equal(again.stoppedBy, 'end');
    assert.equal(again.output, o.output);
    assert.ok(again.segments > result.segments, `${again.segments} segments after ${result.segments}`);
    const lostSec = again.gaps.reduce((n, g) => n + g.seconds, 0);
    // Every chunk is in the file, or in a reported gap: 60 chunks of 0.1 s.
    assert.ok(
      Math.abs(again.durationSec + lostSec - 6) < 0.35,
      `${again.durationSec} s recorded + ${lostSec} s of gaps`,
    );
    assert.equal(await decodeMessages(o.output), '');
  });

  it('--duration stops a live recording (mp4/segmented here), Ctrl-C leaves a playable file', async () => {
    const e = await live({ live: { chunks: 60, formats: ['mp4'] } });
    const o: UstreamRecordOptions = {
      output: outPath(),
      umsUrl: e.umsUrl,
      retry: FAST_RETRY,
      durationSec: 1.5,
    };
    const r = await recordUstream(e.pageUrl, o);
    assert.equal(r.stoppedBy, 'duration');
    assert.equal(r.streamFormat, 'mp4/segmented');
    assert.ok(r.durationSec >= 1.4 && r.durationSec <= 2.2, `recorded ${r.durationSec} s`);
    assert.equal(await decodeMessages(o.output), '');

    const e2 = await live({ live: { chunks: 60 } });
    const stop = new AbortController();
    setTimeout(() => stop.abort(), 1200);
    const o2: UstreamRecordOptions = {
      output: outPath(),
      umsUrl: e2.umsUrl,
      retry: FAST_RETRY,
      signal: stop.signal,
    };
    const err = await rejects(recordUstream(e2.pageUrl, o2));
    assert.equal(err.code, 'E_INTERRUPTED');
    const partial = (err.details.result ?? {}) as { segments?: number; stoppedBy?: string };
    assert.equal(partial.stoppedBy, 'interrupt');
    assert.ok((partial.segments ?? 0) >= 5, `segments ${partial.segments}`);
    assert.ok(existsSync(o2.output), 'what was recorded is a file');
    await assertFramesOf(o2.output, fx.clip, { videoFrames: (partial.segments ?? 0) * 3 });
  });

  it('--duration to a joined FLV (flv/segmented, 100 ms chunks): it ends there, not at the chunk that holds the end', async () => {
    const e = await live({ live: { chunks: 60 } });
    const o: UstreamRecordOptions = {
      output: outPath('.flv'),
      umsUrl: e.umsUrl,
      retry: FAST_RETRY,
      durationSec: 1.42,
    };
    const r = await recordUstream(e.pageUrl, o);
    assert.equal(r.stoppedBy, 'duration');
    assert.equal(r.streamFormat, 'flv/segmented');
    assert.ok(Math.abs(r.durationSec - 1.42) < 0.05, `recorded ${r.durationSec} s`);
    // 30 fps: the frames before 1.42 s are the first 43 (the chunk from 1.4 s holds three, 45 in all).
    await assertFramesOf(o.output, fx.clip, { videoFrames: 43 });
  });

  it('long-poll: the tracking host is followed, a poll without a stream is asked again, the HLS is recorded', async () => {
    origin = await startOrigin();
    const hls = await streamFixture('hls-ts');
    const url = serveFixture(origin, hls, '/uhls');
    const e = await startUstreamEmulator({ fixture: fx, lpHlsUrl: url, lpEmptyPolls: 1 });
    started.push(e);
    const o: UstreamRecordOptions = { output: outPath(), umsUrl: e.lpUrl, retry: FAST_RETRY, video: VIDEO };
    const r = await recordUstream(e.pageUrl, o);
    assert.equal(r.kind, 'hls');
    assert.equal(r.streamFormat, 'hls');
    const polls = e.requests.filter((q) => q.path === '/1/ustream');
    assert.equal(polls.length, 4, 'two rounds of tracking + poll');
    assert.ok(polls.filter((q) => q.url.includes('connectionId=')).every((q) => q.port === e.clusterPort));
    const first = new URL(polls[0]!.url, 'http://x').searchParams;
    assert.equal(first.get('appId'), '11');
    assert.equal(first.get('media'), VIDEO);
    assert.equal(first.get('application'), 'recorded');
    await assertFramesOf(o.output, hls.clip);
  });
});
