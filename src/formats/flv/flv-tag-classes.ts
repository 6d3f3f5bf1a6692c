/**
 * The FLV joiner's classes of tags and the flags and indexes its scan gives them.
 *
 * Kept in a module of their own that imports nothing: the command line's bundle (esbuild, minifySyntax)
 * writes the value of such a module's integer constants where they are used. Elsewhere every use in the
 * join's hot loops was a load of a variable of the bundle's scope, which V8 does not fold (the scan over the
 * 1,400 chunks of the bench: 14.5 -> 10.2 ms cold, 6.8 -> 4.7 ms warm with the values written in).
 */

// Tag classes.
export const K_VFRAME = 0;
export const K_AFRAME = 1;
export const K_VCONFIG = 2;
export const K_ACONFIG = 3;
/** From here on, classes the joiner counts as it drops or passes them (see FlvJoiner.emit). */
export const K_META = 4;
export const K_SCRIPT = 5;
export const K_VOTHER = 6;
export const K_COMMAND = 7;
export const K_EOS = 8;
export const K_UNUSABLE = 9;
export const K_CONFIG_DUP = 10;
/** Classes the scan leaves to the hooks (see scanChunk and resolveHooks): never seen in rows. */
export const K_HOOK_VIDEO = 11;
export const K_HOOK_AUDIO = 12;
export const K_HOOK_SCRIPT = 13;

/** Row flags: a video keyframe. */
export const F_KEY = 1;
/** Row flags: input header and PreviousTagSize are exactly what the joiner would write when the time is unchanged. */
export const F_RAW_OK = 2;

/** In FlvChunkScan.kinds: the class is the low 4 bits. */
export const SCAN_KIND = 0x0f;
/** In FlvChunkScan.kinds: a video keyframe. */
export const SCAN_KEY = 0x10;
/** In FlvChunkScan.kinds: a video frame with an AVC/HEVC composition time offset (the body's bytes 2-4). */
export const SCAN_CTS = 0x20;

/** Of a whole chunk: what trackSpans gives for all its rows (SPAN_*), and whether it must be split. */
export const SPAN_SPLIT = 7;
/** Of a whole chunk: 1 when every tag's header is exactly what the joiner would write (F_RAW_OK). */
export const SPAN_RAW = 8;
/** The length of a spans array for scanChunk. */
export const SPANS = 9;

/** Frames of each kind whose codec the scan keeps (see FlvChunkScan.codecs). */
export const CODEC_SAMPLE = 16;

/** The joiner's track numbers. */
export const TRACK_VIDEO = 0;
export const TRACK_AUDIO = 1;

/** Frames of each chunk's end that the joiner remembers (see FrameHistory). */
export const HISTORY_KEEP = 256;

/** Frames the joiner's history holds (a power of 2: a ring). */
export const HISTORY_MAX = 512;
