/** start: how fast `castkit --version` answers, against a bare `node -e 0`. */
import type { CaseResult, Suite } from '../lib/types.js';

/** The start-up target from the issue: `castkit --version` within 120 ms (median). */
export const START_TARGET_MS = 120;

export const startSuite: Suite = {
  name: 'start',
  description: `castkit --version vs node -e 0 (target: castkit median <= ${START_TARGET_MS} ms)`,
  requires: () => [],
  prepare: async (ctx) => [
    {
      name: 'version',
      castkit: [...ctx.castkit, '--version'],
      peer: { name: 'node', argv: [ctx.node, '-e', '0'] },
      validate: (stdout, tool) =>
        tool === 'castkit' && !/^\d+\.\d+\.\d+/.test(stdout.trim())
          ? `expected a version, got ${JSON.stringify(stdout.slice(0, 80))}`
          : undefined,
    },
  ],
  summarize: (results: CaseResult[]) =>
    results.map((r) => {
      const median = r.castkit.medianMs;
      const verdict = median <= START_TARGET_MS ? 'PASS' : 'FAIL';
      return `start/${r.case}: castkit median ${median.toFixed(1)} ms, target <= ${START_TARGET_MS} ms: ${verdict}`;
    }),
};
