#!/usr/bin/env node
// The entry point stays tiny: `castkit --version` answers before commander and the commands load.
import { castkitVersion } from '../version.js';

// `castkit ... | head`: the reader may go away before everything is written. A recording to `-o -` handles
// that itself (it listens too, and stops with an error); anything else ends quietly, as Unix tools do.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code !== 'EPIPE') throw err;
  if (process.stdout.listenerCount('error') > 1) return;
  process.exit(typeof process.exitCode === 'number' ? process.exitCode : 0);
});

// bin/castkit took NODE_EXTRA_CA_CERTS over (download/extra-ca.ts): programs castkit starts get it back.
const extraCa = process.env.CASTKIT_EXTRA_CA_CERTS;
if (extraCa && !process.env.NODE_EXTRA_CA_CERTS) process.env.NODE_EXTRA_CA_CERTS = extraCa;

const argv = process.argv.slice(2);
if (argv.length === 1 && (argv[0] === '--version' || argv[0] === '-V')) {
  process.stdout.write(castkitVersion() + '\n');
} else {
  // castkit's only WebAssembly is undici's HTTP parser (llhttp). V8 compiles it at once with its baseline
  // compiler (Liftoff), then again, optimized, on a background thread (TurboFan): about 100 ms of CPU that
  // competes with a download on a 2-core machine and that a short command (record --list) waits for at
  // exit. The baseline code parses as fast as the network delivers (142 MB over 16 loopback connections:
  // 260 ms either way, by hand). Set before undici is loaded; not on the --version path above.
  const { setFlagsFromString } = await import('node:v8');
  setFlagsFromString('--liftoff-only');
  const { runCli } = await import('./program.js');
  process.exitCode = await runCli(argv);
}
