import { FlvDemuxer } from './flv/flv-demuxer.js';
import { IsobmffDemuxer, type IsobmffDemuxerState } from './isobmff/isobmff-demuxer.js';
import type { Demuxer } from './media.js';
import { MpegtsDemuxer, type MpegtsDemuxerState } from './mpegts/mpegts-demuxer.js';
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

/** A demuxer's snapshot (MpegtsDemuxer, IsobmffDemuxer): plain data. */
export type DemuxerState = MpegtsDemuxerState | IsobmffDemuxerState;

/**
 * A snapshot of `d` from which restoreDemuxer() goes on exactly, when it can be made now without the
 * input pushed so far: not for FLV, nor for an ISO-BMFF demuxer whose samples to come point back into it.
 */
export function demuxerSnapshot(d: Demuxer): DemuxerState | undefined {
  if (d instanceof MpegtsDemuxer) return d.snapshot();
  if (d instanceof IsobmffDemuxer) return d.holdsInput() ? undefined : d.snapshot();
  return undefined;
}

export function restoreDemuxer(
  state: DemuxerState,
  options: { allocate?: (size: number) => Uint8Array } = {},
): Demuxer {
  return state.kind === 'mpegts-demuxer'
    ? MpegtsDemuxer.restore(state, options)
    : IsobmffDemuxer.restore(state);
}
