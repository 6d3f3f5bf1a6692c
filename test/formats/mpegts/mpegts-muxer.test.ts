import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { makeAudioSpecificConfig } from '../../../src/formats/codecs/aac.js';
import { createDemuxer } from '../../../src/formats/demux.js';
import type { Sample, TrackInfo } from '../../../src/formats/media.js';
import { TS_PACKET_SIZE, TsMuxer } from '../../../src/formats/mpegts/mpegts-muxer.js';
import { crc32Mpeg2, parsePat, parsePmt } from '../../../src/formats/mpegts/mpegts-psi.js';
import { fixture } from '../../helpers/fixtures.js';
import { demuxAll, nalUnits, pidOf, pusiOf, samplesOf, trackOf } from './demux-helpers.js';
import { concat } from './ts-writer.js';

const AAC: TrackInfo = {
  id: 1,
  kind: 'audio',
  codec: 'aac',
  timescale: 48000,
  config: makeAudioSpecificConfig(2, 48000, 2),
  sampleRate: 48000,
  channels: 2,
  language: 'deu',
};

/** The section a PSI packet carries (pointer_field 0). */
function sectionOf(packet: Uint8Array): Uint8Array {
  const length = ((packet[6]! & 0x0f) << 8) | packet[7]!;
  return packet.subarray(5, 5 + 3 + length);
}

/** Every sample of an MP4 fixture with its payload, through castkit's own demuxer. */
function demuxMp4(path: string): { tracks: TrackInfo[]; samples: (Sample & { data: Uint8Array })[] } {
  const bytes = new Uint8Array(readFileSync(path));
  const d = createDemuxer('mp4');
  const out = d.push(bytes);
  const end = d.end();
  const samples = [...out.samples, ...end.samples].map((s) => ({
    ...s,
    data: s.data ?? bytes.subarray(s.offset!, s.offset! + s.size),
  }));
  return { tracks: [...out.tracks, ...end.tracks], samples };
}

/** The PES packets of one PID, reassembled: header fields and the elementary stream bytes. */
function pesOf(ts: Uint8Array, pid: number): { pts: number; dts: number; es: Uint8Array }[] {
  const out: { pts: number; dts: number; parts: Uint8Array[] }[] = [];
  const time = (b: Uint8Array, at: number): number =>
    ((b[at]! >> 1) & 7) * 2 ** 30 +
    (b[at + 1]! << 22) +
    ((b[at + 2]! >> 1) << 15) +
    (b[at + 3]! << 7) +
    (b[at + 4]! >> 1);
  for (let p = 0; p < ts.length / TS_PACKET_SIZE; p++) {
    if (pidOf(ts, p) !== pid) continue;
    const pkt = ts.subarray(p * TS_PACKET_SIZE, (p + 1) * TS_PACKET_SIZE);
    let at = 4;
    if (pkt[3]! & 0x20) at += 1 + pkt[4]!;
    let payload = pkt.subarray(at);
    if (pusiOf(ts, p)) {
      assert.deepEqual([...payload.subarray(0, 3)], [0, 0, 1], 'a PES start code');
      const flags = payload[7]!;
      const pts = time(payload, 9);
      const dts = flags & 0x40 ? time(payload, 14) : pts;
      out.push({ pts, dts, parts: [] });
      payload = payload.subarray(9 + payload[8]!);
    }
    out[out.length - 1]?.parts.push(payload);
  }
  return out.map((x) => ({ pts: x.pts, dts: x.dts, es: concat(x.parts) }));
}

/** Annex B NAL units (4- or 3-byte start codes). */
function annexBNals(es: Uint8Array): Uint8Array[] {
  const starts: number[] = [];
  for (let i = 0; i + 3 <= es.length; i++) {
    if (es[i] === 0 && es[i + 1] === 0 && es[i + 2] === 1) {
      starts.push(i + 3);
      i += 2;
    }
  }
  return starts.map((s, k) => {
    let end = k + 1 < starts.length ? starts[k + 1]! - 3 : es.length;
    if (k + 1 < starts.length && es[end - 1] === 0) end--; // a 4-byte start code's leading zero
    return es.subarray(s, end);
  });
}

describe('TsMuxer', () => {
  it('cuts PES packets of every size into whole 188-byte packets the demuxer reads back exactly', () => {
    const mux = new TsMuxer([AAC]);
    const parts: Uint8Array[] = [];
    const frames: Uint8Array[] = [];
    // Every size from 1 to 400 bytes: the last packet of a PES needs 0, 1, 2 ... 183 bytes of stuffing.
    for (let n = 1; n <= 400; n++) {
      const frame = new Uint8Array(n).map((_, i) => (i * 7 + n) & 0xff);
      frames.push(frame);
      parts.push(mux.sample(1, (n - 1) * 1024, 0, true, frame).slice());
    }
    const ts = concat(parts);
    assert.equal(ts.length % TS_PACKET_SIZE, 0);
    assert.equal(ts.length / TS_PACKET_SIZE, mux.packets);
    const cc = new Map<number, number>();
    for (let p = 0; p < ts.length / TS_PACKET_SIZE; p++) {
      assert.equal(ts[p * TS_PACKET_SIZE], 0x47, `packet ${p} sync byte`);
      const pid = pidOf(ts, p);
      const c = ts[p * TS_PACKET_SIZE + 3]! & 0x0f;
      if (cc.has(pid)) assert.equal(c, (cc.get(pid)! + 1) & 15, `packet ${p}: continuity of PID ${pid}`);
      cc.set(pid, c);
    }
    const r = demuxAll(ts);
    assert.deepEqual(r.warnings, []);
    const track = trackOf(r, 'audio');
    assert.equal(track.language, 'deu');
    const got = samplesOf(r, track.id);
    assert.equal(got.length, frames.length);
    for (const [i, s] of got.entries()) {
      assert.deepEqual(s.data, frames[i], `frame ${i}`);
      assert.equal(s.dts - got[0]!.dts, i * 1024, `frame ${i} time`);
    }
  });

  it('writes a PAT and PMT with valid CRCs, the stream types, the PCR PID, and repeats them at keyframes', async () => {
    const { tracks, samples } = demuxMp4(await fixture('h264-aac.mp4'));
    const mux = new TsMuxer(tracks);
    const first = mux.sample(samples[0]!.trackId, 0, 0, true, samples[0]!.data).slice();
    const pat = sectionOf(first.subarray(0, TS_PACKET_SIZE));
    const pmt = sectionOf(first.subarray(TS_PACKET_SIZE, 2 * TS_PACKET_SIZE));
    for (const s of [pat, pmt]) {
      const crc =
        ((s[s.length - 4]! << 24) | (s[s.length - 3]! << 16) | (s[s.length - 2]! << 8) | s[s.length - 1]!) >>>
        0;
      assert.equal(crc32Mpeg2(s, 0, s.length - 4), crc);
    }
    const program = parsePat(pat).programs[0]!;
    const table = parsePmt(pmt);
    assert.equal(pidOf(first, 1), program.pmtPid);
    const types = table.streams.map((s) => s.streamType);
    assert.deepEqual(
      types,
      tracks.map((t) => (t.kind === 'video' ? 0x1b : 0x0f)),
    );
    const videoPid = table.streams[tracks.findIndex((t) => t.kind === 'video')]!.pid;
    assert.equal(table.pcrPid, videoPid);

    // A later keyframe brings the tables again; a frame in between does not.
    const video = tracks.find((t) => t.kind === 'video')!;
    const frames = samples.filter((s) => s.trackId === video.id);
    const key = frames.findIndex((s, i) => i > 0 && s.keyframe);
    assert.ok(key > 1);
    const plain = mux.sample(video.id, frames[1]!.dts, frames[1]!.cts, false, frames[1]!.data);
    assert.equal(pidOf(plain, 0), videoPid);
    const again = mux.sample(video.id, frames[key]!.dts, frames[key]!.cts, true, frames[key]!.data);
    assert.equal(pidOf(again, 0), 0);
    assert.equal(pidOf(again, 1), program.pmtPid);
    assert.equal(pidOf(again, 2), videoPid);
    assert.ok(pusiOf(again, 2));
    // Random access indicator and a PCR in the keyframe's first packet (2.4.3.4).
    const af = again.subarray(2 * TS_PACKET_SIZE + 4);
    assert.equal(again[2 * TS_PACKET_SIZE + 3]! & 0x30, 0x30, 'an adaptation field');
    assert.equal(af[1]! & 0x50, 0x50, 'random_access_indicator and PCR_flag');
  });

  it('adds a track after the start under a new PMT version, sent before the next sample', async () => {
    const { tracks, samples } = demuxMp4(await fixture('h264-aac.mp4'));
    const video = tracks.find((t) => t.kind === 'video')!;
    const frames = samples.filter((s) => s.trackId === video.id);
    const mux = new TsMuxer([video]);
    const first = mux.sample(video.id, 0, frames[0]!.cts, true, frames[0]!.data).slice();
    const before = parsePmt(sectionOf(first.subarray(TS_PACKET_SIZE, 2 * TS_PACKET_SIZE)));
    assert.equal(before.streams.length, 1);
    assert.equal((first[TS_PACKET_SIZE + 5 + 5]! >> 1) & 31, 0, 'version 0');
    mux.addTrack({ ...AAC, id: 9 });
    // Not a keyframe and not due by time: the tables come because the PMT changed.
    const next = mux.sample(video.id, frames[1]!.dts, frames[1]!.cts, false, frames[1]!.data);
    assert.equal(pidOf(next, 0), 0);
    const pmt = sectionOf(next.subarray(TS_PACKET_SIZE, 2 * TS_PACKET_SIZE));
    assert.equal((pmt[5]! >> 1) & 31, 1, 'version 1');
    const after = parsePmt(pmt);
    assert.deepEqual(
      after.streams.map((s) => s.streamType),
      [0x1b, 0x0f],
    );
    assert.equal(after.pcrPid, before.pcrPid);
    const audio = samples.find((s) => s.trackId !== video.id)!;
    const packets = mux.sample(9, 0, 0, true, audio.data);
    assert.equal(pidOf(packets, 0), after.streams[1]!.pid);
    assert.throws(() => mux.addTrack({ ...AAC, id: 9 }), RangeError);
  });

  it('turns length-prefixed video into Annex B with an AUD first and the parameter sets on keyframes', async () => {
    const { tracks, samples } = demuxMp4(await fixture('h264-aac.mp4'));
    const mux = new TsMuxer(tracks);
    const ts = concat(samples.map((s) => mux.sample(s.trackId, s.dts, s.cts, s.keyframe, s.data).slice()));
    const video = tracks.find((t) => t.kind === 'video')!;
    const source = samples.filter((s) => s.trackId === video.id);
    const videoPid = 0x100 + tracks.indexOf(video);
    const pes = pesOf(ts, videoPid);
    assert.equal(pes.length, source.length, 'one PES per frame');
    const scale = 90000 / video.timescale;
    for (const [i, p] of pes.entries()) {
      const nals = annexBNals(p.es);
      const types = nals.map((n) => n[0]! & 0x1f);
      assert.equal(types[0], 9, `frame ${i} starts with an access unit delimiter`);
      const own = nalUnits(source[i]!.data);
      if (source[i]!.keyframe) assert.deepEqual(types.slice(1, 3), [7, 8], `keyframe ${i}: SPS and PPS`);
      else assert.equal(nals.length, own.length + 1, `frame ${i}: no parameter sets`);
      assert.deepEqual(nals.slice(-own.length), own, `frame ${i}: its own NAL units, unchanged`);
      // The source's times in 90 kHz, all moved by the same amount; PTS never before DTS.
      assert.equal(p.dts - pes[0]!.dts, Math.round((source[i]!.dts - source[0]!.dts) * scale));
      assert.equal(p.pts - p.dts, Math.round(source[i]!.cts * scale));
    }
    // And castkit's demuxer reads the stream back to the source's frames.
    const r = demuxAll(ts);
    assert.deepEqual(r.warnings, []);
    assert.equal(samplesOf(r, trackOf(r, 'video').id).length, source.length);
  });

  it('refuses what TS cannot carry, and a damaged sample, with typed errors', () => {
    // channelConfiguration 0: the layout is in a program config element, which ADTS cannot carry here.
    const pce: TrackInfo = { ...AAC, config: Uint8Array.of(0x11, 0x80, 0, 0, 0, 0, 0, 0) };
    assert.throws(() => new TsMuxer([pce]), { code: 'E_TS_AAC_CONFIG' });
    const sbrOnly: TrackInfo = { ...AAC, config: makeAudioSpecificConfig(42, 48000, 2) };
    assert.throws(() => new TsMuxer([sbrOnly]), { code: 'E_TS_AAC_CONFIG' });
    assert.throws(() => new TsMuxer([]), RangeError);
  });

  it('names the sample whose NAL unit lengths run past its end', async () => {
    const { tracks } = demuxMp4(await fixture('h264-aac.mp4'));
    const mux = new TsMuxer(tracks);
    const video = tracks.find((t) => t.kind === 'video')!;
    assert.throws(
      () => mux.sample(video.id, 3000, 0, false, Uint8Array.of(0, 0, 1, 0, 0x41, 1, 2)),
      (e: { code?: string; message?: string }) =>
        e.code === 'E_TS_MUX_SAMPLE' && /decode time 3000/.test(e.message ?? ''),
    );
  });
});
