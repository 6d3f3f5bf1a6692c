/**
 * Program-specific information of an MPEG-2 transport stream (ISO/IEC 13818-1 2.4.4): section reassembly
 * across TS packets, the CRC_32 of Annex A, and the program association and program map tables. Pure.
 */
import { FormatError } from '../../core/errors.js';

/** The CRC_32 of 13818-1 Annex A (polynomial 0x04C11DB7, MSB first, initial 0xFFFFFFFF, no final xor). */
const CRC_TABLE = ((): Uint32Array => {
  const t = new Uint32Array(256);
  for (let i = 0; i < 256; i++) {
    let c = i << 24;
    for (let k = 0; k < 8; k++) c = c & 0x80000000 ? (c << 1) ^ 0x04c11db7 : c << 1;
    t[i] = c >>> 0;
  }
  return t;
})();

export function crc32Mpeg2(data: Uint8Array, start = 0, end = data.length): number {
  let crc = 0xffffffff;
  for (let i = start; i < end; i++) {
    crc = ((crc << 8) ^ (CRC_TABLE[((crc >>> 24) ^ (data[i] as number)) & 0xff] as number)) >>> 0;
  }
  return crc >>> 0;
}

/** Largest section this code accepts: 3 header bytes + a section_length of at most 4093 (private sections). */
const MAX_SECTION = 4096;

/**
 * Reassembles PSI sections of one PID from TS packet payloads (2.4.4.1: pointer_field on a payload unit
 * start, sections may span packets, several may share one, 0xFF stuffing ends the packet's sections).
 */
export class SectionAssembler {
  private buf = new Uint8Array(MAX_SECTION + 188);
  private len = 0;
  private active = false;

  /** The partial section held, to carry on later from here (MpegtsDemuxer.snapshot). */
  state(): { bytes: Uint8Array; active: boolean } {
    return { bytes: this.buf.slice(0, this.len), active: this.active };
  }

  static fromState(state: { bytes: Uint8Array; active: boolean }): SectionAssembler {
    const a = new SectionAssembler();
    a.buf.set(state.bytes.subarray(0, a.buf.length));
    a.len = Math.min(state.bytes.length, a.buf.length);
    a.active = state.active;
    return a;
  }

  /** Drop a partial section (after lost packets). */
  reset(): void {
    this.len = 0;
    this.active = false;
  }

  /** Feed one packet payload; returns the sections it completed (copies). */
  feed(payload: Uint8Array, unitStart: boolean): Uint8Array[] {
    const out: Uint8Array[] = [];
    let from = 0;
    if (unitStart) {
      if (payload.length === 0) return out;
      const pointer = payload[0] as number;
      if (this.active && this.len > 0) {
        // The bytes before pointer_field's target finish the section in progress.
        this.append(payload.subarray(1, Math.min(payload.length, 1 + pointer)));
        this.drain(out);
      }
      this.len = 0;
      this.active = true;
      from = 1 + pointer;
      if (from >= payload.length) {
        this.active = false;
        return out;
      }
    } else if (!this.active) {
      return out;
    }
    this.append(payload.subarray(from));
    this.drain(out);
    return out;
  }

  private append(bytes: Uint8Array): void {
    if (this.len + bytes.length > this.buf.length) {
      // Cannot be a valid section: start over at the next unit start.
      this.reset();
      return;
    }
    this.buf.set(bytes, this.len);
    this.len += bytes.length;
  }

  private drain(out: Uint8Array[]): void {
    while (this.active && this.len > 0) {
      if (this.buf[0] === 0xff) {
        this.reset(); // stuffing: no more sections in this packet
        return;
      }
      if (this.len < 3) return;
      const total = 3 + ((((this.buf[1] as number) & 0x0f) << 8) | (this.buf[2] as number));
      if (total > MAX_SECTION) {
        this.reset();
        return;
      }
      if (this.len < total) return;
      out.push(this.buf.slice(0, total));
      this.buf.copyWithin(0, total, this.len);
      this.len -= total;
    }
  }
}

/** Check the long-form section header and CRC_32 (2.4.4.3, 2.4.4.8); returns the end of the body. */
function checkSection(sec: Uint8Array, tableId: number, name: string, offset: number): number {
  if (sec.length < 12) throw new FormatError(`${name} section too short`, { code: 'E_TS_PSI', offset });
  if (sec[0] !== tableId) throw new FormatError(`${name}: table_id ${sec[0]}`, { code: 'E_TS_PSI', offset });
  if (((sec[1] as number) & 0x80) === 0) {
    throw new FormatError(`${name}: section_syntax_indicator is 0`, { code: 'E_TS_PSI', offset });
  }
  if (crc32Mpeg2(sec) !== 0)
    throw new FormatError(`${name}: CRC_32 mismatch`, { code: 'E_TS_PSI_CRC', offset });
  return sec.length - 4;
}

export interface PatProgram {
  programNumber: number;
  pmtPid: number;
}

export interface Pat {
  transportStreamId: number;
  version: number;
  /** current_next_indicator: a table that is not yet applicable when false. */
  current: boolean;
  programs: PatProgram[];
}

/** Parse a program_association_section (2.4.4.3). `offset` locates it in the input for errors. */
export function parsePat(sec: Uint8Array, offset = 0): Pat {
  const end = checkSection(sec, 0x00, 'PAT', offset);
  const programs: PatProgram[] = [];
  for (let i = 8; i + 4 <= end; i += 4) {
    programs.push({
      programNumber: ((sec[i] as number) << 8) | (sec[i + 1] as number),
      pmtPid: (((sec[i + 2] as number) & 0x1f) << 8) | (sec[i + 3] as number),
    });
  }
  return {
    transportStreamId: ((sec[3] as number) << 8) | (sec[4] as number),
    version: ((sec[5] as number) >> 1) & 0x1f,
    current: ((sec[5] as number) & 1) === 1,
    programs,
  };
}

export interface PmtStream {
  streamType: number;
  pid: number;
  /** From an ISO_639_language_descriptor (2.6.18), when present. */
  language?: string;
  /** Registration descriptor format_identifier (2.6.8), e.g. "HEVC", "AC-3", when present. */
  registration?: string;
  /** The tags of all its ES descriptors (e.g. 0x6a for DVB AC-3). */
  descriptorTags: number[];
}

export interface Pmt {
  programNumber: number;
  version: number;
  current: boolean;
  pcrPid: number;
  streams: PmtStream[];
}

function readDescriptors(sec: Uint8Array, start: number, end: number, into: PmtStream): void {
  let i = start;
  while (i + 2 <= end) {
    const tag = sec[i] as number;
    const len = sec[i + 1] as number;
    const body = i + 2;
    if (body + len > end) break;
    into.descriptorTags.push(tag);
    if (tag === 0x0a && len >= 3) {
      const lang = String.fromCharCode(sec[body] as number, sec[body + 1] as number, sec[body + 2] as number);
      if (/^[a-z]{3}$/i.test(lang)) into.language = lang.toLowerCase();
    } else if (tag === 0x05 && len >= 4) {
      into.registration = String.fromCharCode(...sec.subarray(body, body + 4));
    }
    i = body + len;
  }
}

/** Parse a TS_program_map_section (2.4.4.8). */
export function parsePmt(sec: Uint8Array, offset = 0): Pmt {
  const end = checkSection(sec, 0x02, 'PMT', offset);
  const programInfoLength = (((sec[10] as number) & 0x0f) << 8) | (sec[11] as number);
  let i = 12 + programInfoLength;
  if (i > end) throw new FormatError('PMT: program_info_length past the end', { code: 'E_TS_PSI', offset });
  const streams: PmtStream[] = [];
  while (i + 5 <= end) {
    const s: PmtStream = {
      streamType: sec[i] as number,
      pid: (((sec[i + 1] as number) & 0x1f) << 8) | (sec[i + 2] as number),
      descriptorTags: [],
    };
    const infoLength = (((sec[i + 3] as number) & 0x0f) << 8) | (sec[i + 4] as number);
    const descEnd = i + 5 + infoLength;
    if (descEnd > end)
      throw new FormatError('PMT: ES_info_length past the end', { code: 'E_TS_PSI', offset });
    readDescriptors(sec, i + 5, descEnd, s);
    streams.push(s);
    i = descEnd;
  }
  return {
    programNumber: ((sec[3] as number) << 8) | (sec[4] as number),
    version: ((sec[5] as number) >> 1) & 0x1f,
    current: ((sec[5] as number) & 1) === 1,
    pcrPid: (((sec[8] as number) & 0x1f) << 8) | (sec[9] as number),
    streams,
  };
}
