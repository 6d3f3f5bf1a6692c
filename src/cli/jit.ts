/**
 * When V8 optimizes: the command line's choice for its own process, for runs too short to repay the
 * optimizing compiler (the library leaves V8 alone).
 *
 * V8 compiles a function with TurboFan once it has run a few times through its interrupt budget
 * (--ticks-before-optimization, 3 in Node 20's V8 11.3). A 117 MB fMP4 -> MP4 remux does per-sample work on
 * 23,000 samples: its loops run once each, and TurboFan spent about 115 ms of CPU compiling them (--trace-opt)
 * for a run of 180 ms, on a machine with two cores and the thread pool's writes to share them with. With 40
 * ticks only what runs long is optimized: 21 interleaved runs, fMP4 -> MP4 165 -> 145 ms (CPU 238 -> 192 ms),
 * FLV -> MP4 204 -> 198 ms (CPU 284 -> 241 ms). Work per TS packet or per output tag is different: TS -> MP4
 * and MP4 -> TS were 4-10% slower with it, and so were 1 GB inputs of any kind, whose loops run long enough
 * to repay the compiler early. The FLV join of 1,400 chunks was slower too while the thread pool wrote all its
 * output (the compiler and the writes shared the second core); written on its own thread, 40 ticks took it
 * from 161 to 154 ms (CPU 223 -> 183 ms, 21 interleaved runs). It now writes on the pool and on its own
 * thread when the pool is behind (remux-flv.ts): 3, 10, 20 and 80 ticks against 40, 21 interleaved runs,
 * 141.4, 140.0, 127.4 and 131.8 against 135.5 ms.
 */
import type * as V8 from 'node:v8';
import { lazyBuiltin } from '../core/lazy-builtin.js';

const v8 = lazyBuiltin<typeof V8>('node:v8');

const FLAG = 'ticks-before-optimization';
/** The default of the V8 this was measured on (Node 20); other versions tier up differently and are left alone. */
const V8_MAJOR = '11.';
const DEFAULT_TICKS = 3;
const LATER_TICKS = 40;

/** What optimizeLater looks at and how it sets flags (this process's, unless a test gives others). */
export interface JitContext {
  env: NodeJS.ProcessEnv;
  execArgv: readonly string[];
  v8Version: string;
  setFlags: (flags: string) => void;
}

const processContext = (): JitContext => ({
  env: process.env,
  execArgv: process.execArgv,
  v8Version: process.versions.v8,
  setFlags: (flags) => v8().setFlagsFromString(flags),
});

/**
 * Makes V8 optimize only what runs long, until the returned function puts the default back (before the
 * process exits: the code cache is written under the flags of that moment, and V8 accepts it only under the
 * same flags). Does nothing on another V8, or when the user set the flag (NODE_OPTIONS, node's arguments).
 */
export function optimizeLater(ctx: JitContext = processContext()): () => void {
  const own = [ctx.env.NODE_OPTIONS ?? '', ...ctx.execArgv].some((a) =>
    a.replaceAll('_', '-').includes(FLAG),
  );
  if (own || !ctx.v8Version.startsWith(V8_MAJOR)) return () => undefined;
  ctx.setFlags(`--${FLAG}=${LATER_TICKS}`);
  let restored = false;
  return () => {
    if (restored) return;
    restored = true;
    ctx.setFlags(`--${FLAG}=${DEFAULT_TICKS}`);
  };
}
