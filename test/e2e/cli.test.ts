import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { parseRational } from '../../src/core/time.js';
import { CLI, REPO, castkit } from '../helpers/cli.js';
import { FIXTURES, fixture, tools } from '../helpers/fixtures.js';
import { startConnectProxy } from '../helpers/connect-proxy.js';
import { startOrigin, type Origin } from '../helpers/http-origin.js';
import { scratchDir } from '../helpers/scratch.js';
import { certificateOrSkip, startHttpsServer } from '../helpers/tls-cert.js';
import { closedPort } from '../helpers/ports.js';

const run = promisify(execFile);
const scratch = scratchDir('castkit-e2e-');

describe('castkit CLI basics', () => {
  it('--help lists every command, with examples', async () => {
    const r = await castkit(['--help']);
    assert.equal(r.code, 0);
    for (const cmd of ['probe', 'doctor']) assert.match(r.stdout, new RegExp(`^  ${cmd}\\b`, 'm'));
    assert.match(r.stdout, /Examples:/);
    for (const cmd of ['probe', 'doctor']) {
      const sub = await castkit([cmd, '--help']);
      assert.equal(sub.code, 0);
      assert.match(sub.stdout, /Examples:\n {2}\$ castkit /);
    }
  });

  it('--version prints the package version', async () => {
    const pkg = JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as { version: string };
    for (const flag of ['--version', '-V']) {
      const r = await castkit([flag]);
      assert.equal(r.code, 0);
      assert.equal(r.stdout.trim(), pkg.version);
    }
  });

  it('usage errors exit 2', async () => {
    const none = await castkit([]);
    assert.equal(none.code, 2);
    assert.match(none.stderr, /Usage: castkit/);
    const unknown = await castkit(['probe', '--bogus', 'x']);
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /unknown option '--bogus'/);
    const missing = await castkit(['probe']);
    assert.equal(missing.code, 2);
    const badField = await castkit(['probe', 'x.mp4', '--field', 'color']);
    assert.equal(badField.code, 2);
    const scheme = await castkit(['probe', 'ftp://127.0.0.1/x.mp4']);
    assert.equal(scheme.code, 2);
    assert.match(scheme.stderr, /unsupported URL scheme "ftp:"/);
  });
});

describe('castkit probe', () => {
  it('--json agrees with ffprobe for every generated fixture', async () => {
    const paths = await Promise.all(Object.keys(FIXTURES).map((n) => fixture(n)));
    const r = await castkit(['probe', '--json', ...paths]);
    assert.equal(r.code, 0, r.stderr);
    const ours = JSON.parse(r.stdout) as {
      input: string;
      format: { duration: number };
      streams: Record<string, unknown>[];
    }[];
    assert.equal(ours.length, paths.length);
    for (const [i, path] of paths.entries()) {
      const mine = ours[i];
      assert.ok(mine);
      assert.equal(mine.input, path);
      const { stdout } = await run(tools().ffprobe.path, [
        '-v',
        'error',
        '-show_format',
        '-show_streams',
        '-of',
        'json',
        path,
      ]);
      const raw = JSON.parse(stdout) as { format: { duration: string }; streams: Record<string, unknown>[] };
      assert.ok(Math.abs(mine.format.duration - Number(raw.format.duration)) < 0.001, `${path}: duration`);
      assert.equal(mine.streams.length, raw.streams.length, `${path}: stream count`);
      raw.streams.forEach((rs, j) => {
        const s = mine.streams[j] ?? {};
        assert.equal(s.codec, rs.codec_name);
        assert.equal(s.width, rs.width);
        assert.equal(s.height, rs.height);
        assert.equal(s.sampleRate, rs.sample_rate === undefined ? undefined : Number(rs.sample_rate));
        assert.equal(s.channels, rs.channels);
        if (rs.codec_type === 'video') {
          const fps =
            parseRational(rs.avg_frame_rate as string) ?? parseRational(rs.r_frame_rate as string) ?? NaN;
          assert.ok(Math.abs((s.frameRate as number) - fps) < 0.001);
        }
        for (const v of Object.values(s)) assert.notEqual(v, null, 'absent fields are omitted, not null');
      });
    }
  });

  it('prints a readable summary', async () => {
    const path = await fixture('h264-aac.mp4');
    const r = await castkit(['probe', path]);
    assert.equal(r.code, 0);
    assert.match(r.stdout, /mov,mp4,m4a,3gp,3g2,mj2, 0:00:02\.\d{3}, [\d.]+ kB, \d+ kb\/s/);
    assert.match(r.stdout, /#0 +video +h264 \(High\).*320x240, 30 fps, yuv420p/);
    assert.match(r.stdout, /#1 +audio +aac \(LC\) +48000 Hz, 2 ch +eng/);
  });

  it('--field prints one value', async () => {
    const path = await fixture('h264-aac.mp4');
    assert.equal((await castkit(['probe', path, '--field', 'frameRate'])).stdout, '30\n');
    assert.equal((await castkit(['probe', path, '--field', 'resolution'])).stdout, '320x240\n');
    const d = await castkit(['probe', path, '--field', 'duration']);
    assert.ok(Math.abs(Number(d.stdout) - 2) < 0.1, d.stdout);
    const audio = await castkit(['probe', await fixture('audio.m4a'), '--field', 'resolution']);
    assert.equal(audio.code, 3);
    assert.match(audio.stderr, /has no video stream/);
  });

  it('a missing path exits 3 naming the path', async () => {
    const missing = join(scratch, 'no-such-clip.mp4');
    const r = await castkit(['probe', missing]);
    assert.equal(r.code, 3);
    assert.match(r.stderr, new RegExp(`error: no such file: ${missing}`));
    assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace without --verbose');
  });

  it('a text file exits 3 saying it is not media', async () => {
    for (const name of ['notes.txt', 'data.json', 'empty.mp4']) {
      const p = join(scratch, name);
      writeFileSync(p, name === 'empty.mp4' ? '' : 'just some text\nnot a video\n');
      const r = await castkit(['probe', p]);
      assert.equal(r.code, 3, `${name}: ${r.stderr}`);
      assert.match(r.stderr, new RegExp(`${p.replace(/[.]/g, '\\.')} is not a media file`));
      assert.match(r.stderr, /hint: /);
    }
  });

  it('several inputs: every one is probed, a bad one is named and sets the exit code; --json keeps the good ones', async () => {
    const bad = join(scratch, 'noise.mp4');
    writeFileSync(bad, 'just some text\nnot a video\n');
    const good = await fixture('h264-aac.ts');
    const text = await castkit(['probe', bad, good]);
    assert.equal(text.code, 3, text.stderr);
    assert.match(text.stdout, /mpegts, 0:00:02/, 'the good input after the bad one is probed');
    assert.match(text.stderr, /noise\.mp4 is not a media file/);
    assert.match(text.stderr, /1 of 2 inputs could not be probed/);
    const json = await castkit(['probe', good, bad, '--json']);
    assert.equal(json.code, 3, json.stderr);
    const entries = JSON.parse(json.stdout) as {
      input: string;
      format?: unknown;
      error?: { code: string };
    }[];
    assert.equal(entries.length, 2);
    assert.ok(entries[0]?.format, 'the good input');
    assert.equal(entries[1]?.input, bad);
    assert.equal(entries[1]?.error?.code, 'E_NOT_MEDIA');
  });

  it('an unreachable URL exits 4 naming the URL', async () => {
    const url = `http://127.0.0.1:${await closedPort()}/live/clip.mp4`;
    const r = await castkit(['probe', url]);
    assert.equal(r.code, 4);
    assert.match(r.stderr, new RegExp(`cannot fetch ${url.replace(/[.]/g, '\\.')}`));
  });

  it('an https URL is probed through HTTPS_PROXY (ffprobe reads only http_proxy)', async (t) => {
    const tls = certificateOrSkip(t, scratch);
    if (!tls) return;
    const { key, cert } = tls;
    const clip = readFileSync(await fixture('h264-aac.mp4'));
    const server = await startHttpsServer(key, cert, (_req, res) => {
      res.writeHead(200, { 'content-type': 'video/mp4', 'content-length': clip.length });
      res.end(clip);
    });
    const proxy = await startConnectProxy();
    try {
      const url = `${server.base}/clip.mp4`;
      const env = { HTTPS_PROXY: proxy.url, https_proxy: '', http_proxy: '', NO_PROXY: '', no_proxy: '' };
      const r = await castkit(['probe', url, '--field', 'resolution'], { env });
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout, '320x240\n');
      assert.ok(proxy.tunnels.includes(new URL(url).host), `tunnels: ${proxy.tunnels.join(', ')}`);
    } finally {
      await proxy.close();
      await server.close();
    }
  });

  it('CASTKIT_FFMPEG=/nonexistent exits 5 with a hint to run castkit doctor', async () => {
    const r = await castkit(['probe', await fixture('h264-aac.mp4')], {
      env: { CASTKIT_FFMPEG: '/nonexistent' },
    });
    assert.equal(r.code, 5);
    assert.match(r.stderr, /CASTKIT_FFMPEG=\/nonexistent/);
    assert.match(r.stderr, /hint: .*castkit doctor/);
  });

  it('--json errors are JSON on stderr; --verbose adds the stack', async () => {
    const missing = join(scratch, 'gone.mp4');
    const r = await castkit(['probe', missing, '--json']);
    assert.equal(r.code, 3);
    assert.equal(r.stdout, '');
    const err = JSON.parse(r.stderr) as { error: { code: string; category: string; message: string } };
    assert.deepEqual([err.error.code, err.error.category], ['E_INPUT_NOT_FOUND', 'input']);
    const v = await castkit(['probe', missing, '--verbose']);
    assert.match(v.stderr, /\n\s+at /);
  });
});

describe('castkit doctor', () => {
  it('reports the tools, their source and capabilities', async () => {
    const r = await castkit(['doctor', '--json']);
    assert.equal(r.code, 0, r.stderr);
    const report = JSON.parse(r.stdout) as {
      ok: boolean;
      ffmpeg: { found: boolean; path: string; source: string; version: string };
      ffprobe: { found: boolean };
      capabilities: { name: string; available: boolean; hint: string }[];
    };
    assert.equal(report.ok, true);
    assert.equal(report.ffmpeg.path, tools().ffmpeg.path);
    assert.ok(report.ffmpeg.version.length > 0);
    const names = report.capabilities.map((c) => c.name);
    for (const n of [
      'libx264',
      'libx265',
      'libvpx-vp9',
      'aac',
      'rtmp',
      'rtmps',
      'tls',
      'srt',
      'x11grab',
      'v4l2',
      'pulse',
    ]) {
      assert.ok(names.includes(n), n);
    }
    assert.ok(
      report.capabilities.find((c) => c.name === 'libx264')?.available,
      'the test ffmpeg encodes H.264',
    );
    const human = await castkit(['doctor']);
    assert.match(human.stdout, /^ok +ffmpeg +\S+ +\//m);
    assert.match(human.stdout, /yes +libx264 +encoder/);
  });

  it('exits 5 and says what to do when ffmpeg cannot be found', async () => {
    const r = await castkit(['doctor'], { env: { CASTKIT_FFMPEG: join(scratch, 'missing-ffmpeg') } });
    assert.equal(r.code, 5);
    assert.match(r.stdout, /missing +ffmpeg/);
    assert.match(r.stderr, /hint: fix or remove CASTKIT_FFMPEG/);
  });
});

describe('with no ffmpeg on the PATH', () => {
  it('finds and uses the binaries shipped in the npm packages', async (t) => {
    const env = {
      PATH: scratchDir('castkit-nopath-'),
      CASTKIT_FFMPEG: '',
      CASTKIT_FFPROBE: '',
    };
    const r = await castkit(['doctor', '--json'], { env });
    if (r.code !== 0 && !process.env.CI && /not found/.test(r.stderr)) {
      t.skip('the optional npm packages @ffmpeg-installer/@ffprobe-installer are not installed here');
      return;
    }
    const report = JSON.parse(r.stdout) as {
      ffmpeg: { source: string; path: string };
      ffprobe: { source: string };
      checks: { name: string; ok: boolean }[];
    };
    assert.equal(report.ffmpeg.source, 'npm');
    assert.equal(report.ffprobe.source, 'npm');
    assert.match(report.ffmpeg.path, /node_modules/);
    // The bundled static ffprobe crashes on MPEG-TS: doctor must say so (exit 5), and probe must name it.
    const tsCheck = report.checks.find((c) => /MPEG-TS/.test(c.name));
    assert.ok(tsCheck);
    assert.equal(r.code, tsCheck.ok ? 0 : 5, r.stderr);
    const ts = await castkit(['probe', await fixture('h264-aac.ts')], { env });
    if (tsCheck.ok) assert.equal(ts.code, 0, ts.stderr);
    else {
      assert.equal(ts.code, 5);
      assert.match(ts.stderr, /ffprobe crashed \(SIGSEGV\) reading .*h264-aac.*\.ts/);
      assert.match(ts.stderr, /hint: .*apt-get install ffmpeg/);
    }
    const probe = await castkit(['probe', '--json', await fixture('h264-aac.mp4')], { env });
    assert.equal(probe.code, 0, probe.stderr);
    const info = JSON.parse(probe.stdout) as { streams: { codec: string; width?: number }[] };
    assert.deepEqual(
      info.streams.map((s) => s.codec),
      ['h264', 'aac'],
    );
    assert.equal(info.streams[0]?.width, 320);
    // and the npm ffmpeg really encodes
    const out = join(scratch, 'npm-ffmpeg.mp4');
    await run(report.ffmpeg.path, [
      '-v',
      'error',
      '-f',
      'lavfi',
      '-i',
      'testsrc2=d=1',
      '-c:v',
      'libx264',
      '-y',
      out,
    ]);
    const again = await castkit(['probe', out, '--field', 'resolution'], { env });
    assert.equal(again.stdout, '320x240\n');
  });
});

describe('interruption', () => {
  let origin: Origin;
  before(async () => {
    origin = await startOrigin();
    origin.fault('/stalled.mp4', { kind: 'stall' });
  });
  after(() => origin.close());

  it('Ctrl-C during a stalled probe exits 130 promptly', async () => {
    const child = spawn(process.execPath, [CLI, 'probe', origin.url('/stalled.mp4')], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, NO_COLOR: '1' },
    });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const waitForRequest = async (): Promise<void> => {
      for (let i = 0; i < 100 && !origin.requests.some((r) => r.path === '/stalled.mp4'); i++) {
        await new Promise((r) => setTimeout(r, 50));
      }
    };
    await waitForRequest();
    const t0 = Date.now();
    child.kill('SIGINT');
    const code = await new Promise<number | null>((r) => child.on('close', (c) => r(c)));
    assert.equal(code, 130);
    assert.match(stderr, /interrupted/);
    assert.ok(Date.now() - t0 < 8000);
  });
});
