import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { demuxIsobmff, IsobmffDemuxer, sniffIsobmff } from '../../../src/formats/isobmff/isobmff-demuxer.js';
import { fixture } from '../../helpers/fixtures.js';
import { asPackets, demuxChunked, ffprobePackets } from './isobmff-helpers.js';

const FIXTURES = ['h264-aac.mp4', 'h264-aac.fmp4', 'hevc-aac.mp4', 'audio.m4a'];

describe('IsobmffDemuxer agrees with ffprobe -show_packets', () => {
  for (const name of FIXTURES) {
    it(name, async () => {
      const path = await fixture(name);
      const data = readFileSync(path);
      assert.ok(sniffIsobmff(data.subarray(0, 16)));
      // Odd-sized chunks: box headers, moov and moof straddle chunk boundaries everywhere.
      const d = demuxChunked(data, 997);
      assert.deepEqual(d.warnings, []);
      const whole = demuxIsobmff(data);
      assert.deepEqual(d.samples, whole.samples, 'chunking changes nothing');
      const tiny = demuxChunked(data, 7);
      assert.deepEqual(tiny.samples, whole.samples);

      const probe = await ffprobePackets(path);
      const ours = asPackets(d);
      assert.equal(ours.length, probe.length, 'track count');
      for (let k = 0; k < probe.length; k++) {
        const theirs = probe[k] ?? [];
        const mine = ours[k] ?? [];
        assert.equal(mine.length, theirs.length, `stream ${k} packet count`);
        assert.deepEqual(mine, theirs, `stream ${k} packets`);
      }
      // Payload order: the samples come out in file order, each inside the input.
      let last = -1;
      for (const s of d.samples) {
        assert.ok((s.offset as number) > last && (s.offset as number) + s.size <= data.length);
        last = s.offset as number;
      }
    });
  }

  it('reports the tracks: codec, config, dimensions, audio format, language, edit list', async () => {
    const d = demuxIsobmff(readFileSync(await fixture('h264-aac.mp4')));
    const [v, a] = d.tracks as [(typeof d.tracks)[0], (typeof d.tracks)[0]];
    assert.equal(v.kind, 'video');
    assert.equal(v.codec, 'avc');
    assert.equal(v.width, 320);
    assert.equal(v.height, 240);
    assert.equal(v.timescale, 15360);
    assert.equal(v.config[0], 1, 'avcC configurationVersion');
    assert.equal(a.kind, 'audio');
    assert.equal(a.codec, 'aac');
    assert.equal(a.sampleRate, 48000);
    assert.equal(a.channels, 2);
    assert.equal(a.language, 'eng');
    assert.equal(a.config.length, 5, 'AudioSpecificConfig from the DecoderSpecificInfo');
    assert.equal((a.config[0] as number) >> 3, 2, 'AAC LC');
    const edits = d.tracks.map((t) => (t as { edit?: { mediaTime: number } }).edit?.mediaTime);
    assert.deepEqual(edits, [1024, 1024], 'B-frame delay and AAC priming');

    const h = demuxIsobmff(readFileSync(await fixture('hevc-aac.mp4')));
    assert.equal(h.tracks[0]?.codec, 'hevc');
    assert.equal(h.tracks[0]?.config[0], 1, 'hvcC configurationVersion');
  });
});

describe('IsobmffDemuxer read hints', () => {
  it('wanted() asks for the rest of a box header or of a moof, and skippable() for mdat bodies', async () => {
    const data = readFileSync(await fixture('h264-aac.fmp4'));
    const d = new IsobmffDemuxer();
    assert.equal(d.wanted(), 8, 'a box header first');
    // Feed a reader that reads only what it is asked for (at least one byte) and skips what it may.
    let pos = 0;
    let read = 0;
    let samples = 0;
    while (pos < data.length) {
      const skip = d.skippable();
      if (skip > 0) {
        samples += d.skipAhead(Math.min(skip, data.length - pos)).samples.length;
        pos += Math.min(skip, data.length - pos);
        continue;
      }
      const n = Math.max(1, d.wanted());
      samples += d.push(data.subarray(pos, pos + n)).samples.length;
      pos += n;
      read += n;
    }
    samples += d.end().samples.length;
    assert.equal(samples, demuxIsobmff(data).samples.length, 'every sample, as from the whole file');
    assert.ok(read < data.length / 10, `read ${read} of ${data.length} bytes: the mdat bodies were skipped`);
  });
});
