/**
 * Naming the audio language in an MPEG-TS stream's PMT: the ISO_639_language_descriptor (ISO/IEC 13818-1
 * 2.6.18) of each audio elementary stream set to a given code, added where there is none. For TS segments
 * written as they are (`record --format ts`), so that the output says the language the manifest gives, as
 * the MP4 output does. Each PMT packet is rewritten in place (same PID and continuity counter, new section
 * and CRC_32, 0xFF stuffing); everything else is left as it is.
 */
import { concatBytes } from '../../core/bytes.js';
import { crc32Mpeg2, parsePat } from './mpegts-psi.js';

const PACKET = 188;
const SYNC = 0x47;
/** Stream types of audio (13818-1 table 2-34, and the ATSC AC-3 / E-AC-3 ones). */
const AUDIO_TYPES = new Set([0x03, 0x04, 0x0f, 0x11, 0x81, 0x87]);

/**
 * Rewrites the PMT packets of a TS stream, segment after segment, so that every audio stream's language is
 * `lang` (ISO 639-2, three lowercase letters). The PMT PIDs are those the PAT packets seen so far name. A
 * PMT that spans packets, does not parse, or would not fit in its packet with the descriptor is left alone.
 */
export class PmtLanguageWriter {
  private pmtPids = new Set<number>();
  /** The last PMT packet payload seen and what it became (segments repeat the same PMT). */
  private last: { from: Uint8Array; to: Uint8Array | undefined } | undefined;

  constructor(private readonly lang: string) {}

  /** `bytes` (whole packets) with its PMTs rewritten: itself when nothing changes, else a copy. */
  apply(bytes: Uint8Array): Uint8Array {
    if (!/^[a-z]{3}$/.test(this.lang)) return bytes;
    let out = bytes;
    for (let i = 0; i + PACKET <= bytes.length && bytes[i] === SYNC; i += PACKET) {
      const b1 = bytes[i + 1] as number;
      if ((b1 & 0x40) === 0) continue; // only packets that start a section
      const pid = ((b1 & 0x1f) << 8) | (bytes[i + 2] as number);
      const afc = ((bytes[i + 3] as number) >> 4) & 3;
      if ((afc & 1) === 0) continue;
      const start = i + 4 + (afc & 2 ? 1 + (bytes[i + 4] as number) : 0);
      if (start >= i + PACKET) continue;
      const sec = start + 1 + (bytes[start] as number); // after the pointer_field
      if (pid === 0) {
        this.readPat(bytes.subarray(sec, i + PACKET));
        continue;
      }
      if (!this.pmtPids.has(pid)) continue;
      const payload = bytes.subarray(sec, i + PACKET);
      const rewritten = this.rewritten(payload);
      if (!rewritten) continue;
      if (out === bytes) out = bytes.slice();
      out.set(rewritten, sec);
    }
    return out;
  }

  private readPat(payload: Uint8Array): void {
    const length = sectionLength(payload);
    if (length === undefined) return;
    try {
      for (const p of parsePat(payload.subarray(0, length)).programs)
        if (p.programNumber !== 0) this.pmtPids.add(p.pmtPid);
    } catch {
      // A PAT that does not parse: the PMTs it would name are left alone.
    }
  }

  /** The packet payload from the section on, with the new PMT and stuffing; undefined to leave it. */
  private rewritten(payload: Uint8Array): Uint8Array | undefined {
    const last = this.last;
    if (last && last.from.length === payload.length && last.from.every((v, k) => v === payload[k]))
      return last.to;
    const to = withLanguage(payload, this.lang);
    this.last = { from: payload.slice(), to };
    return to;
  }
}

/** The whole section's length when it starts `payload` and ends within it. */
function sectionLength(payload: Uint8Array): number | undefined {
  if (payload.length < 3) return undefined;
  const length = 3 + ((((payload[1] as number) & 0x0f) << 8) | (payload[2] as number));
  return length <= payload.length ? length : undefined;
}

function withLanguage(payload: Uint8Array, lang: string): Uint8Array | undefined {
  const length = sectionLength(payload);
  if (length === undefined || length < 16 || payload[0] !== 0x02 || crc32Mpeg2(payload, 0, length) !== 0)
    return undefined;
  const end = length - 4;
  const infoLength = (((payload[10] as number) & 0x0f) << 8) | (payload[11] as number);
  let i = 12 + infoLength;
  if (i > end) return undefined;
  const parts: Uint8Array[] = [payload.subarray(0, i)];
  let changed = false;
  while (i + 5 <= end) {
    const type = payload[i] as number;
    const esLength = (((payload[i + 3] as number) & 0x0f) << 8) | (payload[i + 4] as number);
    const descEnd = i + 5 + esLength;
    if (descEnd > end) return undefined;
    if (!AUDIO_TYPES.has(type)) {
      parts.push(payload.subarray(i, descEnd));
      i = descEnd;
      continue;
    }
    // The stream's descriptors without its language one, then a language descriptor with `lang`.
    const kept: Uint8Array[] = [];
    let audioType = 0;
    for (let d = i + 5; d + 2 <= descEnd;) {
      const len = payload[d + 1] as number;
      if (d + 2 + len > descEnd) return undefined;
      if (payload[d] === 0x0a) {
        if (len >= 4 && String.fromCharCode(...payload.subarray(d + 2, d + 5)) === lang)
          kept.push(payload.subarray(d, d + 2 + len));
        else if (len >= 4) audioType = payload[d + 5] as number;
      } else kept.push(payload.subarray(d, d + 2 + len));
      d += 2 + len;
    }
    const has = kept.some((k) => k[0] === 0x0a);
    const descriptors = has
      ? kept
      : [
          ...kept,
          Uint8Array.of(0x0a, 4, lang.charCodeAt(0), lang.charCodeAt(1), lang.charCodeAt(2), audioType),
        ];
    changed ||= !has;
    const size = descriptors.reduce((n, k) => n + k.length, 0);
    const head = payload.slice(i, i + 5);
    head[3] = 0xf0 | (size >> 8);
    head[4] = size & 0xff;
    parts.push(head, ...descriptors);
    i = descEnd;
  }
  if (!changed) return undefined;
  const body = concatBytes(parts);
  const section = new Uint8Array(body.length + 4);
  section.set(body);
  const sectionLengthField = section.length - 3;
  if (section.length > payload.length || sectionLengthField > 1021) return undefined;
  section[1] = ((payload[1] as number) & 0xf0) | (sectionLengthField >> 8);
  section[2] = sectionLengthField & 0xff;
  const crc = crc32Mpeg2(section, 0, section.length - 4);
  section[section.length - 4] = crc >>> 24;
  section[section.length - 3] = (crc >>> 16) & 0xff;
  section[section.length - 2] = (crc >>> 8) & 0xff;
  section[section.length - 1] = crc & 0xff;
  const out = new Uint8Array(payload.length).fill(0xff);
  out.set(section);
  return out;
}
