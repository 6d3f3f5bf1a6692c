/**
 * Mp4RecordSink.snapshot() and restore(): a recording stopped after any segment (its sink suspended,
 * the checkpoint stored and read back as bytes) and restored from its checkpoint, given the segments after
 * it, writes the same MP4, byte for byte, as one sink given them all.
 */
import assert from 'node:assert/strict';
import {
  appendFileSync,
  existsSync,
  readFileSync,
  readdirSync,
  rmSync,
  truncateSync,
  writeFileSync,
} from 'node:fs';
import { dirname, join } from 'node:path';
import { after, describe, it } from 'node:test';
import { deserialize, serialize } from 'node:v8';
import { Mp4RecordSink, type Mp4SinkCheckpoint } from '../../src/api/record-sink.js';
import { scratchDir } from '../helpers/scratch.js';
import { mediaPlaylistOf, streamFixture, type StreamFixtureName } from '../helpers/stream-fixtures.js';

const dir = scratchDir('castkit-sink-checkpoint-');
after(() => rmSync(dir, { recursive: true, force: true }));

interface Segments {
  init?: Buffer;
  segments: Buffer[];
  seconds: number;
  /** Segments given as starting a discontinuity (a new run). */
  discontinuities?: Set<number>;
  /** Segments preceded by a gap of one segment's length (one that could not be fetched). */
  gaps?: Set<number>;
}

/** The best rendition's init section (fMP4) and media segments, in order. */
async function hlsSegments(name: StreamFixtureName): Promise<Segments> {
  const fx = await streamFixture(name);
  const playlist = join(fx.dir, mediaPlaylistOf(fx));
  const lines = readFileSync(playlist, 'utf8').split('\n');
  const at = (file: string): Buffer => readFileSync(join(dirname(playlist), file));
  const map = /URI="([^"]+)"/.exec(lines.find((l) => l.startsWith('#EXT-X-MAP')) ?? '')?.[1];
  const segments = lines.filter((l) => l.trim() !== '' && !l.startsWith('#')).map((l) => at(l.trim()));
  return { ...(map ? { init: at(map) } : {}), segments, seconds: fx.segmentSeconds };
}

/** The same MPEG-TS bytes cut elsewhere: inside packets, PES packets and access units. */
function recut(s: Segments, sizes: number[]): Segments {
  const all = Buffer.concat(s.segments);
  const segments: Buffer[] = [];
  for (let at = 0, i = 0; at < all.length; i++) {
    const n = sizes[i % sizes.length] as number;
    segments.push(all.subarray(at, at + n));
    at += n;
  }
  return { segments, seconds: (s.seconds * s.segments.length) / segments.length };
}

/** Segments [from, to) into the sink. */
async function give(sink: Mp4RecordSink, s: Segments, from: number, to: number): Promise<void> {
  if (from === 0 && s.init) await sink.setInit('main', Buffer.from(s.init));
  for (let i = from; i < to; i++) {
    if (s.gaps?.has(i)) await sink.addGap('main', s.seconds);
    await sink.addSegment('main', Buffer.from(s.segments[i] as Buffer), {
      name: `seg${i}`,
      duration: s.seconds,
      discontinuity: s.discontinuities?.has(i) === true,
    });
  }
}

const stored = (c: Mp4SinkCheckpoint[]): Mp4SinkCheckpoint[] =>
  c.map((x) => deserialize(serialize(x)) as Mp4SinkCheckpoint);

/**
 * The segments up to `k` into a new sink, a checkpoint kept after each one (from the first that can be
 * kept), then the next segment half written past the last checkpoint before the run "dies".
 */
async function firstRun(out: string, s: Segments, k: number, options: object): Promise<Mp4SinkCheckpoint[]> {
  const first = await Mp4RecordSink.create(out, options);
  const kept: Mp4SinkCheckpoint[] = [];
  for (let i = 0; i < k; i++) {
    await give(first, s, i, i + 1);
    const cp = first.snapshot();
    if (cp) await first.flushPayload();
    if (cp) kept.push(cp);
    else assert.equal(kept.length, 0, `segment ${i}: once one checkpoint could be kept, every one can`);
  }
  await give(first, s, k, k + 1);
  await first.suspend();
  return kept;
}

/** The whole recording in one sink, then stopped after each of `stops` and restored: every output. */
async function check(label: string, s: Segments, stops: number[]): Promise<void> {
  const options = { expectedSec: s.seconds * s.segments.length };
  const reference = join(dir, `${label}-whole.mp4`);
  const whole = await Mp4RecordSink.create(reference, options);
  await give(whole, s, 0, s.segments.length);
  await whole.finish();
  const expected = readFileSync(reference);
  for (const k of stops) {
    const out = join(dir, `${label}-${k}.mp4`);
    const kept = await firstRun(out, s, k, options);
    assert.ok(kept.length > 0, `${label}: a checkpoint by segment ${k}`);
    assert.ok(!existsSync(out), 'no finished-looking output meanwhile');
    // What the next run finds: the checkpoints as bytes, and a temporary output with the next segment
    // half written past the last, and more junk past that than the rest of the recording will write.
    const last = kept[kept.length - 1] as Mp4SinkCheckpoint;
    appendFileSync(last.tempPath, Buffer.alloc(expected.length, 0xee));
    const second = await Mp4RecordSink.restore(out, stored(kept), options);
    await give(second, s, k, s.segments.length);
    await second.finish();
    assert.ok(readFileSync(out).equals(expected), `${label}: stopped after segment ${k}, the same MP4`);
    assert.deepEqual(
      readdirSync(dir).filter((f) => f.includes(`${label}-${k}.mp4.`)),
      [],
      'no temporary file left',
    );
  }
}

describe('Mp4RecordSink: checkpoint and restore', () => {
  it('MPEG-TS segments: stopped after any segment, the same MP4', async () => {
    const s = await hlsSegments('hls-ts');
    assert.ok(s.segments.length >= 8, `${s.segments.length} segments`);
    await check('ts', s, [1, 2, Math.floor(s.segments.length / 2), s.segments.length - 1]);
  });

  it('MPEG-TS cut inside packets and access units: stopped anywhere, the same MP4', async () => {
    const s = recut(await hlsSegments('hls-ts'), [100_003, 77_777, 188 * 300 + 5]);
    assert.ok(s.segments.length >= 10, `${s.segments.length} pieces`);
    const every = Array.from({ length: s.segments.length - 2 }, (_, i) => i + 2).filter((k) => k % 3 === 0);
    await check('ts-recut', s, every);
  });

  it('runs ended by discontinuities and a gap between checkpoints: stopped anywhere, the same MP4', async () => {
    const s = await hlsSegments('hls-ts');
    const n = s.segments.length;
    const cut: Segments = { ...s, discontinuities: new Set([3, 4, 7]), gaps: new Set([Math.min(6, n - 2)]) };
    await check(
      'runs',
      cut,
      Array.from({ length: n - 1 }, (_, i) => i + 1),
    );
  });

  it('fMP4 segments: stopped after any segment, the same MP4', async () => {
    const s = await hlsSegments('hls-fmp4');
    assert.ok(s.init && s.segments.length >= 8, `${s.segments.length} segments`);
    await check('fmp4', s, [1, 3, s.segments.length - 1]);
  });

  it('each checkpoint holds what changed since the one before: they do not grow with the recording', async () => {
    const s = await hlsSegments('hls-ts');
    const kept = await firstRun(join(dir, 'sizes.mp4'), s, s.segments.length - 1, {
      expectedSec: s.seconds * s.segments.length,
    });
    const sizes = kept.map((c) => serialize(c).length);
    assert.ok(sizes.length >= 6, `${sizes.length} checkpoints`);
    const second = sizes[1] as number;
    for (const [i, n] of sizes.entries())
      assert.ok(n < second * 1.5, `checkpoint ${i}: ${n} bytes, the second ${second}`);
    // Left out, any one of them makes the rest unusable.
    const gap = [...kept.slice(0, 2), ...kept.slice(3)];
    await assert.rejects(Mp4RecordSink.restore(join(dir, 'sizes.mp4'), stored(gap)), /out of order/);
  });

  it('a temporary output shorter than its checkpoint, or gone, is refused with what happened', async () => {
    const s = await hlsSegments('hls-ts');
    const out = join(dir, 'short.mp4');
    const kept = await firstRun(out, s, 3, { expectedSec: s.seconds * s.segments.length });
    const cp = kept[kept.length - 1] as Mp4SinkCheckpoint;
    truncateSync(cp.tempPath, cp.length - 1);
    await assert.rejects(Mp4RecordSink.restore(out, stored(kept)), (err: Error & { code?: string }) => {
      assert.equal(err.code, 'E_OUTPUT_SHORT');
      assert.match(err.message, /shorter than the \d+ bytes written to it before/);
      return true;
    });
    rmSync(cp.tempPath);
    await assert.rejects(Mp4RecordSink.restore(out, stored(kept)), /cannot reopen .*ENOENT/);
    // A checkpoint naming a file that is not a temporary file of this output: nothing is opened, let
    // alone cut back or written.
    const victim = join(dir, 'victim.txt');
    writeFileSync(victim, 'keep me');
    for (const tempPath of [
      victim,
      join(dir, '.short.mp4.x.part.txt'),
      join(dir, 'sub', '.short.mp4.x.part'),
    ]) {
      const forged = stored(kept).map((c, i) => (i === kept.length - 1 ? { ...c, tempPath } : c));
      await assert.rejects(Mp4RecordSink.restore(out, forged), (err: Error & { code?: string }) => {
        assert.equal(err.code, 'E_OUTPUT_TEMP');
        return true;
      });
    }
    assert.equal(readFileSync(victim, 'utf8'), 'keep me');
  });

  it('no checkpoint before the room for the moov is reserved; a checkpoint of another kind is refused', async () => {
    const sink = await Mp4RecordSink.create(join(dir, 'none.mp4'), {});
    assert.equal(sink.snapshot(), undefined, 'nothing given yet');
    await sink.abort();
    await assert.rejects(
      Mp4RecordSink.restore(join(dir, 'x.mp4'), [{ kind: 'other' } as unknown as Mp4SinkCheckpoint]),
      /not checkpoints/,
    );
    await assert.rejects(Mp4RecordSink.restore(join(dir, 'x.mp4'), []), /not checkpoints/);
  });
});
