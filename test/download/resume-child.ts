/**
 * Run by resume-kill.test.ts as a separate process, to be killed with SIGKILL mid-download:
 *   node resume-child.js <journal dir> <segments as JSON>
 * Prints "committed <key>" for each segment handed over in order.
 */
import { SegmentJournal } from '../../src/download/journal.js';
import { downloadSegments, type Segment } from '../../src/download/scheduler.js';

const [dir, list] = process.argv.slice(2);
if (!dir || !list) throw new Error('usage: resume-child <journal dir> <segments json>');
const segments = JSON.parse(list) as Segment[];
const journal = await SegmentJournal.open(dir, { identity: 'kill-test' });
await downloadSegments(segments, {
  concurrency: 4,
  journal,
  retry: { baseMs: 5, capMs: 50 },
  onSegment: (key) => {
    process.stdout.write(`committed ${key}\n`);
  },
});
await journal.close();
process.stdout.write('finished\n');
