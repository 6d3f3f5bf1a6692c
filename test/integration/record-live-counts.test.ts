/**
 * The counts a live recording reports are those of what it recorded: a recording stopped by --duration
 * used to lose the last batch of segments from `fetched` (the scheduler's result is not there when the
 * stop interrupts it), so the summary said "5 segments (4 fetched, 0 from the resume journal)".
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { record } from '../../src/api/record.js';
import { startLiveOrigin } from '../helpers/live-origin.js';
import { frameHashes } from '../helpers/media-check.js';
import { scratchDir } from '../helpers/scratch.js';
import { CLIP_FPS, streamFixture } from '../helpers/stream-fixtures.js';

const dir = scratchDir('castkit-live-counts-');
const FAST_RETRY = { baseMs: 20, capMs: 200, maxAttempts: 4 };

describe('record live: the summary counts', () => {
  for (const stop of ['duration', 'end'] as const) {
    it(`HLS live stopped by ${stop === 'duration' ? '--duration' : 'the end of the stream'}: segments and fetched are the segments in the output`, async () => {
      const fx = await streamFixture('hls-ts', { segmentSeconds: 1, seconds: 12 });
      const live = await startLiveOrigin(fx, { window: 6, initial: 3, speed: 4 });
      try {
        const out = join(dir, `${stop}.mp4`);
        const r = await record(live.url, {
          output: out,
          retry: FAST_RETRY,
          ...(stop === 'duration' ? { durationSec: 5 } : { fromStart: true }),
        });
        assert.equal(r.stoppedBy, stop);
        // One second, one GOP, one segment: the output's frames say how many segments it holds.
        const inOutput = (await frameHashes(out)).video.length / CLIP_FPS;
        assert.equal(r.segments, inOutput, `${r.segments} segments reported, ${inOutput} in the output`);
        assert.equal(r.fromJournal, 0);
        assert.equal(r.fetched, r.segments, `${r.fetched} fetched for ${r.segments} segments`);
        const requested = new Set(
          live.origin.requests.filter((q) => q.path.endsWith('.ts')).map((q) => q.path),
        );
        if (stop === 'end')
          assert.equal(requested.size, r.segments, 'every segment requested is in the output');
        else assert.ok(requested.size >= r.segments, 'segments in flight at the stop are not counted');
      } finally {
        await live.close();
      }
    });
  }
});
