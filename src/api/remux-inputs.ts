import { InputError, UsageError } from '../core/errors.js';
import { sniffContainer, type ContainerFormat } from '../formats/sniff.js';
import { closeInput, openInputFile, readOpenInput } from '../sources/file-source.js';

// What remux's inputs are, from their first bytes (the file access itself is in sources/file-source.ts).

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
  const opened = openInputFile(path); // names a missing path, a directory or a pipe
  try {
    return sniffBytes(path, readOpenInput(opened, head));
  } finally {
    closeInput(opened);
  }
}

/** Reused by every sniffFile: inputs are sniffed one after the other. */
const head = new Uint8Array(4096);

/** What an input is, from its first bytes (up to 4 KiB of them; all of them for a smaller file). */
export function sniffBytes(path: string, first: Uint8Array): SniffedInput {
  const format = sniffContainer(first.subarray(0, 4096));
  if (format === 'unknown') {
    throw new InputError(`${path} is not FLV, MP4/fMP4 or MPEG-TS`, {
      code: 'E_NOT_MEDIA',
      hint:
        first.length === 0 ? 'the file is empty' : 'castkit remux reads FLV, MP4, fragmented MP4 and MPEG-TS',
      details: { path },
    });
  }
  return { format, segment: format === 'mp4' && isMediaSegment(first) };
}

/** The code of requireFlvInput's error: remux then makes the FLV the general way (see remux.ts). */
export const JOIN_NOT_FLV = 'E_JOIN_NOT_FLV';

/** An FLV join (all chunks FLV) stops at an input that is something else. */
export function requireFlvInput(path: string, sniffed: SniffedInput): void {
  if (sniffed.format === 'flv') return;
  throw new UsageError(`${path} is ${sniffed.format}, not FLV: it cannot be joined as an FLV chunk`, {
    code: JOIN_NOT_FLV,
    hint: 'castkit remux writes FLV from any inputs; join FLV chunks on their own to keep their tags as they are',
    details: { path },
  });
}
