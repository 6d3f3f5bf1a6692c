/** DASH (ISO/IEC 23009-1): MPD parsing to plain data, segment expansion, sidx, selection. No I/O. */
export * from './dash-types.js';
export { compileTemplate, fillTemplate, parseMpd, parseXsDuration, type TemplatePart } from './dash-mpd.js';
export * from './dash-segments.js';
export * from './dash-sidx.js';
export * from './dash-select.js';
