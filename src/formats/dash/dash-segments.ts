/**
 * A representation's addressing expanded into the segments to fetch (ISO/IEC 23009-1 5.3.9), for static
 * MPDs (all of them) and dynamic ones at an explicit `now` (the segments available then: 5.3.9.5.3 and
 * DASH-IF IOP 4.3). Pure: the caller passes the clock.
 */
import { FormatError, UsageError } from '../../core/errors.js';
import { DEFAULT_MANIFEST_LIMITS } from '../hls/manifest-common.js';
import { compileTemplate, fillTemplate, mpdError, type TemplatePart } from './dash-mpd.js';
import type { Sidx } from './dash-sidx.js';
import type {
  DashListAddressing,
  DashManifest,
  DashPeriod,
  DashRepresentation,
  DashSegment,
  DashSegmentList,
  DashSegmentOptions,
  DashTemplateAddressing,
  DashTimelineEntry,
  InitSection,
} from './dash-types.js';

/** Tolerance for float comparisons of times in seconds. */
const EPS = 1e-9;

interface Job {
  mpd: DashManifest;
  period: DashPeriod;
  rep: DashRepresentation;
  where: string;
  keyPrefix: string;
  max: number;
  now: number | undefined;
  out: DashSegmentList;
}

/**
 * The segments of one representation in its period. Static MPDs: all of them. Dynamic MPDs: `options.now`
 * is required, and the result is the availability window at that time: for $Number$ templates the segments
 * from the start of the time-shift buffer (timeShiftBufferDepth back) to the live edge, computed from
 * availabilityStartTime; for SegmentTimeline the segments listed (r=-1 at the end extends to the live edge).
 * SegmentBase with an indexRange returns no segments but `index`: fetch it and call segmentsFromSidx.
 */
export function representationSegments(
  mpd: DashManifest,
  rep: DashRepresentation,
  options: DashSegmentOptions = {},
): DashSegmentList {
  const period = mpd.periods[rep.periodIndex];
  if (!period)
    throw new UsageError(`representation ${rep.id} belongs to no period of this MPD`, { code: 'E_DASH_REP' });
  const periodKey = period.id !== undefined ? period.id : `@${period.start}`;
  const job: Job = {
    mpd,
    period,
    rep,
    where: `Period ${period.index + 1} Representation id="${rep.id}"`,
    keyPrefix: `${periodKey}/${rep.id}`,
    max: options.maxSegments ?? DEFAULT_MANIFEST_LIMITS.maxSegments,
    now: options.now,
    out: { periodIndex: period.index, representationId: rep.id, segments: [], truncated: false },
  };
  const a = rep.addressing;
  switch (a.kind) {
    case 'template':
      if (a.init) job.out.init = a.init;
      if (a.timeline) timelineSegments(job, a, a.timeline);
      else numberSegments(job, a);
      break;
    case 'list':
      if (a.init) job.out.init = a.init;
      listSegments(job, a);
      break;
    case 'base':
      if (a.indexRange) {
        // Without an Initialization element the init is what precedes the index (moov before sidx in the
        // on-demand profile, 23009-1 8.3).
        const init: InitSection | undefined =
          a.init ??
          (a.indexRange.offset > 0
            ? { uri: a.uri, byteRange: { offset: 0, length: a.indexRange.offset } }
            : undefined);
        if (init) job.out.init = init;
        job.out.index = { uri: a.uri, byteRange: a.indexRange };
      } else {
        if (a.init) job.out.init = a.init;
        push(job, {
          key: `${job.keyPrefix}/whole`,
          uri: a.uri,
          start: period.start,
          duration: period.duration ?? 0,
        });
      }
      break;
    case 'single':
      push(job, {
        key: `${job.keyPrefix}/whole`,
        uri: a.uri,
        start: period.start,
        duration: period.duration ?? 0,
      });
      break;
  }
  return job.out;
}

function push(
  job: Job,
  s: { key: string; uri: string; start: number; duration: number } & Partial<DashSegment>,
): void {
  const seg: DashSegment = {
    ...s,
    discontinuity: false,
    periodIndex: job.period.index,
    representationId: job.rep.id,
  };
  if (job.out.init) seg.init = job.out.init;
  job.out.segments.push(seg);
}

function liveNow(job: Job): { elapsed: number } {
  if (job.now === undefined) {
    throw new UsageError(
      `${job.where}: a dynamic MPD needs the current time (options.now) to list segments`,
      {
        code: 'E_DASH_NOW',
      },
    );
  }
  const ast = job.mpd.availabilityStartTime as number; // required for dynamic MPDs by parseMpd
  // Seconds from the start of this period to `now`.
  return { elapsed: (job.now - ast) / 1000 - job.period.start };
}

function tooMany(job: Job, count: number): FormatError {
  return mpdError(job.where, `expands to ${count} segments (limit ${job.max})`, 'E_DASH_LIMIT');
}

class UriMaker {
  private readonly parts: TemplatePart[];
  constructor(
    template: string,
    private readonly base: string,
    where: string,
  ) {
    this.parts = compileTemplate(template, where);
  }
  make(number: number, time: number): string {
    return new URL(fillTemplate(this.parts, { Number: number, Time: time }), this.base).href;
  }
}

/** SegmentTemplate with @duration: $Number$ addressing (5.3.9.5.3). */
function numberSegments(job: Job, a: DashTemplateAddressing): void {
  const { period } = job;
  const durTicks = a.duration as number;
  const D = durTicks / a.timescale;
  let first = 0;
  let last: number;
  const inPeriod = period.duration !== undefined ? Math.ceil(period.duration / D - EPS) : undefined;
  if (job.mpd.type === 'static') {
    if (inPeriod === undefined) {
      throw mpdError(
        job.where,
        'cannot count $Number$ segments: no Period@duration or MPD@mediaPresentationDuration',
      );
    }
    last = inPeriod - 1;
  } else {
    const { elapsed } = liveNow(job);
    // availabilityTimeOffset="INF" (every segment available at once) cannot bound a live window: ignored.
    const ato = Number.isFinite(a.availabilityTimeOffset) ? a.availabilityTimeOffset : 0;
    // Segment k (0-based) spans [k*D, (k+1)*D) in the period and is available once it is complete (less the
    // availabilityTimeOffset), until timeShiftBufferDepth after that.
    last = Math.floor((elapsed + ato) / D + EPS) - 1;
    if (inPeriod !== undefined) last = Math.min(last, inPeriod - 1);
    const tsbd = job.mpd.timeShiftBufferDepth;
    if (tsbd !== undefined) first = Math.max(0, Math.ceil((elapsed - tsbd) / D - EPS) - 1);
  }
  if (a.endNumber !== undefined) last = Math.min(last, a.endNumber - a.startNumber);
  if (job.mpd.type === 'dynamic') job.out.liveEdge = period.start + Math.max(0, last + 1) * D;
  if (last < first) return;
  const count = last - first + 1;
  if (count > job.max) {
    if (job.mpd.type === 'static') throw tooMany(job, count);
    first = last - job.max + 1; // keep the newest: the live edge matters more than the oldest DVR segments
    job.out.truncated = true;
  }
  const maker = new UriMaker(a.media, a.base, `${job.where} SegmentTemplate@media`);
  for (let k = first; k <= last; k++) {
    const number = a.startNumber + k;
    const time = a.presentationTimeOffset + k * durTicks;
    const start = k * D;
    const duration = period.duration !== undefined ? Math.min(D, period.duration - start) : D;
    push(job, {
      key: `${job.keyPrefix}/n${number}`,
      uri: maker.make(number, time),
      start: period.start + start,
      duration,
      number,
      time,
    });
  }
}

interface Run {
  t: number;
  d: number;
  count: number;
  n?: number;
}

/** Expand S elements into runs of equal segments (5.3.9.6): t defaults to the previous end, r=-1 repeats. */
function timelineRuns(
  job: Job,
  entries: readonly DashTimelineEntry[],
  timescale: number,
  pto: number,
): Run[] {
  const { period } = job;
  const periodEnd = period.duration !== undefined ? pto + period.duration * timescale : undefined;
  let edge: number | undefined;
  const runs: Run[] = [];
  let next = 0;
  let total = 0;
  for (const [i, e] of entries.entries()) {
    const t = e.t ?? next;
    let count: number;
    if (e.r >= 0) {
      count = e.r + 1;
    } else {
      const following = entries[i + 1];
      let end: number | undefined;
      if (following?.t !== undefined) end = following.t;
      else if (following === undefined && periodEnd !== undefined) end = periodEnd;
      if (end !== undefined) {
        count = Math.max(0, Math.ceil((end - t) / e.d - EPS));
      } else if (job.mpd.type === 'dynamic' && following === undefined) {
        // Repeat up to the live edge: complete segments only.
        edge ??= pto + liveNow(job).elapsed * timescale;
        count = Math.max(0, Math.floor((edge - t) / e.d + EPS));
      } else {
        throw mpdError(job.where, 'SegmentTimeline S@r=-1 with no next S@t and no known period end');
      }
    }
    if (!Number.isSafeInteger(t + count * e.d)) throw mpdError(job.where, 'SegmentTimeline times overflow');
    total += count;
    if (total > job.max && job.mpd.type === 'static') throw tooMany(job, total);
    const run: Run = { t, d: e.d, count };
    if (e.n !== undefined) run.n = e.n;
    runs.push(run);
    next = t + count * e.d;
  }
  return runs;
}

/** SegmentTemplate with SegmentTimeline: $Time$ (or $Number$) addressing. */
function timelineSegments(job: Job, a: DashTemplateAddressing, entries: readonly DashTimelineEntry[]): void {
  const runs = timelineRuns(job, entries, a.timescale, a.presentationTimeOffset);
  const periodEnd =
    job.period.duration !== undefined
      ? a.presentationTimeOffset + job.period.duration * a.timescale
      : undefined;
  const total = runs.reduce((s, r) => s + r.count, 0);
  let skip = 0;
  if (total > job.max) {
    skip = total - job.max; // dynamic only (static threw): keep the newest
    job.out.truncated = true;
  }
  const maker = new UriMaker(a.media, a.base, `${job.where} SegmentTemplate@media`);
  let index = 0;
  let edge = 0;
  for (const run of runs) {
    if (skip >= run.count) {
      skip -= run.count;
      index += run.count;
      continue;
    }
    for (let j = skip; j < run.count; j++) {
      const time = run.t + j * run.d;
      // Static: segments past the end of the period are not part of it (5.3.9.6.1).
      if (job.mpd.type === 'static' && periodEnd !== undefined && time >= periodEnd - EPS) break;
      const number = run.n !== undefined ? run.n + j : a.startNumber + index + j;
      const start = job.period.start + (time - a.presentationTimeOffset) / a.timescale;
      push(job, {
        key: `${job.keyPrefix}/t${time}`,
        uri: maker.make(number, time),
        start,
        duration: run.d / a.timescale,
        number,
        time,
      });
      edge = start + run.d / a.timescale;
    }
    skip = 0;
    index += run.count;
  }
  if (job.mpd.type === 'dynamic') job.out.liveEdge = edge;
}

/** SegmentList: the listed SegmentURLs, timed by @duration or a SegmentTimeline. */
function listSegments(job: Job, a: DashListAddressing): void {
  const { period } = job;
  if (a.segments.length > job.max) throw tooMany(job, a.segments.length);
  let times: { start: number; duration: number }[] | undefined;
  if (a.timeline) {
    times = [];
    for (const run of timelineRuns(job, a.timeline, a.timescale, a.presentationTimeOffset)) {
      for (let j = 0; j < run.count && times.length < a.segments.length; j++) {
        const t = run.t + j * run.d;
        times.push({ start: (t - a.presentationTimeOffset) / a.timescale, duration: run.d / a.timescale });
      }
    }
  }
  const D = a.duration !== undefined ? a.duration / a.timescale : (period.duration ?? 0);
  a.segments.forEach((s, i) => {
    const number = a.startNumber + i;
    const tm = times?.[i] ?? { start: i * D, duration: D };
    const seg: Parameters<typeof push>[1] = {
      key: `${job.keyPrefix}/i${number}`,
      uri: s.uri,
      start: period.start + tm.start,
      duration: tm.duration,
      number,
    };
    if (s.byteRange) seg.byteRange = s.byteRange;
    push(job, seg);
  });
}

/**
 * Fill a SegmentBase list from its parsed sidx (ISO/IEC 14496-12 8.16.3): one byte-range segment per media
 * reference. Hierarchical indexes (references to further sidx boxes) are refused.
 */
export function segmentsFromSidx(
  mpd: DashManifest,
  rep: DashRepresentation,
  list: DashSegmentList,
  sidx: Sidx,
): DashSegmentList {
  const period = mpd.periods[rep.periodIndex];
  const a = rep.addressing;
  if (!period || a.kind !== 'base' || !list.index) {
    throw new UsageError(`representation ${rep.id} is not addressed by SegmentBase with an indexRange`, {
      code: 'E_DASH_REP',
    });
  }
  const periodKey = period.id !== undefined ? period.id : `@${period.start}`;
  const pto = a.presentationTimeOffset / a.timescale;
  const out: DashSegmentList = { ...list, segments: [] };
  for (const r of sidx.references) {
    if (r.type !== 'media') {
      throw new FormatError(
        `${list.index.uri}: the sidx references another sidx (hierarchical index); not supported`,
        {
          code: 'E_DASH_SIDX',
          offset: r.byteRange.offset,
        },
      );
    }
    const seg: DashSegment = {
      key: `${periodKey}/${rep.id}/b${r.byteRange.offset}`,
      uri: list.index.uri,
      byteRange: r.byteRange,
      start: period.start + r.start - pto,
      duration: r.duration,
      discontinuity: false,
      periodIndex: period.index,
      representationId: rep.id,
    };
    if (out.init) seg.init = out.init;
    out.segments.push(seg);
  }
  return out;
}

/**
 * One list from the lists of consecutive periods (one representation chosen per period), in order; the first
 * segment of each period after the first is marked as a discontinuity (timestamps and init may change).
 */
export function concatPeriods(lists: readonly DashSegmentList[]): DashSegment[] {
  const out: DashSegment[] = [];
  for (const list of [...lists].sort((x, y) => x.periodIndex - y.periodIndex)) {
    list.segments.forEach((s, i) => out.push(i === 0 && out.length > 0 ? { ...s, discontinuity: true } : s));
  }
  return out;
}

export interface DashLiveWindowOptions {
  /** Take the whole availability window (the DVR window) instead of starting near the live edge. */
  fromStart?: boolean;
  /**
   * Seconds behind the live edge to start. Default: MPD@suggestedPresentationDelay, else three segment
   * durations (as dash.js does, and as HLS clients do with target durations).
   */
  delay?: number;
}

/**
 * Which segments of an availability window to take first: all for static MPDs and `fromStart`; otherwise
 * from the last segment starting at least `delay` seconds before the live edge.
 */
export function dashLiveWindow(
  mpd: DashManifest,
  list: DashSegmentList,
  options: DashLiveWindowOptions = {},
): { segments: DashSegment[]; skipped: number } {
  const all = list.segments;
  const last = all[all.length - 1];
  if (mpd.type === 'static' || options.fromStart || !last) return { segments: all.slice(), skipped: 0 };
  const longest = all.reduce((m, s) => Math.max(m, s.duration), 0);
  const delay = options.delay ?? mpd.suggestedPresentationDelay ?? 3 * (mpd.maxSegmentDuration ?? longest);
  const edge = last.start + last.duration;
  let first = 0;
  for (let i = all.length - 1; i >= 0; i--) {
    if (edge - (all[i] as DashSegment).start >= delay - EPS) {
      first = i;
      break;
    }
  }
  return { segments: all.slice(first), skipped: first };
}

/**
 * When to reload a dynamic MPD: after MPD@minimumUpdatePeriod (5.4.1), at least 500 ms (a period of 0 means
 * "may change at any time", not "reload in a busy loop"). Undefined for static MPDs and for dynamic ones
 * without minimumUpdatePeriod, which will not change.
 */
export function dashRefreshDelayMs(mpd: DashManifest): number | undefined {
  if (mpd.type !== 'dynamic' || mpd.minimumUpdatePeriod === undefined) return undefined;
  return Math.max(500, mpd.minimumUpdatePeriod * 1000);
}
