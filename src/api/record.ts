import { readdir, rm } from 'node:fs/promises';
import { basename, dirname, extname, join, resolve } from 'node:path';
import type { Writable } from 'node:stream';
import { InputError, InterruptedError, NetworkError, UsageError, isCastkitError } from '../core/errors.js';
import { buildGapReport, gapReportPathFor, writeGapReport } from '../download/gap-report.js';
import { SegmentJournal, journalPathFor } from '../download/journal.js';
import { downloadSegments, type Segment } from '../download/scheduler.js';
import { sleep } from '../download/retry-policy.js';
import { joinWebVtt, parseHlsMedia } from '../formats/hls/index.js';
import { AtomicFile, replaceFile } from '../storage/local.js';
import { refuseFinishedOutput } from './record-existing.js';
import { checkedSegment, type ShortSegment } from './record-segment-check.js';
import { AesKeyCache, wrongKeyError } from '../sources/hls/hls-aes.js';
import type { RecordSegment, SourceBatch, StreamLanguages, StreamName } from '../sources/record-source.js';
import { iso639T } from '../formats/language.js';
import { CommitLog, GAP_CODE_DEFAULT, gapCodeOf, shortCodeOf, type CommittedItem } from './record-order.js';
import { openRecordSource, type OpenedSource } from './record-open.js';
import { RawRecordSink, type RecordSink } from './record-raw-sink.js';
import { FlvChunkJoiningSink, FlvRecordSink } from './record-flv-sink.js';
import { Mp4RecordSink, type RecordSinkOptions } from './record-sink.js';
import { RecordCheckpoints } from './record-checkpoints.js';
import { TsRecordSink } from './record-ts-sink.js';
import type {
  RecordFormat,
  RecordGap,
  RecordListing,
  RecordOptions,
  RecordProgress,
  RecordResult,
} from './record-types.js';
import { RECORD_CONCURRENCY } from './record-types.js';

export type {
  RecordFormat,
  RecordGap,
  RecordListing,
  RecordOptions,
  RecordProgress,
  RecordResult,
} from './record-types.js';

/**
 * Bytes of fetched segments waiting in memory for their turn at most (RSS stays bounded whatever the
 * segment size). Segments waiting help only while the server is slower than the commits, and then the
 * next ones come through the journal or are on their way: 8 MB took the unthrottled record bench (142 MB
 * in 4.7 MB segments) from 117 to 98 MB of peak RSS and 21,100 to 16,400 page faults, 262.8 to 259.7 ms
 * (17 interleaved runs; 344 to 330 ms of CPU), and the 1.5 MB/s-a-connection one took 3.30 s either way.
 */
const MAX_HELD_BYTES = 8 << 20;

/**
 * Segments fetched into memory, and committed from there, when they are at most this far from the one due
 * next (a recording kept by checkpoints: see record-checkpoints.ts); the others stream into the journal.
 */
const IN_MEMORY_AHEAD = 8;

/** Seconds without a new segment after which a live stream is taken as lost (RecordOptions.liveStallSec). */
const LIVE_STALL_SEC = 60;

/** One item of the download list: an init section or a media segment. */
interface Item extends Segment {
  kind: 'init' | 'media';
  stream: StreamName;
  seg?: RecordSegment;
  /** Seconds declared missing right before it (HLS EXT-X-GAP segments). */
  gapBeforeSec?: number;
}

/**
 * The variants and renditions of an HLS or DASH URL, and which castkit would choose.
 * @example
 *   const { renditions } = await listRenditions('https://example.com/master.m3u8');
 */
export async function listRenditions(
  url: string,
  options: Omit<RecordOptions, 'output'> = {},
): Promise<RecordListing> {
  const { source, client } = await openRecordSource(url, options);
  await client.close().catch(() => undefined);
  const listing: RecordListing = {
    url,
    kind: source.kind,
    live: source.live,
    chosen: source.chosen,
    renditions: source.renditions,
  };
  if (source.totalSec !== undefined) listing.durationSec = source.totalSec;
  return listing;
}

/**
 * Record an HLS or DASH stream (VOD or live) into one MP4: segments fetched in parallel and committed in
 * order, each journaled so that a rerun of the same command resumes without fetching any twice; separate
 * audio muxed natively; gaps never silent (exit with the missing list, or --allow-gaps and a report).
 * @example
 *   await record('https://example.com/master.m3u8', { output: 'show.mp4', quality: '720p' });
 */
export async function record(url: string, options: RecordOptions): Promise<RecordResult> {
  checkPipeFormat(options);
  refuseFinishedOutput(options.output, options.overwrite);
  const opened = await openRecordSource(url, options);
  try {
    return await recordOpened(url, opened, options);
  } finally {
    await opened.client.close().catch(() => undefined);
  }
}

function checkPipeFormat(options: RecordOptions): void {
  const format = options.format;
  // A name that says another container is refused before anything is fetched.
  if (format === undefined && options.output !== '-') formatOfName(options.output);
  if (options.output === '-' && (format === 'mp4' || format === 'mkv')) {
    throw new UsageError(`${format} cannot be written to a pipe (its index comes at the end)`, {
      code: 'E_OUTPUT_FORMAT',
      hint: 'use -o - with --format ts or fmp4, or give a file name',
    });
  }
  if (options.output === '-' && options.subs !== undefined) {
    // They would be fetched for nothing: there is no file to put them beside.
    throw new UsageError('--subs saves the subtitles beside the output file, and -o - has none', {
      code: 'E_OUTPUT_FORMAT',
      hint: 'record to a file to get the subtitles as a .vtt beside it, or leave out --subs',
    });
  }
}

/**
 * Record from a source that is already open (HLS, DASH, or another loader that hands out RecordSource
 * batches, such as ustream's): output format, journal, sink and conversion as for record(). The caller
 * closes `opened.client`. `url` identifies the recording in the resume journal.
 */
export async function recordOpened(
  url: string,
  opened: OpenedSource,
  options: RecordOptions,
): Promise<RecordResult> {
  checkPipeFormat(options);
  refuseFinishedOutput(options.output, options.overwrite);
  const format = options.format ?? (options.output === '-' ? undefined : formatOfName(options.output));
  if (options.output === '-') {
    if (format === 'fmp4' && !rawCapable(opened, 'fmp4')) {
      throw new UsageError('only a stream of fMP4 segments in one rendition can go to a pipe as fMP4', {
        code: 'E_OUTPUT_FORMAT',
        hint: 'use -o - with --format ts (any stream is muxed into TS as it comes), or give a file name',
      });
    }
    return await recordFrom(url, opened, options, format ?? 'ts');
  }
  const f = format ?? 'mp4';
  // flv: FLV chunks (ustream) joined natively, and ts: TS from any segments, written as they come.
  if (f === 'mp4' || f === 'flv' || f === 'ts' || rawCapable(opened, f))
    return await recordFrom(url, opened, options, f);
  // fmp4 from separate streams or TS segments, and mkv: an MP4 first, then converted.
  const temp = join(dirname(options.output), `.${basename(options.output)}.record.mp4`);
  const result = await recordFrom(url, opened, { ...options, output: temp }, 'mp4', options.output);
  await convertRecording(temp, options, f);
  return { ...result, output: options.output, format: f };
}

export type { OpenedSource } from './record-open.js';

/** Extensions of containers castkit does not write: named so, the output would be an MP4 in disguise. */
const OTHER_CONTAINERS = ['.webm', '.avi', '.wmv', '.ogg', '.ogv', '.mpg', '.mpeg', '.mp3', '.aac', '.wav'];

/** The output format its name implies: .ts, .mkv, else MP4 (fragmented only when asked for). */
function formatOfName(name: string): RecordFormat {
  const n = name.toLowerCase();
  if (n.endsWith('.ts') || n.endsWith('.m2ts')) return 'ts';
  if (n.endsWith('.mkv')) return 'mkv';
  const other = OTHER_CONTAINERS.find((ext) => n.endsWith(ext));
  if (other !== undefined) {
    throw new UsageError(`castkit record cannot write ${other} files (${name})`, {
      code: 'E_OUTPUT_FORMAT',
      hint: 'name the output .mp4, .m4a, .ts or .mkv, or pass --format mp4|fmp4|ts|mkv; convert with ffmpeg after',
    });
  }
  return 'mp4';
}

/** Whether the segments can be written as they are: one muxed stream, TS for ts, fMP4 for fmp4. */
function rawCapable(opened: OpenedSource, format: RecordFormat): boolean {
  const { source } = opened;
  if (source.streams.length !== 1) return false;
  if (format === 'ts') return source.kind === 'hls' && source.segmentsHaveInit !== true;
  return format === 'fmp4' && source.kind === 'hls' && source.segmentsHaveInit === true;
}

/** The sink for a format: a file path, or a stream for `-o -`. */
async function createSink(
  opened: OpenedSource,
  format: RecordFormat,
  output: string | NodeJS.WritableStream,
  expectedSec: number | undefined,
  /** --duration: the output is cut there. */
  durationSec: number | undefined,
  /** The streams fetched: all of the source's, or for an .m4a its audio (audioStreams). */
  streams: StreamName[],
  /** An .m4a: the sink leaves out the video of a muxed stream. */
  audioOnly: boolean,
): Promise<RecordSink> {
  const languages = containerLanguages(opened.source.languages);
  if (typeof output !== 'string') {
    const pipe = output as Writable;
    if (format === 'ts' && !rawCapable(opened, 'ts'))
      return TsRecordSink.toStream(pipe, streams, languages, durationSec);
    return RawRecordSink.toStream(pipe, format === 'fmp4' ? 'fmp4' : 'ts', languages.main, durationSec);
  }
  // TS segments of one rendition go out as they are; anything else is demuxed and muxed into TS.
  if (format === 'ts' && !rawCapable(opened, 'ts'))
    return TsRecordSink.toFile(output, streams, languages, durationSec);
  if (format === 'ts' || format === 'fmp4')
    return RawRecordSink.toFile(output, format, languages.main, durationSec);
  const expected = expectedSec !== undefined ? { expectedSec } : {};
  if (format === 'flv') {
    const end = durationSec !== undefined ? { endSec: durationSec } : {};
    return FlvRecordSink.create(output, { ...expected, ...end });
  }
  return Mp4RecordSink.create(output, mp4Options(expectedSec, durationSec, streams, languages, audioOnly));
}

/** What an Mp4RecordSink is made with (createSink), and restored with. */
function mp4Options(
  expectedSec: number | undefined,
  durationSec: number | undefined,
  streams: StreamName[],
  languages: StreamLanguages,
  audioOnly: boolean,
): RecordSinkOptions {
  return {
    ...(expectedSec !== undefined ? { expectedSec } : {}),
    ...(durationSec !== undefined ? { endSec: durationSec } : {}),
    streams,
    languages,
    ...(audioOnly ? { audioOnly } : {}),
  };
}

/**
 * The streams an audio-only recording (.m4a) fetches: a separate audio stream alone (the video's segments
 * are not fetched at all), or the one muxed stream, whose video the sink leaves out.
 */
function audioStreams(opened: OpenedSource): StreamName[] {
  const { streams } = opened.source;
  return streams.includes('audio') ? ['audio'] : streams;
}

/** The manifest's language tags as the ISO 639-2/T codes containers carry; tags that name none are left out. */
function containerLanguages(tags: StreamLanguages | undefined): StreamLanguages {
  const out: StreamLanguages = {};
  for (const [stream, byKind] of Object.entries(tags ?? {}) as [
    StreamName,
    { video?: string; audio?: string },
  ][]) {
    const codes: { video?: string; audio?: string } = {};
    for (const kind of ['video', 'audio'] as const) {
      const code = iso639T(byKind[kind]);
      if (code !== undefined) codes[kind] = code;
    }
    out[stream] = codes;
  }
  return out;
}

async function convertRecording(temp: string, options: RecordOptions, format: RecordFormat): Promise<void> {
  try {
    if (format === 'fmp4') {
      const { remux } = await import('./remux.js');
      await remux([temp], { output: options.output, format: 'fmp4', signal: options.signal });
    } else {
      const { locateTools } = await import('../ffmpeg/locate.js');
      const { runFfmpeg } = await import('../ffmpeg/run.js');
      const part = join(dirname(options.output), `.${basename(options.output)}.ffmpeg.mkv`);
      await runFfmpeg({
        bin: locateTools({}).ffmpeg.path,
        args: ['-y', '-v', 'error', '-i', temp, '-map', '0', '-c', 'copy', '-f', 'matroska', part],
        signal: options.signal,
      });
      await replaceFile(part, options.output);
    }
  } finally {
    await rm(temp, { force: true });
  }
}

async function recordFrom(
  url: string,
  opened: OpenedSource,
  options: RecordOptions,
  format: RecordFormat,
  /** The path the user named, when `options.output` is a temporary MP4 converted afterwards. */
  finalOutput = options.output,
): Promise<RecordResult> {
  const { source, client } = opened;
  const output = options.output;
  const toPipe = output === '-';
  // An .m4a holds the audio: a separate audio stream alone is fetched, or a muxed one without its video.
  const audioOnly = format === 'mp4' && extname(finalOutput).toLowerCase() === '.m4a';
  // What is fetched, not what it is written as: the same command with another --format (MP4 refused a
  // change of audio settings at a discontinuity, say) writes its output from the same journal.
  const identity = JSON.stringify({
    url,
    quality: options.quality ?? 'best',
    audio: options.audioLang ?? null,
    ...(audioOnly ? { only: 'audio' } : {}),
  });
  // A pipe cannot be resumed: no journal then.
  const journal = toPipe ? undefined : await SegmentJournal.open(journalPathFor(finalOutput), { identity });
  const order = journal ? CommitLog.in(journal.dir) : undefined;
  let checkpoints: RecordCheckpoints | undefined;
  // Kept for the next run, unless it holds nothing (the run failed or stopped before any segment came:
  // an empty playlist, a refused format): then it would only be left beside an output that is not there.
  const closeJournal = async (): Promise<void> => {
    await checkpoints?.close();
    if (journal?.isEmpty) await journal.remove();
    else await journal?.close();
  };
  const expectedSec = options.durationSec ?? source.totalSec;
  const fetched = audioOnly ? audioStreams(opened) : source.streams;

  // --duration: seconds of each stream's timeline (segments and gaps, by the manifest) handed out so far.
  // A segment that starts at or after the duration is not fetched; the MP4 sink cuts the output exactly.
  const planned = new Map<StreamName, number>();
  const wantedIn = (p: ReadonlyMap<StreamName, number>, stream: StreamName): boolean =>
    fetched.includes(stream) &&
    (options.durationSec === undefined || (p.get(stream) ?? 0) < options.durationSec - 1e-6);
  const wanted = (stream: StreamName): boolean => wantedIn(planned, stream);
  const plan = (stream: StreamName, seconds: number | undefined): void => {
    planned.set(stream, (planned.get(stream) ?? 0) + (seconds ?? 0));
  };
  const reachedDuration = (): boolean =>
    options.durationSec !== undefined && fetched.every((name) => !wanted(name));
  // A VOD playlist (HLS, DASH) lists the same segments on every run: one given up on can be tried again.
  const refills = !source.live && (source.kind === 'hls' || source.kind === 'dash');
  /**
   * An item a rerun tries again instead of replaying: a segment given up on (its gap) or kept cut short,
   * still listed by a VOD playlist. The replay of earlier runs stops at the first one.
   */
  const triedAgain = (item: CommittedItem): boolean =>
    refills && journal !== undefined && (item.missed !== undefined || item.short !== undefined);
  /**
   * Where the replay of what earlier runs committed stops (see below): an item past this one's
   * --duration, or a segment given up on or kept short that a VOD playlist lets us try again.
   */
  const replayEnd = (items: readonly CommittedItem[]): number => {
    const p = new Map<StreamName, number>();
    for (const [k, item] of items.entries()) {
      if (item.kind === 'init') continue;
      if (!wantedIn(p, item.stream) || triedAgain(item)) return k;
      p.set(item.stream, (p.get(item.stream) ?? 0) + (item.duration ?? 0));
    }
    return items.length;
  };

  // A VOD recorded to MP4 from HLS or DASH: the segment due next is fetched into memory and committed
  // from there, kept by a checkpoint of the output instead of in the journal (record-checkpoints.ts).
  // Not live streams: their segments are not there to fetch again when a rerun cannot use the output (one
  // with --format ts after a change of encoding, say), and they come no faster than they are played.
  const checkpointing =
    journal !== undefined &&
    format === 'mp4' &&
    !source.live &&
    (source.kind === 'hls' || source.kind === 'dash');
  let earlier: CommittedItem[];
  let restored: { sink: Mp4RecordSink; items: number } | undefined;
  let sink: RecordSink;
  try {
    earlier = (await order?.read()) ?? [];
    if (journal) checkpoints = await RecordCheckpoints.open(journal);
    if (checkpoints && checkpointing) {
      const sinkOptions = mp4Options(
        expectedSec,
        options.durationSec,
        fetched,
        containerLanguages(source.languages),
        audioOnly,
      );
      restored = await checkpoints.restore(output, replayEnd(earlier), sinkOptions, options.onNotice);
    } else await checkpoints?.reset();
    if (!toPipe) await removeStaleParts(output, restored?.sink.tempPath);
    sink =
      restored?.sink ??
      (await createSink(
        opened,
        format,
        toPipe ? (options.stdout ?? process.stdout) : output,
        expectedSec,
        options.durationSec,
        fetched,
        audioOnly,
      ));
    // ustream's FLV chunks are whole FLV files: joined (timestamps repaired) before the MP4 demuxes them.
    if (source.kind === 'ustream' && (format === 'mp4' || format === 'ts'))
      sink = new FlvChunkJoiningSink(sink);
  } catch (err) {
    await closeJournal();
    throw err;
  }
  // A segment cut short by the server with a matching Content-Length is seen from its media (HLS, DASH).
  const checkSegments = source.kind === 'hls' || source.kind === 'dash';
  const keys = new AesKeyCache((u, signal) => client.fetchBytes(u, { signal, maxBytes: 4096 }));
  const gaps: RecordGap[] = [];
  // --allow-gaps: a TS segment still short at its last attempt is kept (what it holds plays), and only
  // the part it lacks is a gap. Attempts are counted here, as each one asks for its transform or fetch.
  const attempts = new Map<string, number>();
  const keptShort = new Map<string, ShortSegment>();
  const keepShortOn = (item: { key: string }): ((s: ShortSegment) => void) | undefined => {
    const n = (attempts.get(item.key) ?? 0) + 1;
    attempts.set(item.key, n);
    if (options.allowGaps !== true || n < opened.retry.maxAttempts) return undefined;
    return (s) => keptShort.set(item.key, s);
  };
  const done = new Set<string>();
  // A rerun replays a VOD's recording only up to a segment given up on or kept short (it tries that one
  // again): the segments after one are journaled, not kept by checkpoints it would not restore.
  let checkpointable = true;
  // Per stream: the init section the sink has in force once the items handed out so far are committed.
  const initInForce = new Map<StreamName, string>();
  const stats = { fetched: 0, fromJournal: 0, bytes: 0, retries: 0, committed: 0, inits: 0 };
  const stop = new AbortController();
  const onCallerAbort = (): void => stop.abort();
  options.signal?.addEventListener('abort', onCallerAbort, { once: true });
  if (options.signal?.aborted) stop.abort();
  const state: { stoppedBy: RecordResult['stoppedBy']; lostReason?: string } = { stoppedBy: 'end' };
  let edgeLagSec: number | undefined;
  let firstPdt: number | undefined;
  let total = 0;

  // An item into the order log, after the segments kept by checkpoints still waiting for the output's bytes
  // (their lines go first: the order log is the order of the commits).
  const addToOrder = async (item: CommittedItem): Promise<void> => {
    await checkpoints?.settle();
    await order?.add(item);
  };

  // A run that fails: its output goes, unless checkpoints hold segments that are only in it (the temporary
  // file is kept as it is then, for the same command to go on from).
  const dropSink = async (): Promise<void> => {
    // Checkpoints waiting for the output's bytes are written with them, if the output can still be written.
    await checkpoints?.settle().catch(() => undefined);
    if (sink instanceof Mp4RecordSink && checkpoints && checkpoints.count > 0)
      await sink.suspend().catch(() => sink.abort());
    else await sink.abort();
  };

  /**
   * Hand an item to the sink, and count it. `restoredSink`: an item of an earlier run that the restored
   * sink holds already (counted only).
   */
  const commitItem = async (
    item: CommittedItem,
    bytes: Uint8Array | undefined,
    restoredSink = false,
  ): Promise<void> => {
    if (triedAgain(item)) checkpointable = false;
    if (item.kind === 'init' && (bytes || restoredSink)) {
      if (bytes) await sink.setInit(item.stream, bytes);
      stats.inits++;
    } else if (item.kind === 'gap') {
      if (!restoredSink) await sink.addGap(item.stream, item.duration ?? 0);
      if (item.missed !== undefined) done.add(item.missed);
    } else if (restoredSink) {
      stats.committed++;
    } else if (bytes) {
      await sink.addSegment(item.stream, bytes, {
        name: item.name ?? item.key,
        duration: item.duration ?? 0,
        discontinuity: item.discontinuity === true,
      });
      stats.committed++;
    }
    done.add(item.key);
  };

  try {
    // What earlier runs committed, in their order, from the journal: the first `restored.items` are in
    // the restored sink already.
    const lastKeys = new Map<StreamName, string>();
    const inSink = restored?.items ?? 0;
    for (const [k, item] of earlier.entries()) {
      if (item.kind !== 'init') {
        // An earlier run that went on further (another --duration): what lies past this one's is left out.
        if (!wanted(item.stream)) continue;
        // A VOD playlist still lists a segment an earlier run gave up on (--allow-gaps) or kept cut short:
        // the replay stops there, and the download goes on from it, trying it again. What came after it is
        // in the journal still, and is taken from there, not fetched twice.
        if (triedAgain(item)) {
          if (item.short) journal?.forget(item.key);
          await order?.cutAt(k);
          break;
        }
        plan(item.stream, item.duration);
      }
      if (item.kind === 'gap') {
        await commitItem(item, undefined, k < inSink);
        gaps.push({
          stream: item.stream,
          key: item.key,
          code: gapCodeOf(item),
          reason: 'missing in an earlier run',
          seconds: item.duration ?? 0,
        });
        continue;
      }
      const bytes = k < inSink ? undefined : await journal?.read(item.key);
      if (!bytes && k >= inSink) {
        // Damaged on disk, or kept by a checkpoint that could not be restored: from here on, fetched
        // again and committed (and listed) anew.
        await order?.cutAt(k);
        break;
      }
      await commitItem(item, bytes, k < inSink);
      if (item.short) gaps.push(shortGap(item, item.short));
      if (item.kind === 'media') {
        stats.fromJournal++;
        lastKeys.set(item.stream, item.key);
      }
    }
    // A live recording goes on after what it has, not near the live edge with a hole in between.
    if (source.live && lastKeys.size > 0) source.resumeAfter?.(lastKeys);

    // What the batch being downloaded did, from the scheduler's progress events: the last one comes at
    // its end even when it throws (as when --duration stops it), whereas its result is then lost.
    let batchBytes = 0;
    let batchFromJournal = 0;
    /** Segments and init sections of the batch handed to the sink. */
    let batchCommitted = 0;
    const progress = (p: {
      fetched: number;
      fromJournal: number;
      bytes: number;
      bytesPerSec?: number;
      retries: number;
      rate?: number;
      etaSec?: number;
    }): void => {
      batchBytes = p.bytes;
      batchFromJournal = p.fromJournal;
      if (!options.onProgress) return;
      const ev: RecordProgress = {
        phase: 'record',
        unit: 'segments',
        done: stats.committed,
        total: source.live ? (undefined as unknown as number) : total,
        bytes: stats.bytes + p.bytes,
        fromJournal: stats.fromJournal,
        missing: gaps.length,
        retries: stats.retries, // onRetry counts each retry already (p.retries is the same ones)
        recordedSec: sink.recordedSec(),
        live: source.live,
      };
      if (source.live) delete ev.total;
      if (p.bytesPerSec !== undefined) ev.bytesPerSec = p.bytesPerSec;
      if (p.rate !== undefined) ev.rate = p.rate;
      if (!source.live && p.etaSec !== undefined) ev.etaSec = p.etaSec;
      if (edgeLagSec !== undefined) ev.edgeLagSec = edgeLagSec;
      options.onProgress(ev);
    };

    const stallMs = (options.liveStallSec ?? LIVE_STALL_SEC) * 1000;
    let lastNewAt = Date.now();
    let stallNoticed = false;
    while (!stop.signal.aborted && !reachedDuration()) {
      const started = Date.now();
      let batch: SourceBatch;
      try {
        batch = await source.next(stop.signal);
      } catch (err) {
        // A live stream whose manifest cannot be had any more (after the retries): what was recorded is
        // finished into the output, as for a stream lost any other way, instead of left in the journal.
        if (!source.live || stats.committed === 0 || !isCastkitError(err) || err.category !== 'network')
          throw err;
        state.stoppedBy = 'lost';
        state.lostReason = err.message;
        break;
      }
      if (source.live && !batch.ended) {
        const quietMs = Date.now() - lastNewAt;
        if (batch.segments.length > 0) {
          lastNewAt = Date.now();
          stallNoticed = false;
        } else if (quietMs >= stallMs) {
          state.stoppedBy = 'lost';
          state.lostReason = `no new segment for ${Math.round(quietMs / 1000)} s`;
          break;
        } else if (!stallNoticed && quietMs >= stallMs / 2) {
          stallNoticed = true;
          options.onNotice?.(
            `no new segment for ${Math.round(quietMs / 1000)} s; the stream is taken as lost after ${Math.round(stallMs / 1000)} s`,
          );
        }
      }
      if (batch.edgeLagSec !== undefined) edgeLagSec = batch.edgeLagSec;
      for (const m of batch.missed) {
        if (!wanted(m.stream)) continue;
        plan(m.stream, m.seconds);
        const item: CommittedItem = {
          key: `gap:${m.stream}:${Date.now()}`,
          stream: m.stream,
          kind: 'gap',
          duration: m.seconds,
        };
        await commitItem(item, undefined);
        await addToOrder(item);
        gaps.push({
          stream: m.stream,
          key: 'live window',
          code: GAP_CODE_DEFAULT,
          reason: `${m.count} segments left the live playlist before they could be fetched`,
          seconds: m.seconds,
        });
        options.onNotice?.(
          `${m.count} ${m.stream} segments (${m.seconds.toFixed(1)} s) left the live window before they could be fetched; the output has a gap there`,
        );
      }
      const segments = batch.segments.filter((seg) => {
        if (done.has(seg.key)) return true; // replayed: planned already
        if (!wanted(seg.stream)) return false;
        plan(seg.stream, seg.duration);
        return true;
      });
      const items = itemsOf(segments, done, initInForce);
      total = stats.committed + items.filter((i) => i.kind === 'media').length;
      if (items.length > 0) {
        batchBytes = 0;
        batchFromJournal = 0;
        batchCommitted = 0;
        const byIndex = items;
        await downloadSegments(items, {
          concurrency: options.concurrency ?? RECORD_CONCURRENCY,
          ...(journal ? { journal } : {}),
          client,
          retry: opened.retry,
          allowGaps: options.allowGaps === true,
          maxHeldBytes: MAX_HELD_BYTES,
          ...(checkpointing ? { inMemoryAhead: IN_MEMORY_AHEAD } : {}),
          segmentReleased: () => sink.releasesSegments?.() ?? false,
          signal: stop.signal,
          // With a journal, bodies stream into it (decrypted on the way); without one (stdout), in memory.
          ...(journal
            ? {
                transformFor: async (seg: Segment, signal: AbortSignal) => {
                  const item = seg as Item;
                  const aes = item.seg?.aes;
                  if (item.kind === 'init') return undefined;
                  const decipher = aes
                    ? await keys.decipher({ name: item.url, keyUrl: aes.keyUrl }, aes.iv, signal)
                    : undefined;
                  return checkSegments && item.seg
                    ? checkedSegment(item.url, item.seg.duration, decipher, keepShortOn(item))
                    : decipher;
                },
              }
            : {
                fetchSegment: async (seg: Segment, signal: AbortSignal, allocate) => {
                  const item = seg as Item;
                  const aes = item.kind === 'media' ? item.seg?.aes : undefined;
                  // The key first: one known to be wrong fails the segment before it is fetched.
                  const decipher = aes
                    ? await keys.decipher({ name: item.url, keyUrl: aes.keyUrl }, aes.iv, signal)
                    : undefined;
                  const body = await client.fetchBytes(item.url, { range: item.range, signal, allocate });
                  if (item.kind === 'init' || !item.seg) return body;
                  const clear = decipher ? Buffer.concat([decipher.update(body), decipher.final()]) : body;
                  if (checkSegments)
                    checkedSegment(item.url, item.seg.duration, undefined, keepShortOn(item)).check(clear);
                  return clear;
                },
              }),
          onSegment: async (key, bytes, i, replayed, unjournaled, nextReady) => {
            const item = byIndex[i] as Item;
            // From an earlier run's journal: a TS segment kept short then (--allow-gaps) is a gap again.
            if (replayed && checkSegments && item.kind === 'media' && item.seg) {
              checkedSegment(item.url, item.seg.duration, undefined, (s) => keptShort.set(key, s)).check(
                bytes,
              );
            }
            if (item.gapBeforeSec) {
              const g: CommittedItem = {
                key: `gap:${key}`,
                stream: item.stream,
                kind: 'gap',
                duration: item.gapBeforeSec,
              };
              await commitItem(g, undefined);
              await addToOrder(g);
              gaps.push({
                stream: item.stream,
                key: item.key,
                code: GAP_CODE_DEFAULT,
                reason: 'EXT-X-GAP: the server has no media here',
                seconds: item.gapBeforeSec,
              });
            }
            const c: CommittedItem = { key, stream: item.stream, kind: item.kind, name: item.url };
            const short = keptShort.get(key);
            if (short) {
              keptShort.delete(key);
              c.short = {
                ...(item.seg ? { startSec: item.seg.start + short.coveredSec } : {}),
                seconds: short.declaredSec - short.coveredSec,
                url: item.url,
                code: short.error.code,
                reason: `${short.error.code}: ${short.error.message}`,
              };
              gaps.push({ ...shortGap(c, c.short), ...(refills ? { retryable: true } : {}) });
              options.onNotice?.(
                `keeping ${item.stream} segment ${key} cut short: ${c.short.seconds.toFixed(2)} s of it never came`,
              );
            }
            if (item.seg) {
              c.duration = item.seg.duration;
              if (item.seg.discontinuity) c.discontinuity = true;
            }
            await commitItem(c, bytes);
            batchCommitted++;
            if (unjournaled && checkpoints && journal && order && sink instanceof Mp4RecordSink)
              await checkpoints.keep(checkpointable ? sink : undefined, c, bytes, journal, order, nextReady);
            else if (unjournaled)
              throw new Error(`segment ${key} was fetched into memory with no way to keep it`);
            else await addToOrder(c);
            if (item.kind === 'media' && firstPdt === undefined && item.seg?.programDateTime !== undefined) {
              firstPdt = item.seg.programDateTime;
            }
          },
          onMissing: async (m) => {
            const item = byIndex[m.index] as Item;
            const seconds = item.seg?.duration ?? 0;
            const g: CommittedItem = {
              key: `gap:${m.key}`,
              stream: item.stream,
              kind: 'gap',
              duration: seconds,
              code: m.error.code,
              missed: m.key,
            };
            await commitItem(g, undefined);
            await addToOrder(g);
            gaps.push({
              stream: item.stream,
              ...(item.seg ? { startSec: item.seg.start } : {}),
              key: m.key,
              url: m.url,
              code: m.error.code,
              reason: `${m.error.code}: ${m.error.message}`,
              seconds,
              ...(refills ? { retryable: true } : {}),
            });
            options.onNotice?.(`giving up on ${item.stream} segment ${m.key}: ${m.error.message}`);
          },
          onRetry: (e) => {
            stats.retries++;
            if (e.attempt >= 2)
              options.onNotice?.(`retrying ${e.key} (attempt ${e.attempt + 1}): ${describe(e.error)}`);
          },
          onProgress: (p) => progress(p),
        }).catch((err: unknown) => {
          throw wrongKeyError(err, (i) => items[i]?.seg?.aes?.keyUrl) ?? err;
        });
        // Counted from what was committed: segments fetched after --duration was reached (in flight
        // then) are not in the output, and a batch stopped by it has no result to count from.
        stats.fetched += batchCommitted - batchFromJournal;
        stats.fromJournal += batchFromJournal;
        stats.bytes += batchBytes;
      }
      if (reachedDuration()) {
        state.stoppedBy = 'duration';
        break;
      }
      if (batch.lost !== undefined) {
        state.stoppedBy = 'lost';
        state.lostReason = batch.lost;
      }
      if (batch.ended) break;
      const wait = (batch.refreshMs ?? 2000) - (Date.now() - started);
      if (wait > 0) await sleep(wait, stop.signal).catch(() => undefined);
    }
    if (stop.signal.aborted && state.stoppedBy !== 'duration') state.stoppedBy = 'interrupt';
  } catch (err) {
    if (!(err instanceof InterruptedError)) {
      await dropSink();
      await order?.close();
      await closeJournal();
      throw err;
    }
    if (state.stoppedBy !== 'duration') state.stoppedBy = 'interrupt';
  } finally {
    options.signal?.removeEventListener('abort', onCallerAbort);
  }

  // Whatever stopped it, what was committed becomes a valid file.
  let written;
  try {
    await checkpoints?.settle();
    written = await sink.finish();
  } catch (err) {
    await dropSink();
    await order?.close();
    const nothing = isCastkitError(err) && err.code === 'E_NOTHING_RECORDED';
    if (nothing && state.stoppedBy === 'interrupt') {
      // Stopped (Ctrl-C) before a segment was complete: not a stream without media.
      const kept = journal !== undefined && journal.size > 0;
      await closeJournal();
      throw new InterruptedError(
        'recording stopped before its first segment was committed: nothing written',
        {
          hint: kept
            ? `run the same command again to resume (the segments completed are kept in ${journal.dir})`
            : 'run the same command again to start it',
        },
      );
    }
    if (audioOnly && nothing) {
      // Another run would find no audio either, and an .mp4 of it has a journal of its own name.
      await journal?.remove();
      throw new InputError(`the stream has no audio for the .m4a output ${finalOutput}`, {
        code: 'E_NO_AUDIO',
        hint: 'name the output .mp4 to record its video',
      });
    }
    await closeJournal();
    throw err;
  }
  let gapReport: string | undefined;
  if (gaps.length > 0 && !toPipe) {
    gapReport = gapReportPathFor(finalOutput);
    const report = buildGapReport(
      finalOutput,
      stats.committed + gaps.length,
      gaps.map((g, index) => ({
        index,
        key: g.key,
        url: g.url ?? '',
        error: new NetworkError(g.reason, { code: g.code }),
      })),
      (m) => {
        const g = gaps[m.index];
        return g?.startSec !== undefined ? { startSec: g.startSec, durationSec: g.seconds } : undefined;
      },
    );
    await writeGapReport(gapReport, report);
  }
  // Interrupted or lost: the journal stays, so that the same command continues into the same output.
  const complete = state.stoppedBy !== 'interrupt' && state.stoppedBy !== 'lost';
  let subtitlesPath: string | undefined;
  if (source.subtitles && !toPipe) {
    subtitlesPath = await saveSubtitles(opened, source.subtitles, finalOutput, options.signal);
  }
  await order?.close();
  // A VOD's segments given up on (or kept short) can be tried again by the same command: the journal stays
  // for that until a run has them all (it holds what the others were, so none is fetched twice).
  const retryable = gaps.filter((g) => g.retryable === true);
  if (complete && (gaps.length === 0 || (options.allowGaps && retryable.length === 0))) {
    await checkpoints?.close();
    await journal?.remove();
  } else {
    // The output holds segments that only checkpoints keep: a rerun makes its temporary file again from it.
    if (checkpoints && sink instanceof Mp4RecordSink && written.payloadStart !== undefined)
      await checkpoints.noteFinished(output, sink.tempPath, written.payloadStart);
    await closeJournal();
  }
  if (complete && gaps.length === 0 && !toPipe) {
    // An earlier run's report of gaps this run filled.
    await rm(gapReportPathFor(finalOutput), { force: true });
  }

  const result: RecordResult = {
    output,
    format,
    kind: source.kind,
    live: source.live,
    chosen: audioOnly ? `${source.chosen}, audio only` : source.chosen,
    segments: stats.committed,
    initSections: stats.inits,
    fetched: stats.fetched,
    fromJournal: stats.fromJournal,
    bytesFetched: stats.bytes,
    bytesOut: written.bytesOut,
    durationSec: written.durationSec,
    tracks: written.tracks,
    gaps,
    stoppedBy: state.stoppedBy,
    warnings: written.warnings,
  };
  if (gapReport) result.gapReport = gapReport;
  if (journal && complete && retryable.length > 0) result.journal = journal.dir;
  if (subtitlesPath) result.subtitles = subtitlesPath;
  if (firstPdt !== undefined) result.programDateTime = new Date(firstPdt).toISOString();
  if (state.stoppedBy === 'interrupt') {
    throw new InterruptedError(
      `recording stopped: ${stats.committed} segments (${written.durationSec.toFixed(1)} s) written to ${output}`,
      {
        hint: journal ? `run the same command again to resume (kept in ${journal.dir})` : undefined,
        details: { result },
      },
    );
  }
  if (state.stoppedBy === 'lost') {
    // The file is good, but shorter than asked: a script must not take it for a complete recording.
    throw new NetworkError(
      `the live stream was lost (${state.lostReason ?? 'no reason given'}); ${stats.committed} segments (${written.durationSec.toFixed(1)} s) are in ${output}`,
      {
        code: 'E_STREAM_LOST',
        retryable: false,
        hint: journal
          ? `run the same command again when the stream is back to continue into the same file (kept in ${journal.dir})`
          : undefined,
        details: { result },
      },
    );
  }
  if (gaps.length > 0 && !options.allowGaps) {
    throw new NetworkError(
      `${gaps.length} parts of the stream are missing from ${output} (${gaps
        .map((g) => g.key)
        .slice(0, 5)
        .join(', ')}); see ${gapReport}`,
      {
        code: 'E_SEGMENTS_MISSING',
        retryable: false,
        hint: 'pass --allow-gaps to accept a recording with gaps',
        details: { result },
      },
    );
  }
  return result;
}

/**
 * The subtitles rendition's WebVTT segments, joined into `<output stem>.<language>.vtt` (RFC 8216 3.5).
 * Small files: fetched one after another, each retried like a manifest.
 */
async function saveSubtitles(
  opened: OpenedSource,
  subs: NonNullable<OpenedSource['source']['subtitles']>,
  output: string,
  signal: AbortSignal | undefined,
): Promise<string> {
  const playlist = await opened.ctx.fetchManifest(subs.url, { signal });
  const media = parseHlsMedia(playlist.body.toString('utf8'), playlist.url);
  const files: string[] = [];
  for (const seg of media.segments) {
    if (seg.gap) continue;
    const res = await opened.ctx.fetchManifest(seg.uri, {
      signal,
      ...(seg.byteRange ? { range: seg.byteRange } : {}),
    });
    files.push(res.body.toString('utf8'));
  }
  const tag = (subs.language ?? subs.name).replace(/[^A-Za-z0-9_-]+/g, '_');
  const path = join(dirname(output), `${basename(output, extname(output))}.${tag}.vtt`);
  const file = await AtomicFile.create(path);
  try {
    await file.write(Buffer.from(joinWebVtt(files), 'utf8'));
    await file.commit();
  } catch (err) {
    await file.abort();
    throw err;
  }
  return path;
}

/**
 * The download list of a batch: each media segment, preceded by its init section when that changes.
 * `initInForce` (per stream, kept from batch to batch) is the init the sink will have when the items
 * before are committed. An init that comes back after another (A, B, A: an ad break in an fMP4 stream)
 * is an item again, under a key of its own, so that the sink gets it again: left out because its key was
 * fetched already, the segments after it were read with B's init (a broken file, exit 0).
 */
function itemsOf(
  segments: readonly RecordSegment[],
  done: ReadonlySet<string>,
  initInForce: Map<StreamName, string>,
): Item[] {
  const items: Item[] = [];
  const pendingGap = new Map<StreamName, number>();
  const inList = new Set<string>();
  for (const seg of segments) {
    if (seg.gap) {
      pendingGap.set(seg.stream, (pendingGap.get(seg.stream) ?? 0) + seg.duration);
      continue;
    }
    if (done.has(seg.key) || inList.has(seg.key)) {
      if (seg.init) initInForce.set(seg.stream, seg.init.key);
      continue;
    }
    if (seg.init && initInForce.get(seg.stream) !== seg.init.key) {
      initInForce.set(seg.stream, seg.init.key);
      const seen = inList.has(seg.init.key) || done.has(seg.init.key);
      const key = seen ? `${seg.init.key}@${seg.key}` : seg.init.key;
      if (!inList.has(key) && !done.has(key)) {
        const init: Item = { key, url: seg.init.url, kind: 'init', stream: seg.stream };
        if (seg.init.range) init.range = seg.init.range;
        items.push(init);
        inList.add(key);
      }
    }
    const item: Item = { key: seg.key, url: seg.url, kind: 'media', stream: seg.stream, seg };
    if (seg.range) item.range = seg.range;
    const gap = pendingGap.get(seg.stream);
    if (gap) {
      item.gapBeforeSec = gap;
      pendingGap.delete(seg.stream);
    }
    items.push(item);
    inList.add(item.key);
  }
  return items;
}

function describe(err: unknown): string {
  return isCastkitError(err) ? `${err.code} ${err.message}` : String(err);
}

/**
 * Temporary outputs left by a run that was killed (the journal's lock says no run is using them now), but
 * `spare`: the one a restored sink goes on writing.
 */
async function removeStaleParts(output: string, spare?: string): Promise<void> {
  const dir = dirname(output);
  const prefix = `.${basename(output)}.`;
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return;
  }
  const kept = spare !== undefined ? resolve(spare) : undefined;
  for (const n of names) {
    if (kept !== undefined && resolve(dir, n) === kept) continue;
    if (n.startsWith(prefix) && (n.endsWith('.part') || n.endsWith('.part.spill'))) {
      await rm(join(dir, n), { force: true }).catch(() => undefined);
    }
  }
}

/** The gap of a segment kept though cut short: the part of it that never came. */
function shortGap(item: CommittedItem, short: NonNullable<CommittedItem['short']>): RecordGap {
  return {
    stream: item.stream,
    ...(short.startSec !== undefined ? { startSec: short.startSec } : {}),
    key: item.key,
    url: short.url,
    code: shortCodeOf(short),
    reason: short.reason,
    seconds: short.seconds,
  };
}
