import assert from 'node:assert/strict';
import { readFileSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, it } from 'node:test';
import { NetworkError } from '../../src/core/errors.js';
import {
  buildGapReport,
  gapReportPathFor,
  writeGapReport,
  type GapReport,
} from '../../src/download/gap-report.js';
import { scratchDir } from '../helpers/scratch.js';

const dir = scratchDir('castkit-gaps-');
after(() => rmSync(dir, { recursive: true, force: true }));

it('writes a gap report sidecar with times, credentials masked', async () => {
  const out = join(dir, 'rec.ts');
  const error = new NetworkError('HTTP 404 from http://u:****@h/7.ts', {
    code: 'E_HTTP_STATUS',
    retryable: false,
  });
  const report = buildGapReport(
    out,
    20,
    [{ index: 7, key: '107', url: 'http://u:secret@h/7.ts', error }],
    (m) => ({
      startSec: m.index * 4,
      durationSec: 4,
    }),
  );
  const path = gapReportPathFor(out);
  assert.equal(path, `${out}.gaps.json`);
  await writeGapReport(path, report);
  const back = JSON.parse(readFileSync(path, 'utf8')) as GapReport;
  assert.equal(back.castkit, 'gap-report');
  assert.deepEqual(back.segments, { total: 20, missing: 1 });
  assert.equal(back.missingSec, 4);
  assert.deepEqual(back.missing[0], {
    index: 7,
    key: '107',
    url: 'http://u:****@h/7.ts',
    code: 'E_HTTP_STATUS',
    message: 'HTTP 404 from http://u:****@h/7.ts',
    startSec: 28,
    durationSec: 4,
  });
  assert.deepEqual(readdirSync(dir), ['rec.ts.gaps.json'], 'no temporary file left');
});
