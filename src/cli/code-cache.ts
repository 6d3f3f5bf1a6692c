/**
 * Runs a CommonJS bundle (the command line's, dist/cli/program.js) with a V8 code cache: the bytecode of the
 * functions a command ran, kept from its first successful run and loaded on the next instead of parsing and
 * compiling them again. Node 20 has no compile cache of its own (module.enableCompileCache came in 22.1).
 * `castkit remux` of a small file started in about 91 ms instead of 104 ms on a 2-core machine where
 * `node -e 0` takes 62 (41 interleaved runs, by hand).
 *
 * V8 checks only that cached data fits its version, flags and the source length, and a damaged payload
 * brings the process down: so a cache file is used only when its header names this very bundle (build id,
 * size, mtime), its length is whole, and it belongs to this user and no one else can write it. It is written
 * with fsync and an atomic rename, once per command and bundle (when none was usable), after the command
 * succeeded; a command keeps the caches of the two other bundles it last ran besides its own.
 */
import {
  closeSync,
  fstatSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  statSync,
  unlinkSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { isAscii } from 'node:buffer';
import { createRequire } from 'node:module';
import { homedir } from 'node:os';
import { dirname, isAbsolute, join } from 'node:path';
import { Script, constants as vmConstants } from 'node:vm';

const MAGIC = 'castkit code cache 1\0\0\0\0';
/** MAGIC, then build id length (u32), payload length (u32), bundle size (f64), bundle mtime ms (f64). */
const FIXED = MAGIC.length + 4 + 4 + 8 + 8;
const MAX_CACHE = 64 << 20;
/**
 * Node's own loader for import() in vm scripts; missing before Node 20.12 (then import() there throws, so
 * the bundle has none: bundle-cli.mjs).
 */
const dynamicImport = (vmConstants as { USE_MAIN_CONTEXT_DEFAULT_LOADER?: number } | undefined)
  ?.USE_MAIN_CONTEXT_DEFAULT_LOADER;

export type CodeCacheStatus = 'off' | 'used' | 'rejected' | 'none';

export interface CodeCacheTarget {
  /** Directory of the cache files, made (mode 0700) when the first is written. */
  dir: string;
  /** Which cache: one per command, since each runs different code. Letters, digits, '-' only. */
  name: string;
  /** Identifies the bundle's content (a hash taken when it was built). */
  buildId: string;
  /** Write a cache at exit when none was usable (when the exit code is 0). */
  write: boolean;
}

export interface CommonJsRun {
  exports: unknown;
  cache: CodeCacheStatus;
}

/**
 * Where code caches go: CASTKIT_CODE_CACHE (a directory; `off` or `0` for none), else
 * $XDG_CACHE_HOME/castkit/code-cache, else ~/.cache/castkit/code-cache.
 */
export function codeCacheDir(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const set = env.CASTKIT_CODE_CACHE;
  if (set !== undefined && set !== '') {
    if (/^(0|off|false|no)$/i.test(set)) return undefined;
    return isAbsolute(set) ? set : undefined;
  }
  const xdg = env.XDG_CACHE_HOME;
  if (xdg && isAbsolute(xdg)) return join(xdg, 'castkit', 'code-cache');
  try {
    const home = homedir();
    return home ? join(home, '.cache', 'castkit', 'code-cache') : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Caches of other bundles kept per command: two castkit installations (even of one build: their files
 * differ in mtime) each keep theirs instead of replacing each other's at every run.
 */
const KEEP_OTHERS = 2;

/** The cache file of this bundle (named by its build, size and mtime) for this command, V8 and machine. */
function cacheFile(t: CodeCacheTarget, size: number, mtimeMs: number): string {
  const stamp = `${size.toString(36)}-${Math.round(mtimeMs).toString(36)}`;
  return join(t.dir, `${t.name}-${t.buildId}-${stamp}-v8-${process.versions.v8}-${process.arch}.bin`);
}

/** Deletes this command's caches of other bundles but the KEEP_OTHERS last used. */
function pruneOthers(t: CodeCacheTarget, keep: string): void {
  const others: { path: string; used: number }[] = [];
  for (const f of readdirSync(t.dir)) {
    if (!f.startsWith(`${t.name}-`) || !f.endsWith('.bin') || join(t.dir, f) === keep) continue;
    try {
      others.push({ path: join(t.dir, f), used: statSync(join(t.dir, f)).mtimeMs });
    } catch {
      // gone meanwhile
    }
  }
  others.sort((a, b) => b.used - a.used);
  for (const o of others.slice(KEEP_OTHERS)) {
    try {
      unlinkSync(o.path);
    } catch {
      // gone meanwhile
    }
  }
}

function header(buildId: string, payload: number, size: number, mtimeMs: number): Buffer {
  const id = Buffer.from(buildId, 'utf8');
  const h = Buffer.alloc(FIXED + id.length);
  h.write(MAGIC, 0, 'latin1');
  let o = MAGIC.length;
  h.writeUInt32LE(id.length, o);
  h.writeUInt32LE(payload, o + 4);
  h.writeDoubleLE(size, o + 8);
  h.writeDoubleLE(mtimeMs, o + 16);
  o += 24;
  id.copy(h, o);
  return h;
}

/** True when the file at fd is a regular file of this user's that only this user can write. */
function trusted(fd: number): { ok: boolean; size: number } {
  const st = fstatSync(fd);
  const uid = process.getuid?.();
  const ok =
    st.isFile() &&
    (uid === undefined || st.uid === uid) &&
    // Windows has no owner or group bits (files read as 0o666): its profile directory is the user's own.
    (process.platform === 'win32' || (st.mode & 0o022) === 0) &&
    st.size > FIXED &&
    st.size <= MAX_CACHE;
  return { ok, size: st.size };
}

/** The cached data in `file` for this bundle, or undefined when there is none usable. */
function readCache(file: string, t: CodeCacheTarget, size: number, mtimeMs: number): Buffer | undefined {
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch {
    return undefined;
  }
  try {
    const st = trusted(fd);
    if (!st.ok) return undefined;
    const buf = readFileSync(fd);
    if (buf.length !== st.size) return undefined;
    const want = header(t.buildId, st.size - FIXED - Buffer.byteLength(t.buildId), size, mtimeMs);
    if (want.length >= st.size || !buf.subarray(0, want.length).equals(want)) return undefined;
    return buf.subarray(want.length);
  } catch {
    return undefined;
  } finally {
    closeSync(fd);
  }
}

/** Marks a cache as used now (its mtime), for pruneOthers. */
function touch(file: string): void {
  try {
    const now = new Date();
    utimesSync(file, now, now);
  } catch {
    // read-only: it is kept anyway
  }
}

/** Writes the cache for `script` to `file` (best effort: one that cannot be written is simply not there). */
function writeCache(file: string, t: CodeCacheTarget, script: Script, size: number, mtimeMs: number): void {
  const tmp = `${file}.${process.pid}.tmp`;
  let fd: number | undefined;
  try {
    // The place first: where it cannot be written (a read-only home), the data is not made for nothing.
    mkdirSync(t.dir, { recursive: true, mode: 0o700 });
    fd = openSync(tmp, 'wx', 0o600);
    const data = script.createCachedData();
    writeFileSync(fd, header(t.buildId, data.length, size, mtimeMs));
    writeFileSync(fd, data);
    fsyncSync(fd);
    closeSync(fd);
    fd = undefined;
    renameSync(tmp, file);
    pruneOthers(t, file);
  } catch {
    if (fd !== undefined) closeSync(fd);
    try {
      unlinkSync(tmp);
    } catch {
      // never made
    }
  }
}

/**
 * Runs the CommonJS file `file` (as Node's module loader would: exports, require, module, __filename,
 * __dirname) and returns its exports; with a code cache when `target` is given.
 */
export function runCommonJs(file: string, target: CodeCacheTarget | undefined): CommonJsRun {
  const fd = openSync(file, 'r');
  let bytes: Buffer;
  let size: number;
  let mtimeMs: number;
  try {
    ({ size, mtimeMs } = fstatSync(fd));
    bytes = readFileSync(fd);
  } finally {
    closeSync(fd);
  }
  // The bundle is ASCII (bundle-cli.mjs): read as Latin-1, that is a copy; UTF-8 took 4 ms more for 1.8 MB.
  const source = isAscii(bytes) ? bytes.toString('latin1') : bytes.toString('utf8');
  const path = target && cacheFile(target, size, mtimeMs);
  const cachedData = target && path !== undefined ? readCache(path, target, size, mtimeMs) : undefined;
  // One line, so that the bundle's line numbers (and its source map) stay right.
  const wrapped = `(function (exports, require, module, __filename, __dirname) { ${source}\n})`;
  const script = new Script(wrapped, {
    filename: file,
    ...(cachedData ? { cachedData } : {}),
    // A dynamic import() left in the bundle (of a built-in) loads as it would in a module (Node >= 20.12).
    ...(dynamicImport !== undefined ? { importModuleDynamically: dynamicImport } : {}),
  });
  const cache: CodeCacheStatus =
    target === undefined
      ? 'off'
      : cachedData === undefined
        ? 'none'
        : script.cachedDataRejected
          ? 'rejected'
          : 'used';
  if (path !== undefined && cache === 'used') touch(path);
  if (target?.write && path !== undefined && cache !== 'used') {
    process.once('exit', (code) => {
      if (code === 0) writeCache(path, target, script, size, mtimeMs);
    });
  }
  const fn = script.runInThisContext() as (
    exports: unknown,
    require: NodeJS.Require,
    module: { exports: unknown },
    filename: string,
    dirname: string,
  ) => void;
  const module = { exports: {} as unknown };
  fn.call(module.exports, module.exports, createRequire(file), module, file, dirname(file));
  return { exports: module.exports, cache };
}
