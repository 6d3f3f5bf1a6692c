/**
 * Language tags as manifests write them (RFC 5646 / BCP 47: "de", "pt-BR", sometimes ISO 639-2 "ger") turned
 * into what containers carry: the ISO 639-2/T code of an MP4 mdhd (ISO/IEC 14496-12 8.4.2.3) and of an
 * MPEG-TS ISO_639_language_descriptor (ISO/IEC 13818-1 2.6.18). The code tables are the iso-639-2 package's
 * (every ISO 639-1 code, and the bibliographic codes that differ from the terminologic ones).
 */
import { iso6392BTo1 } from 'iso-639-2/2b-to-1.js';
import { iso6392BTo2T } from 'iso-639-2/2b-to-2t.js';

let fromTwoLetters: Map<string, string> | undefined;

/** ISO 639-1 -> ISO 639-2/T, built from the package's B -> 1 and B -> T tables on first use. */
function twoLetterTable(): Map<string, string> {
  if (fromTwoLetters) return fromTwoLetters;
  fromTwoLetters = new Map();
  for (const [b, one] of Object.entries(iso6392BTo1)) fromTwoLetters.set(one, iso6392BTo2T[b] ?? b);
  return fromTwoLetters;
}

/**
 * The ISO 639-2/T code of a language tag: its primary subtag, two letters mapped ("de" and "de-AT" give
 * "deu", "pt-BR" gives "por"), three letters kept as they are except for the bibliographic codes, which
 * become the terminologic one ("ger" gives "deu"). Undefined for what is not a language this can name
 * (an empty tag, an unknown two-letter code, "i-klingon"): the caller keeps what it had then.
 */
export function iso639T(tag: string | undefined): string | undefined {
  const primary = tag?.trim().toLowerCase().split(/[-_]/)[0] ?? '';
  if (/^[a-z]{2}$/.test(primary)) return twoLetterTable().get(primary);
  if (/^[a-z]{3}$/.test(primary)) return iso6392BTo2T[primary] ?? primary;
  return undefined;
}
