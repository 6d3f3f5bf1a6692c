/**
 * IsobmffDemuxer.snapshot() and restore(): a demuxer made from a snapshot goes on exactly as the one that
 * made it. The same bytes are demuxed by one demuxer, and by demuxers each restored from the snapshot
 * (stored and read back with v8.serialize) of the one before, after every piece; everything a caller sees
 * is compared: tracks, samples (offsets into the input), warnings, or the error.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { deserialize, serialize } from 'node:v8';
import { FormatError } from '../../../src/core/errors.js';
import {
  IsobmffDemuxer,
  type IsobmffDemuxerState,
  type IsobmffDemuxOutput,
} from '../../../src/formats/isobmff/isobmff-demuxer.js';
import { fixture, makeMedia, type MediaSpec } from '../../helpers/fixtures.js';

/** moov first: its samples are walked as the mdat streams by. */
const FASTSTART: MediaSpec = {
  name: 'h264-aac-faststart',
  ext: '.mp4',
  deps: ['h264-aac.mp4'],
  args: ['-i', '{dep:h264-aac.mp4}', '-c', 'copy', '-movflags', '+faststart'],
};

const read = (path: string): Uint8Array => new Uint8Array(readFileSync(path));
const stored = (s: IsobmffDemuxerState): IsobmffDemuxerState =>
  deserialize(serialize(s)) as IsobmffDemuxerState;

/** `bytes` in pieces of `size`; with `resume`, each demuxer after a piece is one restored from a snapshot. */
function outcome(bytes: Uint8Array, size: number, resume: boolean): string[] {
  const seen: string[] = [];
  const take = (o: IsobmffDemuxOutput): void => {
    for (const t of o.tracks)
      seen.push(
        `track ${t.id} ${t.codec} ${Buffer.from(t.config).toString('hex')} ${JSON.stringify(t.edit)}`,
      );
    for (const s of o.samples)
      seen.push(`${s.trackId} ${s.dts} ${s.cts} ${s.duration} ${s.keyframe} ${s.size} @${s.offset}`);
    for (const w of o.warnings) seen.push(`${w.code} @${w.offset}: ${w.message}`);
  };
  try {
    let d = new IsobmffDemuxer();
    for (let at = 0; at < bytes.length; at += size) {
      take(d.push(bytes.subarray(at, at + size)));
      if (resume) {
        const state = d.snapshot();
        assert.ok(state, 'a fragmented input can always be saved');
        d = IsobmffDemuxer.restore(stored(state));
      }
    }
    take(d.end());
  } catch (err) {
    if (!(err instanceof FormatError)) throw err;
    seen.push(`error ${err.code} @${err.offset}: ${err.message}`);
  }
  return seen;
}

describe('ISO-BMFF demuxer: snapshot and restore', () => {
  it('goes on exactly through a fragmented MP4, saved after pieces of every size', async () => {
    const fmp4 = read(await fixture('h264-aac.fmp4'));
    for (const size of [1, 7, 100, 4093, 65_537, 1 << 20]) {
      // The smallest pieces only through the init and the first fragments: a restore per piece.
      const bytes = size < 100 ? fmp4.subarray(0, 20_000) : fmp4;
      const whole = outcome(bytes, size, false);
      assert.ok(whole.length > (size < 100 ? 10 : 100), 'samples come out');
      // Small pieces stop inside box headers, moofs (parts), between a moof and its mdat, inside mdats.
      assert.deepEqual(outcome(bytes, size, true), whole, `pieces of ${size}`);
    }
  });

  it('goes on exactly through a fragmented MP4 cut short, or with its init sent again', async () => {
    const fmp4 = read(await fixture('h264-aac.fmp4'));
    const init = fmp4.subarray(0, initLength(fmp4));
    const inputs = [
      fmp4.subarray(0, Math.floor(fmp4.length * 0.6)),
      fmp4.subarray(0, init.length + 50),
      Buffer.concat([fmp4, init]),
      init.subarray(0, 40),
    ];
    for (const bytes of inputs) {
      for (const size of [97, 4093]) {
        assert.deepEqual(outcome(bytes, size, true), outcome(bytes, size, false));
      }
    }
  });

  it('cannot be saved while a progressive MP4 is walked, and can be before and after', async () => {
    const mp4 = read(await makeMedia(FASTSTART));
    const d = new IsobmffDemuxer();
    d.push(mp4.subarray(0, 4));
    const early = d.snapshot();
    assert.ok(early, 'before the moov');
    let saw = false;
    for (let at = 4; at < mp4.length; at += 16_384) {
      d.push(mp4.subarray(at, at + 16_384));
      if (d.snapshot() === undefined) saw = true;
    }
    assert.ok(saw, 'refused while its samples are walked');
    // Restored before the moov, it reads the rest as the first one did.
    const again = IsobmffDemuxer.restore(stored(early));
    const a = again.push(mp4.subarray(4));
    const b = again.end();
    assert.ok(a.samples.length + b.samples.length > 100);
  });

  it('refuses what it cannot do', () => {
    assert.throws(
      () => IsobmffDemuxer.restore({ kind: 'other' } as unknown as IsobmffDemuxerState),
      /not a snapshot/,
    );
    const d = new IsobmffDemuxer();
    assert.throws(() => d.push(new Uint8Array(16)));
    assert.throws(() => d.snapshot(), FormatError, 'a failed demuxer has nothing to save');
  });
});

/** Bytes of the boxes before the first moof (ftyp, moov). */
function initLength(b: Uint8Array): number {
  let at = 0;
  while (at + 8 <= b.length) {
    const size = Buffer.from(b.buffer, b.byteOffset).readUInt32BE(at);
    if (String.fromCharCode(...b.subarray(at + 4, at + 8)) === 'moof') return at;
    at += size;
  }
  return at;
}
