import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  evaluateCapabilities,
  parseDevices,
  parseEncoders,
  parseProtocols,
  parseVersion,
} from '../../src/ffmpeg/capabilities.js';
import { mapFfprobe } from '../../src/ffmpeg/probe-map.js';
import { ProgressParser, toProgressEvent } from '../../src/ffmpeg/progress.js';
import { StderrTail } from '../../src/ffmpeg/stderr.js';

const BLOCK = (us: number, speed: string, end = false): string =>
  [
    'frame=60',
    'fps=120.5',
    'bitrate= 512.3kbits/s',
    'total_size=131072',
    `out_time_us=${us}`,
    `out_time_ms=${us}`,
    'out_time=00:00:02.000000',
    'dup_frames=0',
    `speed=${speed}`,
    `progress=${end ? 'end' : 'continue'}`,
  ].join('\n') + '\n';

describe('ProgressParser', () => {
  it('turns -progress blocks into events with percent and ETA', () => {
    const p = new ProgressParser(10);
    const text = BLOCK(2_000_000, '2x') + BLOCK(10_000_000, '2.5x', true);
    // Feed in awkward pieces: events must not depend on chunk boundaries.
    const events = [text.slice(0, 7), text.slice(7, 150), text.slice(150)].flatMap((c) => p.push(c));
    assert.equal(events.length, 2);
    assert.deepEqual(events[0], {
      done: false,
      frame: 60,
      fps: 120.5,
      outTimeSec: 2,
      totalSize: 131072,
      bitrateKbps: 512.3,
      speed: 2,
      percent: 20,
      etaSec: 4,
    });
    assert.equal(events[1]?.done, true);
    assert.equal(events[1]?.percent, 100);
    assert.equal(events[1]?.etaSec, 0);
  });

  it('handles N/A values and unknown durations', () => {
    const p = new ProgressParser();
    const [ev] = p.push('out_time_us=N/A\nout_time=N/A\nspeed=N/A\nprogress=continue\n');
    assert.deepEqual(ev, { done: false });
    const generic = toProgressEvent('encode', { done: false, outTimeSec: 3, speed: 1.5, etaSec: 2 }, 9);
    assert.deepEqual(generic, { phase: 'encode', done: 3, total: 9, unit: 'seconds', rate: 1.5, etaSec: 2 });
  });
});

describe('StderrTail', () => {
  it('keeps the last lines in bounded memory and picks meaningful ones', () => {
    const t = new StderrTail(5);
    t.push('ffmpeg version 5.1 Copyright\n  configuration: --enable-x\nInput #0, lavfi\n');
    for (let i = 0; i < 10; i++) t.push(`frame=${i} fps=0\r`);
    t.push('[mp4 @ 0x1] moov atom not found\nx.mp4: Invalid data found when processing input\n');
    assert.equal(t.all().length, 5);
    assert.deepEqual(t.meaningful(), [
      '[mp4 @ 0x1] moov atom not found',
      'x.mp4: Invalid data found when processing input',
    ]);
  });
});

describe('capability parsers', () => {
  const encoders = ` V..... = Video\n ------\n V....D libx264              libx264 H.264\n A....D aac                  AAC\n`;
  const protocols =
    'Supported file protocols:\nInput:\n  file\n  rtmp\nOutput:\n  file\n  rtmp\n  rtmps\n  tls\n';
  const devices =
    'Devices:\n D. = Demuxing supported\n .E = Muxing supported\n --\n DE alsa            ALSA\n  E caca            caca\n DE video4linux2,v4l2 V4L2\n D  x11grab         X11\n';

  it('read encoders, protocols and devices', () => {
    assert.deepEqual([...parseEncoders(encoders)], ['libx264', 'aac']);
    const p = parseProtocols(protocols);
    assert.ok(p.output.has('rtmps') && p.input.has('rtmp') && !p.input.has('tls'));
    const d = parseDevices(devices);
    assert.ok(d.demux.has('v4l2') && d.demux.has('video4linux2') && d.demux.has('x11grab'));
    assert.ok(!d.demux.has('caca') && d.mux.has('caca'));
    assert.equal(parseVersion('ffmpeg version 5.1.9-0+deb12u1 Copyright (c)'), '5.1.9-0+deb12u1');
  });

  it('evaluate what castkit needs, with a hint for what is missing', () => {
    const caps = evaluateCapabilities(
      parseEncoders(encoders),
      parseProtocols(protocols),
      parseDevices(devices),
    );
    const by = new Map(caps.map((c) => [c.name, c]));
    assert.equal(by.get('libx264')?.available, true);
    assert.equal(by.get('libx265')?.available, false);
    assert.match(by.get('libx265')?.hint ?? '', /--enable-libx265/);
    assert.equal(by.get('srt')?.available, false);
    assert.equal(by.get('pulse')?.available, false);
    assert.equal(by.get('v4l2')?.available, true);
  });
});

describe('mapFfprobe', () => {
  it('maps to the stable schema, numbers as numbers, absent fields omitted', () => {
    const info = mapFfprobe('in.mkv', {
      format: { format_name: 'matroska,webm', duration: '2.000000', size: '1000', bit_rate: '4000' },
      streams: [
        {
          index: 0,
          codec_type: 'video',
          codec_name: 'h264',
          profile: 'High',
          level: 40,
          width: 1280,
          height: 720,
          avg_frame_rate: '30000/1001',
          r_frame_rate: '60000/1001',
          pix_fmt: 'yuv420p',
          tags: { BPS: '900000', DURATION: '00:00:02.000000000', language: 'und' },
        },
        {
          index: 1,
          codec_type: 'audio',
          codec_name: 'aac',
          profile: 'LC',
          sample_rate: '48000',
          channels: 2,
          tags: { language: 'eng' },
        },
        { index: 2, codec_type: 'subtitle', codec_name: 'subrip', tags: { language: 'fre' } },
        { index: 3, codec_type: 'attachment', codec_name: 'ttf' },
        {
          index: 4,
          codec_type: 'video',
          codec_name: 'mjpeg',
          avg_frame_rate: '0/0',
          r_frame_rate: '90000/1',
          disposition: { attached_pic: 1 },
        },
      ],
    });
    assert.deepEqual(info.format, { name: 'matroska,webm', duration: 2, size: 1000, bitRate: 4000 });
    assert.deepEqual(info.streams[0], {
      index: 0,
      type: 'video',
      codec: 'h264',
      profile: 'High',
      level: 4,
      width: 1280,
      height: 720,
      frameRate: 29.97,
      pixelFormat: 'yuv420p',
      bitRate: 900000,
      duration: 2,
    });
    assert.deepEqual(info.streams[1], {
      index: 1,
      type: 'audio',
      codec: 'aac',
      profile: 'LC',
      sampleRate: 48000,
      channels: 2,
      language: 'eng',
    });
    assert.deepEqual(info.streams[2], { index: 2, type: 'subtitle', codec: 'subrip', language: 'fre' });
    assert.equal(info.streams[3]?.type, 'data');
    assert.equal(info.streams[4]?.frameRate, undefined, 'cover art has no frame rate');
  });
});
