import { fourcc } from '../core/bytes.js';

export type ContainerFormat = 'flv' | 'mp4' | 'mpegts' | 'unknown';

const ISO_BOXES = new Set([
  'ftyp',
  'styp',
  'moov',
  'moof',
  'mdat',
  'free',
  'skip',
  'wide',
  'sidx',
  'pdin',
  'uuid',
]);

/**
 * Identify a container from its first bytes (at least 1 KB is best). FLV: "FLV" + version 1 (FLV spec
 * E.2); ISO-BMFF: a known box type at offset 4 (14496-12 4.2); MPEG-TS: sync byte 0x47 every 188 bytes,
 * or every 192 for M2TS (13818-1 2.4.3).
 */
export function sniffContainer(head: Uint8Array): ContainerFormat {
  if (head.length >= 4 && head[0] === 0x46 && head[1] === 0x4c && head[2] === 0x56 && head[3] === 1)
    return 'flv';
  if (head.length >= 8 && ISO_BOXES.has(fourcc(head, 4))) return 'mp4';
  for (const [start, stride] of [
    [0, 188],
    [4, 192],
  ] as const) {
    let hits = 0;
    let checked = 0;
    for (let at = start; at < head.length && checked < 5; at += stride, checked++) {
      if (head[at] === 0x47) hits++;
    }
    if (checked >= 2 && hits === checked) return 'mpegts';
  }
  return 'unknown';
}
