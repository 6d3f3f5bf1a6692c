import { inspectToolchain, type ToolchainReport } from '../ffmpeg/doctor.js';
import type { LocateOptions } from '../ffmpeg/locate.js';
import { castkitVersion } from '../version.js';

export type { Capability } from '../ffmpeg/capabilities.js';
export type { SelfCheck, ToolReport } from '../ffmpeg/doctor.js';

export type DoctorOptions = LocateOptions;

export interface DoctorResult extends ToolchainReport {
  castkit: string;
  node: string;
  platform: string;
  /** ffmpeg and ffprobe were both found, run, and passed the self-checks. */
  ok: boolean;
}

/** What this machine can do: which ffmpeg/ffprobe castkit uses, from where, and their capabilities. */
export async function doctor(options: DoctorOptions = {}): Promise<DoctorResult> {
  const report = await inspectToolchain(options);
  return {
    castkit: castkitVersion(),
    node: process.version,
    platform: `${process.platform}-${process.arch}`,
    ...report,
    ok: report.ffmpeg.found && report.ffprobe.found && report.checks.every((c) => c.ok),
  };
}
