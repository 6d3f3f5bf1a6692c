import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { FfmpegError, InterruptedError } from '../../src/core/errors.js';
import type { FfmpegProgress } from '../../src/ffmpeg/progress.js';
import { runFfmpeg, runTool } from '../../src/ffmpeg/run.js';
import { tools } from '../helpers/fixtures.js';

const ffmpeg = (): string => tools().ffmpeg.path;
const LONG_INPUT = [
  '-re',
  '-f',
  'lavfi',
  '-i',
  'testsrc2=size=160x120:rate=10:duration=60',
  '-f',
  'null',
  '-',
];

describe('runFfmpeg', () => {
  it('reports typed progress ending at 100% of a known duration', async () => {
    const events: FfmpegProgress[] = [];
    await runFfmpeg({
      bin: ffmpeg(),
      args: [
        '-f',
        'lavfi',
        '-i',
        'testsrc2=size=160x120:rate=25:duration=3',
        '-c:v',
        'libx264',
        '-f',
        'null',
        '-',
      ],
      durationSec: 3,
      onProgress: (p) => events.push(p),
    });
    const last = events.at(-1);
    assert.ok(last, 'at least the final progress block arrives');
    assert.equal(last.done, true);
    assert.equal(last.percent, 100);
    assert.equal(last.etaSec, 0);
    assert.ok(Math.abs((last.outTimeSec ?? 0) - 3) < 0.1, `out time ${last.outTimeSec}`);
    assert.equal(last.frame, 75);
  });

  it('turns a failure into a typed error with exit code and the meaningful stderr lines', async () => {
    await assert.rejects(
      runFfmpeg({ bin: ffmpeg(), args: ['-i', '/nonexistent/castkit-missing.mp4', '-f', 'null', '-'] }),
      (err: unknown) => {
        assert.ok(err instanceof FfmpegError);
        assert.equal(err.code, 'E_FFMPEG_FAILED');
        assert.notEqual(err.details.exitCode, 0);
        const tail = err.details.stderrTail as string[];
        assert.ok(tail.length > 0 && tail.length <= 8);
        assert.match(tail.join('\n'), /No such file or directory/);
        assert.match(err.message, /castkit-missing\.mp4/);
        return true;
      },
    );
  });

  it('masks secrets in error messages and stderr lines', async () => {
    const key = 'sk_live_SECRETKEY123';
    await assert.rejects(
      runFfmpeg({
        bin: ffmpeg(),
        args: ['-f', 'lavfi', '-i', 'testsrc2=duration=1', '-f', 'flv', `rtmp://127.0.0.1:1/live/${key}`],
        secrets: [key],
        timeoutMs: 30_000,
      }),
      (err: unknown) => {
        assert.ok(err instanceof FfmpegError);
        const everything = JSON.stringify({ m: err.message, d: err.details });
        assert.ok(!everything.includes(key), everything);
        assert.match(everything, /\*\*\*\*/);
        return true;
      },
    );
  });

  it('kills a job that outlives its timeout', async () => {
    const t0 = Date.now();
    await assert.rejects(runFfmpeg({ bin: ffmpeg(), args: LONG_INPUT, timeoutMs: 400 }), (err: unknown) => {
      assert.ok(err instanceof FfmpegError);
      assert.equal(err.code, 'E_FFMPEG_TIMEOUT');
      return true;
    });
    assert.ok(Date.now() - t0 < 10_000);
  });

  it('stops on an AbortSignal', async () => {
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 300);
    await assert.rejects(runFfmpeg({ bin: ffmpeg(), args: LONG_INPUT, signal: ac.signal }), InterruptedError);
    await assert.rejects(runFfmpeg({ bin: ffmpeg(), args: LONG_INPUT, signal: ac.signal }), InterruptedError);
  });

  it('escalates to SIGKILL when the tool ignores the polite signal', async () => {
    const ac = new AbortController();
    const job = runTool({
      bin: process.execPath,
      args: [
        '-e',
        "process.on('SIGINT',()=>{});process.on('SIGTERM',()=>{});setInterval(()=>{},1000);console.log('up')",
      ],
      signal: ac.signal,
      killGraceMs: 200,
      onStdout: () => ac.abort('SIGTERM'),
    });
    await assert.rejects(job, (err: unknown) => {
      assert.ok(err instanceof InterruptedError);
      assert.equal(err.details.signal, 'SIGKILL');
      return true;
    });
  });

  it('says how to find ffmpeg when the binary is missing', async () => {
    await assert.rejects(runTool({ bin: '/nonexistent/ffmpeg', args: [] }), (err: unknown) => {
      assert.ok(err instanceof FfmpegError);
      assert.equal(err.code, 'E_FFMPEG_NOT_FOUND');
      assert.match(err.hint ?? '', /castkit doctor/);
      return true;
    });
  });

  it('forwards SIGTERM received by this process to ffmpeg', async () => {
    const here = dirname(fileURLToPath(import.meta.url));
    const child = spawn(process.execPath, [join(here, '..', 'helpers', 'forward-child.js')], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    const done = new Promise<void>((resolve) => child.on('close', () => resolve()));
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      out += d;
      if (out.startsWith('started\n') && !child.killed) child.kill('SIGTERM');
    });
    const guard = setTimeout(() => child.kill('SIGKILL'), 30_000);
    await done;
    clearTimeout(guard);
    const last = JSON.parse(out.trim().split('\n').at(-1) ?? '{}') as {
      result?: string;
      code?: string;
      elapsedMs?: number;
    };
    assert.equal(last.result, 'error');
    assert.equal(last.code, 'E_INTERRUPTED');
    assert.ok((last.elapsedMs ?? 1e9) < 20_000, 'ffmpeg stopped well before its 60 s input ended');
  });
});
