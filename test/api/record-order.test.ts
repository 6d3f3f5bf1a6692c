import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { it } from 'node:test';
import { CommitLog, gapCodeOf, shortCodeOf } from '../../src/api/record-order.js';
import { scratchDir } from '../helpers/scratch.js';

const dir = scratchDir('castkit-order-');

it('gap codes: journaled ones read back; journals of earlier versions (no code) read as before', async () => {
  const lines = [
    // Written by earlier versions: no code on the gap nor on the short segment.
    { key: 'gap:v:3', stream: 'video', kind: 'gap', duration: 2 },
    {
      key: 'v:4',
      stream: 'video',
      kind: 'media',
      duration: 2,
      short: { seconds: 1, url: 'http://h/4.ts', reason: 'E_SEGMENT_SHORT: segment cut short' },
    },
    // Written now.
    { key: 'gap:v:5', stream: 'video', kind: 'gap', duration: 2, code: 'E_HTTP_STATUS' },
    {
      key: 'v:6',
      stream: 'video',
      kind: 'media',
      duration: 2,
      short: { seconds: 1, url: 'http://h/6.ts', code: 'E_SEGMENT_SHORT', reason: 'cut short' },
    },
  ];
  const sub = join(dir, 'a');
  mkdirSync(sub);
  writeFileSync(join(sub, 'order.jsonl'), lines.map((l) => JSON.stringify(l) + '\n').join(''));
  const [oldGap, oldShort, gap, short] = await CommitLog.in(sub).read();
  assert.ok(oldGap && oldShort?.short && gap && short?.short);
  assert.equal(gapCodeOf(oldGap), 'E_SEGMENT_MISSING');
  assert.equal(shortCodeOf(oldShort.short), 'E_SEGMENT_SHORT');
  assert.equal(gapCodeOf(gap), 'E_HTTP_STATUS');
  assert.equal(shortCodeOf(short.short), 'E_SEGMENT_SHORT');
});
