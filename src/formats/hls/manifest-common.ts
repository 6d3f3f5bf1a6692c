/**
 * Helpers both manifest parsers use (HLS here, DASH in ../dash/): URI resolution with scheme reporting,
 * limits, ISO 8601 date-times, and the quality and language rules behind pickVariant/pickRepresentation and
 * pickAudio. They live in hls/ only because the DASH parser imports from here rather than the reverse.
 */
import { FormatError, UsageError } from '../../core/errors.js';
import type { ManifestLimits, Quality, UnsafeUri } from './hls-types.js';

export const DEFAULT_MANIFEST_LIMITS: Required<ManifestLimits> = {
  maxChars: 64 * 1024 * 1024,
  maxLineLength: 64 * 1024,
  maxSegments: 1_000_000,
  maxVariants: 1000,
};

export function limitsOf(options: ManifestLimits | undefined): Required<ManifestLimits> {
  return {
    maxChars: options?.maxChars ?? DEFAULT_MANIFEST_LIMITS.maxChars,
    maxLineLength: options?.maxLineLength ?? DEFAULT_MANIFEST_LIMITS.maxLineLength,
    maxSegments: options?.maxSegments ?? DEFAULT_MANIFEST_LIMITS.maxSegments,
    maxVariants: options?.maxVariants ?? DEFAULT_MANIFEST_LIMITS.maxVariants,
  };
}

/** The manifest's own URL must be absolute: every relative URI in it is resolved against it. */
export function requireAbsoluteUrl(url: string, what: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new UsageError(`${what} URL "${url}" is not an absolute URL`, {
      code: 'E_MANIFEST_URL',
      hint: 'pass the URL the manifest was loaded from (after redirects), e.g. https://host/path/index.m3u8',
    });
  }
  return parsed.href;
}

/** True for http: and https: URLs: the only schemes a remote manifest may send the loader to. */
export function isHttpUrl(uri: string): boolean {
  return uri.startsWith('http://') || uri.startsWith('https://');
}

/**
 * Resolves manifest URIs (RFC 3986 5.2 via WHATWG URL) and records those whose scheme is not http(s), so
 * the loader can refuse them without every caller re-checking.
 */
export class UriResolver {
  readonly unsafe: UnsafeUri[] = [];
  private readonly seen = new Set<string>();

  constructor(private readonly errorCode: string) {}

  resolve(ref: string, base: string, where: string): string {
    let url: URL;
    try {
      url = new URL(ref, base);
    } catch {
      throw new FormatError(`${where}: "${clip(ref)}" is not a valid URI`, {
        code: this.errorCode,
        offset: 0,
      });
    }
    const href = url.href;
    if (url.protocol !== 'http:' && url.protocol !== 'https:' && !this.seen.has(href)) {
      this.seen.add(href);
      this.unsafe.push({ uri: href, scheme: url.protocol, where });
    }
    return href;
  }
}

/** Shorten text for an error message. */
export function clip(text: string, max = 80): string {
  return text.length <= max ? text : `${text.slice(0, max)}...`;
}

const DATE_TIME = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(\.\d+)?(Z|[+-]\d{2}:?\d{2})?$/;

/**
 * ISO 8601 / xs:dateTime to ms since the epoch. A missing time zone is read as UTC (DASH-IF IOP 4.7.1; for
 * HLS the RFC requires a zone), so the result never depends on the machine's time zone. Undefined for
 * anything else.
 */
export function parseIsoDateTime(text: string): number | undefined {
  const m = DATE_TIME.exec(text.trim());
  if (!m) return undefined;
  const [y, mo, d, h, mi, s] = [m[1], m[2], m[3], m[4], m[5], m[6]].map(Number) as [
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 24 || mi > 59 || s > 60) return undefined;
  const frac = m[7] ? Number(m[7]) * 1000 : 0;
  let ms = Date.UTC(y, mo - 1, d, h, mi, s) + frac;
  const zone = m[8];
  if (zone && zone !== 'Z') {
    const sign = zone.startsWith('-') ? -1 : 1;
    const digits = zone.slice(1).replace(':', '');
    ms -= sign * (Number(digits.slice(0, 2)) * 60 + Number(digits.slice(2))) * 60_000;
  }
  return Number.isFinite(ms) ? ms : undefined;
}

// ---------------------------------------------------------------------------------------------------------
// Selection

/** What quality selection needs to know about a variant or representation. */
export interface QualityCandidate {
  bandwidth: number;
  width?: number;
  height?: number;
}

function pixels(c: QualityCandidate): number {
  return (c.width ?? 0) * (c.height ?? 0);
}

/** Higher bandwidth first, then more pixels. */
function better(a: QualityCandidate, b: QualityCandidate): number {
  return b.bandwidth - a.bandwidth || pixels(b) - pixels(a);
}

function describeAll(items: readonly QualityCandidate[]): string {
  return items
    .map((c) => `${c.height !== undefined ? `${c.height}p ` : ''}${Math.round(c.bandwidth / 1000)} kb/s`)
    .join(', ');
}

/**
 * The candidate a quality request names:
 * - 'best': highest bandwidth, then most pixels; 'worst': the opposite;
 * - '720p': the candidate of that height, else the closest height below, else the closest above (the
 *   highest bandwidth among those of the chosen height);
 * - a number: the highest bandwidth not above it, else the lowest bandwidth.
 */
export function pickByQuality<T extends QualityCandidate>(
  items: readonly T[],
  quality: Quality,
  what: string,
): T {
  if (items.length === 0) {
    throw new UsageError(`no ${what} to choose from`, { code: 'E_NO_VARIANT' });
  }
  const sorted = [...items].sort(better);
  const first = sorted[0] as T;
  if (quality === 'best') return first;
  if (quality === 'worst') return sorted[sorted.length - 1] as T;
  if (typeof quality === 'number') {
    if (!Number.isFinite(quality) || quality <= 0) {
      throw new UsageError(`quality ${quality}: a bandwidth must be a positive number of bits/s`, {
        code: 'E_QUALITY',
      });
    }
    return sorted.find((c) => c.bandwidth <= quality) ?? (sorted[sorted.length - 1] as T);
  }
  const m = /^(\d+)p$/i.exec(String(quality));
  if (!m) {
    throw new UsageError(`unknown quality "${String(quality)}"`, {
      code: 'E_QUALITY',
      hint: 'use best, worst, a height such as 720p, or a bandwidth in bits/s',
    });
  }
  const want = Number(m[1]);
  const sized = sorted.filter((c) => c.height !== undefined);
  if (sized.length === 0) {
    throw new UsageError(`cannot choose ${what} by height: none declares a resolution`, {
      code: 'E_QUALITY',
      hint: `use best, worst or a bandwidth; available: ${describeAll(sorted)}`,
    });
  }
  const exact = sized.find((c) => c.height === want);
  if (exact) return exact;
  let below: T | undefined;
  let above: T | undefined;
  for (const c of sized) {
    const h = c.height as number;
    // `sized` is sorted best first, so the first candidate seen at a height is the best one of that height.
    if (h < want && (below === undefined || h > (below.height as number))) below = c;
    if (h > want && (above === undefined || h < (above.height as number))) above = c;
  }
  return (below ?? above) as T;
}

/** ISO 639-1 to 639-2 (T and B) for the common languages, so that "en" finds "eng" and "fr" finds "fre". */
const LANGUAGE_ALIASES: readonly string[][] = [
  ['en', 'eng'],
  ['fr', 'fra', 'fre'],
  ['de', 'deu', 'ger'],
  ['es', 'spa'],
  ['it', 'ita'],
  ['pt', 'por'],
  ['nl', 'nld', 'dut'],
  ['sv', 'swe'],
  ['da', 'dan'],
  ['no', 'nor', 'nb', 'nob'],
  ['fi', 'fin'],
  ['pl', 'pol'],
  ['cs', 'ces', 'cze'],
  ['hu', 'hun'],
  ['ro', 'ron', 'rum'],
  ['el', 'ell', 'gre'],
  ['tr', 'tur'],
  ['ru', 'rus'],
  ['uk', 'ukr'],
  ['ar', 'ara'],
  ['he', 'heb'],
  ['hi', 'hin'],
  ['ja', 'jpn'],
  ['ko', 'kor'],
  ['zh', 'zho', 'chi'],
  ['th', 'tha'],
  ['vi', 'vie'],
  ['id', 'ind'],
];
const ALIAS_GROUP = new Map<string, number>();
LANGUAGE_ALIASES.forEach((group, i) => group.forEach((code) => ALIAS_GROUP.set(code, i)));

/**
 * How well a declared language tag matches a wanted one: 3 exact (case-insensitive), 2 same primary
 * subtag ("en" and "en-US"), 1 the same language under another ISO 639 code ("en" and "eng"), 0 none.
 */
export function languageMatch(declared: string | undefined, wanted: string): number {
  if (declared === undefined) return 0;
  const a = declared.trim().toLowerCase();
  const b = wanted.trim().toLowerCase();
  if (a === '' || b === '') return 0;
  if (a === b) return 3;
  const pa = a.split(/[-_]/)[0] ?? a;
  const pb = b.split(/[-_]/)[0] ?? b;
  if (pa === pb) return 2;
  const ga = ALIAS_GROUP.get(pa);
  return ga !== undefined && ga === ALIAS_GROUP.get(pb) ? 1 : 0;
}

/** The highest-scoring items for a wanted language (all of equal best score), or [] when none matches. */
export function bestLanguageMatches<T>(
  items: readonly T[],
  languageOf: (item: T) => string | undefined,
  wanted: string,
): T[] {
  let best = 0;
  let out: T[] = [];
  for (const item of items) {
    const score = languageMatch(languageOf(item), wanted);
    if (score > best) {
      best = score;
      out = [item];
    } else if (score === best && score > 0) {
      out.push(item);
    }
  }
  return out;
}

/** "en, fr (Français), und" for an error message. */
export function listLanguages(names: readonly (string | undefined)[]): string {
  const uniq = [...new Set(names.map((n) => n ?? 'undeclared'))];
  return uniq.length > 0 ? uniq.join(', ') : 'none';
}
