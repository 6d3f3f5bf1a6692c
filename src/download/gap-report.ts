/**
 * The sidecar written beside an output made with --allow-gaps: which segments are missing, why, and where
 * in the timeline they were (when the recorder knows segment times). The media keeps honest timestamps,
 * so a player shows the hole where it is; this file says what fell into it.
 */
import { rename, rm, writeFile } from 'node:fs/promises';
import { OutputError, systemErrorCode } from '../core/errors.js';
import { tempSuffix } from '../storage/local.js';
import { shownUrl } from './http-errors.js';
import type { MissingSegment } from './segment.js';

export interface GapReportEntry {
  index: number;
  key: string;
  url: string;
  code: string;
  message: string;
  /** Where the missing media would have started, in seconds of the output timeline. */
  startSec?: number;
  durationSec?: number;
}

export interface GapReport {
  castkit: 'gap-report';
  version: 1;
  output: string;
  createdAt: string;
  segments: { total: number; missing: number };
  /** Seconds of media missing in all, when segment durations are known. */
  missingSec?: number;
  missing: GapReportEntry[];
}

export function gapReportPathFor(outputPath: string): string {
  return `${outputPath}.gaps.json`;
}

export function buildGapReport(
  output: string,
  total: number,
  missing: readonly MissingSegment[],
  timing?: (m: MissingSegment) => { startSec: number; durationSec: number } | undefined,
): GapReport {
  let missingSec: number | undefined;
  const entries = missing.map((m): GapReportEntry => {
    const t = timing?.(m);
    if (t) missingSec = (missingSec ?? 0) + t.durationSec;
    return {
      index: m.index,
      key: m.key,
      url: shownUrl(m.url),
      code: m.error.code,
      message: m.error.message,
      ...(t ? { startSec: t.startSec, durationSec: t.durationSec } : {}),
    };
  });
  return {
    castkit: 'gap-report',
    version: 1,
    output,
    createdAt: new Date().toISOString(),
    segments: { total, missing: missing.length },
    ...(missingSec !== undefined ? { missingSec } : {}),
    missing: entries,
  };
}

/** Written to a temporary name and renamed, like every output. */
export async function writeGapReport(path: string, report: GapReport): Promise<void> {
  const temp = `${path}.${tempSuffix()}.part`;
  try {
    await writeFile(temp, JSON.stringify(report, null, 2) + '\n', { flag: 'wx' });
    await rename(temp, path);
  } catch (err) {
    await rm(temp, { force: true }).catch(() => undefined);
    throw new OutputError(`cannot write the gap report ${path}: ${systemErrorCode(err) ?? String(err)}`, {
      code: 'E_OUTPUT_WRITE',
      cause: err,
      details: { path },
    });
  }
}
