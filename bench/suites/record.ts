/**
 * record: `castkit record` against yt-dlp, streamlink (+ ffmpeg to MP4) and ffmpeg, each downloading the same
 * >= 100 MB HLS VOD (720p H.264 + AAC, 6 s MPEG-TS segments, a master playlist) from a local nginx on
 * 127.0.0.1 to a final file: once through a server block throttled to 4 MiB/s a connection (`limit_rate 4m`,
 * where concurrency decides the time), once unthrottled (where the remux and the disk do).
 *
 * Targets (issue 4): castkit <= 0.5x yt-dlp -N 8, <= 0.6x streamlink + ffmpeg, <= 1.0x ffmpeg, peak RSS
 * <= 200 MB.
 *
 * The harness has no hook between runs, so every measured command starts by deleting its own output folder
 * (the output, yt-dlp's part files, castkit's `<output>.castkit-journal/`) and making it again: each run is a
 * full download, and each side pays the few milliseconds that takes.
 */
import { execFile, execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  chmodSync,
  closeSync,
  existsSync,
  fstatSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  readSync,
  renameSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { get, type IncomingMessage } from 'node:http';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { locateTools } from '../../src/ffmpeg/locate.js';
import {
  FIXTURE_DIR,
  lavfiAv,
  makeMedia,
  x264FixedGop,
  type MediaSpec,
} from '../../test/helpers/fixtures.js';
import { ffmpegTools, onPath, which } from '../lib/requirements.js';
import type { Argv, BenchCase, CaseResult, Requirement, Suite, SuiteContext } from '../lib/types.js';

const run = promisify(execFile);

/** Targets from the issue: castkit median / peer median, per peer; no target for streamlink alone. */
export const RECORD_TARGETS: Record<string, number> = {
  'yt-dlp': 0.5,
  'streamlink+ffmpeg': 0.6,
  ffmpeg: 1.0,
};
export const RSS_TARGET_MB = 200;

/** nginx `limit_rate 4m`: 4 MiB/s for each request, so for each connection at any time. */
const THROTTLE = '4m';
const THROTTLE_BYTES_PER_SEC = 4 * 1024 * 1024;
/** Peer settings the issue fixes. */
const YTDLP_FRAGMENTS = 8;
const STREAMLINK_THREADS = 10;

/**
 * The source: 180 s of 1280x720 30 fps testsrc2 at 6 Mb/s (x264 veryfast, capped with -maxrate so every
 * segment is about the same size) + 48 kHz stereo 128 kb/s AAC: 139 MB as MP4, 142 MB as 30 MPEG-TS segments
 * of 6 s and about 4.7 MB.
 * One keyframe every 6 s (no scene-cut keyframes), so the HLS muxer cuts every segment at exactly 6 s.
 * About 45 s to make on an idle 2-core machine, cached after.
 */
const SOURCE_SEC = 180;
const SEGMENT_SEC = 6;
const FPS = 30;
const SIZE = '1280x720';
const VIDEO_BITRATE = '6M';
const SOURCE: MediaSpec = {
  name: `record-bench-source-${SOURCE_SEC}s-${SIZE}-${VIDEO_BITRATE}`,
  ext: '.mp4',
  args: [
    ...lavfiAv(SOURCE_SEC, SIZE, FPS),
    ...x264FixedGop(FPS * SEGMENT_SEC),
    '-b:v',
    VIDEO_BITRATE,
    '-maxrate',
    VIDEO_BITRATE,
    '-bufsize',
    '12M',
    '-c:a',
    'aac',
    '-b:a',
    '128k',
    '-ac',
    '2',
    '-shortest',
  ],
};
const MIN_INPUT_BYTES = 100e6;

const mb = (bytes: number): string => `${(bytes / 1e6).toFixed(1)} MB`;
const rate = (bytes: number, ms: number): string => `${(bytes / 1e6 / (ms / 1000)).toFixed(2)} MB/s`;

interface StreamInfo {
  codec_type?: string;
  codec_name?: string;
  profile?: string;
  level?: number;
  width?: number;
  height?: number;
}
interface ProbeInfo {
  formatName: string;
  duration: number;
  streams: StreamInfo[];
}

function probe(ffprobe: string, path: string): ProbeInfo {
  const out = execFileSync(
    ffprobe,
    [
      '-v',
      'error',
      '-show_entries',
      'format=format_name,duration:stream=codec_type,codec_name,profile,level,width,height',
      '-of',
      'json',
      path,
    ],
    { encoding: 'utf8' },
  );
  const doc = JSON.parse(out) as {
    format?: { format_name?: string; duration?: string };
    streams?: StreamInfo[];
  };
  return {
    formatName: doc.format?.format_name ?? '',
    duration: Number(doc.format?.duration),
    streams: doc.streams ?? [],
  };
}

/** Video packets, counted by ffprobe reading the whole file: a segment lost in the middle shows here. */
function videoPackets(ffprobe: string, path: string): number {
  const json = execFileSync(
    ffprobe,
    [
      '-v',
      'error',
      '-select_streams',
      'v:0',
      '-count_packets',
      '-show_entries',
      'stream=nb_read_packets',
      '-of',
      'json',
      path,
    ],
    { encoding: 'utf8' },
  );
  const doc = JSON.parse(json) as { streams?: { nb_read_packets?: string }[] };
  return Number(doc.streams?.[0]?.nb_read_packets);
}

/** RFC 6381 codec string of an H.264 stream as ffprobe describes it (profile name, level * 10). */
function avc1Codec(s: StreamInfo): string {
  const profiles: Record<string, string> = {
    'Constrained Baseline': '42e0',
    Baseline: '4200',
    Main: '4d00',
    High: '6400',
  };
  const p = profiles[s.profile ?? ''];
  if (p === undefined || s.level === undefined) {
    throw new Error(`no codec string for H.264 profile ${String(s.profile)} level ${String(s.level)}`);
  }
  return `avc1.${p}${s.level.toString(16).padStart(2, '0')}`;
}

interface HlsVod {
  dir: string;
  segments: string[];
  bytes: number;
}

/**
 * The source cut into an HLS VOD with `ffmpeg -c copy -f hls` (6 s MPEG-TS segments, a VOD media playlist),
 * plus a master playlist written here with BANDWIDTH, AVERAGE-BANDWIDTH, CODECS, RESOLUTION and FRAME-RATE
 * (ffmpeg 5's own leaves CODECS out). Cached next to the fixtures, keyed by the source and the arguments; made
 * in a work folder renamed into place whole. World-readable, because nginx's workers run as `nobody` when the
 * bench runs as root.
 */
async function hlsVod(ffmpeg: string, ffprobe: string, source: string): Promise<HlsVod> {
  const args = ['-map', '0', '-c', 'copy', '-f', 'hls', '-hls_time', String(SEGMENT_SEC)];
  args.push('-hls_playlist_type', 'vod', '-hls_segment_type', 'mpegts');
  const key = createHash('sha256')
    .update(JSON.stringify([source, args, 'master-v1']))
    .digest('hex')
    .slice(0, 12);
  const dir = join(FIXTURE_DIR, `record-bench-hls-${key}`);
  if (!existsSync(dir)) {
    mkdirSync(FIXTURE_DIR, { recursive: true });
    const work = mkdtempSync(join(FIXTURE_DIR, `.work-${key}-`));
    try {
      await run(ffmpeg, [
        '-hide_banner',
        '-v',
        'error',
        '-y',
        '-i',
        source,
        ...args,
        '-hls_segment_filename',
        join(work, 'seg_%03d.ts'),
        join(work, 'stream.m3u8'),
      ]);
      const info = probe(ffprobe, source);
      const video = info.streams.find((s) => s.codec_type === 'video');
      if (!video?.width || !video.height) throw new Error(`${source}: no video stream`);
      const media = readFileSync(join(work, 'stream.m3u8'), 'utf8');
      const durations = [...media.matchAll(/#EXTINF:([\d.]+)/g)].map((m) => Number(m[1]));
      const sizes = readdirSync(work)
        .filter((f) => f.endsWith('.ts'))
        .sort()
        .map((f) => statSync(join(work, f)).size);
      const peak = Math.max(...sizes.map((s, i) => (s * 8) / (durations[i] ?? SEGMENT_SEC)));
      const average = (sizes.reduce((a, b) => a + b, 0) * 8) / durations.reduce((a, b) => a + b, 0);
      writeFileSync(
        join(work, 'master.m3u8'),
        [
          '#EXTM3U',
          '#EXT-X-VERSION:3',
          '#EXT-X-INDEPENDENT-SEGMENTS',
          `#EXT-X-STREAM-INF:BANDWIDTH=${Math.ceil(peak)},AVERAGE-BANDWIDTH=${Math.ceil(average)},` +
            `CODECS="${avc1Codec(video)},mp4a.40.2",RESOLUTION=${video.width}x${video.height},` +
            `FRAME-RATE=${FPS.toFixed(3)}`,
          'stream.m3u8',
          '',
        ].join('\n'),
      );
      chmodSync(work, 0o755);
      try {
        renameSync(work, dir);
      } catch (e) {
        if (!existsSync(dir)) throw e; // another run made it meanwhile: use theirs
      }
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
  }
  const segments = readdirSync(dir)
    .filter((f) => /^seg_\d+\.ts$/.test(f))
    .sort();
  const bytes = segments.reduce((sum, f) => sum + statSync(join(dir, f)).size, 0);
  return { dir, segments, bytes };
}

/** nginx on the PATH, or Debian's /usr/sbin/nginx (not on a normal user's PATH). */
function nginxPath(): string | undefined {
  const onPathNginx = which('nginx');
  if (onPathNginx !== undefined) return onPathNginx;
  try {
    execFileSync('/usr/sbin/nginx', ['-v'], { stdio: 'ignore' });
    return '/usr/sbin/nginx';
  } catch {
    return undefined;
  }
}

function nginxRequirement(): Requirement {
  return {
    name: 'nginx',
    debianPackage: 'nginx',
    problem: () => (nginxPath() === undefined ? 'not on the PATH nor at /usr/sbin/nginx' : undefined),
  };
}

/** Free TCP ports on 127.0.0.1 (held together while asking, so they differ; a race after is unlikely). */
async function freePorts(count: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from(
      { length: count },
      () =>
        new Promise<ReturnType<typeof createServer>>((resolve, reject) => {
          const s = createServer();
          s.once('error', reject);
          s.listen(0, '127.0.0.1', () => resolve(s));
        }),
    ),
  );
  const ports = servers.map((s) => (s.address() as AddressInfo).port);
  await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
  return ports;
}

/** GET `url` on a new connection; bytes of the body and the time from the request to its last byte. */
function timedGet(url: string): Promise<{ status: number; bytes: number; ms: number }> {
  return new Promise((resolve, reject) => {
    const started = process.hrtime.bigint();
    const req = get(url, { agent: false }, (res: IncomingMessage) => {
      let bytes = 0;
      res.on('data', (b: Buffer) => {
        bytes += b.length;
      });
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, bytes, ms: Number(process.hrtime.bigint() - started) / 1e6 }),
      );
      res.on('error', reject);
    });
    req.on('error', reject);
    req.setTimeout(30_000, () => req.destroy(new Error(`${url}: no answer in 30 s`)));
  });
}

/** The watchdog between node and nginx: nginx stops when node's end of the stdin pipe closes (any exit). */
const WATCHDOG = [
  'exec 3<&0',
  '"$0" "$@" &',
  'p=$!',
  "trap 'kill -TERM $p 2>/dev/null' INT TERM HUP",
  '(read _ignored <&3; kill -TERM $p 2>/dev/null) &',
  'wait $p; s=$?; wait $p 2>/dev/null; exit $s',
].join('\n');

interface Origin {
  throttled: string;
  unthrottled: string;
  accessLog: string;
  stop(): void;
}

/**
 * Starts nginx (as the current user, in the foreground under a watchdog, everything in a temp dir) with two
 * server blocks on free ports of 127.0.0.1 serving the HLS folder: one with `limit_rate 4m`, one without.
 * Each case gets its own path prefix (a symlink to the folder), so the access log tells the cases apart.
 */
async function startNginx(nginx: string, hlsDir: string, prefixes: string[]): Promise<Origin> {
  const dir = mkdtempSync(join(tmpdir(), 'castkit-bench-nginx-'));
  chmodSync(dir, 0o755);
  const www = join(dir, 'www');
  mkdirSync(www);
  for (const p of prefixes) symlinkSync(hlsDir, join(www, p));
  const [throttledPort, freePort] = await freePorts(2);
  const accessLog = join(dir, 'access.log');
  const errorLog = join(dir, 'error.log');
  const temp = (name: string): string => `${name}_temp_path ${join(dir, name)};`;
  const conf = join(dir, 'nginx.conf');
  writeFileSync(
    conf,
    `daemon off;
master_process on;
worker_processes 1;
pid ${join(dir, 'nginx.pid')};
error_log ${errorLog} warn;
events { worker_connections 1024; }
http {
  types { application/vnd.apple.mpegurl m3u8; video/mp2t ts; }
  default_type application/octet-stream;
  log_format bench '$msec $request_time $connection $status $body_bytes_sent $request_uri';
  access_log ${accessLog} bench;
  ${temp('client_body')} ${temp('proxy')} ${temp('fastcgi')} ${temp('uwsgi')} ${temp('scgi')}
  sendfile on;
  tcp_nopush on;
  keepalive_timeout 65s;
  keepalive_requests 10000;
  root ${www};
  # Throttled: 4 MiB/s per request, so per connection. Small sendfile chunks keep the pace even (nginx sleeps
  # after each chunk for its size / rate, so the last chunk of a response is the only burst).
  server { listen 127.0.0.1:${String(throttledPort)}; limit_rate ${THROTTLE}; sendfile_max_chunk 256k; }
  server { listen 127.0.0.1:${String(freePort)}; }
}
`,
  );
  const child = spawn('/bin/sh', ['-c', WATCHDOG, nginx, '-p', dir + '/', '-c', conf, '-e', errorLog], {
    stdio: ['pipe', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr?.on('data', (b: Buffer) => {
    stderr = (stderr + b.toString()).slice(-4000);
  });
  // nginx must not keep the bench alive: it is stopped by the exit handler below, or by the watchdog.
  child.unref();
  for (const pipe of [child.stdin, child.stderr]) (pipe as unknown as { unref?: () => void }).unref?.();
  let exited: string | undefined;
  child.on('exit', (code, signal) => {
    exited = signal ? `killed by ${signal}` : `exit ${String(code)}`;
  });
  let stopped = false;
  const stop = (): void => {
    if (stopped) return;
    stopped = true;
    try {
      const pid = Number(readFileSync(join(dir, 'nginx.pid'), 'utf8').trim());
      if (pid > 0) process.kill(pid, 'SIGTERM');
    } catch {
      // not started, or gone
    }
    child.stdin?.end();
    rmSync(dir, { recursive: true, force: true });
  };
  process.on('exit', stop);

  const base = (port: number | undefined): string => `http://127.0.0.1:${String(port)}`;
  const origin: Origin = { throttled: base(throttledPort), unthrottled: base(freePort), accessLog, stop };
  const deadline = Date.now() + 10_000;
  for (const url of [origin.throttled, origin.unthrottled]) {
    for (;;) {
      if (exited !== undefined) {
        const log = existsSync(errorLog) ? readFileSync(errorLog, 'utf8') : '';
        stop();
        throw new Error(`nginx stopped at start (${exited}): ${(stderr + log).trim().slice(-2000)}`);
      }
      try {
        const r = await timedGet(`${url}/${prefixes[0] ?? ''}/master.m3u8`);
        if (r.status === 200) break;
        throw new Error(`HTTP ${String(r.status)}`);
      } catch (e) {
        if (Date.now() > deadline) {
          stop();
          throw new Error(`nginx does not answer on ${url}: ${e instanceof Error ? e.message : String(e)}`, {
            cause: e,
          });
        }
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    }
  }
  return origin;
}

/**
 * Measures the throttle once, as a client sees it: one segment on one connection, four segments on four
 * connections at once (each must be capped on its own, not share one cap), and one unthrottled. Throws when
 * the throttled server does not cap a connection near 4 MiB/s, so no case runs against a wrong origin.
 */
async function checkThrottle(origin: Origin, prefix: string, segments: string[]): Promise<string> {
  const url = (base: string, i: number): string => `${base}/${prefix}/${segments[i % segments.length] ?? ''}`;
  const one = await timedGet(url(origin.throttled, 1));
  const four = await Promise.all([2, 3, 4, 5].map((i) => timedGet(url(origin.throttled, i))));
  const free = await timedGet(url(origin.unthrottled, 1));
  const limit = THROTTLE_BYTES_PER_SEC;
  const bps = (r: { bytes: number; ms: number }): number => r.bytes / (r.ms / 1000);
  const fourTotal = four.reduce((sum, r) => sum + r.bytes, 0) / (Math.max(...four.map((r) => r.ms)) / 1000);
  const text =
    `throttle (nginx limit_rate ${THROTTLE} = ${(limit / 1e6).toFixed(2)} MB/s a connection): ` +
    `1 connection ${rate(one.bytes, one.ms)} (${mb(one.bytes)} segment in ${one.ms.toFixed(0)} ms); ` +
    `4 at once ${four.map((r) => rate(r.bytes, r.ms)).join(', ')} (${(fourTotal / 1e6).toFixed(2)} MB/s in all); ` +
    `unthrottled 1 connection ${rate(free.bytes, free.ms)}`;
  for (const r of [one, ...four]) {
    if (bps(r) > limit * 1.25) throw new Error(`the throttle does not cap a connection: ${text}`);
  }
  if (fourTotal < 2 * Math.min(bps(one), limit)) {
    throw new Error(`the throttle is shared by all connections, not one per connection: ${text}`);
  }
  if (bps(free) < 2 * limit) throw new Error(`the unthrottled server is slow: ${text}`);
  return text;
}

interface Fetches {
  segments: number;
  requests: number;
  connections: number;
  maxAtOnce: number;
  bytes: number;
}

/** Reads the access log from `offset` on: the lines for `prefix`, and where the file ends now. */
function readLog(path: string, offset: number, prefix: string): { fetches: Fetches; end: number } {
  const fd = openSync(path, 'r');
  let text: string;
  let end: number;
  try {
    end = fstatSync(fd).size;
    const buf = Buffer.alloc(end - offset);
    readSync(fd, buf, 0, buf.length, offset);
    text = buf.toString('utf8');
  } finally {
    closeSync(fd);
  }
  const segs = new Set<string>();
  const conns = new Set<string>();
  const events: [number, number][] = [];
  let requests = 0;
  let bytes = 0;
  for (const line of text.split('\n')) {
    const [msec, reqTime, conn, status, sent, uri] = line.split(' ');
    if (uri === undefined || !uri.startsWith(`/${prefix}/`)) continue;
    requests++;
    conns.add(conn ?? '');
    bytes += Number(sent);
    if (!uri.endsWith('.ts')) continue;
    if (status === '200' || status === '206') segs.add(uri);
    const endAt = Number(msec);
    events.push([endAt - Number(reqTime), 1], [endAt, -1]);
  }
  // A request ending at the same millisecond another starts does not overlap it: ends sort first.
  events.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  let now = 0;
  let maxAtOnce = 0;
  for (const [, d] of events) {
    now += d;
    maxAtOnce = Math.max(maxAtOnce, now);
  }
  return {
    fetches: { segments: segs.size, requests, connections: conns.size, maxAtOnce, bytes },
    end,
  };
}

/** A command run in a fresh, empty `dir`: the previous run's output, part files and journal are gone. */
function inFreshDir(dir: string, argv: Argv): Argv {
  return ['/bin/sh', '-c', 'rm -rf -- "$0" && mkdir -- "$0" && exec "$@"', dir, ...argv];
}

/** Two commands in a fresh `dir`, the second only when the first succeeds; one measured process tree. */
function inFreshDirThen(dir: string, first: Argv, then: Argv): Argv {
  return [
    '/bin/bash',
    '-c',
    'd=$0; n=$1; shift; rm -rf -- "$d" && mkdir -- "$d" && "${@:1:n}" && exec "${@:n+1}"',
    dir,
    String(first.length),
    ...first,
    ...then,
  ];
}

interface CaseSpec {
  name: string;
  throttled: boolean;
  peer: string;
  /** The peer's command, run in a fresh output folder `dir`, given the master playlist URL. */
  peerArgv: (dir: string, url: string) => Argv;
  /** The peer's output file in its folder, and the container it must be. */
  peerOutput: string;
  peerFormat: 'mp4' | 'mpegts';
  /** Concurrency the peer is asked for; its check run must show at least 2 requests at once. */
  peerConcurrent: boolean;
}

/** Set by prepare, read by summarize. */
const summaryNotes: string[] = [];

/** Input, origin and cases; `checkCastkit: false` lets a developer run the peers before castkit can. */
export async function recordCases(ctx: SuiteContext, checkCastkit = true): Promise<BenchCase[]> {
  summaryNotes.length = 0;
  const { ffmpeg: ffmpegTool, ffprobe: ffprobeTool } = locateTools({});
  const ffmpeg = ffmpegTool.path;
  const ffprobe = ffprobeTool.path;
  const nginx = nginxPath();
  const ytdlp = which('yt-dlp');
  const streamlink = which('streamlink');
  if (nginx === undefined || ytdlp === undefined || streamlink === undefined) {
    throw new Error('nginx, yt-dlp or streamlink went missing after the requirement check');
  }

  ctx.log(
    `record: making the ${SOURCE_SEC} s ${SIZE} source and its HLS VOD (about a minute the first time)`,
  );
  const source = await makeMedia(SOURCE);
  const vod = await hlsVod(ffmpeg, ffprobe, source);
  if (vod.segments.length !== SOURCE_SEC / SEGMENT_SEC) {
    throw new Error(`${vod.dir} has ${vod.segments.length} segments, want ${SOURCE_SEC / SEGMENT_SEC}`);
  }
  if (vod.bytes < MIN_INPUT_BYTES) {
    throw new Error(
      `${vod.dir}: the segments are ${mb(vod.bytes)}, the suite wants >= ${mb(MIN_INPUT_BYTES)}`,
    );
  }
  const sourceInfo = probe(ffprobe, source);
  const sourceFrames = videoPackets(ffprobe, source);
  ctx.log(
    `record: ${vod.dir}: master.m3u8, ${vod.segments.length} x ${SEGMENT_SEC} s MPEG-TS segments, ` +
      `${mb(vod.bytes)} (${((vod.bytes * 8) / SOURCE_SEC / 1e6).toFixed(1)} Mb/s); ` +
      `source ${sourceInfo.duration.toFixed(2)} s, ${sourceFrames} video frames`,
  );

  // streamlink 5 has no --no-config: an explicit --config replaces the default files (and their per-plugin
  // twins). -Q is --loglevel none. At most 10 segment threads (its limit).
  const streamlinkArgv = (dir: string, url: string): Argv => [
    streamlink,
    '--config',
    '/dev/null',
    '-Q',
    '--stream-segment-threads',
    String(STREAMLINK_THREADS),
    '-o',
    join(dir, 'out.ts'),
    `hls://${url}`,
    'best',
  ];
  const specs: CaseSpec[] = [
    {
      name: `throttled-yt-dlp-N${YTDLP_FRAGMENTS}`,
      throttled: true,
      peer: 'yt-dlp',
      // Generic extractor on the master URL; its native HLS downloader fetches N fragments at once and its
      // FFmpegFixupM3u8 step remuxes the joined MPEG-TS into the MP4 (with aac_adtstoasc) at the end.
      peerArgv: (dir, url) =>
        inFreshDir(dir, [
          ytdlp,
          '--no-config',
          '--no-cache-dir',
          '--no-progress',
          '-q',
          '-N',
          String(YTDLP_FRAGMENTS),
          '--ffmpeg-location',
          ffmpeg,
          '-o',
          join(dir, 'out.mp4'),
          url,
        ]),
      peerOutput: 'out.mp4',
      peerFormat: 'mp4',
      peerConcurrent: true,
    },
    {
      name: 'throttled-streamlink-ffmpeg',
      throttled: true,
      peer: 'streamlink+ffmpeg',
      peerArgv: (dir, url) =>
        inFreshDirThen(dir, streamlinkArgv(dir, url), [
          ffmpeg,
          '-v',
          'error',
          '-y',
          '-i',
          join(dir, 'out.ts'),
          '-c',
          'copy',
          join(dir, 'out.mp4'),
        ]),
      peerOutput: 'out.mp4',
      peerFormat: 'mp4',
      peerConcurrent: true,
    },
    {
      name: 'throttled-streamlink-only',
      throttled: true,
      peer: 'streamlink',
      peerArgv: (dir, url) => inFreshDir(dir, streamlinkArgv(dir, url)),
      peerOutput: 'out.ts',
      peerFormat: 'mpegts',
      peerConcurrent: true,
    },
    {
      name: 'unthrottled-ffmpeg',
      throttled: false,
      peer: 'ffmpeg',
      peerArgv: (dir, url) =>
        inFreshDir(dir, [ffmpeg, '-v', 'error', '-y', '-i', url, '-c', 'copy', join(dir, 'out.mp4')]),
      peerOutput: 'out.mp4',
      peerFormat: 'mp4',
      peerConcurrent: false,
    },
  ];

  const origin = await startNginx(nginx, vod.dir, ['throttle-check', ...specs.map((s) => s.name)]);
  ctx.log(`record: nginx ${nginx} on ${origin.throttled} (limit_rate ${THROTTLE}) and ${origin.unthrottled}`);
  try {
    const throttle = await checkThrottle(origin, 'throttle-check', vod.segments);
    ctx.log(`record: ${throttle}`);
    summaryNotes.push(`record: ${throttle}`);
    if (checkCastkit) {
      // Fail before any case rather than at castkit's first check run, with what to do about it.
      try {
        execFileSync(ctx.castkit[0], [...ctx.castkit.slice(1), 'help', 'record'], {
          stdio: ['ignore', 'ignore', 'pipe'],
        });
      } catch (e) {
        const stderr = (e as { stderr?: Buffer }).stderr?.toString().trim() ?? '';
        throw new Error(
          `castkit has no \`record\` command in ${ctx.castkitMain} (\`castkit help record\`: ${stderr || 'failed'}); ` +
            'the input and the origin work: build castkit with record and run the suite again',
          { cause: e },
        );
      }
    }
  } catch (e) {
    origin.stop();
    throw e;
  }

  const scratch = mkdtempSync(join(tmpdir(), 'castkit-bench-record-'));
  // Outputs are about 140 MB per tool and case: gone when the bench exits, whatever the reason.
  process.on('exit', () => rmSync(scratch, { recursive: true, force: true }));
  ctx.log(`record: outputs in ${scratch}`);

  const logMarks = new Map<string, number>();
  return specs.map((spec): BenchCase => {
    const url = `${spec.throttled ? origin.throttled : origin.unthrottled}/${spec.name}/master.m3u8`;
    const castkitDir = join(scratch, spec.name, 'castkit');
    const peerDir = join(scratch, spec.name, spec.peer);
    mkdirSync(join(scratch, spec.name), { recursive: true });
    const outputs: Record<string, { path: string; format: 'mp4' | 'mpegts'; concurrent: boolean }> = {
      castkit: { path: join(castkitDir, 'out.mp4'), format: 'mp4', concurrent: false },
      [spec.peer]: {
        path: join(peerDir, spec.peerOutput),
        format: spec.peerFormat,
        concurrent: spec.peerConcurrent,
      },
    };
    return {
      name: spec.name,
      castkit: inFreshDir(castkitDir, [
        ...ctx.castkit,
        'record',
        url,
        '-o',
        join(castkitDir, 'out.mp4'),
        '-q',
      ]),
      peer: {
        name: spec.peer,
        argv: spec.peerArgv(peerDir, url),
      },
      // After each program's check run: what it fetched (from the access log) and what it wrote (ffprobe).
      validate: (_stdout, tool) => {
        const out = outputs[tool];
        if (out === undefined) return `no output known for ${tool}`;
        const { fetches: f, end } = readLog(origin.accessLog, logMarks.get(spec.name) ?? 0, spec.name);
        logMarks.set(spec.name, end);
        const fetched =
          `${tool} fetched ${f.segments}/${vod.segments.length} segments (${mb(f.bytes)} in ${f.requests} ` +
          `requests) over ${f.connections} connection(s), at most ${f.maxAtOnce} at once`;
        ctx.log(`record/${spec.name}: ${fetched}`);
        if (f.segments !== vod.segments.length) return fetched;
        if (out.concurrent && f.maxAtOnce < 2) return `${fetched}: it did not download concurrently`;
        if (!existsSync(out.path)) return `${out.path} is missing`;
        const info = probe(ffprobe, out.path);
        const formatOk =
          out.format === 'mp4' ? info.formatName.split(',').includes('mp4') : info.formatName === 'mpegts';
        if (!formatOk) return `${out.path} is ${info.formatName}, not ${out.format}`;
        const kinds = info.streams.map((s) => `${s.codec_type ?? '?'}:${s.codec_name ?? '?'}`);
        if (!kinds.includes('video:h264') || !kinds.includes('audio:aac')) {
          return `${out.path} has streams ${kinds.join(', ')}, want video:h264 and audio:aac`;
        }
        if (!(Math.abs(info.duration - sourceInfo.duration) <= 1)) {
          return `${out.path} lasts ${info.duration} s, the source ${sourceInfo.duration} s`;
        }
        const frames = videoPackets(ffprobe, out.path);
        if (frames !== sourceFrames)
          return `${out.path} has ${frames} video frames, the source ${sourceFrames}`;
        ctx.log(
          `record/${spec.name}: ${tool} wrote ${mb(statSync(out.path).size)} ${out.format}, ` +
            `${info.duration.toFixed(2)} s, ${frames} video frames: ok`,
        );
        return undefined;
      },
    };
  });
}

export const recordSuite: Suite = {
  name: 'record',
  description:
    'castkit record vs yt-dlp -N 8, streamlink (+ffmpeg), ffmpeg: 142 MB 720p HLS VOD from local nginx, 4 MiB/s a connection and unthrottled',
  defaultRuns: 5,
  defaultWarmup: 1,
  requires: () => [
    ffmpegTools(),
    onPath('yt-dlp', 'yt-dlp'),
    onPath('streamlink', 'streamlink'),
    nginxRequirement(),
  ],
  prepare: (ctx) => recordCases(ctx),
  summarize: (results: CaseResult[]) => {
    const lines = [...summaryNotes];
    for (const r of results) {
      const target = RECORD_TARGETS[r.peer.tool];
      const ratio = `castkit/${r.peer.tool} ${r.ratio.toFixed(2)}`;
      lines.push(
        target === undefined
          ? `record/${r.case}: ${ratio} (no target: streamlink alone leaves MPEG-TS, not an MP4)`
          : `record/${r.case}: ${ratio}, target <= ${target}: ${r.ratio <= target ? 'PASS' : 'FAIL'}`,
      );
    }
    for (const r of results) {
      const rss = r.castkit.peakRssMb;
      if (rss === undefined) continue;
      lines.push(
        `record/${r.case}: castkit peak RSS ${rss.toFixed(1)} MB, target <= ${RSS_TARGET_MB} MB: ` +
          (rss <= RSS_TARGET_MB ? 'PASS' : 'FAIL'),
      );
    }
    return lines;
  },
};
