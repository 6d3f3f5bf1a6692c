import type { ProgressEvent, ProgressUnit } from '../core/progress.js';
import { formatClock } from '../core/time.js';
import { formatBytes } from '../core/units.js';

export interface ProgressRendererOptions {
  write: (text: string) => void;
  /** A terminal: redraw one bar in place. Otherwise plain lines. */
  interactive: boolean;
  json?: boolean;
  quiet?: boolean;
  /** Milliseconds clock, injectable for tests. */
  now?: () => number;
  width?: number;
}

export interface ProgressRenderer {
  update(event: ProgressEvent): void;
  /** Draw the final state and end the line. */
  finish(event?: ProgressEvent): void;
}

function amount(value: number, unit: ProgressUnit): string {
  switch (unit) {
    case 'bytes':
      return formatBytes(value);
    case 'seconds':
      return formatClock(value).replace(/\.\d+$/, '');
    default:
      return String(Math.round(value));
  }
}

function rateText(rate: number, unit: ProgressUnit): string {
  if (unit === 'bytes') return `${formatBytes(rate)}/s`;
  if (unit === 'seconds') return `${rate.toFixed(1)}x`;
  return `${rate.toFixed(1)}/s`;
}

export function describe(ev: ProgressEvent): string {
  const parts = [
    ev.total !== undefined
      ? `${amount(ev.done, ev.unit)}/${amount(ev.total, ev.unit)}`
      : amount(ev.done, ev.unit),
  ];
  if (ev.rate !== undefined && ev.rate > 0) parts.push(rateText(ev.rate, ev.unit));
  if (ev.etaSec !== undefined) parts.push(`ETA ${formatClock(ev.etaSec).replace(/\.\d+$/, '')}`);
  if (ev.detail) parts.push(ev.detail);
  return parts.join('  ');
}

function percentOf(ev: ProgressEvent): number | undefined {
  if (ev.total === undefined || ev.total <= 0) return undefined;
  return Math.max(0, Math.min(100, (ev.done / ev.total) * 100));
}

/** Plain progress lines start only once the work has lasted this long: a quick job prints just its result. */
export const PLAIN_LINES_AFTER_MS = 1000;

/**
 * Bars with rate and ETA on a TTY (redrawn at most 10 times a second), plain lines otherwise (one per 10%
 * step, or every 10 s without a total; none for work done within PLAIN_LINES_AFTER_MS, since each line
 * stays in a log), JSON lines with --json (at most one a second).
 */
export function createProgressRenderer(options: ProgressRendererOptions): ProgressRenderer {
  const now = options.now ?? Date.now;
  const width = options.width ?? 24;
  const started = now();
  let lastDraw = -Infinity;
  let lastStep = '';
  let lastLine = '';
  let drewBar = false;

  const bar = (ev: ProgressEvent): string => {
    const pct = percentOf(ev);
    const head = `${ev.phase} `;
    if (pct === undefined) return `${head}${describe(ev)}`;
    const filled = Math.round((pct / 100) * width);
    return `${head}[${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${pct.toFixed(0).padStart(3)}%  ${describe(ev)}`;
  };

  const emit = (ev: ProgressEvent, final: boolean): void => {
    if (options.quiet) return;
    const t = now();
    if (options.json) {
      if (!final && t - lastDraw < 1000) return;
      lastDraw = t;
      options.write(JSON.stringify({ event: final ? 'done' : 'progress', ...ev }) + '\n');
      return;
    }
    if (options.interactive) {
      if (!final && t - lastDraw < 100) return;
      lastDraw = t;
      drewBar = true;
      options.write(`\r\u001b[K${bar(ev)}${final ? '\n' : ''}`);
      return;
    }
    // Quick work: no lines at all (the result says it); the final line only after earlier ones.
    if (lastLine === '' && (final || t - started < PLAIN_LINES_AFTER_MS)) return;
    const pct = percentOf(ev);
    const step = `${ev.phase} ${pct === undefined ? Math.floor(t / 10_000) : Math.floor(pct / 10)}`;
    if (!final && step === lastStep) return;
    lastStep = step;
    const pctText = pct === undefined ? '' : ` ${pct.toFixed(0)}%`;
    const line = `${ev.phase}${pctText} ${describe(ev)}\n`;
    if (final && line === lastLine) return; // the last step already said it
    lastLine = line;
    options.write(line);
  };

  let last: ProgressEvent | undefined;
  return {
    update(ev) {
      last = ev;
      emit(ev, false);
    },
    finish(ev) {
      const final = ev ?? last;
      if (final) emit(final, true);
      else if (drewBar) options.write('\n');
    },
  };
}
