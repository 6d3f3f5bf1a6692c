import { extname } from 'node:path';
import { UsageError, isCastkitError } from '../core/errors.js';
import { joinFlv } from './remux-flv.js';
import { statInput } from '../sources/file-source.js';
import { JOIN_NOT_FLV, sniffFile, type SniffedInput } from './remux-inputs.js';
import { remuxStreaming } from './remux-onepass.js';
import { remuxStreamInOnePass } from './remux-onepass-stream.js';
import { remuxInTwoPasses } from './remux-twopass.js';
import type { RemuxFormat, RemuxOptions, RemuxResult } from './remux-types.js';

export type { RemuxFormat, RemuxOptions, RemuxResult, RemuxTrackSummary } from './remux-types.js';

const EXTENSIONS: Record<string, RemuxFormat> = {
  '.mp4': 'mp4',
  '.m4v': 'mp4',
  '.mov': 'mp4',
  '.m4a': 'mp4',
  '.flv': 'flv',
  '.ts': 'ts',
};

function outputFormat(options: Pick<RemuxOptions, 'output' | 'format'>): RemuxFormat {
  if (options.format) return options.format;
  const f = EXTENSIONS[extname(options.output).toLowerCase()];
  if (!f) {
    throw new UsageError(`cannot tell the output format from "${options.output}"`, {
      code: 'E_OUTPUT_FORMAT',
      hint: 'name the output .mp4, .m4a, .flv or .ts, or pass --format mp4|fmp4|flv|ts',
    });
  }
  return f;
}

/** What a short remux is, at most: its inputs in all, and how many. */
const SHORT_REMUX_BYTES = 512 << 20;
const SHORT_REMUX_INPUTS = 4;

/**
 * Whether a remux is short and does its work per sample: to a progressive MP4 from at most four FLV or MP4
 * inputs of under 512 MB in all. MPEG-TS inputs are demuxed packet by packet, and TS, FLV and fMP4 outputs
 * are muxed tag by tag or fragment by fragment. The command line tunes V8 for such a run (cli/jit.ts);
 * anything unreadable is false, left for remux() to report.
 */
export function isShortPerSampleRemux(
  inputs: readonly string[],
  options: Pick<RemuxOptions, 'output' | 'format' | 'merge'>,
): boolean {
  if (options.merge === true || inputs.length > SHORT_REMUX_INPUTS) return false;
  try {
    if (outputFormat(options) !== 'mp4') return false;
    let bytes = 0;
    for (const input of inputs) {
      bytes += statInput(input);
      if (sniffFile(input).format === 'mpegts') return false;
    }
    return bytes < SHORT_REMUX_BYTES;
  } catch {
    return false;
  }
}

/**
 * Whether remux() joins the inputs as FLV chunks (timestamps repaired, tags moved whole): an FLV output,
 * not --merge, and an FLV first input (the join checks each of the others from the bytes it reads anyway).
 */
function joinsFlvChunks(
  inputs: readonly string[],
  options: Pick<RemuxOptions, 'output' | 'format' | 'merge'>,
): boolean {
  return (
    options.merge !== true &&
    outputFormat(options) === 'flv' &&
    sniffFile(inputs[0] as string).format === 'flv'
  );
}

/**
 * Whether a remux is an FLV join of several chunks: work per tag on every chunk, whose loops V8 optimizes
 * early by default. The command line tunes V8 for it as for a short per-sample remux (cli/jit.ts); anything
 * unreadable is false, left for remux() to report.
 */
export function isFlvJoin(
  inputs: readonly string[],
  options: Pick<RemuxOptions, 'output' | 'format' | 'merge'>,
): boolean {
  if (inputs.length < 2) return false;
  try {
    return joinsFlvChunks(inputs, options);
  } catch {
    return false;
  }
}

/**
 * Change containers without re-encoding: FLV, MP4, fragmented MP4 and MPEG-TS in; MP4, fragmented MP4,
 * FLV or MPEG-TS out. Several inputs are joined in order into one timeline.
 * @example
 *   await remux(['part1.ts', 'part2.ts'], { output: 'talk.mp4' });
 */
export async function remux(inputs: readonly string[], options: RemuxOptions): Promise<RemuxResult> {
  if (inputs.length === 0) throw new UsageError('remux needs at least one input', { code: 'E_USAGE' });
  const format = outputFormat(options);
  if (joinsFlvChunks(inputs, options)) {
    // Only the first input is sniffed here: for thousands of chunks, a separate open and read of each
    // cost about 10% of the join. Other inputs among them: the general way.
    try {
      return await joinFlv(inputs, options);
    } catch (err) {
      if (!isCastkitError(err) || err.code !== JOIN_NOT_FLV) throw err;
    }
  }
  const sniffed: SniffedInput[] = [];
  for (const input of inputs) sniffed.push(sniffFile(input));
  // TS and FLV to a plain faststart MP4 go in one pass; the rest (MP4 inputs, fMP4, --merge, .m4a) in two.
  // An .m4a keeps only the audio, whatever the format asked for: the two-pass way drops the rest.
  const m4a = extname(options.output).toLowerCase() === '.m4a';
  const streamable =
    format === 'mp4' &&
    !options.merge &&
    options.faststart !== false &&
    !m4a &&
    sniffed.every((f) => f.format !== 'mp4');
  if (streamable) return remuxStreaming(inputs, sniffed, options);
  // TS and FLV to TS, fMP4 or FLV: one pass as well (the two-pass way would write every payload twice).
  const onePass =
    (format === 'ts' || format === 'fmp4' || format === 'flv') &&
    !options.merge &&
    !m4a &&
    sniffed.every((f) => f.format === 'mpegts' || f.format === 'flv');
  if (onePass) return remuxStreamInOnePass(inputs, sniffed, format, options);
  return remuxInTwoPasses(inputs, sniffed, format, options);
}
