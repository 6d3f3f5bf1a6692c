/** The shapes every benchmark suite shares. A suite is a module in bench/suites/ listed in suites/index.ts. */

/** A program to run: argv[0] is the executable, the rest its arguments (never a shell string). */
export type Argv = readonly [string, ...string[]];

/** Something a suite needs on this machine, and the Debian package `bench/setup` installs it from. */
export interface Requirement {
  /** What is needed, as the user knows it: `ffprobe`, `yt-dlp`. */
  name: string;
  /** Debian package that provides it. */
  debianPackage: string;
  /** Why it is not usable here, or undefined when it is. */
  problem(): string | undefined;
}

/** Where things are, handed to a suite's prepare step. */
export interface SuiteContext {
  /** Repository root. */
  root: string;
  /** The node binary running the bench; use it for castkit and node peers alike. */
  node: string;
  /** The command that runs castkit, as argv: bin/castkit, the command npm installs. */
  castkit: Argv;
  /** Absolute path of the built CLI, dist/cli/main.js (castkit's own modules are under dist/). */
  castkitMain: string;
  /** Progress output (stderr), so stdout stays clean for the table or --json. */
  log(message: string): void;
}

/**
 * One comparison: castkit and one peer doing the same job on the same input. Both must exit 0;
 * `validate`, if given, is run once on each program's stdout before the timed runs.
 */
export interface BenchCase {
  name: string;
  castkit: Argv;
  peer: { name: string; argv: Argv };
  /** Returns an error message when the output is wrong, undefined when it is fine. */
  validate?: (stdout: string, tool: string) => string | undefined;
  /**
   * Called before every run of either program, untimed: removes the outputs, so that each run writes a new
   * file, as a user usually does. Overwriting is not the same job for both sides: castkit writes a new file,
   * moves the old one aside, renames the new one in and deletes the old one (its pages are freed only at
   * the end), ffmpeg -y truncates the old one at open and reuses its memory at once.
   */
  reset?: () => void;
  /**
   * Called once before the case's check run, untimed: makes what the case needs and must not be made
   * earlier (the 2 GB inputs: writing them right before the small cases made castkit's runs on those
   * slower for a while; see the README).
   */
  setup?: () => void | Promise<void>;
  /** Measured and warm-up runs for this case instead of the suite's (a slow case); --runs/--warmup win. */
  runs?: number;
  warmup?: number;
}

export interface Suite {
  name: string;
  /** One line, for `--list` and the README. */
  description: string;
  /** Measured runs per program when `--runs` is not given (15 when absent). */
  defaultRuns?: number;
  /** Warm-up runs per program when `--warmup` is not given (3 when absent). */
  defaultWarmup?: number;
  /** Tools this suite needs; checked for every selected suite before anything runs. */
  requires: () => Requirement[];
  /** Make the inputs (cached fixtures) and return the cases. */
  prepare: (ctx: SuiteContext) => Promise<BenchCase[]>;
  /** Extra verdict lines printed under the table (for example a target time), from the results. */
  summarize?: (results: CaseResult[]) => string[];
}

/** Timings of one program in one case. */
export interface ToolResult {
  tool: string;
  role: 'castkit' | 'peer';
  argv: string[];
  /** Wall time of each measured run, in run order. */
  samplesMs: number[];
  /** Peak RSS of each measured run in MB, or undefined when GNU time is not available. */
  rssMb: number[] | undefined;
  medianMs: number;
  minMs: number;
  maxMs: number;
  /** Highest peak RSS over the measured runs, in MB. */
  peakRssMb: number | undefined;
  /**
   * User + system CPU time of each measured run in ms (all threads), or undefined when GNU time is not
   * available. Steadier than wall time on a busy machine, and it shows work done on other cores.
   */
  cpuMs: number[] | undefined;
  medianCpuMs: number | undefined;
}

export interface CaseResult {
  suite: string;
  case: string;
  runs: number;
  warmup: number;
  castkit: ToolResult;
  peer: ToolResult;
  /** castkit median / peer median. */
  ratio: number;
}
