/**
 * The duration castkit remux prints (and gives in --json) is the output's as a player reads it: ffprobe's
 * format duration, for every output format, from one input and from several joined.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { castkit } from '../helpers/cli.js';
import { lavfiAv, makeMedia } from '../helpers/fixtures.js';
import { formatDuration } from '../helpers/media-check.js';
import { scratchDir } from '../helpers/scratch.js';

const dir = scratchDir('castkit-remux-duration-');
let n = 0;

/**
 * A 10 s testsrc2 + sine clip as ffmpeg makes an MPEG-TS of it (B-frames, audio from 1.4 s), and copies:
 * MP4 from the TS, FLV from the MP4 (an FLV copied from a TS gets an empty AAC sequence header).
 */
async function clip(ext: '.ts' | '.flv' | '.mp4'): Promise<string> {
  const ts = await makeMedia({
    name: 'duration-10s',
    ext: '.ts',
    args: [...lavfiAv(10), '-c:v', 'libx264', '-preset', 'veryfast', '-pix_fmt', 'yuv420p', '-c:a', 'aac'],
  });
  if (ext === '.ts') return ts;
  const copy = (from: string, to: string): Promise<string> =>
    makeMedia(
      { name: 'duration-10s', ext: to, deps: ['src'], args: ['-i', '{dep:src}', '-c', 'copy'] },
      async () => from,
    );
  const mp4 = await copy(ts, '.mp4');
  return ext === '.mp4' ? mp4 : copy(mp4, '.flv');
}

/** Remuxes with --json; the duration given must be ffprobe's to a millisecond. */
async function assertDuration(inputs: string[], ext: string, extra: string[] = []): Promise<number> {
  const out = join(dir, `out-${n++}${ext}`);
  const r = await castkit(['remux', ...inputs, '-o', out, ...extra, '--json']);
  assert.equal(r.code, 0, r.stderr);
  const printed = (JSON.parse(r.stdout) as { durationSec: number }).durationSec;
  const probed = await formatDuration(out);
  const what = `${inputs.map((i) => i.slice(-4)).join(' + ')} -> ${ext} ${extra.join(' ')}`;
  assert.ok(Math.abs(printed - probed) <= 0.001, `${what}: printed ${printed} s, ffprobe ${probed} s`);
  return printed;
}

describe('castkit remux: the duration it reports', () => {
  it('a 10 s TS -> mp4 reports what ffprobe says (10.027 s, not the 10.072 s its decode times span)', async () => {
    const ts = await clip('.ts');
    const out = join(dir, 'ten.mp4');
    const r = await castkit(['remux', ts, '-o', out]);
    assert.equal(r.code, 0, r.stderr);
    const probed = await formatDuration(out);
    const shown = /ten\.mp4: mp4, 0:00:(\d+\.\d+)/.exec(r.stdout)?.[1];
    assert.ok(shown !== undefined, r.stdout);
    assert.ok(Math.abs(Number(shown) - probed) < 0.0015, `printed ${shown} s, ffprobe ${probed} s`);
  });

  it('from TS, FLV and MP4, one input or two joined, to mp4, m4a, ts, flv and fmp4: ffprobe within 1 ms', async () => {
    const [ts, flv, mp4] = [await clip('.ts'), await clip('.flv'), await clip('.mp4')];
    const outputs: [string, string[]][] = [
      ['.mp4', []],
      ['.m4a', []],
      ['.ts', []],
      ['.flv', []],
      ['.mp4', ['--format', 'fmp4']],
    ];
    for (const inputs of [[ts], [flv], [mp4], [ts, ts], [flv, ts], [mp4, mp4], [mp4, ts]]) {
      for (const [ext, extra] of outputs) {
        const sec = await assertDuration(inputs, ext, extra);
        // Two 10 s clips joined last 20 s, give or take a frame at the seam and the audio's lead (an MP4
        // whose edit list kept the first input's length was reported and played as 10 s).
        const want = 10 * inputs.length;
        const what = `${inputs.map((i) => i.slice(-4)).join(' + ')} -> ${ext} ${extra.join(' ')}`;
        assert.ok(Math.abs(sec - want) < 0.2, `${what}: ${sec} s, want about ${want} s`);
      }
    }
  });
});
