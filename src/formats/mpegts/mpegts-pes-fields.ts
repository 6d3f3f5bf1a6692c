/**
 * Fields of a PES header (ISO/IEC 13818-1 2.4.3.7) read and written by more than one of the MPEG-TS
 * modules: which stream_ids have the optional header, and the 33-bit PTS/DTS in their 5 bytes.
 */

const WRAP = 2 ** 33;

/** Stream ids whose PES packets have no optional header (13818-1 2.4.3.7, Table 2-22). */
export function hasNoOptionalHeader(streamId: number): boolean {
  return (
    streamId === 0xbc || // program_stream_map
    streamId === 0xbe || // padding_stream
    streamId === 0xbf || // private_stream_2
    streamId === 0xf0 || // ECM
    streamId === 0xf1 || // EMM
    streamId === 0xff || // program_stream_directory
    streamId === 0xf2 || // DSMCC_stream
    streamId === 0xf8 // ITU-T H.222.1 type E
  );
}

/** A 33-bit PTS/DTS from its 5 bytes (2.4.3.7): 3 + 15 + 15 bits between marker bits. */
export function readPesTime(b: Uint8Array, at: number): number {
  const high = ((b[at] as number) >> 1) & 7;
  const low =
    ((b[at + 1] as number) << 22) |
    (((b[at + 2] as number) >> 1) << 15) |
    ((b[at + 3] as number) << 7) |
    ((b[at + 4] as number) >> 1);
  return high * 2 ** 30 + (low >>> 0);
}

/** 2.4.3.7: a 33-bit timestamp (modulo 2^33) in 5 bytes, `prefix` in the top 4 bits, marker bits set. */
export function writePesTime(out: Uint8Array, at: number, prefix: number, ts: number): void {
  const v = ((ts % WRAP) + WRAP) % WRAP;
  const high = Math.floor(v / 2 ** 30); // bits 32..30
  const low = v % 2 ** 30; // bits 29..0
  out[at] = (prefix << 4) | (high << 1) | 1;
  out[at + 1] = (low >>> 22) & 0xff;
  out[at + 2] = (((low >>> 15) & 0x7f) << 1) | 1;
  out[at + 3] = (low >>> 7) & 0xff;
  out[at + 4] = ((low & 0x7f) << 1) | 1;
}
