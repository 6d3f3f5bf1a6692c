import assert from 'node:assert/strict';
import { readFileSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { after, describe, it } from 'node:test';
import { Mp4RecordSink } from '../../src/api/record-sink.js';
import { scratchDir } from '../helpers/scratch.js';
import { streamFixture } from '../helpers/stream-fixtures.js';

const dir = scratchDir('castkit-sink-release-');
after(() => rmSync(dir, { recursive: true, force: true }));

/** The init section and media segments of the hls-fmp4 fixture's best rendition, in order. */
async function fmp4Segments(): Promise<{ init: Buffer; segments: Buffer[]; seconds: number }> {
  const fx = await streamFixture('hls-fmp4');
  const playlist = join(fx.dir, 'hi', 'index.m3u8');
  const lines = readFileSync(playlist, 'utf8').split('\n');
  const at = (name: string): Buffer => readFileSync(join(dirname(playlist), name));
  const map = /URI="([^"]+)"/.exec(lines.find((l) => l.startsWith('#EXT-X-MAP')) ?? '')?.[1];
  assert.ok(map, 'an fMP4 playlist with EXT-X-MAP');
  const segments = lines.filter((l) => l.trim() !== '' && !l.startsWith('#')).map((l) => at(l.trim()));
  return { init: at(map), segments, seconds: fx.segmentSeconds };
}

describe('Mp4RecordSink.releasesSegments', () => {
  it('hands back fMP4 segments no sample points into any more; what the caller then writes there is not in the MP4', async () => {
    const { init, segments, seconds } = await fmp4Segments();
    assert.ok(segments.length >= 8, `${segments.length} segments`);
    const record = async (poison: boolean): Promise<{ out: Buffer; released: number }> => {
      const out = join(dir, poison ? 'poisoned.mp4' : 'plain.mp4');
      const sink = await Mp4RecordSink.create(out, { expectedSec: segments.length * seconds });
      const initCopy = Buffer.from(init);
      await sink.setInit('main', initCopy);
      if (poison) initCopy.fill(0x55); // copied by the sink
      const given: Buffer[] = [];
      let released = 0;
      for (const [i, seg] of segments.entries()) {
        const bytes = Buffer.from(seg); // memory of the caller's, as the scheduler's
        given.push(bytes);
        await sink.addSegment('main', bytes, { name: `seg${i}`, duration: seconds });
        const r = sink.releasesSegments();
        if (typeof r === 'boolean') {
          assert.equal(r, false, 'fMP4 runs keep their input: never the segment just given');
          continue;
        }
        for (const b of r) {
          const k = given.indexOf(b as Buffer);
          assert.ok(
            k >= 0 && k <= i - 3,
            `segment ${k} handed back after segment ${i}: not one of the last 3`,
          );
          released++;
          if (poison) b.fill(0xaa); // the scheduler puts the next segment there
        }
      }
      await sink.finish();
      return { out: readFileSync(out), released };
    };
    const plain = await record(false);
    const poisoned = await record(true);
    assert.ok(plain.released >= segments.length - 4, `${plain.released} of ${segments.length} handed back`);
    assert.ok(
      poisoned.out.equals(plain.out),
      'the MP4 is the same whatever becomes of the memory handed back',
    );
  });
});
