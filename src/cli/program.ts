import { Command, CommanderError } from 'commander';
import { isCastkitError, type CastkitError } from '../core/errors.js';
import { castkitVersion } from '../version.js';
import { registerDoctor } from './commands/doctor.js';
import { registerProbe } from './commands/probe.js';
import { registerRecord } from './commands/record.js';
import { registerRemux } from './commands/remux.js';
import { removeUnfinishedSync } from '../storage/local.js';
import { createContext, type CliContext, type GlobalOptions } from './context.js';
import { EXIT, exitCodeFor } from './exit-codes.js';

const EXAMPLES = `
Examples:
  $ castkit doctor                      what this machine's ffmpeg can do
  $ castkit probe talk.mp4              container, duration and streams
  $ castkit probe talk.mp4 --json       the same as JSON, for scripts
  $ castkit remux chunks/*.flv -o a.mp4 join and convert without re-encoding
  $ castkit record URL.m3u8 -o a.mp4    record HLS or DASH (VOD or live), resumable
Run \`castkit <command> --help\` for a command's options and examples.
Exit codes: 0 ok, 2 usage, 3 bad input, 4 network, 5 ffmpeg, 6 output, 130 interrupted, 1 bug.`;

function printError(err: unknown, opts: GlobalOptions): number {
  const write = (s: string): boolean => process.stderr.write(s + '\n');
  if (isCastkitError(err)) {
    const e: CastkitError = err;
    if (opts.json) write(JSON.stringify({ error: e.toJSON() }));
    else {
      write(`error: ${e.message}`);
      if (e.hint) write(`hint: ${e.hint}`);
    }
    if (opts.verbose && e.stack) write(e.stack);
    return exitCodeFor(e.category);
  }
  const message = err instanceof Error ? err.message : String(err);
  if (opts.json) write(JSON.stringify({ error: { code: 'E_INTERNAL', category: 'internal', message } }));
  else {
    write(`error: internal error: ${message}`);
    write('hint: this is a bug in castkit; please report it with the output of --verbose');
  }
  if (opts.verbose && err instanceof Error && err.stack) write(err.stack);
  return EXIT.bug;
}

/** Build the program, run one command line, and return the process exit code. */
export async function runCli(argv: readonly string[]): Promise<number> {
  const controller = new AbortController();
  let interrupts = 0;
  const onSignal = (sig: NodeJS.Signals): void => {
    interrupts++;
    if (interrupts > 1) {
      // Second Ctrl-C: leave now, without the outputs' temporary files (a journal stays, for a resume).
      removeUnfinishedSync();
      process.exit(EXIT.interrupted);
    }
    controller.abort(sig);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  // A closed terminal: stop cleanly too, so that no half-written temporary file is left behind.
  process.on('SIGHUP', onSignal);

  const program = new Command('castkit');
  let globals: GlobalOptions = {};
  let exitCode: number = EXIT.ok;
  const run = async (fn: (ctx: CliContext) => Promise<void>): Promise<void> => {
    globals = program.opts<GlobalOptions>();
    try {
      await fn(createContext(globals, controller.signal));
    } catch (err) {
      exitCode = printError(err, globals);
    }
  };

  program
    .description('record, remux, package and broadcast streaming media')
    .version(castkitVersion(), '-V, --version', 'print the castkit version')
    .option('--ffmpeg <path>', 'ffmpeg binary to use (or CASTKIT_FFMPEG)')
    .option('--ffprobe <path>', 'ffprobe binary to use (or CASTKIT_FFPROBE)')
    .option('-q, --quiet', 'print only results and errors')
    .option('-v, --verbose', 'print debug detail, commands run and stack traces')
    .option('--json', 'machine-readable output (results on stdout, errors as JSON on stderr)')
    .option('--no-color', 'no colours (NO_COLOR is honoured too)')
    .showHelpAfterError('(run with --help for usage and examples)')
    .addHelpText('after', EXAMPLES)
    .exitOverride();

  registerProbe(program, run);
  registerRemux(program, run);
  registerRecord(program, run);
  registerDoctor(program, run);

  try {
    await program.parseAsync(argv, { from: 'user' });
  } catch (err) {
    if (err instanceof CommanderError) {
      // Commander already printed its message or the help; explicit --help/--version exit 0, the rest
      // (unknown option, missing argument, no command at all) are usage errors.
      exitCode = err.exitCode === 0 ? EXIT.ok : EXIT.usage;
    } else {
      exitCode = printError(err, globals);
    }
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    process.off('SIGHUP', onSignal);
  }
  return exitCode;
}
