/** MPEG-2 transport streams (ISO/IEC 13818-1): the push demuxer, its sniffer, and the PSI tables. */
export * from './mpegts-demuxer.js';
export * from './mpegts-muxer.js';
export * from './mpegts-psi.js';
