import { closeSync, openSync, readFileSync, readSync, statSync } from 'node:fs';
import { CastkitError, InputError, systemErrorCode } from '../core/errors.js';
import { sniffContainer, type ContainerFormat } from '../formats/sniff.js';
import { openInput } from '../sources/file-source.js';

// Remux's inputs on disk: what they are, and their bytes. Reads are synchronous where inputs are often
// thousands of small chunks, for which a round of async calls each costs more than the reading.

export type KnownFormat = Exclude<ContainerFormat, 'unknown'>;

/** An input's container, and whether it is an fMP4 media segment (which needs an init segment first). */
export interface SniffedInput {
  format: KnownFormat;
  segment: boolean;
}

/** ISO-BMFF media segments (fMP4 .m4s) carry no moov: they need the init segment given before them. */
function isMediaSegment(head: Uint8Array): boolean {
  const type = String.fromCharCode(...head.subarray(4, 8));
  return type === 'styp' || type === 'moof' || type === 'sidx' || type === 'emsg' || type === 'prft';
}

export function sniffFile(path: string): SniffedInput {
  statInput(path); // names a missing path or a directory
  const fd = openInputSync(path);
  try {
    const head = new Uint8Array(4096);
    const bytesRead = readSync(fd, head, 0, head.length, 0);
    const format = sniffContainer(head.subarray(0, bytesRead));
    if (format === 'unknown') {
      throw new InputError(`${path} is not FLV, MP4/fMP4 or MPEG-TS`, {
        code: 'E_NOT_MEDIA',
        hint:
          bytesRead === 0 ? 'the file is empty' : 'castkit remux reads FLV, MP4, fragmented MP4 and MPEG-TS',
        details: { path },
      });
    }
    return { format, segment: format === 'mp4' && isMediaSegment(head) };
  } finally {
    closeSync(fd);
  }
}

/** The size of an input file, with errors that name the path. */
export function statInput(path: string): number {
  try {
    const st = statSync(path);
    if (st.isDirectory()) {
      throw new InputError(`${path} is a directory, not a media file`, {
        code: 'E_INPUT_IS_DIRECTORY',
        details: { path },
      });
    }
    return st.size;
  } catch (err) {
    if (err instanceof CastkitError) throw err;
    throw new InputError(`no such file: ${path}`, {
      code: 'E_INPUT_NOT_FOUND',
      hint: 'check the path',
      details: { path },
      cause: err,
    });
  }
}

function unreadable(path: string, err: unknown): InputError {
  return new InputError(`cannot read ${path}: ${systemErrorCode(err) ?? String(err)}`, {
    code: 'E_INPUT_UNREADABLE',
    details: { path },
    cause: err,
  });
}

export function openInputSync(path: string): number {
  try {
    return openSync(path, 'r');
  } catch (err) {
    throw unreadable(path, err);
  }
}

export function readInputSync(path: string): Uint8Array {
  try {
    const b = readFileSync(path);
    return new Uint8Array(b.buffer, b.byteOffset, b.length);
  } catch (err) {
    throw unreadable(path, err);
  }
}

/** The first `size` bytes of a file (fewer if it is shorter now). */
export async function readWhole(path: string, size: number): Promise<Uint8Array> {
  const { handle } = await openInput(path);
  try {
    const buf = new Uint8Array(size);
    let got = 0;
    while (got < size) {
      const { bytesRead } = await handle.read(buf, got, size - got, got);
      if (bytesRead === 0) break;
      got += bytesRead;
    }
    return buf.subarray(0, got);
  } finally {
    await handle.close();
  }
}
