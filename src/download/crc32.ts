import * as zlib from 'node:zlib';

let table: Uint32Array | undefined;

/**
 * CRC-32 (ISO-HDLC, as zlib): native where Node has it (>= 20.15), a table loop before that. `previous`
 * continues a CRC over data given in pieces: crc32(b, crc32(a)) === crc32(a + b).
 */
export function crc32(data: Uint8Array, previous = 0): number {
  const native = (zlib as { crc32?: (d: Uint8Array, v?: number) => number }).crc32;
  if (typeof native === 'function') return native(data, previous);
  if (!table) {
    table = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      table[n] = c >>> 0;
    }
  }
  let crc = (previous ^ 0xffffffff) >>> 0;
  for (let i = 0; i < data.length; i++) crc = (table[(crc ^ data[i]!) & 0xff]! ^ (crc >>> 8)) >>> 0;
  return (crc ^ 0xffffffff) >>> 0;
}
