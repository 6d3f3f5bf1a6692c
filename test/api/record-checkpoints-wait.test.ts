/**
 * RecordCheckpoints.keep(): a segment kept by a checkpoint of the MP4 sink is written to checkpoints.bin,
 * order.jsonl and journal.jsonl only once the output's bytes up to it are in the file. While the
 * recording has the next segment to go on with, the checkpoint waits for them instead of flushing the
 * output; otherwise, and past MAX_WAITING segments, the output is flushed and everything written at once.
 */
import assert from 'node:assert/strict';
import { readFileSync, rmSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { after, describe, it } from 'node:test';
import { RecordCheckpoints } from '../../src/api/record-checkpoints.js';
import { CommitLog } from '../../src/api/record-order.js';
import { Mp4RecordSink } from '../../src/api/record-sink.js';
import { CheckpointLog } from '../../src/download/checkpoint-log.js';
import { SegmentJournal } from '../../src/download/journal.js';
import { scratchDir } from '../helpers/scratch.js';
import { mediaPlaylistOf, streamFixture } from '../helpers/stream-fixtures.js';

const dir = scratchDir('castkit-cp-wait-');
after(() => rmSync(dir, { recursive: true, force: true }));

/** Lines of journal.jsonl that say a segment is kept by a checkpoint. */
const marks = (journalDir: string): number =>
  readFileSync(join(journalDir, 'journal.jsonl'), 'utf8')
    .split('\n')
    .filter((l) => l.includes('"cp"')).length;

describe('RecordCheckpoints: checkpoints wait for the output', () => {
  it('kept once the output holds their bytes: waiting while the next segment is there, at once when it is not', async () => {
    const fx = await streamFixture('hls-ts');
    const playlist = join(fx.dir, mediaPlaylistOf(fx));
    const files = readFileSync(playlist, 'utf8')
      .split('\n')
      .filter((l) => l.trim() !== '' && !l.startsWith('#'));
    // The stream cut into 24 pieces (a TS demuxer takes its bytes cut anywhere): small segments, whose
    // payloads fill no 1 MB block of the output.
    const all = Buffer.concat(files.map((l) => readFileSync(join(dirname(playlist), l.trim()))));
    const size = Math.ceil(all.length / 24);
    const segments = Array.from({ length: 24 }, (_, i) => all.subarray(i * size, (i + 1) * size));
    const seconds = (fx.segmentSeconds * files.length) / segments.length;
    assert.ok(size < 1 << 20);
    const journal = await SegmentJournal.open(join(dir, 'j'));
    const order = CommitLog.in(journal.dir);
    const checkpoints = await RecordCheckpoints.open(journal);
    const sink = await Mp4RecordSink.create(join(dir, 'out.mp4'), {
      expectedSec: seconds * segments.length,
    });
    /** Every checkpoint written so far names a length the temporary file has. */
    const written = (): number => {
      const log = readFileSync(join(journal.dir, 'checkpoints.bin'));
      return log.length === 0 ? 0 : statSync(sink.tempPath).size;
    };
    const keep = async (i: number, nextReady: boolean): Promise<void> => {
      const bytes = segments[i] as Buffer;
      await sink.addSegment('main', bytes, { name: `s${i}`, duration: seconds, discontinuity: false });
      await checkpoints.keep(
        sink,
        { key: `s${i}`, stream: 'main', kind: 'media' },
        bytes,
        journal,
        order,
        nextReady,
      );
      const log = await CheckpointLog.open(journal.dir);
      for (const r of log.records as { sink: { length: number } }[])
        assert.ok(r.sink.length <= written(), `segment ${i}: a checkpoint of bytes the file does not hold`);
      await log.close();
    };

    // The first segment sizes the room for the moov and is the first that can be checkpointed. Its
    // payloads (well under the output's 1 MB blocks) are gathered, not written: its checkpoint waits.
    await keep(0, true);
    assert.ok(sink.payloadWritten < sink.bytesWritten, 'the payloads are not written yet');
    assert.equal(checkpoints.count, 0, 'no checkpoint before its bytes are written');
    assert.equal(order.length, 0);
    assert.equal(marks(journal.dir), 0);

    // The next segment is not there yet: the output is flushed, and both are kept.
    await keep(1, false);
    assert.equal(sink.payloadWritten, sink.bytesWritten);
    assert.equal(checkpoints.count, 2);
    assert.equal(order.length, 2);
    assert.equal(marks(journal.dir), 2);

    // Waiting while the next segment is there, up to MAX_WAITING (8) of them.
    for (let i = 2; i < 10; i++) await keep(i, true);
    assert.ok(checkpoints.count < 10, `waiting (${checkpoints.count} kept)`);
    await keep(10, true);
    assert.equal(checkpoints.count, 11, 'no more than 8 wait: the ninth has them all written');
    for (let i = 11; i < 14; i++) await keep(i, true);

    // Before the order log takes anything else, or the sink is finished: everything is kept.
    await checkpoints.settle();
    const given = 14;
    assert.equal(checkpoints.count, given);
    assert.equal(order.length, given);
    assert.equal(marks(journal.dir), given);
    const items = (await CommitLog.in(journal.dir).read()).map((x) => x.key);
    assert.deepEqual(
      items,
      Array.from({ length: given }, (_, i) => `s${i}`),
      'in their order',
    );
    await sink.abort();
    await checkpoints.close();
    await order.close();
    await journal.close();
  });
});
