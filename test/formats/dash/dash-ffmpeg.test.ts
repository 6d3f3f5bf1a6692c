import assert from 'node:assert/strict';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fourcc } from '../../../src/core/bytes.js';
import {
  parseMpd,
  parseSidx,
  pickAudio,
  pickRepresentation,
  representationSegments,
  segmentsFromSidx,
  type DashManifest,
  type DashRepresentation,
} from '../../../src/formats/dash/index.js';
import { readBoxes } from '../../../src/formats/isobmff/isobmff-boxes.js';
import { AAC, ffmpegPackage, fileOf, INPUT, VIDEO_ONLY_INPUT, X264 } from '../hls/ffmpeg-packages.js';

const BASE = 'https://cdn.example.com/dash/show/';
const DASH = (timeline: boolean): string[] => [
  ...INPUT,
  ...X264,
  ...AAC,
  '-map',
  '0',
  '-map',
  '1',
  '-f',
  'dash',
  '-seg_duration',
  '1',
  '-use_template',
  '1',
  '-use_timeline',
  timeline ? '1' : '0',
];

/** chunk-stream0-00012.m4s -> 12 */
const numberOf = (name: string): number => Number(/-(\d+)\.m4s$/.exec(name)?.[1]);

function videoAndAudio(m: DashManifest): [DashRepresentation, DashRepresentation] {
  const sets = m.periods[0]?.adaptationSets ?? [];
  const v = pickRepresentation(sets, 'video');
  const a = pickAudio(sets);
  assert.ok(a, 'an audio representation');
  return [v, a];
}

describe('DASH manifests written by ffmpeg', () => {
  it('SegmentTemplate + SegmentTimeline: video and audio lists are exactly the files ffmpeg wrote', async () => {
    const pkg = await ffmpegPackage('dash-timeline', 'manifest.mpd', () => DASH(true));
    try {
      const m = parseMpd(pkg.text, `${BASE}manifest.mpd`);
      assert.equal(m.type, 'static');
      const listed = new Set<string>([pkg.manifest]);
      for (const rep of videoAndAudio(m)) {
        const list = representationSegments(m, rep);
        assert.ok(list.init);
        const names = list.segments.map((s) => fileOf(s.uri));
        const written = pkg.files
          .filter((f) => f.startsWith(`chunk-stream${rep.id}-`))
          .sort((a, b) => numberOf(a) - numberOf(b));
        assert.deepEqual(names, written, `representation ${rep.id}`);
        assert.ok(pkg.files.includes(fileOf(list.init.uri)));
        assert.equal(fourcc(readFileSync(join(pkg.dir, fileOf(list.init.uri))), 4), 'ftyp');
        const total = list.segments.reduce((s, x) => s + x.duration, 0);
        assert.ok(Math.abs(total - 4) < 0.1, `${rep.id}: ${total} s`);
        for (const [i, s] of list.segments.entries()) {
          if (i > 0)
            assert.ok(
              Math.abs(
                s.start - ((list.segments[i - 1]?.start ?? 0) + (list.segments[i - 1]?.duration ?? 0)),
              ) < 1e-9,
            );
        }
        names.forEach((n) => listed.add(n));
        listed.add(fileOf(list.init.uri));
      }
      assert.deepEqual([...listed].sort(), pkg.files, 'every file ffmpeg wrote is accounted for');
    } finally {
      pkg.cleanup();
    }
  });

  it('SegmentTemplate + $Number$ (no timeline): the lists match the files the MPD describes', async () => {
    const pkg = await ffmpegPackage('dash-number', 'manifest.mpd', () => DASH(false));
    try {
      const m = parseMpd(pkg.text, `${BASE}manifest.mpd`);
      const end = m.mediaPresentationDuration ?? 0;
      for (const rep of videoAndAudio(m)) {
        const list = representationSegments(m, rep);
        const names = list.segments.map((s) => fileOf(s.uri));
        const written = pkg.files
          .filter((f) => f.startsWith(`chunk-stream${rep.id}-`))
          .sort((a, b) => numberOf(a) - numberOf(b));
        // ffmpeg may write a last sliver of AAC past mediaPresentationDuration (encoder delay); the MPD does not
        // describe it, so no player or recorder fetches it. Everything the MPD does describe is on disk.
        assert.deepEqual(names, written.slice(0, names.length), `representation ${rep.id}`);
        for (const extra of written.slice(names.length)) {
          assert.ok(rep.contentType === 'audio', `only audio may have an undescribed tail: ${extra}`);
          assert.ok(numberOf(extra) - 1 >= end - 1e-9, `${extra} starts at or after the end (${end} s)`);
        }
        assert.equal(names.length, Math.ceil(end), `${rep.id}: one-second segments over ${end} s`);
      }
    } finally {
      pkg.cleanup();
    }
  });

  it('single-file SegmentList: the mediaRanges tile the files ffmpeg wrote', async () => {
    const pkg = await ffmpegPackage('dash-single', 'manifest.mpd', () => [
      ...DASH(false),
      '-single_file',
      '1',
    ]);
    try {
      const m = parseMpd(pkg.text, `${BASE}manifest.mpd`);
      for (const rep of videoAndAudio(m)) {
        assert.equal(rep.addressing.kind, 'list');
        const list = representationSegments(m, rep);
        assert.ok(list.init?.byteRange);
        const file = fileOf(list.init.uri);
        const bytes = readFileSync(join(pkg.dir, file));
        let end = list.init.byteRange.offset + list.init.byteRange.length;
        for (const s of list.segments) {
          assert.equal(fileOf(s.uri), file);
          assert.equal(s.byteRange?.offset, end);
          assert.ok(['sidx', 'styp', 'moof'].includes(fourcc(bytes, end + 4)), `${s.key} starts on a box`);
          end += s.byteRange?.length ?? 0;
        }
        assert.equal(end, statSync(join(pkg.dir, file)).size);
      }
    } finally {
      pkg.cleanup();
    }
  });

  it('a sliding window (window_size 3): SegmentTimeline with S@t, numbers and files match', async () => {
    const pkg = await ffmpegPackage('dash-window', 'manifest.mpd', () => [
      ...VIDEO_ONLY_INPUT,
      ...X264,
      '-f',
      'dash',
      '-seg_duration',
      '1',
      '-use_template',
      '1',
      '-use_timeline',
      '1',
      '-window_size',
      '3',
      '-extra_window_size',
      '0',
    ]);
    try {
      const m = parseMpd(pkg.text, `${BASE}manifest.mpd`);
      const list = representationSegments(m, pickRepresentation(m.periods[0]?.adaptationSets ?? [], 'video'));
      const names = list.segments.map((s) => fileOf(s.uri));
      assert.deepEqual(names, pkg.files.filter((f) => f.startsWith('chunk-')).sort());
      assert.equal(names.length, 3);
      assert.deepEqual(
        list.segments.map((s) => s.number),
        names.map(numberOf),
      );
      assert.ok(
        Math.abs((list.segments[0]?.start ?? 0) - 1) < 0.05,
        'the window starts after the deleted second',
      );
    } finally {
      pkg.cleanup();
    }
  });

  it('SegmentBase on an fMP4 with a global sidx: parseSidx finds every moof ffmpeg wrote', async () => {
    const pkg = await ffmpegPackage('dash-sidx', 'video.mp4', () => [
      ...VIDEO_ONLY_INPUT,
      ...X264,
      '-movflags',
      '+frag_keyframe+empty_moov+default_base_moof+global_sidx',
    ]);
    try {
      const bytes = new Uint8Array(readFileSync(join(pkg.dir, 'video.mp4')));
      const boxes = readBoxes(bytes, 0, bytes.length);
      const sidxBox = boxes.find((b) => b.type === 'sidx');
      const moov = boxes.find((b) => b.type === 'moov');
      assert.ok(sidxBox && moov, boxes.map((b) => b.type).join(' '));
      const moofs = boxes.filter((b) => b.type === 'moof');
      assert.ok(moofs.length >= 4);
      const mpd = parseMpd(
        `<MPD xmlns="urn:mpeg:dash:schema:mpd:2011" type="static" mediaPresentationDuration="PT4S">
          <Period><AdaptationSet mimeType="video/mp4"><Representation id="v" bandwidth="300000">
            <BaseURL>video.mp4</BaseURL>
            <SegmentBase indexRange="${sidxBox.start}-${sidxBox.end - 1}"><Initialization range="0-${moov.end - 1}"/></SegmentBase>
          </Representation></AdaptationSet></Period></MPD>`,
        `${BASE}manifest.mpd`,
      );
      const rep = pickRepresentation(mpd.periods[0]?.adaptationSets ?? [], 'video');
      const list = representationSegments(mpd, rep);
      assert.ok(list.index);
      const { offset, length } = list.index.byteRange;
      const filled = segmentsFromSidx(
        mpd,
        rep,
        list,
        parseSidx(bytes.subarray(offset, offset + length), offset),
      );
      // Each subsegment runs from one moof to the next (the last to the mfra or the end of the file).
      const ends = [
        ...moofs.slice(1).map((b) => b.start),
        boxes.find((b) => b.type === 'mfra')?.start ?? bytes.length,
      ];
      assert.deepEqual(
        filled.segments.map((s) => s.byteRange),
        moofs.map((b, i) => ({ offset: b.start, length: (ends[i] as number) - b.start })),
      );
      const total = filled.segments.reduce((s, x) => s + x.duration, 0);
      assert.ok(Math.abs(total - 4) < 0.1, String(total));
      assert.equal(filled.segments[0]?.start, 0);
      assert.deepEqual(filled.init, { uri: `${BASE}video.mp4`, byteRange: { offset: 0, length: moov.end } });
    } finally {
      pkg.cleanup();
    }
  });
});
