import { Option, type Command } from 'commander';
import type { ProbeResult, MediaStream } from '../../api/probe.js';
import { CastkitError, InputError, isCastkitError } from '../../core/errors.js';
import { formatClock } from '../../core/time.js';
import { formatBitRate, formatBytes } from '../../core/units.js';
import type { CliContext } from '../context.js';
import { renderTable } from '../table.js';

const FIELDS = ['frameRate', 'resolution', 'duration'] as const;
type Field = (typeof FIELDS)[number];

const EXAMPLES = `
Examples:
  $ castkit probe talk.mp4
  $ castkit probe https://example.com/live/master.m3u8
  $ castkit probe a.mp4 b.flv --json
  $ castkit probe talk.mp4 --field resolution      # 1280x720
  $ castkit probe talk.mp4 --field frameRate       # 29.97
JSON schema (numbers as numbers, seconds for durations, absent fields omitted):
  {"input","format":{"name","duration","size","bitRate"},
   "streams":[{"index","type","codec","profile","level","width","height","frameRate","pixelFormat",
               "sampleRate","channels","language","bitRate","duration"}]}
  One input prints an object, several print an array; an input that could not be probed is
  {"input","error":{"code","category","message","hint"}} there, and sets the exit code.`;

interface ProbeCliOptions {
  field?: Field;
}

export function registerProbe(
  program: Command,
  run: (fn: (ctx: CliContext) => Promise<void>) => Promise<void>,
): void {
  program
    .command('probe')
    .description('show container, duration, size, bit rate and streams of files or http(s) URLs')
    .argument('<input...>', 'media files or http(s) URLs')
    .addOption(new Option('--field <name>', 'print one value only').choices(FIELDS))
    .addHelpText('after', EXAMPLES)
    .action((inputs: string[], opts: ProbeCliOptions) => run((ctx) => probeCommand(inputs, opts, ctx)));
}

function streamLine(s: MediaStream): string[] {
  const codec = [s.codec, s.profile ? `(${s.profile})` : '', s.level ? `level ${s.level}` : '']
    .filter(Boolean)
    .join(' ');
  const detail: string[] = [];
  if (s.width && s.height) detail.push(`${s.width}x${s.height}`);
  if (s.frameRate) detail.push(`${s.frameRate} fps`);
  if (s.pixelFormat) detail.push(s.pixelFormat);
  if (s.sampleRate) detail.push(`${s.sampleRate} Hz`);
  if (s.channels) detail.push(`${s.channels} ch`);
  return [
    `#${s.index}`,
    s.type,
    codec,
    detail.join(', '),
    s.language ?? '',
    s.bitRate ? formatBitRate(s.bitRate) : '',
  ];
}

function render(info: ProbeResult, ctx: CliContext): string {
  const f = info.format;
  const head = [
    f.name,
    f.duration !== undefined ? formatClock(f.duration) : 'duration unknown',
    f.size !== undefined ? formatBytes(f.size) : '',
    f.bitRate !== undefined ? formatBitRate(f.bitRate) : '',
  ].filter(Boolean);
  return [
    ctx.style.bold(info.input),
    `  ${head.join(', ')}`,
    renderTable(info.streams.map(streamLine), '  '),
  ].join('\n');
}

/** The value PyLivestream's get_framerate / get_resolution gave, for scripts. */
function fieldValue(info: ProbeResult, field: Field): string {
  if (field === 'duration') {
    if (info.format.duration === undefined) {
      throw new InputError(`${info.input} has no known duration (a live stream?)`, { code: 'E_NO_DURATION' });
    }
    return String(info.format.duration);
  }
  const video = info.streams.find((s) => s.type === 'video' && s.width !== undefined);
  if (!video) {
    throw new InputError(`${info.input} has no video stream, so no ${field}`, {
      code: 'E_NO_VIDEO',
      hint: 'use --field duration for audio-only inputs',
    });
  }
  if (field === 'resolution') return `${video.width}x${video.height}`;
  if (video.frameRate === undefined) {
    throw new InputError(`${info.input}: the video stream has no frame rate`, { code: 'E_NO_FRAME_RATE' });
  }
  return String(video.frameRate);
}

async function probeCommand(inputs: string[], opts: ProbeCliOptions, ctx: CliContext): Promise<void> {
  const { probe } = await import('../../api/probe.js');
  const results: (ProbeResult | { input: string; error: Record<string, unknown> })[] = [];
  let firstFailure: CastkitError | undefined;
  let failures = 0;
  for (const input of inputs) {
    let info: ProbeResult;
    try {
      info = await probe(input, { ...ctx.locate, signal: ctx.signal, logger: ctx.logger });
      if (opts.field)
        ctx.out(
          inputs.length > 1 ? `${input}\t${fieldValue(info, opts.field)}` : fieldValue(info, opts.field),
        );
    } catch (err) {
      // One input: its error is the command's. Several: each is probed, and each failure said where it is
      // (in --json, as an entry of the array); the exit code is the first failure's.
      if (inputs.length === 1 || !isCastkitError(err) || err.category === 'interrupted') throw err;
      failures++;
      firstFailure ??= err;
      if (ctx.json) results.push({ input, error: err.toJSON() });
      else ctx.logger.error(`${err.message}${err.hint ? ` (${err.hint})` : ''}`);
      continue;
    }
    results.push(info);
    if (!opts.field && !ctx.json) ctx.out(render(info, ctx) + (input === inputs.at(-1) ? '' : '\n'));
  }
  if (ctx.json && !opts.field) {
    ctx.out(JSON.stringify(results.length === 1 ? results[0] : results, null, 2));
  }
  if (firstFailure) {
    throw new CastkitError(`${failures} of ${inputs.length} inputs could not be probed`, {
      code: firstFailure.code,
      category: firstFailure.category,
      details: { failed: failures },
    });
  }
}
