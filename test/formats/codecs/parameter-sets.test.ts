import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { buildAvcC } from '../../../src/formats/codecs/h264.js';
import { parameterSetUnits, unitsInsertAt } from '../../../src/formats/codecs/parameter-sets.js';

const hex = (h: string): Uint8Array => new Uint8Array(Buffer.from(h, 'hex'));
// x264's SPS (High, 320x240) and PPS.
const sps = hex('6764000dacd94141fb0110000003001000000303c0f1429960');
const pps = hex('68ebe3cb22c0');
/** A sample of length-prefixed NAL units (4-byte lengths). */
const sample = (...units: Uint8Array[]): Uint8Array =>
  new Uint8Array(Buffer.concat(units.flatMap((u) => [Buffer.from([0, 0, 0, u.length]), Buffer.from(u)])));

describe('parameter sets in band', () => {
  it('are the record’s SPS and PPS as length-prefixed NAL units, in its length size', () => {
    const p = parameterSetUnits(false, buildAvcC([sps], [pps]));
    assert.ok(p);
    assert.deepEqual(p.units, sample(sps, pps));
    assert.equal(p.lengthSize, 4);
    const two = parameterSetUnits(false, buildAvcC([sps], [pps], 2));
    assert.deepEqual(two?.units, new Uint8Array(Buffer.concat([hex('0019'), sps, hex('0006'), pps])));
    assert.equal(parameterSetUnits(false, hex('01640d')), undefined, 'a record cut short');
  });

  it('go first in a sample, after an access unit delimiter, and not into one that has an SPS', () => {
    const p = parameterSetUnits(false, buildAvcC([sps], [pps]));
    assert.ok(p);
    const aud = hex('09f0');
    const idr = hex('65888400ffee');
    const plain = sample(idr);
    assert.equal(unitsInsertAt(plain, 0, plain.length, p), 0);
    const withAud = sample(aud, idr);
    assert.equal(unitsInsertAt(withAud, 0, withAud.length, p), 4 + aud.length);
    const withSps = sample(aud, sps, pps, idr);
    assert.equal(unitsInsertAt(withSps, 0, withSps.length, p), undefined);
  });
});
