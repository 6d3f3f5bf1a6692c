/**
 * A tiny MPEG-TS writer for hand-made test streams (ISO/IEC 13818-1): PAT, PMT, PES packets split into
 * 188-byte packets with adaptation-field stuffing, and knobs for the cases ffmpeg will not produce
 * (discontinuity indicators, PES without PES_packet_length, odd PES splits). Test-only.
 */
import { crc32Mpeg2 } from '../../../src/formats/mpegts/mpegts-psi.js';
import { concatBytes as concat } from '../../../src/core/bytes.js';

export interface TsStream {
  pid: number;
  streamType: number;
  /** ISO 639 language for an ISO_639_language_descriptor. */
  language?: string;
}

export interface PesOptions {
  pts?: number;
  dts?: number;
  /** Write PES_packet_length (default true; video often uses 0). */
  withLength?: boolean;
  discontinuity?: boolean;
  randomAccess?: boolean;
  streamId?: number;
  /** Put only this many bytes in the first packet (the rest is stuffing), to split the PES header. */
  firstChunk?: number;
}

function timestamp(prefix: number, ts: number): number[] {
  const t = ts % 2 ** 33;
  const high = Math.floor(t / 2 ** 30) & 7;
  const mid = Math.floor(t / 2 ** 15) & 0x7fff;
  const low = t & 0x7fff;
  return [
    (prefix << 4) | (high << 1) | 1,
    mid >> 7,
    ((mid & 0x7f) << 1) | 1,
    low >> 7,
    ((low & 0x7f) << 1) | 1,
  ];
}

export class TsWriter {
  readonly packets: Uint8Array[] = [];
  private readonly cc = new Map<number, number>();

  constructor(
    readonly streams: TsStream[],
    readonly pmtPid = 0x1000,
    readonly programNumber = 1,
  ) {}

  private nextCc(pid: number): number {
    const c = ((this.cc.get(pid) ?? -1) + 1) & 15;
    this.cc.set(pid, c);
    return c;
  }

  /** Split a payload into packets; the last one is padded with adaptation-field stuffing. */
  packetize(
    pid: number,
    payload: Uint8Array,
    opts: { discontinuity?: boolean; randomAccess?: boolean; firstChunk?: number } = {},
  ): void {
    let at = 0;
    let first = true;
    do {
      const pkt = new Uint8Array(188);
      pkt[0] = 0x47;
      pkt[1] = (first ? 0x40 : 0) | (pid >> 8);
      pkt[2] = pid & 0xff;
      const flags = first ? (opts.discontinuity ? 0x80 : 0) | (opts.randomAccess ? 0x40 : 0) : 0;
      const left =
        first && opts.firstChunk !== undefined
          ? Math.min(opts.firstChunk, payload.length)
          : payload.length - at;
      let afLength = -1; // no adaptation field
      if (flags) afLength = Math.max(1, 183 - left);
      else if (left < 184) afLength = 183 - left;
      let p = 4;
      if (afLength >= 0) {
        pkt[3] = 0x30 | this.nextCc(pid);
        pkt[4] = afLength;
        if (afLength > 0) {
          pkt[5] = flags;
          pkt.fill(0xff, 6, 5 + afLength);
        }
        p = 5 + afLength;
      } else {
        pkt[3] = 0x10 | this.nextCc(pid);
      }
      const n = Math.min(188 - p, left);
      pkt.set(payload.subarray(at, at + n), p);
      at += n;
      this.packets.push(pkt);
      first = false;
    } while (at < payload.length);
  }

  private section(tableId: number, idExt: number, body: number[]): Uint8Array {
    const length = 5 + body.length + 4;
    const sec = [tableId, 0xb0 | (length >> 8), length & 0xff, idExt >> 8, idExt & 0xff, 0xc1, 0, 0, ...body];
    const bytes = new Uint8Array(sec.length + 4);
    bytes.set(sec);
    const crc = crc32Mpeg2(bytes, 0, sec.length);
    bytes.set([crc >>> 24, (crc >>> 16) & 0xff, (crc >>> 8) & 0xff, crc & 0xff], sec.length);
    return bytes;
  }

  /** Write a PAT and a PMT. */
  psi(): this {
    const pat = this.section(0, 1, [
      this.programNumber >> 8,
      this.programNumber & 0xff,
      0xe0 | (this.pmtPid >> 8),
      this.pmtPid & 0xff,
    ]);
    const pcr = this.streams[0]?.pid ?? 0x1fff;
    const es: number[] = [];
    for (const s of this.streams) {
      const desc: number[] = [];
      if (s.language) desc.push(0x0a, 4, ...[...s.language].map((c) => c.charCodeAt(0)), 0);
      es.push(
        s.streamType,
        0xe0 | (s.pid >> 8),
        s.pid & 0xff,
        0xf0 | (desc.length >> 8),
        desc.length & 0xff,
        ...desc,
      );
    }
    const pmt = this.section(2, this.programNumber, [0xe0 | (pcr >> 8), pcr & 0xff, 0xf0, 0, ...es]);
    this.packetize(0, concat([new Uint8Array([0]), pat]));
    this.packetize(this.pmtPid, concat([new Uint8Array([0]), pmt]));
    return this;
  }

  /** Write one PES packet. */
  pes(pid: number, payload: Uint8Array, o: PesOptions = {}): this {
    const header: number[] = [];
    if (o.pts !== undefined) {
      if (o.dts !== undefined) header.push(...timestamp(3, o.pts), ...timestamp(1, o.dts));
      else header.push(...timestamp(2, o.pts));
    }
    const flags = o.pts === undefined ? 0 : o.dts === undefined ? 0x80 : 0xc0;
    const length = 3 + header.length + payload.length;
    const withLength = o.withLength ?? true;
    const streamId =
      o.streamId ?? (this.streams.find((s) => s.pid === pid)?.streamType === 0x1b ? 0xe0 : 0xc0);
    const start = new Uint8Array([
      0,
      0,
      1,
      streamId,
      withLength ? length >> 8 : 0,
      withLength ? length & 0xff : 0,
      0x80,
      flags,
      header.length,
      ...header,
    ]);
    this.packetize(pid, concat([start, payload]), o);
    return this;
  }

  bytes(): Uint8Array {
    return concat(this.packets);
  }
}

/** An ADTS frame (13818-7 6.2) around `payload`: LC, the given rate index and channels, optional CRC. */
export function adtsFrame(
  payload: Uint8Array,
  opts: { rateIndex?: number; channels?: number; crc?: boolean } = {},
): Uint8Array {
  const crc = opts.crc ?? false;
  const header = crc ? 9 : 7;
  const len = header + payload.length;
  const rate = opts.rateIndex ?? 3;
  const ch = opts.channels ?? 2;
  const out = new Uint8Array(len);
  out[0] = 0xff;
  out[1] = 0xf0 | (crc ? 0 : 1); // MPEG-4, layer 0, protection_absent
  out[2] = (1 << 6) | (rate << 2) | (ch >> 2); // profile LC (object type 2 - 1)
  out[3] = ((ch & 3) << 6) | (len >> 11);
  out[4] = (len >> 3) & 0xff;
  out[5] = ((len & 7) << 5) | 0x1f;
  out[6] = 0xfc; // buffer fullness 0x7FF, one raw data block
  if (crc) {
    out[7] = 0x12;
    out[8] = 0x34;
  }
  out.set(payload, header);
  return out;
}

export { concat };
