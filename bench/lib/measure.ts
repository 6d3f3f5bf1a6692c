/**
 * Runs one program and measures it: wall time from spawn to exit, taken here with a monotonic clock, and
 * peak RSS (max resident set size) and CPU time (user + system, to 10 ms) from GNU time, which wraps the
 * program and writes `%e %M %U %S` to a file. Without GNU time the program is spawned directly and RSS and
 * CPU are unknown.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setupCommand } from './requirements.js';
import type { Argv } from './types.js';

/** GNU time; CASTKIT_BENCH_TIME points elsewhere (or at nothing, to try the no-RSS path). */
export const GNU_TIME = process.env.CASTKIT_BENCH_TIME ?? '/usr/bin/time';

/** GNU time when it works here, or why RSS cannot be measured. */
export type RssProbe = { ok: true; path: string; dir: string } | { ok: false; reason: string };

export interface Sample {
  wallMs: number;
  /** Peak RSS in KB, when GNU time is used. */
  rssKb: number | undefined;
  /** User + system CPU time in ms (all threads and children), when GNU time is used. */
  cpuMs: number | undefined;
  /** Captured only when asked for (validation runs). */
  stdout: string;
}

export interface RunOptions {
  cwd: string;
  rss: RssProbe;
  captureStdout?: boolean;
  timeoutMs?: number;
}

const MAX_CAPTURE = 32 << 20;

/** Process groups of the programs running now, so an interrupted bench leaves nothing behind. */
const active = new Set<number>();

export function killActive(): void {
  for (const pid of active) {
    try {
      process.kill(-pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  active.clear();
}

/** Checks that /usr/bin/time is GNU time (`-f`/`-o` work) and makes a temp dir for its reports. */
export async function probeGnuTime(): Promise<RssProbe> {
  if (!existsSync(GNU_TIME)) {
    return {
      ok: false,
      reason: `GNU time is not installed (${GNU_TIME} missing); install Debian package \`time\` with: ${setupCommand()}`,
    };
  }
  const dir = mkdtempSync(join(tmpdir(), 'castkit-bench-'));
  const probe: RssProbe = { ok: true, path: GNU_TIME, dir };
  try {
    const sample = await measure([process.execPath, '-e', '0'], { cwd: dir, rss: probe });
    if (sample.rssKb === undefined || !(sample.rssKb > 0)) throw new Error('no %M value in its report');
    return probe;
  } catch (e) {
    rmSync(dir, { recursive: true, force: true });
    const why = (e instanceof Error ? e.message : String(e)).replace(/\s*\n\s*/g, ': ');
    return {
      ok: false,
      reason: `${GNU_TIME} does not behave like GNU time (${why}); install Debian package \`time\` with: ${setupCommand()}`,
    };
  }
}

export function disposeGnuTime(rss: RssProbe): void {
  if (rss.ok) rmSync(rss.dir, { recursive: true, force: true });
}

/**
 * Parses GNU time's `-o` report: an optional "Command exited with non-zero status" line, then
 * `%e %M %U %S`.
 */
export function parseTimeReport(text: string): { rssKb: number | undefined; cpuMs: number | undefined } {
  const lines = text.split('\n').filter((l) => l.trim() !== '');
  const f = (lines[lines.length - 1] ?? '').trim().split(/\s+/).map(Number);
  const [, kb, user, sys] = f;
  return {
    rssKb: kb !== undefined && Number.isFinite(kb) ? kb : undefined,
    cpuMs:
      user !== undefined && sys !== undefined && Number.isFinite(user + sys)
        ? Math.round((user + sys) * 1000)
        : undefined,
  };
}

/** Runs `argv` once; rejects when it does not exit 0 (with the tail of its stderr) or times out. */
export function measure(argv: Argv, options: RunOptions): Promise<Sample> {
  const { rss } = options;
  const report = rss.ok ? join(rss.dir, 'time.txt') : undefined;
  const [file, args] = rss.ok
    ? [rss.path, ['-f', '%e %M %U %S', '-o', report as string, ...argv]]
    : [argv[0], argv.slice(1)];
  const timeoutMs = options.timeoutMs ?? 300_000;
  return new Promise((resolve, reject) => {
    const started = process.hrtime.bigint();
    let exitedAt: bigint | undefined;
    // Own process group, so a timeout kills the program under GNU time too, not only GNU time.
    const child = spawn(file, args, {
      cwd: options.cwd,
      detached: true,
      stdio: ['ignore', options.captureStdout ? 'pipe' : 'ignore', 'pipe'],
    });
    const pid = child.pid;
    if (pid !== undefined) active.add(pid);
    const out: Buffer[] = [];
    let outBytes = 0;
    child.stdout?.on('data', (b: Buffer) => {
      if (outBytes < MAX_CAPTURE) out.push(b);
      outBytes += b.length;
    });
    let err = '';
    child.stderr?.on('data', (b: Buffer) => {
      err = (err + b.toString()).slice(-4000);
    });
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      try {
        if (pid !== undefined) process.kill(-pid, 'SIGKILL');
      } catch {
        child.kill('SIGKILL');
      }
    }, timeoutMs);
    child.on('exit', () => {
      exitedAt = process.hrtime.bigint();
    });
    child.on('error', (e) => {
      clearTimeout(timer);
      if (pid !== undefined) active.delete(pid);
      reject(new Error(`${argv.join(' ')}: cannot start: ${e.message}`));
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (pid !== undefined) active.delete(pid);
      const wallMs = Number((exitedAt ?? process.hrtime.bigint()) - started) / 1e6;
      if (code !== 0) {
        const how = timedOut
          ? `timed out after ${timeoutMs / 1000} s`
          : signal
            ? `killed by ${signal}`
            : `exit ${code}`;
        reject(new Error(`${argv.join(' ')}: ${how}${err.trim() ? `\n${err.trim()}` : ''}`));
        return;
      }
      let time: ReturnType<typeof parseTimeReport> = { rssKb: undefined, cpuMs: undefined };
      if (report !== undefined) {
        try {
          time = parseTimeReport(readFileSync(report, 'utf8'));
        } catch {
          // no report: both unknown
        }
      }
      resolve({ wallMs, ...time, stdout: Buffer.concat(out).toString() });
    });
  });
}
