import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { createDemuxer } from '../../src/formats/demux.js';
import type { DemuxOutput, Sample, TrackInfo } from '../../src/formats/media.js';
import { fixture } from '../helpers/fixtures.js';

type Format = 'flv' | 'mp4' | 'mpegts';

/** Samples as plain values, payload bytes included (copied out at once, as a caller must). */
function collect(into: { tracks: TrackInfo[]; samples: unknown[] }, o: DemuxOutput): void {
  into.tracks.push(...o.tracks);
  for (const s of o.samples as Sample[]) {
    into.samples.push({ ...s, data: s.data ? [...s.data] : undefined });
  }
}

function demux(format: Format, bytes: Uint8Array, chunk: number, scribble: boolean) {
  const d = createDemuxer(format);
  const got = { tracks: [] as TrackInfo[], samples: [] as unknown[] };
  const buf = new Uint8Array(chunk);
  for (let at = 0; at < bytes.length; at += chunk) {
    const n = Math.min(chunk, bytes.length - at);
    buf.set(bytes.subarray(at, at + n));
    collect(got, d.push(buf.subarray(0, n)));
    if (scribble) buf.fill(0xa5); // the caller reuses its buffer at once
  }
  collect(got, d.end());
  return got;
}

describe('demuxers that say they copy their input (copiesInput) do', () => {
  const cases: [Format, string][] = [
    ['flv', 'h264-aac.flv'],
    ['mp4', 'h264-aac.mp4'],
    ['mp4', 'h264-aac.fmp4'],
    ['mpegts', 'h264-aac.ts'],
  ];
  for (const [format, name] of cases) {
    it(`${name}: the same tracks and samples when every chunk is overwritten after push()`, async () => {
      const bytes = new Uint8Array(readFileSync(await fixture(name)));
      assert.equal(createDemuxer(format).copiesInput, true);
      const clean = demux(format, bytes, bytes.length, false);
      assert.ok(clean.samples.length > 100);
      for (const chunk of [997, 65_536]) {
        const reused = demux(format, bytes, chunk, true);
        assert.deepEqual(reused.tracks, clean.tracks, `tracks, ${chunk}-byte chunks`);
        assert.deepEqual(reused.samples, clean.samples, `samples, ${chunk}-byte chunks`);
      }
    });
  }
});
