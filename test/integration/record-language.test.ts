import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { record } from '../../src/api/record.js';
import { startOrigin, type Origin } from '../helpers/http-origin.js';
import { serveFixture } from '../helpers/live-origin.js';
import { decodeMessages, trackLanguages } from '../helpers/media-check.js';
import { scratchDir } from '../helpers/scratch.js';
import { streamFixture } from '../helpers/stream-fixtures.js';

const dir = scratchDir('castkit-record-lang-');
let n = 0;
const outPath = (ext: string): string => join(dir, `rec-${n++}${ext}`);

/** "video:und audio:deu", from what ffprobe reads in the file. */
async function shown(path: string): Promise<string> {
  return (await trackLanguages(path)).map((t) => `${t.type}:${t.language}`).join(' ');
}

describe('record: languages from the manifest', () => {
  let origin: Origin;
  before(async () => {
    origin = await startOrigin();
  });
  after(async () => origin.close());

  // The German rendition's TS segments say "ger" in their PMT; the playlist says LANGUAGE="de".
  for (const [ext, format] of [
    ['.mp4', undefined],
    ['.ts', undefined],
    ['.mp4', 'fmp4'],
  ] as const) {
    it(`HLS EXT-X-MEDIA LANGUAGE of the chosen audio rendition (${format ?? ext})`, async () => {
      const fx = await streamFixture('hls-alt-audio');
      const url = serveFixture(origin, fx, `/alt-${format ?? ext.slice(1)}`);
      const de = outPath(ext);
      const r = await record(url, { output: de, audioLang: 'de', ...(format ? { format } : {}) });
      assert.equal(await shown(de), `video:${ext === '.ts' ? '' : 'und'} audio:deu`);
      if (format === undefined) {
        assert.deepEqual(
          r.tracks.map((t) => t.language),
          [undefined, 'deu'],
          'the result names the language',
        );
      }
      const en = outPath(ext);
      await record(url, { output: en, ...(format ? { format } : {}) });
      assert.equal(await shown(en), `video:${ext === '.ts' ? '' : 'und'} audio:eng`);
    });
  }

  it('DASH AdaptationSet@lang and Representation@lang (the init segments say "und")', async () => {
    const fx = await streamFixture('dash-timeline');
    const url = serveFixture(origin, fx, '/dash-lang');
    for (const ext of ['.mp4', '.ts']) {
      const out = outPath(ext);
      await record(url, { output: out });
      assert.equal(await shown(out), `video:und audio:eng`, ext);
    }
    // The language on the Representation instead, as a BCP 47 tag with a region.
    const mpd = readFileSync(join(fx.dir, fx.entry), 'utf8');
    const moved = mpd
      .replace(/(<AdaptationSet[^>]*contentType="audio"[^>]*?) lang="eng"/, '$1')
      .replace(/(<Representation id="2")/, '$1 lang="pt-BR"');
    assert.notEqual(moved, mpd);
    assert.ok(!/lang="eng"/.test(moved));
    origin.route('/dash-lang/rep-lang.mpd', { body: moved, type: 'application/dash+xml' });
    const out = outPath('.mp4');
    await record(origin.url('/dash-lang/rep-lang.mpd'), { output: out });
    assert.equal(await shown(out), 'video:und audio:por');
  });

  // Segments of one muxed rendition passed through: the fMP4 init section's mdhd, or the TS's PMT (an
  // ISO_639_language_descriptor), says the language the manifest gives.
  for (const [name, passed] of [
    ['hls-fmp4', 'fmp4'],
    ['hls-ts', 'ts'],
  ] as const) {
    it(`HLS ${passed} passed through (--format ${passed}): a rendition without a URI names the audio in the variant`, async () => {
      const fx = await streamFixture(name);
      const url = serveFixture(origin, fx, `/${passed}-lang`);
      const lines = readFileSync(join(fx.dir, fx.entry), 'utf8').split('\n');
      const at = lines.findIndex(
        (l) => l.startsWith('#EXT-X-STREAM-INF') && l.includes('RESOLUTION=640x360'),
      );
      assert.ok(at >= 0);
      const master = [
        '#EXTM3U',
        '#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="a",LANGUAGE="pt-BR",NAME="Português",DEFAULT=YES,AUTOSELECT=YES',
        `${lines[at] as string},AUDIO="a"`,
        lines[at + 1] as string,
        '',
      ].join('\n');
      origin.route(`/${passed}-lang/with-lang.m3u8`, { body: master, type: 'application/vnd.apple.mpegurl' });
      const ext = passed === 'ts' ? '.ts' : '.mp4';
      const video = passed === 'ts' ? 'video:' : 'video:und';
      for (const [format, out] of [
        [passed, outPath(ext)],
        ['mp4', outPath('.mp4')],
      ] as const) {
        await record(origin.url(`/${passed}-lang/with-lang.m3u8`), { output: out, format });
        assert.equal(await shown(out), `${format === 'mp4' ? 'video:und' : video} audio:por`, format);
        assert.equal(await decodeMessages(out), '', `${format} decodes`);
      }
      // The manifest says nothing: the segments' own language ("eng", from the clip) stays.
      const out = outPath(ext);
      await record(url, { output: out, format: passed });
      assert.equal(await shown(out), `${video} audio:eng`, `${passed}, no LANGUAGE`);
    });
  }
});
