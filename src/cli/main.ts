#!/usr/bin/env node
// The entry point stays tiny: `castkit --version` answers before commander and the commands load.
import { castkitVersion } from '../version.js';

const argv = process.argv.slice(2);
if (argv.length === 1 && (argv[0] === '--version' || argv[0] === '-V')) {
  process.stdout.write(castkitVersion() + '\n');
} else {
  const { runCli } = await import('./program.js');
  process.exitCode = await runCli(argv);
}
