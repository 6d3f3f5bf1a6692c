import { stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import {
  CastkitError,
  FfmpegError,
  InputError,
  NetworkError,
  UsageError,
  systemErrorCode,
} from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import { ffmpegProxyEnv } from '../download/proxy-env.js';
import { mapFfprobe, type FfprobeJson, type MediaInfo } from './probe-map.js';
import { runTool } from './run.js';

export interface FfprobeOptions {
  ffprobe: string;
  signal?: AbortSignal;
  timeoutMs?: number;
  logger?: Logger;
}

const URL_RE = /^([a-z][a-z0-9+.-]*):\/\//i;
const REMOTE_PROTOCOLS = 'http,https,tcp,tls,crypto,httpproxy';

export function isUrl(input: string): boolean {
  return URL_RE.test(input);
}

async function checkLocal(path: string): Promise<void> {
  try {
    const st = await stat(path);
    if (st.isDirectory()) {
      throw new InputError(`${path} is a directory, not a media file`, {
        code: 'E_INPUT_IS_DIRECTORY',
        hint: 'name a file inside it',
        details: { path },
      });
    }
  } catch (err) {
    if (err instanceof CastkitError) throw err;
    const code = systemErrorCode(err);
    if (code === 'ENOENT' || code === 'ENOTDIR') {
      throw new InputError(`no such file: ${path}`, {
        code: 'E_INPUT_NOT_FOUND',
        hint: 'check the path and the current directory',
        details: { path },
      });
    }
    throw new InputError(`cannot read ${path}: ${code ?? String(err)}`, {
      code: 'E_INPUT_UNREADABLE',
      hint: 'check the file permissions',
      details: { path },
      cause: err,
    });
  }
}

const NETWORK_PATTERNS = [
  /Connection refused/i,
  /Connection timed out/i,
  /Failed to resolve hostname/i,
  /Name or service not known/i,
  /Network is unreachable/i,
  /No route to host/i,
  /Connection reset/i,
  /Server returned/i,
  /HTTP error/i,
  /timed out/i,
  /Input\/output error/i,
  /End of file/i,
  /Protocol not found/i,
];

/** Turn ffprobe's failure into the error a user can act on: bad input (3), network (4) or ffmpeg (5). */
function classify(input: string, remote: boolean, err: FfmpegError, ffprobe: string): CastkitError {
  const crash = err.details.signal;
  if (crash === 'SIGSEGV' || crash === 'SIGBUS' || crash === 'SIGILL' || crash === 'SIGABRT') {
    // Seen with the static ffprobe builds shipped in @ffprobe-installer: they crash on any MPEG-TS input.
    return new FfmpegError(`ffprobe crashed (${crash}) reading ${input}`, {
      code: 'E_FFPROBE_CRASHED',
      hint: `this ffprobe (${ffprobe}) is broken for this input; install a system ffmpeg (Debian: apt-get install ffmpeg) or set CASTKIT_FFPROBE, then run \`castkit doctor\``,
      details: { input, ffprobe, signal: crash },
      cause: err,
    });
  }
  const lines = (err.details.stderrTail as string[] | undefined) ?? [];
  const text = lines.join('\n');
  const last = lines.at(-1)?.replace(/^.*?: /, '') ?? err.message;
  if (/Invalid data found when processing input/i.test(text)) {
    return new InputError(`${input} is not a media file ffprobe can read (${last})`, {
      code: 'E_NOT_MEDIA',
      hint: 'check that it is audio or video; HTML pages, text and empty files are not media',
      details: { input },
      cause: err,
    });
  }
  if (remote && NETWORK_PATTERNS.some((re) => re.test(text))) {
    const status = /Server returned (\d{3})|HTTP error (\d{3})/.exec(text);
    const code = Number(status?.[1] ?? status?.[2] ?? 0);
    return new NetworkError(`cannot fetch ${input}: ${last}`, {
      code: code ? 'E_HTTP_STATUS' : 'E_NETWORK',
      retryable: code === 0 || code >= 500 || code === 429,
      hint: 'check the URL, your connection and that the server is up',
      details: { url: input, status: code || undefined },
      cause: err,
    });
  }
  if (err.code === 'E_FFMPEG_FAILED') {
    return new InputError(`cannot read ${input} as media: ${last}`, {
      code: 'E_BAD_MEDIA',
      hint: 'the file may be truncated or damaged; try `castkit probe --verbose`',
      details: { input },
      cause: err,
    });
  }
  return err;
}

/** Probe one file or http(s) URL with ffprobe and map the result to castkit's schema. */
export async function ffprobeInput(input: string, options: FfprobeOptions): Promise<MediaInfo> {
  const scheme = URL_RE.exec(input)?.[1]?.toLowerCase();
  const remote = scheme !== undefined;
  if (remote && scheme !== 'http' && scheme !== 'https') {
    throw new UsageError(`unsupported URL scheme "${scheme}:" in ${input}`, {
      code: 'E_UNSUPPORTED_SCHEME',
      hint: 'give a local path or an http(s) URL',
    });
  }
  if (!remote) await checkLocal(input);
  // Local paths go through the file: protocol so that names like "concat:x" or "-y" are just names.
  const target = remote ? input : `file:${resolve(input)}`;
  const args = ['-hide_banner', '-v', 'error', '-show_format', '-show_streams', '-of', 'json'];
  if (remote) args.push('-protocol_whitelist', REMOTE_PROTOCOLS, '-rw_timeout', '20000000');
  args.push(target);
  let stdout: string;
  try {
    ({ stdout } = await runTool({
      bin: options.ffprobe,
      args,
      captureStdout: 64 * 1024 * 1024,
      timeoutMs: options.timeoutMs ?? 120_000,
      signal: options.signal,
      logger: options.logger,
      // HTTP(S)_PROXY and NO_PROXY as castkit's own downloads honour them (ffprobe reads only http_proxy).
      ...(remote ? { env: ffmpegProxyEnv(input) } : {}),
    }));
  } catch (err) {
    if (err instanceof FfmpegError) throw classify(input, remote, err, options.ffprobe);
    throw err;
  }
  let json: FfprobeJson;
  try {
    json = JSON.parse(stdout) as FfprobeJson;
  } catch (err) {
    throw new FfmpegError(`ffprobe printed output castkit cannot parse for ${input}`, {
      code: 'E_FFPROBE_OUTPUT',
      cause: err,
    });
  }
  const info = mapFfprobe(input, json);
  const media = info.streams.filter((s) => s.type === 'video' || s.type === 'audio' || s.type === 'subtitle');
  // ffmpeg reads .txt files as "tty" (ANSI art) video: that is not media to a user.
  if (info.format.name === 'tty' || media.length === 0) {
    throw new InputError(`${input} is not a media file: it has no audio, video or subtitle stream`, {
      code: 'E_NOT_MEDIA',
      hint: 'check that it is audio or video; text and HTML are not media',
      details: { input, format: info.format.name },
    });
  }
  return info;
}
