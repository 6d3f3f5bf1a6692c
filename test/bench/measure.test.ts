import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { measure, parseTimeReport, probeGnuTime, disposeGnuTime } from '../../bench/lib/measure.js';

describe('bench: GNU time report', () => {
  it('reads peak RSS and user + system CPU, after a non-zero status line too', () => {
    assert.deepEqual(parseTimeReport('0.21 84120 0.17 0.05\n'), { rssKb: 84120, cpuMs: 220 });
    assert.deepEqual(parseTimeReport('Command exited with non-zero status 3\n0.01 2048 0.00 0.01\n'), {
      rssKb: 2048,
      cpuMs: 10,
    });
    assert.deepEqual(parseTimeReport('garbage'), { rssKb: undefined, cpuMs: undefined });
  });

  it('measures a program that burns CPU: its CPU time is counted, a sleeping one is not', async (t) => {
    const rss = await probeGnuTime();
    if (!rss.ok) {
      t.skip(rss.reason);
      return;
    }
    try {
      const busy = await measure(
        [process.execPath, '-e', 'const e = Date.now() + 300; while (Date.now() < e);'],
        {
          cwd: process.cwd(),
          rss,
        },
      );
      const idle = await measure([process.execPath, '-e', 'setTimeout(() => {}, 300)'], {
        cwd: process.cwd(),
        rss,
      });
      assert.ok((busy.cpuMs ?? 0) >= 250, `busy: ${busy.cpuMs} ms of CPU`);
      assert.ok((idle.cpuMs ?? Infinity) < 200, `idle: ${idle.cpuMs} ms of CPU`);
      assert.ok(idle.wallMs >= 300);
      assert.ok((busy.rssKb ?? 0) > 0);
    } finally {
      disposeGnuTime(rss);
    }
  });
});
