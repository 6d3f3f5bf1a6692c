/**
 * Mutation fuzzing of every demuxer, the FLV joiner, the TS muxer, the segment cuts of `record
 * --duration` (cutTsAt, cutFmp4At) and the PMT language rewrite: 20,000 mutated inputs made from the generated
 * fixtures (bit flips, overwritten bytes, size fields set to extremes, cuts, splices, duplicated runs),
 * each pushed in random chunk sizes. Every run must end with samples or a castkit error (never another
 * exception), and never emit more payload than the input holds.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { isCastkitError } from '../../src/core/errors.js';
import { createDemuxer } from '../../src/formats/demux.js';
import { FlvJoiner } from '../../src/formats/flv/flv-joiner.js';
import type { DemuxOutput, TrackInfo } from '../../src/formats/media.js';
import { TsMuxer } from '../../src/formats/mpegts/mpegts-muxer.js';
import { cutTsAt } from '../../src/formats/mpegts/mpegts-retime.js';
import { PmtLanguageWriter } from '../../src/formats/mpegts/mpegts-pmt-language.js';
import { cutFmp4At } from '../../src/formats/isobmff/isobmff-cut.js';
import { fmp4Clocks } from '../../src/formats/isobmff/isobmff-retime.js';
import { fixture } from '../helpers/fixtures.js';

/** xorshift32: the same sequence on every run, so a failure names a reproducible iteration. */
function rng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 0x100000000;
  };
}

function mutate(src: Uint8Array, r: () => number): Uint8Array {
  const pick = (n: number): number => Math.floor(r() * n);
  let b = src.slice(0, 16 + pick(Math.min(src.length, 48 * 1024)));
  const ops = 1 + pick(6);
  for (let k = 0; k < ops; k++) {
    const at = pick(b.length);
    switch (pick(6)) {
      case 0: // flip bits
        b[at] = (b[at] as number) ^ (1 << pick(8));
        break;
      case 1: // overwrite a byte
        b[at] = pick(256);
        break;
      case 2: // a 32-bit field set to an extreme (sizes, counts)
        for (const [i, v] of [0xff, 0xff, 0xff, pick(256)].entries()) if (at + i < b.length) b[at + i] = v;
        break;
      case 3: // cut
        b = b.slice(0, at);
        break;
      case 4: {
        // remove a run
        const n = Math.min(pick(512), b.length - at);
        const out = new Uint8Array(b.length - n);
        out.set(b.subarray(0, at));
        out.set(b.subarray(at + n), at);
        b = out;
        break;
      }
      default: {
        // duplicate a run
        const n = Math.min(pick(512), b.length - at);
        const out = new Uint8Array(b.length + n);
        out.set(b.subarray(0, at + n));
        out.set(b.subarray(at, at + n), at + n);
        out.set(b.subarray(at + n), at + 2 * n);
        b = out;
      }
    }
  }
  return b;
}

/**
 * Demux `input` in random chunks; with `mux`, every sample also goes through the TS muxer (whose NAL
 * length walk and codec configs see the damage too).
 */
function run(format: 'flv' | 'mp4' | 'mpegts', input: Uint8Array, r: () => number, mux = false): void {
  const d = createDemuxer(format);
  let payload = 0;
  const tracks: TrackInfo[] = [];
  let muxer: TsMuxer | undefined;
  const muxed = new Set<number>();
  const take = (o: DemuxOutput): void => {
    for (const t of o.tracks) if (!tracks.some((k) => k.id === t.id)) tracks.push(t);
    for (const s of o.samples) {
      assert.ok(s.size >= 0 && Number.isFinite(s.dts), 'sane sample');
      payload += s.size;
      if (!mux || !tracks.some((t) => t.id === s.trackId)) continue;
      if (!muxer) {
        muxer = new TsMuxer(tracks);
        for (const t of tracks) muxed.add(t.id);
      }
      if (!muxed.has(s.trackId)) continue; // a track found after the PMT was made
      const bytes = s.data ?? input.subarray(s.offset ?? 0, (s.offset ?? 0) + s.size);
      const packets = muxer.sample(s.trackId, s.dts, s.cts, s.keyframe, bytes);
      assert.equal(packets.length % 188, 0, 'whole TS packets');
    }
  };
  let at = 0;
  while (at < input.length) {
    const n = 1 + Math.floor(r() * 4096);
    take(d.push(input.subarray(at, at + n)));
    at += n;
  }
  take(d.end());
  assert.ok(payload <= input.length, `payload ${payload} > input ${input.length}`);
}

const ITERATIONS = 20_000;

describe('fuzz', () => {
  it(`${ITERATIONS} mutated inputs: castkit errors or samples, nothing else`, async () => {
    const sources = [
      { format: 'flv' as const, bytes: new Uint8Array(readFileSync(await fixture('h264-aac.flv'))) },
      { format: 'mp4' as const, bytes: new Uint8Array(readFileSync(await fixture('h264-aac.mp4'))) },
      { format: 'mp4' as const, bytes: new Uint8Array(readFileSync(await fixture('h264-aac.fmp4'))) },
      { format: 'mpegts' as const, bytes: new Uint8Array(readFileSync(await fixture('h264-aac.ts'))) },
    ];
    const r = rng(0xc0ffee);
    const outcomes = { ok: 0, rejected: 0 };
    const fmp4 = sources[2] as (typeof sources)[number];
    const clocks = fmp4Clocks(fmp4.bytes);
    /** The cut of a damaged segment: whole packets, or boxes, no more than it had (or a castkit error). */
    const cut = (format: string, input: Uint8Array): void => {
      if (format === 'mpegts') {
        const out = cutTsAt(input, Math.floor(r() * 2 ** 33));
        assert.ok(out.length % 188 === 0 && out.length <= input.length);
        assert.equal(new PmtLanguageWriter('por').apply(input).length, input.length);
      } else {
        const out = cutFmp4At(input, clocks, r() * 12);
        assert.ok(out === undefined || out.length <= input.length + 16);
      }
    };
    for (let i = 0; i < ITERATIONS; i++) {
      const src = sources[i % sources.length] as (typeof sources)[number];
      const input = mutate(src.bytes, r);
      try {
        if (src.format === 'flv' && i % 8 === 0) {
          const j = new FlvJoiner();
          j.push(input);
          j.push(mutate(src.bytes, r));
          j.finish();
        } else if (i % 5 === 2 && (src === fmp4 || src.format === 'mpegts')) {
          cut(src.format, input);
        } else {
          run(src.format, input, r, i % 3 === 0);
        }
        outcomes.ok++;
      } catch (err) {
        if (!isCastkitError(err)) {
          assert.fail(`iteration ${i} (${src.format}): ${err instanceof Error ? err.stack : String(err)}`);
        }
        outcomes.rejected++;
      }
    }
    assert.equal(outcomes.ok + outcomes.rejected, ITERATIONS);
    assert.ok(outcomes.ok > 0 && outcomes.rejected > 0, JSON.stringify(outcomes));
  });
});
