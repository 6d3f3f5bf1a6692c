/**
 * The time span of an MPEG-TS segment read from its PES headers, over every byte or, told the length,
 * over its head and tail only: both must give the same spans, in any chunking, and a cut segment's
 * span must be the cut one's.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import {
  SCAN_HEAD,
  SCAN_TAIL,
  TsTimeSpan,
  type TsTrackSpan,
} from '../../../src/formats/mpegts/mpegts-timespan.js';
import { fixture, makeMedia } from '../../helpers/fixtures.js';
import { ODD_CHUNKS } from './demux-helpers.js';

function spansOf(bytes: Uint8Array, sizes: readonly number[], expect?: number): TsTrackSpan[] {
  const t = new TsTimeSpan();
  t.expect(expect);
  let k = 0;
  for (let i = 0; i < bytes.length;) {
    const n = sizes[k++ % sizes.length] as number;
    t.push(bytes.subarray(i, i + n));
    i += n;
  }
  return t.spans();
}

/** The same TS with every packet of its video PID made a null packet (PID 0x1fff): audio only, as long. */
function withoutVideo(ts: Uint8Array): Uint8Array {
  const out = Uint8Array.from(ts);
  const pidAt = (i: number): number => (((out[i + 1] as number) & 0x1f) << 8) | (out[i + 2] as number);
  const videoPids = new Set<number>();
  for (let i = 0; i + 188 <= out.length; i += 188) {
    const p = i + 4 + (((out[i + 3] as number) & 0x20) !== 0 ? 1 + (out[i + 4] as number) : 0);
    const pes = out[p] === 0 && out[p + 1] === 0 && out[p + 2] === 1;
    if (((out[i + 1] as number) & 0x40) !== 0 && pes && ((out[p + 3] as number) & 0xf0) === 0xe0)
      videoPids.add(pidAt(i));
  }
  assert.equal(videoPids.size, 1);
  for (let i = 0; i + 188 <= out.length; i += 188) {
    if (!videoPids.has(pidAt(i))) continue;
    out[i + 1] = 0x1f; // no payload unit start: a null packet
    out[i + 2] = 0xff;
  }
  return out;
}

const byKind = (spans: TsTrackSpan[], kind: string): TsTrackSpan => {
  const s = spans.find((x) => x.kind === kind);
  assert.ok(s, `a ${kind} span in ${JSON.stringify(spans)}`);
  return s;
};

describe('TsTimeSpan', () => {
  it('reads only the head and tail of a segment of known length, with the same spans as a full read', async () => {
    const bytes = readFileSync(await fixture('noise.ts'));
    assert.ok(bytes.length > 4 * (SCAN_HEAD + SCAN_TAIL), `fixture of ${bytes.length} bytes`);
    const full = spansOf(bytes, [65536]);
    byKind(full, 'audio');
    for (const sizes of [ODD_CHUNKS, [65536], [bytes.length], [SCAN_HEAD - 1, 188 * 1000 + 5]]) {
      const windowed = spansOf(bytes, sizes, bytes.length);
      const f = byKind(full, 'video');
      const w = byKind(windowed, 'video');
      assert.equal(w.seconds, f.seconds);
      assert.ok(w.count < f.count / 2, `${w.count} PES read of ${f.count}: the middle is skipped`);
      // ffmpeg writes audio ahead of the video: the last audio need not be in the tail, so none is given.
      assert.deepEqual(
        windowed.map((x) => x.kind),
        ['video'],
      );
    }
    // A length a few bytes off (AES-128 padding) changes nothing.
    const off = spansOf(bytes, [65536], bytes.length + 16);
    assert.equal(byKind(off, 'video').seconds, byKind(full, 'video').seconds);
  });

  it('reads a segment without video in its head whole, audio spans and all', async () => {
    const bytes = withoutVideo(readFileSync(await fixture('noise.ts')));
    const full = spansOf(bytes, [65536]);
    assert.deepEqual(
      full.map((x) => x.kind),
      ['audio'],
    );
    assert.deepEqual(spansOf(bytes, ODD_CHUNKS, bytes.length), full);
  });

  it('reads a large segment of sparse video (a still picture every 6 s over audio) whole, audio spans and all', async () => {
    const ts = await makeMedia({
      name: 'still-frames-12s-noise',
      ext: '.ts',
      args: [
        ...['-f', 'lavfi', '-i', 'testsrc2=size=640x360:rate=1/6:duration=12'],
        ...['-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=48000:duration=12'],
        ...['-vf', 'noise=alls=60:allf=t', '-c:v', 'libx264', '-preset', 'veryfast', '-qp', '0'],
        ...['-pix_fmt', 'yuv420p', '-r', '1/6'],
        ...['-c:a', 'aac', '-b:a', '256k', '-f', 'mpegts'],
      ],
    });
    const bytes = readFileSync(ts);
    assert.ok(bytes.length > SCAN_HEAD + SCAN_TAIL + 188, `fixture of ${bytes.length} bytes`);
    const full = spansOf(bytes, [65536]);
    assert.deepEqual(spansOf(bytes, ODD_CHUNKS, bytes.length), full);
    assert.ok(byKind(full, 'audio').seconds > 11, JSON.stringify(full));
  });

  it('gives a cut segment the span of what is left, told its own length', async () => {
    const bytes = readFileSync(await fixture('noise.ts'));
    const full = byKind(spansOf(bytes, [65536]), 'video').seconds;
    const cut = bytes.subarray(0, Math.floor((bytes.length * 0.4) / 188) * 188);
    const seen = byKind(spansOf(cut, ODD_CHUNKS, cut.length), 'video').seconds;
    const whole = byKind(spansOf(cut, [65536]), 'video').seconds;
    assert.equal(seen, whole);
    assert.ok(seen < full * 0.6, `${seen} s of ${full} s`);
  });
});
