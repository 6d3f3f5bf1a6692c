import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';

/** The error codes of a recording's gap report, in order; asserts that the report is there. */
export function gapReportCodes(path: string | undefined): string[] {
  assert.ok(path && existsSync(path), 'a gap report beside the output');
  const report = JSON.parse(readFileSync(path, 'utf8')) as { missing: { code: string }[] };
  return report.missing.map((m) => m.code);
}
