import assert from 'node:assert/strict';
import { createDecipheriv } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fourcc } from '../../../src/core/bytes.js';
import { liveWindow, parseHlsMedia, type HlsMediaPlaylist } from '../../../src/formats/hls/index.js';
import { AAC, ffmpegPackage, fileOf, INPUT, VIDEO_ONLY_INPUT, writeFile, X264 } from './ffmpeg-packages.js';

const BASE = 'https://cdn.example.com/vod/show/';

/** index12.ts -> 12 */
const numberOf = (name: string): number => Number(/(\d+)\.\w+$/.exec(name)?.[1]);
const byNumber = (a: string, b: string): number => numberOf(a) - numberOf(b);

function totalDuration(p: HlsMediaPlaylist): number {
  return p.segments.reduce((s, x) => s + x.duration, 0);
}

describe('HLS playlists written by ffmpeg', () => {
  it('fMP4 segments: the parsed list is exactly the files ffmpeg wrote, in order, with the init section', async () => {
    const pkg = await ffmpegPackage('hls-fmp4', 'index.m3u8', () => [
      ...INPUT,
      ...X264,
      ...AAC,
      '-f',
      'hls',
      '-hls_time',
      '1',
      '-hls_segment_type',
      'fmp4',
      '-hls_playlist_type',
      'vod',
    ]);
    try {
      const p = parseHlsMedia(pkg.text, `${BASE}index.m3u8`);
      const listed = p.segments.map((s) => fileOf(s.uri));
      const written = pkg.files.filter((f) => f.endsWith('.m4s')).sort(byNumber);
      assert.ok(written.length >= 4, pkg.files.join(' '));
      assert.deepEqual(listed, written);
      const init = p.segments[0]?.init;
      assert.ok(init);
      assert.ok(p.segments.every((s) => s.init === init));
      assert.deepEqual(new Set(pkg.files), new Set([pkg.manifest, fileOf(init.uri), ...listed]));
      assert.ok(Math.abs(totalDuration(p) - 4) < 0.1, String(totalDuration(p)));
      assert.equal(p.live, false);
      assert.equal(fourcc(readFileSync(join(pkg.dir, fileOf(init.uri))), 4), 'ftyp');
      for (const f of listed)
        assert.ok(['moof', 'styp', 'sidx'].includes(fourcc(readFileSync(join(pkg.dir, f)), 4)), f);
    } finally {
      pkg.cleanup();
    }
  });

  it('single-file fMP4: the init and segment byte ranges tile the file ffmpeg wrote, each on a box', async () => {
    const pkg = await ffmpegPackage('hls-single', 'index.m3u8', () => [
      ...INPUT,
      ...X264,
      ...AAC,
      '-f',
      'hls',
      '-hls_time',
      '1',
      '-hls_segment_type',
      'fmp4',
      '-hls_flags',
      'single_file',
      '-hls_playlist_type',
      'vod',
    ]);
    try {
      const p = parseHlsMedia(pkg.text, `${BASE}index.m3u8`);
      const init = p.segments[0]?.init;
      assert.ok(init?.byteRange);
      const file = fileOf(init.uri);
      const bytes = readFileSync(join(pkg.dir, file));
      assert.equal(init.byteRange.offset, 0);
      let end = init.byteRange.length;
      for (const s of p.segments) {
        assert.equal(fileOf(s.uri), file);
        assert.ok(s.byteRange);
        assert.equal(s.byteRange.offset, end, `${s.key} starts where the previous range ended`);
        assert.ok(['moof', 'styp', 'sidx'].includes(fourcc(bytes, s.byteRange.offset + 4)), s.key);
        end = s.byteRange.offset + s.byteRange.length;
      }
      assert.equal(end, statSync(join(pkg.dir, file)).size, 'the last range ends at the end of the file');
      assert.deepEqual(pkg.files, [file, pkg.manifest].sort());
    } finally {
      pkg.cleanup();
    }
  });

  it('AES-128 with a key per segment: the parsed key and IV decrypt every segment ffmpeg wrote', async () => {
    const key = Buffer.from('000102030405060708090a0b0c0d0e0f', 'hex');
    const pkg = await ffmpegPackage(
      'hls-aes',
      'index.m3u8',
      (dir) => [
        ...VIDEO_ONLY_INPUT,
        ...X264,
        '-f',
        'hls',
        '-hls_time',
        '1',
        '-start_number',
        '5',
        '-hls_key_info_file',
        join(dir, 'key.info'),
        '-hls_flags',
        'periodic_rekey',
        '-hls_playlist_type',
        'vod',
      ],
      (dir) => {
        writeFile(dir, 'key.bin', key);
        writeFile(dir, 'key.info', `https://keys.example.com/k.bin\n${join(dir, 'key.bin')}\n`);
      },
    );
    try {
      // ffmpeg writes IV=<media sequence>; with the IVs removed, RFC 8216 5.2 gives the same IVs.
      const explicit = parseHlsMedia(pkg.text, `${BASE}index.m3u8`);
      const implicit = parseHlsMedia(pkg.text.replace(/,IV=0x[0-9a-fA-F]+/g, ''), `${BASE}index.m3u8`);
      assert.ok(explicit.segments.length >= 4);
      const firstBlocks: string[] = [];
      explicit.segments.forEach((s, i) => {
        const e = s.encryption;
        const ie = implicit.segments[i]?.encryption;
        assert.ok(e && ie);
        assert.equal(e.uri, 'https://keys.example.com/k.bin');
        assert.equal(e.ivFromSequence, false);
        assert.equal(ie.ivFromSequence, true);
        assert.deepEqual(ie.iv, e.iv, `IV of segment ${s.mediaSequence}`);
        assert.equal(numberOf(fileOf(s.uri)), s.mediaSequence);
        const d = createDecipheriv('aes-128-cbc', key, e.iv);
        const clear = Buffer.concat([d.update(readFileSync(join(pkg.dir, fileOf(s.uri)))), d.final()]);
        assert.equal(clear.length % 188, 0);
        for (let at = 0; at < clear.length; at += 188)
          assert.equal(clear[at], 0x47, `${s.key} packet at ${at}`);
        // The IV only changes the first 16 bytes: those must agree between segments (but for the continuity counter).
        const block = Buffer.from(clear.subarray(0, 16));
        block[3] = (block[3] as number) & 0xf0;
        firstBlocks.push(block.toString('hex'));
      });
      assert.equal(new Set(firstBlocks).size, 1, firstBlocks.join(' '));
    } finally {
      pkg.cleanup();
    }
  });

  it('a sliding live window (list size 3, old segments deleted, no ENDLIST)', async () => {
    const pkg = await ffmpegPackage('hls-live', 'index.m3u8', () => [
      ...VIDEO_ONLY_INPUT,
      ...X264,
      '-f',
      'hls',
      '-hls_time',
      '1',
      '-hls_list_size',
      '3',
      '-hls_delete_threshold',
      '1',
      '-hls_flags',
      'delete_segments+omit_endlist',
    ]);
    try {
      const p = parseHlsMedia(pkg.text, `${BASE}index.m3u8`);
      assert.equal(p.live, true);
      assert.equal(p.segments.length, 3);
      const listed = p.segments.map((s) => fileOf(s.uri));
      for (const [i, s] of p.segments.entries()) {
        assert.equal(s.mediaSequence, p.mediaSequence + i);
        assert.equal(
          numberOf(listed[i] as string),
          s.mediaSequence,
          'ffmpeg names segments by sequence number',
        );
        assert.ok(pkg.files.includes(listed[i] as string), `${listed[i]} is on disk`);
      }
      const onDisk = pkg.files.filter((f) => f.endsWith('.ts')).sort(byNumber);
      assert.ok(
        onDisk.every((f) => numberOf(f) >= p.mediaSequence - 1),
        'older segments were deleted',
      );
      assert.deepEqual(
        liveWindow(p).segments.map((s) => s.key),
        p.segments.map((s) => s.key),
        'three target durations of one second: the whole window',
      );
    } finally {
      pkg.cleanup();
    }
  });
});
