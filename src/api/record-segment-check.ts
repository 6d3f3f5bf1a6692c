/**
 * A media segment checked against what the manifest says of it, as its bytes arrive: a server (or a CDN's
 * cached copy) that cuts a segment short while sending a Content-Length that matches passes every HTTP
 * check, and would leave a hole in the recording that nothing reports. So:
 * - an MPEG-TS segment must cover about the time its EXTINF (or DASH duration) gives it: the presentation
 *   times of its longest track, read from the PES headers;
 * - a fragmented-MP4 segment must end where its last box ends (a cut one ends inside its mdat).
 * A segment that fails is a retryable network error (E_SEGMENT_SHORT): fetched again, and when it stays
 * short, missing like any segment that cannot be downloaded (exit 4, or a gap with --allow-gaps).
 */
import { NetworkError } from '../core/errors.js';
import type { ChunkTransform } from '../download/scheduler.js';
import { shownUrl } from '../download/http-errors.js';
import { BoxWalk } from '../formats/isobmff/isobmff-box-walk.js';
import { TsTimeSpan, looksLikeTs } from '../formats/mpegts/mpegts-timespan.js';

/**
 * Seconds a TS segment's media may fall short of its declared duration before it counts as cut short,
 * and the share of that duration: EXTINF may be rounded to whole seconds (RFC 8216 4.3.2.1, before
 * version 3: up to 0.5 s), and an audio-only segment's span is exact only to a PES (ffmpeg packs AAC
 * frames into PES packets of up to about 0.25 s at usual rates). Measured on ffmpeg-made HLS, video spans
 * equal EXTINF to the microsecond, so any segment cut by a quarter or more is caught.
 */
export const SHORT_SEGMENT_SLACK_SEC = 0.75;
export const SHORT_SEGMENT_SLACK_SHARE = 0.25;

/** Bytes needed to tell MPEG-TS (two sync bytes 188 apart) from ISO-BMFF (a box header). */
const SNIFF_BYTES = 189;

/** An MPEG-TS segment found short, when it is kept (see checkedSegment's `keepShort`). */
export interface ShortSegment {
  coveredSec: number;
  declaredSec: number;
  /** The E_SEGMENT_SHORT error it would have been. */
  error: NetworkError;
}

/**
 * A pass-through transform that checks the segment at `url` (declared `durationSec`) at final(); `inner`
 * (AES-128 decryption) runs first, so the check sees clear media. With `keepShort`, an MPEG-TS segment
 * found short is kept (what it holds plays) and reported there instead of thrown: for the last attempt
 * under --allow-gaps, where the gap is only the part it lacks. A cut fMP4 segment (its last box
 * incomplete) is always thrown: a demuxer cannot read it.
 */
export function checkedSegment(
  url: string,
  durationSec: number,
  inner?: ChunkTransform,
  keepShort?: (s: ShortSegment) => void,
): ChunkTransform & { check(bytes: Uint8Array): void } {
  // Chunks before the first SNIFF_BYTES are copied and held: the first bytes decide which check applies.
  let held: Uint8Array[] | undefined = [];
  let heldBytes = 0;
  let ts: TsTimeSpan | undefined;
  let length: number | undefined;
  let boxes: BoxWalk | undefined;
  const push = (b: Uint8Array): void => {
    ts?.push(b);
    boxes?.push(b);
  };
  const decide = (last: Uint8Array): void => {
    const earlier = held ?? [];
    held = undefined;
    const sniff = Buffer.concat([...earlier, last.subarray(0, SNIFF_BYTES)]);
    if (looksLikeTs(sniff)) {
      ts = new TsTimeSpan();
      ts.expect(length);
    } else if (looksLikeBox(sniff)) boxes = new BoxWalk();
    for (const b of earlier) push(b);
    push(last);
  };
  const feed = (b: Uint8Array): void => {
    if (b.length === 0) return;
    if (!held) return push(b);
    if (heldBytes + b.length >= SNIFF_BYTES) return decide(b);
    held.push(Uint8Array.from(b));
    heldBytes += b.length;
  };
  const verdict = (): void => {
    if (held && heldBytes === 0 && durationSec > SHORT_SEGMENT_SLACK_SEC) {
      throw new NetworkError(
        `segment ${shownUrl(url)} is empty where the playlist gives it ${durationSec.toFixed(2)} s: the server sent it cut short`,
        { code: 'E_SEGMENT_SHORT', retryable: true, details: { url: shownUrl(url) } },
      );
    }
    if (held) decide(new Uint8Array(0));
    if (ts) {
      const error = checkSpan(url, durationSec, ts);
      if (error && !keepShort) throw error;
      if (error) keepShort?.({ ...(error.details as { coveredSec: number; declaredSec: number }), error });
    }
    if (boxes) {
      const r = boxes.result();
      if (r.cut) {
        throw new NetworkError(
          `segment ${shownUrl(url)} ends inside its ${r.cut.type} box (${r.cut.present} of ${r.cut.size} bytes): the server sent it cut short`,
          { code: 'E_SEGMENT_SHORT', retryable: true, details: { url: shownUrl(url) } },
        );
      }
    }
  };
  return {
    start: (n) => {
      length = n;
      inner?.start?.(n);
    },
    update: (chunk) => {
      const out = inner ? inner.update(chunk) : chunk;
      feed(out);
      return out;
    },
    final: () => {
      const tail = inner ? inner.final() : Buffer.alloc(0);
      feed(tail);
      verdict();
      return tail;
    },
    check: (bytes) => {
      length = bytes.length;
      feed(bytes);
      verdict();
    },
  };
}

/** The E_SEGMENT_SHORT error of a TS segment that covers too little of its duration; undefined if none. */
function checkSpan(url: string, durationSec: number, ts: TsTimeSpan): NetworkError | undefined {
  // The longest track tells: a cut ends every track, while sparse video (one still picture a segment, over
  // running audio) covers little of a whole one.
  const spans = ts.spans();
  let covered = 0;
  let what = 'audio or video';
  for (const s of spans) {
    if (s.seconds < covered) continue;
    covered = s.seconds;
    what = s.kind;
  }
  const slack = Math.max(SHORT_SEGMENT_SLACK_SEC, SHORT_SEGMENT_SLACK_SHARE * durationSec);
  if (durationSec - covered <= slack) return undefined;
  return new NetworkError(
    `segment ${shownUrl(url)} holds ${covered.toFixed(2)} s of ${what} where the playlist gives it ${durationSec.toFixed(2)} s: the server sent it cut short`,
    {
      code: 'E_SEGMENT_SHORT',
      retryable: true,
      details: { url: shownUrl(url), coveredSec: covered, declaredSec: durationSec },
    },
  );
}

/** A top-level ISO-BMFF box a media segment starts with (14496-12 4.2: size, then a printable type). */
function looksLikeBox(head: Uint8Array): boolean {
  if (head.length < 8) return false;
  for (let k = 4; k < 8; k++) {
    const c = head[k] as number;
    if (c < 0x20 || c > 0x7e) return false;
  }
  return ['styp', 'moof', 'sidx', 'emsg', 'prft', 'ftyp', 'moov', 'free', 'mdat', 'uuid'].includes(
    String.fromCharCode(...head.subarray(4, 8)),
  );
}
