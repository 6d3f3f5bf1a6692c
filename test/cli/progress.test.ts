import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createProgressRenderer } from '../../src/cli/progress.js';
import { renderTable } from '../../src/cli/table.js';
import { colorWanted, createStyle } from '../../src/cli/style.js';

function harness(opts: { interactive: boolean; json?: boolean; quiet?: boolean }) {
  let t = 0;
  const out: string[] = [];
  const r = createProgressRenderer({ ...opts, write: (s) => out.push(s), now: () => t, width: 10 });
  return { r, out, tick: (ms: number) => (t += ms) };
}

describe('progress renderer', () => {
  it('redraws one bar with rate and ETA on a terminal, throttled', () => {
    const { r, out, tick } = harness({ interactive: true });
    r.update({ phase: 'remux', done: 0, total: 2_000_000, unit: 'bytes' });
    r.update({ phase: 'remux', done: 100, total: 2_000_000, unit: 'bytes' }); // within 100 ms: dropped
    tick(150);
    r.update({ phase: 'remux', done: 1_000_000, total: 2_000_000, unit: 'bytes', rate: 500_000, etaSec: 2 });
    r.finish({ phase: 'remux', done: 2_000_000, total: 2_000_000, unit: 'bytes' });
    assert.equal(out.length, 3);
    assert.equal(out[1], '\r\u001b[Kremux [#####-----]  50%  1.0 MB/2.0 MB  500 kB/s  ETA 0:00:02');
    assert.ok(out[2]?.endsWith('100%  2.0 MB/2.0 MB\n'));
  });

  it('prints plain lines per 10% step when not a terminal, once the work has lasted a second', () => {
    const { r, out, tick } = harness({ interactive: false });
    for (let i = 0; i <= 100; i += 1) {
      r.update({ phase: 'download', done: i, total: 100, unit: 'segments' });
      tick(20); // 2 s in all: the first second prints nothing
    }
    r.finish();
    assert.equal(out.length, 6); // 50% (the step reached by then), 60% ... 100%; finish() repeats nothing
    assert.equal(out[0], 'download 50% 50/100\n');
    assert.equal(out[5], 'download 100% 100/100\n');
    assert.ok(out.every((l) => !l.includes('\r')));
  });

  it('prints no plain lines for work done within a second, not even at the end', () => {
    const { r, out, tick } = harness({ interactive: false });
    for (let i = 0; i <= 100; i += 10) {
      r.update({ phase: 'remux', done: i, total: 100, unit: 'bytes' });
      tick(50);
    }
    r.finish();
    assert.deepEqual(out, []);
  });

  it('prints JSON lines at most once a second, and nothing when quiet', () => {
    const { r, out, tick } = harness({ interactive: false, json: true });
    r.update({ phase: 'encode', done: 1, total: 10, unit: 'seconds', rate: 2 });
    r.update({ phase: 'encode', done: 2, total: 10, unit: 'seconds' });
    tick(1000);
    r.update({ phase: 'encode', done: 3, total: 10, unit: 'seconds' });
    r.finish();
    assert.deepEqual(
      out.map((l) => JSON.parse(l) as { event: string; done: number }).map((e) => [e.event, e.done]),
      [
        ['progress', 1],
        ['progress', 3],
        ['done', 3],
      ],
    );
    const q = harness({ interactive: true, quiet: true });
    q.r.update({ phase: 'x', done: 1, unit: 'items' });
    q.r.finish();
    assert.equal(q.out.length, 0);
  });
});

describe('tables and colour', () => {
  it('aligns columns ignoring colour codes', () => {
    const s = createStyle(true);
    assert.equal(
      renderTable([
        [s.green('ok'), 'ffmpeg'],
        ['missing', 'x'],
      ]),
      `${s.green('ok')}       ffmpeg\nmissing  x`,
    );
  });
  it('honours NO_COLOR, --no-color and non-terminals', () => {
    assert.equal(colorWanted({ isTTY: true }, {}, true), true);
    assert.equal(colorWanted({ isTTY: true }, { NO_COLOR: '1' }, true), false);
    assert.equal(colorWanted({ isTTY: true }, {}, false), false);
    assert.equal(colorWanted({ isTTY: false }, {}, true), false);
    assert.equal(createStyle(false).red('x'), 'x');
  });
});
