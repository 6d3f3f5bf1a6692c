import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { READ_SKEW } from '../../src/core/bytes.js';
import { SegmentMemory } from '../../src/download/segment-memory.js';

describe('SegmentMemory', () => {
  it('gives n bytes past the start of memory of their own, with room for a longer segment later', () => {
    const m = new SegmentMemory();
    const a = m.take(100_000);
    assert.equal(a.length, 100_000);
    assert.ok(Buffer.isBuffer(a));
    assert.equal(a.byteOffset, READ_SKEW, 'off the page boundary, as fileReadBuffer');
    assert.ok(a.buffer.byteLength >= READ_SKEW + 100_000 * 1.1, 'some room to spare');
    assert.equal(m.spares, 0);
  });

  it('uses memory given back for the next segment that fits, and new memory for one that does not', () => {
    const m = new SegmentMemory();
    const a = m.take(100_000);
    a.fill(7);
    m.give(a);
    assert.equal(m.spares, 1);
    const b = m.take(105_000); // a little longer: fits in the room to spare
    assert.equal(b.buffer, a.buffer);
    assert.equal(b.length, 105_000);
    assert.equal(m.spares, 0);
    m.give(b);
    const c = m.take(1_000_000); // far longer: new memory, the spare stays
    assert.notEqual(c.buffer, a.buffer);
    assert.equal(m.spares, 1);
  });

  it('takes the smallest spare that fits', () => {
    const m = new SegmentMemory();
    const big = m.take(400_000);
    const mid = m.take(200_000);
    const small = m.take(50_000);
    for (const b of [big, small, mid]) m.give(b);
    assert.equal(m.take(150_000).buffer, mid.buffer);
    assert.equal(m.take(10_000).buffer, small.buffer);
    assert.equal(m.take(10_000).buffer, big.buffer, 'the last spare, larger than needed');
    assert.equal(m.spares, 0);
  });

  it('keeps no memory it did not make, nor memory given back twice', () => {
    const m = new SegmentMemory();
    const foreign = Buffer.alloc(100_000);
    m.give(foreign);
    m.give(new Uint8Array(10));
    assert.equal(m.spares, 0, 'memory of the caller is never handed out again');
    const a = m.take(1000);
    m.give(a);
    m.give(a);
    m.give(a.subarray(10, 20));
    assert.equal(m.spares, 1);
    const b = m.take(1000);
    const c = m.take(1000);
    assert.equal(b.buffer, a.buffer);
    assert.notEqual(c.buffer, a.buffer, 'one piece of memory is never handed out twice at once');
    // Memory moved to another thread and handed back anyway: left alone.
    const d = m.take(1000);
    structuredClone(d.buffer, { transfer: [d.buffer as ArrayBuffer] });
    m.give(d);
    assert.equal(m.spares, 0);
  });

  it('keeps at most `keep` spares, and beyond two at most `keepBytes`, letting the smallest go', () => {
    const m = new SegmentMemory({ keep: 3, keepBytes: 1_000_000 });
    const taken = [10_000, 20_000, 30_000, 40_000].map((n) => m.take(n));
    for (const b of taken) m.give(b);
    assert.equal(m.spares, 3);
    assert.notEqual(m.take(5_000).buffer, taken[0]?.buffer, 'the smallest was let go of');

    const n = new SegmentMemory({ keep: 8, keepBytes: 1_000_000 });
    const large = [600_000, 500_000, 400_000].map((x) => n.take(x));
    for (const b of large) n.give(b);
    assert.equal(n.spares, 2, 'two are kept whatever their size; a third over the bound goes');
    assert.equal(n.take(550_000).buffer, large[1]?.buffer, 'the smallest that fits (with its room)');
    assert.equal(n.take(550_000).buffer, large[0]?.buffer);
  });
});
