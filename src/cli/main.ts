#!/usr/bin/env node
// The entry point stays tiny: `castkit --version` answers before commander and the commands load.
import { castkitVersion } from '../version.js';
import { loadProgram } from './load-program.js';

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
  // No top-level await: the bundled entry is CommonJS (scripts/bundle-cli.mjs).
  void loadProgram(argv)
    .then(({ runCli }) => runCli(argv))
    .then((code) => {
      process.exitCode = code;
      // Once nothing is left to do (no write, child, socket or timer keeps the loop alive: the moment Node
      // would begin its own exit), exit at once: Node's orderly teardown of the environment and the heap
      // took 7-9 ms of a recording's end, where process.exit() takes none of them (the 'exit' listeners,
      // the code cache's among them, still run). 142 MB recorded from nginx on loopback: 291.9 against
      // 296.7 ms (21 interleaved runs); a process holding 100 MB: 6-7 ms from its last line to its end,
      // against 14.
      process.once('beforeExit', () => process.exit());
    });
}
