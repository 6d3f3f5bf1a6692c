import { redact } from './redact.js';

export type LogLevel = 'quiet' | 'normal' | 'verbose';

export interface Logger {
  /** Shown with --verbose only. */
  debug(message: string): void;
  /** Normal chatter; hidden by --quiet. */
  info(message: string): void;
  /** Always shown unless --quiet. */
  warn(message: string): void;
  /** Always shown. */
  error(message: string): void;
  /** Register a secret so that it is masked in everything this logger prints. */
  addSecret(secret: string): void;
}

export interface LoggerOptions {
  level?: LogLevel;
  write?: (line: string) => void;
  secrets?: string[];
}

export function createLogger(options: LoggerOptions = {}): Logger {
  const level = options.level ?? 'normal';
  const write = options.write ?? ((line: string) => process.stderr.write(line + '\n'));
  const secrets = [...(options.secrets ?? [])];
  const emit = (prefix: string, message: string): void => write(redact(prefix + message, secrets));
  return {
    debug: (m) => {
      if (level === 'verbose') emit('debug: ', m);
    },
    info: (m) => {
      if (level !== 'quiet') emit('', m);
    },
    warn: (m) => {
      if (level !== 'quiet') emit('warning: ', m);
    },
    error: (m) => emit('error: ', m),
    addSecret: (s) => {
      secrets.push(s);
    },
  };
}

/** A logger that drops everything: the library default, so that the API prints nothing by itself. */
export const silentLogger: Logger = {
  debug: () => {},
  info: () => {},
  warn: () => {},
  error: () => {},
  addSecret: () => {},
};
