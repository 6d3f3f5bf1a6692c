import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { seededRandom } from '../../src/download/retry-policy.js';
import { CLI, castkit } from '../helpers/cli.js';
import { startConnectProxy } from '../helpers/connect-proxy.js';
import { startOrigin, type Origin } from '../helpers/http-origin.js';
import { serveFixture } from '../helpers/live-origin.js';
import { decodeMessages } from '../helpers/media-check.js';
import { tools } from '../helpers/fixtures.js';
import { bestVariant, streamFixture, type StreamFixture } from '../helpers/stream-fixtures.js';
import { startStreamEmulator, wsFixtures } from '../helpers/ws-servers.js';
import { startUstreamEmulator, ustreamFixture } from '../helpers/ustream-emulator.js';
import { packets } from '../helpers/media-check.js';
import { scratchDir } from '../helpers/scratch.js';

const dir = scratchDir('castkit-record-cli-');

function journalKeys(output: string): Set<string> {
  const path = join(`${output}.castkit-journal`, 'journal.jsonl');
  if (!existsSync(path)) return new Set();
  const keys = new Set<string>();
  for (const line of readFileSync(path, 'utf8').split('\n')) {
    try {
      const v = JSON.parse(line) as { k?: string };
      if (v.k) keys.add(v.k);
    } catch {
      // the header line, or a torn tail
    }
  }
  return keys;
}

describe('castkit record (CLI)', () => {
  let origin: Origin;
  let fx: StreamFixture;
  before(async () => {
    origin = await startOrigin();
    fx = await streamFixture('hls-ts');
  });
  after(async () => origin.close());

  it('kill -9 at five points, then the same command: the same file, no completed segment fetched twice', async () => {
    const url = serveFixture(origin, fx, '/resume');
    const { byKey } = bestVariant(fx, '/resume');
    const reference = join(dir, 'reference.mp4');
    const ref = await castkit(['record', url, '-o', reference, '-q']);
    assert.equal(ref.code, 0, ref.stderr);

    // Slow segments, one at a time, so that kills land in the middle of the download.
    origin.latency((p) => (p.endsWith('.ts') ? 150 : 0));
    const output = join(dir, 'resumed.mp4');
    const random = seededRandom(7);
    const kills: { at: number; completed: Set<string> }[] = [];
    for (let k = 0; k < 5; k++) {
      const child = spawn(process.execPath, [CLI, 'record', url, '-o', output, '-q', '-N', '1'], {
        stdio: 'ignore',
      });
      const closed = new Promise((r) => child.on('close', r));
      // Kill once the journal holds one more segment than before (the child has made progress, however
      // slow the machine), plus a random moment in the next segment.
      const before = journalKeys(output).size;
      const deadline = Date.now() + 20_000;
      while (journalKeys(output).size <= before && child.exitCode === null && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 20));
      }
      await new Promise((r) => setTimeout(r, Math.floor(random() * 120)));
      child.kill('SIGKILL');
      await closed;
      kills.push({ at: origin.log.length, completed: journalKeys(output) });
    }
    assert.ok(!existsSync(output), 'no finished-looking output after the kills');
    const last = kills[kills.length - 1];
    assert.ok(
      last && last.completed.size > 0 && last.completed.size < byKey.size,
      `the kills left a partial journal (${last?.completed.size})`,
    );
    const done = await castkit(['record', url, '-o', output, '-q', '-N', '2']);
    origin.latency(undefined);
    assert.equal(done.code, 0, done.stderr);
    assert.ok(
      readFileSync(output).equals(readFileSync(reference)),
      'the resumed file equals the uninterrupted one',
    );
    assert.ok(!existsSync(`${output}.castkit-journal`), 'the journal is gone');
    for (const [i, kill] of kills.entries()) {
      const later = origin.log.slice(kill.at).map((r) => r.path);
      for (const key of kill.completed) {
        const path = byKey.get(key);
        if (!path) continue;
        assert.ok(!later.includes(path), `segment ${path}, complete at kill ${i + 1}, was not fetched again`);
      }
    }
    assert.equal(await decodeMessages(output), '');
  });

  it('a segment that keeps failing exits 4 and names it', async () => {
    const url = serveFixture(origin, fx, '/fail');
    const { byKey } = bestVariant(fx, '/fail');
    const bad = [...byKey.values()][4] as string;
    origin.fault(bad, { kind: 'status', status: 404, times: 1000 });
    const output = join(dir, 'fail.mp4');
    const r = await castkit(['record', url, '-o', output]);
    assert.equal(r.code, 4, r.stderr);
    assert.match(r.stderr, /error: .*segments? .*missing|could not be downloaded/);
    assert.ok(r.stderr.includes(bad.split('/').pop() as string) || r.stderr.includes('m4'), r.stderr);
    assert.match(r.stderr, /--allow-gaps/);
    assert.ok(!existsSync(output));
  });

  it('--allow-gaps: exit 0 with the gap and how to fill it; the same command, once the segment is back, fills it', async () => {
    const url = serveFixture(origin, fx, '/refill');
    const { byKey } = bestVariant(fx, '/refill');
    const bad = [...byKey.values()][2] as string;
    origin.fault(bad, { kind: 'status', status: 404, times: 1000 });
    const output = join(dir, 'refill.mp4');
    const r = await castkit(['record', url, '-o', output, '--allow-gaps']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /gaps: 1 \([\d.]+ s\), listed in .*refill\.mp4\.gaps\.json/);
    assert.match(
      r.stdout,
      /to try the missing segment again, run the same command again \(the others come from .*refill\.mp4\.castkit-journal\); to keep the file as it is, delete that folder/,
    );
    origin.heal(bad);
    const requests = origin.log.length;
    const again = await castkit(['record', url, '-o', output]);
    assert.equal(again.code, 0, again.stderr);
    assert.deepEqual(
      origin.log
        .slice(requests)
        .map((q) => q.path)
        .filter((p) => [...byKey.values()].includes(p)),
      [bad],
      'only the missing segment is fetched',
    );
    assert.doesNotMatch(again.stdout, /gaps:/);
    assert.ok(!existsSync(`${output}.castkit-journal`));
    assert.ok(!existsSync(`${output}.gaps.json`));
    assert.equal(await decodeMessages(output), '');
  });

  it('a finished output is not recorded over (exit 6, nothing fetched) unless --force', async () => {
    const url = serveFixture(origin, fx, '/again');
    const output = join(dir, 'again.mp4');
    const first = await castkit(['record', url, '-o', output, '-q']);
    assert.equal(first.code, 0, first.stderr);
    const before = readFileSync(output);
    const requests = origin.log.length;
    const again = await castkit(['record', url, '-o', output, '-q']);
    assert.equal(again.code, 6, again.stderr);
    assert.match(again.stderr, /again\.mp4 already exists: a finished recording/);
    assert.match(again.stderr, /--force/);
    assert.equal(origin.log.length, requests, 'refused before any request');
    assert.ok(readFileSync(output).equals(before), 'the finished recording is untouched');
    const forced = await castkit(['record', url, '-o', output, '-q', '--force']);
    assert.equal(forced.code, 0, forced.stderr);
    assert.ok(origin.log.length > requests, 'recorded again');
    assert.ok(readFileSync(output).equals(before), 'the same recording again');
  });

  it('an output named for a container castkit does not write (.webm) is refused before any request', async () => {
    const url = serveFixture(origin, fx, '/webm');
    const requests = origin.log.length;
    const r = await castkit(['record', url, '-o', join(dir, 'clip.webm')]);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /cannot write \.webm files/);
    assert.match(r.stderr, /\.mp4, \.m4a, \.ts or \.mkv/);
    assert.equal(origin.log.length, requests, 'refused before any request');
    assert.equal(existsSync(join(dir, 'clip.webm')), false);
  });

  it('record DASH -o - | ffmpeg: one TS stream through a real pipe, every frame decoded', async () => {
    const dash = await streamFixture('dash-timeline');
    const url = serveFixture(origin, dash, '/pipe');
    const rec = spawn(process.execPath, [CLI, 'record', url, '-o', '-', '-q'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const ff = spawn(tools().ffmpeg.path, ['-v', 'error', '-f', 'mpegts', '-i', '-', '-f', 'framemd5', '-'], {
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    rec.stdout.pipe(ff.stdin);
    let frames = '';
    let errors = '';
    let recErr = '';
    ff.stdout.setEncoding('utf8').on('data', (d: string) => (frames += d));
    ff.stderr.setEncoding('utf8').on('data', (d: string) => (errors += d));
    rec.stderr.setEncoding('utf8').on('data', (d: string) => (recErr += d));
    const exit = (c: ReturnType<typeof spawn>): Promise<number | null> =>
      new Promise((resolve) => c.on('close', (code) => resolve(code)));
    const [rc, fc] = await Promise.all([exit(rec), exit(ff)]);
    assert.equal(rc, 0, recErr);
    assert.equal(fc, 0, errors);
    assert.equal(errors, '', 'ffmpeg reads the stream without a message');
    const count = (stream: number): number =>
      frames.split('\n').filter((l) => l.startsWith(`${stream},`)).length;
    const want = await packets(dash.clip);
    assert.equal(count(0) + count(1), want.length, 'every video and audio frame of the clip');
  });

  it('a reader that goes away (-o - | head): record stops with exit 6 and one message; help just ends', async () => {
    const dash = await streamFixture('dash-timeline');
    const url = serveFixture(origin, dash, '/pipe-gone');
    const closedEarly = (args: string[]): Promise<{ code: number | null; stderr: string }> =>
      new Promise((resolve) => {
        const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
        let stderr = '';
        child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
        child.stdout.once('data', () => child.stdout.destroy()); // the reader had enough
        child.on('close', (code) => resolve({ code, stderr }));
      });
    const rec = await closedEarly(['record', url, '-o', '-', '-q', '-N', '1']);
    assert.equal(rec.code, 6, rec.stderr);
    assert.match(rec.stderr, /cannot write to stdout: the reader closed it/);
    assert.doesNotMatch(rec.stderr, /\n\s+at /, 'no stack trace');
    // Help comes in two writes (the options, then the examples): head has gone before the second.
    const help = await new Promise<{ out: string; err: string }>((resolve) => {
      const sh = spawn(
        'bash',
        ['-c', 'node "$0" remux --help | head -1 >/dev/null; echo "status ${PIPESTATUS[0]}"', CLI],
        {
          stdio: ['ignore', 'pipe', 'pipe'],
        },
      );
      let out = '';
      let err = '';
      sh.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
      sh.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
      sh.on('close', () => resolve({ out, err }));
    });
    assert.equal(help.out.trim(), 'status 0', help.err);
    assert.equal(help.err, '', 'no EPIPE stack trace');
  });

  it('--list shows the variants with the chosen one marked', async () => {
    const url = serveFixture(origin, fx, '/list');
    const r = await castkit(['record', url, '--list']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /HLS VOD/);
    assert.match(r.stdout, /\*\s+variant\s+\d+\s+640x360/);
    assert.match(r.stdout, /320x180/);
  });

  it('--list over plain HTTP loads no TLS, crypto, HTTP/2 or child_process module', async () => {
    // Each costs the start of every recording: they load when a path needs them (scripts/bundle-cli.mjs,
    // core/lazy-builtin.ts).
    const url = serveFixture(origin, fx, '/lean');
    const report = join(dir, 'loaded.txt');
    const preload = join(dir, 'report-loaded.cjs');
    writeFileSync(
      preload,
      `process.on('exit', () => require('node:fs').writeFileSync(${JSON.stringify(report)}, ` +
        `process.moduleLoadList.join('\\n')));`,
    );
    const r = await castkit(['record', url, '--list'], {
      env: { NODE_OPTIONS: `--require ${preload}`, CASTKIT_EXTRA_CA_CERTS: '' },
    });
    assert.equal(r.code, 0, r.stderr);
    const loaded = new Set(readFileSync(report, 'utf8').split('\n'));
    assert.ok(loaded.has('NativeModule net'), 'the report lists what was loaded');
    for (const m of ['tls', 'crypto', 'http2', 'child_process']) {
      assert.ok(!loaded.has(`NativeModule ${m}`), `node:${m} was loaded`);
    }
  });

  it('the code cache of record, which sets a V8 flag for itself, is taken by its next run', async () => {
    // V8 takes a cache only under the flags it was made with: record's flags (--liftoff-only, an inlining
    // limit) are set before its code is compiled (cli/load-program.ts), or every run would find the cache
    // unusable and write it again.
    const url = serveFixture(origin, fx, '/cached');
    const cache = join(dir, 'record-code-cache');
    const env = { CASTKIT_CODE_CACHE: cache };
    assert.equal((await castkit(['record', url, '--list'], { env })).code, 0);
    const [name] = readdirSync(cache);
    assert.match(name ?? '', /^record-[\w-]+-v8-/);
    const st = statSync(join(cache, name as string));
    const r = await castkit(['record', url, '--list'], { env });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /HLS VOD/);
    assert.equal(statSync(join(cache, name as string)).ino, st.ino, 'not made again');
  });

  it('HTTP_PROXY: playlists and segments go through the proxy, and the recording equals a direct one', async () => {
    // The command line does not load undici's index, which is where dispatchers get the connect() the
    // proxy agent opens its tunnels with: this runs the real command, in a process of its own.
    const url = serveFixture(origin, fx, '/proxied');
    const direct = join(dir, 'direct.mp4');
    const d = await castkit(['record', url, '-o', direct, '-q']);
    assert.equal(d.code, 0, d.stderr);
    const proxy = await startConnectProxy();
    try {
      const output = join(dir, 'proxied.mp4');
      const env = { HTTP_PROXY: proxy.url, http_proxy: '', NO_PROXY: '', no_proxy: '' };
      const r = await castkit(['record', url, '-o', output, '-q'], { env });
      assert.equal(r.code, 0, r.stderr);
      const host = new URL(url).host;
      assert.ok(proxy.tunnels.length > 0, 'no tunnel was opened');
      assert.deepEqual(new Set(proxy.tunnels), new Set([host]));
      assert.equal(await decodeMessages(output), '');
      const count = (ps: { type: string }[], type: string): number =>
        ps.filter((p) => p.type === type).length;
      const [got, want] = [await packets(output), await packets(direct)];
      assert.equal(count(got, 'video'), count(want, 'video'));
      assert.equal(count(got, 'audio'), count(want, 'audio'));
    } finally {
      await proxy.close();
    }
  });

  it('a URL that is not a stream, and a missing output, are clear errors', async () => {
    origin.route('/page.html', { body: '<!doctype html><html><body>hi</body></html>', type: 'text/html' });
    const r = await castkit(['record', origin.url('/page.html'), '-o', join(dir, 'x.mp4')]);
    assert.equal(r.code, 3, r.stderr);
    assert.match(r.stderr, /web page, not an HLS playlist/);
    const u = await castkit(['record', origin.url('/page.html')]);
    assert.equal(u.code, 2);
    assert.match(u.stderr, /-o <file>/);
  });

  it('record ws:// goes through HTTP_PROXY (a CONNECT tunnel), and not when NO_PROXY names the host', async () => {
    const fx = await wsFixtures();
    const emulator = await startStreamEmulator({ framing: 'evo', source: fx.fmp4, speed: 8 });
    const proxy = await startConnectProxy();
    try {
      const host = new URL(emulator.url).host;
      const output = join(dir, 'ws-proxied.mp4');
      const env = { HTTP_PROXY: proxy.url, http_proxy: '', NO_PROXY: '', no_proxy: '' };
      const r = await castkit(['record', emulator.url, '-o', output, '--duration', '3', '-q'], { env });
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(proxy.tunnels, [host]);
      assert.equal(await decodeMessages(output), '');
      const direct = await castkit(
        ['record', emulator.url, '-o', output, '--duration', '2', '-q', '--force'],
        {
          env: { ...env, NO_PROXY: '127.0.0.1' },
        },
      );
      assert.equal(direct.code, 0, direct.stderr);
      assert.deepEqual(proxy.tunnels, [host], 'NO_PROXY: no second tunnel');
    } finally {
      await proxy.close();
      await emulator.close();
    }
  });

  it('record ws:// (EvoStream framing) stops at --duration with a playable MP4', async () => {
    const fx = await wsFixtures();
    const emulator = await startStreamEmulator({ framing: 'evo', source: fx.fmp4, speed: 4 });
    try {
      const output = join(dir, 'ws.mp4');
      const r = await castkit(['record', emulator.url, '-o', output, '--duration', '6']);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /websocket evo, 1 connection, stopped by duration/);
      assert.equal(await decodeMessages(output), '');
      const ps = await packets(output);
      const video = ps.filter((p) => p.type === 'video');
      assert.ok(video.length > 0 && ps.some((p) => p.type === 'audio'), 'video and audio');
      const span = Math.max(...video.map((p) => p.pts)) - Math.min(...video.map((p) => p.pts));
      assert.ok(span >= 5 && span <= 8, `about 6 s recorded (${span.toFixed(2)} s)`);
    } finally {
      await emulator.close();
    }
  });
});

describe('castkit record (CLI): ustream', () => {
  it('--list, a recording to FLV, and a rejected session exiting 3', async () => {
    const fx = await ustreamFixture();
    const emu = await startUstreamEmulator({ fixture: fx });
    const geo = await startUstreamEmulator({ fixture: fx, reject: 'geoLock' });
    try {
      const common = ['--source', 'ustream', '--ums-url', emu.umsUrl];
      const list = await castkit(['record', emu.pageUrl, '--list', ...common]);
      assert.equal(list.code, 0, list.stderr);
      assert.match(list.stdout, /^id\s+title/m);
      const output = join(dir, 'ustream.flv');
      const r = await castkit(['record', emu.pageUrl, '-o', output, '-q', ...common]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /ustream\.flv/);
      assert.equal(await decodeMessages(output), '');
      const video = (await packets(output)).filter((p) => p.type === 'video');
      assert.ok(video.length > 0, 'video packets in the FLV');
      const g = await castkit([
        'record',
        geo.pageUrl,
        '-o',
        join(dir, 'geo.mp4'),
        '--source',
        'ustream',
        '--ums-url',
        geo.umsUrl,
      ]);
      assert.equal(g.code, 3, g.stderr);
      assert.match(g.stderr, /error: .*country/);
      const misuse = await castkit([
        'record',
        'http://127.0.0.1:9/x.m3u8',
        '-o',
        join(dir, 'x.mp4'),
        '--video',
        '1',
      ]);
      assert.equal(misuse.code, 2);
      assert.match(misuse.stderr, /--video is for ustream URLs/);
    } finally {
      await emu.close();
      await geo.close();
    }
  });
});
