/**
 * Moving the times of MPEG-TS segments written as they are (the pass-through of `record --format ts`) so
 * that a stream whose timestamps restart at an HLS discontinuity (RFC 8216 4.3.2.3) plays on instead of
 * going back in time: the PTS and DTS of every PES header (ISO/IEC 13818-1 2.4.3.7) and the PCR of every
 * adaptation field (2.4.3.5) are shifted by one offset, modulo 2^33. Nothing else is touched, so a segment
 * keeps its size and its packets.
 */
import { parseAdtsHeader } from '../codecs/aac.js';
import { followNeeds } from '../join-seam.js';
import { hasNoOptionalHeader, readPesTime, writePesTime } from './mpegts-pes-fields.js';

const PACKET = 188;
const SYNC = 0x47;
const WRAP = 2 ** 33;

/** The times of one video or audio PID in one segment, 90 kHz, unwrapped against the segment's first. */
export interface TsPidTimes {
  /** Its first decoding time (DTS, else PTS). */
  firstDts: number;
  /** Its latest decoding time. */
  lastDts: number;
  /**
   * Where its media ends: the last decoding time plus one frame (the median step between its times), or
   * for ADTS audio (a PES holds several AAC frames) plus the frames of its last PES.
   */
  end: number;
}

/** The video and audio PIDs of one segment, by PID. */
export type TsSegmentTimes = Map<number, TsPidTimes>;

function isMedia(id: number): boolean {
  return (id >= 0xe0 && id <= 0xef) || (id >= 0xc0 && id <= 0xdf) || id === 0xbd;
}

/** 90 kHz ticks of the ADTS frames (ISO/IEC 14496-3 1.A.2.2) at the start of `data`; undefined if none. */
function adtsTicks(data: Uint8Array): number | undefined {
  let ticks = 0;
  let i = 0;
  for (let h = parseAdtsHeader(data, 0); h; h = parseAdtsHeader(data, i)) {
    ticks += (h.rawDataBlocks * 1024 * 90_000) / h.sampleRate;
    i += h.frameLength;
  }
  return i > 0 ? ticks : undefined;
}

/**
 * Each PES header that starts in a packet of `bytes` (its stream_id and the offsets of its PTS and DTS),
 * and the payload of every packet (from its PES header, if it has one).
 */
function forEachPes(
  bytes: Uint8Array,
  onPcr: ((at: number) => void) | undefined,
  onPes: (pid: number, id: number, pts: number | undefined, dts: number | undefined, packet: number) => void,
  onPayload?: (pid: number, from: number, to: number) => void,
): void {
  for (let i = 0; i + PACKET <= bytes.length; i += PACKET) {
    if (bytes[i] !== SYNC) return; // lost sync: leave the rest as it is
    const b1 = bytes[i + 1] as number;
    const afc = ((bytes[i + 3] as number) >> 4) & 3;
    let p = i + 4;
    if (afc & 2) {
      const len = bytes[i + 4] as number;
      // adaptation_field_length, flags; PCR_flag with 6 bytes of PCR after the flags.
      if (onPcr && len >= 7 && ((bytes[i + 5] as number) & 0x10) !== 0) onPcr(i + 6);
      p += 1 + len;
    }
    if ((afc & 1) === 0 || p >= i + PACKET) continue;
    const pid = ((b1 & 0x1f) << 8) | (bytes[i + 2] as number);
    if (
      (b1 & 0x40) !== 0 &&
      p + 14 <= i + PACKET &&
      bytes[p] === 0 &&
      bytes[p + 1] === 0 &&
      bytes[p + 2] === 1 &&
      !hasNoOptionalHeader(bytes[p + 3] as number)
    ) {
      const flags = ((bytes[p + 7] as number) >> 6) & 3;
      const pts = flags & 2 ? p + 9 : undefined;
      const dts = flags === 3 && p + 19 <= i + PACKET ? p + 14 : undefined;
      onPes(pid, bytes[p + 3] as number, pts, dts, i);
    }
    if (onPayload) onPayload(pid, p, i + PACKET);
  }
}

/** The times of a segment's video and audio PIDs (see TsPidTimes). */
export function tsSegmentTimes(bytes: Uint8Array): TsSegmentTimes {
  let ref: number | undefined;
  // Times unwrapped against the first one read: a segment may straddle the 2^33 wrap.
  const unwrap = (t: number): number => {
    if (ref === undefined) ref = t;
    let d = t - ref;
    if (d < -WRAP / 2) d += WRAP;
    else if (d > WRAP / 2) d -= WRAP;
    return ref + d;
  };
  const byPid = new Map<number, number[]>();
  // Per PID: the decoding time and payload of its last PES (an audio PES's frames give its length).
  const last = new Map<number, { dts: number; parts: Uint8Array[] }>();
  forEachPes(
    bytes,
    undefined,
    (pid, id, ptsAt, dtsAt) => {
      if (!isMedia(id) || ptsAt === undefined) return;
      const dts = unwrap(readPesTime(bytes, dtsAt ?? ptsAt));
      let list = byPid.get(pid);
      if (!list) byPid.set(pid, (list = []));
      list.push(dts);
      // This packet's payload (from its PES header) comes next, through onPayload.
      last.set(pid, { dts, parts: [] });
    },
    (pid, from, to) => last.get(pid)?.parts.push(bytes.subarray(from, to)),
  );
  const out: TsSegmentTimes = new Map();
  for (const [pid, list] of byPid) {
    list.sort((a, b) => a - b);
    const steps: number[] = [];
    for (let k = 1; k < list.length; k++) {
      const g = (list[k] as number) - (list[k - 1] as number);
      if (g > 0) steps.push(g);
    }
    steps.sort((a, b) => a - b);
    const step = steps.length > 0 ? (steps[steps.length >> 1] as number) : 1;
    const lastDts = list[list.length - 1] as number;
    let end = lastDts + step;
    const pes = last.get(pid);
    if (pes) {
      const head = pes.parts[0];
      const payload = Buffer.concat(pes.parts).subarray(
        head && head.length > 8 ? 9 + (head[8] as number) : 0,
      );
      const ticks = adtsTicks(payload);
      if (ticks !== undefined) end = Math.max(end - step, pes.dts + ticks);
    }
    out.set(pid, { firstDts: list[0] as number, lastDts, end });
  }
  return out;
}

/**
 * The shift (90 kHz, in [0, 2^33)) that makes a segment `next` follow the segment `prev` (already on the
 * output's clock), `gap` ticks later: the least that keeps each PID they share going forward (its first
 * decoding time one step after its last in `prev`), so that the longer of video and audio sets the join as
 * in an MP4 join. PIDs renumbered (no PID in common): the earliest of `next` after the latest of `prev`.
 * Undefined when either holds no video or audio.
 */
export function tsJoinOffset(prev: TsSegmentTimes, next: TsSegmentTimes, gap = 0): number | undefined {
  const needs = followNeeds(
    prev,
    next,
    (p) => p.end,
    (n) => n.firstDts,
  );
  const first = needs[0];
  if (first === undefined) return undefined;
  // Each need modulo 2^33, taken nearest the first (the PIDs of one stream are close in time).
  let need = first;
  for (const d of needs) {
    let x = d - first;
    x = (((x % WRAP) + WRAP + WRAP / 2) % WRAP) - WRAP / 2;
    need = Math.max(need, first + x);
  }
  return (((need + gap) % WRAP) + WRAP) % WRAP;
}

/** `bytes` with every PTS, DTS and PCR moved by `offset` (90 kHz ticks, modulo 2^33), in place. */
export function shiftTsTimes(bytes: Uint8Array, offset: number): void {
  const off = ((offset % WRAP) + WRAP) % WRAP;
  if (off === 0) return;
  const move = (at: number | undefined): void => {
    if (at !== undefined) writePesTime(bytes, at, (bytes[at] as number) >> 4, readPesTime(bytes, at) + off);
  };
  forEachPes(
    bytes,
    (at) => {
      // program_clock_reference_base (33 bits), 6 reserved bits, the 9-bit extension.
      const base =
        (bytes[at] as number) * 2 ** 25 +
        (bytes[at + 1] as number) * 2 ** 17 +
        (bytes[at + 2] as number) * 2 ** 9 +
        (bytes[at + 3] as number) * 2 +
        ((bytes[at + 4] as number) >> 7);
      const t = (base + off) % WRAP;
      bytes[at] = Math.floor(t / 2 ** 25) & 0xff;
      bytes[at + 1] = Math.floor(t / 2 ** 17) & 0xff;
      bytes[at + 2] = Math.floor(t / 2 ** 9) & 0xff;
      bytes[at + 3] = Math.floor(t / 2) & 0xff;
      bytes[at + 4] = ((t & 1) << 7) | ((bytes[at + 4] as number) & 0x7f);
    },
    (_pid, _id, ptsAt, dtsAt) => {
      move(ptsAt);
      move(dtsAt);
    },
  );
}

/**
 * `bytes` without what each video or audio PID carries from its first PES whose decoding time (DTS, else
 * PTS) is at or after `end` (90 kHz, compared modulo 2^33): a segment cut where a recording of a set
 * length ends (`record --duration` to TS). Cut in decode order, so every frame kept has what it refers
 * to; a few B-frames decoded before `end` may be shown just after it. Other packets (PAT, PMT, other
 * PIDs) are kept; anything after a lost sync byte is left out. The input is not changed.
 */
export function cutTsAt(bytes: Uint8Array, end: number): Uint8Array {
  const from = new Map<number, number>();
  forEachPes(bytes, undefined, (pid, id, ptsAt, dtsAt, packet) => {
    if (from.has(pid) || !isMedia(id) || ptsAt === undefined) return;
    if (nearest(readPesTime(bytes, dtsAt ?? ptsAt) - end) >= 0) from.set(pid, packet);
  });
  const out = new Uint8Array(bytes.length);
  let n = 0;
  for (let i = 0; i + PACKET <= bytes.length && bytes[i] === SYNC; i += PACKET) {
    const pid = (((bytes[i + 1] as number) & 0x1f) << 8) | (bytes[i + 2] as number);
    const cut = from.get(pid);
    if (cut !== undefined && i >= cut) continue;
    out.set(bytes.subarray(i, i + PACKET), n);
    n += PACKET;
  }
  return out.subarray(0, n);
}

/** Whether time `a` is later than `b` (90 kHz, modulo 2^33: the nearer way round). */
export function tsLater(a: number, b: number): boolean {
  return nearest(a - b) > 0;
}

/** A difference of two 90 kHz times, modulo 2^33, in [-2^32, 2^32). */
function nearest(d: number): number {
  const m = d % WRAP;
  if (m < -WRAP / 2) return m + WRAP;
  return m >= WRAP / 2 ? m - WRAP : m;
}
