/** ISO-BMFF (MP4, fragmented MP4 / CMAF): demuxer, progressive and fragmented writers, box helpers. */
export {
  type Box,
  type BoxHeaderInfo,
  BoxCursor,
  box,
  childBoxes,
  findBox,
  fullBox,
  fullBoxHeader,
  isSyncFlags,
  mdatHeader,
  peekBoxHeader,
  readBox,
  readBoxes,
} from './isobmff-boxes.js';
export {
  IsobmffDemuxer,
  type IsobmffDemuxOutput,
  type IsobmffDemuxerOptions,
  demuxIsobmff,
  sniffIsobmff,
} from './isobmff-demuxer.js';
export {
  CMAF_BRANDS,
  type Fmp4FragmentTrack,
  type FragmentOptions,
  type InitSegmentOptions,
  fragmentAtKeyframes,
  writeFragment,
  writeInitSegment,
} from './isobmff-fmp4-writer.js';
export { type Mp4Edit, type Mp4TrackInfo, type TrexDefaults, parseMoov } from './isobmff-moov.js';
export { type Brands } from './isobmff-moov-writer.js';
export {
  type Mp4Plan,
  type Mp4WriterTrack,
  type PlanMp4Options,
  type TrackTables,
  planMp4,
  writeSampleTables,
} from './isobmff-mp4-writer.js';
