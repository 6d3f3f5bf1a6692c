import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { closeSync, openSync, readdirSync, readFileSync, rmSync, writevSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { decodeAmf0All, isAmfObject, type AmfObject } from '../../../src/formats/flv/amf0.js';
import { FlvDemuxer } from '../../../src/formats/flv/flv-demuxer.js';
import { FlvJoiner, planFlvJoin, assembleFlv, type FlvPiece } from '../../../src/formats/flv/flv-joiner.js';
import { FlvTagReader, type FlvTagView } from '../../../src/formats/flv/flv-reader.js';
import { FlvTagRows, scanCleanFlv } from '../../../src/formats/flv/flv-tag-rows.js';
import { PACKET_CONFIG, PACKET_FRAME, TAG_SCRIPT, TAG_VIDEO } from '../../../src/formats/flv/flv-tags.js';
import type { Sample } from '../../../src/formats/media.js';
import { lavfiAv, makeMedia, tools, x264FixedGop, type MediaSpec } from '../../helpers/fixtures.js';
import { aacTag, avcTag, concat, payload, synthChunk } from './flv-synth.js';
import { scratchDir } from '../../helpers/scratch.js';

const run = promisify(execFile);

/** 60 s, 320x240, 30 fps, a keyframe every second exactly, B-frames, AAC 48 kHz. */
const CLIP: MediaSpec = {
  name: 'flv-join-clip',
  ext: '.mp4',
  args: [...lavfiAv(60), ...x264FixedGop(30), '-c:a', 'aac', '-b:a', '96k', '-ac', '2', '-shortest'],
};

interface TagInfo {
  type: number;
  ts: number;
  offset: number;
  end: number; // after PreviousTagSize
  packet: number;
  keyframe: boolean;
  scriptName?: unknown;
}

function listTags(bytes: Uint8Array): TagInfo[] {
  const r = new FlvTagReader();
  const tags: TagInfo[] = [];
  const sink = {
    tag: (t: FlvTagView) => {
      const info: TagInfo = {
        type: t.type,
        ts: t.timestamp,
        offset: t.tagOffset,
        end: t.bodyOffset + t.dataSize + 4,
        packet: t.media.packet,
        keyframe: t.media.keyframe,
      };
      if (t.type === TAG_SCRIPT) info.scriptName = decodeAmf0All(t.buf.subarray(t.at, t.at + t.dataSize))[0];
      tags.push(info);
    },
    warning: (w: unknown) => assert.fail(`unexpected warning ${JSON.stringify(w)}`),
  };
  r.push(bytes, sink);
  r.end(sink);
  return tags;
}

/** Copy of one tag with a new timestamp. */
function retimed(bytes: Uint8Array, tag: TagInfo, ts: number): Uint8Array {
  const b = bytes.slice(tag.offset, tag.end);
  b[4] = (ts >>> 16) & 0xff;
  b[5] = (ts >>> 8) & 0xff;
  b[6] = ts & 0xff;
  b[7] = ts >>> 24;
  return b;
}

function writeOutput(path: string, head: Uint8Array, pieces: FlvPiece[], chunks: Uint8Array[]): number {
  const fd = openSync(path, 'w');
  let total = 0;
  try {
    let batch: Uint8Array[] = [head];
    for (const p of pieces) {
      batch.push(
        'bytes' in p ? p.bytes : (chunks[p.chunk] as Uint8Array).subarray(p.offset, p.offset + p.size),
      );
      if (batch.length >= 512) {
        total += writevSync(fd, batch);
        batch = [];
      }
    }
    total += writevSync(fd, batch);
  } finally {
    closeSync(fd);
  }
  return total;
}

interface Packet {
  codec_type: string;
  pts: number;
  dts: number;
  flags: string;
}

async function packets(path: string): Promise<Packet[]> {
  const { stdout } = await run(
    tools().ffprobe.path,
    ['-v', 'error', '-show_packets', '-show_entries', 'packet=codec_type,pts,dts,flags', '-of', 'json', path],
    { maxBuffer: 64 << 20 },
  );
  return (JSON.parse(stdout) as { packets: Packet[] }).packets;
}

/** Per-stream hash columns of ffmpeg's framemd5: of packets (copy) or of decoded frames. */
async function framemd5(path: string, decode: boolean): Promise<{ video: string[]; audio: string[] }> {
  const args = ['-v', 'error', '-i', path, '-map', '0:v', '-map', '0:a'];
  args.push(...(decode ? ['-fps_mode', 'passthrough'] : ['-c', 'copy']), '-f', 'framemd5', '-');
  const { stdout } = await run(tools().ffmpeg.path, args, { maxBuffer: 64 << 20 });
  const out = { video: [] as string[], audio: [] as string[] };
  for (const line of stdout.split('\n')) {
    if (line.startsWith('#') || line.trim() === '') continue;
    const cols = line.split(',').map((c) => c.trim());
    (cols[0] === '0' ? out.video : out.audio).push(cols[5] as string);
  }
  return out;
}

function count(ps: Packet[], kind: string): number {
  return ps.filter((p) => p.codec_type === kind).length;
}

function assertMonotonic(ps: Packet[]): void {
  for (const kind of ['video', 'audio']) {
    let last = -Infinity;
    for (const p of ps.filter((x) => x.codec_type === kind)) {
      assert.ok(p.dts > last, `${kind} dts ${p.dts} after ${last}`);
      last = p.dts;
    }
  }
}

describe('FlvJoiner on ffmpeg segments of a 60 s clip', () => {
  let dir = '';
  let clip = '';
  let clipPackets: Packet[] = [];
  let clipHashes: { video: string[]; audio: string[] };
  let clipDecoded: { video: string[]; audio: string[] };
  let clipDuration = 0;
  const sets: Record<string, Uint8Array[]> = {};

  before(async () => {
    clip = await makeMedia(CLIP);
    dir = scratchDir('castkit-flv-join-');
    for (const reset of [0, 1]) {
      const sub = join(dir, `reset${reset}`);
      const { mkdirSync } = await import('node:fs');
      mkdirSync(sub);
      await run(tools().ffmpeg.path, [
        '-v',
        'error',
        '-i',
        clip,
        '-c',
        'copy',
        '-f',
        'segment',
        '-segment_time',
        '2',
        '-segment_format',
        'flv',
        '-reset_timestamps',
        String(reset),
        join(sub, 'c%04d.flv'),
      ]);
      sets[reset] = readdirSync(sub)
        .sort()
        .map((f) => new Uint8Array(readFileSync(join(sub, f))));
    }
    clipPackets = await packets(clip);
    clipHashes = await framemd5(clip, false);
    // The clip as one FLV: its decoded audio has the same priming frames as the joined FLV (the MP4
    // trims them with an edit list), so decoded hashes are compared against it.
    const whole = join(dir, 'whole.flv');
    await run(tools().ffmpeg.path, ['-v', 'error', '-i', clip, '-c', 'copy', whole]);
    clipDecoded = await framemd5(whole, true);
    const { stdout } = await run(tools().ffprobe.path, ['-v', 'error', '-show_format', '-of', 'json', clip]);
    clipDuration = Number((JSON.parse(stdout) as { format: { duration: string } }).format.duration);
  });

  after(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  /** Joins, writes, and checks what every join must satisfy. */
  async function joinAndCheck(name: string, chunks: Uint8Array[], expectSame = true, decode = false) {
    const { result, pieces } = planFlvJoin(chunks);
    const out = join(dir, `${name}.flv`);
    const written = writeOutput(out, result.head, pieces, chunks);
    assert.equal(written, result.size, 'planned size');
    const bytes = new Uint8Array(readFileSync(out));
    assert.deepEqual(bytes, assembleFlv(result.head, pieces, chunks));

    // One onMetaData, first, with the true file size and a keyframe index pointing at keyframe tags.
    const tags = listTags(bytes);
    const metas = tags.filter((t) => t.type === TAG_SCRIPT && t.scriptName === 'onMetaData');
    assert.equal(metas.length, 1, 'exactly one onMetaData');
    assert.equal(tags[0]?.scriptName, 'onMetaData');
    const d = new FlvDemuxer();
    d.push(bytes);
    d.end();
    const md = d.metadata as AmfObject;
    assert.equal(md.filesize, bytes.length);
    const kf = md.keyframes;
    assert.ok(kf !== undefined && isAmfObject(kf));
    const times = kf.times as number[];
    const positions = kf.filepositions as number[];
    const byOffset = new Map(tags.map((t) => [t.offset, t]));
    const keyTags = tags.filter((t) => t.type === TAG_VIDEO && t.packet === PACKET_FRAME && t.keyframe);
    assert.equal(positions.length, keyTags.length);
    positions.forEach((p, i) => {
      const t = byOffset.get(p);
      assert.ok(
        t && t.type === TAG_VIDEO && t.keyframe && t.packet === PACKET_FRAME,
        `keyframe ${i} at ${p}`,
      );
      assert.equal(t.ts / 1000, times[i]);
    });
    // Sequence headers: one per track unless they changed.
    assert.equal(tags.filter((t) => t.packet === PACKET_CONFIG && t.type !== TAG_SCRIPT).length, 2);

    const ps = await packets(out);
    assertMonotonic(ps);
    if (expectSame) {
      assert.ok(
        Math.abs((md.duration as number) - clipDuration) <= 1 / 30,
        `duration ${String(md.duration)} vs clip ${clipDuration}`,
      );
      assert.equal(count(ps, 'video'), count(clipPackets, 'video'));
      assert.equal(count(ps, 'audio'), count(clipPackets, 'audio'));
      const hashes = await framemd5(out, false);
      assert.deepEqual(hashes.video, clipHashes.video, 'video packet hashes');
      assert.deepEqual(hashes.audio, clipHashes.audio, 'audio packet hashes');
      if (!decode) return { result, ps, bytes };
      const decoded = await framemd5(out, true);
      assert.equal(decoded.video.length, 1800);
      assert.deepEqual(decoded.video, clipDecoded.video, 'decoded video hashes');
      assert.deepEqual(decoded.audio, clipDecoded.audio, 'decoded audio hashes');
    }
    return { result, ps, bytes };
  }

  it('joins chunks whose timestamps run on', async () => {
    const chunks = sets[0] as Uint8Array[];
    assert.equal(chunks.length, 30);
    const { result } = await joinAndCheck('reset0', chunks, true, true);
    assert.deepEqual(
      result.reports.map((r) => r.kind),
      ['first', ...Array<string>(29).fill('continuous')],
    );
    assert.equal(result.summary.dropped.metadata, 30);
    assert.equal(result.summary.dropped.sequenceHeader, 58);
    assert.equal(result.summary.dropped.duplicate, 0);
    assert.equal(result.keyframes.times.length, 60);
    assert.ok(result.reports.every((r) => r.shift === 0));
  });

  it('joins chunks that each restart at 0', async () => {
    const chunks = sets[1] as Uint8Array[];
    const { result } = await joinAndCheck('reset1', chunks, true, true);
    assert.deepEqual(
      result.reports.map((r) => r.kind),
      ['first', ...Array<string>(29).fill('restart')],
    );
    assert.equal(result.summary.restarts, 29);
    for (const r of result.reports.slice(1)) {
      assert.equal(r.firstTimestamp, 0);
      assert.ok(Math.abs(r.correction - 2000) <= 2, `correction ${r.correction}`);
      assert.equal(r.dropped.duplicate, 0);
    }
  });

  it('drops the tags an overlapping chunk repeats (timestamps running on)', async () => {
    const chunks = (sets[0] as Uint8Array[]).slice();
    const k = 10;
    const prev = chunks[k] as Uint8Array;
    const next = chunks[k + 1] as Uint8Array;
    const prevTags = listTags(prev).filter((t) => t.packet === PACKET_FRAME && t.type !== TAG_SCRIPT);
    const dup = prevTags.slice(-7);
    const nextTags = listTags(next);
    const firstMedia = nextTags.find((t) => t.type !== TAG_SCRIPT && t.packet === PACKET_FRAME) as TagInfo;
    chunks[k + 1] = concat([
      next.subarray(0, firstMedia.offset),
      prev.subarray((dup[0] as TagInfo).offset, (dup[dup.length - 1] as TagInfo).end),
      next.subarray(firstMedia.offset),
    ]);
    const { result } = await joinAndCheck('overlap0', chunks);
    const r = result.reports[k + 1];
    assert.equal(r?.kind, 'overlap');
    assert.equal(r?.dropped.duplicate, 7);
    assert.equal(r?.shift, 0);
    assert.equal(result.summary.dropped.duplicate, 7);
  });

  it('recognises repeated tags by content when the chunk also restarts its timestamps', async () => {
    const reset = sets[1] as Uint8Array[];
    const running = sets[0] as Uint8Array[];
    const chunks = reset.slice();
    const k = 20;
    const prev = reset[k] as Uint8Array;
    const next = reset[k + 1] as Uint8Array;
    // Where chunk k+1 starts in chunk k's timeline.
    const firstVideo = (c: Uint8Array): number =>
      (listTags(c).find((t) => t.type === TAG_VIDEO && t.packet === PACKET_FRAME) as TagInfo).ts;
    const span = firstVideo(running[k + 1] as Uint8Array) - firstVideo(running[k] as Uint8Array);
    const dup = listTags(prev)
      .filter((t) => t.packet === PACKET_FRAME && t.type !== TAG_SCRIPT)
      .slice(-9);
    const a = (dup[0] as TagInfo).ts;
    const nextTags = listTags(next);
    const firstMedia = nextTags.findIndex((t) => t.type !== TAG_SCRIPT && t.packet === PACKET_FRAME);
    // The server restarted at 0 with the repeated tags: one timeline for the whole new chunk.
    chunks[k + 1] = concat([
      next.subarray(0, (nextTags[firstMedia] as TagInfo).offset),
      ...dup.map((t) => retimed(prev, t, t.ts - a)),
      ...nextTags.slice(firstMedia).map((t) => retimed(next, t, t.ts + span - a)),
    ]);
    const { result } = await joinAndCheck('overlap1', chunks);
    const r = result.reports[k + 1];
    assert.equal(r?.kind, 'overlap');
    assert.equal(r?.dropped.duplicate, 9);
    assert.equal(r?.firstTimestamp, 0);
  });

  it('closes a gap left by a missing chunk, and skips a chunk that is not FLV', async () => {
    const all = sets[0] as Uint8Array[];
    const chunks = [...all.slice(0, 15), payload(99, 5000), ...all.slice(16)];
    const missing = await packets(join(dir, 'reset0', 'c0015.flv'));
    const { result, ps } = await joinAndCheck('gap', chunks, false);
    assert.equal(result.reports[15]?.kind, 'invalid');
    assert.equal(result.reports[15]?.error?.code, 'E_FLV_SIGNATURE');
    const r = result.reports[16];
    assert.equal(r?.kind, 'gap');
    assert.ok(Math.abs((r?.correction ?? 0) + 2000) <= 2, `correction ${r?.correction}`);
    assert.equal(result.summary.gapsClosed, 1);
    assert.equal(ps.length, clipPackets.length - missing.length);
    assert.ok(
      Math.abs(result.durationMs / 1000 - (clipDuration - 2)) <= 1 / 30,
      `duration ${result.durationMs}`,
    );
    // No hole left: consecutive video frames stay about one frame apart.
    const v = ps.filter((p) => p.codec_type === 'video').map((p) => p.dts);
    for (let i = 1; i < v.length; i++)
      assert.ok((v[i] as number) - (v[i - 1] as number) <= 40, `video step at ${i}`);
  });
});

/**
 * Chunks that each bring 400 ms of new content (10 video frames of 40 ms, 20 audio frames of 20 ms) and,
 * chosen at random from `seed`, continue, restart at 0, jump 5 s ahead or repeat the previous one's tail;
 * with the kind the joiner should report for each.
 */
function mixedChunks(count: number, seed: number): { chunks: Uint8Array[]; expected: string[] } {
  const rnd = (n: number): number => {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    return (seed >>> 8) % n;
  };
  const chunks: Uint8Array[] = [];
  const expected: string[] = [];
  let next = 0; // input time at which the next chunk continues
  for (let i = 0; i < count; i++) {
    const mode = i === 0 ? 0 : rnd(4);
    const o = { t0: next, frame0: i * 10, videoFrames: 10, audioFrames: 20 };
    if (mode === 1) o.t0 = 0;
    if (mode === 2) o.t0 = next + 5000;
    const prev = chunks[chunks.length - 1] as Uint8Array;
    chunks.push(mode === 3 ? withRepeatedTail(synthChunk(o), prev) : synthChunk(o));
    expected.push(i === 0 ? 'first' : (['continuous', 'restart', 'gap', 'overlap'][mode] as string));
    next = o.t0 + 400;
  }
  return { chunks, expected };
}

describe('FlvJoiner at scale and on synthetic cases', () => {
  /** Demuxes a joined output and returns its samples per track kind, checking strict monotonic dts. */
  function demuxJoined(bytes: Uint8Array): { video: Sample[]; audio: Sample[]; md: AmfObject } {
    const d = new FlvDemuxer();
    const o1 = d.push(bytes);
    const o2 = d.end();
    assert.deepEqual([...o1.warnings, ...o2.warnings], []);
    const tracks = [...o1.tracks, ...o2.tracks];
    const vid = tracks.find((t) => t.kind === 'video')?.id;
    const samples = [...o1.samples, ...o2.samples];
    const video = samples.filter((s) => s.trackId === vid);
    const audio = samples.filter((s) => s.trackId !== vid);
    for (const list of [video, audio]) {
      for (let i = 1; i < list.length; i++) assert.ok((list[i] as Sample).dts > (list[i - 1] as Sample).dts);
    }
    return { video, audio, md: d.metadata as AmfObject };
  }

  it('joins 1,400 chunks that restart at 0, quickly', () => {
    const chunks: Uint8Array[] = [];
    for (let i = 0; i < 1400; i++)
      chunks.push(synthChunk({ t0: 0, frame0: i * 10, videoFrames: 6, audioFrames: 12 }));
    const t0 = performance.now();
    const joiner = new FlvJoiner();
    const pieces: FlvPiece[] = [];
    for (const c of chunks) for (const p of joiner.push(c).pieces) pieces.push(p);
    const result = joiner.finish();
    const ms = performance.now() - t0;
    console.log(`joined 1400 chunks (${pieces.length} pieces) in ${ms.toFixed(1)} ms`);
    assert.equal(result.summary.restarts, 1399);
    const out = assembleFlv(result.head, pieces, chunks);
    assert.equal(out.length, result.size);
    const { video, audio, md } = demuxJoined(out);
    assert.equal(video.length, 1400 * 6);
    assert.equal(audio.length, 1400 * 12);
    assert.equal(video.filter((s) => s.keyframe).length, 1400);
    // 6 frames of 40 ms and 12 of 20 ms: each chunk lasts 240 ms.
    assert.equal((video[video.length - 1] as Sample).dts, 1399 * 240 + 200);
    assert.ok(Math.abs((md.duration as number) - 1400 * 0.24) < 0.001, String(md.duration));
    assert.equal(((md.keyframes as AmfObject).times as number[]).length, 1400);
  });

  it('handles a mix of continuation, restarts, jumps and overlaps', () => {
    const { chunks, expected } = mixedChunks(300, 7);
    const { result, pieces } = planFlvJoin(chunks);
    assert.deepEqual(
      result.reports.map((r) => r.kind),
      expected,
    );
    const overlaps = expected.filter((k) => k === 'overlap').length;
    assert.ok(overlaps > 30);
    assert.equal(result.summary.dropped.duplicate, overlaps * 9);
    const { video, audio } = demuxJoined(assembleFlv(result.head, pieces, chunks));
    assert.equal(video.length, 3000);
    assert.equal(audio.length, 6000);
    // Steady 40 ms steps everywhere: restarts moved, gaps closed, repeats removed.
    for (let i = 1; i < video.length; i++)
      assert.equal((video[i] as Sample).dts - (video[i - 1] as Sample).dts, 40);
    for (let i = 1; i < audio.length; i++)
      assert.equal((audio[i] as Sample).dts - (audio[i - 1] as Sample).dts, 20);
  });

  it('rewriteInPlace: the same output bytes, with retimed tags moved as whole ranges', () => {
    const make = (): Uint8Array[] => mixedChunks(120, 11).chunks;
    const plain = make();
    const copied = planFlvJoin(plain);
    const own = make();
    const inPlace = planFlvJoin(own, { rewriteInPlace: true });
    assert.deepEqual(
      inPlace.result.reports.map((r) => r.kind),
      copied.result.reports.map((r) => r.kind),
    );
    assert.deepEqual(
      assembleFlv(inPlace.result.head, inPlace.pieces, own),
      assembleFlv(copied.result.head, copied.pieces, plain),
    );
    assert.ok(
      inPlace.pieces.length * 3 < copied.pieces.length,
      `${inPlace.pieces.length} pieces in place, ${copied.pieces.length} copied`,
    );
  });

  it('keeps a chunk joined again later (a, b, a): older content coming back is not an overlap', () => {
    const a = synthChunk({ t0: 0, frame0: 0, videoFrames: 10, audioFrames: 20 });
    const b = synthChunk({ t0: 0, frame0: 100, videoFrames: 10, audioFrames: 20 });
    // A chunk sent again right after itself is still recognised and dropped.
    const { result, pieces } = planFlvJoin([a, b, a.slice(), b.slice()]);
    assert.deepEqual(
      result.reports.map((r) => r.kind),
      ['first', 'restart', 'restart', 'restart'],
    );
    assert.equal(result.summary.dropped.duplicate, 0);
    const { video, audio } = demuxJoined(assembleFlv(result.head, pieces, [a, b, a, b]));
    assert.equal(video.length, 40);
    assert.equal(audio.length, 80);
    for (let i = 1; i < video.length; i++)
      assert.equal((video[i] as Sample).dts - (video[i - 1] as Sample).dts, 40);
    const again = planFlvJoin([a, b, b.slice()]);
    assert.deepEqual(
      again.result.reports.map((r) => r.kind),
      ['first', 'restart', 'overlap'],
    );
    assert.equal(again.result.summary.dropped.duplicate, 30);
  });

  it('recognises a long chunk sent again (more frames than the history keeps), timestamps kept or reset', () => {
    const long = (frame0: number, t0: number): Uint8Array =>
      synthChunk({ t0, frame0, videoFrames: 150, audioFrames: 300 });
    for (const reset of [false, true]) {
      const a = long(0, 0);
      const b = long(1000, reset ? 0 : 6000);
      for (const onePass of [true, false]) {
        const chunks = [a.slice(), b.slice(), b.slice()];
        const { result, pieces } = planFlvJoin(chunks, { rewriteInPlace: true, onePass });
        const label = `reset ${reset}, one pass ${onePass}`;
        assert.deepEqual(
          result.reports.map((r) => r.kind),
          ['first', reset ? 'restart' : 'continuous', 'overlap'],
          label,
        );
        assert.equal(result.summary.dropped.duplicate, 450, label);
        const { video, audio, md } = demuxJoined(assembleFlv(result.head, pieces, chunks));
        assert.equal(video.length, 300, label);
        assert.equal(audio.length, 600, label);
        assert.ok(Math.abs((md.duration as number) - 12) < 0.05, `${label}: ${String(md.duration)}`);
      }
      // Older long content coming back (a, b, a): at its own time again, a repeat; with its timestamps
      // reset, laid after b, new frames.
      const again = planFlvJoin([a, b, a.slice()]); // not in place: a and b stay as they are
      assert.deepEqual(
        again.result.reports.map((r) => r.kind),
        reset ? ['first', 'restart', 'restart'] : ['first', 'continuous', 'overlap'],
        `a, b, a with reset ${reset}`,
      );
      assert.equal(again.result.summary.dropped.duplicate, reset ? 0 : 450);
    }
  });

  it('checks a repeat only against frames it remembers: the start of a long chunk is not remembered', () => {
    const long = (frame0: number, t0: number): Uint8Array =>
      synthChunk({ t0, frame0, videoFrames: 150, audioFrames: 300 });
    const a = long(0, 0);
    const b = long(1000, 6000);
    // b's 450 frames: the last 256 are remembered. c repeats six frames before those and two of them,
    // timestamps kept: the two match, the six are unknown (not a mismatch with a's tail, remembered
    // before them), so c is an overlap and nothing of it is written again.
    const empty = synthChunk({ t0: 0, frame0: 5000, videoFrames: 0, audioFrames: 0 });
    const c = withRepeated(empty, b, (frames) => frames.slice(-262, -254));
    for (const onePass of [true, false]) {
      const { result } = planFlvJoin([a.slice(), b.slice(), c.slice()], { rewriteInPlace: true, onePass });
      assert.deepEqual(
        result.reports.map((r) => r.kind),
        ['first', 'continuous', 'overlap'],
        `one pass ${onePass}`,
      );
      assert.equal(result.summary.dropped.duplicate, 8, `one pass ${onePass}`);
    }
  });

  it('does not align by sound alone: the same audio under new video, or silence, restarts', () => {
    // Sound that lasts a little longer than the video: the last frames of each chunk are audio.
    for (const [videoFrames, audioFrames] of [
      [150, 304],
      [5, 14],
      [0, 300],
      [0, 10],
    ] as const) {
      const chunk = (frame0: number, o: { silence?: boolean; audio0?: number }): Uint8Array =>
        synthChunk({ t0: 0, frame0, videoFrames, audioFrames, ...o });
      const cases = [[chunk(1, { silence: true }), chunk(2, { silence: true }), chunk(3, { silence: true })]];
      if (videoFrames > 0) cases.push([chunk(1, {}), chunk(2, { audio0: 1 })]);
      for (const chunks of cases) {
        for (const onePass of [true, false]) {
          const label = `${videoFrames} video frames, ${chunks.length} chunks, one pass ${onePass}`;
          const { result } = planFlvJoin(
            chunks.map((c) => c.slice()),
            { rewriteInPlace: true, onePass },
          );
          assert.deepEqual(
            result.reports.map((r) => r.kind),
            ['first', ...chunks.slice(1).map(() => 'restart')],
            label,
          );
          assert.equal(result.summary.dropped.duplicate, 0, label);
        }
      }
    }
  });

  it('drops a repeated time with different bytes as a duplicate, not as a restart', () => {
    const a = synthChunk({ t0: 0, frame0: 0, videoFrames: 5, audioFrames: 10 });
    // Starts one video frame early (160 ms instead of 200 ms), with new bytes.
    const b = synthChunk({ t0: 160, frame0: 100, videoFrames: 5, audioFrames: 10 });
    const { result, pieces } = planFlvJoin([a, b]);
    const r = result.reports[1];
    assert.equal(r?.kind, 'overlap');
    assert.equal(r?.shift, 0);
    // The video frame at 160 and the audio frames at 160 and 180 were already written.
    assert.equal(r?.dropped.duplicate, 3);
    const d = new FlvDemuxer();
    const o = d.push(assembleFlv(result.head, pieces, [a, b]));
    assert.deepEqual(d.end().warnings, []);
    assert.equal(o.samples.length, 30 - 3);
  });

  it('joins a chunk cut short by a failed download, reporting the dropped tag', () => {
    const a = synthChunk({ t0: 0, frame0: 0, videoFrames: 5, audioFrames: 10 });
    const full = synthChunk({ t0: 200, frame0: 5, videoFrames: 5, audioFrames: 10 });
    const b = full.subarray(0, full.length - 40);
    const c = synthChunk({ t0: 400, frame0: 10, videoFrames: 5, audioFrames: 10 });
    const { result, pieces } = planFlvJoin([a, b, c]);
    assert.deepEqual(
      result.reports[1]?.warnings.map((w) => w.code),
      ['E_FLV_TAG_PAST_END'],
    );
    assert.deepEqual(
      result.reports.map((r) => r.kind),
      ['first', 'continuous', 'continuous'],
    );
    const { video, audio } = demuxJoined(assembleFlv(result.head, pieces, [a, b, c]));
    assert.equal(video.length, 15);
    // The last tag of b (its end-of-sequence, then the last frame) may be lost; nothing else.
    assert.ok(audio.length >= 29);
  });

  it('places a restart inside a chunk (a publisher reconnecting mid-chunk)', () => {
    const a = synthChunk({ t0: 0, frame0: 0, videoFrames: 10, audioFrames: 20 });
    const before = synthChunk({ t0: 400, frame0: 10, videoFrames: 10, audioFrames: 20 });
    const after = synthChunk({ t0: 0, frame0: 20, videoFrames: 10, audioFrames: 20 });
    const b = concat([framesOnly(before, true), framesOnly(after, false)]);
    const c = synthChunk({ t0: 400, frame0: 30, videoFrames: 10, audioFrames: 20 });
    const { result, pieces } = planFlvJoin([a, b, c]);
    assert.deepEqual(
      result.reports.map((r) => r.kind),
      ['first', 'continuous', 'continuous'],
    );
    assert.deepEqual(
      result.reports[1]?.splits.map((x) => [x.kind, x.correction]),
      [['restart', 800]],
    );
    const { video, audio } = demuxJoined(assembleFlv(result.head, pieces, [a, b, c]));
    assert.equal(video.length, 40);
    assert.equal(audio.length, 80);
    for (let i = 1; i < video.length; i++)
      assert.equal((video[i] as Sample).dts - (video[i - 1] as Sample).dts, 40);
  });

  it('does not close up sparse video over continuous audio', () => {
    // One video frame every 1.5 s (a slide show), audio every 20 ms.
    const chunks: Uint8Array[] = [];
    for (let c = 0; c < 4; c++) {
      const parts: Uint8Array[] = [
        framesOnly(synthChunk({ t0: c * 3000, frame0: c, videoFrames: 0, audioFrames: 0 }), true),
      ];
      const tags: { ts: number; b: Uint8Array }[] = [];
      for (let v = 0; v < 2; v++) {
        const ts = c * 3000 + v * 1500;
        tags.push({ ts, b: avcTag(ts, 1, 0, true, payload(c * 10 + v, 60)) });
      }
      for (let k = 0; k < 150; k++) {
        const ts = c * 3000 + k * 20;
        tags.push({ ts, b: aacTag(ts, 1, payload(5000 + c * 1000 + k, 12)) });
      }
      tags.sort((x, y) => x.ts - y.ts);
      chunks.push(concat([...parts, ...tags.map((t) => t.b)]));
    }
    const { result, pieces } = planFlvJoin(chunks);
    assert.ok(
      result.reports.every((r) => r.correction === 0 && r.splits.every((x) => x.correction === 0)),
      JSON.stringify(result.reports.map((r) => [r.kind, r.correction, r.splits])),
    );
    const { video, audio } = demuxJoined(assembleFlv(result.head, pieces, chunks));
    assert.deepEqual(
      video.map((s) => s.dts),
      [0, 1500, 3000, 4500, 6000, 7500, 9000, 10500],
    );
    assert.equal(audio.length, 600);
  });

  it('survives damaged chunks: reports, never throws anything but its plan, output stays valid', () => {
    let seed = 2024;
    const rnd = (n: number): number => {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      return (seed >>> 8) % n;
    };
    for (let round = 0; round < 40; round++) {
      const chunks: Uint8Array[] = [];
      for (let i = 0; i < 6; i++) {
        const c = synthChunk({
          t0: rnd(2) ? 0 : i * 400,
          frame0: i * 10,
          videoFrames: 10,
          audioFrames: 20,
        }).slice();
        const flips = rnd(6);
        for (let f = 0; f < flips; f++) c[rnd(c.length)] = rnd(256);
        chunks.push(c.subarray(0, c.length - rnd(30)));
      }
      const { result, pieces } = planFlvJoin(chunks);
      const out = assembleFlv(result.head, pieces, chunks);
      const r = new FlvTagReader();
      const warnings: string[] = [];
      const last = new Map<number, number>();
      const sink = {
        tag: (t: FlvTagView) => {
          if (t.type === TAG_SCRIPT || t.media.packet !== PACKET_FRAME) return;
          const prev = last.get(t.type) ?? -1;
          assert.ok(t.timestamp >= prev, `round ${round}: time ${t.timestamp} after ${prev}`);
          last.set(t.type, t.timestamp);
        },
        warning: (w: { code: string }) => warnings.push(w.code),
      };
      r.push(out, sink);
      r.end(sink);
      assert.deepEqual(warnings, [], `round ${round}`);
    }
  });

  it('reads well-formed chunks with its own scan exactly as with FlvTagReader (intact and damaged)', () => {
    let seed = 77;
    const rnd = (n: number): number => {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      return (seed >>> 8) % n;
    };
    const noHooks = { config: () => 2, script: () => 4 };
    let clean = 0;
    let total = 0;
    for (let round = 0; round < 300; round++) {
      const chunks: Uint8Array[] = [];
      for (let i = 0; i < 4; i++) {
        const c = synthChunk({
          t0: rnd(2) ? 0 : i * 400,
          frame0: round * 10 + i,
          videoFrames: 1 + rnd(8),
          audioFrames: rnd(12),
        }).slice();
        // Damage aimed at what the scan reads: tag headers and the first bytes of bodies.
        const starts: number[] = [];
        for (let p = 13; p + 11 <= c.length; p += 15 + ((c[p + 1]! << 16) | (c[p + 2]! << 8) | c[p + 3]!))
          starts.push(p);
        const flips = rnd(4);
        for (let f = 0; f < flips; f++) {
          const at = rnd(3) === 0 ? rnd(c.length) : starts[rnd(starts.length)]! + rnd(16);
          if (at < c.length) c[at] = rnd(3) === 0 ? rnd(256) : c[at]! ^ (1 << rnd(8));
        }
        chunks.push(c.subarray(0, c.length - (rnd(5) === 0 ? rnd(20) : 0)));
      }
      for (const c of chunks) {
        total++;
        if (scanCleanFlv(c, new FlvTagRows(), noHooks)) clean++;
      }
      const inPlace = rnd(2) === 0;
      const fast = chunks.map((c) => c.slice());
      const slow = chunks.map((c) => c.slice());
      const a = planFlvJoin(fast, { rewriteInPlace: inPlace });
      const b = planFlvJoin(slow, { rewriteInPlace: inPlace, cleanScan: false });
      assert.deepEqual(a.result, b.result, `round ${round}`);
      assert.deepEqual(a.pieces, b.pieces, `round ${round}`);
      assert.deepEqual(fast, slow, `round ${round}: chunk bytes after an in-place join`);
    }
    // Both ways were taken often.
    assert.ok(clean > total / 4 && clean < (total * 3) / 4, `${clean} of ${total} chunks scanned clean`);
  });

  it('plans in one pass exactly as from rows: restarts, gaps, overlaps, repeats, changes, ends, damage', () => {
    let seed = 4242;
    const rnd = (n: number): number => {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      return (seed >>> 8) % n;
    };
    const other = new Uint8Array([1, 77, 0, 30, 0xff, 0xe1, 0, 4, 0x67, 77, 0, 30, 1, 0, 2, 0x68, 0xee]);
    let onePass = 0;
    let total = 0;
    for (let round = 0; round < 300; round++) {
      const chunks: Uint8Array[] = [];
      let t = rnd(3) * 1000;
      let prevIntact = false; // with video frames and undamaged: its tail can be repeated
      let prevSynth: Parameters<typeof synthChunk>[0] | undefined;
      for (let i = 0; i < 5; i++) {
        const prev = chunks[chunks.length - 1];
        const how = rnd(11);
        if (prev !== undefined && how === 0) {
          chunks.push(prev.slice()); // sent again
          continue;
        }
        if (prevSynth !== undefined && how === 10) {
          chunks.push(synthChunk({ ...prevSynth, t0: 0 })); // sent again with its timestamps reset
          continue;
        }
        // Now and then longer than the history keeps of a chunk.
        const long = rnd(8) === 0;
        const videoFrames = long ? 100 + rnd(100) : rnd(6) === 0 ? 0 : 1 + rnd(8);
        const audioFrames = long ? 2 * videoFrames + rnd(3) : rnd(6) === 0 ? 0 : rnd(12);
        // restart at 0, continue, jump forward, or step back a little
        const t0 = how === 1 ? 0 : how === 2 ? t + 5000 : how === 3 ? Math.max(0, t - 30) : t;
        prevSynth = {
          t0,
          frame0: round * 1000 + i * 200,
          videoFrames,
          audioFrames,
          ...(rnd(8) === 0 ? { avcc: other } : {}),
        };
        let c = synthChunk(prevSynth);
        if (prev !== undefined && how === 4 && prevIntact && videoFrames + audioFrames > 0)
          c = withRepeatedTail(c, prev);
        prevIntact = videoFrames > 0;
        if (rnd(12) === 0) {
          prevIntact = false;
          c = c.slice();
          const at = 13 + rnd(c.length - 13);
          c[at] = (c[at] as number) ^ (1 << rnd(8));
        }
        chunks.push(c);
        t = t0 + Math.max(videoFrames * 40, audioFrames * 20);
      }
      const options = {
        rewriteInPlace: true,
        ...(rnd(4) === 0 ? { endMs: rnd(600) } : {}),
        ...(rnd(4) === 0 ? { maxGapMs: 100 + rnd(2000) } : {}),
      };
      const a = chunks.map((c) => c.slice());
      const b = chunks.map((c) => c.slice());
      const joiner = new FlvJoiner(options);
      const pieces: FlvPiece[] = [];
      let error: unknown;
      try {
        for (const c of a) pieces.push(...joiner.push(c).pieces);
      } catch (err) {
        error = err;
      }
      let rowsError: unknown;
      let rows: ReturnType<typeof planFlvJoin> | undefined;
      try {
        rows = planFlvJoin(b, { ...options, onePass: false });
      } catch (err) {
        rowsError = err;
      }
      assert.deepEqual(error, rowsError, `round ${round}`);
      if (rows === undefined) continue;
      assert.deepEqual(joiner.finish(), rows.result, `round ${round}`);
      assert.deepEqual(pieces, rows.pieces, `round ${round}`);
      assert.deepEqual(a, b, `round ${round}: chunk bytes after the join`);
      onePass += joiner.onePassChunks;
      total += chunks.length;
    }
    // Long chunks (more frames than the history keeps of each) and repeats from around where it starts.
    for (const n of [250, 255, 256, 257, 300]) {
      const long = (i: number, t0: number): Uint8Array =>
        synthChunk({ t0, frame0: 10_000 + i * 1000, videoFrames: 150, audioFrames: 300 });
      const first = long(0, 0);
      const chunks = [first, withRepeatedFrames(long(1, 6000), first, n)];
      const a = chunks.map((c) => c.slice());
      const b = chunks.map((c) => c.slice());
      const one = planFlvJoin(a, { rewriteInPlace: true });
      const rows = planFlvJoin(b, { rewriteInPlace: true, onePass: false });
      assert.deepEqual(one.result, rows.result, `${n} frames repeated`);
      assert.deepEqual(one.pieces, rows.pieces, `${n} frames repeated`);
      assert.equal(one.result.summary.overlaps, 1, `${n} frames repeated`);
      assert.equal(one.result.summary.dropped.duplicate, n, `${n} frames repeated`);
    }
    // Both ways were taken often.
    assert.ok(onePass > total / 4 && onePass < (total * 3) / 4, `${onePass} of ${total} chunks in one pass`);
  });

  it('keeps a sequence header only when it changes', () => {
    const a = synthChunk({ t0: 0, frame0: 0, videoFrames: 5, audioFrames: 10 });
    const b = synthChunk({ t0: 200, frame0: 5, videoFrames: 5, audioFrames: 10 });
    const other = new Uint8Array([1, 77, 0, 30, 0xff, 0xe1, 0, 4, 0x67, 77, 0, 30, 1, 0, 2, 0x68, 0xee]);
    const c = synthChunk({ t0: 400, frame0: 10, videoFrames: 5, audioFrames: 10, avcc: other });
    const { result, pieces } = planFlvJoin([a, b, c]);
    const out = assembleFlv(result.head, pieces, [a, b, c]);
    const configs = listTags(out).filter((t) => t.packet === PACKET_CONFIG && t.type === TAG_VIDEO);
    assert.equal(configs.length, 2);
    assert.equal(result.reports[2]?.videoConfigChanged, true);
    assert.equal(result.reports[1]?.dropped.sequenceHeader, 2);
    const d = new FlvDemuxer();
    const o = d.push(out);
    d.end();
    assert.equal(o.tracks.filter((t) => t.kind === 'video').length, 2);
    // The changed parameter sets also go in-band, into the first keyframe after the change only (readers
    // that parse frames, like ffmpeg's H.264 parser, would otherwise keep the old ones).
    const tags = listTags(out);
    const keys = tags.filter((t) => t.type === TAG_VIDEO && t.packet === PACKET_FRAME && t.keyframe);
    assert.equal(keys.length, 3);
    const body = (t: TagInfo): Uint8Array => out.subarray(t.offset + 11, t.end - 4);
    const units = [0, 0, 0, 4, 0x67, 77, 0, 30, 0, 0, 0, 2, 0x68, 0xee];
    const third = body(keys[2] as TagInfo);
    assert.deepEqual([...third.subarray(5, 5 + units.length)], units);
    assert.deepEqual(third.subarray(5 + units.length), payload(10, 40 + 10));
    assert.deepEqual(body(keys[1] as TagInfo).subarray(5), payload(5, 40 + 5));
    // The keyframe index still points at the keyframes, and in place the output is the same.
    const md = d.metadata as AmfObject;
    const positions = (md.keyframes as AmfObject).filepositions as number[];
    assert.deepEqual(
      positions,
      keys.map((t) => t.offset),
    );
    const own = [a.slice(), b.slice(), c.slice()];
    const inPlace = planFlvJoin(own, { rewriteInPlace: true });
    assert.deepEqual(assembleFlv(inPlace.result.head, inPlace.pieces, own), out);
  });
});

/**
 * `fresh` with the last 120 ms of `prev` (3 video and 6 audio frames, byte for byte) inserted before its
 * first frame, as a server repeating what it already sent.
 */
function withRepeatedTail(fresh: Uint8Array, prev: Uint8Array): Uint8Array {
  return withRepeated(fresh, prev, (frames) => {
    const lastVideo = frames.filter((t) => t.type === TAG_VIDEO).pop() as TagInfo;
    return frames.filter((t) => t.ts >= lastVideo.ts - 80);
  });
}

/** `fresh` with the last `n` frames of `prev` (byte for byte) inserted before its first frame. */
function withRepeatedFrames(fresh: Uint8Array, prev: Uint8Array, n: number): Uint8Array {
  return withRepeated(fresh, prev, (frames) => frames.slice(-n));
}

/** `fresh` with the frames `pick` takes of `prev`'s frame tags inserted before its first frame. */
function withRepeated(
  fresh: Uint8Array,
  prev: Uint8Array,
  pick: (frames: TagInfo[]) => TagInfo[],
): Uint8Array {
  const repeat = pick(listTags(prev).filter((t) => t.packet === PACKET_FRAME && t.type !== TAG_SCRIPT));
  const tags = listTags(fresh);
  // Before the first frame, or, in a chunk without frames, before its end-of-sequence tag.
  const at = (tags.find((t) => t.type !== TAG_SCRIPT && t.packet === PACKET_FRAME) ?? tags[tags.length - 1])!
    .offset;
  return concat([
    fresh.subarray(0, at),
    ...repeat.map((t) => prev.subarray(t.offset, t.end)),
    fresh.subarray(at),
  ]);
}

/**
 * The frame tags of a synthetic chunk; with `withHead`, also its file header, onMetaData and sequence
 * headers (everything but the trailing end-of-sequence tag).
 */
function framesOnly(chunk: Uint8Array, withHead: boolean): Uint8Array {
  const tags = listTags(chunk);
  const frames = tags.filter((t) => t.type !== TAG_SCRIPT && t.packet === PACKET_FRAME);
  const from = withHead ? 0 : (frames[0]?.offset ?? chunk.length);
  const eos = tags[tags.length - 1] as TagInfo;
  return chunk.subarray(from, eos.offset);
}
