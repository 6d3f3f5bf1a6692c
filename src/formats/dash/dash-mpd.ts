/**
 * DASH MPDs (ISO/IEC 23009-1) to castkit's plain model: periods, adaptation sets and representations, with
 * BaseURL resolved at every level (5.6) and each representation's segment addressing (5.3.9) resolved,
 * inherited and checked. Expanding addressing into segments is dash-segments.ts. Text and URL in, data out.
 */
import { FormatError } from '../../core/errors.js';
import { parseRational } from '../../core/time.js';
import type { FormatWarning } from '../media.js';
import { clip, limitsOf, parseIsoDateTime, requireAbsoluteUrl, UriResolver } from '../hls/manifest-common.js';
import type {
  ByteRange,
  DashAdaptationSet,
  DashAddressing,
  DashContentType,
  DashManifest,
  DashParseOptions,
  DashPeriod,
  DashRepresentation,
  DashTimelineEntry,
  InitSection,
} from './dash-types.js';
import { childNamed, childrenNamed, parseXmlTree, type XmlElement } from './dash-xml.js';

export function mpdError(where: string, message: string, code = 'E_DASH_MPD'): FormatError {
  return new FormatError(`MPD ${where}: ${message}`, { code, offset: 0 });
}

// ---------------------------------------------------------------------------------------------------------
// Attribute values

const XS_DURATION =
  /^P(?:(\d+(?:\.\d+)?)Y)?(?:(\d+(?:\.\d+)?)M)?(?:(\d+(?:\.\d+)?)W)?(?:(\d+(?:\.\d+)?)D)?(?:T(?:(\d+(?:\.\d+)?)H)?(?:(\d+(?:\.\d+)?)M)?(?:(\d+(?:\.\d+)?)S)?)?$/;

/**
 * xs:duration to seconds. Years and months have no fixed length: taken as 365 and 30 days (MPDs use
 * PT..S in practice; some packagers write P0Y0M0DT...). Negative or malformed values are FormatErrors.
 */
export function parseXsDuration(text: string, where: string): number {
  const t = text.trim();
  const m = XS_DURATION.exec(t);
  if (!m || t === 'P' || t.endsWith('T'))
    throw mpdError(where, `"${clip(t)}" is not an xs:duration such as PT4S`);
  const f = (i: number): number => (m[i] === undefined ? 0 : Number(m[i]));
  const secs = ((f(1) * 365 + f(2) * 30 + f(3) * 7 + f(4)) * 24 + f(5)) * 3600 + f(6) * 60 + f(7);
  if (!Number.isFinite(secs)) throw mpdError(where, `duration "${clip(t)}" is too large`);
  return secs;
}

function dateAttr(el: XmlElement, name: string, where: string): number | undefined {
  const v = el.attrs[name];
  if (v === undefined) return undefined;
  const ms = parseIsoDateTime(v);
  if (ms === undefined) throw mpdError(where, `@${name} "${clip(v)}" is not an xs:dateTime`);
  return ms;
}

function durationAttr(el: XmlElement, name: string, where: string): number | undefined {
  const v = el.attrs[name];
  return v === undefined ? undefined : parseXsDuration(v, `${where} @${name}`);
}

/** A non-negative integer attribute that a Number holds exactly. */
function intAttr(attrs: Record<string, string>, name: string, where: string): number | undefined {
  const v = attrs[name];
  if (v === undefined) return undefined;
  const t = v.trim();
  if (!/^\d+$/.test(t) || !Number.isSafeInteger(Number(t))) {
    throw mpdError(where, `@${name} "${clip(t)}" is not a non-negative integer`);
  }
  return Number(t);
}

function positiveAttr(attrs: Record<string, string>, name: string, where: string): number | undefined {
  const v = attrs[name];
  if (v === undefined) return undefined;
  const n = Number(v.trim());
  if (v.trim() === '' || !Number.isFinite(n) || n <= 0) {
    throw mpdError(where, `@${name} must be a positive number, got "${clip(v)}"`, 'E_DASH_VALUE');
  }
  return n;
}

/** "first-last" (RFC 7233 byte-range-spec, both ends inclusive). */
function rangeAttr(text: string | undefined, where: string): ByteRange | undefined {
  if (text === undefined) return undefined;
  const m = /^\s*(\d+)-(\d+)\s*$/.exec(text);
  const first = m ? Number(m[1]) : NaN;
  const last = m ? Number(m[2]) : NaN;
  if (!m || !Number.isSafeInteger(first) || !Number.isSafeInteger(last) || last < first) {
    throw mpdError(where, `byte range "${clip(text)}" is not first-last`);
  }
  return { offset: first, length: last - first + 1 };
}

// ---------------------------------------------------------------------------------------------------------
// Templates (5.3.9.4.4)

export type TemplatePart =
  string | { id: 'RepresentationID' | 'Number' | 'Bandwidth' | 'Time'; width?: number };

/** Split a template into literals and identifiers; unknown identifiers and bad format tags are errors. */
export function compileTemplate(template: string, where: string): TemplatePart[] {
  const parts: TemplatePart[] = [];
  let literal = '';
  let i = 0;
  while (i < template.length) {
    const dollar = template.indexOf('$', i);
    if (dollar < 0) {
      literal += template.slice(i);
      break;
    }
    literal += template.slice(i, dollar);
    const close = template.indexOf('$', dollar + 1);
    if (close < 0) throw mpdError(where, `template "${clip(template)}" has an unclosed $`, 'E_DASH_TEMPLATE');
    const body = template.slice(dollar + 1, close);
    i = close + 1;
    if (body === '') {
      literal += '$'; // $$ is a literal dollar
      continue;
    }
    const m = /^(RepresentationID|Number|Bandwidth|Time)(?:%0(\d{1,2})d)?$/.exec(body);
    if (!m) {
      throw mpdError(
        where,
        `template "${clip(template)}": unknown identifier $${clip(body, 30)}$`,
        'E_DASH_TEMPLATE',
      );
    }
    const id = m[1] as 'RepresentationID' | 'Number' | 'Bandwidth' | 'Time';
    if (m[2] !== undefined && id === 'RepresentationID') {
      throw mpdError(where, 'a format tag is not allowed on $RepresentationID$', 'E_DASH_TEMPLATE');
    }
    if (literal) parts.push(literal);
    literal = '';
    parts.push(m[2] === undefined ? { id } : { id, width: Number(m[2]) });
  }
  if (literal) parts.push(literal);
  return parts;
}

export interface TemplateValues {
  RepresentationID?: string;
  Number?: number;
  Bandwidth?: number;
  Time?: number;
}

/**
 * Substitute the given identifiers; those without a value are written back as identifiers (and literal
 * dollars as $$), so a partly filled template is still a template.
 */
export function fillTemplate(parts: readonly TemplatePart[], values: TemplateValues): string {
  let out = '';
  for (const p of parts) {
    if (typeof p === 'string') {
      out += p;
      continue;
    }
    const v = values[p.id];
    if (v === undefined) {
      out += `$${p.id}${p.width !== undefined ? `%0${p.width}d` : ''}$`;
    } else {
      const s = String(v);
      out += p.width !== undefined ? s.padStart(p.width, '0') : s;
    }
  }
  return out;
}

function escapeLiteralDollars(parts: readonly TemplatePart[]): TemplatePart[] {
  return parts.map((p) => (typeof p === 'string' ? p.replaceAll('$', '$$') : p));
}

// ---------------------------------------------------------------------------------------------------------

interface Context {
  resolver: UriResolver;
  warnings: FormatWarning[];
  maxSegments: number;
  segmentElements: number;
}

/** The first BaseURL child, resolved against the parent's base (5.6.4); the parent's base without one. */
function baseOf(el: XmlElement, parent: string, where: string, ctx: Context): string {
  const b = childNamed(el, 'BaseURL');
  if (!b || b.text === '') return parent;
  return ctx.resolver.resolve(b.text, parent, `${where} BaseURL`);
}

const SEGMENT_KINDS = ['SegmentTemplate', 'SegmentList', 'SegmentBase'] as const;
type SegmentKind = (typeof SEGMENT_KINDS)[number];

/** Merge one addressing element over the levels that have it (Period, AdaptationSet, Representation). */
interface Merged {
  attrs: Record<string, string>;
  child(name: string): XmlElement | undefined;
  children(name: string): XmlElement[];
}

function merge(levels: readonly XmlElement[]): Merged {
  const attrs: Record<string, string> = Object.create(null) as Record<string, string>;
  for (const l of levels) Object.assign(attrs, l.attrs);
  // Child elements are inherited whole: the most specific level that has one wins (5.3.9.1).
  const lowest = (name: string): XmlElement | undefined => {
    for (let i = levels.length - 1; i >= 0; i--) {
      const c = childNamed(levels[i] as XmlElement, name);
      if (c) return c;
    }
    return undefined;
  };
  return {
    attrs,
    child: lowest,
    children(name) {
      for (let i = levels.length - 1; i >= 0; i--) {
        const c = childrenNamed(levels[i] as XmlElement, name);
        if (c.length > 0) return c;
      }
      return [];
    },
  };
}

function timelineOf(
  el: XmlElement | undefined,
  where: string,
  ctx: Context,
): DashTimelineEntry[] | undefined {
  if (!el) return undefined;
  const out: DashTimelineEntry[] = [];
  for (const s of childrenNamed(el, 'S')) {
    const d = intAttr(s.attrs, 'd', `${where} S`);
    if (d === undefined || d === 0)
      throw mpdError(where, 'SegmentTimeline S@d must be a positive integer', 'E_DASH_VALUE');
    let r = 0;
    const rText = s.attrs.r?.trim();
    if (rText !== undefined) {
      if (!/^-?\d+$/.test(rText) || Number(rText) < -1 || !Number.isSafeInteger(Number(rText))) {
        throw mpdError(
          where,
          `SegmentTimeline S@r "${clip(rText)}" must be an integer >= -1`,
          'E_DASH_VALUE',
        );
      }
      r = Number(rText);
    }
    const e: DashTimelineEntry = { d, r };
    const t = intAttr(s.attrs, 't', `${where} S`);
    if (t !== undefined) e.t = t;
    const n = intAttr(s.attrs, 'n', `${where} S`);
    if (n !== undefined) e.n = n;
    out.push(e);
    if (++ctx.segmentElements > ctx.maxSegments) {
      throw mpdError(where, `more than ${ctx.maxSegments} segment elements`, 'E_DASH_LIMIT');
    }
  }
  return out;
}

function initElementOf(m: Merged, base: string, where: string, ctx: Context): InitSection | undefined {
  const el = m.child('Initialization');
  if (!el) return undefined;
  const uri =
    el.attrs.sourceURL !== undefined
      ? ctx.resolver.resolve(el.attrs.sourceURL, base, `${where} Initialization`)
      : base;
  const init: InitSection = { uri };
  const range = rangeAttr(el.attrs.range, `${where} Initialization@range`);
  if (range) init.byteRange = range;
  return init;
}

function timescaleOf(m: Merged, where: string): number {
  const ts = m.attrs.timescale;
  if (ts === undefined) return 1;
  const n = Number(ts.trim());
  if (!Number.isSafeInteger(n) || n <= 0) {
    throw mpdError(where, `@timescale must be a positive integer, got "${clip(ts)}"`, 'E_DASH_VALUE');
  }
  return n;
}

function addressingOf(
  levels: readonly XmlElement[],
  rep: { id: string; bandwidth: number },
  base: string,
  where: string,
  ctx: Context,
): DashAddressing {
  // The most specific level with any addressing element decides the kind; levels above contribute only
  // elements of the same kind (inheritance, 5.3.9.1).
  let kind: SegmentKind | undefined;
  for (let i = levels.length - 1; i >= 0 && kind === undefined; i--) {
    kind = SEGMENT_KINDS.find((k) => childNamed(levels[i] as XmlElement, k) !== undefined);
  }
  if (kind === undefined) return { kind: 'single', uri: base };
  const els = levels.map((l) => childNamed(l, kind)).filter((e): e is XmlElement => e !== undefined);
  const m = merge(els);
  const w = `${where} ${kind}`;
  const timescale = timescaleOf(m, w);
  const presentationTimeOffset = intAttr(m.attrs, 'presentationTimeOffset', w) ?? 0;

  if (kind === 'SegmentBase') {
    const out: DashAddressing = { kind: 'base', uri: base, timescale, presentationTimeOffset };
    const init = initElementOf(m, base, w, ctx);
    if (init) out.init = init;
    const index = rangeAttr(m.attrs.indexRange, `${w}@indexRange`);
    if (index) out.indexRange = index;
    return out;
  }

  const startNumber = intAttr(m.attrs, 'startNumber', w) ?? 1;
  const duration = positiveAttr(m.attrs, 'duration', w);
  const timeline = timelineOf(m.child('SegmentTimeline'), w, ctx);

  if (kind === 'SegmentList') {
    const segments: { uri: string; byteRange?: ByteRange }[] = [];
    for (const su of m.children('SegmentURL')) {
      if (++ctx.segmentElements > ctx.maxSegments) {
        throw mpdError(w, `more than ${ctx.maxSegments} segment elements`, 'E_DASH_LIMIT');
      }
      const uri =
        su.attrs.media !== undefined ? ctx.resolver.resolve(su.attrs.media, base, `${w} SegmentURL`) : base;
      const s: { uri: string; byteRange?: ByteRange } = { uri };
      const range = rangeAttr(su.attrs.mediaRange, `${w} SegmentURL@mediaRange`);
      if (range) s.byteRange = range;
      segments.push(s);
    }
    const out: DashAddressing = { kind: 'list', timescale, startNumber, presentationTimeOffset, segments };
    if (duration !== undefined) out.duration = duration;
    if (timeline) out.timeline = timeline;
    const init = initElementOf(m, base, w, ctx);
    if (init) out.init = init;
    if (duration === undefined && !timeline && segments.length > 1) {
      throw mpdError(w, 'SegmentList of several segments has neither @duration nor SegmentTimeline');
    }
    return out;
  }

  // SegmentTemplate
  const mediaTemplate = m.attrs.media;
  if (mediaTemplate === undefined) throw mpdError(w, 'SegmentTemplate has no @media');
  if (duration === undefined && !timeline) {
    throw mpdError(w, 'SegmentTemplate has neither @duration nor SegmentTimeline');
  }
  const fixed = { RepresentationID: rep.id, Bandwidth: rep.bandwidth };
  const media = fillTemplate(escapeLiteralDollars(compileTemplate(mediaTemplate, `${w}@media`)), fixed);
  // Resolve one instance now, so a hostile scheme is reported with the manifest rather than per segment.
  const sample = fillTemplate(compileTemplate(media, `${w}@media`), { Number: startNumber, Time: 0 });
  ctx.resolver.resolve(sample, base, `${w}@media`);
  const out: DashAddressing = {
    kind: 'template',
    media,
    base,
    timescale,
    startNumber,
    presentationTimeOffset,
    availabilityTimeOffset: 0,
  };
  const ato = m.attrs.availabilityTimeOffset;
  if (ato !== undefined) {
    out.availabilityTimeOffset = ato.trim() === 'INF' ? Infinity : Number(ato);
    if (Number.isNaN(out.availabilityTimeOffset)) throw mpdError(w, `@availabilityTimeOffset "${clip(ato)}"`);
  }
  if (duration !== undefined) out.duration = duration;
  if (timeline) out.timeline = timeline;
  const endNumber = intAttr(m.attrs, 'endNumber', w);
  if (endNumber !== undefined) out.endNumber = endNumber;
  const initTemplate = m.attrs.initialization;
  if (initTemplate !== undefined) {
    const parts = compileTemplate(initTemplate, `${w}@initialization`);
    if (parts.some((p) => typeof p !== 'string' && (p.id === 'Number' || p.id === 'Time'))) {
      throw mpdError(w, '@initialization may use only $RepresentationID$ and $Bandwidth$', 'E_DASH_TEMPLATE');
    }
    out.init = { uri: ctx.resolver.resolve(fillTemplate(parts, fixed), base, `${w}@initialization`) };
  } else {
    const init = initElementOf(m, base, w, ctx);
    if (init) out.init = init;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------

const ROLE_SCHEME = 'urn:mpeg:dash:role:2011';
const TRICKMODE = 'http://dashif.org/guidelines/trickmode';

function contentTypeOf(
  contentType: string | undefined,
  mimeType: string | undefined,
  codecs: string | undefined,
): DashContentType {
  const t = contentType?.toLowerCase();
  if (t === 'video' || t === 'audio' || t === 'text' || t === 'image') return t;
  const mt = mimeType?.toLowerCase() ?? '';
  if (mt.startsWith('video/')) return 'video';
  if (mt.startsWith('audio/')) return 'audio';
  if (mt.startsWith('text/') || mt === 'application/ttml+xml') return 'text';
  if (mt.startsWith('image/')) return 'image';
  const c = codecs?.toLowerCase() ?? '';
  if (/^(avc[13]|hvc1|hev1|dv[ah][1ev]|av01|vp0?[89])/.test(c)) return 'video';
  if (/^(mp4a|ac-3|ec-3|ac-4|opus|flac|mp3|dtsc)/.test(c)) return 'audio';
  if (/^(stpp|wvtt)/.test(c)) return 'text';
  return 'other';
}

function numberOrUndefined(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const n = Number(text.trim().split(/\s+/)[0]);
  return Number.isFinite(n) ? n : undefined;
}

/** Parse an MPD; `url` is where it was loaded from (after redirects). */
export function parseMpd(text: string, url: string, options: DashParseOptions = {}): DashManifest {
  const mpdUrl = requireAbsoluteUrl(url, 'MPD');
  const limits = limitsOf(options);
  const root = parseXmlTree(text, {
    maxChars: limits.maxChars,
    maxDepth: options.maxDepth ?? 32,
    maxElements: limits.maxSegments + 100_000,
  });
  if (root.name !== 'MPD') throw mpdError('root', `not an MPD: the root element is <${clip(root.name, 40)}>`);
  const ctx: Context = {
    resolver: new UriResolver('E_DASH_URI'),
    warnings: [],
    maxSegments: limits.maxSegments,
    segmentElements: 0,
  };
  const type = root.attrs.type ?? 'static';
  if (type !== 'static' && type !== 'dynamic')
    throw mpdError('MPD', `@type "${clip(type)}" is neither static nor dynamic`);
  const mpd: DashManifest = {
    url: mpdUrl,
    type,
    baseUrl: baseOf(root, mpdUrl, 'MPD', ctx),
    periods: [],
    unsafeUris: ctx.resolver.unsafe,
    warnings: ctx.warnings,
  };
  const loc = childNamed(root, 'Location');
  if (loc && loc.text) mpd.location = ctx.resolver.resolve(loc.text, mpdUrl, 'MPD Location');
  const setIf = <K extends keyof DashManifest>(key: K, value: DashManifest[K] | undefined): void => {
    if (value !== undefined) mpd[key] = value;
  };
  setIf('mediaPresentationDuration', durationAttr(root, 'mediaPresentationDuration', 'MPD'));
  setIf('availabilityStartTime', dateAttr(root, 'availabilityStartTime', 'MPD'));
  setIf('publishTime', dateAttr(root, 'publishTime', 'MPD'));
  setIf('timeShiftBufferDepth', durationAttr(root, 'timeShiftBufferDepth', 'MPD'));
  setIf('minimumUpdatePeriod', durationAttr(root, 'minimumUpdatePeriod', 'MPD'));
  setIf('suggestedPresentationDelay', durationAttr(root, 'suggestedPresentationDelay', 'MPD'));
  setIf('minBufferTime', durationAttr(root, 'minBufferTime', 'MPD'));
  setIf('maxSegmentDuration', durationAttr(root, 'maxSegmentDuration', 'MPD'));
  if (type === 'dynamic' && mpd.availabilityStartTime === undefined) {
    throw mpdError('MPD', 'a dynamic MPD needs @availabilityStartTime (5.3.1.2)');
  }

  const periodEls = childrenNamed(root, 'Period');
  const declared: { el: XmlElement; start?: number; duration?: number }[] = [];
  for (const [i, el] of periodEls.entries()) {
    const where = `Period ${i + 1}`;
    if (el.attrs.href !== undefined && el.children.length === 0) {
      ctx.warnings.push({
        code: 'W_DASH_XLINK',
        message: `${where}: remote (xlink) periods are not supported; skipped`,
      });
      continue;
    }
    const p: { el: XmlElement; start?: number; duration?: number } = { el };
    const start = durationAttr(el, 'start', where);
    if (start !== undefined) p.start = start;
    const duration = durationAttr(el, 'duration', where);
    if (duration !== undefined) p.duration = duration;
    declared.push(p);
  }
  // Period start and duration (5.3.2.1): @start, else the end of the previous period, else 0 for the first.
  let prevEnd: number | undefined = 0;
  for (const [i, d] of declared.entries()) {
    const start: number | undefined = d.start ?? prevEnd;
    if (start === undefined) {
      throw mpdError(`Period ${i + 1}`, 'has no @start and the previous period has no known end');
    }
    d.start = start;
    prevEnd = d.duration !== undefined ? start + d.duration : undefined;
  }
  for (const [i, d] of declared.entries()) {
    const start = d.start as number;
    const next = declared[i + 1];
    let duration = d.duration;
    if (duration === undefined && next) duration = (next.start as number) - start;
    if (duration === undefined && mpd.mediaPresentationDuration !== undefined) {
      duration = mpd.mediaPresentationDuration - start;
    }
    if (duration !== undefined && duration < 0) {
      throw mpdError(
        `Period ${i + 1}`,
        `starts at ${start} s, after the next period or the end of the presentation`,
      );
    }
    mpd.periods.push(buildPeriod(d.el, i, start, duration, mpd.baseUrl, ctx));
  }
  return mpd;
}

function buildPeriod(
  el: XmlElement,
  index: number,
  start: number,
  duration: number | undefined,
  parentBase: string,
  ctx: Context,
): DashPeriod {
  const where = `Period ${index + 1}`;
  const period: DashPeriod = {
    index,
    start,
    baseUrl: baseOf(el, parentBase, where, ctx),
    adaptationSets: [],
  };
  if (el.attrs.id !== undefined) period.id = el.attrs.id;
  if (duration !== undefined) period.duration = duration;
  for (const [ai, asEl] of childrenNamed(el, 'AdaptationSet').entries()) {
    const w = `${where} AdaptationSet ${ai + 1}`;
    const a = asEl.attrs;
    const asBase = baseOf(asEl, period.baseUrl, w, ctx);
    const roles = childrenNamed(asEl, 'Role')
      .filter((r) => r.attrs.schemeIdUri === ROLE_SCHEME && r.attrs.value !== undefined)
      .map((r) => r.attrs.value as string);
    const props = [
      ...childrenNamed(asEl, 'EssentialProperty'),
      ...childrenNamed(asEl, 'SupplementalProperty'),
    ];
    const set: DashAdaptationSet = {
      periodIndex: index,
      index: ai,
      contentType: 'other',
      roles,
      trickMode: props.some((p) => p.attrs.schemeIdUri === TRICKMODE),
      contentProtection: childrenNamed(asEl, 'ContentProtection').map(
        (c) => c.attrs.schemeIdUri ?? 'unknown',
      ),
      representations: [],
    };
    if (a.id !== undefined) set.id = a.id;
    if (a.mimeType !== undefined) set.mimeType = a.mimeType;
    if (a.lang !== undefined) set.lang = a.lang;
    const label = a.label ?? childNamed(asEl, 'Label')?.text;
    if (label) set.label = label;
    const componentType = childNamed(asEl, 'ContentComponent')?.attrs.contentType;
    for (const [ri, repEl] of childrenNamed(asEl, 'Representation').entries()) {
      const r = repEl.attrs;
      const id = r.id;
      const rw = `${w} Representation ${id !== undefined ? `id="${clip(id, 40)}"` : ri + 1}`;
      if (id === undefined || id === '') throw mpdError(rw, 'has no @id');
      const bandwidth = intAttr(r, 'bandwidth', rw);
      if (bandwidth === undefined) throw mpdError(rw, 'has no @bandwidth');
      const codecs = r.codecs ?? a.codecs;
      const mimeType = r.mimeType ?? a.mimeType;
      const contentType = contentTypeOf(a.contentType ?? componentType, mimeType, codecs);
      const base = baseOf(repEl, asBase, rw, ctx);
      const rep: DashRepresentation = {
        id,
        bandwidth,
        contentType,
        periodIndex: index,
        adaptationSetIndex: ai,
        baseUrl: base,
        addressing: addressingOf([el, asEl, repEl], { id, bandwidth }, base, rw, ctx),
      };
      const width = intAttr(r, 'width', rw) ?? intAttr(a, 'width', w);
      const height = intAttr(r, 'height', rw) ?? intAttr(a, 'height', w);
      const frameRate = parseRational(r.frameRate ?? a.frameRate);
      const rate = numberOrUndefined(r.audioSamplingRate ?? a.audioSamplingRate);
      if (width !== undefined) rep.width = width;
      if (height !== undefined) rep.height = height;
      if (frameRate !== undefined) rep.frameRate = frameRate;
      if (codecs !== undefined) rep.codecs = codecs;
      if (mimeType !== undefined) rep.mimeType = mimeType;
      if (rate !== undefined) rep.audioSamplingRate = rate;
      const lang = r.lang ?? a.lang;
      if (lang !== undefined) rep.lang = lang;
      set.representations.push(rep);
    }
    // The set's type: declared, else what its representations are.
    set.contentType = contentTypeOf(a.contentType ?? componentType, a.mimeType, a.codecs);
    if (set.contentType === 'other' && set.representations[0])
      set.contentType = set.representations[0].contentType;
    for (const rep of set.representations) if (rep.contentType === 'other') rep.contentType = set.contentType;
    period.adaptationSets.push(set);
  }
  return period;
}
