import { Option, type Command } from 'commander';
import type { RecordListing, RecordOptions, RecordProgress, RecordResult } from '../../api/record-types.js';
import type { UstreamOptions } from '../../api/record-ustream.js';
import { UsageError } from '../../core/errors.js';
import { formatClock, parseDuration } from '../../core/time.js';
import { formatBytes } from '../../core/units.js';
import { parseHeaderArgs } from '../../download/request-headers.js';
import type { CliContext } from '../context.js';
import { createProgressRenderer } from '../progress.js';
import { renderTable } from '../table.js';

const EXAMPLES = `
Examples:
  $ castkit record https://example.com/live/master.m3u8 -o show.mp4
  $ castkit record https://example.com/manifest.mpd -o talk.mp4 --quality 720p --audio-lang de
  $ castkit record URL --list                          # variants and renditions, and which would be chosen
  $ castkit record URL -o live.mp4 --duration 10:00    # live: stop after ten minutes of media
  $ castkit record URL -o live.mp4 --from-start        # live: start at the beginning of the DVR window
  $ castkit record URL -o talk.m4a --audio-lang de     # the audio alone: a separate rendition's segments only
  $ castkit record URL -o show.mp4 -N 32 --header 'Authorization: Bearer ...' --cookies cookies.txt
  $ castkit record URL -o - --format ts | mpv -        # the stream on stdout while it records (HLS or DASH)
  $ castkit record wss://host/stream -o cam.mp4 --duration 30   # fMP4 (EvoStream or plain) or FLV over a websocket
  $ castkit record https://video.ibm.com/channel/123 --list   # ustream: the channel's videos with their ids
  $ castkit record https://video.ibm.com/recorded/456 -o talk.mp4   # or -o talk.flv for one joined FLV
  $ castkit record https://video.ibm.com/channel/123 -o show.mp4 --all
Interrupted (Ctrl-C, a lost network, kill -9)? Run the same command again: completed segments are kept in
<output>.castkit-journal/ and are not fetched twice. Ctrl-C also leaves a playable file with what was recorded.
A segment that cannot be fetched makes the run exit 4 naming it; --allow-gaps writes the file anyway and
lists the holes in <output>.gaps.json. For a VOD the journal then stays: the same command run again tries
the missing segments again and fills the holes it can, without fetching the others twice. A live stream lost for good (its server or session cannot be reached
again, or no new segment for --stall-timeout) keeps a playable file and exits 4; run the same command when
it is back to continue into the same file.
An output that already exists with no journal beside it is a finished recording: record refuses to replace
it (exit 6) unless --force is given.
Behind a proxy: HTTPS_PROXY, HTTP_PROXY and NO_PROXY are honoured for every connection (websockets too);
NODE_EXTRA_CA_CERTS=ca.pem trusts a server whose certificate a private authority signed.`;

interface RecordCliOptions {
  output?: string;
  format?: 'mp4' | 'fmp4' | 'ts' | 'mkv';
  list?: boolean;
  quality?: string;
  audioLang?: string;
  concurrency?: string;
  header: string[];
  userAgent?: string;
  referer?: string;
  cookies?: string;
  allowGaps?: boolean;
  allowLocal?: boolean;
  force?: boolean;
  fromStart?: boolean;
  duration?: string;
  stallTimeout?: string;
  origin?: string;
  reconnect: boolean;
  source?: 'auto' | 'hls' | 'dash' | 'ustream';
  umsUrl?: string;
  register?: string;
  video?: string;
  all?: boolean;
  password?: string;
  streamFormat?: 'flv' | 'mp4';
  subs?: string | true;
}

export function registerRecord(
  program: Command,
  run: (fn: (ctx: CliContext) => Promise<void>) => Promise<void>,
): void {
  program
    .command('record')
    .alias('download')
    .description('record an HLS or DASH stream (VOD or live) into one MP4, in parallel and resumable')
    .argument('<url>', 'the .m3u8 playlist or .mpd manifest URL')
    .option('-o, --output <file>', 'output file (.mp4 by default), or - for a TS/fMP4 stream on stdout')
    .addOption(
      new Option(
        '--format <format>',
        'mp4 (default), fmp4, ts (MPEG-TS, written as it records; from any source) or mkv (via ffmpeg)',
      ).choices(['mp4', 'fmp4', 'ts', 'mkv']),
    )
    .option('--list', 'list the variants and renditions and which would be chosen, then exit')
    .option(
      '--quality <q>',
      'video: best, worst, a height such as 720p, or a bandwidth in bits/s (default best)',
    )
    .option('--audio-lang <lang>', 'audio rendition language, e.g. en or de (default: the default rendition)')
    .option(
      '-N, --concurrency <n>',
      'segments downloaded at once, at the most (default 32: starts at 2 and doubles while the server is the bottleneck; lower it for servers that limit connections)',
    )
    .option('-H, --header <line>', "extra request header 'Name: value' (repeatable)", collect, [])
    .option('--user-agent <ua>', 'User-Agent header')
    .option('--referer <url>', 'Referer header')
    .option('--cookies <file>', 'cookies from a Netscape cookies.txt file')
    .option('--allow-gaps', 'write the output even if segments are missing, with a gap report beside it')
    .option('--allow-local', 'let the playlist name file: URIs (local files)')
    .option('--force', 'record over an output that already exists (a finished recording); off: an error')
    .option(
      '--subs [lang]',
      'HLS: save the subtitles (the default ones, or in this language) as <output>.<lang>.vtt',
    )
    .option('--from-start', 'live: start at the beginning of the DVR window instead of near the live edge')
    .option(
      '--duration <time>',
      'stop after this much media: seconds or [hh:]mm:ss; the output ends there (TS audio within a few ' +
        'frames), and no later segment is fetched',
    )
    .option(
      '--stall-timeout <time>',
      'live: finish the output when no new segment came for this long (default 60 s)',
    )
    .addOption(
      new Option('--source <kind>', 'what the URL is (default: from the URL and its first bytes)').choices([
        'auto',
        'hls',
        'dash',
        'ustream',
      ]),
    )
    .option('--ums-url <url>', 'ustream: the UMS session address, ws(s):// or http(s):// for long-poll')
    .option(
      '--register <fields>',
      'ustream: registration details name=..,email=..,company=..,role=..,phone=..',
    )
    .option('--video <id>', 'ustream: record this video of the channel (see --list)')
    .option('--all', 'ustream: record every video of the channel, each to <output>-<id>.<ext>')
    .option('--password <password>', 'ustream: the password of a protected video')
    .addOption(
      new Option('--stream-format <format>', 'ustream: prefer flv/segmented or mp4/segmented').choices([
        'flv',
        'mp4',
      ]),
    )
    .option('--origin <origin>', 'websocket: the Origin header to send')
    .option('--no-reconnect', 'websocket: stop when the connection drops instead of reconnecting')
    .addHelpText('after', EXAMPLES)
    .action((url: string, opts: RecordCliOptions) => run((ctx) => recordCommand(url, opts, ctx)));
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

function parseQuality(q: string | undefined): RecordOptions['quality'] {
  if (q === undefined) return undefined;
  const t = q.trim().toLowerCase();
  if (t === 'best' || t === 'worst') return t;
  if (/^\d+p$/.test(t)) return t as `${number}p`;
  if (/^\d+(\.\d+)?[km]?$/.test(t)) {
    const n = parseFloat(t) * (t.endsWith('m') ? 1e6 : t.endsWith('k') ? 1e3 : 1);
    if (n > 0) return n;
  }
  throw new UsageError(`--quality "${q}" is not best, worst, a height such as 720p, or a bandwidth`, {
    hint: 'for example --quality 720p or --quality 2500000 (or 2.5m)',
  });
}

export function recordOptionsFrom(opts: RecordCliOptions, ctx: CliContext): Omit<RecordOptions, 'output'> {
  const o: Omit<RecordOptions, 'output'> = { signal: ctx.signal };
  if (opts.format !== undefined) o.format = opts.format;
  const quality = parseQuality(opts.quality);
  if (quality !== undefined) o.quality = quality;
  if (opts.audioLang !== undefined) o.audioLang = opts.audioLang;
  if (opts.concurrency !== undefined) {
    const n = Number(opts.concurrency);
    if (!Number.isInteger(n) || n < 1 || n > 256) {
      throw new UsageError(`-N must be a whole number from 1 to 256, not "${opts.concurrency}"`);
    }
    o.concurrency = n;
  }
  if (opts.header.length > 0) o.headers = parseHeaderArgs(opts.header);
  if (opts.userAgent !== undefined) o.userAgent = opts.userAgent;
  if (opts.referer !== undefined) o.referer = opts.referer;
  if (opts.cookies !== undefined) o.cookiesFile = opts.cookies;
  if (opts.allowGaps) o.allowGaps = true;
  if (opts.allowLocal) o.allowLocal = true;
  if (opts.force) o.overwrite = true;
  if (opts.fromStart) o.fromStart = true;
  if (opts.subs !== undefined) o.subs = opts.subs;
  if (opts.duration !== undefined) {
    const d = parseDuration(opts.duration);
    if (d === undefined || !(d > 0)) {
      throw new UsageError(`--duration "${opts.duration}" is not a time`, {
        hint: 'write 90, 1:30 or 0:01:30',
      });
    }
    o.durationSec = d;
  }
  if (opts.stallTimeout !== undefined) {
    const t = parseDuration(opts.stallTimeout);
    if (t === undefined || !(t > 0)) {
      throw new UsageError(`--stall-timeout "${opts.stallTimeout}" is not a time`, {
        hint: 'write 120, 2:00 or 0:02:00',
      });
    }
    o.liveStallSec = t;
  }
  return o;
}

function renderListing(l: RecordListing): string {
  const head = `${l.url}\n${l.kind.toUpperCase()} ${l.live ? 'live' : 'VOD'}${l.durationSec !== undefined ? `, ${formatClock(l.durationSec)}` : ''}; castkit would record: ${l.chosen}`;
  const rows = [['', 'type', 'id', 'resolution', 'bandwidth', 'codecs', 'language', 'name']];
  for (const r of l.renditions) {
    rows.push([
      r.chosen ? '*' : '',
      r.type,
      r.id,
      r.resolution ?? '',
      r.bandwidth !== undefined ? `${(r.bandwidth / 1e6).toFixed(2)} Mbit/s` : '',
      r.codecs ?? '',
      r.language ?? '',
      (r.name ?? '') + (r.default ? ' (default)' : ''),
    ]);
  }
  return `${head}\n${renderTable(rows)}`;
}

function initText(n: number): string {
  return n === 0 ? '' : ` and ${n} init section${n === 1 ? '' : 's'}`;
}

function renderResult(r: RecordResult): string {
  const lines = [
    `${r.output}: ${formatClock(r.durationSec)}, ${formatBytes(r.bytesOut)}; ${r.kind.toUpperCase()} ${r.live ? 'live' : 'VOD'}, ${r.chosen}`,
    `  ${r.segments} segments${initText(r.initSections)} (${r.fetched} fetched, ${r.fromJournal} from the resume journal), ${formatBytes(r.bytesFetched)} downloaded`,
  ];
  for (const t of r.tracks) {
    const what = [t.codecString ?? t.codec];
    if (t.width && t.height) what.push(`${t.width}x${t.height}`);
    if (t.sampleRate) what.push(`${t.sampleRate} Hz`);
    if (t.language) what.push(`language ${t.language}`);
    if (t.samples !== undefined) what.push(`${t.samples} samples`);
    lines.push(`  ${t.kind}  ${what.join(', ')}`);
  }
  if (r.subtitles) lines.push(`  subtitles: ${r.subtitles}`);
  if (r.programDateTime) lines.push(`  starts at ${r.programDateTime} (EXT-X-PROGRAM-DATE-TIME)`);
  if (r.gaps.length > 0) {
    const secs = r.gaps.reduce((n, g) => n + g.seconds, 0);
    lines.push(`  gaps: ${r.gaps.length} (${secs.toFixed(1)} s), listed in ${r.gapReport}`);
  }
  if (r.journal) {
    const n = r.gaps.filter((g) => g.retryable === true).length;
    lines.push(
      `  to try the ${n === 1 ? 'missing segment' : `${n} missing segments`} again, run the same command again (the others come from ${r.journal}); to keep the file as it is, delete that folder`,
    );
  }
  return lines.join('\n');
}

function progressEvent(p: RecordProgress): RecordProgress {
  const detail = [`${formatBytes(p.bytes)}`];
  if (p.bytesPerSec !== undefined && p.bytesPerSec > 0) detail.push(`${formatBytes(p.bytesPerSec)}/s`);
  if (p.fromJournal > 0) detail.push(`${p.fromJournal} from the journal`);
  if (p.retries > 0) detail.push(`${p.retries} retries`);
  if (p.missing > 0) detail.push(`${p.missing} missing`);
  // Live: no total; show recorded media time and the lag to the live edge instead of a segment count.
  if (p.live && p.edgeLagSec !== undefined) detail.push(`${p.edgeLagSec.toFixed(0)} s behind live`);
  const shown = { ...p, detail: detail.join(', ') };
  if (!p.live) return shown;
  return { ...shown, unit: 'seconds' as never, done: p.recordedSec, phase: 'record (live)' as 'record' };
}

async function recordCommand(url: string, opts: RecordCliOptions, ctx: CliContext): Promise<void> {
  if (/^wss?:\/\//i.test(url)) return recordWebSocketCommand(url, opts, ctx);
  const { isUstreamUrl } = await import('../../sources/ustream/ustream-url.js');
  if (opts.source === 'ustream' || ((opts.source ?? 'auto') === 'auto' && isUstreamUrl(url))) {
    return recordUstreamCommand(url, opts, ctx);
  }
  const onlyUstream = (['umsUrl', 'register', 'video', 'all', 'password', 'streamFormat'] as const).filter(
    (k) => opts[k] !== undefined,
  );
  if (onlyUstream.length > 0) {
    throw new UsageError(
      `--${onlyUstream[0]?.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)} is for ustream URLs`,
      {
        hint: 'add --source ustream if this URL is a ustream page',
      },
    );
  }
  const options = recordOptionsFrom(opts, ctx);
  const api = await import('../../api/record.js');
  if (opts.list) {
    const listing = await api.listRenditions(url, options);
    ctx.out(ctx.json ? JSON.stringify(listing, null, 2) : renderListing(listing));
    return;
  }
  if (!opts.output) {
    throw new UsageError('record needs an output file: -o <file>.mp4', {
      hint: 'or pass --list to see the variants and renditions',
    });
  }
  const progress = createProgressRenderer({
    write: (s) => process.stderr.write(s),
    interactive: ctx.interactive,
    json: false,
    quiet: ctx.quiet || ctx.json,
  });
  let result: RecordResult;
  try {
    result = await api.record(url, {
      ...options,
      output: opts.output,
      onProgress: (p) => progress.update(progressEvent(p)),
      onNotice: (m) => ctx.logger.warn(m),
    });
  } finally {
    progress.finish();
  }
  const shown = result.warnings.slice(0, 10);
  for (const w of shown) ctx.logger.warn(w.input ? `${w.input}: ${w.message}` : w.message);
  if (opts.output === '-') {
    if (!ctx.quiet) process.stderr.write(renderResult(result) + '\n');
    return;
  }
  ctx.out(ctx.json ? JSON.stringify(result, null, 2) : renderResult(result));
}

async function recordWebSocketCommand(url: string, opts: RecordCliOptions, ctx: CliContext): Promise<void> {
  if (opts.list) throw new UsageError('--list is for HLS, DASH and ustream URLs, not websockets');
  if (!opts.output) throw new UsageError('record needs an output file: -o <file>.mp4');
  const o = recordOptionsFrom(opts, ctx);
  const progress = createProgressRenderer({
    write: (s) => process.stderr.write(s),
    interactive: ctx.interactive,
    json: false,
    quiet: ctx.quiet || ctx.json,
  });
  const { recordWebSocket } = await import('../../api/record-websocket.js');
  let result: Awaited<ReturnType<typeof recordWebSocket>>;
  try {
    result = await recordWebSocket(url, {
      output: opts.output,
      signal: ctx.signal,
      reconnect: opts.reconnect,
      ...(o.overwrite ? { overwrite: true } : {}),
      onProgress: (ev) => progress.update(ev),
      onWarning: (m) => ctx.logger.warn(m),
      ...(o.durationSec !== undefined ? { duration: o.durationSec } : {}),
      ...(o.headers ? { headers: o.headers } : {}),
      ...(opts.origin ? { origin: opts.origin } : {}),
    });
  } finally {
    progress.finish();
  }
  if (ctx.json) {
    ctx.out(JSON.stringify(result, null, 2));
    return;
  }
  const lines = [
    `${result.output}: ${formatClock(result.durationSec)}, ${formatBytes(result.bytesOut)}; websocket ${result.framing}, ${result.connections} connection${result.connections === 1 ? '' : 's'}, stopped by ${result.stopReason}`,
  ];
  for (const t of result.tracks)
    lines.push(
      `  ${t.kind}  ${t.codecString ?? t.codec}${t.samples !== undefined ? `, ${t.samples} samples` : ''}`,
    );
  if (result.gaps.length > 0)
    lines.push(`  gaps: ${result.gaps.length}, listed in ${result.gapReport ?? 'the result'}`);
  ctx.out(lines.join('\n'));
}

async function recordUstreamCommand(url: string, opts: RecordCliOptions, ctx: CliContext): Promise<void> {
  const api = await import('../../api/record-ustream.js');
  const base = recordOptionsFrom(opts, ctx);
  const extra: UstreamOptions = {};
  if (opts.umsUrl) extra.umsUrl = opts.umsUrl;
  if (opts.register) extra.register = api.parseRegistration(opts.register);
  if (opts.video) extra.video = opts.video;
  if (opts.password) extra.password = opts.password;
  if (opts.streamFormat) extra.streamFormat = opts.streamFormat;
  if (opts.list) {
    const l = await api.listUstream(url, { ...base, ...extra });
    if (ctx.json) {
      ctx.out(JSON.stringify(l, null, 2));
      return;
    }
    const lines = [
      `${l.url}${l.channelId ? ` (channel ${l.channelId})` : ''}${l.channelLive === undefined ? '' : l.channelLive ? ': live now' : ': offline'}`,
    ];
    const rows = [['id', 'title', 'duration', 'created']];
    for (const v of l.videos) {
      rows.push([
        v.id,
        v.title ?? '',
        v.durationSec !== undefined ? formatClock(v.durationSec) : '',
        v.createdAt !== undefined ? new Date(v.createdAt * 1000).toISOString().slice(0, 10) : '',
      ]);
    }
    if (l.videos.length > 0) lines.push(renderTable(rows));
    if (l.media) {
      lines.push(
        `castkit would record ${l.media.live ? 'the live broadcast' : `video ${l.media.id}`}: ${l.media.chosen} (${l.media.streamFormat})`,
      );
    }
    ctx.out(lines.join('\n'));
    return;
  }
  if (!opts.output)
    throw new UsageError('record needs an output file: -o <file>.mp4 (or .flv)', { hint: 'or pass --list' });
  const progress = createProgressRenderer({
    write: (s) => process.stderr.write(s),
    interactive: ctx.interactive,
    json: false,
    quiet: ctx.quiet || ctx.json,
  });
  const options = {
    ...base,
    ...extra,
    output: opts.output,
    onProgress: (p: RecordProgress) => progress.update(progressEvent(p)),
    onNotice: (m: string) => ctx.logger.warn(m),
  };
  let results: Awaited<ReturnType<typeof api.recordUstream>>[];
  try {
    results = opts.all ? await api.recordUstreamAll(url, options) : [await api.recordUstream(url, options)];
  } finally {
    progress.finish();
  }
  if (ctx.json) {
    ctx.out(JSON.stringify(opts.all ? results : results[0], null, 2));
    return;
  }
  for (const r of results) {
    ctx.out(
      renderResult({ ...r, kind: r.kind === 'hls' ? 'hls' : 'ustream' }).replace(
        /; USTREAM /,
        `; ustream ${r.streamFormat} ${r.media.application} ${r.media.id}, `,
      ),
    );
  }
}
