/** The results table (plain text, one row per program per case) and the --json document. */
import { cpus } from 'node:os';
import type { CaseResult, ToolResult } from './types.js';

const HEADERS = [
  'suite',
  'case',
  'tool',
  'median ms',
  'min ms',
  'max ms',
  'CPU ms',
  'peak RSS MB',
  'castkit/peer',
];
const RIGHT = new Set([3, 4, 5, 6, 7, 8]);

const ms = (v: number): string => v.toFixed(1);
const mb = (v: number | undefined): string => (v === undefined ? 'n/a' : v.toFixed(1));

function row(r: CaseResult, t: ToolResult): string[] {
  return [
    r.suite,
    r.case,
    t.tool,
    ms(t.medianMs),
    ms(t.minMs),
    ms(t.maxMs),
    t.medianCpuMs === undefined ? 'n/a' : t.medianCpuMs.toFixed(0),
    mb(t.peakRssMb),
    t.role === 'castkit' ? r.ratio.toFixed(2) : '',
  ];
}

export function formatTable(results: readonly CaseResult[]): string {
  const rows = [HEADERS, ...results.flatMap((r) => [row(r, r.castkit), row(r, r.peer)])];
  const widths = HEADERS.map((_, i) => Math.max(...rows.map((cells) => (cells[i] ?? '').length)));
  const line = (cells: string[]): string =>
    cells
      .map((c, i) => (RIGHT.has(i) ? c.padStart(widths[i] ?? 0) : c.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  const rule = widths.map((w) => '-'.repeat(w)).join('  ');
  return [line(HEADERS), rule, ...rows.slice(1).map(line)].join('\n');
}

export function machine(): Record<string, unknown> {
  const cpu = cpus();
  return {
    node: process.version,
    platform: `${process.platform}-${process.arch}`,
    cpu: cpu[0]?.model ?? 'unknown',
    cpus: cpu.length,
  };
}

export interface SuiteReport {
  name: string;
  results: CaseResult[];
  notes: string[];
}

export function jsonReport(suites: readonly SuiteReport[], rssNote: string | undefined): string {
  return JSON.stringify(
    { date: new Date().toISOString(), machine: machine(), rss: rssNote ?? 'GNU time %M', suites },
    null,
    2,
  );
}
