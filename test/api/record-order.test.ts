import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
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

it('cutAt: the items from the given one on are forgotten (a torn line, a bad line and non-ASCII keys before it too); add() goes on after', async () => {
  const sub = join(dir, 'cut');
  mkdirSync(sub);
  const item = (key: string): string =>
    JSON.stringify({ key, stream: 'main', kind: 'media', duration: 2 }) + '\n';
  // A line that is not an item, and keys whose UTF-8 is longer than their UTF-16.
  writeFileSync(
    join(sub, 'order.jsonl'),
    item('été:0') + 'not json\n' + item('ünï:1') + item('c:2') + item('d:3') + '{"key":"torn',
  );
  const log = CommitLog.in(sub);
  const items = await log.read();
  assert.deepEqual(
    items.map((i) => i.key),
    ['été:0', 'ünï:1', 'c:2', 'd:3'],
  );
  await log.cutAt(2);
  await log.add({ key: 'e:4', stream: 'main', kind: 'media', duration: 2 });
  await log.close();
  assert.equal(
    readFileSync(join(sub, 'order.jsonl'), 'utf8'),
    item('été:0') + 'not json\n' + item('ünï:1') + item('e:4'),
  );
  assert.deepEqual(
    (await CommitLog.in(sub).read()).map((i) => i.key),
    ['été:0', 'ünï:1', 'e:4'],
  );
  // Past the end: nothing to cut.
  const again = CommitLog.in(sub);
  await again.read();
  await again.cutAt(3);
  assert.equal((await CommitLog.in(sub).read()).length, 3);
});
