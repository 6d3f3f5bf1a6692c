/**
 * Codec helpers for the containers: H.264 (14496-10, avcC of 14496-15 5.3.3), HEVC (H.265, hvcC of
 * 14496-15 8.3.3), AAC (ADTS of 13818-7, AudioSpecificConfig of 14496-3), MPEG audio headers, and the
 * RFC 6381 description of a decoder configuration.
 */
export * from './h264.js';
export * from './hevc.js';
export * from './aac.js';
export * from './mp3.js';
export * from './describe.js';
