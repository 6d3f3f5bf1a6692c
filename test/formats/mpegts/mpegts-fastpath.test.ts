/**
 * The packet loop's fast path (continuation packets of a video PES moved straight into the access unit) must
 * give what the general path gives: same samples, same warnings at the same offsets. The general path runs
 * when the input is pushed in small pieces (demuxed where they are), the fast path when it is read into the
 * demuxer's own memory (inputBuffer), as file remuxes and recordings do.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { fixture } from '../../helpers/fixtures.js';
import {
  boundedVideoStream,
  damage,
  demuxAll,
  demuxViaInputBuffer,
  outcome,
  seededRandom,
} from './demux-helpers.js';

const read = (path: string): Uint8Array => new Uint8Array(readFileSync(path));

const rand = seededRandom(7);

/** Pieces under the demuxer's staging size: every packet goes through packet() and esPayload(). */
const SMALL = [1, 7, 187, 189, 1000, 4093, 333];

const VIA_INPUT_BUFFER = [100_003, 1 << 20, 4093, 50_000];

describe('MPEG-TS demuxer: the fast path equals the general path', () => {
  it('on intact streams, with and without PES_packet_length on video', async () => {
    for (const bytes of [read(await fixture('h264-aac.ts')), await boundedVideoStream(rand)]) {
      const general = outcome(() => demuxAll(bytes, SMALL));
      assert.ok(general.length > 100, 'samples come out');
      assert.deepEqual(
        outcome(() => demuxViaInputBuffer(bytes, VIA_INPUT_BUFFER)),
        general,
      );
    }
  });

  it('on 400 streams damaged where its decisions are made', async () => {
    const sources = [read(await fixture('h264-aac.ts')), await boundedVideoStream(rand)];
    for (let round = 0; round < 400; round++) {
      const bytes = damage(sources[round % 2] as Uint8Array, 1 + rand(30), rand);
      assert.deepEqual(
        outcome(() => demuxViaInputBuffer(bytes, VIA_INPUT_BUFFER)),
        outcome(() => demuxAll(bytes, SMALL)),
        `round ${round}`,
      );
    }
  });

  it('the bounded stream is read whole (the general path agrees with what was written)', async () => {
    const r = demuxAll(await boundedVideoStream(rand), SMALL);
    const video = r.samples.filter((s) => s.trackId === 1);
    assert.equal(video.length, 60);
    assert.equal(r.samples.length - video.length, 60);
    assert.deepEqual(r.warnings, []);
    assert.equal(video.filter((s) => s.keyframe).length, 4);
    assert.deepEqual(
      video.map((s) => s.dts - (video[0] as { dts: number }).dts),
      video.map((_, i) => i * 3000),
    );
  });
});
