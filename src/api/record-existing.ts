import { existsSync, statSync } from 'node:fs';
import { OutputError } from '../core/errors.js';
import { journalPathFor } from '../download/journal.js';

/**
 * A finished recording is not recorded over by accident. Outputs appear only when complete (written under
 * a temporary name, then renamed), and a recording that stopped early keeps its resume journal beside the
 * output: an output without one is the finished work of an earlier run. A second run of the same command
 * (a live show recorded again, a shell history recalled) would otherwise replace it silently, as yt-dlp
 * and ffmpeg do not. `overwrite` records over it; a journal beside it means a resume, which goes on.
 */
export function refuseFinishedOutput(output: string, overwrite: boolean | undefined): void {
  if (overwrite || output === '-' || existsSync(journalPathFor(output))) return;
  // Not there, or not a file (a directory named as the output fails later, saying so).
  // A path that cannot be looked at (a parent that is a file: ENOTDIR) is not a finished recording either:
  // creating the output then says what is wrong with it.
  let st;
  try {
    st = statSync(output, { throwIfNoEntry: false });
  } catch {
    return;
  }
  if (!st?.isFile()) return;
  throw new OutputError(`${output} already exists: a finished recording of an earlier run`, {
    code: 'E_OUTPUT_EXISTS',
    hint: 'choose another output, or pass --force to record over it',
    details: { path: output },
  });
}
