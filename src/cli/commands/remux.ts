import { Option, type Command } from 'commander';
import type { RemuxFormat, RemuxResult } from '../../api/remux.js';
import { UsageError } from '../../core/errors.js';
import { formatClock } from '../../core/time.js';
import { formatBytes } from '../../core/units.js';
import type { CliContext } from '../context.js';
import { optimizeLater } from '../jit.js';
import { createProgressRenderer } from '../progress.js';

const EXAMPLES = `
Examples:
  $ castkit remux talk.flv -o talk.mp4                 # FLV -> MP4, no re-encoding
  $ castkit remux stream.ts -o stream.mp4              # MPEG-TS -> MP4
  $ castkit remux chunks/*.flv -o stream.flv           # join FLV chunks: one header, one onMetaData, fixed timestamps
  $ castkit remux chunks/*.flv -o stream.mp4           # join and convert in one go
  $ castkit remux intro.mp4 talk.ts -o full.mp4        # join: the talk's audio starts after a silent intro
  $ castkit remux seg1.m4s seg2.m4s -o out.mp4         # fragmented MP4 segments (init first) -> MP4
  $ castkit remux talk.mp4 -o talk-frag.mp4 --format fmp4
  $ castkit remux talk.mp4 -o talk.flv                 # MP4 (or TS, fMP4) -> FLV, with a keyframe index
  $ castkit remux talk.mp4 -o talk.ts                  # MP4 (or FLV, fMP4) -> MPEG-TS, for players and HLS tools
  $ castkit remux talk.mp4 -o talk.m4a                 # audio only
  $ castkit remux --merge video.mp4 audio.m4a -o av.mp4  # separate video and audio streams -> one file
Inputs are recognised from their bytes (FLV, MP4/fMP4, MPEG-TS); several inputs are joined in order:
each continues where the one before ended, and a track that only later inputs have starts where they do.
The output is written under a temporary name and renamed when complete.`;

interface RemuxCliOptions {
  output: string;
  format?: RemuxFormat;
  faststart: boolean;
  fragmentDuration?: string;
  merge?: boolean;
}

export function registerRemux(
  program: Command,
  run: (fn: (ctx: CliContext) => Promise<void>) => Promise<void>,
): void {
  program
    .command('remux')
    .description(
      'change containers without re-encoding (FLV, MP4, fMP4, MPEG-TS in; MP4, fMP4, FLV, MPEG-TS out)',
    )
    .argument('<input...>', 'input files, joined in order')
    .requiredOption('-o, --output <file>', 'output file; .mp4, .m4v, .mov, .m4a, .flv or .ts')
    .addOption(
      new Option('--format <format>', 'output format instead of the extension').choices([
        'mp4',
        'fmp4',
        'flv',
        'ts',
      ]),
    )
    .option('--no-faststart', 'put the moov after the media data (MP4)')
    .option('--fragment-duration <seconds>', 'fmp4: shortest fragment in seconds (default 1)')
    .option('--merge', 'put the inputs side by side (video-only + audio-only) instead of one after another')
    .addHelpText('after', EXAMPLES)
    .action((inputs: string[], opts: RemuxCliOptions) => run((ctx) => remuxCommand(inputs, opts, ctx)));
}

function render(r: RemuxResult): string {
  const lines = [
    `${r.output}: ${r.format}, ${formatClock(r.durationSec)}, ${formatBytes(r.bytesOut)} from ${r.inputs} input${r.inputs === 1 ? '' : 's'} (${formatBytes(r.bytesIn)})`,
  ];
  for (const t of r.tracks) {
    const what = [t.codecString ?? t.codec];
    if (t.width && t.height) what.push(`${t.width}x${t.height}`);
    if (t.sampleRate) what.push(`${t.sampleRate} Hz`);
    if (t.channels) what.push(`${t.channels} ch`);
    if (t.samples !== undefined) what.push(`${t.samples} samples`);
    lines.push(`  ${t.kind}  ${what.join(', ')}`);
  }
  if (r.join) {
    const j = r.join;
    lines.push(
      `  join: ${j.chunks} chunks, ${j.restarts} timestamp restarts and ${j.gapsClosed} gaps fixed, ${j.overlaps} overlaps, ` +
        `${j.dropped.duplicate} duplicate frames, ${j.dropped.sequenceHeader} repeated sequence headers, ${j.dropped.metadata} onMetaData, ${j.dropped.command} command frames dropped` +
        (j.invalid ? `, ${j.invalid} unreadable chunks skipped` : ''),
    );
  }
  return lines.join('\n');
}

async function remuxCommand(inputs: string[], opts: RemuxCliOptions, ctx: CliContext): Promise<void> {
  const progress = createProgressRenderer({
    write: (s) => process.stderr.write(s),
    interactive: ctx.interactive,
    json: false,
    quiet: ctx.quiet || ctx.json,
  });
  if (opts.output === '-') {
    // Without this, "-" would be taken as a file name in the current directory.
    throw new UsageError('remux writes a file: -o - (standard output) is not supported', {
      hint: 'name an output file, e.g. -o out.mp4 (castkit record can write to -o -)',
    });
  }
  let fragmentDuration: number | undefined;
  if (opts.fragmentDuration !== undefined) {
    fragmentDuration = Number(opts.fragmentDuration);
    if (!(fragmentDuration > 0)) {
      throw new UsageError(
        `--fragment-duration must be a positive number of seconds, not "${opts.fragmentDuration}"`,
      );
    }
  }
  const { remux, isFlvJoin, isShortPerSampleRemux } = await import('../../api/remux.js');
  let result: RemuxResult;
  const tuned = isShortPerSampleRemux(inputs, opts) || isFlvJoin(inputs, opts);
  const restoreJit = tuned ? optimizeLater() : undefined;
  try {
    result = await remux(inputs, {
      output: opts.output,
      format: opts.format,
      faststart: opts.faststart,
      fragmentDuration,
      merge: opts.merge === true,
      signal: ctx.signal,
      onProgress: (ev) => progress.update(ev),
    });
  } finally {
    restoreJit?.();
    progress.finish();
  }
  const shown = result.warnings.slice(0, 20);
  for (const w of shown)
    ctx.logger.warn(`${w.input}: ${w.message}${w.offset !== undefined ? ` (byte ${w.offset})` : ''}`);
  if (result.warnings.length > shown.length)
    ctx.logger.warn(`... and ${result.warnings.length - shown.length} more warnings (--json lists all)`);
  ctx.out(ctx.json ? JSON.stringify(result, null, 2) : render(result));
}
