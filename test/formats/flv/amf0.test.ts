import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FormatError } from '../../../src/core/errors.js';
import {
  AMF0,
  decodeAmf0,
  decodeAmf0All,
  ecmaArray,
  encodeAmf0,
  isAmfObject,
  type AmfValue,
} from '../../../src/formats/flv/amf0.js';
import {
  flvHeader,
  onMetaDataTag,
  onMetaDataTagSize,
  tagHeader,
} from '../../../src/formats/flv/flv-writer.js';

function isFormatError(code: string, offset?: number) {
  return (e: unknown): boolean => {
    assert.ok(e instanceof FormatError, `expected FormatError, got ${String(e)}`);
    assert.equal(e.code, code);
    if (offset !== undefined) assert.equal(e.offset, offset);
    return true;
  };
}

describe('AMF0', () => {
  it('round-trips every type', () => {
    const when = new Date(Date.UTC(2020, 1, 2, 3, 4, 5, 6));
    const long = 'x'.repeat(70000);
    const value: AmfValue = {
      n: 1.5,
      neg: -2,
      t: true,
      f: false,
      s: 'héllo',
      empty: '',
      long,
      nul: null,
      und: undefined,
      date: when,
      arr: [1, 'two', [3], { four: 4 }],
      nested: { a: { b: { c: 'deep' } } },
    };
    const bytes = encodeAmf0('name', value, ecmaArray({ width: 320, stereo: true }));
    const decoded = decodeAmf0All(bytes);
    assert.equal(decoded.length, 3);
    assert.equal(decoded[0], 'name');
    assert.deepEqual(decoded[1], value);
    assert.deepEqual(decoded[2], { width: 320, stereo: true });
    // The long string used the long-string marker; the ECMA array its own marker.
    assert.ok(bytes.includes(AMF0.longString));
  });

  it('decodes ECMA arrays with a wrong count, and without the end marker at the very end', () => {
    const ok = encodeAmf0(ecmaArray({ a: 1, b: 2 }));
    const wrongCount = ok.slice();
    wrongCount[4] = 99;
    assert.deepEqual(decodeAmf0(wrongCount).value, { a: 1, b: 2 });
    const noEnd = ok.subarray(0, ok.length - 3);
    assert.deepEqual(decodeAmf0(noEnd).value, { a: 1, b: 2 });
  });

  it('follows references and typed objects', () => {
    // Object {x: 1}, then strict array [ref 0].
    const obj = encodeAmf0({ x: 1 });
    const bytes = new Uint8Array([...obj, AMF0.strictArray, 0, 0, 0, 1, AMF0.reference, 0, 0]);
    const [first, second] = decodeAmf0All(bytes);
    assert.deepEqual(second, [first]);
    const typed = new Uint8Array([
      AMF0.typedObject,
      0,
      1,
      0x43,
      0,
      1,
      0x6b,
      AMF0.boolean,
      1,
      0,
      0,
      AMF0.objectEnd,
    ]);
    assert.deepEqual(decodeAmf0(typed).value, { k: true });
    assert.throws(
      () => decodeAmf0(new Uint8Array([AMF0.reference, 0, 5])),
      isFormatError('E_AMF0_MALFORMED', 0),
    );
  });

  it('keeps hostile keys as plain data', () => {
    const bytes = encodeAmf0(JSON.parse('{"__proto__": {"polluted": true}, "constructor": 1}') as AmfValue);
    const v = decodeAmf0(bytes).value;
    assert.ok(isAmfObject(v));
    assert.equal(Object.getPrototypeOf(v), Object.prototype);
    assert.deepEqual(Object.keys(v), ['__proto__', 'constructor']);
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
  });

  it('names the offset of every truncation', () => {
    const bytes = encodeAmf0('onMetaData', ecmaArray({ duration: 12.5, encoder: 'Lavf', list: [1, 2, 3] }));
    let failures = 0;
    for (let cut = 1; cut < bytes.length; cut++) {
      try {
        decodeAmf0All(bytes.subarray(0, cut), { baseOffset: 1000 });
        // Only a cut between two values (after the name) or before the ECMA array's end marker parses.
        assert.ok(cut === 13 || cut === bytes.length - 3, `cut at ${cut} parsed`);
      } catch (e) {
        assert.ok(e instanceof FormatError, String(e));
        assert.ok(e.code.startsWith('E_AMF0'));
        assert.ok(e.offset >= 1000 && e.offset <= 1000 + cut, `cut ${cut}: offset ${e.offset}`);
        failures++;
      }
    }
    assert.equal(failures, bytes.length - 3);
  });

  it('refuses counts larger than the bytes left, deep nesting, and unknown markers', () => {
    const huge = new Uint8Array([AMF0.strictArray, 0xff, 0xff, 0xff, 0xff, AMF0.null]);
    assert.throws(() => decodeAmf0(huge), isFormatError('E_AMF0_TRUNCATED', 0));
    const deep = new Uint8Array(2000).fill(AMF0.strictArray);
    for (let i = 0; i < 400; i++) deep.set([AMF0.strictArray, 0, 0, 0, 1], i * 5);
    assert.throws(() => decodeAmf0(deep), isFormatError('E_AMF0_DEPTH'));
    assert.throws(() => decodeAmf0(new Uint8Array([0x42])), isFormatError('E_AMF0_MALFORMED', 0));
    assert.throws(
      () => decodeAmf0(new Uint8Array([AMF0.avmPlus, 1])),
      isFormatError('E_AMF0_UNSUPPORTED', 0),
    );
    assert.throws(() => decodeAmf0(new Uint8Array([AMF0.objectEnd])), isFormatError('E_AMF0_MALFORMED', 0));
  });

  it('decodes random bytes without anything but FormatError', () => {
    let seed = 99;
    for (let round = 0; round < 2000; round++) {
      const n = 1 + (round % 60);
      const b = new Uint8Array(n);
      for (let i = 0; i < n; i++) {
        seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
        b[i] = i % 3 === 0 ? (seed >>> 8) % 18 : seed >>> 24;
      }
      try {
        decodeAmf0All(b);
      } catch (e) {
        assert.ok(e instanceof FormatError, String(e));
      }
    }
  });
});

describe('FLV writer helpers', () => {
  it('writes the file header and tag headers with the extended timestamp byte', () => {
    assert.deepEqual(
      [...flvHeader({ audio: true, video: true })],
      [0x46, 0x4c, 0x56, 1, 5, 0, 0, 0, 9, 0, 0, 0, 0],
    );
    assert.equal(flvHeader({ audio: true, video: false })[4], 4);
    assert.deepEqual([...tagHeader(9, 0x010203, 0x12345678)], [9, 1, 2, 3, 0x34, 0x56, 0x78, 0x12, 0, 0, 0]);
    assert.throws(() => tagHeader(9, 1 << 24, 0), RangeError);
  });

  it('builds onMetaData whose size does not depend on the values', () => {
    const info = (d: number, pos: number[]) => ({
      duration: d,
      filesize: d * 1000,
      width: 320,
      height: 240,
      stereo: true,
      keyframes: { times: pos.map((_, i) => i * d), filepositions: pos },
    });
    const a = onMetaDataTag(info(1, [1, 2, 3]));
    const b = onMetaDataTag(info(123456.789, [99999999, 2e9, 3e10]));
    assert.equal(a.length, b.length);
    assert.equal(a.length, onMetaDataTagSize(info(0, [0, 0, 0])));
    const body = b.subarray(11, b.length - 4);
    const [name, md] = decodeAmf0All(body);
    assert.equal(name, 'onMetaData');
    assert.ok(isAmfObject(md));
    assert.equal(md.duration, 123456.789);
    assert.deepEqual(md.keyframes, {
      times: [0, 123456.789, 246913.578],
      filepositions: [99999999, 2e9, 3e10],
    });
    assert.equal(md.hasKeyframes, true);
    // PreviousTagSize closes the tag.
    const v = new DataView(b.buffer, b.byteOffset + b.length - 4, 4).getUint32(0);
    assert.equal(v, b.length - 4);
  });

  it('pads onMetaData to an exact size', () => {
    const tag = onMetaDataTag({ duration: 5 }, { padTo: 400 });
    assert.equal(tag.length, 400);
    const [, md] = decodeAmf0All(tag.subarray(11, tag.length - 4));
    assert.ok(isAmfObject(md));
    assert.equal(md.duration, 5);
    assert.throws(() => onMetaDataTag({ duration: 5 }, { padTo: 20 }), RangeError);
  });
});
