import { createLogger, type Logger, type LogLevel } from '../core/logger.js';
import type { LocateOptions } from '../ffmpeg/locate.js';
import { colorWanted, createStyle, type Style } from './style.js';

/** Options every command accepts (commander's optsWithGlobals()). */
export interface GlobalOptions {
  ffmpeg?: string;
  ffprobe?: string;
  quiet?: boolean;
  verbose?: boolean;
  json?: boolean;
  color?: boolean;
}

export interface CliContext {
  logger: Logger;
  style: Style;
  json: boolean;
  verbose: boolean;
  quiet: boolean;
  /** stderr is a terminal: draw progress bars there; otherwise print plain lines. */
  interactive: boolean;
  locate: LocateOptions;
  signal: AbortSignal;
  out(text: string): void;
}

export function createContext(opts: GlobalOptions, signal: AbortSignal): CliContext {
  const level: LogLevel = opts.quiet ? 'quiet' : opts.verbose ? 'verbose' : 'normal';
  return {
    logger: createLogger({ level }),
    style: createStyle(colorWanted(process.stdout, process.env, opts.color !== false) && !opts.json),
    json: opts.json === true,
    verbose: opts.verbose === true,
    quiet: opts.quiet === true,
    interactive: process.stderr.isTTY === true && process.env.TERM !== 'dumb' && !opts.json,
    locate: { ffmpeg: opts.ffmpeg, ffprobe: opts.ffprobe },
    signal,
    out: (text) => {
      process.stdout.write(text.endsWith('\n') ? text : text + '\n');
    },
  };
}
