import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { castkit } from '../helpers/cli.js';
import { startOrigin, type Origin } from '../helpers/http-origin.js';
import { serveFixture } from '../helpers/live-origin.js';
import { streamFixture } from '../helpers/stream-fixtures.js';

const onProc = process.platform === 'linux' && existsSync('/proc/self');

describe('castkit record: an output where no file can be made', () => {
  let origin: Origin;
  before(async () => {
    origin = await startOrigin();
  });
  after(async () => origin.close());

  it(
    '-o /proc/x.mp4 fails at once with the output error (exit 6), instead of spinning in mkdir',
    { skip: !onProc },
    async () => {
      const url = serveFixture(origin, await streamFixture('hls-ts'), '/proc-out');
      // Node 20's mkdir(..., { recursive: true }) loops forever on /proc/x.mp4.castkit-journal: killed at 30 s.
      const r = await castkit(['record', url, '-o', '/proc/x.mp4'], { timeoutMs: 30_000 });
      assert.equal(r.signal, null, `it ended by itself (${r.stderr})`);
      assert.equal(r.code, 6, r.stderr);
      assert.match(r.stderr, /cannot create the resume journal \/proc\/x\.mp4\.castkit-journal: ENOENT/);
      assert.match(r.stderr, /hint: .*-o/);
      assert.equal(
        origin.requests.filter((q) => q.path.endsWith('.ts')).length,
        0,
        'no segment fetched for an output that cannot be written',
      );
    },
  );
});
