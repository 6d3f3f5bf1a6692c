import assert from 'node:assert/strict';
import { it } from 'node:test';
import { Fmp4Streamer } from '../../src/api/fmp4-streamer.js';
import { readBoxes } from '../../src/formats/isobmff/isobmff-boxes.js';
import type { TrackInfo } from '../../src/formats/media.js';

// AAC-LC, 48 kHz, stereo (ISO/IEC 14496-3 1.6.2.1).
const AUDIO: TrackInfo = {
  id: 1,
  kind: 'audio',
  codec: 'aac',
  timescale: 48000,
  config: Uint8Array.of(0x11, 0x90),
  sampleRate: 48000,
  channels: 2,
};

/** A streamer over ten AAC frames of one track, with `room` reserved (undefined: its own estimate). */
async function streamed(room?: number): Promise<{ s: Fmp4Streamer; reserved: number[]; body: number }> {
  const reserved: number[] = [];
  let body = 0;
  const s = new Fmp4Streamer(
    async (b) => {
      body += b.length;
    },
    (n) => reserved.push(n),
    1,
    room,
  );
  const t = s.addTrack(AUDIO);
  for (let i = 0; i < 10; i++) {
    s.queue(
      t,
      (i * 1024) / 48000,
      { trackId: 1, dts: i * 1024, cts: 0, duration: 1024, keyframe: true, size: 4 },
      new Uint8Array(4),
    );
  }
  assert.ok(s.start());
  await s.drain(true);
  return { s, reserved, body };
}

it('Fmp4Streamer.head: the init segment padded to its room with a free box, or alone when it cannot be', async () => {
  const { s, reserved, body } = await streamed();
  assert.deepEqual(reserved, [s.room], 'the room is reserved once, before the fragments');
  assert.ok(body > 0);
  const head = s.head();
  assert.equal(head.fits, true);
  assert.equal(head.bytes.length, s.room);
  const boxes = readBoxes(head.bytes, 0, head.bytes.length);
  assert.deepEqual(
    boxes.map((b) => b.type),
    ['ftyp', 'moov', 'free'],
  );
  const init = boxes[1]?.end as number;
  assert.equal(s.room - init, 4096, 'room for the traks of later inputs');

  // Exactly the init's size: no free box. 1-7 bytes more: no box fits in that, so the init goes alone.
  // 8 more: an empty free box.
  for (const [extra, fits, types] of [
    [0, true, ['ftyp', 'moov']],
    [3, false, ['ftyp', 'moov']],
    [7, false, ['ftyp', 'moov']],
    [8, true, ['ftyp', 'moov', 'free']],
  ] as const) {
    const { s: t } = await streamed(init + extra);
    const h = t.head();
    assert.equal(h.fits, fits, `init + ${extra}`);
    assert.equal(h.bytes.length, fits ? init + extra : init, `init + ${extra}`);
    assert.deepEqual(
      readBoxes(h.bytes, 0, h.bytes.length).map((b) => b.type),
      types,
      `init + ${extra}`,
    );
  }
});

it('Fmp4Streamer: a track added after the output started is in the init segment written at the end', async () => {
  const { s } = await streamed();
  const traks = (): string[] => {
    const head = s.head().bytes;
    const moov = readBoxes(head, 0, head.length).find((b) => b.type === 'moov');
    assert.ok(moov);
    return readBoxes(head, moov.start + moov.headerSize, moov.end)
      .filter((b) => b.type === 'trak')
      .map((b) => Buffer.from(head.subarray(b.start, b.end)).toString('latin1'));
  };
  assert.equal(traks().length, 1);
  s.addTrack({ ...AUDIO, id: 2, language: 'deu' });
  const after = traks();
  assert.equal(after.length, 2);
  assert.ok(s.head().fits, 'within the room left for it');
  assert.ok(after[1]?.includes('mp4a'), 'its sample entry');
});

it('Fmp4Streamer.setConfig after the start: new H.264 parameters go into the next keyframe, other changes are refused', async () => {
  // Two SPS that differ in one byte (not parsed here: only carried), a PPS, and an avcC of them
  // (ISO/IEC 14496-15 5.3.3.1) with NAL length fields of `size` bytes.
  const sps = (w: number): Uint8Array => Uint8Array.of(0x67, 0x42, 0xc0, 0x1e, w, 0x80);
  const pps = Uint8Array.of(0x68, 0xce, 0x3c, 0x80);
  const buildAvcC = ([s]: Uint8Array[], [p]: Uint8Array[], size = 4): Uint8Array =>
    Uint8Array.of(1, 0x42, 0xc0, 0x1e, 0xfc | (size - 1), 0xe1, 0, s!.length, ...s!, 1, 0, p!.length, ...p!);
  const video: TrackInfo = {
    id: 1,
    kind: 'video',
    codec: 'avc',
    timescale: 90000,
    config: buildAvcC([sps(1)], [pps]),
    width: 320,
    height: 240,
  };
  const payloads: Uint8Array[] = [];
  const s = new Fmp4Streamer(
    async () => undefined,
    () => undefined,
  );
  const t = s.addTrack(video);
  const a = s.addTrack(AUDIO);
  // An IDR slice and a P slice, length-prefixed (4 bytes).
  const idr = Uint8Array.of(0, 0, 0, 2, 0x65, 0x88);
  const p = Uint8Array.of(0, 0, 0, 2, 0x41, 0x9a);
  const frame = (i: number, key: boolean): void => {
    const bytes = key ? idr : p;
    s.queue(t, i / 25, { trackId: 1, dts: i * 3600, cts: 0, duration: 3600, keyframe: key, size: 6 }, bytes);
  };
  frame(0, true);
  assert.ok(s.start());
  s.setConfig(t, buildAvcC([sps(2)], [pps]));
  frame(1, false);
  frame(2, true);
  frame(3, true);
  for (const q of t.queue) payloads.push(q.payload);
  assert.deepEqual(payloads[1], p, 'a frame before the next keyframe is as it came');
  const carried = payloads[2] as Uint8Array;
  assert.equal(carried.length, 4 + 6 + 4 + 4 + 6, 'SPS and PPS put in front of the IDR slice');
  assert.deepEqual(carried.subarray(4, 10), sps(2));
  assert.equal((t.queue[2] as { sample: { size: number } }).sample.size, carried.length);
  assert.deepEqual(payloads[3], idr, 'once only');
  assert.equal(t.info.config.length, buildAvcC([sps(1)], [pps]).length, 'the init keeps the first record');

  // Another NAL length size, and audio settings: one init segment cannot hold both.
  assert.throws(
    () => s.setConfig(t, buildAvcC([sps(2)], [pps], 2)),
    (err: { code?: string }) => err.code === 'E_FMP4_CONFIG_CHANGE',
  );
  assert.throws(
    () => s.setConfig(a, Uint8Array.of(0x12, 0x10)),
    (err: { code?: string }) => err.code === 'E_FMP4_CONFIG_CHANGE',
  );
});
