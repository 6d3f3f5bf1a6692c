import type { ErrorCategory } from '../core/errors.js';

/** The only place where error categories become process exit codes (DESIGN.md). */
export const EXIT = {
  ok: 0,
  bug: 1,
  usage: 2,
  input: 3,
  network: 4,
  ffmpeg: 5,
  output: 6,
  interrupted: 130,
} as const;

export function exitCodeFor(category: ErrorCategory): number {
  return category === 'internal' ? EXIT.bug : EXIT[category];
}
