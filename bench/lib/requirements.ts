/** Requirement helpers for suites, and the check run.ts does before any suite starts. */
import { accessSync, constants, statSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { locateTools } from '../../src/ffmpeg/locate.js';
import type { Requirement, Suite } from './types.js';

function isExecutable(path: string): boolean {
  try {
    if (!statSync(path).isFile()) return false;
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** Full path of `command` on the PATH, or undefined. */
export function which(command: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (dir !== '' && isExecutable(join(dir, command))) return join(dir, command);
  }
  return undefined;
}

/** A program found on the PATH (yt-dlp, streamlink, ...). */
export function onPath(command: string, debianPackage: string): Requirement {
  return {
    name: command,
    debianPackage,
    problem: () => (which(command) === undefined ? 'not on the PATH' : undefined),
  };
}

/** ffmpeg and ffprobe as castkit itself finds them (flag/env, PATH, then the npm-shipped binaries). */
export function ffmpegTools(): Requirement {
  return {
    name: 'ffmpeg + ffprobe',
    debianPackage: 'ffmpeg',
    problem: () => {
      try {
        locateTools({});
        return undefined;
      } catch (e) {
        return e instanceof Error ? e.message : String(e);
      }
    },
  };
}

export interface Missing {
  suite: string;
  requirement: Requirement;
  problem: string;
}

export function missingRequirements(suites: readonly Suite[]): Missing[] {
  const missing: Missing[] = [];
  for (const suite of suites) {
    for (const requirement of suite.requires()) {
      const problem = requirement.problem();
      if (problem !== undefined) missing.push({ suite: suite.name, requirement, problem });
    }
  }
  return missing;
}

/** The exact command that installs what is missing. */
export function setupCommand(): string {
  return process.getuid?.() === 0 ? 'bench/setup' : 'sudo bench/setup';
}
