import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { OutputError } from '../../src/core/errors.js';
import { journalPathFor } from '../../src/download/journal.js';
import { refuseFinishedOutput } from '../../src/api/record-existing.js';
import { scratchDir } from '../helpers/scratch.js';

const dir = scratchDir('castkit-record-existing-');

describe('refuseFinishedOutput', () => {
  it('refuses a file with no journal beside it, unless overwrite', () => {
    const done = join(dir, 'done.mp4');
    writeFileSync(done, 'a finished recording');
    assert.throws(
      () => refuseFinishedOutput(done, undefined),
      (e: unknown) => e instanceof OutputError && e.code === 'E_OUTPUT_EXISTS' && e.message.includes(done),
    );
    refuseFinishedOutput(done, true);
  });

  it('lets a recording with a journal resume, and new outputs, pipes and directories through', () => {
    const resumed = join(dir, 'resumed.mp4');
    writeFileSync(resumed, 'what Ctrl-C left');
    mkdirSync(journalPathFor(resumed));
    refuseFinishedOutput(resumed, undefined);
    refuseFinishedOutput(join(dir, 'new.mp4'), undefined);
    refuseFinishedOutput('-', undefined);
    const folder = join(dir, 'a-folder.mp4');
    mkdirSync(folder);
    refuseFinishedOutput(folder, undefined);
  });
});
