import assert from 'node:assert/strict';
import { createWriteStream, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { after, describe, it } from 'node:test';
import { RawRecordSink } from '../../src/api/record-raw-sink.js';
import { fixture } from '../helpers/fixtures.js';
import { scratchDir } from '../helpers/scratch.js';

const dir = scratchDir('castkit-raw-sink-');
after(() => rmSync(dir, { recursive: true, force: true }));

/** A TS "segment": null packets (PID 0x1FFF) with a marker byte, enough for the sniffer. */
function tsSegment(marker: number, packets = 12): Uint8Array {
  const b = new Uint8Array(packets * 188).fill(0xff);
  for (let i = 0; i < packets; i++) {
    const p = i * 188;
    b.set([0x47, 0x1f, 0xff, 0x10], p);
    b[p + 4] = marker;
  }
  return b;
}

const meta = (i: number): { name: string; duration: number } => ({ name: `seg${i}`, duration: 2 });

/** Segments the sink has let go of and not yet handed back (its private list). */
const waiting = (sink: RawRecordSink): number => (sink as unknown as { freed: { size: number } }).freed.size;

describe('RawRecordSink.releasesSegments', () => {
  it('to a file: keeps the last segment (a discontinuity reads its times) and lets go of the one before', async () => {
    const out = join(dir, 'a.ts');
    const sink = await RawRecordSink.toFile(out, 'ts');
    const segs = [1, 2, 3].map((m) => tsSegment(m));
    await sink.addSegment('main', segs[0] as Uint8Array, meta(0));
    assert.deepEqual(sink.releasesSegments(), [], 'the first is kept');
    await sink.addSegment('main', segs[1] as Uint8Array, meta(1));
    assert.deepEqual(sink.releasesSegments(), [segs[0]]);
    await sink.addSegment('main', segs[2] as Uint8Array, meta(2));
    const freed = sink.releasesSegments();
    assert.equal(freed.length, 1);
    assert.equal(freed[0], segs[1]);
    assert.deepEqual(sink.releasesSegments(), [], 'each is handed back once');
    // What the caller does with memory handed back does not reach the output.
    (segs[0] as Uint8Array).fill(0);
    (segs[1] as Uint8Array).fill(0);
    await sink.finish();
    assert.ok(readFileSync(out).equals(Buffer.concat([tsSegment(1), tsSegment(2), tsSegment(3)])));
  });

  it('never hands back the memory of the segment it keeps, even when given the same memory again', async () => {
    const sink = await RawRecordSink.toFile(join(dir, 'same.ts'), 'ts');
    const seg = tsSegment(5);
    await sink.addSegment('main', seg, meta(0));
    await sink.addSegment('main', seg, meta(1));
    assert.deepEqual(sink.releasesSegments(), [], 'still the last one written');
    const other = tsSegment(6);
    await sink.addSegment('main', other, meta(2));
    const freed = sink.releasesSegments();
    assert.equal(freed.length, 1);
    assert.equal(freed[0], seg);
    await sink.finish();
  });

  it('past the end (--duration): a segment not written is handed back, the one kept is not', async () => {
    const ts = readFileSync(await fixture('h264-aac.ts'));
    const sink = await RawRecordSink.toFile(join(dir, 'end.ts'), 'ts', undefined, 0.5);
    const a = new Uint8Array(ts);
    const b = new Uint8Array(ts);
    await sink.addSegment('main', a, meta(0)); // cut at 0.5 s: the end
    assert.deepEqual(sink.releasesSegments(), [], 'the first is kept');
    await sink.addSegment('main', b, meta(1)); // past the end: not written
    const freed = sink.releasesSegments();
    assert.equal(freed.length, 1);
    assert.equal(freed[0], b);
    const r = await sink.finish();
    assert.ok(r.bytesOut < ts.length, 'the output ends at 0.5 s');
  });

  it('to a stream that passes its chunks on (not a descriptor): never lets go', async () => {
    const stream = new PassThrough();
    const chunks: Buffer[] = [];
    stream.on('data', (c: Buffer) => chunks.push(c));
    const sink = RawRecordSink.toStream(stream, 'ts');
    for (let i = 0; i < 4; i++) {
      await sink.addSegment('main', tsSegment(i + 1), meta(i));
      assert.deepEqual(sink.releasesSegments(), [], `after segment ${i}`);
    }
    assert.equal(waiting(sink), 0, 'nothing collected that could never be handed back');
    await sink.finish();
    assert.equal(Buffer.concat(chunks).length, 4 * 12 * 188);
  });

  it('to a descriptor (standard output, a file stream): lets go once the stream has handed the bytes on', async () => {
    const out = join(dir, 'b.ts');
    const stream = createWriteStream(out);
    await new Promise((resolve) => stream.once('open', resolve));
    const sink = RawRecordSink.toStream(stream, 'ts');
    const a = tsSegment(1);
    await sink.addSegment('main', a, meta(0));
    await sink.addSegment('main', tsSegment(2), meta(1));
    if (stream.writableLength > 0) {
      assert.deepEqual(sink.releasesSegments(), [], 'not while the stream holds bytes');
      while (stream.writableLength > 0) await new Promise((resolve) => setImmediate(resolve));
    }
    assert.deepEqual(sink.releasesSegments(), [a]);
    await sink.finish();
    await new Promise((resolve) => stream.end(resolve));
    assert.ok(readFileSync(out).equals(Buffer.concat([tsSegment(1), tsSegment(2)])));
  });

  it('holds at most a few segments for a caller that never asks for them', async () => {
    const sink = await RawRecordSink.toFile(join(dir, 'never.ts'), 'ts');
    for (let i = 0; i < 20; i++) await sink.addSegment('main', tsSegment(i + 1), meta(i));
    assert.ok(waiting(sink) <= 8, `${waiting(sink)} segments held`);
    await sink.finish();
  });

  it('an init section is copied: the caller may use its memory again', async () => {
    const out = join(dir, 'c.mp4');
    const sink = await RawRecordSink.toFile(out, 'fmp4');
    const init = new Uint8Array([0, 0, 0, 16, 0x66, 0x74, 0x79, 0x70, 0x69, 0x73, 0x6f, 0x36, 0, 0, 0, 0]);
    const kept = Buffer.from(init);
    await sink.setInit('main', init);
    init.fill(0);
    const moof = new Uint8Array([0, 0, 0, 8, 0x6d, 0x6f, 0x6f, 0x66]);
    await sink.addSegment('main', moof, meta(0));
    await sink.finish();
    assert.ok(readFileSync(out).subarray(0, 16).equals(kept));
  });
});
