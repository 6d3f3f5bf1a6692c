import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { fileReadBuffer, READ_SKEW } from '../../src/core/bytes.js';
import { CastkitError, FfmpegError, InputError, NetworkError, UsageError } from '../../src/core/errors.js';
import { createLogger } from '../../src/core/logger.js';
import { MpegtsDemuxer } from '../../src/formats/mpegts/mpegts-demuxer.js';
import { formatCommand, redact } from '../../src/core/redact.js';
import { formatClock, parseClock, parseDuration, parseRational, roundTo } from '../../src/core/time.js';
import { formatBitRate, formatBytes } from '../../src/core/units.js';
import { exitCodeFor } from '../../src/cli/exit-codes.js';

describe('errors', () => {
  it('carry a stable code, category, retryable flag and hint', () => {
    const e = new NetworkError('cannot fetch http://127.0.0.1/x', {
      code: 'E_NETWORK',
      hint: 'check the URL',
    });
    assert.ok(e instanceof CastkitError);
    assert.equal(e.code, 'E_NETWORK');
    assert.equal(e.category, 'network');
    assert.equal(e.retryable, true);
    assert.equal(e.name, 'NetworkError');
    assert.deepEqual(e.toJSON(), {
      code: 'E_NETWORK',
      category: 'network',
      message: 'cannot fetch http://127.0.0.1/x',
      hint: 'check the URL',
    });
    assert.equal(new InputError('x', { code: 'E_X' }).retryable, false);
  });

  it('map to the exit codes of DESIGN.md', () => {
    assert.equal(exitCodeFor(new UsageError('u').category), 2);
    assert.equal(exitCodeFor(new InputError('i', { code: 'E' }).category), 3);
    assert.equal(exitCodeFor(new NetworkError('n', { code: 'E' }).category), 4);
    assert.equal(exitCodeFor(new FfmpegError('f', { code: 'E' }).category), 5);
    assert.equal(exitCodeFor('output'), 6);
    assert.equal(exitCodeFor('interrupted'), 130);
    assert.equal(exitCodeFor('internal'), 1);
  });
});

describe('redact', () => {
  it('masks registered secrets and URL credentials', () => {
    const key = 'live_123456_abcdef';
    assert.equal(redact(`rtmp://a.example/app/${key}`, [key]), 'rtmp://a.example/app/****');
    assert.equal(redact('https://user:hunter2@host/x', []), 'https://user:****@host/x');
    assert.equal(redact('ab', ['ab']), 'ab', 'secrets shorter than 3 chars are not masked everywhere');
  });

  it('formats commands with shell quoting and no secrets', () => {
    assert.equal(
      formatCommand('ffmpeg', ['-i', 'my file.mp4', '-f', 'flv', 'rtmp://h/app/SECRETKEY'], ['SECRETKEY']),
      "ffmpeg -i 'my file.mp4' -f flv rtmp://h/app/****",
    );
    assert.equal(formatCommand('x', ["it's"]), `x 'it'\\''s'`);
  });

  it('reaches the logger output', () => {
    const lines: string[] = [];
    const log = createLogger({ level: 'verbose', write: (l) => lines.push(l) });
    log.addSecret('s3cr3t-key');
    log.debug('key is s3cr3t-key');
    log.info('plain');
    assert.deepEqual(lines, ['debug: key is ****', 'plain']);
    const quiet: string[] = [];
    const q = createLogger({ level: 'quiet', write: (l) => quiet.push(l) });
    q.info('hidden');
    q.warn('hidden');
    q.error('shown');
    assert.deepEqual(quiet, ['error: shown']);
  });
});

describe('time and units', () => {
  it('parses rationals', () => {
    assert.equal(parseRational('30000/1001')?.toFixed(5), '29.97003');
    assert.equal(parseRational('25/1'), 25);
    assert.equal(parseRational('0/0'), undefined);
    assert.equal(parseRational('abc'), undefined);
    assert.equal(parseRational(undefined), undefined);
  });
  it('parses and formats clocks', () => {
    assert.equal(parseClock('01:02:03.500000'), 3723.5);
    assert.equal(parseClock('00:00:05.000000000'), 5);
    assert.equal(parseClock('nope'), undefined);
  });

  it('parseDuration takes seconds, m:ss and h:mm:ss, as --duration documents', () => {
    assert.equal(parseDuration('90'), 90);
    assert.equal(parseDuration(' 1.5 '), 1.5);
    assert.equal(parseDuration('1:30'), 90);
    assert.equal(parseDuration('30:00'), 1800);
    assert.equal(parseDuration('90:00'), 5400, 'minutes alone may pass 59');
    assert.equal(parseDuration('1:00:00'), 3600);
    assert.equal(parseDuration('0:01:30.5'), 90.5);
    for (const bad of ['', '1:60', '1:61:00', 'ten', '-5', '1:2:3:4', ':30', '1:']) {
      assert.equal(parseDuration(bad), undefined, bad);
    }
    assert.equal(formatClock(3723.5), '1:02:03.500');
    assert.equal(formatClock(0.0004), '0:00:00.000');
    assert.equal(roundTo(29.97002997, 3), 29.97);
  });
  it('formats sizes and rates', () => {
    assert.equal(formatBytes(999), '999 B');
    assert.equal(formatBytes(1_234_567), '1.2 MB');
    assert.equal(formatBitRate(371_732), '372 kb/s');
    assert.equal(formatBitRate(2_500_000), '2.50 Mb/s');
  });
});

describe('fileReadBuffer', () => {
  it('starts off the page boundary its memory starts on, where the readers put file data', () => {
    const b = fileReadBuffer(1 << 20);
    assert.equal(b.length, 1 << 20);
    assert.equal(b.byteOffset, READ_SKEW);
    assert.notEqual(b.byteOffset % 4096, 0);
    // The readers that fill such memory from files hand it out: the MPEG-TS demuxer's input slots.
    const d = new MpegtsDemuxer();
    for (let i = 0; i < 2; i++)
      assert.notEqual((d.inputBuffer?.(512 << 10) as Uint8Array).byteOffset % 4096, 0);
  });
});
