/**
 * The packet loop's fast path (continuation packets of a video PES moved straight into the access unit) must
 * give what the general path gives: same samples, same warnings at the same offsets. The general path runs
 * when the input is pushed in small pieces (demuxed where they are), the fast path when it is read into the
 * demuxer's own memory (inputBuffer), as file remuxes and recordings do.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { FormatError } from '../../../src/core/errors.js';
import { parseAvcC } from '../../../src/formats/codecs/h264.js';
import { fixture } from '../../helpers/fixtures.js';
import { sampleEntryBox } from '../codecs/probe-helpers.js';
import { demuxAll, demuxViaInputBuffer, type Demuxed } from './demux-helpers.js';
import { adtsFrame, concat, TsWriter } from './ts-writer.js';

const read = (path: string): Uint8Array => new Uint8Array(readFileSync(path));

let seed = 7;
function rand(n: number): number {
  seed = (seed * 1103515245 + 12345) & 0x7fffffff;
  return seed % n;
}

/** Pieces under the demuxer's staging size: every packet goes through packet() and esPayload(). */
const SMALL = [1, 7, 187, 189, 1000, 4093, 333];

const VIA_INPUT_BUFFER = [100_003, 1 << 20, 4093, 50_000];

/** Everything a caller sees, as comparable strings (or the error it got). */
function outcome(run: () => Demuxed): string[] {
  try {
    const r = run();
    return [
      ...r.tracks.map((t) => `track ${t.id} ${t.codec} ${Buffer.from(t.config ?? []).toString('hex')}`),
      ...r.samples.map(
        (s) =>
          `${s.trackId} ${s.dts} ${s.cts} ${s.duration} ${s.keyframe} ${Buffer.from(s.data ?? []).toString('base64')}`,
      ),
      ...r.warnings.map((w) => `${w.code} @${w.offset}: ${w.message}`),
    ];
  } catch (err) {
    assert.ok(err instanceof FormatError, String(err));
    return [`error ${err.code} @${err.offset}: ${err.message}`];
  }
}

/** Damage aimed at what the fast path decides on: header flags, PIDs, continuity counters, PES lengths. */
function damage(whole: Uint8Array, hits: number): Uint8Array {
  const packets: Uint8Array[] = [];
  for (let i = 0; i + 188 <= whole.length; i += 188) packets.push(whole.slice(i, i + 188));
  for (let k = 0; k < hits; k++) {
    const i = rand(packets.length);
    const p = packets[i] as Uint8Array;
    switch (rand(8)) {
      case 0:
        p[1] = (p[1] as number) ^ [0x80, 0x40, 0x01, 0x10][rand(4)]!; // TEI, PUSI, PID bits
        break;
      case 1:
        p[3] = ((p[3] as number) & 0xf0) | rand(16); // continuity counter
        break;
      case 2:
        p[3] = (p[3] as number) ^ [0x40, 0x80, 0x10, 0x20][rand(4)]!; // scrambling, adaptation_field_control
        break;
      case 3:
        p[4 + rand(16)] = rand(256); // PES header (lengths, flags) when the packet starts one
        break;
      case 4:
        packets.splice(i, 1); // a lost packet
        break;
      case 5:
        packets.splice(i, 0, p.slice()); // a repeated packet
        break;
      case 6:
        p[9] = rand(256); // PES_packet_length, low byte
        break;
      default:
        p[rand(188)] = rand(256);
    }
  }
  return concat(packets);
}

/** H.264 + AAC with PES_packet_length set on the video PES packets, which ffmpeg leaves at 0. */
async function boundedVideoStream(): Promise<Uint8Array> {
  const c = parseAvcC(sampleEntryBox(read(await fixture('h264-aac.mp4')), 'avcC') as Uint8Array);
  const sps = c.sps[0] as Uint8Array;
  const pps = c.pps[0] as Uint8Array;
  const annexB = (nals: Uint8Array[]): Uint8Array =>
    concat(nals.flatMap((n) => [Uint8Array.from([0, 0, 0, 1]), n]));
  const body = (n: number): Uint8Array => {
    const b = new Uint8Array(n);
    for (let i = 0; i < n; i++) b[i] = 1 + rand(255);
    return b;
  };
  const w = new TsWriter([
    { pid: 0x100, streamType: 0x1b },
    { pid: 0x101, streamType: 0x0f },
  ]).psi();
  for (let i = 0; i < 60; i++) {
    const key = i % 15 === 0;
    const slice = concat([Uint8Array.from(key ? [0x65, 0x88] : [0x41, 0x98]), body(200 + rand(6000))]);
    const au = annexB(key ? [Uint8Array.from([0x09, 0xf0]), sps, pps, slice] : [slice]);
    w.pes(0x100, au, { pts: 93000 + i * 3000, dts: 90000 + i * 3000, randomAccess: key });
    w.pes(0x101, adtsFrame(body(80)), { pts: 93000 + i * 3000 });
    if (i % 20 === 19) w.psi();
  }
  return w.bytes();
}

describe('MPEG-TS demuxer: the fast path equals the general path', () => {
  it('on intact streams, with and without PES_packet_length on video', async () => {
    for (const bytes of [read(await fixture('h264-aac.ts')), await boundedVideoStream()]) {
      const general = outcome(() => demuxAll(bytes, SMALL));
      assert.ok(general.length > 100, 'samples come out');
      assert.deepEqual(
        outcome(() => demuxViaInputBuffer(bytes, VIA_INPUT_BUFFER)),
        general,
      );
    }
  });

  it('on 400 streams damaged where its decisions are made', async () => {
    const sources = [read(await fixture('h264-aac.ts')), await boundedVideoStream()];
    for (let round = 0; round < 400; round++) {
      const bytes = damage(sources[round % 2] as Uint8Array, 1 + rand(30));
      assert.deepEqual(
        outcome(() => demuxViaInputBuffer(bytes, VIA_INPUT_BUFFER)),
        outcome(() => demuxAll(bytes, SMALL)),
        `round ${round}`,
      );
    }
  });

  it('the bounded stream is read whole (the general path agrees with what was written)', async () => {
    const r = demuxAll(await boundedVideoStream(), SMALL);
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
