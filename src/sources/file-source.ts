import { open, stat, type FileHandle } from 'node:fs/promises';
import { CastkitError, InputError, InterruptedError, systemErrorCode } from '../core/errors.js';

/** Open an input file for reading, with errors that name the path. */
export async function openInput(path: string): Promise<{ handle: FileHandle; size: number }> {
  try {
    const st = await stat(path);
    if (st.isDirectory()) {
      throw new InputError(`${path} is a directory, not a media file`, {
        code: 'E_INPUT_IS_DIRECTORY',
        details: { path },
      });
    }
    return { handle: await open(path, 'r'), size: st.size };
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
      details: { path },
      cause: err,
    });
  }
}

/**
 * The bytes of an open file in order, in fresh chunks (demuxers may keep views of them in samples).
 */
export async function* readChunks(
  handle: FileHandle,
  options: { chunkSize?: number; signal?: AbortSignal | undefined } = {},
): AsyncGenerator<Uint8Array> {
  const size = options.chunkSize ?? 4 << 20;
  let position = 0;
  for (;;) {
    if (options.signal?.aborted) throw new InterruptedError();
    const buf = new Uint8Array(size);
    const { bytesRead } = await handle.read(buf, 0, size, position);
    if (bytesRead === 0) return;
    position += bytesRead;
    yield bytesRead === size ? buf : buf.subarray(0, bytesRead);
  }
}
