import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { after, it } from 'node:test';
import { SegmentJournal } from '../../src/download/journal.js';
import { downloadSegments } from '../../src/download/scheduler.js';
import { collector, startSegmentOrigin } from './segment-origin.js';
import { scratchDir } from '../helpers/scratch.js';

const root = scratchDir('castkit-kill-');
after(() => rmSync(root, { recursive: true, force: true }));
const CHILD = fileURLToPath(new URL('./resume-child.js', import.meta.url));

it('kill -9 mid-download, run again: completed segments are not fetched twice, bytes identical', async () => {
  const so = await startSegmentOrigin(80, 32 * 1024);
  so.origin.latency(() => 15);
  const dir = join(root, 'out.ts.castkit-journal');
  try {
    const child = spawn(process.execPath, [CHILD, dir, JSON.stringify(so.segments)], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const exited = new Promise<NodeJS.Signals | number | null>((resolve) =>
      child.on('exit', (code, signal) => resolve(signal ?? code)),
    );
    const watchdog = setTimeout(() => child.kill('SIGKILL'), 15_000);
    let committed = 0;
    for await (const line of createInterface({ input: child.stdout })) {
      if (line.startsWith('committed ') && ++committed === 25) child.kill('SIGKILL');
      if (line === 'finished') break;
    }
    clearTimeout(watchdog);
    assert.equal(await exited, 'SIGKILL', 'the child was killed, not finished');
    const requestedByChild = new Set(so.origin.requests.map((r) => r.path));
    assert.ok(requestedByChild.size < 80, 'killed mid-run');

    const before = so.origin.requests.length;
    const journal = await SegmentJournal.open(dir, { identity: 'kill-test' });
    const done = new Set(journal.keys());
    assert.ok(done.size >= 25, `${done.size} segments journaled by the killed run`);
    const out = collector();
    const res = await downloadSegments(so.segments, { concurrency: 8, journal, onSegment: out.onSegment });
    await journal.remove();

    const again = so.origin.requests.slice(before).map((r) => r.path);
    assert.equal(new Set(again).size, again.length, 'nothing fetched twice by the resumed run');
    for (const [i, s] of so.segments.entries()) {
      if (done.has(s.key)) assert.ok(!again.includes(so.path(i)), `${s.key} was completed and fetched again`);
    }
    assert.equal(res.fromJournal, done.size);
    assert.equal(res.fetched, 80 - done.size);
    assert.deepEqual(
      out.keys,
      so.segments.map((s) => s.key),
    );
    assert.ok(out.joined().equals(Buffer.concat(so.bodies)), 'same bytes as an uninterrupted run');
  } finally {
    await so.close();
  }
});
