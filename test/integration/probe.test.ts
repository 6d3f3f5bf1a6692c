import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { probe } from '../../src/api/probe.js';
import { InputError, NetworkError } from '../../src/core/errors.js';
import { parseRational } from '../../src/core/time.js';
import { FIXTURES, fixture, tools } from '../helpers/fixtures.js';
import { startOrigin, type Origin } from '../helpers/http-origin.js';

const run = promisify(execFile);

interface RawStream {
  codec_type: string;
  codec_name: string;
  width?: number;
  height?: number;
  avg_frame_rate?: string;
  r_frame_rate?: string;
  sample_rate?: string;
  channels?: number;
}

async function rawFfprobe(path: string): Promise<{ format: { duration: string }; streams: RawStream[] }> {
  const { stdout } = await run(tools().ffprobe.path, [
    '-v',
    'error',
    '-show_format',
    '-show_streams',
    '-of',
    'json',
    path,
  ]);
  return JSON.parse(stdout) as { format: { duration: string }; streams: RawStream[] };
}

describe('probe agrees with ffprobe on every generated fixture', () => {
  for (const name of Object.keys(FIXTURES)) {
    it(name, async () => {
      const path = await fixture(name);
      const [ours, raw] = await Promise.all([probe(path), rawFfprobe(path)]);
      assert.ok(
        Math.abs((ours.format.duration ?? NaN) - Number(raw.format.duration)) < 0.001,
        'duration within 1 ms',
      );
      assert.equal(ours.streams.length, raw.streams.length, 'stream count');
      raw.streams.forEach((r, i) => {
        const s = ours.streams[i];
        assert.ok(s, `stream ${i}`);
        assert.equal(s.codec, r.codec_name);
        assert.equal(s.type, r.codec_type);
        assert.equal(s.width, r.width);
        assert.equal(s.height, r.height);
        if (r.codec_type === 'video') {
          const fps = parseRational(r.avg_frame_rate) ?? parseRational(r.r_frame_rate);
          assert.ok(
            fps !== undefined && Math.abs((s.frameRate ?? NaN) - fps) < 0.001,
            `frame rate ${s.frameRate} vs ${fps}`,
          );
        }
        if (r.codec_type === 'audio') {
          assert.equal(s.sampleRate, Number(r.sample_rate));
          assert.equal(s.channels, r.channels);
        }
      });
    });
  }

  it('reports what the fixtures were made with', async () => {
    const av = await probe(await fixture('h264-aac.mp4'));
    assert.ok(Math.abs((av.format.duration ?? 0) - 2) < 0.1);
    assert.deepEqual(
      av.streams.map((s) => [
        s.type,
        s.codec,
        s.width,
        s.height,
        s.frameRate,
        s.sampleRate,
        s.channels,
        s.language,
      ]),
      [
        ['video', 'h264', 320, 240, 30, undefined, undefined, undefined],
        ['audio', 'aac', undefined, undefined, undefined, 48000, 2, 'eng'],
      ],
    );
    const hevc = await probe(await fixture('hevc-aac.mp4'));
    assert.equal(hevc.streams[0]?.codec, 'hevc');
    const m4a = await probe(await fixture('audio.m4a'));
    assert.deepEqual(
      m4a.streams.map((s) => [s.type, s.sampleRate]),
      [['audio', 44100]],
    );
    const mkv = await probe(await fixture('subs.mkv'));
    assert.deepEqual(
      mkv.streams.map((s) => s.type),
      ['video', 'audio', 'subtitle'],
    );
    assert.equal(mkv.streams[2]?.language, 'fre');
    assert.equal(mkv.format.name, 'matroska,webm');
  });
});

describe('probe over http from a local origin', () => {
  let origin: Origin;
  before(async () => {
    origin = await startOrigin();
    origin.route('/clip.mp4', { file: await fixture('h264-aac.mp4'), type: 'video/mp4' });
    origin.route('/page.html', {
      body: '<!doctype html><title>not media</title><p>hello</p>',
      type: 'text/html',
    });
  });
  after(() => origin.close());

  it('probes an http URL', async () => {
    const info = await probe(origin.url('/clip.mp4'));
    assert.equal(info.input, origin.url('/clip.mp4'));
    assert.equal(info.streams[0]?.width, 320);
  });

  it('names the URL on a 404', async () => {
    await assert.rejects(probe(origin.url('/missing.mp4')), (err: unknown) => {
      assert.ok(err instanceof NetworkError);
      assert.equal(err.code, 'E_HTTP_STATUS');
      assert.equal(err.details.status, 404);
      assert.equal(err.retryable, false);
      assert.ok(err.message.includes(origin.url('/missing.mp4')));
      return true;
    });
  });

  it('says an HTML page is not media', async () => {
    await assert.rejects(probe(origin.url('/page.html')), (err: unknown) => {
      assert.ok(err instanceof InputError);
      assert.equal(err.code, 'E_NOT_MEDIA');
      return true;
    });
  });
});
