import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ByteWriter } from '../../../src/core/bytes.js';
import { FormatError } from '../../../src/core/errors.js';
import {
  parseMpd,
  parseSidx,
  representationSegments,
  segmentsFromSidx,
} from '../../../src/formats/dash/index.js';
import { box, fullBox } from '../../../src/formats/isobmff/isobmff-boxes.js';

interface Ref {
  index?: boolean;
  size: number;
  duration: number;
  sap?: boolean;
}

/** A sidx box (ISO/IEC 14496-12 8.16.3) with known references. */
function sidx(version: 0 | 1, timescale: number, ept: number, firstOffset: number, refs: Ref[]): Uint8Array {
  const w = new ByteWriter();
  fullBox(w, 'sidx', version, 0, (b) => {
    b.u32(1).u32(timescale);
    if (version === 0) b.u32(ept).u32(firstOffset);
    else b.u64(ept).u64(firstOffset);
    b.u16(0).u16(refs.length);
    for (const r of refs) {
      b.u32(((r.index ? 1 : 0) * 2 ** 31 + r.size) >>> 0);
      b.u32(r.duration);
      b.u32(r.sap === false ? 0 : 0x90000000); // starts_with_SAP=1, SAP_type=1
    }
  });
  return w.toBytes();
}

const REFS: Ref[] = [
  { size: 1000, duration: 2000 },
  { size: 2000, duration: 2000 },
  { size: 1500, duration: 1000, sap: false },
];

describe('parseSidx', () => {
  it('version 0: absolute byte ranges from the end of the box plus first_offset, and times', () => {
    const bytes = sidx(0, 1000, 500, 32, REFS);
    assert.equal(bytes.length, 68);
    const s = parseSidx(bytes, 800);
    assert.equal(s.version, 0);
    assert.equal(s.timescale, 1000);
    assert.equal(s.earliestPresentationTime, 500);
    assert.equal(s.anchor, 800 + 68 + 32);
    assert.deepEqual(
      s.references.map((r) => [r.type, r.byteRange.offset, r.byteRange.length, r.start, r.duration]),
      [
        ['media', 900, 1000, 0.5, 2],
        ['media', 1900, 2000, 2.5, 2],
        ['media', 3900, 1500, 4.5, 1],
      ],
    );
    assert.deepEqual(
      s.references.map((r) => [r.startsWithSap, r.sapType]),
      [
        [true, 1],
        [true, 1],
        [false, 0],
      ],
    );
  });

  it('version 1: 64-bit earliest_presentation_time and first_offset; boxes before the sidx are skipped', () => {
    const w = new ByteWriter();
    box(w, 'styp', (b) => b.ascii('msdh').u32(0));
    w.bytes(sidx(1, 90000, 2 ** 33, 0, [{ size: 70000, duration: 180000 }]));
    const s = parseSidx(w.toBytes(), 10_000);
    assert.equal(s.version, 1);
    assert.equal(s.earliestPresentationTime, 2 ** 33);
    assert.equal(s.references[0]?.byteRange.offset, 10_000 + w.length);
    assert.equal(s.references[0]?.start, 2 ** 33 / 90000);
    assert.equal(s.references[0]?.duration, 2);
  });

  it('malformed boxes are FormatErrors naming the offset', () => {
    const good = sidx(0, 1000, 0, 0, REFS);
    const throwsAt = (bytes: Uint8Array, pattern: RegExp): void =>
      assert.throws(
        () => parseSidx(bytes, 100),
        (e: unknown) => e instanceof FormatError && pattern.test(e.message),
      );
    throwsAt(good.subarray(0, 40), /runs past the end|too short/);
    const countLies = good.slice();
    new DataView(countLies.buffer).setUint16(30, 50); // reference_count 50 in a box with room for 3
    throwsAt(countLies, /too short for its 50 references/);
    throwsAt(sidx(0, 0, 0, 0, REFS), /sidx timescale is 0/);
    throwsAt(sidx(1, 1000, 0, 2 ** 60, REFS), /too large to be real/);
    const w = new ByteWriter();
    box(w, 'free', (b) => b.u32(0));
    throwsAt(w.toBytes(), /no sidx box in the index range \(at byte 100\)/);
    throwsAt(new Uint8Array(0), /no sidx box/);
    throwsAt(new Uint8Array([0, 0, 0, 3, 0x73, 0x69, 0x64, 0x78]), /smaller than its own header/);
  });
});

describe('SegmentBase + sidx', () => {
  const MPD = `<MPD xmlns="urn:mpeg:dash:schema:mpd:2011" type="static" mediaPresentationDuration="PT15S">
    <Period id="p" start="PT10S"><AdaptationSet mimeType="video/mp4">
      <Representation id="v" bandwidth="1"><BaseURL>video.mp4</BaseURL>
        <SegmentBase indexRange="800-867" timescale="1000" presentationTimeOffset="500"><Initialization range="0-799"/></SegmentBase>
      </Representation>
    </AdaptationSet></Period></MPD>`;

  it('turns the sidx references into byte-range segments in the presentation timeline', () => {
    const mpd = parseMpd(MPD, 'https://cdn.example.com/a/manifest.mpd');
    const rep = mpd.periods[0]?.adaptationSets[0]?.representations[0];
    assert.ok(rep);
    const list = representationSegments(mpd, rep);
    assert.ok(list.index);
    const bytes = sidx(0, 1000, 500, 32, REFS);
    const filled = segmentsFromSidx(mpd, rep, list, parseSidx(bytes, list.index.byteRange.offset));
    assert.deepEqual(
      filled.segments.map((s) => [s.key, s.uri, s.byteRange, s.start, s.duration]),
      [
        ['p/v/b900', 'https://cdn.example.com/a/video.mp4', { offset: 900, length: 1000 }, 10, 2],
        ['p/v/b1900', 'https://cdn.example.com/a/video.mp4', { offset: 1900, length: 2000 }, 12, 2],
        ['p/v/b3900', 'https://cdn.example.com/a/video.mp4', { offset: 3900, length: 1500 }, 14, 1],
      ],
    );
    assert.deepEqual(filled.init, {
      uri: 'https://cdn.example.com/a/video.mp4',
      byteRange: { offset: 0, length: 800 },
    });
    assert.ok(filled.segments.every((s) => s.init === filled.init));
    assert.deepEqual(list.segments, [], 'the input list is not changed');
  });

  it('refuses a hierarchical index (references to further sidx boxes)', () => {
    const mpd = parseMpd(MPD, 'https://cdn.example.com/a/manifest.mpd');
    const rep = mpd.periods[0]?.adaptationSets[0]?.representations[0];
    assert.ok(rep);
    const list = representationSegments(mpd, rep);
    const nested = parseSidx(sidx(0, 1000, 0, 0, [{ index: true, size: 100, duration: 5000 }]), 800);
    assert.equal(nested.references[0]?.type, 'index');
    assert.throws(() => segmentsFromSidx(mpd, rep, list, nested), /hierarchical index/);
  });
});
