import { closeSync, openSync, readFileSync, readSync, statSync } from 'node:fs';
import { CastkitError, InputError, systemErrorCode } from '../core/errors.js';

// Local input files, read synchronously: inputs are often thousands of small chunks, for which a round
// of async calls each costs more than the reading itself. Errors name the path and say what to do.

function unreadable(path: string, err: unknown): InputError {
  return new InputError(`cannot read ${path}: ${systemErrorCode(err) ?? String(err)}`, {
    code: 'E_INPUT_UNREADABLE',
    hint: 'check the file permissions',
    details: { path },
    cause: err,
  });
}

/** The size of an input file. */
export function statInput(path: string): number {
  try {
    const st = statSync(path);
    if (st.isDirectory()) {
      throw new InputError(`${path} is a directory, not a media file`, {
        code: 'E_INPUT_IS_DIRECTORY',
        hint: 'name a file inside it',
        details: { path },
      });
    }
    if (!st.isFile()) {
      // A pipe or a device: remux reads its inputs where it likes (sniffing, then reading, and twice for
      // MP4), which only a regular file allows.
      throw new InputError(
        `${path} is not a regular file (a pipe or a device); castkit reads inputs from files`,
        {
          code: 'E_INPUT_NOT_FILE',
          hint: 'save the stream to a file first, e.g. cat > in.ts, then remux in.ts',
          details: { path },
        },
      );
    }
    return st.size;
  } catch (err) {
    if (err instanceof CastkitError) throw err;
    const code = systemErrorCode(err);
    if (code === 'ENOENT' || code === 'ENOTDIR') {
      throw new InputError(`no such file: ${path}`, {
        code: 'E_INPUT_NOT_FOUND',
        hint: 'check the path and the current directory',
        details: { path },
        cause: err,
      });
    }
    throw unreadable(path, err);
  }
}

/** A file descriptor for reading an input (the caller closes it). */
export function openInputSync(path: string): number {
  try {
    return openSync(path, 'r');
  } catch (err) {
    throw unreadable(path, err);
  }
}

/**
 * The first `into.length` bytes of an input (its size, as the caller found it), read into `into`. Returns
 * a view of exactly the bytes read (fewer when the input is shorter now).
 */
export function readInputInto(path: string, into: Uint8Array): Uint8Array {
  let fd = -1;
  try {
    fd = openSync(path, 'r');
    let got = 0;
    while (got < into.length) {
      const n = readSync(fd, into, got, into.length - got, got);
      if (n === 0) break;
      got += n;
    }
    return into.subarray(0, got);
  } catch (err) {
    throw unreadable(path, err);
  } finally {
    if (fd >= 0) closeSync(fd);
  }
}

/** All the bytes of an input (for small ones: chunks, init segments). */
export function readInputSync(path: string): Uint8Array {
  try {
    const b = readFileSync(path);
    return new Uint8Array(b.buffer, b.byteOffset, b.length);
  } catch (err) {
    throw unreadable(path, err);
  }
}
