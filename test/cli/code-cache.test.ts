import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import {
  chmodSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  truncateSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { codeCacheDir } from '../../src/cli/code-cache.js';
import { cacheTarget } from '../../src/cli/load-program.js';

/** build/src/cli/code-cache.js, which the child processes below load. */
const LOADER = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'src', 'cli', 'code-cache.js');

/**
 * Runs `bundle` through runCommonJs in a process of its own (the cache is written at exit), with the
 * cache in `dir`; the bundle's exports are printed with the cache status.
 */
function run(bundle: string, dir: string, opts: { buildId?: string; write?: boolean; exit?: number } = {}) {
  const target = { dir, name: 'cmd', buildId: opts.buildId ?? 'build-1', write: opts.write ?? true };
  const script =
    `import { runCommonJs } from ${JSON.stringify(LOADER)};` +
    `const r = runCommonJs(${JSON.stringify(bundle)}, ${JSON.stringify(target)});` +
    `process.stdout.write(JSON.stringify({ cache: r.cache, value: r.exports.value(20) }));` +
    `process.exitCode = ${opts.exit ?? 0};`;
  const p = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
  assert.equal(p.status, opts.exit ?? 0, p.stderr);
  return JSON.parse(p.stdout) as { cache: string; value: number };
}

/** A CommonJS module with enough functions that V8's cache of them is worth having. */
function bundleSource(variant: string): string {
  const fns = Array.from({ length: 200 }, (_, i) => `function f${i}(n) { return n + ${i} - ${i}; }`).join(
    '\n',
  );
  return (
    `'use strict';\n${fns}\nfunction fib(n) { return n < 2 ? n : fib(n - 1) + fib(n - 2); }\n` +
    `exports.value = (n) => f0(fib(n)) + ${variant};\nmodule.exports.filename = __filename;\n`
  );
}

describe('code cache for the command line bundle', () => {
  let root: string;
  let n = 0;
  const fresh = (): { dir: string; bundle: string } => {
    const base = join(root, String(n++));
    const bundle = join(base, 'bundle.js');
    const dir = join(base, 'cache');
    mkdirSync(base, { recursive: true });
    writeFileSync(bundle, bundleSource('1'));
    return { dir, bundle };
  };
  const cacheFiles = (dir: string): string[] => {
    try {
      return readdirSync(dir);
    } catch {
      return [];
    }
  };
  const only = (dir: string): string => {
    const files = cacheFiles(dir);
    assert.equal(files.length, 1, `one cache file in ${dir}: ${files.join(', ')}`);
    return join(dir, files[0] as string);
  };

  before(() => {
    root = mkdtempSync(join(tmpdir(), 'castkit-code-cache-'));
  });
  after(() => rmSync(root, { recursive: true, force: true }));

  it('writes a private cache after the first successful run and uses it, unchanged, on the next', () => {
    const { dir, bundle } = fresh();
    assert.deepEqual(run(bundle, dir), { cache: 'none', value: 6766 });
    const file = only(dir);
    const st = statSync(file);
    assert.equal(st.mode & 0o777, 0o600);
    assert.equal(statSync(dir).mode & 0o777, 0o700);
    assert.ok(st.size > 1000, `${st.size} bytes of cache`);
    assert.deepEqual(run(bundle, dir), { cache: 'used', value: 6766 });
    const again = statSync(file);
    assert.equal(again.ino, st.ino, 'not rewritten');
    assert.ok(again.mtimeMs >= st.mtimeMs, 'marked as used');
  });

  it('ignores a cache made from other code, even of the same length, and replaces it', () => {
    const { dir, bundle } = fresh();
    run(bundle, dir);
    // Same length, new content and mtime: V8 alone would take the old bytecode (it checks the length only).
    writeFileSync(bundle, bundleSource('2'));
    utimesSync(bundle, new Date(), new Date(Date.now() + 5000));
    assert.deepEqual(run(bundle, dir), { cache: 'none', value: 6767 });
    assert.deepEqual(run(bundle, dir), { cache: 'used', value: 6767 });
    // Same bytes and mtime, another build: not this bundle's cache either.
    assert.deepEqual(run(bundle, dir, { buildId: 'build-2' }), { cache: 'none', value: 6767 });
    assert.deepEqual(run(bundle, dir, { buildId: 'build-2' }), { cache: 'used', value: 6767 });
  });

  it('keeps the caches of two other builds, the last used, beside the one in use', () => {
    const { dir, bundle } = fresh();
    for (const id of ['b1', 'b2', 'b3']) assert.equal(run(bundle, dir, { buildId: id }).cache, 'none');
    // b1 used again: b2 is now the one used longest ago, and goes when b4 writes its cache.
    assert.equal(run(bundle, dir, { buildId: 'b1' }).cache, 'used');
    assert.equal(run(bundle, dir, { buildId: 'b4' }).cache, 'none');
    const ids = readdirSync(dir).map((f) => f.split('-')[1]);
    assert.deepEqual(ids.sort(), ['b1', 'b3', 'b4']);
    for (const id of ['b1', 'b3', 'b4']) assert.equal(run(bundle, dir, { buildId: id }).cache, 'used');
  });

  it('keeps one cache for each of two installations of one build (their files differ in mtime)', () => {
    const { dir, bundle } = fresh();
    const other = `${bundle}.copy.js`;
    writeFileSync(other, readFileSync(bundle));
    utimesSync(other, new Date(), new Date(Date.now() + 60_000));
    assert.equal(run(bundle, dir).cache, 'none');
    assert.equal(run(other, dir).cache, 'none');
    assert.equal(run(bundle, dir).cache, 'used', 'not replaced by the other installation');
    assert.equal(run(other, dir).cache, 'used');
    assert.equal(readdirSync(dir).length, 2);
  });

  it('does not use a truncated cache or one that others can write', () => {
    const { dir, bundle } = fresh();
    run(bundle, dir);
    const file = only(dir);
    truncateSync(file, statSync(file).size - 100);
    assert.equal(run(bundle, dir).cache, 'none');
    assert.equal(run(bundle, dir).cache, 'used', 'rewritten whole');
    chmodSync(file, 0o666);
    assert.equal(run(bundle, dir).cache, 'none');
    assert.equal(statSync(only(dir)).mode & 0o777, 0o600, 'replaced by a private one');
    writeFileSync(file, Buffer.alloc(statSync(file).size, 0x41), { mode: 0o600 });
    assert.equal(run(bundle, dir).cache, 'none', 'a header that is not ours');
  });

  it('writes nothing after a failed run or when asked not to', () => {
    const { dir, bundle } = fresh();
    assert.equal(run(bundle, dir, { exit: 3 }).cache, 'none');
    assert.deepEqual(cacheFiles(dir), []);
    assert.equal(run(bundle, dir, { write: false }).cache, 'none');
    assert.deepEqual(cacheFiles(dir), []);
    // A cache directory that cannot be made (under a file): the run is unaffected and exits 0.
    assert.deepEqual(run(bundle, join(bundle, 'cache')), { cache: 'none', value: 6766 });
  });

  it('lives under CASTKIT_CODE_CACHE, XDG_CACHE_HOME or ~/.cache, and can be turned off', () => {
    assert.equal(codeCacheDir({ CASTKIT_CODE_CACHE: '/x/y' }), '/x/y');
    for (const off of ['off', '0', 'false', 'no'])
      assert.equal(codeCacheDir({ CASTKIT_CODE_CACHE: off }), undefined);
    assert.equal(codeCacheDir({ CASTKIT_CODE_CACHE: 'relative' }), undefined);
    assert.equal(codeCacheDir({ XDG_CACHE_HOME: '/c' }), '/c/castkit/code-cache');
    assert.match(codeCacheDir({}) ?? '', /\/\.cache\/castkit\/code-cache$/);
  });

  it('keeps one cache per command, written only by a run that does the command', () => {
    const env = { CASTKIT_CODE_CACHE: '/c' };
    assert.deepEqual(cacheTarget(['remux', 'a.flv', '-o', 'a.mp4'], env, 'b'), {
      dir: '/c',
      name: 'remux',
      buildId: 'b',
      write: true,
    });
    assert.equal(cacheTarget(['--json', 'probe', 'a.mp4'], env, 'b')?.name, 'probe');
    assert.equal(cacheTarget(['remux', '--help'], env, 'b')?.write, false);
    assert.equal(cacheTarget(['help', 'remux'], env, 'b')?.write, false);
    assert.equal(cacheTarget([], env, 'b')?.write, false);
    assert.equal(
      cacheTarget(['../../etc'], env, 'b')?.name,
      'castkit',
      'not a command: no file name from it',
    );
    assert.equal(cacheTarget(['remux'], { CASTKIT_CODE_CACHE: 'off' }, 'b'), undefined);
  });
});
