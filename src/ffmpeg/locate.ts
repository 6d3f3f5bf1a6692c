import { accessSync, chmodSync, constants, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { delimiter, dirname, join } from 'node:path';
import { FfmpegError } from '../core/errors.js';

export type ToolName = 'ffmpeg' | 'ffprobe';
/** Where a binary was found, in the order DESIGN.md gives. */
export type ToolSource = 'flag' | 'env' | 'sibling' | 'path' | 'npm';

export interface ToolLocation {
  name: ToolName;
  path: string;
  source: ToolSource;
}

export interface LocateOptions {
  /** --ffmpeg */
  ffmpeg?: string | undefined;
  /** --ffprobe */
  ffprobe?: string | undefined;
  /** Defaults to process.env. */
  env?: NodeJS.ProcessEnv;
}

export interface Toolset {
  ffmpeg: ToolLocation;
  ffprobe: ToolLocation;
}

const ENV_VAR: Record<ToolName, string> = { ffmpeg: 'CASTKIT_FFMPEG', ffprobe: 'CASTKIT_FFPROBE' };
const NPM_PACKAGE: Record<ToolName, string> = {
  ffmpeg: '@ffmpeg-installer/ffmpeg',
  ffprobe: '@ffprobe-installer/ffprobe',
};
const EXE = process.platform === 'win32' ? '.exe' : '';
export const DOCTOR_HINT = 'run `castkit doctor` to see which ffmpeg is used and what it can do';

function isExecutableFile(path: string): boolean {
  try {
    if (!statSync(path).isFile()) return false;
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

function explicit(name: ToolName, path: string, source: 'flag' | 'env'): ToolLocation {
  if (isExecutableFile(path)) return { name, path, source };
  const where = source === 'flag' ? `--${name} ${path}` : `${ENV_VAR[name]}=${path}`;
  throw new FfmpegError(`${where}: no executable ${name} at that path`, {
    code: 'E_FFMPEG_CONFIG',
    hint: `fix or remove ${source === 'flag' ? `--${name}` : ENV_VAR[name]}; ${DOCTOR_HINT}`,
    details: { tool: name, path, source },
  });
}

function fromPath(name: ToolName, env: NodeJS.ProcessEnv): ToolLocation | undefined {
  for (const dir of (env.PATH ?? '').split(delimiter)) {
    if (dir === '') continue;
    const candidate = join(dir, name + EXE);
    if (isExecutableFile(candidate)) return { name, path: candidate, source: 'path' };
  }
  return undefined;
}

/** The binaries shipped inside the optional npm packages, so that `npm ci` alone gives a working tool. */
function fromNpm(name: ToolName): ToolLocation | undefined {
  let path: string;
  try {
    const require = createRequire(import.meta.url);
    const mod = require(NPM_PACKAGE[name]) as { path?: unknown };
    if (typeof mod.path !== 'string') return undefined;
    path = mod.path;
  } catch {
    return undefined; // package not installed, or no binary for this platform
  }
  if (!isExecutableFile(path)) {
    // npm may have skipped the package's postinstall `chmod u+x`; the file is ours to fix.
    try {
      chmodSync(path, statSync(path).mode | 0o100);
    } catch {
      return undefined;
    }
    if (!isExecutableFile(path)) return undefined;
  }
  return { name, path, source: 'npm' };
}

/**
 * Find one tool: flag, environment variable, next to an explicitly chosen ffmpeg (for ffprobe), the PATH,
 * then the npm-shipped binary. An explicit setting that is broken is an error, never silently skipped.
 */
export function locateTool(
  name: ToolName,
  options: LocateOptions = {},
  explicitFfmpeg?: ToolLocation,
): ToolLocation {
  const env = options.env ?? process.env;
  const flag = options[name];
  if (flag !== undefined && flag !== '') return explicit(name, flag, 'flag');
  const fromEnv = env[ENV_VAR[name]];
  if (fromEnv !== undefined && fromEnv !== '') return explicit(name, fromEnv, 'env');
  if (name === 'ffprobe' && explicitFfmpeg) {
    const sibling = join(dirname(explicitFfmpeg.path), 'ffprobe' + EXE);
    if (isExecutableFile(sibling)) return { name, path: sibling, source: 'sibling' };
  }
  const found = fromPath(name, env) ?? fromNpm(name);
  if (found) return found;
  throw new FfmpegError(`${name} not found`, {
    code: 'E_FFMPEG_NOT_FOUND',
    hint:
      `install it (Debian: apt-get install ffmpeg), run npm install to get the bundled binaries, ` +
      `or set ${ENV_VAR[name]}; ${DOCTOR_HINT}`,
    details: { tool: name },
  });
}

/** Resolve ffmpeg and ffprobe together; a broken explicit setting for either one fails the whole set. */
export function locateTools(options: LocateOptions = {}): Toolset {
  const ffmpeg = locateTool('ffmpeg', options);
  const explicitFfmpeg = ffmpeg.source === 'flag' || ffmpeg.source === 'env' ? ffmpeg : undefined;
  const ffprobe = locateTool('ffprobe', options, explicitFfmpeg);
  return { ffmpeg, ffprobe };
}
