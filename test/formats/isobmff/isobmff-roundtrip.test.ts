/**
 * Round trips through real files checked by ffmpeg: demux -> planMp4 (or the fMP4 writer) -> head +
 * payload ranges copied from the input + tail; a clean decode, the same decoded frames (framemd5) and the
 * same packets as the source.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { demuxIsobmff } from '../../../src/formats/isobmff/isobmff-demuxer.js';
import {
  fragmentAtKeyframes,
  writeFragment,
  writeInitSegment,
} from '../../../src/formats/isobmff/isobmff-fmp4-writer.js';
import { readBoxes } from '../../../src/formats/isobmff/isobmff-boxes.js';
import { planMp4 } from '../../../src/formats/isobmff/isobmff-mp4-writer.js';
import type { Sample } from '../../../src/formats/media.js';
import { SampleTable } from '../../../src/formats/sample-table.js';
import { fixture } from '../../helpers/fixtures.js';
import {
  asPackets,
  decodeErrors,
  demuxChunked,
  ffprobePackets,
  framemd5,
  tempPath,
  writeFile,
} from './isobmff-helpers.js';

async function checkSame(src: string, out: string): Promise<void> {
  assert.equal(await decodeErrors(out), '', 'ffmpeg -v error decodes the output silently');
  assert.equal(await framemd5(out), await framemd5(src), 'framemd5 of output equals the source');
  const [a, b] = await Promise.all([ffprobePackets(src), ffprobePackets(out)]);
  assert.deepEqual(
    b.map((s) => s.length),
    a.map((s) => s.length),
    'packet counts per stream',
  );
}

function toMp4(srcPath: string, out: string, faststart: boolean): Uint8Array {
  const src = readFileSync(srcPath);
  const d = demuxIsobmff(src);
  assert.deepEqual(d.warnings, []);
  const plan = planMp4(d.tracks, SampleTable.from(d.samples), { faststart });
  let payload = 0;
  for (const s of d.samples) payload += s.size;
  assert.equal(plan.payloadSize, payload);
  writeFile(out, [plan.head, d.samples, plan.tail], src);
  return readFileSync(out);
}

describe('MP4 -> planMp4 -> MP4', () => {
  for (const name of ['h264-aac.mp4', 'hevc-aac.mp4', 'audio.m4a']) {
    it(`${name} (faststart)`, async () => {
      const src = await fixture(name);
      const out = tempPath(`rt-${name}.mp4`);
      const bytes = toMp4(src, out, true);
      const top = readBoxes(bytes, 0, bytes.length).map((b) => b.type);
      assert.deepEqual(top, ['ftyp', 'moov', 'mdat']);
      await checkSame(src, out);
      // The faststart output streams: every sample comes out once its bytes are in, never before.
      const again = demuxChunked(bytes, 1001);
      const orig = demuxIsobmff(readFileSync(src));
      assert.deepEqual(
        again.samples.map((s) => [s.trackId, s.dts, s.cts, s.size, s.keyframe]),
        orig.samples.map((s) => [s.trackId, s.dts, s.cts, s.size, s.keyframe]),
      );
      assert.deepEqual(
        again.tracks.map((t) => t.edit),
        orig.tracks.map((t) => t.edit),
        'edit lists kept',
      );
    });
  }

  it('h264-aac.mp4 with faststart: false puts the moov after the mdat', async () => {
    const src = await fixture('h264-aac.mp4');
    const out = tempPath('rt-tail.mp4');
    const bytes = toMp4(src, out, false);
    assert.deepEqual(
      readBoxes(bytes, 0, bytes.length).map((b) => b.type),
      ['ftyp', 'mdat', 'moov'],
    );
    await checkSame(src, out);
  });

  it('video-only and audio-only subsets of an A/V file', async () => {
    const srcPath = await fixture('h264-aac.mp4');
    const src = readFileSync(srcPath);
    const d = demuxIsobmff(src);
    for (const kind of ['video', 'audio'] as const) {
      const track = d.tracks.find((t) => t.kind === kind);
      assert.ok(track);
      const samples = d.samples.filter((s) => s.trackId === track.id);
      const plan = planMp4([track], SampleTable.from(samples));
      const out = tempPath(`only-${kind}.mp4`);
      writeFile(out, [plan.head, samples, plan.tail], src);
      assert.equal(await decodeErrors(out), '');
      const probe = await ffprobePackets(out);
      assert.equal(probe.length, 1);
      const expected = asPackets({ tracks: [track], samples, warnings: [] })[0];
      assert.deepEqual(probe[0], expected);
    }
  });
});

describe('fMP4 -> planMp4 -> MP4', () => {
  it('h264-aac.fmp4', async () => {
    const src = await fixture('h264-aac.fmp4');
    const out = tempPath('frag-to-mp4.mp4');
    toMp4(src, out, true);
    // No edit list in the source: the writer adds one delaying the video by its B-frame offset, exactly
    // as the fMP4 presents it (ffmpeg does the same), so the decoded frames and their times are equal.
    await checkSame(src, out);
  });
});

describe('MP4 -> writeInitSegment + fragmentAtKeyframes + writeFragment -> fMP4', () => {
  for (const name of ['h264-aac.mp4', 'hevc-aac.mp4', 'audio.m4a']) {
    it(name, async () => {
      const srcPath = await fixture(name);
      const src = readFileSync(srcPath);
      const d = demuxIsobmff(src);
      const fragments = fragmentAtKeyframes(d.samples, { tracks: d.tracks });
      const parts: (Uint8Array | Sample[])[] = [writeInitSegment(d.tracks)];
      fragments.forEach((f, i) => {
        parts.push(writeFragment(i + 1, f));
        for (const t of f) parts.push([...t.samples]);
      });
      const out = tempPath(`frag-${name}.mp4`);
      writeFile(out, parts, src);
      if (name !== 'audio.m4a') {
        const keyframes = d.samples.filter((s) => s.trackId === 1 && s.keyframe).length;
        assert.equal(fragments.length, keyframes, 'one fragment per video keyframe');
      }
      for (const f of fragments) {
        const video = f.find((t) => d.tracks[t.trackId - 1]?.kind === 'video');
        if (video) assert.ok(video.samples[0]?.keyframe, 'fragments start at a keyframe');
      }

      assert.equal(await decodeErrors(out), '');
      // Same packets (timestamps through the init segment's edit list, sizes, keyframes) as the source.
      const [a, b] = await Promise.all([ffprobePackets(srcPath), ffprobePackets(out)]);
      assert.deepEqual(b, a);
      // ffmpeg 5.1 applies an fMP4 edit list as a timestamp shift but does not turn it into AAC priming
      // removal (skip_samples), so compare the decoded frames on the raw media timeline of both files.
      const raw = ['-ignore_editlist', '1'];
      assert.equal(await framemd5(out, raw), await framemd5(srcPath, raw));
      // And our own demuxer reads our fragments back to the same samples.
      const back = demuxChunked(readFileSync(out), 999);
      assert.deepEqual(back.warnings, []);
      const key = (s: Sample): string =>
        `${s.trackId}/${s.dts}/${s.cts}/${s.size}/${s.keyframe}/${s.duration}`;
      const sorted = (x: Sample[]): string[] => x.map(key).sort();
      assert.deepEqual(sorted(back.samples), sorted(d.samples));
    });
  }

  it('fragmentAtKeyframes honours minDuration and cuts audio-only input by time', async () => {
    const d = demuxIsobmff(readFileSync(await fixture('h264-aac.mp4')));
    const every = fragmentAtKeyframes(d.samples, { tracks: d.tracks });
    const long = fragmentAtKeyframes(d.samples, { tracks: d.tracks, minDuration: 10 });
    assert.equal(every.length, 2, 'a keyframe every 30 frames in 2 s');
    assert.equal(long.length, 1);
    const total = (fs: typeof every): number =>
      fs.reduce((n, f) => n + f.reduce((m, t) => m + t.samples.length, 0), 0);
    assert.equal(total(every), d.samples.length);
    assert.equal(total(long), d.samples.length);
    // Every track's endDts is the next fragment's first dts of that track.
    const v0 = every[0]?.find((t) => t.trackId === 1);
    const v1 = every[1]?.find((t) => t.trackId === 1);
    assert.equal(v0?.endDts, v1?.samples[0]?.dts);

    const a = demuxIsobmff(readFileSync(await fixture('audio.m4a')));
    const byTime = fragmentAtKeyframes(a.samples, { tracks: a.tracks, minDuration: 0.5 });
    assert.equal(byTime.length, 4, '2 s of audio in 0.5 s fragments');
  });
});
