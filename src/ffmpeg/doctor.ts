import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CastkitError } from '../core/errors.js';
import {
  evaluateCapabilities,
  parseDevices,
  parseEncoders,
  parseProtocols,
  parseVersion,
  type Capability,
} from './capabilities.js';
import { locateTool, type LocateOptions, type ToolLocation, type ToolName } from './locate.js';
import { runTool } from './run.js';

export interface ToolReport {
  name: ToolName;
  found: boolean;
  path?: string;
  source?: ToolLocation['source'];
  version?: string;
  /** Why it is unusable, and what to do. */
  problem?: { code: string; message: string; hint?: string };
}

/** A real round trip through the tools, for faults that version strings do not show. */
export interface SelfCheck {
  name: string;
  ok: boolean;
  detail?: string;
  hint?: string;
}

export interface ToolchainReport {
  ffmpeg: ToolReport;
  ffprobe: ToolReport;
  capabilities: Capability[];
  checks: SelfCheck[];
}

async function inspect(
  name: ToolName,
  options: LocateOptions,
  explicitFfmpeg?: ToolLocation,
): Promise<{ report: ToolReport; location?: ToolLocation }> {
  try {
    const location = locateTool(name, options, explicitFfmpeg);
    const { stdout } = await runTool({
      bin: location.path,
      args: ['-version'],
      captureStdout: 1 << 20,
      timeoutMs: 20_000,
    });
    const report: ToolReport = { name, found: true, path: location.path, source: location.source };
    const version = parseVersion(stdout);
    if (version !== undefined) report.version = version;
    return { report, location };
  } catch (err) {
    if (!(err instanceof CastkitError)) throw err;
    const problem: ToolReport['problem'] = { code: err.code, message: err.message };
    if (err.hint !== undefined) problem.hint = err.hint;
    return { report: { name, found: false, problem } };
  }
}

/** Which ffmpeg/ffprobe castkit would use, their versions and what they can do; never throws for a missing tool. */
export async function inspectToolchain(options: LocateOptions = {}): Promise<ToolchainReport> {
  const ff = await inspect('ffmpeg', options);
  const explicitFfmpeg =
    ff.location && (ff.location.source === 'flag' || ff.location.source === 'env') ? ff.location : undefined;
  const [probe, caps] = await Promise.all([
    inspect('ffprobe', options, explicitFfmpeg),
    ff.location ? capabilitiesOf(ff.location.path) : Promise.resolve(undefined),
  ]);
  const capabilities =
    caps ??
    evaluateCapabilities(
      new Set(),
      { input: new Set(), output: new Set() },
      { demux: new Set(), mux: new Set() },
    );
  const checks =
    ff.location && probe.location ? [await checkTransportStream(ff.location.path, probe.location.path)] : [];
  return { ffmpeg: ff.report, ffprobe: probe.report, capabilities, checks };
}

/**
 * Make a 0.2 s MPEG-TS with ffmpeg and read it back with ffprobe. The static ffprobe builds shipped in
 * @ffprobe-installer crash (SIGSEGV) on every MPEG-TS input; this finds that and any similar fault.
 */
async function checkTransportStream(ffmpeg: string, ffprobe: string): Promise<SelfCheck> {
  const name = 'ffprobe reads an MPEG-TS made by ffmpeg';
  const dir = await mkdtemp(join(tmpdir(), 'castkit-doctor-'));
  const ts = join(dir, 'check.ts');
  try {
    const lavfi = 'testsrc2=size=64x64:rate=10:duration=0.2';
    await runTool({
      bin: ffmpeg,
      args: ['-hide_banner', '-v', 'error', '-f', 'lavfi', '-i', lavfi, '-f', 'mpegts', ts],
      timeoutMs: 20_000,
    });
    await runTool({
      bin: ffprobe,
      args: ['-hide_banner', '-v', 'error', '-show_streams', '-of', 'json', ts],
      captureStdout: 1 << 20,
      timeoutMs: 20_000,
    });
    return { name, ok: true };
  } catch (err) {
    if (!(err instanceof CastkitError)) throw err;
    return {
      name,
      ok: false,
      detail: err.message,
      hint: 'install a system ffmpeg (Debian: apt-get install ffmpeg) or set CASTKIT_FFPROBE to a working ffprobe',
    };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

async function capabilitiesOf(ffmpeg: string): Promise<Capability[]> {
  const query = async (flag: string): Promise<string> =>
    (await runTool({ bin: ffmpeg, args: ['-hide_banner', flag], captureStdout: 4 << 20, timeoutMs: 20_000 }))
      .stdout;
  const [encoders, protocols, devices] = await Promise.all([
    query('-encoders'),
    query('-protocols'),
    query('-devices'),
  ]);
  return evaluateCapabilities(parseEncoders(encoders), parseProtocols(protocols), parseDevices(devices));
}
