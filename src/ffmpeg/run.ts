import { spawn } from 'node:child_process';
import { basename } from 'node:path';
import { FfmpegError, InterruptedError, systemErrorCode } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import { formatCommand, redact } from '../core/redact.js';
import { DOCTOR_HINT } from './locate.js';
import { ProgressParser, type FfmpegProgress } from './progress.js';
import { StderrTail } from './stderr.js';

export interface RunToolOptions {
  /** Absolute path of the binary. */
  bin: string;
  /** Argument array; never a shell string. */
  args: readonly string[];
  /** Kill the tool after this many milliseconds (E_FFMPEG_TIMEOUT). */
  timeoutMs?: number;
  /** Aborting stops the tool: first the signal in `signal.reason` if it names one, else SIGINT. */
  signal?: AbortSignal;
  /** Forward SIGINT/SIGTERM received by this process to the tool while it runs. */
  forwardSignals?: boolean;
  /** Time between the polite signal and SIGKILL. */
  killGraceMs?: number;
  /** Values masked as **** in logged commands and error messages. */
  secrets?: readonly string[];
  /** Keep stdout (e.g. ffprobe's JSON), at most this many bytes. */
  captureStdout?: number;
  /** Called with stdout text chunks when not capturing. */
  onStdout?: (text: string) => void;
  logger?: Logger;
  cwd?: string;
  /** The tool's environment (default: this process's). */
  env?: Readonly<Record<string, string | undefined>>;
}

export interface RunToolResult {
  stdout: string;
  /** The kept stderr lines (bounded), oldest first. */
  stderr: string[];
  elapsedMs: number;
}

const STOP_SIGNALS = ['SIGINT', 'SIGTERM'] as const;
type StopSignal = (typeof STOP_SIGNALS)[number];

function reasonSignal(signal: AbortSignal): StopSignal {
  const r: unknown = signal.reason;
  return r === 'SIGTERM' || r === 'SIGINT' ? r : 'SIGINT';
}

/**
 * Run ffmpeg or ffprobe with an argument array. Resolves when it exits 0; otherwise rejects with a typed
 * error carrying the exit code, the signal and the last meaningful stderr lines.
 */
export function runTool(options: RunToolOptions): Promise<RunToolResult> {
  const name = basename(options.bin).replace(/\.exe$/i, '');
  const secrets = options.secrets ?? [];
  const grace = options.killGraceMs ?? 5000;
  options.logger?.debug(`running: ${formatCommand(options.bin, options.args, secrets)}`);

  return new Promise<RunToolResult>((resolve, reject) => {
    if (options.signal?.aborted) {
      reject(new InterruptedError(`${name} not started: interrupted`));
      return;
    }
    const started = Date.now();
    const child = spawn(options.bin, options.args, {
      stdio: ['ignore', 'pipe', 'pipe'],
      cwd: options.cwd,
      ...(options.env ? { env: options.env } : {}),
      windowsHide: true,
    });
    const tail = new StderrTail();
    const out: Buffer[] = [];
    let outBytes = 0;
    let outOverflow = false;
    let stopReason: 'timeout' | 'abort' | 'signal' | undefined;
    let killTimer: NodeJS.Timeout | undefined;
    let timeoutTimer: NodeJS.Timeout | undefined;
    let settled = false;

    const stop = (sig: NodeJS.Signals): void => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill(sig);
      killTimer ??= setTimeout(() => child.kill('SIGKILL'), grace);
    };
    const onAbort = (): void => {
      stopReason ??= 'abort';
      stop(options.signal ? reasonSignal(options.signal) : 'SIGINT');
    };
    const forwarders = new Map<StopSignal, () => void>();
    if (options.forwardSignals) {
      for (const sig of STOP_SIGNALS) {
        const fn = (): void => {
          stopReason ??= 'signal';
          stop(sig);
        };
        forwarders.set(sig, fn);
        process.on(sig, fn);
      }
    }
    options.signal?.addEventListener('abort', onAbort, { once: true });
    if (options.timeoutMs !== undefined) {
      timeoutTimer = setTimeout(() => {
        stopReason ??= 'timeout';
        stop('SIGTERM');
      }, options.timeoutMs);
    }

    const cleanup = (): void => {
      settled = true;
      if (killTimer) clearTimeout(killTimer);
      if (timeoutTimer) clearTimeout(timeoutTimer);
      options.signal?.removeEventListener('abort', onAbort);
      for (const [sig, fn] of forwarders) process.off(sig, fn);
    };

    child.stdout.on('data', (chunk: Buffer) => {
      if (options.captureStdout !== undefined) {
        if (outBytes + chunk.length > options.captureStdout) {
          outOverflow = true;
          return;
        }
        out.push(chunk);
        outBytes += chunk.length;
      } else {
        options.onStdout?.(chunk.toString('utf8'));
      }
    });
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (text: string) => tail.push(text));

    child.on('error', (err) => {
      if (settled) return;
      cleanup();
      const code = systemErrorCode(err);
      reject(
        new FfmpegError(`cannot start ${name} at ${options.bin}: ${code ?? err.message}`, {
          code: 'E_FFMPEG_NOT_FOUND',
          hint: DOCTOR_HINT,
          cause: err,
          details: { bin: options.bin },
        }),
      );
    });

    child.on('close', (exitCode, signal) => {
      if (settled) return;
      cleanup();
      // ffmpeg echoes URLs (with stream keys) in its messages: mask them before they leave.
      const stderr = tail.all().map((l) => redact(l, secrets));
      const lastLines = tail.meaningful().map((l) => redact(l, secrets));
      const details = { bin: options.bin, exitCode, signal, stderrTail: lastLines };
      if (stopReason === 'abort' || stopReason === 'signal') {
        reject(new InterruptedError(`${name} stopped: interrupted`, { details }));
        return;
      }
      if (stopReason === 'timeout') {
        reject(
          new FfmpegError(`${name} timed out after ${options.timeoutMs} ms`, {
            code: 'E_FFMPEG_TIMEOUT',
            retryable: true,
            details,
          }),
        );
        return;
      }
      if (exitCode !== 0) {
        const why = lastLines.at(-1) ?? 'no message';
        const how = signal !== null ? `killed by ${signal}` : `exit code ${exitCode}`;
        reject(
          new FfmpegError(`${name} failed (${how}): ${why}`, {
            code: 'E_FFMPEG_FAILED',
            details,
          }),
        );
        return;
      }
      if (outOverflow) {
        reject(
          new FfmpegError(`${name} wrote more than ${options.captureStdout} bytes to stdout`, {
            code: 'E_FFMPEG_OUTPUT_TOO_LARGE',
            details,
          }),
        );
        return;
      }
      resolve({ stdout: Buffer.concat(out).toString('utf8'), stderr, elapsedMs: Date.now() - started });
    });
  });
}

export interface RunFfmpegOptions extends Omit<RunToolOptions, 'captureStdout' | 'onStdout'> {
  /** Known duration of the input, seconds: gives percent and ETA. */
  durationSec?: number;
  onProgress?: (progress: FfmpegProgress) => void;
}

/** ffmpeg with `-progress pipe:1` parsed into typed events. */
export function runFfmpeg(options: RunFfmpegOptions): Promise<RunToolResult> {
  const parser = new ProgressParser(options.durationSec);
  const onProgress = options.onProgress;
  const args = ['-hide_banner', '-nostdin', '-nostats', '-progress', 'pipe:1', ...options.args];
  return runTool({
    ...options,
    args,
    onStdout: onProgress ? (text) => parser.push(text).forEach(onProgress) : undefined,
  });
}
