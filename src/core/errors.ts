/**
 * One error base class for the whole toolkit. Every error carries a stable `code` (for scripts), a
 * `category` (which only cli/ maps to an exit code), a `retryable` flag (for the download engine) and an
 * optional `hint` telling the user what to do next.
 */
export type ErrorCategory = 'usage' | 'input' | 'network' | 'ffmpeg' | 'output' | 'interrupted' | 'internal';

export interface CastkitErrorOptions {
  code: string;
  category: ErrorCategory;
  retryable?: boolean;
  hint?: string;
  cause?: unknown;
  /** Extra machine-readable facts (path, url, byte offset, exit code, ...). */
  details?: Record<string, unknown>;
}

export class CastkitError extends Error {
  readonly code: string;
  readonly category: ErrorCategory;
  readonly retryable: boolean;
  readonly hint: string | undefined;
  readonly details: Record<string, unknown>;

  constructor(message: string, options: CastkitErrorOptions) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = options.code;
    this.category = options.category;
    this.retryable = options.retryable ?? false;
    this.hint = options.hint;
    this.details = options.details ?? {};
  }

  toJSON(): Record<string, unknown> {
    const out: Record<string, unknown> = {
      code: this.code,
      category: this.category,
      message: this.message,
    };
    if (this.hint !== undefined) out.hint = this.hint;
    if (Object.keys(this.details).length > 0) out.details = this.details;
    return out;
  }
}

type SubOptions = Omit<CastkitErrorOptions, 'category'>;

/** The command line or API was called wrongly. */
export class UsageError extends CastkitError {
  constructor(message: string, options: Partial<SubOptions> = {}) {
    super(message, { code: 'E_USAGE', ...options, category: 'usage' });
  }
}

/** Input that is missing, unreadable, not media, or malformed. */
export class InputError extends CastkitError {
  constructor(message: string, options: SubOptions) {
    super(message, { ...options, category: 'input' });
  }
}

/** A remote could not be reached or answered badly. Retryable unless said otherwise. */
export class NetworkError extends CastkitError {
  constructor(message: string, options: SubOptions) {
    super(message, { retryable: true, ...options, category: 'network' });
  }
}

/** ffmpeg/ffprobe missing, misconfigured or failing. */
export class FfmpegError extends CastkitError {
  constructor(message: string, options: SubOptions) {
    super(message, { ...options, category: 'ffmpeg' });
  }
}

/** The output could not be written (disk, permissions, storage backend). */
export class OutputError extends CastkitError {
  constructor(message: string, options: SubOptions) {
    super(message, { ...options, category: 'output' });
  }
}

/** Work was stopped by a signal or an AbortSignal. */
export class InterruptedError extends CastkitError {
  constructor(message = 'interrupted', options: Partial<SubOptions> = {}) {
    super(message, { code: 'E_INTERRUPTED', ...options, category: 'interrupted' });
  }
}

export function isCastkitError(value: unknown): value is CastkitError {
  return value instanceof CastkitError;
}

/** Node's system errors carry a string `code` such as ENOENT. */
export function systemErrorCode(err: unknown): string | undefined {
  if (typeof err === 'object' && err !== null && 'code' in err) {
    const code = (err as { code: unknown }).code;
    if (typeof code === 'string') return code;
  }
  return undefined;
}

/**
 * Malformed bytes in a container or codec structure. Always names the byte offset (in the input) where
 * the fault was found, so that a user or a bug report can point at it.
 */
export class FormatError extends CastkitError {
  readonly offset: number;
  constructor(message: string, options: { code: string; offset: number; hint?: string; cause?: unknown }) {
    super(`${message} (at byte ${options.offset})`, {
      code: options.code,
      category: 'input',
      hint: options.hint,
      cause: options.cause,
      details: { offset: options.offset },
    });
    this.offset = options.offset;
  }
}
