/** A part of a resource: `length` bytes from `offset` (EXT-X-BYTERANGE, DASH mediaRange, ...). */
export interface ByteRange {
  offset: number;
  /** To the end of the resource when absent. */
  length?: number;
}

/** The Range header for `r` (RFC 9110 section 14.1.2; the last position is inclusive). */
export function rangeHeader(r: ByteRange): string {
  return r.length === undefined ? `bytes=${r.offset}-` : `bytes=${r.offset}-${r.offset + r.length - 1}`;
}

/** `bytes first-last/size` of a 206 response (RFC 9110 section 14.4). */
export function parseContentRange(value: string | undefined): { first: number; last: number } | undefined {
  const m = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(value?.trim() ?? '');
  return m ? { first: Number(m[1]), last: Number(m[2]) } : undefined;
}
