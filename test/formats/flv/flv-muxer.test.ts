import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decodeAmf0All, type AmfObject } from '../../../src/formats/flv/amf0.js';
import { planFlv } from '../../../src/formats/flv/flv-muxer.js';
import type { TrackInfo } from '../../../src/formats/media.js';
import { SampleTable } from '../../../src/formats/sample-table.js';

const avcC = Uint8Array.from([1, 0x64, 0, 0x1f, 0xff, 0xe0]);
const asc = Uint8Array.from([0x11, 0x90]);
const tracks: TrackInfo[] = [
  { id: 1, kind: 'video', codec: 'avc', timescale: 90000, config: avcC, width: 320, height: 240 },
  { id: 2, kind: 'audio', codec: 'aac', timescale: 48000, config: asc, sampleRate: 48000, channels: 2 },
];

/** Video at 25 fps with one B-frame reordering, audio at 1024 samples a frame, in input (chunk) order. */
function table(): SampleTable {
  const t = new SampleTable(16);
  // A chunk of audio first (as an MP4 may interleave), then video: the plan must sort them by time.
  for (let k = 0; k < 4; k++) t.add(2, k * 1024, 0, 1024, true, 10 + k, 1000 + k * 100, 0, 0);
  const cts = [3600, 7200, 0, 3600];
  for (let k = 0; k < 4; k++) t.add(1, k * 3600, cts[k]!, 3600, k === 0, 50 + k, k * 100, 0, 0);
  return t;
}

describe('planFlv', () => {
  it('orders tags by time, video first at equal times, and writes their headers', () => {
    const samples = table();
    const plan = planFlv(tracks, samples);
    // ms: video 0, 40, 80, 120; audio 0, 21, 43, 64.
    assert.deepEqual([...plan.order], [4, 0, 1, 5, 2, 3, 6, 7]);
    const v0 = plan.prefixOf(4);
    assert.deepEqual([...v0.subarray(0, 11)], [9, 0, 0, 5 + 50, 0, 0, 0, 0, 0, 0, 0]);
    assert.deepEqual([...v0.subarray(11)], [0x17, 1, 0, 0, 40], 'keyframe, NALU, cts 40 ms');
    const v2 = plan.prefixOf(6);
    assert.deepEqual([...v2.subarray(11)], [0x27, 1, 0, 0, 0], 'inter frame, cts 0');
    const a1 = plan.prefixOf(1);
    assert.deepEqual([...a1.subarray(4, 7)], [0, 0, 21], 'audio at 21 ms');
    assert.deepEqual([...a1.subarray(11)], [0xaf, 1]);
    assert.deepEqual([...plan.trailerOf(1)], [0, 0, 0, 11 + 2 + 11]);
  });

  it('sizes the file exactly and indexes the keyframes in onMetaData', () => {
    const samples = table();
    // Audio runs on to 256 ms, past the last video frame (160 ms).
    for (let k = 4; k < 12; k++) samples.add(2, k * 1024, 0, 1024, true, 10, 2000 + k * 10, 0, 0);
    const plan = planFlv(tracks, samples);
    let size = plan.head.length;
    for (const row of plan.order) {
      size += plan.prefixOf(row).length + (samples.size[row] as number) + plan.trailerOf(row).length;
    }
    assert.equal(plan.size, size);
    const metaSize =
      ((plan.head[14] as number) << 16) | ((plan.head[15] as number) << 8) | (plan.head[16] as number);
    const [, meta] = decodeAmf0All(plan.head.subarray(24, 24 + metaSize)) as [string, AmfObject];
    assert.equal(meta.filesize, size);
    assert.equal(meta.duration, 0.256, 'the last audio frame ends at 256 ms');
    assert.equal(meta.framerate, 25, "from the video's own span");
    assert.deepEqual(meta.keyframes, { times: [0], filepositions: [plan.head.length] });
    // The sequence headers follow onMetaData: AVC (0x17 0) then AAC (0xaf 0).
    const seq = plan.head.subarray(13 + 11 + metaSize + 4);
    assert.deepEqual([seq[0], seq[11], seq[12]], [9, 0x17, 0]);
    const audioSeq = seq.subarray(11 + 5 + avcC.length + 4);
    assert.deepEqual([audioSeq[0], audioSeq[11], audioSeq[12]], [8, 0xaf, 0]);
  });

  it('writes HEVC as enhanced RTMP with the hvc1 FourCC', () => {
    const hevc: TrackInfo[] = [{ id: 1, kind: 'video', codec: 'hevc', timescale: 1000, config: avcC }];
    const t = new SampleTable(2);
    t.add(1, 0, 0, 40, true, 10, 0, 0, 0);
    t.add(1, 40, -5, 40, false, 10, 10, 0, 0);
    const plan = planFlv(hevc, t);
    const p = plan.prefixOf(1);
    assert.deepEqual([...p.subarray(11)], [0xa1, 0x68, 0x76, 0x63, 0x31, 0xff, 0xff, 0xfb], 'inter, cts -5');
  });
});
