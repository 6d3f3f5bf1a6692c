/**
 * ustream: a 1,400-chunk recorded video (flv/segmented, 6 s chunks of 640x360 at about 1 Mbit/s, 8,400 s of
 * media, about 1.06 GB) recorded by castkit from the ustream emulator (test/helpers/ustream-emulator.ts) into
 * one MP4, with the emulator's CDN capping every connection at 4 MiB/s (paced per request as nginx's
 * limit_rate does, in Node: nginx would need the emulator's page, registration, websocket and hash-checked
 * chunk paths rebuilt around it). The peer is curl fetching the same 1,400 chunk URLs with as many
 * transfers at once as castkit's default concurrency (`--parallel --parallel-max N`): the plain transfer,
 * with no session, no join and no output to make.
 *
 * Target (issue): the recording reaches at least 80% of (connections x 4 MiB/s). The connections are those
 * the CDN saw castkit use (client ports in the emulator's log: its client pool holds concurrency + 2), and
 * the rate is castkit's download phase (per run, from its first chunk request to the last chunk sent, from
 * the emulator's log); the whole run (process start to exit: session, moov, journal removal included) is
 * reported beside it against the same ceiling. The chunks are ten real 6 s FLV chunks of an ffmpeg-encoded
 * clip, served in a loop with their timestamps moved on by whole cycles, so the recording is one continuous
 * 8,400 s file (checked: duration, video frames).
 *
 * Two cases: castkit's default concurrency (RECORD_CONCURRENCY) and -N 16, curl with as many transfers at
 * once. On two cores the CDN (Node, in the bench process) and castkit share the CPU: at the default's
 * 100+ MB/s that, not the network, is what holds castkit below the cap.
 *
 * castkit runs as the CLI (`castkit record <page> --source ustream --ums-url ... --video ... [-N n]`) when its
 * `record` help lists `--ums-url`, else through the library (`recordUstream` in dist/) with the same options.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { get, type IncomingMessage } from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { RECORD_CONCURRENCY } from '../../src/api/record-types.js';
import { locateTools } from '../../src/ffmpeg/locate.js';
import {
  startUstreamEmulator,
  ustreamFixture,
  type UstreamEmulator,
} from '../../test/helpers/ustream-emulator.js';
import { ffmpegTools, onPath, which } from '../lib/requirements.js';
import type { Argv, BenchCase, CaseResult, Suite, SuiteContext } from '../lib/types.js';

/** Chunks in the recording, and of the looped fixture. */
const CHUNKS = 1400;
const CHUNK_SEC = 6;
const FIXTURE_SEC = 60;
const FPS = 30;
/** The CDN's cap per connection: 4 MiB/s, as nginx's `limit_rate 4m` in the record suite. */
const RATE = 4 * 1024 * 1024;
/** castkit's default download concurrency, and curl's. */
const CONNECTIONS = RECORD_CONCURRENCY;
/** The target: this share of (connections used x RATE), connections counted from the CDN's log. */
export const USTREAM_TARGET = 0.8;
const VIDEO = '98765432';

const mb = (bytes: number): string => `${(bytes / 1e6).toFixed(1)} MB`;
const mbps = (bytesPerSec: number): string => `${(bytesPerSec / 1e6).toFixed(1)} MB/s`;

interface State {
  emu?: UstreamEmulator;
  /** Bytes of the whole recording, and of each distinct chunk. */
  bytes: number;
  sizes: number[];
  notes: string[];
}
const state: State = { bytes: 0, sizes: [], notes: [] };

/** One program's run as the CDN saw it: its chunk requests, from the first request to the last answer sent. */
interface Phase {
  ms: number;
  bytes: number;
  /** Connections the chunks came over (client ports). */
  connections: number;
}

/**
 * Each run of a program (by its User-Agent: castkit or curl) from the emulator's log: the runs alternate, so
 * a program's requests more than 2 s apart belong to two runs. Whole chunk GETs only (not the 1-byte probes).
 */
function phasesOf(emu: UstreamEmulator, agent: RegExp): Phase[] {
  const runs: { first: number; last: number; at: number; bytes: number; ports: Set<number> }[] = [];
  for (const r of emu.requests) {
    if (!r.path.includes('/cdn/') || r.range !== undefined || !agent.test(String(r.headers['user-agent'])))
      continue;
    const m = /chunk_(\d+)_/.exec(r.path);
    if (!m || r.done === undefined || r.status !== 200) continue;
    let cur = runs[runs.length - 1];
    if (!cur || r.at - cur.at > 2000) {
      cur = { first: r.at, last: 0, at: r.at, bytes: 0, ports: new Set() };
      runs.push(cur);
    }
    cur.at = r.at;
    cur.last = Math.max(cur.last, r.done);
    cur.bytes += state.sizes[Number(m[1]) % state.sizes.length] ?? 0;
    if (r.remotePort !== undefined) cur.ports.add(r.remotePort);
  }
  return runs.map((p) => ({ ms: p.last - p.first, bytes: p.bytes, connections: p.ports.size }));
}

const median = (xs: number[]): number | undefined => [...xs].sort((a, b) => a - b)[xs.length >> 1];

/** GET on a fresh connection: bytes and ms to the last byte. */
function timedGet(url: string): Promise<{ bytes: number; ms: number }> {
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    const req = get(url, { agent: false }, (res: IncomingMessage) => {
      let bytes = 0;
      res.on('data', (b: Buffer) => (bytes += b.length));
      res.on('end', () => resolve({ bytes, ms: Number(process.hrtime.bigint() - t0) / 1e6 }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.setTimeout(30_000, () => req.destroy(new Error(`${url}: no answer in 30 s`)));
  });
}

/** A command run in a fresh, empty `dir` (the previous run's output and journal gone). */
function inFreshDir(dir: string, argv: Argv): Argv {
  return ['/bin/sh', '-c', 'rm -rf -- "$0" && mkdir -p -- "$0" && exec "$@"', dir, ...argv];
}

function cliHasUstream(ctx: SuiteContext): boolean {
  try {
    const help = execFileSync(ctx.castkit[0], [...ctx.castkit.slice(1), 'help', 'record'], {
      encoding: 'utf8',
    });
    return help.includes('--ums-url');
  } catch {
    return false;
  }
}

/** The distinct chunks fetched whole (not the 1-byte probes) since request number `from`. */
function chunksFetched(emu: UstreamEmulator, from: number): Set<number> {
  const chunks = new Set<number>();
  for (const r of emu.requests.slice(from)) {
    if (!r.path.includes('/cdn/') || r.range !== undefined) continue;
    const m = /chunk_(\d+)_/.exec(r.path);
    if (m) chunks.add(Number(m[1]));
  }
  return chunks;
}

async function prepare(ctx: SuiteContext): Promise<BenchCase[]> {
  state.notes = [];
  const { ffprobe } = locateTools({});
  const curl = which('curl') as string;
  ctx.log(
    `ustream: making the ${FIXTURE_SEC} s clip and its ${CHUNK_SEC} s FLV chunks (seconds, cached after)`,
  );
  const fx = await ustreamFixture({
    seconds: FIXTURE_SEC,
    size: '640x360',
    chunkMs: CHUNK_SEC * 1000,
    bitrate: '900k',
    mp4: false,
  });
  const sizes = fx.flv.map((c) => c.length);
  state.sizes = sizes;
  state.bytes = Array.from({ length: CHUNKS }, (_, n) => sizes[n % sizes.length] as number).reduce(
    (a, b) => a + b,
    0,
  );
  const emu = await startUstreamEmulator({
    fixture: fx,
    videos: [{ id: VIDEO, chunks: CHUNKS, formats: ['flv'], title: 'bench' }],
    loop: true,
    cdnBytesPerSec: RATE,
    unref: true,
  });
  state.emu = emu;
  process.on('exit', () => void emu.close());
  ctx.log(
    `ustream: emulator at ${emu.siteUrl}: ${CHUNKS} chunks of ${CHUNK_SEC} s (${fx.flv.length} distinct, looped), ` +
      `${mb(state.bytes)}, CDN capped at ${mbps(RATE)} a connection`,
  );

  // The cap, as a client sees it: one connection, then four at once (each capped on its own).
  const hashes = emu.hashes(VIDEO);
  const url = (n: number): string => {
    const key = String(Math.floor(n / 10) * 10);
    return `${emu.siteUrl}/cdn/sjc01/rec/${VIDEO}/plain/uhs/2/1/chunk_${n}_${hashes[key] ?? ''}.flv`;
  };
  const one = await timedGet(url(1));
  const four = await Promise.all([2, 3, 4, 5].map((n) => timedGet(url(n))));
  const rate1 = one.bytes / (one.ms / 1000);
  const rate4 = four.reduce((s, r) => s + r.bytes, 0) / (Math.max(...four.map((r) => r.ms)) / 1000);
  const check =
    `ustream: CDN cap: 1 connection ${mbps(rate1)}, 4 at once ${mbps(rate4)} in all ` +
    `(cap ${mbps(RATE)} a connection)`;
  ctx.log(check);
  state.notes.push(check);
  if (rate1 > RATE * 1.15) throw new Error(`the CDN does not cap a connection: ${check}`);
  if (rate4 < 3 * Math.min(rate1, RATE)) throw new Error(`the cap is shared, not per connection: ${check}`);

  const scratch = mkdtempSync(join(tmpdir(), 'castkit-bench-ustream-'));
  process.on('exit', () => rmSync(scratch, { recursive: true, force: true }));
  const viaCli = cliHasUstream(ctx);
  const how = viaCli ? 'the CLI' : 'the library (the CLI has no --ums-url yet)';
  ctx.log(`ustream: castkit runs through ${how}`);
  state.notes.push(`ustream: castkit ran through ${how}; curl with --parallel-max as castkit's -N`);
  const frames = CHUNKS * CHUNK_SEC * FPS;
  let mark = emu.requests.length;

  /** One case: castkit with -N n (its default when undefined) and curl with as many transfers at once. */
  const makeCase = (n: number | undefined): BenchCase => {
    const conc = n ?? CONNECTIONS;
    const name = `${CHUNKS}-chunks-N${conc}${n === undefined ? '-default' : ''}`;
    const castkitDir = join(scratch, name, 'castkit');
    const curlDir = join(scratch, name, 'curl');
    const out = join(castkitDir, 'out.mp4');
    const castkit: Argv = viaCli
      ? [
          ...ctx.castkit,
          'record',
          emu.pageUrl,
          '--source',
          'ustream',
          '--ums-url',
          emu.umsUrl,
          '--video',
          VIDEO,
          ...(n !== undefined ? ['-N', String(n)] : []),
          '-o',
          out,
          '-q',
        ]
      : [
          ctx.node,
          '--input-type=module',
          '-e',
          'const [mod, page, output, umsUrl, video, n] = process.argv.slice(1);' +
            'const { recordUstream } = await import(mod);' +
            'await recordUstream(page, { output, umsUrl, video, ...(n ? { concurrency: Number(n) } : {}) });',
          join(dirname(dirname(ctx.castkitMain)), 'api', 'record-ustream.js'),
          emu.pageUrl,
          out,
          emu.umsUrl,
          VIDEO,
          ...(n !== undefined ? [String(n)] : []),
        ];
    // curl: the same chunk URLs, as many at once, each chunk to its own file.
    const config = join(scratch, `${name}.curl.cfg`);
    const lines: string[] = [];
    for (let k = 0; k < CHUNKS; k++)
      lines.push(`url = "${url(k)}"`, `output = "${join(curlDir, `${k}.flv`)}"`);
    writeFileSync(config, lines.join('\n') + '\n');
    const peer: Argv = [
      curl,
      '--parallel',
      '--parallel-immediate',
      '--parallel-max',
      String(conc),
      '--fail',
      '-sS',
      '-K',
      config,
    ];
    return {
      name,
      castkit: inFreshDir(castkitDir, castkit),
      peer: { name: 'curl', argv: inFreshDir(curlDir, peer) },
      validate: (_stdout, tool) => {
        const seen = chunksFetched(emu, mark);
        mark = emu.requests.length;
        if (seen.size !== CHUNKS) return `${tool} fetched ${seen.size} of ${CHUNKS} chunks`;
        if (tool === 'curl') {
          const files = readdirSync(curlDir).filter((f) => f.endsWith('.flv'));
          return files.length === CHUNKS ? undefined : `curl wrote ${files.length} files`;
        }
        if (!existsSync(out)) return `${out} is missing`;
        const args = ['-v', 'error', '-select_streams', 'v:0', '-count_packets'];
        args.push('-show_entries', 'stream=nb_read_packets:format=duration', '-of', 'json', out);
        const probe = JSON.parse(
          execFileSync(ffprobe.path, args, { encoding: 'utf8', maxBuffer: 64 << 20 }),
        ) as { streams?: { nb_read_packets?: string }[]; format?: { duration?: string } };
        const got = Number(probe.streams?.[0]?.nb_read_packets);
        const duration = Number(probe.format?.duration);
        if (got !== frames) return `${out} has ${got} video frames, want ${frames}`;
        if (!(Math.abs(duration - CHUNKS * CHUNK_SEC) <= 1))
          return `${out} lasts ${duration} s, want ${CHUNKS * CHUNK_SEC}`;
        ctx.log(
          `ustream/${name}: castkit wrote ${mb(statSync(out).size)}, ${duration.toFixed(1)} s, ${got} frames: ok`,
        );
        return undefined;
      },
    };
  };
  return [makeCase(undefined), makeCase(16)];
}

export const ustreamSuite: Suite = {
  name: 'ustream',
  description: `castkit record of a ${CHUNKS}-chunk ustream video from the emulator, CDN capped at 4 MiB/s a connection, vs curl --parallel on the same chunks`,
  defaultRuns: 3,
  defaultWarmup: 0,
  requires: () => [ffmpegTools(), onPath('curl', 'curl')],
  prepare,
  summarize: (results: CaseResult[]) => {
    const lines = [...state.notes];
    const pct = (x: number): string => `${(x * 100).toFixed(1)}%`;
    const allCastkit = state.emu ? phasesOf(state.emu, /^castkit/) : [];
    const allCurl = state.emu ? phasesOf(state.emu, /^curl/) : [];
    let at = 0;
    for (const r of results) {
      // This case's runs in the log: a check run, the warm-up runs, then the measured ones.
      const per = 1 + r.warmup + r.runs;
      const castkit = allCastkit.slice(at + 1 + r.warmup, at + per);
      const curl = allCurl.slice(at + 1 + r.warmup, at + per);
      at += per;
      const conns = median(castkit.map((p) => p.connections)) ?? CONNECTIONS;
      const ceiling = conns * RATE;
      const download = median(castkit.map((p) => p.bytes / (p.ms / 1000)));
      if (download !== undefined) {
        const share = download / ceiling;
        lines.push(
          `ustream/${r.case}: castkit download ${mbps(download)} over ${conns} connections (median of ${castkit.length} runs, ` +
            `first chunk request to last chunk sent) = ${pct(share)} of ${conns} x ${mbps(RATE)} (${mbps(ceiling)}), ` +
            `target >= ${pct(USTREAM_TARGET)}: ${share >= USTREAM_TARGET ? 'PASS' : 'FAIL'}`,
        );
      }
      const whole = state.bytes / (r.castkit.medianMs / 1000);
      lines.push(
        `ustream/${r.case}: castkit whole run ${mbps(whole)} (${mb(state.bytes)} in ${(r.castkit.medianMs / 1000).toFixed(2)} s, ` +
          `process start to exit: page, registration, UMS session, the chunks, the moov, the journal removed) = ` +
          `${pct(whole / ceiling)} of ${conns} x ${mbps(RATE)}`,
      );
      const curlConns = median(curl.map((p) => p.connections)) ?? CONNECTIONS;
      const curlDownload = median(curl.map((p) => p.bytes / (p.ms / 1000)));
      const curlWhole = state.bytes / (r.peer.medianMs / 1000);
      lines.push(
        `ustream/${r.case}: curl download ${curlDownload !== undefined ? mbps(curlDownload) : 'n/a'} over ${curlConns} connections = ` +
          `${curlDownload !== undefined ? pct(curlDownload / (curlConns * RATE)) : 'n/a'}; whole run ${mbps(curlWhole)} ` +
          `(the plain transfer: no session, no join, no output)`,
      );
    }
    void state.emu?.close();
    return lines;
  },
};
