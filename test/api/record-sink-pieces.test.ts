/**
 * DemuxingSink: an MPEG-TS segment larger than a piece (256 kB) goes to its demuxer a piece at a time, the
 * event loop let run between two pieces once a millisecond has passed since it last ran (sockets of the
 * segments being fetched are read meanwhile), and the MP4 is the same as from the same bytes given as
 * segments of a piece or less.
 */
import assert from 'node:assert/strict';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { Mp4RecordSink } from '../../src/api/record-sink.js';
import { MpegtsDemuxer } from '../../src/formats/mpegts/mpegts-demuxer.js';
import { fixture } from '../helpers/fixtures.js';
import { scratchDir } from '../helpers/scratch.js';

const dir = scratchDir('castkit-sink-pieces-');
after(() => rmSync(dir, { recursive: true, force: true }));

const PIECE = 256 << 10;

describe('Mp4RecordSink: large MPEG-TS segments', () => {
  it('pushed a piece at a time, the event loop run between once a millisecond has passed; the same MP4 as from small segments', async () => {
    const ts = readFileSync(await fixture('noise.ts'));
    assert.ok(ts.length > 4 * PIECE, `a segment of several pieces (${ts.length} bytes)`);
    const seconds = 6;

    // The same bytes as segments no larger than a piece (pushed whole). No expected length: the moov is
    // put in front at the end either way, so the two outputs can be compared byte for byte.
    const small = join(dir, 'small.mp4');
    const a = await Mp4RecordSink.create(small);
    const n = Math.ceil(ts.length / PIECE);
    for (let i = 0; i < n; i++) {
      await a.addSegment('main', ts.subarray(i * PIECE, (i + 1) * PIECE), {
        name: `s${i}`,
        duration: seconds / n,
      });
    }
    await a.finish();

    const pushes: { bytes: number; ticks: number }[] = [];
    let ticks = 0;
    let ticking = true;
    const tick = (): void => {
      ticks++;
      if (ticking) setImmediate(tick);
    };
    setImmediate(tick);
    const push = Object.getOwnPropertyDescriptor(MpegtsDemuxer.prototype, 'push')?.value as (
      this: MpegtsDemuxer,
      chunk: Uint8Array,
    ) => ReturnType<MpegtsDemuxer['push']>;
    MpegtsDemuxer.prototype.push = function (chunk) {
      pushes.push({ bytes: chunk.length, ticks });
      return push.call(this, chunk);
    };
    // A clock that moves a millisecond each time it is read: the loop is let run before every piece.
    const now = Object.getOwnPropertyDescriptor(performance, 'now');
    let clock = 0;
    Object.defineProperty(performance, 'now', { value: () => ++clock, configurable: true });
    const large = join(dir, 'large.mp4');
    try {
      const b = await Mp4RecordSink.create(large);
      await b.addSegment('main', ts, { name: 'whole', duration: seconds });
      ticking = false;
      await b.finish();
    } finally {
      MpegtsDemuxer.prototype.push = push;
      ticking = false;
      if (now) Object.defineProperty(performance, 'now', now);
      else delete (performance as { now?: unknown }).now;
    }
    assert.equal(pushes.length, n, 'one push a piece');
    assert.ok(
      pushes.every((p) => p.bytes <= PIECE),
      'no piece larger than 256 kB',
    );
    for (let i = 1; i < pushes.length; i++)
      assert.ok(
        (pushes[i]?.ticks ?? 0) > (pushes[i - 1]?.ticks ?? 0),
        `the event loop ran before piece ${i}`,
      );
    assert.ok(readFileSync(large).equals(readFileSync(small)), 'the same MP4');
  });
});
