/**
 * The ustream segmented formats as a RecordSource (shared/specs/ustream-ums.md section 3), for the
 * recorder's download engine (parallel, retried, journaled, gaps never silent):
 *
 * - flv/segmented: one rendition (never several), each chunk a complete FLV file, so each is its own
 *   demuxer run for the MP4 sink (`discontinuity`) and one input of the FLV joiner for `-o out.flv`;
 * - mp4/segmented: the video and the audio track as two streams, each with its init segment (the init
 *   template filled with the first chunk's number and hash), muxed side by side by the sink.
 *
 * The chunk count is never sent. A recorded video runs from the first chunk through the whole range of the
 * last hash key (ustream-dl fetched only that key's first chunk and lost up to 9): the chunks after the
 * last key are probed (a 1-byte range each, a window at a time in parallel) up to the first 404, here in
 * the loader, so the engine is handed exactly the chunks that exist and any other failure stays loud.
 *
 * A live channel follows the session: chunk n is handed out once it is available, about
 * `(n - chunkId) * chunkTime` after the `stream` message that carried `chunkId`, and only while a hash covers
 * it; chunks that slid out of the hash window before they were handed out are reported as missed.
 */
import { getMaxListeners, setMaxListeners } from 'node:events';
import { InputError, UsageError, isCastkitError } from '../../core/errors.js';
import type { HttpClient } from '../../download/http-client.js';
import { withRetry, type RetryPolicy } from '../../download/retry-policy.js';
import type {
  MissedSpan,
  RecordSegment,
  RecordSource,
  RenditionRow,
  SourceBatch,
  SourceOptions,
  StreamName,
} from '../record-source.js';
import type { UmsFeed, UmsState } from './ums-client.js';
import type { SegmentedFormat } from './ums-protocol.js';
import {
  chunkUrl,
  describeFlvRendition,
  describeMp4,
  flvRenditions,
  flvRows,
  hashFor,
  keySpacing,
  mp4Rows,
  mp4Tracks,
  pickFlvRendition,
  pickMp4Tracks,
  type FlvRendition,
  type Mp4Track,
} from './ustream-chunks.js';
import type { UmsApplication } from './ustream-url.js';

export type UstreamFormatName = 'flv' | 'mp4';

/** The `kind` a ustream source reports (RecordSource.kind names only the manifest formats). */
export const USTREAM_KIND = 'ustream' as const;

export interface UstreamSourceOptions extends SourceOptions {
  application: UmsApplication;
  media: string;
  /** Which segmented format (default: flv when offered, else mp4). */
  format?: UstreamFormatName;
  feed: UmsFeed;
  client: HttpClient;
  retry: RetryPolicy;
  signal?: AbortSignal;
  onNotice?: (message: string) => void;
  /** Chunks probed past the last hash key at most (default 1000): a bound, never reached in practice. */
  maxProbe?: number;
}

export interface UstreamSource extends RecordSource {
  format: UstreamFormatName;
  /** Chunks of a recorded video (known once opened), or undefined for a live channel. */
  chunks?: number;
  /** The first and last chunk numbers handed out so far. */
  firstChunk?: number;
  lastChunk?: number;
}

/** One fetchable thing per chunk number: a rendition (flv) or a track (mp4). */
interface Track {
  stream: StreamName;
  template: string;
  initTemplate?: string;
  keyPrefix: string;
}

/** The format the user asked for, else flv when offered (one request per chunk), else mp4. */
export function chooseFormat(
  state: UmsState,
  wanted: UstreamFormatName | undefined,
  media: string,
): UstreamFormatName {
  if (wanted === 'flv' && !state.flv) throw formatMissing('flv/segmented', state, media);
  if (wanted === 'mp4' && !state.mp4) throw formatMissing('mp4/segmented', state, media);
  if (wanted) return wanted;
  if (state.flv) return 'flv';
  if (state.mp4) return 'mp4';
  throw new InputError(`the UMS session for ${media} offers neither flv/segmented nor mp4/segmented`, {
    code: 'E_USTREAM_NO_FORMAT',
  });
}

function formatMissing(name: string, state: UmsState, media: string): UsageError {
  const have = [state.flv ? 'flv/segmented' : '', state.mp4 ? 'mp4/segmented' : ''].filter(Boolean);
  return new UsageError(`${media} is not offered as ${name} (offered: ${have.join(', ') || 'nothing'})`, {
    code: 'E_USTREAM_FORMAT',
    hint: name === 'flv/segmented' ? 'FLV output needs flv/segmented; write an .mp4 instead' : undefined,
  });
}

/** What the format offers and what castkit would take, without fetching anything. */
export function describeChoice(
  state: UmsState,
  format: UstreamFormatName,
  options: SourceOptions,
): { chosen: string; renditions: RenditionRow[]; tracks: Track[] } {
  if (format === 'flv') {
    const fmt = state.flv as SegmentedFormat;
    const list = flvRenditions(fmt);
    const r = pickFlvRendition(list, options.quality);
    return {
      chosen: describeFlvRendition(r),
      renditions: flvRows(list, r),
      tracks: [flvTrack(r)],
    };
  }
  const fmt = state.mp4 as SegmentedFormat;
  const list = mp4Tracks(fmt);
  const chosen = pickMp4Tracks(list, options.quality, options.audioLang);
  const tracks: Track[] = [];
  if (chosen.video) tracks.push(mp4Track('video', chosen.video));
  if (chosen.audio) tracks.push(mp4Track('audio', chosen.audio));
  if (tracks.length === 0) {
    throw new InputError('the mp4/segmented format lists no video or audio track', { code: 'E_NO_VARIANT' });
  }
  return { chosen: describeMp4(chosen.video, chosen.audio), renditions: mp4Rows(list, chosen), tracks };
}

function flvTrack(r: FlvRendition): Track {
  return { stream: 'main', template: r.segmentUrl, keyPrefix: `flv:${r.segmentUrl}` };
}

function mp4Track(stream: 'video' | 'audio', t: Mp4Track): Track {
  return { stream, template: t.segmentUrl, initTemplate: t.initUrl, keyPrefix: `mp4:${t.segmentUrl}` };
}

export async function openUstreamSource(o: UstreamSourceOptions): Promise<UstreamSource> {
  const first = o.feed.state();
  const format = chooseFormat(first, o.format, o.media);
  const { chosen, renditions, tracks } = describeChoice(first, format, o);
  const live = o.application === 'channel';
  const fmtOf = (s: UmsState): SegmentedFormat => {
    const f = format === 'flv' ? s.flv : s.mp4;
    if (!f)
      throw new InputError(`the UMS session stopped offering ${format}/segmented`, {
        code: 'E_USTREAM_NO_FORMAT',
      });
    return f;
  };
  const cdnOf = (s: UmsState): string => {
    if (!s.cdnBase)
      throw new InputError('the UMS session sent no CDN (cdnConfig)', { code: 'E_USTREAM_NO_CDN' });
    return s.cdnBase;
  };
  // The init segment of each track is filled with the first chunk's number and hash, once.
  const inits = new Map<StreamName, { key: string; url: string }>();
  let firstChunk: number | undefined;

  const segmentsFor = (state: UmsState, from: number, to: number): RecordSegment[] => {
    const fmt = fmtOf(state);
    const cdn = cdnOf(state);
    const sec = fmt.chunkTime / 1000;
    const out: RecordSegment[] = [];
    for (let n = from; n < to; n++) {
      for (const t of tracks) {
        const url = chunkUrl(cdn, fmt, t.template, n);
        if (url === undefined) throw new Error(`no hash for chunk ${n}`); // callers stay inside the hashes
        const seg: RecordSegment = {
          key: `${t.keyPrefix}:${n}`,
          stream: t.stream,
          url,
          duration: sec,
          start: (n - (firstChunk ?? from)) * sec,
          // Every FLV chunk is a whole file (header, metadata, sequence headers): its own demuxer run.
          discontinuity: format === 'flv',
        };
        if (t.initTemplate) {
          let init = inits.get(t.stream);
          if (!init) {
            const u = chunkUrl(cdn, fmt, t.initTemplate, n);
            if (u === undefined) throw new Error(`no hash for init chunk ${n}`);
            init = { key: `${t.keyPrefix}:init:${n}`, url: u };
            inits.set(t.stream, init);
          }
          seg.init = init;
        }
        out.push(seg);
      }
    }
    return out;
  };

  /** Whether chunk n exists: a 1-byte range of it (404/410: no; other failures after retries: thrown). */
  const exists = async (state: UmsState, n: number): Promise<boolean> => {
    const fmt = fmtOf(state);
    const url = chunkUrl(cdnOf(state), fmt, (tracks[0] as Track).template, n);
    if (url === undefined) return false;
    try {
      await withRetry(
        () => o.client.fetch(url, { range: { offset: 0, length: 1 }, signal: o.signal, maxBytes: 1 << 20 }),
        o.retry,
        { signal: o.signal },
      );
      return true;
    } catch (err) {
      const status = isCastkitError(err) ? err.details.status : undefined;
      if (status === 404 || status === 410) return false;
      throw err;
    }
  };

  /**
   * The end (exclusive) of the chunks from `from` on, found by probing windows of `spacing` chunks in
   * parallel until a window ends with a missing chunk; a chunk missing before the last one that exists is
   * a hole, kept in the list so that the engine reports it. `limit`: chunks past it are not probed.
   */
  const probeEnd = async (state: UmsState, from: number, limit: number): Promise<number> => {
    const spacing = keySpacing(fmtOf(state).hashes);
    let end = from;
    for (let start = from; start < limit; start += spacing) {
      const stop = Math.min(limit, start + spacing);
      const ns = Array.from({ length: stop - start }, (_, i) => start + i);
      // Every probe in flight listens to the caller's signal (the client and the retry each): not a leak.
      if (o.signal) setMaxListeners(Math.max(getMaxListeners(o.signal), 2 * ns.length + 16), o.signal);
      const found = await Promise.all(ns.map((n) => exists(state, n)));
      const lastFound = found.lastIndexOf(true);
      if (lastFound >= 0) end = start + lastFound + 1;
      if (lastFound !== found.length - 1) break;
    }
    return end;
  };

  const source: UstreamSource = {
    kind: USTREAM_KIND,
    format,
    live,
    streams: tracks.map((t) => t.stream),
    chosen,
    renditions,
    next: async () => ({ segments: [], missed: [], ended: true }),
  };
  if (format === 'mp4') source.segmentsHaveInit = true;

  if (!live) {
    const fmt = fmtOf(first);
    const keys = fmt.hashes;
    const firstKey = (keys[0] as [number, string])[0];
    const lastKey = (keys[keys.length - 1] as [number, string])[0];
    const start = hashFor(keys, fmt.chunkId) !== undefined ? fmt.chunkId : firstKey;
    const missed: MissedSpan[] = [];
    if (fmt.chunkId < firstKey) {
      // Chunks before the first hash key cannot be asked for: said, not skipped silently.
      const count = firstKey - fmt.chunkId;
      for (const t of tracks)
        missed.push({ stream: t.stream, count, seconds: (count * fmt.chunkTime) / 1000 });
      o.onNotice?.(`${count} chunks before the first hash key (${firstKey}) cannot be fetched`);
    }
    const end = await probeEnd(first, lastKey + 1, lastKey + 1 + (o.maxProbe ?? 1000));
    firstChunk = start;
    source.chunks = end - start;
    source.firstChunk = start;
    source.lastChunk = end - 1;
    source.totalSec = ((end - start) * fmt.chunkTime) / 1000;
    let given = false;
    source.next = async () => {
      if (given) return { segments: [], missed: [], ended: true };
      given = true;
      return { segments: segmentsFor(first, start, end), missed, ended: true };
    };
    return source;
  }

  // Live.
  let nextN: number | undefined;
  let finished = false;
  source.next = async (): Promise<SourceBatch> => {
    const failure = o.feed.failure();
    // Lost before anything was recorded: an error. Later: what was recorded is kept, and said to end here.
    if (failure && nextN === undefined) throw failure;
    const lost = failure && !finished ? failure.message : undefined;
    if (lost) o.onNotice?.(`the UMS session was lost for good (${lost}); the recording ends here`);
    if (finished) return { segments: [], missed: [], ended: true };
    const state = o.feed.state();
    const fmt = fmtOf(state);
    const keys = fmt.hashes;
    const spacing = keySpacing(keys);
    const firstKey = (keys[0] as [number, string])[0];
    const lastKey = (keys[keys.length - 1] as [number, string])[0];
    const covered = lastKey + spacing; // exclusive: the last key's range
    const now = Date.now();
    // A little after the predicted time, so that the edge chunk is there when it is asked for.
    const slack = Math.min(1000, fmt.chunkTime / 4);
    const since = Math.max(0, now - state.streamAt - slack);
    const edge = Math.min(fmt.chunkId + Math.floor(since / fmt.chunkTime), covered - 1);
    const missed: MissedSpan[] = [];
    if (nextN === undefined) {
      nextN = o.fromStart ? firstKey : Math.max(firstKey, Math.min(edge, fmt.chunkId));
      firstChunk = nextN;
      source.firstChunk = nextN;
    }
    if (nextN < firstKey) {
      const count = firstKey - nextN;
      for (const t of tracks)
        missed.push({ stream: t.stream, count, seconds: (count * fmt.chunkTime) / 1000 });
      nextN = firstKey;
    }
    let to = Math.max(nextN, edge + 1);
    const ended = o.feed.ended();
    if (ended) {
      // The broadcast is over (or the session is lost): whatever exists past the edge, within the hashes,
      // is the rest of it.
      to = Math.max(to, await probeEnd(state, to, covered));
      finished = true;
    }
    const segments = segmentsFor(state, nextN, to);
    if (to > nextN) source.lastChunk = to - 1;
    nextN = to;
    const batch: SourceBatch = { segments, missed, ended };
    if (lost) batch.lost = lost;
    if (!ended) {
      // Until the next chunk is due (at least a tenth of a chunk, at most one chunk).
      const due = state.streamAt + (to - fmt.chunkId) * fmt.chunkTime + slack - now;
      batch.refreshMs = Math.max(fmt.chunkTime / 10, Math.min(fmt.chunkTime, due));
      batch.edgeLagSec = 0;
    }
    return batch;
  };
  return source;
}
