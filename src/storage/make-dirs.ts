/**
 * `mkdir -p` that cannot hang. Node 20's `mkdir(path, { recursive: true })` loops forever where a
 * directory exists but refuses new entries with ENOENT (as /proc does): it takes ENOENT for a missing
 * parent, creates the parent (EEXIST), tries again, and so on. Here the missing part of the path is
 * found first (stat, upwards), then each missing directory is made once, top down: as many steps as the
 * path has parts, and the first refusal is the error.
 */
import { mkdir, stat } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { systemErrorCode } from '../core/errors.js';

/** Make `dir` and any missing parents; fails with the system error (ENOENT, ENOTDIR, EACCES...) of the first refusal. */
export async function makeDirs(dir: string): Promise<void> {
  const missing: string[] = [];
  for (let at = resolve(dir); ;) {
    try {
      if ((await stat(at)).isDirectory()) break;
      throw Object.assign(new Error(`ENOTDIR: not a directory, mkdir '${at}'`), {
        code: 'ENOTDIR',
        path: at,
      });
    } catch (err) {
      const up = dirname(at);
      if (systemErrorCode(err) !== 'ENOENT' || up === at) throw err;
      missing.push(at);
      at = up;
    }
  }
  for (const d of missing.reverse()) {
    try {
      await mkdir(d);
    } catch (err) {
      // Made meanwhile by another run: fine, when it is a directory.
      if (systemErrorCode(err) !== 'EEXIST' || !(await stat(d)).isDirectory()) throw err;
    }
  }
}
