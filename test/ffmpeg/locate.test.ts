import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { FfmpegError } from '../../src/core/errors.js';
import { locateTool, locateTools } from '../../src/ffmpeg/locate.js';
import { scratchDir } from '../helpers/scratch.js';

/** A directory holding executable files with the given names (content irrelevant to locating). */
function binDir(...names: string[]): string {
  const dir = scratchDir('castkit-locate-');
  for (const n of names) {
    const p = join(dir, n);
    writeFileSync(p, '#!/bin/sh\nexit 0\n');
    chmodSync(p, 0o755);
  }
  return dir;
}

describe('locateTools', () => {
  const a = binDir('ffmpeg', 'ffprobe');
  const b = binDir('ffmpeg', 'ffprobe');
  const onPath = binDir('ffmpeg', 'ffprobe');
  const env = { PATH: onPath };

  it('prefers the flag, then the environment, then the PATH', () => {
    const flagged = locateTools({
      ffmpeg: join(a, 'ffmpeg'),
      env: { ...env, CASTKIT_FFMPEG: join(b, 'ffmpeg') },
    });
    assert.deepEqual(flagged.ffmpeg, { name: 'ffmpeg', path: join(a, 'ffmpeg'), source: 'flag' });
    const fromEnv = locateTools({ env: { ...env, CASTKIT_FFMPEG: join(b, 'ffmpeg') } });
    assert.equal(fromEnv.ffmpeg.source, 'env');
    assert.equal(fromEnv.ffmpeg.path, join(b, 'ffmpeg'));
    const fromPath = locateTools({ env });
    assert.deepEqual(fromPath.ffmpeg, { name: 'ffmpeg', path: join(onPath, 'ffmpeg'), source: 'path' });
    assert.equal(fromPath.ffprobe.source, 'path');
  });

  it('takes ffprobe from beside an explicitly chosen ffmpeg', () => {
    const t = locateTools({ env: { ...env, CASTKIT_FFMPEG: join(b, 'ffmpeg') } });
    assert.deepEqual(t.ffprobe, { name: 'ffprobe', path: join(b, 'ffprobe'), source: 'sibling' });
    const own = locateTools({
      ffprobe: join(a, 'ffprobe'),
      env: { ...env, CASTKIT_FFMPEG: join(b, 'ffmpeg') },
    });
    assert.equal(own.ffprobe.source, 'flag');
  });

  it('fails loudly on a broken explicit setting instead of falling back', () => {
    assert.throws(
      () => locateTools({ env: { ...env, CASTKIT_FFMPEG: '/nonexistent' } }),
      (err: unknown) => {
        assert.ok(err instanceof FfmpegError);
        assert.equal(err.code, 'E_FFMPEG_CONFIG');
        assert.match(err.message, /CASTKIT_FFMPEG=\/nonexistent/);
        assert.match(err.hint ?? '', /castkit doctor/);
        return true;
      },
    );
    const notExecutable = join(binDir(), 'ffmpeg');
    writeFileSync(notExecutable, 'not a program');
    assert.throws(() => locateTool('ffmpeg', { ffmpeg: notExecutable, env }), /--ffmpeg .*no executable/);
    const dir = join(binDir(), 'ffmpeg');
    mkdirSync(dir);
    assert.throws(() => locateTool('ffmpeg', { ffmpeg: dir, env }), FfmpegError);
  });

  it('falls back to the binaries shipped in the npm packages when nothing is on the PATH', (t) => {
    let found;
    try {
      found = locateTools({ env: { PATH: binDir() } });
    } catch (err) {
      if (process.env.CI) throw err;
      t.skip(
        `the optional npm packages @ffmpeg-installer/@ffprobe-installer are not installed here: ${String(err)}`,
      );
      return;
    }
    assert.equal(found.ffmpeg.source, 'npm');
    assert.equal(found.ffprobe.source, 'npm');
    assert.match(found.ffmpeg.path, /node_modules\/@ffmpeg-installer\//);
    assert.match(found.ffprobe.path, /node_modules\/@ffprobe-installer\//);
  });
});
