/**
 * The EvoStream reassembler against frames made from a real ffmpeg fMP4 (test/helpers/ws-servers.ts frames
 * them as shared/specs/ws-fmp4.md says, with a reader written apart from castkit's): the fragmented MP4 it
 * rebuilds must be the fixture's, byte for byte, and every framing fault must be a typed error that names
 * the frame and its byte offset.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { before, describe, it } from 'node:test';
import { FormatError } from '../../../src/core/errors.js';
import { EvoReassembler, type EvoOutput } from '../../../src/formats/evo/evo-reassembler.js';
import { parseEvoMoov, readEvoFrames, sniffEvo } from '../../../src/formats/evo/evo-frame.js';
import { demuxIsobmff } from '../../../src/formats/isobmff/isobmff-demuxer.js';
import { describeConfig } from '../../../src/formats/codecs/describe.js';
import { fixture } from '../../helpers/fixtures.js';
import {
  EVO,
  concat,
  evoFragmentFrames,
  evoFrame,
  evoMoovFrame,
  evoSampleFrames,
  parseFmp4,
  type ParsedFmp4,
} from '../../helpers/ws-servers.js';

let p: ParsedFmp4;
before(async () => {
  p = parseFmp4(new Uint8Array(readFileSync(await fixture('h264-aac.fmp4'))));
  assert.ok(p.fragments.length >= 2, 'the fixture has several fragments');
});

/** Push every message; the init segments and fragments out, joined in order. */
function reassemble(
  messages: Uint8Array[],
  r = new EvoReassembler(),
): { bytes: Uint8Array; outs: EvoOutput[] } {
  const parts: Uint8Array[] = [];
  const outs: EvoOutput[] = [];
  for (const m of messages) {
    const o = r.push(m);
    outs.push(o);
    for (const u of o.units) {
      if (u.kind === 'init') parts.push(u.init.init);
      else parts.push(...u.fragment.pieces);
    }
  }
  outs.push(r.end());
  return { bytes: concat(parts), outs };
}

const warningsOf = (outs: EvoOutput[]): string[] => outs.flatMap((o) => o.warnings.map((w) => w.code));

function allMessages(): Uint8Array[] {
  return [evoMoovFrame(p), ...p.fragments.flatMap((f) => evoFragmentFrames(f))];
}

function expectFormatError(fn: () => unknown, code: string): FormatError {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof FormatError, `a FormatError, got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    return err;
  }
  assert.fail(`expected ${code}`);
}

describe('EvoStream reassembly', () => {
  it('rebuilds the fixture fMP4 byte for byte from interleaved A/V fragments', () => {
    // Precondition: the samples really arrive interleaved (audio between video), as the spec says.
    const kinds = evoFragmentFrames(p.fragments[0]!).map((m) => m[0]);
    const firstAudio = kinds.indexOf(EVO.AUDIO);
    assert.ok(firstAudio > 0 && kinds.lastIndexOf(EVO.VIDEO) > firstAudio, 'audio and video interleave');
    const { bytes, outs } = reassemble(allMessages());
    const expected = concat([p.init, ...p.fragments.flatMap((f) => [f.moof, f.mdat])]);
    assert.equal(bytes.length, expected.length);
    assert.deepEqual(bytes, expected);
    assert.deepEqual(warningsOf(outs), []);
    const units = outs.flatMap((o) => o.units);
    assert.equal(units.filter((u) => u.kind === 'fragment').length, p.fragments.length);
    const frag = units.find((u) => u.kind === 'fragment');
    assert.ok(frag && frag.kind === 'fragment');
    const f0 = p.fragments[0]!;
    assert.equal(frag.fragment.videoSamples, f0.samples.filter((s) => s.kind === 'video').length);
    assert.equal(frag.fragment.audioSamples, f0.samples.filter((s) => s.kind === 'audio').length);
    assert.equal(frag.fragment.size, f0.moof.length + f0.mdat.length);
  });

  it('appending the buffers in arrival order (the seed answer) would not give the same file', () => {
    const f = p.fragments[0]!;
    const msgs = evoFragmentFrames(f);
    const inOrder = concat(
      msgs.filter((m) => m[0] === EVO.VIDEO || m[0] === EVO.AUDIO).map((m) => m.subarray(4)),
    );
    assert.notDeepEqual(inOrder, f.mdat.subarray(8), 'arrival order differs from the mdat layout');
  });

  it('rebuilds one-sample fragments built the way the RDK server builds them', () => {
    const samples = p.fragments.flatMap((f) => f.samples).sort((a, b) => a.timeSec - b.timeSec);
    const v = (id: number): number => p.fragments[0]!.trunVersion.get(id) ?? 0;
    const msgs = [evoMoovFrame(p), ...samples.flatMap((s, i) => evoSampleFrames(s, i + 1, v(s.track)))];
    const { bytes, outs } = reassemble(msgs);
    assert.deepEqual(warningsOf(outs), []);
    const d = demuxIsobmff(bytes);
    assert.equal(d.samples.length, samples.length);
    // Every sample's bytes and decode time come back.
    const byTrack = new Map<number, typeof samples>();
    for (const s of samples) byTrack.set(s.track, [...(byTrack.get(s.track) ?? []), s]);
    for (const t of d.tracks) {
      const mine = d.samples.filter((s) => s.trackId === t.id);
      const theirs = byTrack.get(t.sourceTrackId ?? t.id) ?? [];
      assert.equal(mine.length, theirs.length, `track ${t.id} samples`);
      mine.forEach((s, i) => {
        assert.equal(s.dts, theirs[i]!.dts);
        assert.deepEqual(bytes.subarray(s.offset!, s.offset! + s.size), theirs[i]!.bytes);
      });
    }
  });

  it('reads the HEADER_MOOV prefix: capabilities and the avc1 codec string', () => {
    const moov = evoMoovFrame(p);
    assert.ok(sniffEvo(moov));
    const [frame] = readEvoFrames(moov, 0);
    const init = parseEvoMoov(frame!.payload, 4);
    assert.equal(init.hasVideo, true);
    assert.equal(init.hasAudio, true);
    assert.deepEqual(init.init, p.init);
    const avcC = demuxIsobmff(p.init).tracks.find((t) => t.kind === 'video')!.config;
    assert.equal(init.codecString, describeConfig('avc', avcC).codecString);
  });

  it("reads the seed 002 server's prefix: f1 42 c0 1e is video only, avc1.42c01e", () => {
    const frame = evoFrame(EVO.MOOV, concat([Uint8Array.of(0xf1, 0x42, 0xc0, 0x1e), p.init]));
    assert.deepEqual(
      [...frame.subarray(0, 8)],
      [0xfa, 0, (frame.length - 4) >> 8, (frame.length - 4) & 0xff, 0xf1, 0x42, 0xc0, 0x1e],
    );
    const init = parseEvoMoov(readEvoFrames(frame, 0)[0]!.payload, 4);
    assert.deepEqual([init.hasVideo, init.hasAudio, init.codecString], [true, false, 'avc1.42c01e']);
  });

  it('skips the tail of a fragment begun before a late joiner arrived', () => {
    const [f0, f1] = p.fragments;
    const tail = evoFragmentFrames(f0!).slice(5); // samples, moof, mdat, END: no BEGIN
    const { bytes, outs } = reassemble([evoMoovFrame(p), ...tail, ...evoFragmentFrames(f1!)]);
    assert.deepEqual(warningsOf(outs), ['W_EVO_JOIN_SKIPPED']);
    assert.deepEqual(bytes, concat([p.init, f1!.moof, f1!.mdat]));
  });

  it('tolerates unknown frame types (one warning per type) and ignores a repeated identical MOOV', () => {
    const [f0, f1] = p.fragments;
    const odd = [evoFrame(0x10, Uint8Array.of(1, 2, 3)), evoFrame(0x10), evoFrame(0x7f, Uint8Array.of(9))];
    const msgs = [
      evoMoovFrame(p),
      ...evoFragmentFrames(f0!),
      ...odd,
      evoMoovFrame(p),
      ...evoFragmentFrames(f1!),
    ];
    const { bytes, outs } = reassemble(msgs);
    assert.deepEqual(warningsOf(outs), ['W_EVO_UNKNOWN_TYPE', 'W_EVO_UNKNOWN_TYPE']);
    assert.equal(outs.flatMap((o) => o.units).filter((u) => u.kind === 'init').length, 1);
    assert.deepEqual(bytes, concat([p.init, f0!.moof, f0!.mdat, f1!.moof, f1!.mdat]));
  });

  it('a changed MOOV starts a new init; an empty fragment (after a stream reset) is dropped', () => {
    const changed = evoMoovFrame(p).slice();
    changed[changed.length - 1] = changed[changed.length - 1]! ^ 0xff; // a byte of the moov's last box
    const empty = [
      evoFrame(EVO.BEGIN),
      evoFrame(EVO.MOOF, concat([Uint8Array.of(0, 0, 0, 24, 0x6d, 0x6f, 0x6f, 0x66), box16('mfhd')])),
      evoFrame(EVO.MDAT, Uint8Array.of(0, 0, 0, 8, 0x6d, 0x64, 0x61, 0x74)),
      evoFrame(EVO.END),
    ];
    const { outs } = reassemble([evoMoovFrame(p), ...evoFragmentFrames(p.fragments[0]!), changed, ...empty]);
    const units = outs.flatMap((o) => o.units);
    assert.deepEqual(
      units.map((u) => u.kind),
      ['init', 'fragment', 'init'],
    );
  });

  it('end() inside a fragment drops it with a warning', () => {
    const msgs = [evoMoovFrame(p), ...evoFragmentFrames(p.fragments[0]!).slice(0, 7)];
    const { outs } = reassemble(msgs);
    assert.deepEqual(warningsOf(outs), ['W_EVO_PARTIAL']);
    assert.equal(outs.flatMap((o) => o.units).length, 1);
  });
});

function box16(type: string): Uint8Array {
  const b = new Uint8Array(16);
  new DataView(b.buffer).setUint32(0, 16);
  b.set(
    [...type].map((c) => c.charCodeAt(0)),
    4,
  );
  return b;
}

describe('EvoStream framing errors', () => {
  const frags = (): Uint8Array[] => evoFragmentFrames(p.fragments[0]!);

  it('a size field past the end of its message names the frame type, both sizes and the offset', () => {
    const moov = evoMoovFrame(p);
    const bad = frags()[1]!.slice(0, 40); // a sample frame cut short
    const r = new EvoReassembler();
    r.push(moov);
    r.push(frags()[0]!);
    const err = expectFormatError(() => r.push(bad), 'E_EVO_FRAME_SIZE');
    assert.match(err.message, /VIDEO_BUFFER|AUDIO_BUFFER/);
    assert.match(err.message, /but the message has 36 after its header/);
    assert.equal(err.offset, moov.length + 4);
    // Sticky: the stream is broken from here on.
    expectFormatError(() => r.push(frags()[0]!), 'E_EVO_FRAME_SIZE');
  });

  it('a frame header cut short', () => {
    const r = new EvoReassembler();
    expectFormatError(() => r.push(concat([evoMoovFrame(p), Uint8Array.of(0xf9, 0)])), 'E_EVO_TRUNCATED');
  });

  it('END without HEADER_MDAT', () => {
    const r = new EvoReassembler();
    r.push(evoMoovFrame(p));
    const msgs = frags().filter((m) => m[0] !== EVO.MDAT);
    expectFormatError(() => msgs.forEach((m) => r.push(m)), 'E_EVO_NO_MDAT');
  });

  it('an mdat size that does not match the samples carried (a lost sample)', () => {
    const r = new EvoReassembler();
    r.push(evoMoovFrame(p));
    const msgs = frags();
    msgs.splice(
      msgs.findIndex((m) => m[0] === EVO.AUDIO),
      1,
    );
    expectFormatError(() => msgs.forEach((m) => r.push(m)), 'E_EVO_MDAT_SIZE');
  });

  it('moof pieces that do not add up to the moof size (a lost piece)', () => {
    const r = new EvoReassembler();
    r.push(evoMoovFrame(p));
    const msgs = frags();
    msgs.splice(msgs.findIndex((m) => m[0] === EVO.MOOF) + 1, 1);
    expectFormatError(() => msgs.forEach((m) => r.push(m)), 'E_EVO_MOOF_SIZE');
  });

  it('BEGIN inside an open fragment, and a sample outside any fragment', () => {
    let r = new EvoReassembler();
    r.push(evoMoovFrame(p));
    const msgs = frags();
    expectFormatError(() => [...msgs.slice(0, 3), ...msgs].forEach((m) => r.push(m)), 'E_EVO_SEQUENCE');
    r = new EvoReassembler();
    r.push(evoMoovFrame(p));
    msgs.forEach((m) => r.push(m));
    expectFormatError(() => r.push(msgs[1]!), 'E_EVO_SEQUENCE');
  });

  it('fragments before any HEADER_MOOV', () => {
    expectFormatError(() => new EvoReassembler().push(frags()[0]!), 'E_EVO_NO_MOOV');
  });

  it('a fragment larger than the bound', () => {
    const r = new EvoReassembler({ maxFragmentBytes: 10_000 });
    r.push(evoMoovFrame(p));
    expectFormatError(() => frags().forEach((m) => r.push(m)), 'E_EVO_FRAGMENT_TOO_LARGE');
  });

  it('a HEADER_MOOV without its capability byte, or without a moov', () => {
    const noPrefix = evoFrame(EVO.MOOV, p.init);
    expectFormatError(() => new EvoReassembler().push(noPrefix), 'E_EVO_BAD_MOOV');
    const ftypSize = new DataView(p.init.buffer, p.init.byteOffset).getUint32(0);
    const ftypOnly = evoFrame(
      EVO.MOOV,
      concat([Uint8Array.of(0xf3, 0x64, 0, 0x1f), p.init.subarray(0, ftypSize)]),
    );
    const err = expectFormatError(() => new EvoReassembler().push(ftypOnly), 'E_EVO_BAD_MOOV');
    assert.match(err.message, /no moov box/);
  });
});
