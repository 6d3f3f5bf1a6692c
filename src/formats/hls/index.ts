/** HLS (RFC 8216): playlist parsing to plain data, and the choices a recorder makes on it. No I/O. */
export * from './hls-types.js';
export * from './hls-playlist.js';
export * from './hls-select.js';
export { joinWebVtt } from './webvtt.js';
export {
  DEFAULT_MANIFEST_LIMITS,
  isHttpUrl,
  languageMatch,
  parseIsoDateTime,
  pickByQuality,
  type QualityCandidate,
} from './manifest-common.js';
