import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { pacer } from '../../src/api/remux-demux.js';
import { progressReporter } from '../../src/api/remux-shared.js';
import type { ProgressEvent } from '../../src/core/progress.js';

describe('progressReporter', () => {
  it('reports the first call, then at most every 50 ms, and always the last', async () => {
    const events: ProgressEvent[] = [];
    const report = progressReporter(
      { output: 'x', onProgress: (e) => events.push(e) },
      'join',
      2000,
      'items',
    );
    for (let i = 1; i <= 1000; i++) report(i, i * 1000);
    assert.equal(events.length, 1, 'a thousand calls at once: one event');
    assert.equal(events[0]?.done, 1);
    await new Promise((r) => setTimeout(r, 60));
    report(1001, 1_001_000);
    assert.equal(events.length, 2, 'the next one after 50 ms');
    for (let i = 1002; i <= 2000; i++) report(i, i * 1000);
    assert.equal(events.length, 3, 'the last, whenever it comes');
    const last = events.at(-1);
    assert.equal(last?.done, 2000);
    assert.equal(last?.total, 2000);
    assert.equal(last?.unit, 'items');
    assert.match(last?.detail ?? '', /read$/);
  });

  it('makes nothing without a listener', () => {
    const report = progressReporter({ output: 'x' }, 'read', 10);
    assert.doesNotThrow(() => report(5));
  });
});

describe('pacer', () => {
  it('yields to the event loop after every `every` bytes, and otherwise returns nothing to await', async () => {
    const pace = pacer(1000);
    assert.equal(pace(400), undefined);
    assert.equal(pace(500), undefined);
    const y = pace(200);
    assert.ok(y instanceof Promise, 'past 1000 bytes: a yield');
    let settled = false;
    void y?.then(() => (settled = true));
    for (let k = 0; k < 10; k++) await Promise.resolve();
    assert.equal(settled, false, 'not within the microtask queue: a turn of the event loop');
    await y;
    assert.ok(settled);
    assert.equal(pace(999), undefined, 'counting again from the yield');
    assert.ok(pace(1) instanceof Promise);
  });
});
