import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { deserialize, serialize } from 'node:v8';
import { plainCopy } from '../../src/formats/plain-copy.js';

describe('plainCopy', () => {
  it('copies plain data deeply, NaN and Infinity kept, and survives v8.serialize', () => {
    const big = new Uint8Array(1 << 20);
    big.set([1, 2, 3], 500);
    const value = {
      n: NaN,
      low: -Infinity,
      s: 'x',
      b: true,
      u: undefined,
      list: [1, [2, { deep: 3 }]],
      m: new Map([['a', 1]]),
      set: new Set([4, 5]),
      view: big.subarray(500, 503),
    };
    const copy = plainCopy(value) as typeof value;
    assert.deepEqual(copy, value);
    assert.notEqual(copy.list, value.list);
    // A view is copied as its own bytes, not with the megabyte it is a view of.
    assert.equal(copy.view.buffer.byteLength, 3);
    big[500] = 9;
    assert.equal(copy.view[0], 1);
    assert.ok(serialize(copy).length < 1000);
    assert.deepEqual(deserialize(serialize(copy)), copy);
  });

  it('hands class instances to the caller, and refuses the ones it is not told about', () => {
    class Thing {
      constructor(readonly v: number) {}
    }
    assert.throws(() => plainCopy({ t: new Thing(1) }), /Thing is not plain data/);
    assert.throws(() => plainCopy({ f: () => 1 }), /function is not plain data/);
    const copy = plainCopy({ t: new Thing(2) }, (v) => (v instanceof Thing ? { thing: v.v } : undefined));
    assert.deepEqual(copy, { t: { thing: 2 } });
  });
});
