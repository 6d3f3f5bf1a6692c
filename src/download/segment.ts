/** What a download is made of, and how giving up on some of it is reported. */
import { CastkitError, NetworkError } from '../core/errors.js';
import type { ByteRange } from './byte-range.js';
import { shownUrl } from './http-errors.js';
import type { SegmentJournal } from './journal.js';

export interface Segment {
  /** Stable across runs (a media sequence number, a URI): the resume journal is keyed by it. */
  key: string;
  url: string;
  range?: ByteRange;
}

export interface MissingSegment {
  index: number;
  key: string;
  url: string;
  error: CastkitError;
}

export function missingSegmentsError(
  segments: readonly Segment[],
  failed: Map<number, CastkitError>,
  committed: number,
  journal: SegmentJournal | undefined,
  n: number,
): NetworkError {
  const list = [...failed.entries()].sort((a, b) => a[0] - b[0]);
  const shown = list
    .slice(0, 10)
    .map(([i, err]) => `#${i} ${segments[i]?.key}: ${err.message}`)
    .join('; ');
  const more = list.length > 10 ? `; and ${list.length - 10} more` : '';
  const resume = journal
    ? `run the same command again to resume (completed segments are kept in ${journal.dir}), or `
    : '';
  return new NetworkError(`${list.length} of ${n} segments could not be downloaded: ${shown}${more}`, {
    code: 'E_SEGMENTS_MISSING',
    retryable: false,
    hint: `${resume}pass --allow-gaps to write the output anyway with a gap report`,
    details: {
      committed,
      total: n,
      missing: list.map(([i, err]) => ({
        index: i,
        key: segments[i]?.key,
        url: shownUrl(segments[i]?.url ?? ''),
        code: err.code,
        message: err.message,
      })),
    },
  });
}

export function assertUniqueKeys(segments: readonly Segment[]): void {
  const seen = new Set<string>();
  for (const s of segments) {
    if (seen.has(s.key)) {
      throw new CastkitError(`segment key ${JSON.stringify(s.key)} appears twice in one download`, {
        code: 'E_DUPLICATE_SEGMENT',
        category: 'internal',
      });
    }
    seen.add(s.key);
  }
}
