/**
 * Run by run.test.ts as a separate process: starts a long ffmpeg job with forwardSignals, reports when
 * ffmpeg is producing progress, and prints how the job ended when the parent signals this process.
 */
import { runFfmpeg } from '../../src/ffmpeg/run.js';
import { isCastkitError } from '../../src/core/errors.js';
import { tools } from './fixtures.js';

let announced = false;
const started = Date.now();
try {
  await runFfmpeg({
    bin: tools().ffmpeg.path,
    args: ['-re', '-f', 'lavfi', '-i', 'testsrc2=size=160x120:rate=10:duration=60', '-f', 'null', '-'],
    forwardSignals: true,
    killGraceMs: 5000,
    onProgress: () => {
      if (!announced) {
        announced = true;
        process.stdout.write('started\n');
      }
    },
  });
  process.stdout.write(JSON.stringify({ result: 'finished' }) + '\n');
} catch (err) {
  process.stdout.write(
    JSON.stringify({
      result: 'error',
      code: isCastkitError(err) ? err.code : String(err),
      elapsedMs: Date.now() - started,
    }) + '\n',
  );
}
