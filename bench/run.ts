/**
 * castkit benchmark harness: `npm run bench -- [suite...] [--runs N] [--warmup N] [--json]`.
 *
 * For each case of each selected suite, castkit and its peer run on the same input, alternating
 * (castkit, peer, castkit, peer, ...): first one unmeasured check run each (exit 0, output validated),
 * then the warm-up runs, then the measured runs. The table goes to stdout (or the JSON document with --json),
 * progress goes to stderr. Times are wall-clock from spawn to exit; peak RSS comes from GNU time.
 */
import { existsSync, readFileSync } from 'node:fs';
import { delimiter, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { missingRequirements, setupCommand } from './lib/requirements.js';
import { disposeGnuTime, killActive, measure, probeGnuTime, type RssProbe } from './lib/measure.js';
import { formatTable, jsonReport, machine, type SuiteReport } from './lib/report.js';
import { max, median, min } from './lib/stats.js';
import type { Argv, BenchCase, CaseResult, Suite, SuiteContext, ToolResult } from './lib/types.js';
import { SUITES, findSuite } from './suites/index.js';

const DEFAULT_RUNS = 15;
const DEFAULT_WARMUP = 3;

const USAGE = `usage: npm run bench -- [suite...] [--runs N] [--warmup N] [--json] [--list]
       node build/bench/run.js [suite...] [--runs N] [--warmup N] [--json] [--list]  (after a build)

  suite        run only these suites (default: all): ${SUITES.map((s) => s.name).join(', ')}
  --runs N     measured runs per program (default: the suite's, usually ${DEFAULT_RUNS})
  --warmup N   unmeasured warm-up runs per program (default: the suite's, usually ${DEFAULT_WARMUP})
  --json       print the results as JSON on stdout instead of the table
  --list       list the suites and exit`;

const log = (message: string): void => {
  process.stderr.write(message + '\n');
};

function fail(message: string, code = 2): never {
  log(`bench: ${message}`);
  process.exit(code);
}

function count(value: string | undefined, flag: string, least: number): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < least) fail(`${flag} wants a whole number >= ${least}, got ${value}`);
  return n;
}

/** The repository root: the nearest directory above this file whose package.json is castkit's. */
function findRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const pkg = join(dir, 'package.json');
    if (existsSync(pkg) && (JSON.parse(readFileSync(pkg, 'utf8')) as { name?: string }).name === 'castkit') {
      return dir;
    }
    const up = dirname(dir);
    if (up === dir) fail('cannot find the castkit package.json above ' + fileURLToPath(import.meta.url));
    dir = up;
  }
}

function summarize(
  tool: string,
  role: ToolResult['role'],
  argv: readonly string[],
  wall: number[],
  rssKb: (number | undefined)[],
  cpu: (number | undefined)[],
): ToolResult {
  const known = rssKb.every((v): v is number => v !== undefined);
  const rssMb = known ? rssKb.map((kb) => kb / 1024) : undefined;
  const cpuMs = cpu.every((v): v is number => v !== undefined) && cpu.length > 0 ? cpu : undefined;
  return {
    tool,
    role,
    argv: [...argv],
    samplesMs: wall,
    rssMb,
    medianMs: median(wall),
    minMs: min(wall),
    maxMs: max(wall),
    peakRssMb: rssMb && rssMb.length > 0 ? max(rssMb) : undefined,
    cpuMs,
    medianCpuMs: cpuMs ? median(cpuMs) : undefined,
  };
}

async function runCase(
  suite: Suite,
  c: BenchCase,
  runs: number,
  warmup: number,
  root: string,
  rss: RssProbe,
): Promise<CaseResult> {
  const programs = [
    { tool: 'castkit', role: 'castkit' as const, argv: c.castkit },
    { tool: c.peer.name, role: 'peer' as const, argv: c.peer.argv },
  ];
  const label = `${suite.name}/${c.name}`;
  log(
    `${label}: check run, ${warmup} warm-up, ${runs} measured runs each, alternating castkit/${c.peer.name}`,
  );
  await c.setup?.();
  for (const p of programs) {
    c.reset?.();
    const sample = await measure(p.argv, { cwd: root, rss, captureStdout: true });
    const problem = c.validate?.(sample.stdout, p.tool);
    if (problem !== undefined) throw new Error(`${label}: ${p.tool} output is wrong: ${problem}`);
  }
  for (let i = 0; i < warmup; i++) {
    for (const p of programs) {
      c.reset?.();
      await measure(p.argv, { cwd: root, rss });
    }
  }
  const wall = programs.map(() => [] as number[]);
  const rssKb = programs.map(() => [] as (number | undefined)[]);
  const cpu = programs.map(() => [] as (number | undefined)[]);
  for (let i = 0; i < runs; i++) {
    for (const [k, p] of programs.entries()) {
      c.reset?.();
      const sample = await measure(p.argv, { cwd: root, rss });
      wall[k]?.push(sample.wallMs);
      rssKb[k]?.push(sample.rssKb);
      cpu[k]?.push(sample.cpuMs);
    }
  }
  const [castkit, peer] = programs.map((p, k) =>
    summarize(p.tool, p.role, p.argv, wall[k] ?? [], rssKb[k] ?? [], cpu[k] ?? []),
  );
  if (!castkit || !peer) throw new Error('unreachable');
  const result: CaseResult = {
    suite: suite.name,
    case: c.name,
    runs,
    warmup,
    castkit,
    peer,
    ratio: castkit.medianMs / peer.medianMs,
  };
  log(
    `${label}: castkit ${castkit.medianMs.toFixed(1)} ms, ${peer.tool} ${peer.medianMs.toFixed(1)} ms (median)`,
  );
  return result;
}

async function main(): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      allowPositionals: true,
      options: {
        runs: { type: 'string' },
        warmup: { type: 'string' },
        json: { type: 'boolean', default: false },
        list: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
    });
  } catch (e) {
    fail(`${e instanceof Error ? e.message : String(e)}\n${USAGE}`);
  }
  const { values, positionals } = parsed;
  if (values.help) {
    process.stdout.write(USAGE + '\n');
    return 0;
  }
  if (values.list) {
    for (const s of SUITES) process.stdout.write(`${s.name.padEnd(10)} ${s.description}\n`);
    return 0;
  }
  const runsFlag = count(values.runs, '--runs', 1);
  const warmupFlag = count(values.warmup, '--warmup', 0);
  const selected =
    positionals.length === 0 ? [...SUITES] : positionals.map((name) => findSuite(name) ?? name);
  const unknown = selected.filter((s): s is string => typeof s === 'string');
  if (unknown.length > 0) {
    fail(`unknown suite ${unknown.join(', ')}; suites: ${SUITES.map((s) => s.name).join(', ')}`);
  }
  const suites = selected as Suite[];

  const root = findRoot();
  const castkitMain = join(root, 'dist', 'cli', 'main.js');
  if (!existsSync(castkitMain)) fail(`${castkitMain} is missing; run \`npm run build\` (npm run bench does)`);
  // castkit runs as users run it: the installed command, bin/castkit, which starts the `node` on PATH;
  // this bench's own node goes first there, so that castkit and the node peers run on the same one.
  const castkit: Argv = [join(root, 'bin', 'castkit')];
  process.env.PATH = `${dirname(process.execPath)}${delimiter}${process.env.PATH ?? ''}`;

  const missing = missingRequirements(suites);
  if (missing.length > 0) {
    log('bench: missing tools for the selected suites:');
    for (const m of missing) {
      log(
        `  ${m.suite}: ${m.requirement.name} (Debian package ${m.requirement.debianPackage}): ${m.problem}`,
      );
    }
    log(`install them with:\n  ${setupCommand()}`);
    return 1;
  }

  const rss = await probeGnuTime();
  const rssNote = rss.ok ? undefined : `peak RSS: n/a, because ${rss.reason}`;
  if (rssNote) log(`bench: ${rssNote}`);
  const onSignal = (): void => {
    killActive();
    disposeGnuTime(rss);
    process.exit(130);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  const m = machine();
  log(`bench: node ${String(m.node)}, ${String(m.cpus)} x ${String(m.cpu)}`);
  const ctx: SuiteContext = { root, node: process.execPath, castkit, castkitMain, log };
  const reports: SuiteReport[] = [];
  let failed = 0;
  try {
    for (const suite of suites) {
      const runs = runsFlag ?? suite.defaultRuns ?? DEFAULT_RUNS;
      const warmup = warmupFlag ?? suite.defaultWarmup ?? DEFAULT_WARMUP;
      const report: SuiteReport = { name: suite.name, results: [], notes: [] };
      try {
        for (const c of await suite.prepare(ctx)) {
          const caseRuns = runsFlag ?? c.runs ?? runs;
          const caseWarmup = warmupFlag ?? c.warmup ?? warmup;
          report.results.push(await runCase(suite, c, caseRuns, caseWarmup, root, rss));
        }
        report.notes.push(...(suite.summarize?.(report.results) ?? []));
      } catch (e) {
        failed++;
        const message = `${suite.name}: FAILED: ${e instanceof Error ? e.message : String(e)}`;
        report.notes.push(message);
        log(`bench: ${message}`);
      }
      reports.push(report);
    }
  } finally {
    disposeGnuTime(rss);
  }

  if (values.json) {
    process.stdout.write(jsonReport(reports, rssNote) + '\n');
  } else {
    const results = reports.flatMap((r) => r.results);
    const notes = reports.flatMap((r) => r.notes);
    const lines = [''];
    if (results.length > 0) lines.push(formatTable(results));
    if (notes.length > 0) lines.push('', ...notes);
    if (rssNote) lines.push('', rssNote);
    process.stdout.write(lines.join('\n') + '\n');
  }
  return failed > 0 ? 1 : 0;
}

process.exitCode = await main();
