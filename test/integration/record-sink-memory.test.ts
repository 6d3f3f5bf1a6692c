/**
 * The recording sinks keep nothing that points into the memory a segment was given in: the download
 * engine reuses that memory for the next segments once the sink says it released it. Buffers are what
 * the engine gives, and Buffer's slice() is a view, not a copy (a kept init segment once was one).
 */
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { Mp4RecordSink } from '../../src/api/record-sink.js';
import { packets } from '../helpers/media-check.js';
import { streamFixture } from '../helpers/stream-fixtures.js';
import { scratchDir } from '../helpers/scratch.js';

const dir = scratchDir('castkit-sink-memory-');

describe('recording sinks and reused memory', () => {
  it('an fMP4 init segment given in memory that is then overwritten still opens every run', async () => {
    const fx = await streamFixture('hls-fmp4');
    const hi = join(fx.dir, 'hi');
    const segments = readdirSync(hi)
      .filter((f) => f.endsWith('.m4s'))
      .sort();
    const out = join(dir, 'out.mp4');
    const sink = await Mp4RecordSink.create(out, { expectedSec: 20 });
    // One memory for every piece, as the engine reuses it: each is overwritten once the sink has it.
    const memory = Buffer.alloc(4 << 20);
    const give = (file: string): Buffer => {
      const bytes = readFileSync(join(hi, file));
      bytes.copy(memory);
      return memory.subarray(0, bytes.length);
    };
    await sink.setInit('main', give('init.mp4'));
    memory.fill(0);
    for (const [i, s] of segments.entries()) {
      const bytes = Buffer.from(give(s)); // fMP4 payloads are views of their segment: not reused here
      // A discontinuity starts a new demuxer run, which begins with the init segment kept earlier.
      await sink.addSegment('main', bytes, { name: s, duration: 2, discontinuity: i === 2 });
      memory.fill(0);
    }
    const r = await sink.finish();
    assert.equal(r.tracks.length, 2);
    const pk = await packets(out);
    assert.equal(pk.filter((p) => p.type === 'video').length, 20 * 25, 'every video frame');
  });
});
