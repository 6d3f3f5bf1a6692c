import type { Command } from 'commander';
import type { DoctorResult } from '../../api/doctor.js';
import { FfmpegError } from '../../core/errors.js';
import type { CliContext } from '../context.js';
import { renderTable } from '../table.js';

const EXAMPLES = `
Examples:
  $ castkit doctor
  $ castkit doctor --json | jq .capabilities
  $ CASTKIT_FFMPEG=/opt/ffmpeg/bin/ffmpeg castkit doctor`;

export function registerDoctor(
  program: Command,
  run: (fn: (ctx: CliContext) => Promise<void>) => Promise<void>,
): void {
  program
    .command('doctor')
    .description('show which ffmpeg/ffprobe castkit uses, from where, and what they can do')
    .addHelpText('after', EXAMPLES)
    .action(() => run((ctx) => doctorCommand(ctx)));
}

function renderDoctor(r: DoctorResult, ctx: CliContext): string {
  const { style } = ctx;
  const lines: string[] = [];
  lines.push(`castkit ${r.castkit}  node ${r.node}  ${r.platform}`, '');
  const toolRows = [r.ffmpeg, r.ffprobe].map((t) =>
    t.found
      ? [style.green('ok'), t.name, t.version ?? '?', `${t.path ?? ''}`, `(from ${t.source ?? '?'})`]
      : [style.red('missing'), t.name, '', t.problem?.message ?? '', ''],
  );
  lines.push(renderTable(toolRows));
  for (const t of [r.ffmpeg, r.ffprobe]) {
    if (!t.found && t.problem?.hint) lines.push(`  hint: ${t.problem.hint}`);
  }
  lines.push('', style.bold('capabilities'));
  lines.push(
    renderTable(
      r.capabilities.map((c) => [
        c.available ? style.green('yes') : style.yellow('no'),
        c.name,
        c.kind,
        c.usedFor,
      ]),
      '  ',
    ),
  );
  if (r.checks.length > 0) {
    lines.push('', style.bold('self-checks'));
    for (const c of r.checks) {
      lines.push(
        `  ${c.ok ? style.green('ok') : style.red('FAILED')}  ${c.name}${c.detail ? `: ${c.detail}` : ''}`,
      );
      if (!c.ok && c.hint) lines.push(`      hint: ${c.hint}`);
    }
  }
  const missing = r.capabilities.filter((c) => !c.available);
  if (missing.length > 0 && r.ffmpeg.found) {
    lines.push('', 'missing:');
    for (const c of missing) lines.push(`  ${c.name}: ${c.hint}`);
  }
  return lines.join('\n');
}

async function doctorCommand(ctx: CliContext): Promise<void> {
  // Commands load their implementation when they run, so that `castkit --help` and the others start fast.
  const { doctor } = await import('../../api/doctor.js');
  const result = await doctor(ctx.locate);
  ctx.out(ctx.json ? JSON.stringify(result, null, 2) : renderDoctor(result, ctx));
  if (!result.ok) {
    const failed = result.checks.find((c) => !c.ok);
    if (result.ffmpeg.found && result.ffprobe.found && failed) {
      throw new FfmpegError(`self-check failed: ${failed.name}`, {
        code: 'E_FFMPEG_CHECK',
        hint: failed.hint,
      });
    }
    const broken = !result.ffmpeg.found ? result.ffmpeg : result.ffprobe;
    throw new FfmpegError(broken.problem?.message ?? `${broken.name} is not usable`, {
      code: broken.problem?.code ?? 'E_FFMPEG_NOT_FOUND',
      hint: broken.problem?.hint,
    });
  }
}
