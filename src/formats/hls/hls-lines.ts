/**
 * The guard in front of hls-parser: one pass over the playlist's lines (RFC 8216 4.1: UTF-8, lines end in
 * LF or CRLF) that
 * - bounds the input (characters, line length, segment and variant counts) before any parsing work;
 * - checks the syntax of every tag castkit relies on and names the line of a malformed one (hls-parser
 *   silently turns garbage into 0 and logs to the console, which is no way to report a hostile playlist);
 * - substitutes EXT-X-DEFINE variables (RFC 8216bis 4.3);
 * - keeps what hls-parser loses: the set of EXT-X-KEY tags in effect per KEYFORMAT, zone-safe
 *   EXT-X-PROGRAM-DATE-TIME, EXTINF titles, line numbers;
 * - writes the sanitized text hls-parser then parses: only tags castkit uses, EXTINF without its title (its
 *   title decoding throws on non-ASCII), no segment tags left dangling after the last URI.
 */
import { FormatError } from '../../core/errors.js';
import type { FormatWarning } from '../media.js';
import type { ByteRange } from './hls-types.js';
import { clip, parseIsoDateTime, type UriResolver } from './manifest-common.js';

/** A duration above this (about 31 years) is not a segment but an attack on arithmetic. */
export const MAX_SEGMENT_SECONDS = 1e9;

export interface KeyTag {
  method: string;
  /** Absolute URI (absent for NONE). */
  uri?: string;
  iv?: Uint8Array;
  keyFormat: string;
  line: number;
}

export interface ScannedSegment {
  line: number;
  /** URI as written (after variable substitution). */
  uri: string;
  duration: number;
  title?: string;
  programDateTime?: number;
  byteRange?: ByteRange;
  /** EXT-X-KEY tags in effect, one per KEYFORMAT; the same array object until a key tag changes them. */
  keys: readonly KeyTag[];
}

export interface ScannedVariant {
  line: number;
  uri: string;
  audio?: string;
  video?: string;
  subtitles?: string;
}

export interface ScannedRendition {
  line: number;
  type: string;
  groupId: string;
  name: string;
}

export interface ScanResult {
  kind: 'master' | 'media';
  /** What hls-parser gets. */
  sanitized: string;
  segments: ScannedSegment[];
  variants: ScannedVariant[];
  renditions: ScannedRendition[];
  targetDuration?: number;
  holdBack?: number;
  startOffset?: number;
  defines: Record<string, string>;
  warnings: FormatWarning[];
}

export interface ScanOptions {
  url: string;
  maxChars: number;
  maxLineLength: number;
  maxSegments: number;
  maxVariants: number;
  imports: Record<string, string>;
  resolver: UriResolver;
}

/** Tags that make a playlist a master playlist (RFC 8216 4.3.4) or a media playlist (4.3.2, 4.3.3). */
const MASTER_TAGS = new Set([
  'EXT-X-MEDIA',
  'EXT-X-STREAM-INF',
  'EXT-X-I-FRAME-STREAM-INF',
  'EXT-X-SESSION-DATA',
  'EXT-X-SESSION-KEY',
  'EXT-X-CONTENT-STEERING',
]);
const MEDIA_TAGS = new Set([
  'EXTINF',
  'EXT-X-BYTERANGE',
  'EXT-X-DISCONTINUITY',
  'EXT-X-KEY',
  'EXT-X-MAP',
  'EXT-X-PROGRAM-DATE-TIME',
  'EXT-X-GAP',
  'EXT-X-TARGETDURATION',
  'EXT-X-MEDIA-SEQUENCE',
  'EXT-X-DISCONTINUITY-SEQUENCE',
  'EXT-X-ENDLIST',
  'EXT-X-PLAYLIST-TYPE',
  'EXT-X-I-FRAMES-ONLY',
  'EXT-X-SERVER-CONTROL',
  'EXT-X-PART-INF',
  'EXT-X-PART',
  'EXT-X-PRELOAD-HINT',
  'EXT-X-SKIP',
]);

const KNOWN_METHODS = new Set(['NONE', 'AES-128', 'SAMPLE-AES', 'SAMPLE-AES-CTR']);

export function lineError(line: number, message: string, code = 'E_HLS_SYNTAX'): FormatError {
  return new FormatError(`HLS playlist line ${line}: ${message}`, { code, offset: 0 });
}

// ---------------------------------------------------------------------------------------------------------
// Values (RFC 8216 4.2)

const DECIMAL_INTEGER = /^\d+$/;
const DECIMAL_FLOAT = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;

export function decimalInteger(text: string, line: number, what: string): number {
  if (!DECIMAL_INTEGER.test(text)) throw lineError(line, `${what} "${clip(text)}" is not a decimal integer`);
  const n = Number(text);
  if (!Number.isSafeInteger(n)) throw lineError(line, `${what} ${clip(text)} is too large`);
  return n;
}

export function decimalFloat(text: string, line: number, what: string, min = 0): number {
  const n = DECIMAL_FLOAT.test(text) ? Number(text) : NaN;
  if (!Number.isFinite(n)) throw lineError(line, `${what} "${clip(text)}" is not a number`);
  if (n < min) throw lineError(line, `${what} ${text} is below ${min}`);
  return n;
}

/** `<n>[@<o>]` (RFC 8216 4.3.2.2). */
function parseByteRange(text: string, line: number, what: string): { length: number; offset?: number } {
  const at = text.indexOf('@');
  const length = decimalInteger(at < 0 ? text : text.slice(0, at), line, `${what} length`);
  if (at < 0) return { length };
  const offset = decimalInteger(text.slice(at + 1), line, `${what} offset`);
  if (!Number.isSafeInteger(offset + length)) throw lineError(line, `${what} ${text} is too large`);
  return { length, offset };
}

/** A 128-bit hexadecimal-sequence (`0x...`); fewer than 32 digits are the same integer, zero-extended. */
function parseIv(text: string, line: number): Uint8Array {
  const m = /^0[xX]([0-9a-fA-F]{1,32})$/.exec(text);
  if (!m) throw lineError(line, `EXT-X-KEY IV "${clip(text)}" is not a hexadecimal 128-bit number`);
  const hex = (m[1] as string).padStart(32, '0');
  const iv = new Uint8Array(16);
  for (let i = 0; i < 16; i++) iv[i] = parseInt(hex.slice(i * 2, i * 2 + 2), 16);
  return iv;
}

export interface AttributeValue {
  value: string;
  quoted: boolean;
}

/**
 * An attribute-list (RFC 8216 4.2): NAME=value pairs separated by commas, a value being a quoted string
 * (which may contain commas) or a run of characters without commas. Later duplicates win.
 */
export function parseAttributeList(text: string, line: number, tag: string): Map<string, AttributeValue> {
  const out = new Map<string, AttributeValue>();
  let i = 0;
  const n = text.length;
  while (i < n) {
    while (i < n && text[i] === ' ') i++;
    if (i >= n) break;
    const eq = text.indexOf('=', i);
    if (eq < 0) throw lineError(line, `${tag}: attribute "${clip(text.slice(i), 40)}" has no value`);
    const name = text.slice(i, eq).trim();
    if (!/^[A-Za-z0-9_-]+$/.test(name))
      throw lineError(line, `${tag}: bad attribute name "${clip(name, 40)}"`);
    i = eq + 1;
    let value: string;
    let quoted = false;
    if (text[i] === '"') {
      const close = text.indexOf('"', i + 1);
      if (close < 0) throw lineError(line, `${tag}: attribute ${name} has an unterminated quoted string`);
      value = text.slice(i + 1, close);
      quoted = true;
      i = close + 1;
      while (i < n && text[i] === ' ') i++;
      if (i < n && text[i] !== ',') throw lineError(line, `${tag}: text after the quoted value of ${name}`);
    } else {
      const comma = text.indexOf(',', i);
      const end = comma < 0 ? n : comma;
      value = text.slice(i, end).trim();
      i = end;
    }
    out.set(name, { value, quoted });
    if (text[i] === ',') i++;
  }
  return out;
}

function required(attrs: Map<string, AttributeValue>, name: string, line: number, tag: string): string {
  const a = attrs.get(name);
  if (a === undefined || a.value === '') throw lineError(line, `${tag} has no ${name} attribute`);
  return a.value;
}

// ---------------------------------------------------------------------------------------------------------
// Variables (RFC 8216bis 4.3)

const VARIABLE_REFERENCE = /\{\$([A-Za-z0-9_-]+)\}/g;

function substitute(text: string, vars: Map<string, string>, line: number, max: number): string {
  const out = text.replace(VARIABLE_REFERENCE, (_, name: string) => {
    const v = vars.get(name);
    if (v === undefined) throw lineError(line, `variable {$${name}} is not defined by an EXT-X-DEFINE`);
    return v;
  });
  if (out.length > max) throw lineError(line, `line is ${out.length} characters after variable substitution`);
  return out;
}

// ---------------------------------------------------------------------------------------------------------

interface PendingSegment {
  lines: string[];
  hasExtinf: boolean;
  duration: number;
  title?: string;
  programDateTime?: number;
  byteRange?: { length: number; offset?: number };
  byteRangeLine: number;
}

function emptyPending(): PendingSegment {
  return { lines: [], hasExtinf: false, duration: 0, byteRangeLine: 0 };
}

export function scanPlaylist(text: string, o: ScanOptions): ScanResult {
  if (text.length > o.maxChars) {
    throw new FormatError(`HLS playlist is ${text.length} characters long (limit ${o.maxChars})`, {
      code: 'E_HLS_LIMIT',
      offset: 0,
    });
  }
  const out: string[] = ['#EXTM3U'];
  const warnings: FormatWarning[] = [];
  const segments: ScannedSegment[] = [];
  const variants: ScannedVariant[] = [];
  const renditions: ScannedRendition[] = [];
  const vars = new Map<string, string>();
  const defines: Record<string, string> = {};
  let kind: 'master' | 'media' | undefined;
  let kindLine = 0;
  let sawHeader = false;
  let targetDuration: number | undefined;
  let holdBack: number | undefined;
  let startOffset: number | undefined;
  let pending = emptyPending();
  let pendingStreamInf: { line: number; text: string; attrs: Map<string, AttributeValue> } | undefined;
  const keys = new Map<string, KeyTag>();
  let keySnapshot: readonly KeyTag[] = [];
  let prevSegment: ScannedSegment | undefined;
  const seenOnce = new Set<string>();

  const setKind = (k: 'master' | 'media', line: number, tag: string): void => {
    if (kind === undefined) {
      kind = k;
      kindLine = line;
    } else if (kind !== k) {
      throw lineError(
        line,
        `${tag} is a ${k} playlist tag, but line ${kindLine} made this a ${kind} playlist (RFC 8216 4.3)`,
      );
    }
  };
  const once = (tag: string, line: number): void => {
    if (seenOnce.has(tag)) throw lineError(line, `${tag} appears twice`);
    seenOnce.add(tag);
  };
  const beforeSegments = (tag: string, line: number): void => {
    if (segments.length > 0 || pending.hasExtinf) {
      throw lineError(line, `${tag} must appear before the first segment (RFC 8216 4.3.3)`);
    }
  };

  let start = 0;
  let lineNo = 0;
  if (text.charCodeAt(0) === 0xfeff) start = 1; // a BOM is not part of the first line
  while (start <= text.length) {
    let end = text.indexOf('\n', start);
    if (end < 0) end = text.length;
    lineNo++;
    const raw = text.slice(start, end);
    start = end + 1;
    if (raw.length > o.maxLineLength) {
      throw lineError(
        lineNo,
        `line is ${raw.length} characters long (limit ${o.maxLineLength})`,
        'E_HLS_LIMIT',
      );
    }
    let line = raw.trim();
    if (line === '') continue;
    if (!sawHeader) {
      if (line !== '#EXTM3U') {
        throw lineError(lineNo, `not an HLS playlist: it must start with #EXTM3U, found "${clip(line, 40)}"`);
      }
      sawHeader = true;
      continue;
    }
    if (line.startsWith('#') && !line.startsWith('#EXT')) continue; // comment
    if (vars.size > 0 && line.includes('{$') && !line.startsWith('#EXT-X-DEFINE')) {
      line = substitute(line, vars, lineNo, o.maxLineLength);
    }

    if (!line.startsWith('#')) {
      // A URI line.
      if (pendingStreamInf) {
        const inf = pendingStreamInf;
        pendingStreamInf = undefined;
        if (variants.length + renditions.length >= o.maxVariants) {
          throw lineError(lineNo, `more than ${o.maxVariants} variants and renditions`, 'E_HLS_LIMIT');
        }
        o.resolver.resolve(line, o.url, `line ${lineNo} (variant URI)`);
        const v: ScannedVariant = { line: inf.line, uri: line };
        const audio = inf.attrs.get('AUDIO')?.value;
        const video = inf.attrs.get('VIDEO')?.value;
        const subtitles = inf.attrs.get('SUBTITLES')?.value;
        if (audio) v.audio = audio;
        if (video) v.video = video;
        if (subtitles) v.subtitles = subtitles;
        variants.push(v);
        out.push(inf.text, line);
        continue;
      }
      if (kind !== 'media' || !pending.hasExtinf) {
        throw lineError(lineNo, `URI "${clip(line, 40)}" is not preceded by #EXTINF or #EXT-X-STREAM-INF`);
      }
      if (segments.length >= o.maxSegments) {
        throw lineError(lineNo, `more than ${o.maxSegments} segments`, 'E_HLS_LIMIT');
      }
      // The URI is resolved (and its scheme checked) when the segment is built, not twice.
      const seg: ScannedSegment = { line: lineNo, uri: line, duration: pending.duration, keys: keySnapshot };
      if (pending.title) seg.title = pending.title;
      if (pending.programDateTime !== undefined) seg.programDateTime = pending.programDateTime;
      const br = pending.byteRange;
      if (br) {
        let offset = br.offset;
        if (offset === undefined) {
          // RFC 8216 4.3.2.2: without @o the range continues the previous segment's range of the same resource.
          if (!prevSegment?.byteRange || prevSegment.uri !== line) {
            throw lineError(
              pending.byteRangeLine,
              'EXT-X-BYTERANGE has no offset, but the previous segment is not a sub-range of the same URI',
            );
          }
          offset = prevSegment.byteRange.offset + prevSegment.byteRange.length;
        }
        if (!Number.isSafeInteger(offset + br.length))
          throw lineError(pending.byteRangeLine, 'byte range too large');
        seg.byteRange = { offset, length: br.length };
      }
      segments.push(seg);
      prevSegment = seg;
      out.push(...pending.lines, line);
      pending = emptyPending();
      continue;
    }

    const colon = line.indexOf(':');
    const tag = colon < 0 ? line.slice(1) : line.slice(1, colon);
    const value = colon < 0 ? '' : line.slice(colon + 1).trim();
    if (pendingStreamInf && (MASTER_TAGS.has(tag) || MEDIA_TAGS.has(tag))) {
      throw lineError(pendingStreamInf.line, 'EXT-X-STREAM-INF is not followed by a URI line');
    }
    if (MASTER_TAGS.has(tag)) setKind('master', lineNo, tag);
    else if (MEDIA_TAGS.has(tag)) setKind('media', lineNo, tag);

    switch (tag) {
      // ----- media segment tags (RFC 8216 4.3.2)
      case 'EXTINF': {
        const comma = value.indexOf(',');
        const durText = (comma < 0 ? value : value.slice(0, comma)).trim();
        const duration = decimalFloat(durText, lineNo, 'EXTINF duration');
        if (duration > MAX_SEGMENT_SECONDS)
          throw lineError(lineNo, `EXTINF duration ${durText} is implausible`);
        pending.hasExtinf = true;
        pending.duration = duration;
        const title = comma < 0 ? '' : value.slice(comma + 1).trim();
        if (title) pending.title = title;
        pending.lines.push(`#EXTINF:${durText},`);
        break;
      }
      case 'EXT-X-BYTERANGE':
        pending.byteRange = parseByteRange(value, lineNo, 'EXT-X-BYTERANGE');
        pending.byteRangeLine = lineNo;
        pending.lines.push(line);
        break;
      case 'EXT-X-DISCONTINUITY':
      case 'EXT-X-GAP':
        pending.lines.push(`#${tag}`);
        break;
      case 'EXT-X-PROGRAM-DATE-TIME': {
        const ms = parseIsoDateTime(value);
        if (ms === undefined)
          throw lineError(lineNo, `EXT-X-PROGRAM-DATE-TIME "${clip(value)}" is not a date-time`);
        pending.programDateTime = ms;
        break;
      }
      case 'EXT-X-KEY': {
        const attrs = parseAttributeList(value, lineNo, tag);
        const method = required(attrs, 'METHOD', lineNo, tag);
        if (method === 'NONE') {
          keys.clear();
        } else {
          const uri = required(attrs, 'URI', lineNo, tag);
          const key: KeyTag = {
            method,
            uri: o.resolver.resolve(uri, o.url, `line ${lineNo} (EXT-X-KEY)`),
            keyFormat: attrs.get('KEYFORMAT')?.value || 'identity',
            line: lineNo,
          };
          const iv = attrs.get('IV');
          if (iv) key.iv = parseIv(iv.value, lineNo);
          if (!KNOWN_METHODS.has(method)) {
            warnings.push({
              code: 'W_HLS_KEY_METHOD',
              message: `line ${lineNo}: unknown EXT-X-KEY METHOD ${method}`,
            });
          }
          keys.set(key.keyFormat, key);
        }
        keySnapshot = [...keys.values()];
        break;
      }
      case 'EXT-X-MAP': {
        const attrs = parseAttributeList(value, lineNo, tag);
        const uri = required(attrs, 'URI', lineNo, tag);
        o.resolver.resolve(uri, o.url, `line ${lineNo} (EXT-X-MAP)`);
        const br = attrs.get('BYTERANGE');
        if (br) parseByteRange(br.value, lineNo, 'EXT-X-MAP BYTERANGE');
        pending.lines.push(line);
        break;
      }
      // ----- media playlist tags (RFC 8216 4.3.3)
      case 'EXT-X-TARGETDURATION':
        once(tag, lineNo);
        targetDuration = decimalFloat(value, lineNo, tag);
        if (targetDuration <= 0 || targetDuration > MAX_SEGMENT_SECONDS) {
          throw lineError(lineNo, `EXT-X-TARGETDURATION ${value} is not a plausible duration`);
        }
        out.push(`#${tag}:${targetDuration}`);
        break;
      case 'EXT-X-MEDIA-SEQUENCE':
      case 'EXT-X-DISCONTINUITY-SEQUENCE':
        once(tag, lineNo);
        beforeSegments(tag, lineNo);
        out.push(`#${tag}:${decimalInteger(value, lineNo, tag)}`);
        break;
      case 'EXT-X-ENDLIST':
        out.push('#EXT-X-ENDLIST');
        break;
      case 'EXT-X-PLAYLIST-TYPE':
        if (value !== 'EVENT' && value !== 'VOD') {
          throw lineError(lineNo, `EXT-X-PLAYLIST-TYPE "${clip(value)}" is neither EVENT nor VOD`);
        }
        out.push(line);
        break;
      case 'EXT-X-SERVER-CONTROL': {
        const hb = parseAttributeList(value, lineNo, tag).get('HOLD-BACK');
        if (hb) holdBack = decimalFloat(hb.value, lineNo, 'HOLD-BACK');
        break;
      }
      case 'EXT-X-START': {
        const offset = required(parseAttributeList(value, lineNo, tag), 'TIME-OFFSET', lineNo, tag);
        startOffset = decimalFloat(offset, lineNo, 'TIME-OFFSET', -Infinity);
        break;
      }
      case 'EXT-X-I-FRAMES-ONLY':
        warnings.push({
          code: 'W_HLS_IFRAMES_ONLY',
          message: `line ${lineNo}: an I-frame-only playlist (trick play), not a recordable stream`,
        });
        break;
      case 'EXT-X-SKIP':
        throw lineError(
          lineNo,
          'EXT-X-SKIP (a playlist delta update) was not asked for and is not supported',
        );
      // ----- master playlist tags (RFC 8216 4.3.4)
      case 'EXT-X-STREAM-INF': {
        const attrs = parseAttributeList(value, lineNo, tag);
        decimalInteger(required(attrs, 'BANDWIDTH', lineNo, tag), lineNo, 'BANDWIDTH');
        const avg = attrs.get('AVERAGE-BANDWIDTH');
        if (avg) decimalInteger(avg.value, lineNo, 'AVERAGE-BANDWIDTH');
        const res = attrs.get('RESOLUTION');
        if (res && !/^\d{1,6}x\d{1,6}$/.test(res.value)) {
          throw lineError(lineNo, `RESOLUTION "${clip(res.value)}" is not <width>x<height>`);
        }
        const fr = attrs.get('FRAME-RATE');
        if (fr) decimalFloat(fr.value, lineNo, 'FRAME-RATE');
        pendingStreamInf = { line: lineNo, text: line, attrs };
        break;
      }
      case 'EXT-X-MEDIA': {
        const attrs = parseAttributeList(value, lineNo, tag);
        const type = required(attrs, 'TYPE', lineNo, tag);
        if (!['AUDIO', 'VIDEO', 'SUBTITLES', 'CLOSED-CAPTIONS'].includes(type)) {
          throw lineError(
            lineNo,
            `EXT-X-MEDIA TYPE "${clip(type)}" is not AUDIO, VIDEO, SUBTITLES or CLOSED-CAPTIONS`,
          );
        }
        const groupId = required(attrs, 'GROUP-ID', lineNo, tag);
        const name = required(attrs, 'NAME', lineNo, tag);
        const uri = attrs.get('URI');
        if (uri) o.resolver.resolve(uri.value, o.url, `line ${lineNo} (EXT-X-MEDIA)`);
        if (type === 'SUBTITLES' && !uri) throw lineError(lineNo, 'EXT-X-MEDIA TYPE=SUBTITLES has no URI');
        if (variants.length + renditions.length >= o.maxVariants) {
          throw lineError(lineNo, `more than ${o.maxVariants} variants and renditions`, 'E_HLS_LIMIT');
        }
        renditions.push({ line: lineNo, type, groupId, name });
        out.push(line);
        break;
      }
      // ----- either (RFC 8216bis 4.4.2.3)
      case 'EXT-X-DEFINE': {
        const attrs = parseAttributeList(value, lineNo, tag);
        const name = attrs.get('NAME')?.value;
        const query = attrs.get('QUERYPARAM')?.value;
        const imported = attrs.get('IMPORT')?.value;
        let key: string;
        let val: string | undefined;
        if (name !== undefined) {
          key = name;
          val = attrs.get('VALUE')?.value;
          if (val === undefined) throw lineError(lineNo, `EXT-X-DEFINE NAME="${clip(name)}" has no VALUE`);
        } else if (query !== undefined) {
          key = query;
          val = new URL(o.url).searchParams.get(query) ?? undefined;
          if (val === undefined)
            throw lineError(lineNo, `EXT-X-DEFINE QUERYPARAM "${clip(query)}": not in the URL`);
        } else if (imported !== undefined) {
          key = imported;
          val = o.imports[imported];
          if (val === undefined) {
            throw lineError(
              lineNo,
              `EXT-X-DEFINE IMPORT "${clip(imported)}": the master playlist defines no such variable`,
            );
          }
        } else {
          throw lineError(lineNo, 'EXT-X-DEFINE needs NAME, QUERYPARAM or IMPORT');
        }
        if (!/^[A-Za-z0-9_-]+$/.test(key))
          throw lineError(lineNo, `EXT-X-DEFINE: bad variable name "${clip(key)}"`);
        if (vars.has(key)) throw lineError(lineNo, `EXT-X-DEFINE: variable ${key} defined twice`);
        vars.set(key, val);
        defines[key] = val;
        break;
      }
      default:
        // EXT-X-VERSION, EXT-X-INDEPENDENT-SEGMENTS, EXT-X-DATERANGE, LL-HLS parts, ad markers, session tags,
        // I-frame variants and tags this parser does not know: not needed to record, so not passed on.
        break;
    }
  }

  if (pendingStreamInf)
    throw lineError(pendingStreamInf.line, 'EXT-X-STREAM-INF is not followed by a URI line');
  if (!sawHeader) throw lineError(1, 'not an HLS playlist: the text is empty');
  if (kind === undefined) {
    throw lineError(
      1,
      'neither a master playlist (no EXT-X-STREAM-INF) nor a media playlist (no EXT-X-TARGETDURATION)',
    );
  }
  if (kind === 'media' && targetDuration === undefined) {
    throw lineError(kindLine, 'media playlist without EXT-X-TARGETDURATION (RFC 8216 4.3.3.1)');
  }
  if (kind === 'master') {
    const groups = new Set(renditions.map((r) => `${r.type}\n${r.groupId}`));
    for (const v of variants) {
      for (const [type, group] of [
        ['AUDIO', v.audio],
        ['VIDEO', v.video],
        ['SUBTITLES', v.subtitles],
      ] as const) {
        if (group !== undefined && !groups.has(`${type}\n${group}`)) {
          throw lineError(
            v.line,
            `EXT-X-STREAM-INF names ${type} group "${clip(group)}", which no EXT-X-MEDIA defines`,
          );
        }
      }
    }
  }
  // Segment tags after the last URI (a playlist cut short, or LL-HLS parts of a segment still being made)
  // describe no complete segment: dropped, as `pending` never reaches `out`.
  const result: ScanResult = {
    kind,
    sanitized: out.join('\n'),
    segments,
    variants,
    renditions,
    defines,
    warnings,
  };
  if (targetDuration !== undefined) result.targetDuration = targetDuration;
  if (holdBack !== undefined) result.holdBack = holdBack;
  if (startOffset !== undefined) result.startOffset = startOffset;
  return result;
}
