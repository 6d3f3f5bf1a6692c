/**
 * The seams between joined inputs: what plays the output must see every frame of every input once, in
 * order, whatever the inputs' B-frame delays and start offsets; only a true repeat of the previous input's
 * end is dropped.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { promisify } from 'node:util';
import { remux } from '../../src/api/remux.js';
import { lavfiAv, makeMedia, tools, type MediaSpec } from '../helpers/fixtures.js';
import { decodeMessages, frameHashes, packets, type PacketInfo } from '../helpers/media-check.js';
import { scratchDir } from '../helpers/scratch.js';

const run = promisify(execFile);
const dir = scratchDir('castkit-seams-');
let n = 0;
const outPath = (ext: string): string => join(dir, `out-${n++}${ext}`);

const x264 = (bframes: number): string[] => [
  ...['-c:v', 'libx264', '-preset', 'veryfast', '-pix_fmt', 'yuv420p', '-g', '30'],
  ...['-bf', String(bframes)],
];
const AAC = ['-c:a', 'aac', '-b:a', '96k', '-ac', '2'];

/** 2 s clips: with B-frames (pts after dts), without, and another picture with the first one's settings. */
const CLIPS: Record<string, MediaSpec> = {
  bf: { name: 'seam-bf', ext: '.mp4', args: [...lavfiAv(2), ...x264(2), ...AAC, '-shortest'] },
  nobf: {
    name: 'seam-nobf',
    ext: '.mp4',
    args: [...lavfiAv(2), '-vf', 'hflip', ...x264(0), ...AAC, '-shortest'],
  },
  other: {
    name: 'seam-other',
    ext: '.mp4',
    args: [...lavfiAv(2), '-vf', 'hflip,negate', ...x264(2), ...AAC, '-shortest'],
  },
};

/**
 * A clip in another container by ffmpeg -c copy: an FLV starts at 0, an MPEG-TS at 1.4 s (ffmpeg's
 * default offset), both with the clip's frames.
 */
async function clip(name: keyof typeof CLIPS, ext: '.ts' | '.flv'): Promise<string> {
  const src = await makeMedia(CLIPS[name] as MediaSpec);
  return makeMedia(
    { name: `seam-${name}`, ext, deps: ['src'], args: ['-i', '{dep:src}', '-c', 'copy'] },
    async () => src,
  );
}

const count = (ps: readonly PacketInfo[], type: string): number => ps.filter((p) => p.type === type).length;

/**
 * `out` plays as the inputs one after the other: a clean decode, video decode times strictly rising with
 * presentation never before decode, the video frames of the inputs in order, and every audio frame. The
 * decoded audio is not compared: an AAC decoder's state carries over a seam, so the samples after it
 * differ in the last bit from those of the input decoded alone.
 */
async function assertConcatenation(out: string, inputs: readonly string[]): Promise<void> {
  assert.equal(await decodeMessages(out), '', `${out}: ffmpeg decodes it without a message`);
  const got = await packets(out, { asWritten: true });
  // An MPEG-TS PES with no DTS has it equal to its PTS.
  const video = got
    .filter((p) => p.type === 'video')
    .map((p) => ({ ...p, dts: Number.isNaN(p.dts) ? p.pts : p.dts }));
  video.forEach((p, i) => {
    assert.ok(p.pts >= p.dts - 1e-6, `video packet ${i}: pts ${p.pts} before dts ${p.dts}`);
    const prev = video[i - 1];
    if (prev) assert.ok(p.dts > prev.dts, `video packet ${i}: dts ${p.dts} after ${prev.dts}`);
  });
  const want = { video: [] as string[], audio: 0 };
  for (const input of inputs) {
    want.video.push(...(await frameHashes(input)).video);
    want.audio += count(await packets(input), 'audio');
  }
  const hashes = await frameHashes(out);
  assert.equal(hashes.video.length, want.video.length, 'video frames');
  assert.deepEqual(hashes.video, want.video, 'the decoded video frames of the inputs, in order');
  assert.equal(count(got, 'audio'), want.audio, 'audio packets');
  assert.equal(hashes.audio.length, want.audio, 'decoded audio frames');
}

describe('remux joins: the seams between inputs', () => {
  for (const [first, second] of [
    ['bf', 'nobf'],
    ['nobf', 'bf'],
  ] as const) {
    it(`inputs whose B-frame delays differ (${first} then ${second}) -> ts, flv and mp4: every frame once, in order`, async () => {
      for (const inExt of ['.ts', '.flv'] as const) {
        const inputs = [await clip(first, inExt), await clip(second, inExt)];
        for (const outExt of ['.ts', '.flv']) {
          // FLV chunks to FLV go through the FLV joiner (tags kept as they are): not the seam looked at here.
          if (inExt === '.flv' && outExt === '.flv') continue;
          const out = outPath(outExt);
          const r = await remux(inputs, { output: out });
          assert.deepEqual(
            r.warnings.filter((w) => w.code === 'W_OVERLAP'),
            [],
            'nothing is taken for a repeat',
          );
          await assertConcatenation(out, inputs);
        }
      }
      // Their SPS differ. MPEG-TS inputs carry them in band: one MP4 holds both, as ffmpeg's would. FLV
      // inputs give theirs in a sequence header only: the second one's go into its first keyframe.
      for (const inExt of ['.ts', '.flv'] as const) {
        const inputs = [await clip(first, inExt), await clip(second, inExt)];
        const mp4 = outPath('.mp4');
        const r = await remux(inputs, { output: mp4 });
        assert.ok(
          r.warnings.some((w) => w.code === 'W_CONFIG_CHANGE'),
          inExt,
        );
        await assertConcatenation(mp4, inputs);
      }
    });
  }

  it('an FLV starting at 0 then another clip as MPEG-TS starting at 1.4 s -> mp4, ts, flv: the TS is appended whole', async () => {
    // The TS's clock starts inside the FLV's last second: within the run-on tolerance, but its frames
    // there are other pictures, not a repeat. It goes after the FLV's end, with its own frame spacing.
    const inputs = [await clip('bf', '.flv'), await clip('other', '.ts')];
    for (const ext of ['.mp4', '.ts', '.flv']) {
      const out = outPath(ext);
      const r = await remux(inputs, { output: out });
      assert.deepEqual(
        r.warnings.filter((w) => w.code === 'W_OVERLAP'),
        [],
        `${ext}: nothing is taken for a repeat`,
      );
      await assertConcatenation(out, inputs);
    }
  });

  it('chunks of one recording where each repeats the end of the one before -> mp4, ts, flv: the repeats are dropped', async () => {
    const whole = await makeMedia({
      name: 'seam-whole-gop15',
      ext: '.ts',
      args: [
        ...lavfiAv(4),
        ...x264(2),
        '-g',
        '15',
        '-keyint_min',
        '15',
        '-sc_threshold',
        '0',
        ...AAC,
        '-shortest',
      ],
    });
    const segDir = mkdtempSync(join(dir, 'segs-'));
    await run(tools().ffmpeg.path, [
      ...['-v', 'error', '-i', whole, '-c', 'copy', '-f', 'segment', '-segment_time', '0.5'],
      ...['-segment_format', 'mpegts', join(segDir, 's%02d.ts')],
    ]);
    const segs = readdirSync(segDir)
      .sort()
      .map((f) => join(segDir, f));
    assert.ok(segs.length >= 8, `${segs.length} segments`);
    // Two chunks with the recording's own clock: 0-2.5 s and 2-4 s (the half second at 2 s in both).
    const chunk = async (from: number, to: number): Promise<string> => {
      const out = join(segDir, `chunk-${from}-${to}.ts`);
      await run(tools().ffmpeg.path, [
        ...['-v', 'error', '-copyts', '-i', `concat:${segs.slice(from, to).join('|')}`],
        ...['-map', '0', '-c', 'copy', out],
      ]);
      return out;
    };
    const chunks = [await chunk(0, 5), await chunk(4, segs.length)];
    const [wholeHashes, wholePackets] = await Promise.all([frameHashes(whole), packets(whole)]);
    for (const ext of ['.mp4', '.ts', '.flv']) {
      const out = outPath(ext);
      const r = await remux(chunks, { output: out });
      assert.ok(
        r.warnings.some((w) => w.code === 'W_OVERLAP' && w.input === chunks[1]),
        `${ext}: the repeat is dropped, and said`,
      );
      assert.equal(await decodeMessages(out), '', `${ext}: a clean decode`);
      const [h, p] = await Promise.all([frameHashes(out), packets(out)]);
      assert.deepEqual(h.video, wholeHashes.video, `${ext}: the recording's video frames, each once`);
      assert.deepEqual(h.audio, wholeHashes.audio, `${ext}: the recording's audio frames, each once`);
      assert.equal(count(p, 'audio'), count(wholePackets, 'audio'), `${ext}: audio packets`);
    }
  });
});
