/**
 * Loads the command line's program: in the built package the CommonJS bundle beside the entry
 * (dist/cli/program.js, see scripts/bundle-cli.mjs) through a code cache, else (tsc's output, tests) the
 * module itself.
 */
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { lazyBuiltin } from '../core/lazy-builtin.js';
import { codeCacheDir, runCommonJs, type CodeCacheTarget } from './code-cache.js';
import type * as Program from './program.js';
import type * as V8 from 'node:v8';

/** Set by the bundler to a hash of the program bundle; absent in tsc's output. */
declare const __CASTKIT_BUILD_ID__: string | undefined;

/** node:v8 takes about 4 ms to load: only for a command that sets flags. */
const v8 = lazyBuiltin<typeof V8>('node:v8');

/**
 * V8 flags a command sets for its own process, before any of its code is compiled (V8 accepts a code cache
 * only under the flags it was made with):
 * - record: castkit's only WebAssembly is undici's HTTP parser (llhttp). V8 compiles it at once with its
 *   baseline compiler (Liftoff), then again, optimized, on a background thread (TurboFan): about 100 ms of
 *   CPU that competes with a download on a 2-core machine and that a short command (record --list) waits
 *   for at exit. The baseline code parses as fast as the network delivers (142 MB over 16 loopback
 *   connections: 260 ms either way, by hand).
 * - record: TurboFan inlines callees of up to 100 bytes of bytecode, not 460. A recording's hot code (the
 *   demuxer, the sink, the writer) is optimized on a background thread while the first segments are
 *   demuxed by the slower tiers, and on a 2-core machine those compiles share the other core with the
 *   server's sends and the output's writes: with less inlined they are done sooner. 142 MB from nginx on
 *   loopback, by hand, interleaved against the default: 262.1 against 265.5 ms (21 runs), 266.1 against
 *   283.5 (17), 258.1 against 262.6 (17); CPU 11-19 ms less each time. A 712 MB recording (150 segments)
 *   was not slower: 795 against 810 ms (8 runs). No inlining at all did as well on the short one and was
 *   worse on the long one (905 ms).
 * The command line's choice for its own process; the library leaves V8 alone.
 */
const RECORD_V8_FLAGS = '--liftoff-only --max-inlined-bytecode-size=100';
const COMMAND_V8_FLAGS: Readonly<Record<string, string>> = {
  record: RECORD_V8_FLAGS,
  download: RECORD_V8_FLAGS,
};

/** The command named on a command line (the first word that is not an option), if it looks like one. */
function commandOf(argv: readonly string[]): string | undefined {
  const word = argv.find((a) => !a.startsWith('-'));
  return word !== undefined && /^[a-z][a-z0-9-]{0,31}$/.test(word) && word !== 'help' ? word : undefined;
}

/** The cache for this command line: one per command, written only by a run that did a command's work. */
export function cacheTarget(
  argv: readonly string[],
  env: NodeJS.ProcessEnv,
  buildId: string,
): CodeCacheTarget | undefined {
  const dir = codeCacheDir(env);
  if (dir === undefined) return undefined;
  const command = commandOf(argv);
  const help = argv.some((a) => a === '-h' || a === '--help');
  return { dir, name: command ?? 'castkit', buildId, write: command !== undefined && !help };
}

export async function loadProgram(argv: readonly string[]): Promise<typeof Program> {
  const flags = COMMAND_V8_FLAGS[commandOf(argv) ?? ''];
  if (flags !== undefined) v8().setFlagsFromString(flags);
  const buildId = typeof __CASTKIT_BUILD_ID__ === 'string' ? __CASTKIT_BUILD_ID__ : undefined;
  if (buildId === undefined) return import('./program.js');
  const file = join(dirname(fileURLToPath(import.meta.url)), 'program.js');
  return runCommonJs(file, cacheTarget(argv, process.env, buildId)).exports as typeof Program;
}
