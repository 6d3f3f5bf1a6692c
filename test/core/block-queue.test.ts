import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BlockQueue } from '../../src/core/block-queue.js';

/** Seeded LCG (Numerical Recipes), so that a failure can be replayed. */
function rand(seed: number): () => number {
  let s = seed >>> 0;
  return () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32;
}

describe('BlockQueue', () => {
  it('gives back every byte in order, in whole blocks and the last one in use', () => {
    for (let seed = 1; seed <= 40; seed++) {
      const r = rand(seed);
      const blockSize = 1 + Math.floor(r() * 300);
      const q = new BlockQueue(blockSize);
      const added: Uint8Array[] = [];
      const scratch = new Uint8Array(1000); // reused by the caller, as a demuxer's memory is
      for (let k = Math.floor(r() * 60); k > 0; k--) {
        // Empty pieces, pieces smaller than a block and pieces spanning several blocks.
        const n = r() < 0.1 ? 0 : Math.floor(r() * (r() < 0.2 ? 1000 : blockSize));
        const piece = scratch.subarray(0, n);
        for (let i = 0; i < n; i++) piece[i] = Math.floor(r() * 256);
        added.push(piece.slice());
        q.add(piece);
        scratch.fill(0);
      }
      const want = Buffer.concat(added);
      const blocks = q.blocks();
      assert.equal(q.length, want.length, `seed ${seed}: length`);
      assert.deepEqual(Buffer.concat(blocks), want, `seed ${seed}: the bytes, in order`);
      blocks.slice(0, -1).forEach((b) => assert.equal(b.length, blockSize, `seed ${seed}: whole blocks`));
      assert.ok(
        blocks.every((b) => b.length > 0),
        `seed ${seed}: no empty block`,
      );
    }
  });

  it('holds nothing until something is added, and refuses a block size that is not positive', () => {
    assert.deepEqual(new BlockQueue(16).blocks(), []);
    assert.throws(() => new BlockQueue(0), RangeError);
  });
});
