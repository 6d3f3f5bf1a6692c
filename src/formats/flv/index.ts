/** FLV (FLV spec v10.1 Annex E, enhanced RTMP v1): AMF0, tag reader, demuxer, writer helpers, chunk joiner. */
export * from './amf0.js';
export * from './flv-tags.js';
export * from './flv-reader.js';
export * from './flv-demuxer.js';
export * from './flv-writer.js';
export * from './flv-joiner.js';
