/**
 * Websocket media servers for the tests, on 127.0.0.1 (port 0), built from real ffmpeg fixtures:
 *
 * - an EvoStream/RDK emulator that frames an A/V fragmented MP4 exactly as shared/specs/ws-fmp4.md says
 *   (HEADER_MOOV with its 4-byte prefix; per fragment BEGIN, the samples as VIDEO_BUFFER / AUDIO_BUFFER in
 *   the order they are produced (interleaved by time), the moof in pieces (moof + mfhd, then per track the
 *   traf header and its trun), HEADER_MDAT, END), either with the fixture's fragments (several samples of
 *   both tracks per fragment) or one fragment per sample built the way the RDK server builds them;
 * - a plain fMP4 server (init segment, then moof + mdat, cut into messages of any size);
 * - an FLV server (node-media-server WS-FLV style: the FLV header, then one tag per message).
 *
 * The stream is live: its clock starts with the first connection and runs at `speed` times real time; a
 * connection that comes later joins at the live edge (and the EvoStream one may join inside a fragment,
 * as the real server lets it). Each connection logs what it was sent, and drops can be scheduled.
 *
 * The fMP4 and FLV readers here are written apart from castkit's own, so that a bug in those cannot hide
 * itself in the test.
 */
import { readFileSync } from 'node:fs';
import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';
import { clipSpec, makeMedia, type MediaSpec } from './fixtures.js';
import { concatBytes as concat } from '../../src/core/bytes.js';
export { concat };

// ---------------------------------------------------------------------------------------------------------
// Fixtures

/** The 30 s A/V clip (H.264 + AAC, 1 s GOPs) as MP4, fragmented MP4 (a fragment per GOP) and FLV. */
export async function wsFixtures(seconds = 30): Promise<{ mp4: string; fmp4: string; flv: string }> {
  const clip = clipSpec(seconds, '320x240', 30, '300k');
  const mp4 = await makeMedia(clip);
  const dep = async (): Promise<string> => mp4;
  const fragSpec: MediaSpec = {
    name: `${clip.name}-frag`,
    ext: '.mp4',
    deps: ['clip'],
    args: [
      '-i',
      '{dep:clip}',
      '-map',
      '0:v',
      '-map',
      '0:a',
      '-c',
      'copy',
      '-movflags',
      'frag_keyframe+empty_moov+default_base_moof',
    ],
  };
  const flvSpec: MediaSpec = {
    name: clip.name,
    ext: '.flv',
    deps: ['clip'],
    args: ['-i', '{dep:clip}', '-c', 'copy'],
  };
  return { mp4, fmp4: await makeMedia(fragSpec, dep), flv: await makeMedia(flvSpec, dep) };
}

// ---------------------------------------------------------------------------------------------------------
// A small ISO-BMFF reader (ISO/IEC 14496-12), for the fixtures only.

interface RawBox {
  type: string;
  start: number;
  body: number;
  end: number;
}

const dv = (b: Uint8Array): DataView => new DataView(b.buffer, b.byteOffset, b.byteLength);

function boxesIn(b: Uint8Array, start: number, end: number): RawBox[] {
  const v = dv(b);
  const out: RawBox[] = [];
  let at = start;
  while (at + 8 <= end) {
    let size = v.getUint32(at);
    const type = String.fromCharCode(b[at + 4]!, b[at + 5]!, b[at + 6]!, b[at + 7]!);
    let body = at + 8;
    if (size === 1) {
      size = Number(v.getBigUint64(at + 8));
      body += 8;
    } else if (size === 0) size = end - at;
    if (size < 8 || at + size > end) throw new Error(`fixture box ${type} at ${at} is broken`);
    out.push({ type, start: at, body, end: at + size });
    at += size;
  }
  return out;
}

function child(b: Uint8Array, parent: RawBox, type: string): RawBox | undefined {
  return boxesIn(b, parent.body, parent.end).find((x) => x.type === type);
}

interface FixtureTrack {
  id: number;
  kind: 'video' | 'audio';
  timescale: number;
  trex: { duration: number; size: number; flags: number };
}

export interface FixtureSample {
  track: number;
  kind: 'video' | 'audio';
  dts: number;
  cts: number;
  duration: number;
  timeSec: number;
  key: boolean;
  bytes: Uint8Array;
}

export interface FixtureFragment {
  /** The moof and mdat boxes as they are in the file. */
  moof: Uint8Array;
  mdat: Uint8Array;
  samples: FixtureSample[];
  startSec: number;
  /** The EvoStream HEADER_MOOF pieces: moof + mfhd, then per traf its header (to the trun's entries) and the rest. */
  moofPieces: Uint8Array[];
  trunVersion: Map<number, number>;
}

export interface ParsedFmp4 {
  /** ftyp + moov. */
  init: Uint8Array;
  tracks: FixtureTrack[];
  fragments: FixtureFragment[];
  /** AVC profile, compatibility and level from the avcC (the HEADER_MOOV prefix bytes). */
  avc: [number, number, number];
}

export function parseFmp4(file: Uint8Array): ParsedFmp4 {
  const v = dv(file);
  const top = boxesIn(file, 0, file.length);
  const moov = top.find((b) => b.type === 'moov');
  const ftyp = top.find((b) => b.type === 'ftyp');
  if (!moov || !ftyp) throw new Error('fixture has no ftyp/moov');
  const init = file.slice(ftyp.start, moov.end);
  const tracks: FixtureTrack[] = [];
  for (const trak of boxesIn(file, moov.body, moov.end).filter((b) => b.type === 'trak')) {
    const tkhd = child(file, trak, 'tkhd')!;
    const id = v.getUint32(tkhd.body + (file[tkhd.body] === 1 ? 20 : 12));
    const mdia = child(file, trak, 'mdia')!;
    const mdhd = child(file, mdia, 'mdhd')!;
    const timescale = v.getUint32(mdhd.body + (file[mdhd.body] === 1 ? 20 : 12));
    const hdlr = child(file, mdia, 'hdlr')!;
    const handler = String.fromCharCode(...file.subarray(hdlr.body + 8, hdlr.body + 12));
    if (handler !== 'vide' && handler !== 'soun') continue;
    tracks.push({
      id,
      kind: handler === 'vide' ? 'video' : 'audio',
      timescale,
      trex: { duration: 0, size: 0, flags: 0 },
    });
  }
  const mvex = child(file, moov, 'mvex');
  for (const trex of mvex ? boxesIn(file, mvex.body, mvex.end).filter((b) => b.type === 'trex') : []) {
    const t = tracks.find((x) => x.id === v.getUint32(trex.body + 4));
    if (t)
      t.trex = {
        duration: v.getUint32(trex.body + 12),
        size: v.getUint32(trex.body + 16),
        flags: v.getUint32(trex.body + 20),
      };
  }
  const i = findIndex(file, 'avcC');
  const avc: [number, number, number] = [file[i + 5]!, file[i + 6]!, file[i + 7]!];

  const fragments: FixtureFragment[] = [];
  for (let k = 0; k < top.length; k++) {
    const moof = top[k]!;
    if (moof.type !== 'moof') continue;
    const mdat = top[k + 1];
    if (!mdat || mdat.type !== 'mdat') throw new Error('fixture moof without mdat');
    const samples: FixtureSample[] = [];
    const pieces: Uint8Array[] = [];
    const trunVersion = new Map<number, number>();
    const kids = boxesIn(file, moof.body, moof.end);
    let pieceAt = moof.start;
    for (const kid of kids) {
      if (kid.type !== 'traf') continue;
      if (pieceAt < kid.start) pieces.push(file.slice(pieceAt, kid.start)); // moof header + mfhd
      const tfhd = child(file, kid, 'tfhd')!;
      const tf = v.getUint32(tfhd.body) & 0xffffff;
      const track = tracks.find((t) => t.id === v.getUint32(tfhd.body + 4))!;
      let at = tfhd.body + 8;
      let base = moof.start;
      if (tf & 1) {
        base = Number(v.getBigUint64(at));
        at += 8;
      }
      if (tf & 2) at += 4;
      let defDur = track.trex.duration;
      let defSize = track.trex.size;
      let defFlags = track.trex.flags;
      const tfhdWord = (): number => {
        const x = v.getUint32(at);
        at += 4;
        return x;
      };
      if (tf & 8) defDur = tfhdWord();
      if (tf & 0x10) defSize = tfhdWord();
      if (tf & 0x20) defFlags = tfhdWord();
      const tfdt = child(file, kid, 'tfdt')!;
      let dts = file[tfdt.body] === 1 ? Number(v.getBigUint64(tfdt.body + 4)) : v.getUint32(tfdt.body + 4);
      const truns = boxesIn(file, kid.body, kid.end).filter((b) => b.type === 'trun');
      let split = -1;
      for (const trun of truns) {
        const rf = v.getUint32(trun.body) & 0xffffff;
        trunVersion.set(track.id, file[trun.body]!);
        const count = v.getUint32(trun.body + 4);
        let p = trun.body + 8;
        const word = (): number => {
          const x = v.getUint32(p);
          p += 4;
          return x;
        };
        let data = base;
        if (rf & 1) data = base + (word() | 0);
        let first = -1;
        if (rf & 4) first = word();
        if (split < 0) split = p;
        for (let s = 0; s < count; s++) {
          let dur = defDur;
          let size = defSize;
          let flags = s === 0 && first >= 0 ? first : defFlags;
          let cts = 0;
          if (rf & 0x100) dur = word();
          if (rf & 0x200) size = word();
          if (rf & 0x400) flags = word();
          if (rf & 0x800) cts = file[trun.body] === 0 ? word() : word() | 0;
          samples.push({
            track: track.id,
            kind: track.kind,
            dts,
            cts,
            duration: dur,
            timeSec: dts / track.timescale,
            key: (flags & 0x00010000) === 0,
            bytes: file.slice(data, data + size),
          });
          if (data < mdat.body || data + size > mdat.end) throw new Error('fixture sample outside its mdat');
          dts += dur;
          data += size;
        }
      }
      // EvoStream's pieces: the traf header up to the trun's entries, then the entries (and the rest).
      pieces.push(file.slice(kid.start, split), file.slice(split, kid.end));
      pieceAt = kid.end;
    }
    if (pieceAt < moof.end) pieces.push(file.slice(pieceAt, moof.end));
    // The layout the trun offsets of an EvoStream fragment assume: all video bytes, then all audio bytes.
    const video = samples.filter((s) => s.kind === 'video');
    const audio = samples.filter((s) => s.kind === 'audio');
    const payload = concat([...video, ...audio].map((s) => s.bytes));
    if (!equalBytes(payload, file.subarray(mdat.body, mdat.end))) {
      throw new Error('fixture fragment is not laid out video first, then audio');
    }
    fragments.push({
      moof: file.slice(moof.start, moof.end),
      mdat: file.slice(mdat.start, mdat.end),
      samples,
      startSec: Math.min(...samples.map((s) => s.timeSec)),
      moofPieces: pieces,
      trunVersion,
    });
  }
  return { init, tracks, fragments, avc };
}

function findIndex(b: Uint8Array, fourcc: string): number {
  const c = [...fourcc].map((x) => x.charCodeAt(0));
  for (let i = 0; i + 4 <= b.length; i++) {
    if (b[i] === c[0] && b[i + 1] === c[1] && b[i + 2] === c[2] && b[i + 3] === c[3]) return i;
  }
  throw new Error(`no ${fourcc} in the fixture`);
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

// ---------------------------------------------------------------------------------------------------------
// EvoStream framing (the spec's "Framing" table)

export const EVO = {
  BEGIN: 0xf9,
  MOOV: 0xfa,
  MOOF: 0xfb,
  VIDEO: 0xfc,
  AUDIO: 0xfd,
  MDAT: 0xfe,
  END: 0xff,
} as const;

/** One frame: the word `(type << 24) | payloadSize`, then the payload. */
export function evoFrame(type: number, payload: Uint8Array = new Uint8Array(0)): Uint8Array {
  const out = new Uint8Array(4 + payload.length);
  dv(out).setUint32(0, ((type << 24) | payload.length) >>> 0);
  out.set(payload, 4);
  return out;
}

/** HEADER_MOOV: capability byte (0xF0 | 1 video | 2 audio), AVC profile/compat/level, then ftyp + moov. */
export function evoMoovFrame(p: ParsedFmp4): Uint8Array {
  const hasVideo = p.tracks.some((t) => t.kind === 'video');
  const hasAudio = p.tracks.some((t) => t.kind === 'audio');
  const prefix = Uint8Array.of(
    0xf0 | (hasVideo ? 1 : 0) | (hasAudio ? 2 : 0),
    ...(hasVideo ? p.avc : [0, 0, 0]),
  );
  return evoFrame(EVO.MOOV, concat([prefix, p.init]));
}

/** The samples in the order a live encoder produces them: by time, video first on a tie. */
function producedOrder(samples: readonly FixtureSample[]): FixtureSample[] {
  return [...samples].sort((a, b) => a.timeSec - b.timeSec || (a.kind === 'video' ? -1 : 1));
}

function mdatHeader(payload: number): Uint8Array {
  const h = new Uint8Array(8);
  dv(h).setUint32(0, payload + 8);
  h.set([0x6d, 0x64, 0x61, 0x74], 4);
  return h;
}

/** One fixture fragment as EvoStream messages: BEGIN, samples as produced, moof pieces, HEADER_MDAT, END. */
export function evoFragmentFrames(f: FixtureFragment): Uint8Array[] {
  const msgs = [evoFrame(EVO.BEGIN)];
  for (const s of producedOrder(f.samples))
    msgs.push(evoFrame(s.kind === 'video' ? EVO.VIDEO : EVO.AUDIO, s.bytes));
  for (const p of f.moofPieces) msgs.push(evoFrame(EVO.MOOF, p));
  let payload = 0;
  for (const s of f.samples) payload += s.bytes.length;
  msgs.push(evoFrame(EVO.MDAT, mdatHeader(payload)), evoFrame(EVO.END));
  return msgs;
}

/**
 * One sample as the RDK server frames it ("new fragment each frame", fmp4writer.cpp): a moof with one
 * traf whose tfhd carries default duration, size and flags with default-base-is-moof (flags 0x020038), a
 * 64-bit tfdt, and a trun with data_offset, first_sample_flags and one composition offset (0x000805).
 */
export function evoSampleFrames(s: FixtureSample, sequence: number, trunVersion: number): Uint8Array[] {
  const box = (type: string, body: Uint8Array): Uint8Array => {
    const out = new Uint8Array(8 + body.length);
    dv(out).setUint32(0, out.length);
    out.set(
      [...type].map((c) => c.charCodeAt(0)),
      4,
    );
    out.set(body, 8);
    return out;
  };
  const words = (...w: number[]): Uint8Array => {
    const out = new Uint8Array(w.length * 4);
    w.forEach((x, i) => dv(out).setUint32(i * 4, x >>> 0));
    return out;
  };
  const flags = s.key ? 0x02000000 : 0x01010000;
  const mfhd = box('mfhd', words(0, sequence));
  const tfhd = box('tfhd', words(0x020038, s.track, s.duration, s.bytes.length, flags));
  const tfdt = box('tfdt', words(0x01000000, Math.floor(s.dts / 2 ** 32), s.dts >>> 0));
  const trunSize = 24 + 4;
  const trafSize = 8 + tfhd.length + tfdt.length + trunSize;
  const moofSize = 8 + mfhd.length + trafSize;
  const trunHead = words(trunSize, 0x7472756e, (trunVersion << 24) | 0x000805, 1, moofSize + 8, flags);
  const trunEntries = words(s.cts);
  const moofHead = concat([words(moofSize, 0x6d6f6f66), mfhd]);
  const trafHead = concat([words(trafSize, 0x74726166), tfhd, tfdt, trunHead]);
  return [
    evoFrame(EVO.BEGIN),
    evoFrame(s.kind === 'video' ? EVO.VIDEO : EVO.AUDIO, s.bytes),
    evoFrame(EVO.MOOF, moofHead),
    evoFrame(EVO.MOOF, trafHead),
    evoFrame(EVO.MOOF, trunEntries),
    evoFrame(EVO.MDAT, mdatHeader(s.bytes.length)),
    evoFrame(EVO.END),
  ];
}

// ---------------------------------------------------------------------------------------------------------
// FLV (spec v10.1 Annex E), for the fixture only

export interface FlvFixture {
  /** The FLV header and PreviousTagSize0. */
  header: Uint8Array;
  /** Script and decoder configuration tags (each with its PreviousTagSize): what a late joiner gets first. */
  config: Uint8Array[];
  tags: { bytes: Uint8Array; timeSec: number; kind: 'video' | 'audio'; key: boolean }[];
}

export function parseFlv(file: Uint8Array): FlvFixture {
  const v = dv(file);
  const dataOffset = v.getUint32(5);
  const header = file.slice(0, dataOffset + 4);
  const config: Uint8Array[] = [];
  const tags: FlvFixture['tags'] = [];
  let at = dataOffset + 4;
  while (at + 11 <= file.length) {
    const type = file[at]!;
    const size = (file[at + 1]! << 16) | (file[at + 2]! << 8) | file[at + 3]!;
    const ts = ((file[at + 4]! << 16) | (file[at + 5]! << 8) | file[at + 6]!) + file[at + 7]! * 0x1000000;
    const end = at + 11 + size + 4;
    if (end > file.length) break;
    const bytes = file.slice(at, end);
    const packetType = file[at + 12];
    if (type === 18 || packetType === 0) config.push(bytes);
    else if (type === 9 && packetType === 1) {
      tags.push({ bytes, timeSec: ts / 1000, kind: 'video', key: file[at + 11]! >> 4 === 1 });
    } else if (type === 8 && packetType === 1)
      tags.push({ bytes, timeSec: ts / 1000, kind: 'audio', key: true });
    at = end;
  }
  return { header, config, tags };
}

// ---------------------------------------------------------------------------------------------------------
// The servers

export type EmulatorFraming = 'evo' | 'evo-per-sample' | 'fmp4' | 'flv';

interface Unit {
  timeSec: number;
  messages: Uint8Array[];
  video: number;
  audio: number;
  /** A place a late joiner may start at (a keyframe). */
  joinable: boolean;
}

export interface StreamEmulatorOptions {
  framing: EmulatorFraming;
  /** The fixture: fragmented MP4 for evo and fmp4, FLV for flv. */
  source: string;
  /** Media seconds per wall-clock second (default 10). */
  speed?: number;
  /** fmp4: the largest message, to cut boxes across messages (default: one message per box). */
  chunkBytes?: number;
  /**
   * Drop connection `connection` (1-based) without a close frame after `afterUnits` whole units and
   * `partialMessages` messages of the next one (at most all but its last; half of a one-message unit).
   */
  drops?: { connection: number; afterUnits: number; partialMessages?: number }[];
  /** evo: a connection that joins late first gets the tail of the fragment in progress (default true). */
  joinMidFragment?: boolean;
  /** Wait for this text message from the client before streaming. */
  waitFor?: string;
}

export interface ConnectionLog {
  index: number;
  headers: IncomingHttpHeaders;
  /** Units sent whole, by index; and the video/audio packets in them. */
  units: number[];
  video: number;
  audio: number;
  /** Text messages the client sent. */
  received: string[];
  end: 'ended' | 'dropped' | 'client-closed' | 'open';
}

export interface StreamEmulator {
  url: string;
  connections: ConnectionLog[];
  units: number;
  /** Packets in the whole source. */
  totals: { video: number; audio: number };
  /** Media seconds of unit `i` (its start). */
  unitTime(i: number): number;
  /** Packets in units [0, n). */
  packetsIn(n: number): { video: number; audio: number };
  close(): Promise<void>;
}

function chunk(b: Uint8Array, size: number | undefined): Uint8Array[] {
  if (!size) return [b];
  const out: Uint8Array[] = [];
  for (let at = 0; at < b.length; at += size) out.push(b.subarray(at, Math.min(b.length, at + size)));
  return out;
}

function buildStream(o: StreamEmulatorOptions): { init: Uint8Array[]; units: Unit[] } {
  const file = new Uint8Array(readFileSync(o.source));
  if (o.framing === 'flv') {
    const f = parseFlv(file);
    const units = f.tags.map((t) => ({
      timeSec: t.timeSec,
      messages: [t.bytes],
      video: t.kind === 'video' ? 1 : 0,
      audio: t.kind === 'audio' ? 1 : 0,
      joinable: t.kind === 'video' && t.key,
    }));
    return { init: [f.header, ...f.config], units };
  }
  const p = parseFmp4(file);
  const count = (s: readonly FixtureSample[], k: string): number => s.filter((x) => x.kind === k).length;
  if (o.framing === 'fmp4') {
    return {
      init: chunk(p.init, o.chunkBytes),
      units: p.fragments.map((f) => ({
        timeSec: f.startSec,
        messages: [...chunk(f.moof, o.chunkBytes), ...chunk(f.mdat, o.chunkBytes)],
        video: count(f.samples, 'video'),
        audio: count(f.samples, 'audio'),
        joinable: true,
      })),
    };
  }
  if (o.framing === 'evo') {
    return {
      init: [evoMoovFrame(p)],
      units: p.fragments.map((f) => ({
        timeSec: f.startSec,
        messages: evoFragmentFrames(f),
        video: count(f.samples, 'video'),
        audio: count(f.samples, 'audio'),
        joinable: true,
      })),
    };
  }
  // evo-per-sample: every sample its own fragment, in the order they are produced.
  const all = producedOrder(p.fragments.flatMap((f) => f.samples));
  const version = (id: number): number => p.fragments[0]?.trunVersion.get(id) ?? 0;
  return {
    init: [evoMoovFrame(p)],
    units: all.map((s, i) => ({
      timeSec: s.timeSec,
      messages: evoSampleFrames(s, i + 1, version(s.track)),
      video: s.kind === 'video' ? 1 : 0,
      audio: s.kind === 'audio' ? 1 : 0,
      joinable: s.kind === 'video' && s.key,
    })),
  };
}

/** Start an emulator; the test closes it. */
export async function startStreamEmulator(o: StreamEmulatorOptions): Promise<StreamEmulator> {
  const { init, units } = buildStream(o);
  const speed = o.speed ?? 10;
  const logs: ConnectionLog[] = [];
  let clockStart: number | undefined;
  const live = (): number => (clockStart === undefined ? 0 : ((Date.now() - clockStart) / 1000) * speed);
  const timers = new Set<NodeJS.Timeout>();
  const later = (fn: () => void, ms: number): void => {
    const t = setTimeout(() => {
      timers.delete(t);
      fn();
    }, ms);
    timers.add(t);
  };

  const serve = (ws: WebSocket, log: ConnectionLog): void => {
    const first = clockStart === undefined;
    clockStart ??= Date.now();
    const drop = o.drops?.find((d) => d.connection === log.index);
    // The live edge: the first unit not yet produced, or the next place a joiner can start at.
    let next = 0;
    if (!first) {
      const now = live();
      next = units.findIndex((u) => u.timeSec >= now && u.joinable);
      if (next < 0) next = units.length;
    }
    for (const m of init) ws.send(m);
    if (next > 0 && o.framing === 'evo' && o.joinMidFragment !== false) {
      // The server hands a joiner its last MOOV, then whatever comes next: the rest of a fragment.
      const prev = units[next - 1]!.messages;
      for (const m of prev.slice(Math.floor(prev.length / 2))) ws.send(m);
    }
    const tick = (): void => {
      if (ws.readyState !== ws.OPEN) return;
      const now = live();
      while (next < units.length && units[next]!.timeSec <= now) {
        const u = units[next]!;
        if (drop && log.units.length === drop.afterUnits) {
          // Part of the unit, never all of it: its first messages, or half of a one-message unit.
          const partial = drop.partialMessages ?? 0;
          const part = u.messages.slice(0, Math.min(partial, u.messages.length - 1));
          if (partial > 0 && u.messages.length === 1)
            part.push(u.messages[0]!.subarray(0, u.messages[0]!.length >> 1));
          for (const m of part) ws.send(m);
          log.end = 'dropped';
          // Let the partial messages leave, then cut the socket without a close frame.
          later(() => ws.terminate(), 20);
          return;
        }
        for (const m of u.messages) ws.send(m);
        log.units.push(next);
        log.video += u.video;
        log.audio += u.audio;
        next++;
      }
      if (next >= units.length) {
        log.end = 'ended';
        ws.close(1000, 'end of stream');
        return;
      }
      later(tick, 10);
    };
    tick();
  };

  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await new Promise<void>((resolve) => wss.once('listening', resolve));
  wss.on('connection', (ws: WebSocket, req: IncomingMessage) => {
    const log: ConnectionLog = {
      index: logs.length + 1,
      headers: req.headers,
      units: [],
      video: 0,
      audio: 0,
      received: [],
      end: 'open',
    };
    logs.push(log);
    let started = false;
    ws.on('message', (data, binary) => {
      if (!binary) log.received.push(data.toString());
      if (!started && o.waitFor !== undefined && !binary && data.toString() === o.waitFor) {
        started = true;
        serve(ws, log);
      }
    });
    ws.on('close', () => {
      if (log.end === 'open') log.end = 'client-closed';
    });
    if (o.waitFor === undefined) {
      started = true;
      serve(ws, log);
    }
  });
  const port = (wss.address() as AddressInfo).port;
  const packetsIn = (n: number): { video: number; audio: number } => {
    let video = 0;
    let audio = 0;
    for (const u of units.slice(0, n)) {
      video += u.video;
      audio += u.audio;
    }
    return { video, audio };
  };
  return {
    url: `ws://127.0.0.1:${port}/live/stream.vod?progressive`,
    connections: logs,
    units: units.length,
    totals: packetsIn(units.length),
    unitTime: (i) => units[i]?.timeSec ?? Infinity,
    packetsIn,
    close: () => closeServer(wss, timers),
  };
}

/** A websocket server whose connections the test scripts by hand (hostile input). */
export async function startScriptedServer(
  script: (ws: WebSocket, index: number, req: IncomingMessage) => void,
): Promise<{ url: string; connections: () => number; close(): Promise<void> }> {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await new Promise<void>((resolve) => wss.once('listening', resolve));
  let n = 0;
  wss.on('connection', (ws: WebSocket, req: IncomingMessage) => script(ws, ++n, req));
  const port = (wss.address() as AddressInfo).port;
  return { url: `ws://127.0.0.1:${port}/s`, connections: () => n, close: () => closeServer(wss, new Set()) };
}

async function closeServer(wss: WebSocketServer, timers: Set<NodeJS.Timeout>): Promise<void> {
  for (const t of timers) clearTimeout(t);
  for (const c of wss.clients) c.terminate();
  await new Promise<void>((resolve) => wss.close(() => resolve()));
}
