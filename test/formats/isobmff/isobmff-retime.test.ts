/**
 * Moving the times of fMP4 media segments (the pass-through of `record --format fmp4` after a
 * discontinuity): each track's times read from tfdt and trun, a join that keeps every track going
 * forward, every tfdt moved in its track's timescale and nothing else changed.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import {
  fmp4Clocks,
  fmp4JoinShift,
  fmp4SegmentTimes,
  shiftFmp4Times,
} from '../../../src/formats/isobmff/isobmff-retime.js';
import { streamFixture } from '../../helpers/stream-fixtures.js';

async function segments(): Promise<{ init: Uint8Array; segs: Uint8Array[] }> {
  const fx = await streamFixture('hls-fmp4');
  const master = readFileSync(join(fx.dir, fx.entry), 'utf8').split('\n');
  const media = master.find((l) => l !== '' && !l.startsWith('#')) as string;
  const dir = join(fx.dir, media, '..');
  const names = readFileSync(join(fx.dir, media), 'utf8')
    .split('\n')
    .filter((l) => l.endsWith('.m4s'));
  return {
    init: readFileSync(join(dir, 'init.mp4')),
    segs: names.slice(0, 2).map((n) => readFileSync(join(dir, n))),
  };
}

describe('isobmff retime', () => {
  it('reads each track of a segment from its tfdt and sample durations: the next segment starts at its end', async () => {
    const { init, segs } = await segments();
    const clocks = fmp4Clocks(init);
    assert.deepEqual(
      [...clocks.values()].map((c) => c.info.kind).sort(),
      ['audio', 'video'],
      'both tracks of the init section',
    );
    const [a, b] = segs.map((s) => fmp4SegmentTimes(s, clocks)) as [
      ReturnType<typeof fmp4SegmentTimes>,
      ReturnType<typeof fmp4SegmentTimes>,
    ];
    for (const [id, t] of a) {
      const next = b.get(id);
      assert.ok(next, `track ${id} in both segments`);
      assert.ok(Math.abs(next.start - t.end) < 1e-6, `track ${id}: the second starts where the first ends`);
      assert.ok(t.end - t.start > 1, 'a segment of about 2 s');
    }
  });

  it('a segment whose times restart is moved to follow the last one; only its tfdt and sidx times change', async () => {
    const { init, segs } = await segments();
    const clocks = fmp4Clocks(init);
    const [first, second] = segs as [Uint8Array, Uint8Array];
    // The first segment again after the second, as after a discontinuity that restarts the times.
    const prev = fmp4SegmentTimes(second, clocks);
    const next = fmp4SegmentTimes(first, clocks);
    const shift = fmp4JoinShift(prev, next);
    assert.ok(shift !== undefined && shift > 0);
    const moved = Uint8Array.from(first);
    assert.equal(shiftFmp4Times(moved, clocks, shift), true);
    assert.equal(moved.length, first.length);
    const after = fmp4SegmentTimes(moved, clocks);
    let joinedAtEnd = 0;
    for (const [id, t] of after) {
      const p = prev.get(id) as { end: number };
      assert.ok(t.start >= p.end - 1e-6, `track ${id} goes forward`);
      if (Math.abs(t.start - p.end) < 1e-3) joinedAtEnd++;
    }
    assert.ok(joinedAtEnd >= 1, 'the track that ends last sets the join');
    const changed = [...moved].filter((x, i) => x !== first[i]).length;
    // A tfdt per track, and the segment's sidx boxes (one per track, as ffmpeg writes them): 8 bytes each.
    assert.ok(changed > 0 && changed <= 16 * after.size, 'only the tfdt and sidx times changed');
    // A shift that would take a time below zero is refused and changes nothing.
    const back = Uint8Array.from(first);
    assert.equal(shiftFmp4Times(back, clocks, -1000), false);
    assert.equal(Buffer.compare(back, first), 0);
  });
});
