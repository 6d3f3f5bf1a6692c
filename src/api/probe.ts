import type { Logger } from '../core/logger.js';
import { locateTools, type LocateOptions } from '../ffmpeg/locate.js';
import { ffprobeInput } from '../ffmpeg/probe.js';
import type { MediaInfo } from '../ffmpeg/probe-map.js';

export type { MediaFormat, MediaStream, StreamType } from '../ffmpeg/probe-map.js';

export interface ProbeOptions extends LocateOptions {
  signal?: AbortSignal;
  /** Per input; default 120 s. */
  timeoutMs?: number;
  logger?: Logger;
}

/** Container, duration, size, bit rate and streams of a file or http(s) URL. */
export type ProbeResult = MediaInfo;

/**
 * Probe one input.
 * @example
 *   const info = await probe('talk.mp4');
 *   console.log(info.format.duration, info.streams[0]?.codec);
 */
export async function probe(input: string, options: ProbeOptions = {}): Promise<ProbeResult> {
  const tools = locateTools(options);
  return ffprobeInput(input, {
    ffprobe: tools.ffprobe.path,
    signal: options.signal,
    timeoutMs: options.timeoutMs,
    logger: options.logger,
  });
}
