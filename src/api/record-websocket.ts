import { randomBytes } from 'node:crypto';
import { open, rm, type FileHandle } from 'node:fs/promises';
import { makeDirs } from '../storage/make-dirs.js';
import { basename, dirname, extname, join } from 'node:path';
import type { CastkitError } from '../core/errors.js';
import {
  InterruptedError,
  NetworkError,
  OutputError,
  UsageError,
  isCastkitError,
  systemErrorCode,
} from '../core/errors.js';
import type { ProgressEvent } from '../core/progress.js';
import { redactUrlCredentials } from '../core/redact.js';
import { gapReportPathFor, writeGapReport, type GapReport } from '../download/gap-report.js';
import { MediaMeter } from '../sources/websocket/ws-meter.js';
import type { WsFraming } from '../sources/websocket/ws-sniff.js';
import { webSocketSource } from '../sources/websocket/ws-source.js';
import { refuseFinishedOutput } from './record-existing.js';
import { remux } from './remux.js';
import type { RemuxResult, RemuxTrackSummary } from './remux-types.js';

export type { WsFraming } from '../sources/websocket/ws-sniff.js';

export interface RecordWebSocketOptions {
  /** Output path: .mp4 (also .m4v, .mov, .m4a) or .flv (FLV streams only). Written atomically. */
  output: string;
  /** Stop after this many seconds of media (the stream's own timestamps), at the next fragment end. */
  duration?: number;
  /** Stop now (Ctrl-C): the output is made from the complete fragments received so far. */
  signal?: AbortSignal;
  /** "record" (seconds recorded) and "receive" (bytes) while recording, then the remux's own phases. */
  onProgress?: (event: ProgressEvent) => void;
  /** Each warning as it happens (drops, reconnections, skipped data); also listed in the result. */
  onWarning?: (message: string, code: string) => void;
  /** Handshake request headers (name -> value). */
  headers?: Record<string, string>;
  /** The Origin header (EvoStream servers behind a web page may want the page's origin). */
  origin?: string;
  /** Sec-WebSocket-Protocol values to offer. */
  protocols?: string[];
  /** A message to send once connected (the seed 002 client sends "ping"; some servers wait for one). */
  sendOnOpen?: string;
  /** Accept a TLS certificate that does not verify. */
  insecure?: boolean;
  /** Reconnect after a dropped socket and go on into the same output (default true). */
  reconnect?: boolean;
  /** Reconnection attempts in a row without media before giving up (default 10). */
  maxReconnects?: number;
  /** Reconnection backoff (full jitter): first and largest ceilings, ms (defaults 500 ms, 15 s). */
  reconnectDelay?: { baseMs?: number; capMs?: number };
  /** Seconds without any message before a connection counts as dropped (default 20). */
  stallTimeout?: number;
  /** Largest websocket message accepted, bytes (default 64 MiB). */
  maxMessageBytes?: number;
  /** Record over an output that already exists (else E_OUTPUT_EXISTS: see RecordOptions.overwrite). */
  overwrite?: boolean;
  /** Write `<output>.gaps.json` when reconnections left gaps (default true). */
  gapReport?: boolean;
  /** A source of numbers in [0, 1) for the reconnection jitter (tests). */
  random?: () => number;
}

/** A hole left by a dropped connection, between the media of two connections. */
export interface RecordWebSocketGap {
  /** The connection after the gap (2 for the first reconnection). */
  connection: number;
  /** Where the gap falls in the output, seconds from its start. */
  atSec: number;
  /** Wall-clock seconds from the drop to the first media of the new connection. */
  disconnectedSec: number;
  /**
   * Seconds of media missing, by the stream's own timestamps, when they run on across the reconnection
   * (a live stream); undefined when the new connection's timestamps restarted.
   */
  missingSec?: number;
  /** Why the connection was lost (E_WS_DROPPED, E_WS_STALL, E_WS_CLOSED...). */
  code: string;
  message: string;
}

export interface RecordWebSocketWarning {
  code: string;
  message: string;
  /** The connection it is about, when there is one. */
  connection?: number;
}

export interface RecordWebSocketResult {
  output: string;
  format: 'mp4' | 'flv';
  /** The framing the server used (of the first connection). */
  framing: WsFraming;
  /** Duration of the output, seconds. */
  durationSec: number;
  /** Websocket message bytes received. */
  bytesIn: number;
  bytesOut: number;
  /** Connections that delivered media. */
  connections: number;
  /** What ended the recording: the duration, the signal, or the server ending the stream. */
  stopReason: 'duration' | 'aborted' | 'ended';
  gaps: RecordWebSocketGap[];
  /** The gap report written beside the output, when there were gaps. */
  gapReport?: string;
  tracks: RemuxTrackSummary[];
  warnings: RecordWebSocketWarning[];
}

/** An output format from the output's extension. */
function outputFormat(output: string): 'mp4' | 'flv' {
  const ext = extname(output).toLowerCase();
  if (ext === '.flv') return 'flv';
  if (['.mp4', '.m4v', '.mov', '.m4a'].includes(ext)) return 'mp4';
  throw new UsageError(`cannot tell the output format from "${output}"`, {
    code: 'E_OUTPUT_FORMAT',
    hint: 'name the output .mp4 (or .flv for an FLV stream)',
  });
}

function checkOptions(url: string, o: RecordWebSocketOptions): 'mp4' | 'flv' {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new UsageError(`not a URL: ${redactUrlCredentials(url)}`, { hint: 'give a ws:// or wss:// URL' });
  }
  if (u.protocol !== 'ws:' && u.protocol !== 'wss:') {
    throw new UsageError(`recordWebSocket needs a ws:// or wss:// URL, not ${u.protocol}//`, {
      code: 'E_USAGE',
      hint: 'EvoStream serves its websocket on the same port as its page: write the URL with wss://',
    });
  }
  if (o.duration !== undefined && !(Number.isFinite(o.duration) && o.duration > 0)) {
    throw new UsageError(`duration must be a positive number of seconds, not ${o.duration}`);
  }
  if (o.maxReconnects !== undefined && !(Number.isInteger(o.maxReconnects) && o.maxReconnects >= 0)) {
    throw new UsageError(`maxReconnects must be a whole number >= 0, not ${o.maxReconnects}`);
  }
  if (o.stallTimeout !== undefined && !(Number.isFinite(o.stallTimeout) && o.stallTimeout > 0)) {
    throw new UsageError(`stallTimeout must be a positive number of seconds, not ${o.stallTimeout}`);
  }
  return outputFormat(o.output);
}

/**
 * One connection's file: the units it delivered, appended as they arrive to a hidden file beside the
 * output. Only whole units are written, so every spool file is a valid fMP4 or FLV at every moment.
 */
class Spool {
  bytes = 0;
  mediaUnits = 0;
  private handle: FileHandle | undefined;

  private constructor(
    readonly path: string,
    readonly connection: number,
    readonly meter: MediaMeter,
  ) {}

  static async create(
    output: string,
    n: number,
    container: 'mp4' | 'flv',
    connection: number,
  ): Promise<Spool> {
    const name = `.${basename(output)}.${randomBytes(4).toString('hex')}.ws${n}.${container}`;
    const s = new Spool(join(dirname(output), name), connection, new MediaMeter(container));
    try {
      s.handle = await open(s.path, 'wx', 0o600);
    } catch (err) {
      throw outputError(`cannot create the recording file ${s.path}`, err, s.path);
    }
    return s;
  }

  async write(pieces: readonly Uint8Array[]): Promise<void> {
    const h = this.handle;
    if (!h) throw new OutputError(`${this.path} is closed`, { code: 'E_OUTPUT_CLOSED' });
    let total = 0;
    for (const p of pieces) total += p.length;
    try {
      const { bytesWritten } = await h.writev(pieces as Uint8Array[], this.bytes);
      // A short write (rare): the rest, piece by piece.
      let skip = bytesWritten;
      let at = this.bytes + bytesWritten;
      for (const p of pieces) {
        if (skip >= p.length) {
          skip -= p.length;
          continue;
        }
        let part = p.subarray(skip);
        skip = 0;
        while (part.length > 0) {
          const r = await h.write(part, 0, part.length, at);
          at += r.bytesWritten;
          part = part.subarray(r.bytesWritten);
        }
      }
    } catch (err) {
      throw outputError(`cannot write ${this.path}`, err, this.path);
    }
    this.bytes += total;
  }

  async close(): Promise<void> {
    const h = this.handle;
    this.handle = undefined;
    await h?.close().catch(() => undefined);
  }

  async remove(): Promise<void> {
    await this.close();
    await rm(this.path, { force: true }).catch(() => undefined);
  }
}

function outputError(what: string, err: unknown, path: string): OutputError {
  const code = systemErrorCode(err);
  return new OutputError(`${what}: ${code ?? String(err)}`, {
    code: 'E_OUTPUT_WRITE',
    hint: code === 'ENOSPC' ? 'the disk is full; free space or choose another output directory' : undefined,
    cause: err,
    details: { path },
  });
}

/** A gap while it is open: from the drop after the last media to the next connection's first media. */
interface OpenGap {
  droppedAt: number;
  error: CastkitError;
  /** The spool that held the last media before the drop. */
  before: Spool;
}

interface ClosedGap extends OpenGap {
  after: Spool;
  reconnectedAt: number;
}

/**
 * Record a websocket media stream into one file: EvoStream/RDK progressive fMP4, plain fragmented MP4 or
 * FLV over the websocket (told apart by the first message). Each connection's whole fragments are spooled
 * to a hidden file beside the output; when the recording stops (the duration, the signal, or the server
 * ending the stream) the spooled files are remuxed natively into the output, written atomically, and
 * removed. A dropped socket is reconnected and the recording goes on into the same output; the hole is
 * listed in the result and in `<output>.gaps.json`.
 *
 * A failure after media was recorded (a framing error, reconnection given up) still writes the output
 * from what came before it, then throws, with `details.partialOutput` naming the file.
 * @example
 *   const ac = new AbortController();
 *   process.once('SIGINT', () => ac.abort());
 *   await recordWebSocket('wss://cam.example:8420/CAM1.vod?progressive', {
 *     output: 'cam1.mp4', duration: 30, signal: ac.signal, origin: 'https://cam.example',
 *   });
 */
export async function recordWebSocket(
  url: string,
  options: RecordWebSocketOptions,
): Promise<RecordWebSocketResult> {
  const format = checkOptions(url, options);
  const output = options.output;
  refuseFinishedOutput(output, options.overwrite);
  const shown = redactUrlCredentials(url);
  try {
    await makeDirs(dirname(output));
  } catch (err) {
    throw outputError(`cannot create the output directory of ${output}`, err, output);
  }
  const warnings: RecordWebSocketWarning[] = [];
  const warn = (code: string, message: string, connection?: number): void => {
    warnings.push(connection === undefined ? { code, message } : { code, message, connection });
    options.onWarning?.(message, code);
  };
  const signal = options.signal;
  const spools: Spool[] = [];
  let spool: Spool | undefined;
  /** Seconds held by the spools before the current one. */
  let recordedBefore = 0;
  let framing: WsFraming | undefined;
  let connectionOfSpool = 0;
  let needSpool = true;
  let bytesIn = 0;
  let stopReason: RecordWebSocketResult['stopReason'] = 'ended';
  let fatal: unknown;
  let openGap: OpenGap | undefined;
  const gaps: ClosedGap[] = [];
  let lastMedia: Spool | undefined;
  const progress = progressReporter(options);
  const recorded = (): number => recordedBefore + (spool?.meter.spanSec ?? 0);

  const closeSpool = async (): Promise<void> => {
    if (!spool) return;
    recordedBefore += spool.meter.spanSec;
    await spool.close();
    spool = undefined;
  };

  const source = webSocketSource(url, {
    headers: options.headers,
    origin: options.origin,
    protocols: options.protocols,
    sendOnOpen: options.sendOnOpen,
    insecure: options.insecure,
    signal,
    reconnect: options.reconnect,
    maxReconnects: options.maxReconnects,
    reconnectDelay: options.reconnectDelay,
    random: options.random,
    stallTimeoutMs: options.stallTimeout !== undefined ? options.stallTimeout * 1000 : undefined,
    maxMessageBytes: options.maxMessageBytes,
  });
  try {
    for await (const ev of source) {
      switch (ev.kind) {
        case 'connected':
          framing ??= ev.framing;
          if (format === 'flv' && ev.framing !== 'flv') {
            throw new UsageError(`${output} is FLV, but ${shown} sends ${framingName(ev.framing)}`, {
              code: 'E_OUTPUT_FORMAT',
              hint: 'name the output .mp4',
            });
          }
          // Every connection starts over with its own init segment or FLV header: a file of its own.
          await closeSpool();
          connectionOfSpool = ev.connection;
          needSpool = true;
          break;
        case 'unit': {
          bytesIn = ev.bytesIn;
          const unit = ev.unit;
          if (unit.kind === 'init') {
            await closeSpool();
            const container = framingContainer(framing ?? 'fmp4');
            spool = await Spool.create(output, spools.length + 1, container, connectionOfSpool);
            spools.push(spool);
            needSpool = false;
            for (const w of spool.meter.push(unit)) warn(w.code, w.message, ev.connection);
            await spool.write(unit.pieces);
            break;
          }
          if (!spool || needSpool) {
            warn('W_WS_NO_INIT', 'media before an init segment: dropped', ev.connection);
            break;
          }
          for (const w of spool.meter.push(unit)) warn(w.code, w.message, ev.connection);
          await spool.write(unit.pieces);
          spool.mediaUnits++;
          if (openGap && openGap.before !== spool) {
            gaps.push({ ...openGap, after: spool, reconnectedAt: Date.now() });
            openGap = undefined;
          }
          lastMedia = spool;
          progress(recorded(), bytesIn, options.duration);
          if (options.duration !== undefined && recorded() >= options.duration) stopReason = 'duration';
          break;
        }
        case 'dropped':
          // The gap runs from the first drop after media to the next media, across failed attempts.
          if (!openGap && lastMedia) openGap = { droppedAt: Date.now(), error: ev.error, before: lastMedia };
          warn(
            'W_WS_DROPPED',
            `connection ${ev.connection} lost after ${ev.units} media units: ${ev.error.message}`,
            ev.connection,
          );
          break;
        case 'retrying':
          warn(
            'W_WS_RECONNECT',
            `reconnecting in ${(ev.delayMs / 1000).toFixed(1)} s (attempt ${ev.attempt}${
              options.maxReconnects !== undefined ? ` of ${options.maxReconnects}` : ''
            })`,
          );
          break;
        case 'warning':
          warn(ev.warning.code, ev.warning.message, ev.connection);
          break;
        case 'ended':
          stopReason = 'ended';
          break;
      }
      if (stopReason === 'duration') break;
      if (signal?.aborted) break;
    }
    if (signal?.aborted && stopReason !== 'duration') stopReason = 'aborted';
  } catch (err) {
    // Framing errors name a byte offset of the connection's stream: say which stream too.
    if (isCastkitError(err) && err.details.url === undefined) Object.assign(err.details, { url: shown });
    fatal = err;
  } finally {
    await closeSpool();
  }
  progress(recorded(), bytesIn, options.duration, true);

  const recordedSpools = spools.filter((s) => s.mediaUnits > 0);
  for (const s of spools) if (s.mediaUnits === 0) await s.remove();
  if (recordedSpools.length === 0) {
    if (fatal) throw fatal;
    if (stopReason === 'aborted') throw new InterruptedError('stopped before any media was recorded');
    throw new NetworkError(`${shown} ended the stream before any media arrived`, {
      code: 'E_WS_NO_MEDIA',
      retryable: false,
      hint: 'check the URL and whether the stream is live',
      details: { url: shown },
    });
  }

  let remuxed: RemuxResult;
  try {
    // Not given the signal: a stop asked for during the recording must still finish the output.
    remuxed = await remux(
      recordedSpools.map((s) => s.path),
      { output, onProgress: options.onProgress },
    );
  } catch (err) {
    // The recording is not lost: the spooled files stay, and the error names them.
    if (isCastkitError(err)) {
      Object.assign(err.details, { spooled: recordedSpools.map((s) => s.path) });
    }
    throw err;
  }
  for (const s of recordedSpools) await s.remove();

  const gapList = describeGaps(gaps, recordedSpools);
  let gapReport: string | undefined;
  if (gapList.length > 0 && options.gapReport !== false) {
    gapReport = gapReportPathFor(output);
    await writeGapReport(gapReport, buildReport(output, shown, recordedSpools, gapList));
  }
  const result: RecordWebSocketResult = {
    output,
    format: remuxed.format === 'flv' ? 'flv' : 'mp4',
    framing: framing ?? 'fmp4',
    durationSec: remuxed.durationSec,
    bytesIn,
    bytesOut: remuxed.bytesOut,
    connections: new Set(recordedSpools.map((s) => s.connection)).size,
    stopReason,
    gaps: gapList,
    tracks: remuxed.tracks,
    warnings,
  };
  if (gapReport) result.gapReport = gapReport;
  for (const w of remuxed.warnings) {
    const i = recordedSpools.findIndex((s) => s.path === w.input);
    const who = i >= 0 ? `connection ${recordedSpools[i]?.connection}` : 'the recording';
    warn(w.code, `${who}: ${w.message.split(w.input).join('(recording)')}`);
  }
  if (fatal) {
    if (isCastkitError(fatal)) {
      Object.assign(fatal.details, { partialOutput: output, recordedSec: result.durationSec });
    }
    throw fatal;
  }
  return result;
}

function framingContainer(f: WsFraming): 'mp4' | 'flv' {
  return f === 'flv' ? 'flv' : 'mp4';
}

function framingName(f: WsFraming): string {
  return f === 'evo' ? 'EvoStream progressive fMP4' : f === 'fmp4' ? 'fragmented MP4' : 'FLV';
}

/** The gaps as the result tells them: where in the output, how long, why. */
function describeGaps(gaps: readonly ClosedGap[], recorded: readonly Spool[]): RecordWebSocketGap[] {
  return gaps.map((g) => {
    // The output is the recorded spools back to back: the gap is where the one after it starts.
    let atSec = 0;
    for (const s of recorded) {
      if (s === g.after) break;
      atSec += s.meter.spanSec;
    }
    const out: RecordWebSocketGap = {
      connection: g.after.connection,
      atSec: round3(atSec),
      disconnectedSec: round3((g.reconnectedAt - g.droppedAt) / 1000),
      code: g.error.code,
      message: g.error.message,
    };
    const end = g.before.meter.endSec;
    const start = g.after.meter.startSec;
    // A live stream's clock runs on across the reconnection: the jump is what was missed.
    if (end !== undefined && start !== undefined && start >= end - 0.001)
      out.missingSec = round3(start - end);
    return out;
  });
}

function round3(v: number): number {
  return Math.round(v * 1000) / 1000;
}

/**
 * The gap report of download/gap-report.ts, for a websocket recording: the "segments" are the recorded
 * connections, and each missing entry is the hole before a reconnection.
 */
function buildReport(
  output: string,
  shown: string,
  recorded: readonly Spool[],
  gaps: readonly RecordWebSocketGap[],
): GapReport {
  let missingSec = 0;
  const missing = gaps.map((g) => {
    const durationSec = g.missingSec ?? g.disconnectedSec;
    missingSec += durationSec;
    return {
      index: g.connection,
      key: `reconnect-${g.connection}`,
      url: shown,
      code: g.code,
      message: g.message,
      startSec: g.atSec,
      durationSec,
    };
  });
  return {
    castkit: 'gap-report',
    version: 1,
    output,
    createdAt: new Date().toISOString(),
    segments: { total: new Set(recorded.map((s) => s.connection)).size, missing: gaps.length },
    missingSec: round3(missingSec),
    missing,
  };
}

/** "record" progress in seconds and "receive" progress in bytes, at most every 250 ms (and at the end). */
function progressReporter(
  options: RecordWebSocketOptions,
): (sec: number, bytes: number, total: number | undefined, final?: boolean) => void {
  const started = Date.now();
  let last = 0;
  return (sec, bytes, total, final = false) => {
    if (!options.onProgress) return;
    const now = Date.now();
    if (!final && now - last < 250) return;
    last = now;
    const elapsed = (now - started) / 1000;
    const rec: ProgressEvent = { phase: 'record', done: sec, unit: 'seconds' };
    if (total !== undefined) {
      rec.total = total;
      if (elapsed > 0 && sec > 0) {
        rec.rate = sec / elapsed;
        rec.etaSec = Math.max(0, (total - sec) / rec.rate);
      }
    }
    options.onProgress(rec);
    const recv: ProgressEvent = { phase: 'receive', done: bytes, unit: 'bytes' };
    if (elapsed > 0) recv.rate = bytes / elapsed;
    options.onProgress(recv);
  };
}
