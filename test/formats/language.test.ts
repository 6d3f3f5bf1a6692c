import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { iso639T } from '../../src/formats/language.js';

describe('iso639T', () => {
  const cases: [string, [string | undefined, string | undefined][]][] = [
    [
      'maps RFC 5646 tags to ISO 639-2/T codes by their primary subtag',
      [
        ['de', 'deu'],
        ['en', 'eng'],
        ['pt-BR', 'por'],
        ['zh-Hans-CN', 'zho'],
        ['es_419', 'spa'],
        [' FR ', 'fra'],
        ['sq', 'sqi'],
        ['yo', 'yor'],
      ],
    ],
    [
      'keeps three-letter codes, the bibliographic ones as their terminologic twin',
      [
        ['ger', 'deu'],
        ['fre', 'fra'],
        ['eng', 'eng'],
        ['und', 'und'],
        ['yue', 'yue'],
      ],
    ],
    [
      'names nothing for what is not a language code it knows',
      [
        [undefined, undefined],
        ['', undefined],
        ['xx', undefined],
        ['i-klingon', undefined],
        ['english', undefined],
      ],
    ],
  ];
  for (const [title, pairs] of cases) {
    it(title, () => {
      for (const [tag, code] of pairs) assert.equal(iso639T(tag), code, String(tag));
    });
  }
});
