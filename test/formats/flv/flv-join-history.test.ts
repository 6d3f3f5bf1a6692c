import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  fingerprint,
  FrameHistory,
  NO_FRAME,
  RowFrames,
  ScanFrames,
  type PartFrames,
} from '../../../src/formats/flv/flv-join-history.js';
import { HISTORY_MAX } from '../../../src/formats/flv/flv-tag-classes.js';
import { FlvChunkScan, FlvTagRows, scanCleanFlv } from '../../../src/formats/flv/flv-tag-rows.js';
import { synthChunk } from './flv-synth.js';

/** The track, time and fingerprint of every frame a walk gives, until it gives -1. */
function walk(part: PartFrames, step: (p: PartFrames) => number): string[] {
  const seen: string[] = [];
  for (let tr = step(part); tr >= 0; tr = step(part)) seen.push(`${tr}@${part.ts}:${part.print()}`);
  return seen;
}

describe('FLV join history', () => {
  it('walks a chunk frame by frame from its bytes as from its rows: forward, back, and turning', () => {
    // A sequence header and script data before, an end-of-sequence tag after: not frames.
    const b = synthChunk({ t0: 500, frame0: 7, videoFrames: 9, audioFrames: 17 });
    const scan = new FlvChunkScan();
    const rows = new FlvTagRows();
    const hooks = { config: () => 2, script: () => 4 };
    assert.ok(scanCleanFlv(b, rows, hooks, undefined, Infinity, scan));
    const fromBytes = new ScanFrames(scan, b);
    const fromRows = new RowFrames(rows, b, 0, rows.count);
    const forward = walk(fromRows, (p) => p.next());
    assert.equal(forward.length, 26);
    assert.deepEqual(
      walk(fromBytes, (p) => p.next()),
      forward,
    );
    for (const part of [fromBytes, fromRows]) {
      part.toEnd();
      assert.deepEqual(
        walk(part, (p) => p.prev()),
        [...forward].reverse(),
      );
      // Past the first frame, next() starts over; from the end, next() gives nothing.
      assert.deepEqual(
        walk(part, (p) => p.next()),
        forward,
      );
      part.toEnd();
      assert.equal(part.next(), -1);
      // Back three, then on again: the frames after the one it stopped at.
      part.toEnd();
      part.prev();
      part.prev();
      part.prev();
      assert.deepEqual(
        walk(part, (p) => p.next()),
        forward.slice(-2),
      );
      // On three, back again: the frames before.
      part.rewind();
      part.next();
      part.next();
      part.next();
      assert.deepEqual(
        walk(part, (p) => p.prev()),
        forward.slice(0, 2).reverse(),
      );
    }
  });

  it('tells a frame that was not written from one it does not remember', () => {
    const h = new FrameHistory();
    // Video every 40 ms from 0 to 400, audio every 20 ms; then a chunk whose start is not remembered
    // (frames from 1000 on, skipped() first).
    for (let t = 0; t <= 400; t += 20) {
      if (t % 40 === 0) h.add(t, 0, fingerprint(new Uint8Array([1, t & 255]), 0, 2));
      h.add(t, 1, 1000 + t);
    }
    h.skipped();
    for (let t = 1000; t <= 1200; t += 40) h.add(t, 0, 5000 + t);
    assert.equal(h.printAt(1120, 0), 6120);
    assert.equal(h.printAt(1100, 0), NO_FRAME); // between remembered frames of one run
    assert.equal(h.printAt(800, 0), undefined); // in the part of the chunk not remembered
    assert.equal(h.printAt(1300, 0), undefined); // after the newest
    assert.equal(h.printAt(200, 1), 1200);
    assert.equal(h.printAt(210, 1), NO_FRAME);
    assert.equal(h.printAt(-20, 1), undefined); // before the oldest
    assert.equal(h.oldest(0), 0);
    assert.equal(h.oldest(1), 0);
    assert.equal(h.uniqueTimeOf(6040, 0), 1040);
    assert.equal(h.uniqueTimeOf(6040, 1), undefined);
    // Two frames alike: no time to align by.
    h.add(1240, 0, 6040);
    assert.equal(h.uniqueTimeOf(6040, 0), undefined);
    // The ring forgets the oldest: audio is gone after HISTORY_MAX more video frames.
    for (let i = 0; i < HISTORY_MAX; i++) h.add(2000 + i * 40, 0, i);
    assert.equal(h.oldest(1), Infinity);
    assert.equal(h.printAt(200, 1), undefined);
    assert.equal(h.oldest(0), 2000);
    assert.equal(h.uniqueTimeOf(HISTORY_MAX - 1, 0), 2000 + (HISTORY_MAX - 1) * 40);
    assert.equal(h.uniqueTimeOf(1200, 1), undefined);
  });
});
