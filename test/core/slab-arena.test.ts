import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SlabArena } from '../../src/core/slab-arena.js';
import { ByteChain, ChainSpace } from '../../src/formats/mpegts/mpegts-chain.js';

describe('SlabArena', () => {
  it('reuses a slab once every payload carved from it is released, in any order', () => {
    const arena = new SlabArena(1024, 2);
    const a = arena.allocate(200);
    const b = arena.allocate(200);
    assert.equal(a.buffer, b.buffer, 'carved from one slab');
    a.fill(1);
    b.fill(2);
    assert.ok(a.every((x) => x === 1) && b.every((x) => x === 2), 'payloads do not overlap');
    const held = arena.allocate(250); // held back like a demuxer's last sample
    const x = arena.allocate(250);
    const c = arena.allocate(200); // 1,100 bytes: a second slab
    assert.equal(x.buffer, a.buffer);
    assert.notEqual(c.buffer, a.buffer);
    arena.release(b);
    arena.release(a);
    arena.release(x);
    arena.release(held); // the first slab is free now, released out of order
    const d = arena.allocate(250);
    const e = arena.allocate(250);
    assert.equal(d.buffer, c.buffer, 'the current slab goes on');
    assert.equal(e.buffer, c.buffer);
    assert.equal(arena.allocate(250).buffer, c.buffer); // 950 of 1,024 bytes used
    const g = arena.allocate(250); // the current slab is full and still in use: the freed one comes back
    assert.equal(g.buffer, a.buffer, 'a freed slab is used again');
  });

  it('gives large payloads memory of their own, and ignores foreign releases', () => {
    const arena = new SlabArena(1024);
    const big = arena.allocate(900);
    assert.equal(big.byteLength, big.buffer.byteLength, 'not carved from a slab');
    arena.release(big);
    arena.release(new Uint8Array(8));
    const small = arena.allocate(10);
    assert.equal(small.length, 10);
  });
});

describe('ByteChain', () => {
  it('appends ranges, drops from the front, grows and compacts without losing bytes', () => {
    const c = new ByteChain();
    const src = Uint8Array.from({ length: 10_000 }, (_, i) => i & 0xff);
    const expected: number[] = [];
    let dropped = 0;
    for (let i = 0; i + 188 <= src.length; i += 188) {
      c.pushFrom(src, i + 4, i + 188);
      for (let k = i + 4; k < i + 188; k++) expected.push(src[k] as number);
      if (c.length > 1000) {
        c.drop(700);
        dropped += 700;
      }
    }
    const live = expected.slice(dropped);
    assert.equal(c.length, live.length);
    assert.deepEqual([...c.bytes()], live);
    assert.equal(c.byteAt(0), live[0]);
    assert.equal(c.byteAt(c.length), -1);
    assert.deepEqual([...c.slice(5, 15)], live.slice(5, 15));
    assert.equal(c.find(live[20] as number, 20), live.indexOf(live[20] as number, 20));
    const other = new ByteChain();
    other.pushRange(c, 10, 30);
    assert.deepEqual([...other.bytes()], live.slice(10, 30));
    c.clear();
    assert.equal(c.length, 0);
  });

  it('in a shared space: copies within it, outgrows its region into its own memory, and comes back', () => {
    const space = new ChainSpace(4096 + 2 * 1000);
    const input = space.take(4096) as Uint8Array;
    input.forEach((_, i) => (input[i] = (i * 7) & 0xff));
    const a = new ByteChain(space, 1000);
    const b = new ByteChain(space, 1000);
    const c = new ByteChain(space, 1000); // no room left: its own memory
    const expected: number[] = [];
    for (let i = 0; i + 188 <= 4096; i += 188) {
      a.pushFromSpace(input.byteOffset + i + 4, input.byteOffset + i + 188);
      c.pushFromSpace(input.byteOffset + i + 4, input.byteOffset + i + 188);
      for (let k = i + 4; k < i + 188; k++) expected.push(input[k] as number);
    }
    // 21 payloads of 184 bytes: past a's 1,000-byte region, so a moved to its own memory on the way.
    assert.deepEqual([...a.bytes()], expected);
    assert.deepEqual([...c.bytes()], expected);
    assert.ok(
      [...input].every((x, i) => x === ((i * 7) & 0xff)),
      'the input is untouched',
    );
    b.pushRange(a, 100, 900);
    assert.deepEqual([...b.bytes()], expected.slice(100, 900));
    a.clear();
    a.pushFromSpace(input.byteOffset + 10, input.byteOffset + 500); // back in its region
    b.pushRange(a, 0, 50);
    assert.deepEqual([...a.bytes()], [...input.subarray(10, 500)]);
    assert.deepEqual([...b.bytes()], [...expected.slice(100, 900), ...input.subarray(10, 60)]);
  });
});
