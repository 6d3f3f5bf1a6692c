import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { describe, it } from 'node:test';
import { optimizeLater, type JitContext } from '../../src/cli/jit.js';

function context(over: Partial<JitContext> = {}): { ctx: JitContext; set: string[] } {
  const set: string[] = [];
  return {
    set,
    ctx: { env: {}, execArgv: [], v8Version: '11.3.244.8-node.38', setFlags: (f) => set.push(f), ...over },
  };
}

describe('optimizeLater', () => {
  it('defers optimization on Node 20 and puts the default back once', () => {
    const { ctx, set } = context();
    const restore = optimizeLater(ctx);
    assert.deepEqual(set, ['--ticks-before-optimization=40']);
    restore();
    restore();
    assert.deepEqual(set, ['--ticks-before-optimization=40', '--ticks-before-optimization=3']);
  });

  it('leaves another V8, and a flag the user set, alone', () => {
    for (const over of [
      { v8Version: '12.4.254.21-node.33' },
      { env: { NODE_OPTIONS: '--max-old-space-size=4096 --ticks_before_optimization=5' } },
      { execArgv: ['--ticks-before-optimization=2'] },
    ]) {
      const { ctx, set } = context(over);
      optimizeLater(ctx)();
      assert.deepEqual(set, [], JSON.stringify(over));
    }
  });

  it('sets flags that this V8 knows', () => {
    // V8 prints "unrecognized flag" (on its own stderr, not process.stderr) and changes nothing otherwise.
    const jit = new URL('../../src/cli/jit.js', import.meta.url).href;
    const r = spawnSync(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        `const { optimizeLater } = await import(${JSON.stringify(jit)}); optimizeLater()();`,
      ],
      { encoding: 'utf8' },
    );
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stderr, '');
  });
});
