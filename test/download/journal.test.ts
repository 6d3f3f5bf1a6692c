import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { appendFileSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { CastkitError } from '../../src/core/errors.js';
import { SegmentJournal, journalPathFor } from '../../src/download/journal.js';
import { scratchDir } from '../helpers/scratch.js';

const root = scratchDir('castkit-journal-');
after(() => rmSync(root, { recursive: true, force: true }));
let n = 0;
const fresh = (): string => join(root, `j${n++}`);

describe('resume journal', () => {
  it('lives beside the output', () => {
    assert.equal(journalPathFor('/videos/show.mp4'), '/videos/show.mp4.castkit-journal');
  });

  it('keeps completed segments across reopening, written concurrently', async () => {
    const dir = fresh();
    const data = Array.from({ length: 20 }, (_, i) => randomBytes(1000 + i * 37));
    const j = await SegmentJournal.open(dir, { identity: 'http://a/x.m3u8' });
    await Promise.all(data.map((d, i) => j.put(`k${i}`, d)));
    await j.close();
    const k = await SegmentJournal.open(dir, { identity: 'http://a/x.m3u8' });
    assert.equal(k.size, 20);
    for (const [i, d] of data.entries()) {
      const back = await k.read(`k${i}`);
      assert.ok(back?.equals(d), `k${i}`);
      // Read into memory off a page boundary (the first segment sits at offset 0 of segments.bin).
      assert.notEqual((back?.byteOffset ?? 0) % 4096, 0);
    }
    await k.remove();
    assert.throws(() => statSync(dir), /ENOENT/);
  });

  it('takes segments as they arrive, several at once, in pieces; a dropped writer leaves nothing listed', async () => {
    const dir = fresh();
    const data = Array.from({ length: 8 }, (_, i) => randomBytes(50_000 + i * 1234));
    const j = await SegmentJournal.open(dir);
    const feed = async (key: string, d: Buffer, announce: boolean): Promise<void> => {
      const w = j.writer(key);
      w.start(announce ? d.length : undefined);
      for (let at = 0; at < d.length; at += 4096) {
        await w.chunk(d.subarray(at, at + 4096));
        await new Promise((r) => setImmediate(r));
      }
      await w.done();
      assert.equal(w.length, d.length);
    };
    const dropped = j.writer('dropped');
    dropped.start(10_000);
    await dropped.chunk(randomBytes(5000));
    await Promise.all(data.map((d, i) => feed(`s${i}`, d, i % 3 !== 0)));
    assert.equal(j.has('dropped'), false);
    const over = j.writer('over');
    over.start(10);
    await assert.rejects(over.chunk(randomBytes(11)), /longer than its announced length/);
    await j.close();
    const k = await SegmentJournal.open(dir);
    assert.equal(k.size, 8);
    for (const [i, d] of data.entries()) assert.ok((await k.read(`s${i}`))?.equals(d), `s${i} read back`);
    await k.close();
  });

  it('drops a torn last line and the bytes of segments that were in flight (kill -9)', async () => {
    const dir = fresh();
    const a = randomBytes(500);
    const b = randomBytes(700);
    const j = await SegmentJournal.open(dir);
    await j.put('a', a);
    await j.put('b', b);
    await j.close();
    // What a kill mid-append leaves: half a line, and bytes of a segment whose line was never written.
    appendFileSync(join(dir, 'journal.jsonl'), '{"k":"c","o":1200,"n":9');
    appendFileSync(join(dir, 'segments.bin'), randomBytes(300));
    const k = await SegmentJournal.open(dir);
    assert.deepEqual([...k.keys()], ['a', 'b']);
    assert.equal(statSync(join(dir, 'segments.bin')).size, 1200, 'cut back to the listed segments');
    assert.ok(readFileSync(join(dir, 'journal.jsonl'), 'utf8').endsWith('\n'), 'cut back to a whole line');
    const c = randomBytes(100);
    await k.put('c', c);
    await k.close();
    const m = await SegmentJournal.open(dir);
    assert.deepEqual([...m.keys()], ['a', 'b', 'c']);
    assert.ok((await m.read('a'))?.equals(a));
    assert.ok((await m.read('c'))?.equals(c));
    await m.close();
  });

  it('forgets a segment whose bytes no longer match their checksum', async () => {
    const dir = fresh();
    const j = await SegmentJournal.open(dir);
    await j.put('a', Buffer.alloc(100, 1));
    await j.put('b', Buffer.alloc(100, 2));
    await j.close();
    const bin = join(dir, 'segments.bin');
    const bytes = readFileSync(bin);
    bytes[150] = 9;
    writeFileSync(bin, bytes);
    const k = await SegmentJournal.open(dir);
    assert.ok(await k.read('a'));
    assert.equal(await k.read('b'), undefined);
    assert.equal(k.has('b'), false, 'so that it is fetched again');
    await k.close();
  });

  it('refuses a journal made for another download, and a second user at once', async () => {
    const dir = fresh();
    const j = await SegmentJournal.open(dir, { identity: 'one' });
    await assert.rejects(
      SegmentJournal.open(dir, { identity: 'one' }),
      (e: unknown) => e instanceof CastkitError && e.code === 'E_JOURNAL_LOCKED',
    );
    await j.close();
    await assert.rejects(
      SegmentJournal.open(dir, { identity: 'two' }),
      (e: unknown) => e instanceof CastkitError && e.code === 'E_JOURNAL_MISMATCH',
    );
    await (await SegmentJournal.open(dir, { identity: 'one' })).close();
    // A lock left by a dead process is taken over.
    writeFileSync(join(dir, 'lock'), '999999999');
    await (await SegmentJournal.open(dir, { identity: 'one' })).close();
  });
});
