/** probe: `castkit probe --json` against ffprobe's own JSON, on a generated 30 s 1280x720 H.264/AAC clip. */
import { statSync } from 'node:fs';
import { basename } from 'node:path';
import { locateTools } from '../../src/ffmpeg/locate.js';
import { clipSpec, makeMedia } from '../../test/helpers/fixtures.js';
import { ffmpegTools } from '../lib/requirements.js';
import type { Suite } from '../lib/types.js';

function jsonWithStreams(stdout: string): string | undefined {
  try {
    const doc = JSON.parse(stdout) as { streams?: unknown };
    return Array.isArray(doc.streams) && doc.streams.length === 2
      ? undefined
      : 'expected JSON with 2 streams';
  } catch {
    return `not JSON: ${JSON.stringify(stdout.slice(0, 80))}`;
  }
}

export const probeSuite: Suite = {
  name: 'probe',
  description: 'castkit probe --json vs ffprobe -show_format -show_streams -of json, 30 s 1280x720 clip',
  requires: () => [ffmpegTools()],
  prepare: async (ctx) => {
    // The same ffprobe castkit picks (flag/env, PATH, npm package), so the peer is the same binary.
    const ffprobe = locateTools({}).ffprobe.path;
    ctx.log('probe: making the 30 s 1280x720 clip (cached under the OS temp dir after the first time)');
    const clip = await makeMedia(clipSpec(30, '1280x720'));
    ctx.log(`probe: ${basename(clip)}, ${(statSync(clip).size / 1e6).toFixed(1)} MB; peer ${ffprobe}`);
    return [
      {
        name: 'clip-30s-720p',
        castkit: [...ctx.castkit, 'probe', '--json', clip],
        peer: {
          name: 'ffprobe',
          argv: [ffprobe, '-v', 'error', '-show_format', '-show_streams', '-of', 'json', clip],
        },
        validate: jsonWithStreams,
      },
    ];
  },
};
