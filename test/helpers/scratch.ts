import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const made: string[] = [];
let hooked = false;

/**
 * A new directory in the OS temp dir for one test file's scratch files, removed when the test process
 * exits (each test file runs in a process of its own), whatever the outcome. Media fixtures are cached
 * elsewhere (helpers/fixtures.ts) and are not scratch.
 */
export function scratchDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  made.push(dir);
  if (!hooked) {
    hooked = true;
    process.on('exit', () => {
      for (const d of made) rmSync(d, { recursive: true, force: true });
    });
  }
  return dir;
}
