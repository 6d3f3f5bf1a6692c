#!/usr/bin/env node
// Runs every compiled *.test.js under build/test with node's test runner. Explicit files, because
// `node --test build/test` would also run the helpers (everything under a folder named test matches).
// Extra arguments filter the files by substring: `npm test -- probe e2e`.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';

const root = join(import.meta.dirname ?? new URL('.', import.meta.url).pathname, '..', 'build', 'test');
const filters = process.argv.slice(2);
const files = [];
const walk = (dir) => {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, entry.name);
    if (entry.isDirectory()) walk(p);
    else if (entry.name.endsWith('.test.js')) files.push(p);
  }
};
walk(root);
files.sort();
const selected = filters.length
  ? files.filter((f) => filters.some((s) => relative(root, f).includes(s)))
  : files;
if (selected.length === 0) {
  console.error(`no test files matched ${filters.join(' ')}`);
  process.exit(1);
}
// spec for people, TAP to a file for the closing count line that CI reads.
const tapDir = mkdtempSync(join(tmpdir(), 'castkit-tap-'));
const tap = join(tapDir, 'report.tap');
const res = spawnSync(
  process.execPath,
  [
    '--test',
    '--test-reporter=spec',
    '--test-reporter-destination=stdout',
    '--test-reporter=tap',
    `--test-reporter-destination=${tap}`,
    ...selected,
  ],
  { stdio: 'inherit' },
);
const count = (name) => {
  try {
    const m = new RegExp(`^# ${name} (\\d+)$`, 'm').exec(readFileSync(tap, 'utf8'));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
};
const passed = count('pass');
const failed = count('fail') + count('cancelled');
const skipped = count('skipped');
rmSync(tapDir, { recursive: true, force: true });
console.log(`\ntests: ${passed} passed, ${failed} failed, ${skipped} skipped`);
process.exit(res.status ?? 1);
