import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Sample } from '../../src/formats/media.js';
import { SampleTable } from '../../src/formats/sample-table.js';

const sample = (i: number): Sample => ({
  trackId: 1 + (i % 2),
  dts: i * 1000 + 0.5 * (i % 2),
  cts: i % 3 === 0 ? -512 : 2048,
  duration: i % 2 ? 1024 : 0,
  keyframe: i % 10 === 0,
  size: 100 + i,
  offset: 2 ** 33 + i * 100, // past 4 GiB: offsets are not 32-bit
});

describe('SampleTable', () => {
  it('keeps every field of thousands of samples through growth, and reads them back', () => {
    const t = new SampleTable(4);
    const given = Array.from({ length: 5000 }, (_, i) => sample(i));
    given.forEach((s, i) => assert.equal(t.addSample(s, s.offset ?? 0, i % 3, i % 7), i));
    assert.equal(t.length, 5000);
    assert.ok(t.capacity >= 5000);
    const back = t.toSamples();
    back.forEach((s, i) => {
      const g = given[i] as Sample;
      assert.deepEqual(
        [s.trackId, s.dts, s.cts, s.duration, s.keyframe, s.size, s.offset, s.tag, s.input],
        [g.trackId, g.dts, g.cts, g.duration, g.keyframe, g.size, g.offset, i % 3, i % 7],
        `sample ${i}`,
      );
    });
    t.trim();
    assert.equal(t.capacity, 5000, 'trim gives back the unused room');
    assert.deepEqual(t.get(4999), back[4999]);
    assert.throws(() => t.get(5000), RangeError);
  });

  it('counts, finds, filters and copies by track', () => {
    const t = SampleTable.from([sample(0), sample(1), sample(2), sample(3), sample(5)]);
    assert.deepEqual([...t.countByTrack()].sort(), [
      [1, 2],
      [2, 3],
    ]);
    assert.equal(t.firstOf(2), 1);
    assert.equal(t.firstOf(1, 1), 2);
    assert.equal(t.lastOf(2), 4);
    assert.equal(t.lastOf(9), -1);
    const audio = t.filter((id) => id === 2);
    assert.deepEqual(
      audio.toSamples().map((s) => s.dts),
      [1000.5, 3000.5, 5000.5],
    );
    const c = new SampleTable();
    c.copyFrom(t, 3);
    assert.deepEqual(c.get(0), t.get(3));
    t.clear();
    assert.equal(t.length, 0);
    assert.equal(t.capacity, 0);
  });

  it('rows() copies a range of rows out; appendRows() adds them to another table, growing it', () => {
    const t = new SampleTable(4);
    for (let i = 0; i < 10; i++) t.add(1 + (i % 2), i * 3000, i % 3, 3000, i === 0, 100 + i, 1000 * i, 2, i);
    const head = t.rows(0, 4);
    const tail = t.rows(4);
    assert.equal(head.dts.length, 4);
    assert.equal(tail.dts.length, 6);
    t.dts[0] = -1; // a copy, not a view
    assert.equal(head.dts[0], 0);
    t.dts[0] = 0;
    const u = new SampleTable(1);
    u.appendRows(head);
    u.appendRows(tail);
    assert.equal(u.length, 10);
    for (let i = 0; i < 10; i++) assert.deepEqual(u.get(i), t.get(i));
  });
});
