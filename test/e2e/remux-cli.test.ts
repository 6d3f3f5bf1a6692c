import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { castkit } from '../helpers/cli.js';
import { fixture } from '../helpers/fixtures.js';
import { decodeMessages, frameHashes } from '../helpers/media-check.js';
import { scratchDir } from '../helpers/scratch.js';

const dir = scratchDir('castkit-remux-cli-');
const leftovers = (): string[] => readdirSync(dir).filter((f) => f.includes('.part'));

describe('castkit remux (CLI)', () => {
  it('converts and reports what it wrote; off a terminal, a remux this quick prints no progress lines', async () => {
    const out = join(dir, 'talk.mp4');
    const r = await castkit(['remux', await fixture('h264-aac.flv'), '-o', out]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /talk\.mp4: mp4, 0:00:02\.\d+, [\d.]+ kB from 1 input/);
    assert.match(r.stdout, /video {2}avc1\.64\w+, 320x240, 60 samples/);
    assert.equal(r.stderr, '');
    assert.equal(await decodeMessages(out), '');
    const json = await castkit(['remux', await fixture('h264-aac.ts'), '-o', join(dir, 'j.mp4'), '--json']);
    const result = JSON.parse(json.stdout) as { format: string; tracks: { kind: string; samples: number }[] };
    assert.equal(result.format, 'mp4');
    assert.deepEqual(
      result.tracks.map((t) => t.kind),
      ['video', 'audio'],
    );
  });

  it('random bytes exit 3 saying what castkit reads, and leave no output behind', async () => {
    const junk = join(dir, 'junk.mp4');
    writeFileSync(junk, Buffer.from(Array.from({ length: 5000 }, (_, i) => (i * 7919) % 251)));
    const out = join(dir, 'never.mp4');
    const r = await castkit(['remux', junk, '-o', out]);
    assert.equal(r.code, 3);
    assert.match(r.stderr, /junk\.mp4 is not FLV, MP4\/fMP4 or MPEG-TS/);
    assert.equal(existsSync(out), false);
    assert.deepEqual(leftovers(), []);
  });

  it('a truncated MP4 (moov lost) exits 3 naming the file', async () => {
    const src = readFileSync(await fixture('h264-aac.flv'));
    const mp4 = join(dir, 'whole.mp4');
    assert.equal(
      (await castkit(['remux', await fixture('h264-aac.flv'), '-o', mp4, '--no-faststart'])).code,
      0,
    );
    const cut = join(dir, 'cut.mp4');
    writeFileSync(cut, readFileSync(mp4).subarray(0, Math.floor(src.length / 2)));
    const r = await castkit(['remux', cut, '-o', join(dir, 'cut-out.mp4')]);
    assert.equal(r.code, 3, r.stderr);
    assert.match(r.stderr, /cut\.mp4/);
    assert.deepEqual(leftovers(), []);
  });

  it('a transport stream with lost packets is repaired with a warning naming the byte offset', async () => {
    const ts = readFileSync(await fixture('h264-aac.ts'));
    const damaged = Buffer.concat([ts.subarray(0, 188 * 200), ts.subarray(188 * 203)]);
    const path = join(dir, 'lossy.ts');
    writeFileSync(path, damaged);
    const out = join(dir, 'lossy.mp4');
    const r = await castkit(['remux', path, '-o', out]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /warning: .*lossy\.ts: .*\(byte \d+\)/);
    const h = await frameHashes(out);
    assert.ok(h.video.length > 50);
  });

  it('a missing input exits 3 naming it; an unknown output extension exits 2', async () => {
    const missing = await castkit(['remux', join(dir, 'nope.flv'), '-o', join(dir, 'x.mp4')]);
    assert.equal(missing.code, 3);
    assert.match(missing.stderr, /no such file: .*nope\.flv/);
    const ext = await castkit(['remux', await fixture('h264-aac.flv'), '-o', join(dir, 'x.avi')]);
    assert.equal(ext.code, 2);
    assert.match(ext.stderr, /cannot tell the output format from .*x\.avi/);
    assert.match(ext.stderr, /hint: name the output \.mp4/);
  });

  /** Starts a remux of `inputs`; resolves once its temporary output exists (its writing has begun). */
  const startRemux = async (inputs: string[], out: string) => {
    const { spawn } = await import('node:child_process');
    const { CLI } = await import('../helpers/cli.js');
    const child = spawn(process.execPath, [CLI, 'remux', ...inputs, '-o', out], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const closed = new Promise<number | null>((r) => child.on('close', (c) => r(c)));
    let done = false;
    void closed.then(() => (done = true));
    while (!done && leftovers().length === 0) await new Promise((r) => setTimeout(r, 5));
    return { child, closed, stderr: () => stderr };
  };

  it('SIGINT, SIGTERM or SIGHUP during a remux exit 130 and leave no output or temporary file', async () => {
    const ts = await fixture('h264-aac.ts');
    const many = Array.from({ length: 1500 }, () => ts); // a few seconds: long enough to be interrupted
    for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
      const out = join(dir, `interrupted-${sig}.mp4`);
      const run = await startRemux(many, out);
      run.child.kill(sig);
      const code = await run.closed;
      if (code === 0) continue; // finished before the signal: nothing to check on this machine
      assert.equal(code, 130, `${sig}: ${run.stderr()}`);
      assert.equal(existsSync(out), false);
      assert.deepEqual(leftovers(), [], `${sig} left a temporary file`);
    }
  });

  it('Ctrl-C is seen while large inputs are copied in few long ranges (MP4) or joined (FLV)', async () => {
    // 40 inputs of 8.6 MB: MP4 samples back to back move as a few long ranges, and FLV chunks are read
    // synchronously; either way a signal must be looked at while the output is being written.
    for (const name of ['noise.mp4', 'noise.flv'] as const) {
      const src = await fixture(name);
      const out = join(dir, `long-${name}`);
      const run = await startRemux(
        Array.from({ length: 40 }, () => src),
        out,
      );
      run.child.kill('SIGINT');
      assert.equal(await run.closed, 130, `${name}: ${run.stderr()}`);
      assert.equal(existsSync(out), false);
      assert.deepEqual(leftovers(), [], `${name} left a temporary file`);
    }
  });

  it('a second Ctrl-C leaves at once, and takes the temporary output with it', async () => {
    const src = await fixture('noise.mp4');
    const out = join(dir, 'twice.mp4');
    const run = await startRemux(
      Array.from({ length: 40 }, () => src),
      out,
    );
    run.child.kill('SIGINT');
    run.child.kill('SIGINT');
    assert.equal(await run.closed, 130, run.stderr());
    assert.equal(existsSync(out), false);
    assert.deepEqual(leftovers(), []);
  });

  it('-o -, an init segment alone and a pipe as input are refused with what to do, not as bugs', async () => {
    const stdout = await castkit(['remux', await fixture('h264-aac.ts'), '-o', '-']);
    assert.equal(stdout.code, 2, stdout.stderr);
    assert.match(stdout.stderr, /-o - \(standard output\) is not supported/);
    assert.equal(existsSync(join(process.cwd(), '-')), false, 'no file named -');

    // An init segment: an fMP4's moov with its tracks and no samples.
    const frag = readFileSync(await fixture('h264-aac.fmp4'));
    const moof = frag.indexOf('moof');
    const init = join(dir, 'init.mp4');
    writeFileSync(init, frag.subarray(0, moof - 4));
    const alone = await castkit(['remux', init, '-o', join(dir, 'init-out.mp4')]);
    assert.equal(alone.code, 3, alone.stderr);
    assert.match(alone.stderr, /init\.mp4: no media samples, only an init segment/);

    const fifo = join(dir, 'in.fifo');
    const { execFileSync } = await import('node:child_process');
    execFileSync('mkfifo', [fifo]);
    const piped = await castkit(['remux', fifo, '-o', join(dir, 'fifo-out.mp4')]);
    assert.equal(piped.code, 3, piped.stderr);
    assert.match(piped.stderr, /in\.fifo is not a regular file/);
    assert.deepEqual(leftovers(), []);

    // An FLV join finds each chunk's size once it has opened it: a pipe, a directory or a missing file
    // among the chunks is refused as it comes, naming it, without waiting for a writer to the pipe.
    const flv = await fixture('h264-aac.flv');
    mkdirSync(join(dir, 'chunk-dir.flv'));
    for (const [bad, message] of [
      [fifo, /in\.fifo is not a regular file/],
      [join(dir, 'chunk-dir.flv'), /chunk-dir\.flv is a directory/],
      [join(dir, 'gone.flv'), /no such file: .*gone\.flv/],
    ] as const) {
      const out = join(dir, 'join-bad.flv');
      const r = await castkit(['remux', flv, flv, bad, flv, '-o', out]);
      assert.equal(r.code, 3, r.stderr);
      assert.match(r.stderr, message);
      assert.equal(existsSync(out), false);
      assert.deepEqual(leftovers(), []);
    }
  });

  it('--help has examples', async () => {
    const r = await castkit(['remux', '--help']);
    assert.equal(r.code, 0);
    assert.match(r.stdout, /castkit remux chunks\/\*\.flv -o stream\.flv/);
  });

  it('keeps a code cache per command: written by the first successful run, used unchanged by the next', async () => {
    const cache = join(dir, 'code-cache');
    const env = { CASTKIT_CODE_CACHE: cache };
    const files = (): string[] => (existsSync(cache) ? readdirSync(cache) : []);
    const input = await fixture('h264-aac.flv');
    // A failed run and a --help write nothing: the cache is of the code a command's work runs.
    assert.equal(
      (await castkit(['remux', join(dir, 'missing.flv'), '-o', join(dir, 'm.mp4')], { env })).code,
      3,
    );
    assert.equal((await castkit(['remux', '--help'], { env })).code, 0);
    assert.deepEqual(files(), []);
    const first = await castkit(['remux', input, '-o', join(dir, 'cc1.mp4')], { env });
    assert.equal(first.code, 0, first.stderr);
    const [name, ...more] = files();
    assert.match(name ?? '', /^remux-[\w-]+-v8-.+\.bin$/);
    assert.deepEqual(more, []);
    const st = statSync(join(cache, name as string));
    const second = await castkit(['remux', input, '-o', join(dir, 'cc2.mp4')], { env });
    assert.equal(second.code, 0, second.stderr);
    assert.equal(second.stdout.replace('cc2', 'cc1'), first.stdout);
    assert.ok(readFileSync(join(dir, 'cc2.mp4')).equals(readFileSync(join(dir, 'cc1.mp4'))));
    const again = statSync(join(cache, name as string));
    assert.equal(again.ino, st.ino, 'V8 took the cache: it was not made again');
    mkdirSync(join(dir, 'no-cache'));
    const off = await castkit(['remux', input, '-o', join(dir, 'cc3.mp4')], {
      env: { CASTKIT_CODE_CACHE: 'off', HOME: join(dir, 'no-cache'), XDG_CACHE_HOME: '' },
    });
    assert.equal(off.code, 0, off.stderr);
    assert.deepEqual(readdirSync(join(dir, 'no-cache')), []);
  });
});
