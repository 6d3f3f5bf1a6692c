import { sniffFlv } from './flv/flv-demuxer.js';
import { sniffIsobmff } from './isobmff/isobmff-demuxer.js';
import { sniffMpegts } from './mpegts/mpegts-demuxer.js';

export type ContainerFormat = 'flv' | 'mp4' | 'mpegts' | 'unknown';

/**
 * Identify a container from its first bytes (at least 1 KB is best), with each format's own sniffer:
 * FLV (spec E.2), ISO-BMFF (a top-level box, 14496-12 4.2), MPEG-TS or M2TS (13818-1 2.4.3).
 */
export function sniffContainer(head: Uint8Array): ContainerFormat {
  if (sniffFlv(head)) return 'flv';
  if (sniffIsobmff(head)) return 'mp4';
  if (sniffMpegts(head)) return 'mpegts';
  return 'unknown';
}
