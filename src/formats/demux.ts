import { FlvDemuxer } from './flv/flv-demuxer.js';
import { IsobmffDemuxer } from './isobmff/isobmff-demuxer.js';
import type { Demuxer } from './media.js';
import { MpegtsDemuxer } from './mpegts/mpegts-demuxer.js';
import type { ContainerFormat } from './sniff.js';

/** The push demuxer for a sniffed container. */
export function createDemuxer(
  format: Exclude<ContainerFormat, 'unknown'>,
  options: { allocate?: (size: number) => Uint8Array } = {},
): Demuxer {
  switch (format) {
    case 'flv':
      return new FlvDemuxer();
    case 'mp4':
      return new IsobmffDemuxer();
    case 'mpegts':
      return new MpegtsDemuxer(options);
  }
}
