/**
 * Mutation fuzzing of the EvoStream reassembler: 4,000 message sequences made from a real fixture framed
 * as the spec says (fragments of both tracks, and one-sample fragments as the RDK server sends them), with
 * messages bit-flipped, given wrong size fields or type bytes, cut, dropped, duplicated, swapped, or with
 * garbage messages inserted. Every run must end with units or a castkit error (never another exception,
 * never an endless loop), whatever it emits must be whole boxes that add up, and the fragmented MP4 it
 * rebuilds must demux to samples or a castkit error.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { isCastkitError } from '../../../src/core/errors.js';
import { EvoReassembler } from '../../../src/formats/evo/evo-reassembler.js';
import { IsobmffDemuxer } from '../../../src/formats/isobmff/isobmff-demuxer.js';
import { fixture } from '../../helpers/fixtures.js';
import { evoFragmentFrames, evoMoovFrame, evoSampleFrames, parseFmp4 } from '../../helpers/ws-servers.js';
import { concatBytes } from '../../../src/core/bytes.js';

/** xorshift32: the same sequence every run, so a failure names a reproducible iteration. */
function rng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 0x100000000;
  };
}

function mutate(src: readonly Uint8Array[], r: () => number): Uint8Array[] {
  const pick = (n: number): number => Math.floor(r() * n);
  const msgs = src.map((m) => m);
  const ops = 1 + pick(4);
  for (let k = 0; k < ops; k++) {
    const i = pick(msgs.length);
    const m = msgs[i]!;
    switch (pick(9)) {
      case 0: {
        const b = m.slice();
        const at = pick(b.length);
        if (b.length) b[at] = b[at]! ^ (1 << pick(8));
        msgs[i] = b;
        break;
      }
      case 1: {
        // a size field set to something else: near, extreme, zero
        const b = m.slice();
        const size = [0, 0xffffff, pick(64), Math.max(0, b.length - 4 + pick(9) - 4)][pick(4)]!;
        if (b.length >= 4) b.set([size >> 16, (size >> 8) & 0xff, size & 0xff], 1);
        msgs[i] = b;
        break;
      }
      case 2: {
        const b = m.slice();
        if (b.length) b[0] = [0xf9, 0xfa, 0xfb, 0xfc, 0xfd, 0xfe, 0xff, pick(256)][pick(8)]!;
        msgs[i] = b;
        break;
      }
      case 3:
        msgs[i] = m.subarray(0, pick(m.length + 1));
        break;
      case 4:
        msgs.splice(i, 1);
        break;
      case 5:
        msgs.splice(i, 0, m);
        break;
      case 6: {
        const j = pick(msgs.length);
        [msgs[i], msgs[j]] = [msgs[j]!, m];
        break;
      }
      case 7: {
        const g = new Uint8Array(pick(40));
        for (let q = 0; q < g.length; q++) g[q] = pick(256);
        msgs.splice(i, 0, g);
        break;
      }
      default: {
        // a moof or mdat byte inside a payload, past the frame header
        const b = m.slice();
        if (b.length > 8) b[4 + pick(b.length - 4)] = pick(256);
        msgs[i] = b;
      }
    }
  }
  return msgs;
}

function u32(b: Uint8Array, at: number): number {
  return ((b[at]! << 24) | (b[at + 1]! << 16) | (b[at + 2]! << 8) | b[at + 3]!) >>> 0;
}

describe('EvoStream reassembler fuzz', () => {
  it(
    '4,000 mutated streams: units or castkit errors only, whole boxes, no hang',
    { timeout: 120_000 },
    async () => {
      const p = parseFmp4(new Uint8Array(readFileSync(await fixture('h264-aac.fmp4'))));
      const perSample = p.fragments
        .flatMap((f) => f.samples)
        .sort((a, b) => a.timeSec - b.timeSec)
        .slice(0, 40)
        .flatMap((s, i) => evoSampleFrames(s, i + 1, p.fragments[0]!.trunVersion.get(s.track) ?? 0));
      const bases = [
        [evoMoovFrame(p), ...p.fragments.flatMap((f) => evoFragmentFrames(f))],
        [evoMoovFrame(p), ...perSample],
      ];
      const r = rng(0xe70);
      let errors = 0;
      let fragments = 0;
      const codes = new Set<string>();
      for (let iter = 0; iter < 4000; iter++) {
        const msgs = mutate(bases[iter % 2]!, r);
        const evo = new EvoReassembler({ maxFragmentBytes: 1 << 20 });
        const demux = new IsobmffDemuxer();
        let demuxOk = true;
        try {
          for (const m of msgs) {
            const out = evo.push(m);
            assert.ok(evo.bufferedBytes <= 1 << 20, `iteration ${iter}: buffered past the bound`);
            for (const u of out.units) {
              const bytes = u.kind === 'init' ? u.init.init : concatBytes(u.fragment.pieces);
              if (u.kind === 'fragment') {
                fragments++;
                // What comes out is a moof box and an mdat box whose sizes add up to the fragment.
                const moofSize = u32(bytes, 0);
                assert.equal(String.fromCharCode(...bytes.subarray(4, 8)), 'moof', `iteration ${iter}`);
                assert.equal(String.fromCharCode(...bytes.subarray(moofSize + 4, moofSize + 8)), 'mdat');
                assert.equal(
                  moofSize + u32(bytes, moofSize),
                  bytes.length,
                  `iteration ${iter}: sizes add up`,
                );
                assert.equal(u.fragment.size, bytes.length);
              }
              if (demuxOk) {
                try {
                  demux.push(bytes);
                } catch (err) {
                  assert.ok(isCastkitError(err), `iteration ${iter}: demuxer threw ${String(err)}`);
                  demuxOk = false;
                }
              }
            }
          }
          evo.end();
        } catch (err) {
          assert.ok(isCastkitError(err), `iteration ${iter}: ${String((err as Error)?.stack ?? err)}`);
          codes.add(err.code);
          errors++;
        }
      }
      // The mutations reach the checks: many runs fail, many fragments still come through.
      console.log(`evo fuzz: ${errors} errors (${[...codes].sort().join(' ')}), ${fragments} fragments`);
      assert.ok(errors > 1000, `errors: ${errors}`);
      assert.ok(fragments > 10_000, `fragments: ${fragments}`);
      for (const code of ['E_EVO_FRAME_SIZE', 'E_EVO_MDAT_SIZE', 'E_EVO_MOOF_SIZE', 'E_EVO_SEQUENCE']) {
        assert.ok(codes.has(code), `${code} among ${[...codes].join(', ')}`);
      }
    },
  );
});
