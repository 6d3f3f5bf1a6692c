/**
 * A push demuxer for ISO-BMFF (ISO/IEC 14496-12): progressive MP4 (moov before or after mdat) and fragmented
 * MP4 (moov + moof/mdat pairs, CMAF), fed in chunks of any size.
 *
 * Only moov and moof boxes are buffered; mdat payloads (and every other box) are skipped as they stream by.
 * Samples come out as byte ranges (`offset`, `size`) of the input, once their last byte has been pushed,
 * in payload order. With the moov at the end of a progressive file every sample is already behind us when
 * the moov arrives, so they all come out then.
 *
 * Timestamps are the file's own: decode times start where the sample tables or tfdt say, and an edit list
 * is not applied but reported (`Mp4TrackInfo.edit`), so that a muxer can keep it.
 */
import { FormatError } from '../../core/errors.js';
import type { DemuxOutput, Demuxer, FormatWarning, Sample } from '../media.js';
import { boxHeaderLength, isPrintableType, peekBoxHeader, readBox } from './isobmff-boxes.js';
import { type FragTrackState, type MoofPlan, expandMoof, parseMoof } from './isobmff-fragment.js';
import {
  type Mp4Edit,
  type Mp4TrackInfo,
  type ParsedTrack,
  parseMoov,
  sttsDuration,
} from './isobmff-moov.js';
import { SampleTableCursor } from './isobmff-sample-table.js';
import { plainCopy, type Plain } from '../plain-copy.js';

/** DemuxOutput whose tracks carry what ISO-BMFF adds (the edit list, the input's track_ID). */
export interface IsobmffDemuxOutput extends DemuxOutput {
  tracks: Mp4TrackInfo[];
}

export interface IsobmffDemuxerOptions {
  /** Largest moov or moof to buffer, bytes (default 512 MiB); a bigger one is a FormatError. */
  maxBoxSize?: number;
}

/** Top-level box types that can start an ISO-BMFF file or segment stream (14496-12 Annex D, 8.16). */
const FIRST_BOXES = new Set([
  'ftyp',
  'styp',
  'moov',
  'moof',
  'mdat',
  'free',
  'skip',
  'wide',
  'pdin',
  'sidx',
  'emsg',
  'prft',
  'uuid',
  'meta',
]);

/**
 * True when `bytes` (the first bytes of an input, 8 or more) look like ISO-BMFF: a known first box with a
 * plausible size.
 */
export function sniffIsobmff(bytes: Uint8Array): boolean {
  if (bytes.length < 8) return false;
  const size =
    ((bytes[0] as number) << 24) |
    ((bytes[1] as number) << 16) |
    ((bytes[2] as number) << 8) |
    (bytes[3] as number);
  const type = String.fromCharCode(
    bytes[4] as number,
    bytes[5] as number,
    bytes[6] as number,
    bytes[7] as number,
  );
  if (!FIRST_BOXES.has(type)) return false;
  const s = size >>> 0;
  return s === 0 || s === 1 || s >= 8;
}

interface DemuxTrack extends FragTrackState {
  info: Mp4TrackInfo;
}

/** A progressive track being walked; `ready` when the cursor holds a sample not yet emitted. */
interface Walk {
  trackId: number;
  cursor: SampleTableCursor;
  ready: boolean;
  done: boolean;
}

type State = 'header' | 'buffer' | 'skip';

/**
 * What IsobmffDemuxer.snapshot() gives: everything the demuxer holds between two pushes, as plain data
 * (plain-copy.ts). Opaque to callers: they keep it, and give it back to IsobmffDemuxer.restore().
 */
export interface IsobmffDemuxerState {
  readonly kind: 'isobmff-demuxer';
  readonly v: 1;
  readonly fields: Plain;
}

/** The demuxer's own fields that snapshot() keeps as they are. */
const SNAPSHOT_FIELDS = [
  'pos',
  'state',
  'boxType',
  'boxStart',
  'remaining',
  'parts',
  'partsLen',
  'moovSeen',
  'emittedBytes',
  'warnedTracks',
] as const;

const MAX_HEADER = 32;

export class IsobmffDemuxer implements Demuxer {
  /** moov and moof bytes are copied as they are gathered; mdat bytes are never kept. */
  readonly copiesInput = true;
  private readonly maxBoxSize: number;
  /** Absolute offset of the next input byte. */
  private pos = 0;
  private state: State = 'header';
  private readonly hdr = new Uint8Array(MAX_HEADER);
  private hdrLen = 0;
  /** The box being buffered or skipped. */
  private boxType = '';
  private boxStart = 0;
  /** Bytes of the current box still to come; Infinity for a size-0 box (to the end of the input). */
  private remaining = 0;
  private parts: Uint8Array[] = [];
  private partsLen = 0;

  private moovSeen = false;
  private readonly trackList: DemuxTrack[] = [];
  private readonly byFileId = new Map<number, DemuxTrack>();
  private walks: Walk[] = [];
  private pendingMoof: MoofPlan | undefined;
  private queue: Sample[] = [];
  private queueHead = 0;
  private out: IsobmffDemuxOutput = emptyOutput();
  /** Payload bytes of all samples emitted; more than the input holds means tables that overlap or lie. */
  private emittedBytes = 0;
  private readonly warnedTracks = new Set<number>();
  private failed: unknown;

  constructor(options: IsobmffDemuxerOptions = {}) {
    this.maxBoxSize = options.maxBoxSize ?? 512 * 1024 * 1024;
  }

  /**
   * Everything this demuxer holds now, between two pushes, as plain data, or undefined while the samples of
   * a progressive MP4 are being walked (its sample tables are not copied). Given to restore(), it makes a
   * demuxer that goes on exactly as this one would. Made for recordings, like MpegtsDemuxer.snapshot():
   * after a whole fMP4 segment it holds the tracks and the decode time that goes on (a few kB).
   */
  snapshot(): IsobmffDemuxerState | undefined {
    this.guard();
    if (this.walks.length > 0) return undefined;
    const fields: Record<string, unknown> = { hdr: this.hdr.slice(0, this.hdrLen) };
    for (const k of SNAPSHOT_FIELDS) fields[k] = this[k];
    fields.tracks = this.trackList;
    // Samples whose bytes have not all come yet (they point into the input by offset).
    fields.queue = this.queue.slice(this.queueHead);
    // A moof whose mdat has not begun: its bytes, parsed again by restore().
    if (this.pendingMoof) fields.moof = { start: this.pendingMoof.start, data: this.pendingMoof.data };
    return { kind: 'isobmff-demuxer', v: 1, fields: plainCopy(fields) };
  }

  /**
   * Whether samples still to come point into bytes already pushed (a moof waiting for its mdat, samples
   * waiting for the rest of theirs): a caller that keeps the input only while samples may point into it
   * must keep it then.
   */
  holdsInput(): boolean {
    return this.pendingMoof !== undefined || this.queueHead < this.queue.length || this.walks.length > 0;
  }

  /** A demuxer that goes on from a snapshot() (with the same options as the one that made it). */
  static restore(state: IsobmffDemuxerState, options: IsobmffDemuxerOptions = {}): IsobmffDemuxer {
    if (state?.kind !== 'isobmff-demuxer' || state.v !== 1)
      throw new RangeError('IsobmffDemuxer.restore: not a snapshot of this demuxer');
    const d = new IsobmffDemuxer(options);
    const f = plainCopy(state.fields) as Record<string, unknown>;
    const self = d as unknown as Record<string, unknown>;
    for (const k of SNAPSHOT_FIELDS) self[k] = f[k];
    const hdr = f.hdr as Uint8Array;
    d.hdr.set(hdr);
    d.hdrLen = hdr.length;
    for (const t of f.tracks as DemuxTrack[]) {
      d.trackList.push(t);
      d.byFileId.set(t.fileTrackId, t);
    }
    d.queue = f.queue as Sample[];
    const moof = f.moof as { start: number; data: Uint8Array } | undefined;
    // Its warnings were given when it was parsed first.
    if (moof) d.pendingMoof = parseMoof(moof.data, moof.start, d.byFileId, [], d.warnedTracks);
    return d;
  }

  /** The tracks found so far (renumbered 1..n in moov order). */
  get tracks(): readonly Mp4TrackInfo[] {
    return this.trackList.map((t) => t.info);
  }

  /** The edit list of a track, when the input had one. */
  edit(trackId: number): Mp4Edit | undefined {
    return this.trackList[trackId - 1]?.info.edit;
  }

  /**
   * How many of the next input bytes this demuxer would pass over unread (the rest of an mdat or of another
   * skipped box). A reader that can seek may jump over them and call `skipAhead()` instead of pushing them: the
   * remux of a progressive or fragmented MP4 then reads only its moov and moofs.
   */
  skippable(): number {
    return this.failed === undefined && this.state === 'skip' && this.remaining !== Infinity
      ? this.remaining
      : 0;
  }

  /** Bytes still to come of the box being gathered (moov, moof), or of the box header being read. */
  wanted(): number {
    if (this.state === 'buffer') return this.remaining === Infinity ? 0 : this.remaining;
    if (this.state === 'header')
      return Math.max(0, (this.hdrLen < 8 ? 8 : boxHeaderLength(this.hdr, 0)) - this.hdrLen);
    return 0;
  }

  /** Account for `n` bytes (at most `skippable()`) that the reader jumped over. */
  skipAhead(n: number): IsobmffDemuxOutput {
    this.guard();
    if (n < 0 || n > this.skippable())
      throw new RangeError(`skipAhead(${n}): only ${this.skippable()} bytes are skippable`);
    this.pos += n;
    this.remaining -= n;
    if (this.remaining === 0) this.state = 'header';
    this.drain(false);
    return this.take();
  }

  push(chunk: Uint8Array): IsobmffDemuxOutput {
    this.guard();
    try {
      this.consume(chunk);
      this.drain(false);
    } catch (err) {
      this.failed = err;
      throw err;
    }
    return this.take();
  }

  end(): IsobmffDemuxOutput {
    this.guard();
    try {
      this.finish();
    } catch (err) {
      this.failed = err;
      throw err;
    }
    return this.take();
  }

  private guard(): void {
    if (this.failed !== undefined) throw this.failed;
  }

  private take(): IsobmffDemuxOutput {
    const o = this.out;
    this.out = emptyOutput();
    return o;
  }

  private warn(w: FormatWarning): void {
    this.out.warnings.push(w);
  }

  private consume(chunk: Uint8Array): void {
    let i = 0;
    const n = chunk.length;
    while (i < n) {
      if (this.state === 'skip') {
        const take = Math.min(this.remaining, n - i);
        i += take;
        this.pos += take;
        this.remaining -= take;
        if (this.remaining === 0) this.state = 'header';
        continue;
      }
      if (this.state === 'buffer') {
        const take = Math.min(this.remaining, n - i);
        // A copy: the caller may reuse its chunk buffer once push() returns.
        this.parts.push(chunk.slice(i, i + take));
        this.partsLen += take;
        i += take;
        this.pos += take;
        this.remaining -= take;
        if (this.partsLen > this.maxBoxSize) {
          throw new FormatError(`'${this.boxType}' box is larger than ${this.maxBoxSize} bytes`, {
            code: 'E_MP4_BOX_TOO_LARGE',
            offset: this.boxStart,
          });
        }
        if (this.remaining === 0) {
          this.state = 'header';
          this.boxDone();
        }
        continue;
      }
      // header: gather 8 bytes, then as many as the header needs (largesize, uuid).
      const want = this.hdrLen < 8 ? 8 : boxHeaderLength(this.hdr, 0);
      const take = Math.min(want - this.hdrLen, n - i);
      this.hdr.set(chunk.subarray(i, i + take), this.hdrLen);
      this.hdrLen += take;
      i += take;
      this.pos += take;
      if (this.hdrLen < 8 || this.hdrLen < boxHeaderLength(this.hdr, 0)) continue;
      this.headerDone();
    }
  }

  private headerDone(): void {
    const start = this.pos - this.hdrLen;
    if (!isPrintableType(this.hdr, 4)) {
      throw new FormatError('not an ISO-BMFF box: the box type is not four printable characters', {
        code: start === 0 ? 'E_MP4_NOT_ISOBMFF' : 'E_MP4_BOX_TYPE',
        offset: start,
      });
    }
    const h = peekBoxHeader(this.hdr, 0, this.hdrLen, start);
    if (!h) return; // unreachable: the caller gathered the whole header
    const headerBytes = this.hdr.slice(0, this.hdrLen);
    this.hdrLen = 0;
    this.boxType = h.type;
    this.boxStart = start;
    this.remaining = h.size === -1 ? Infinity : h.size - h.headerSize;

    if (this.pendingMoof) {
      // The fragment's data is in the mdat that follows its moof (8.8.4): its end bounds the trun counts.
      const limit = h.type === 'mdat' && h.size !== -1 ? start + h.size : Infinity;
      this.flushMoof(limit);
    }

    if (h.type === 'moov' || h.type === 'moof') {
      if (h.size > this.maxBoxSize) {
        throw new FormatError(`'${h.type}' box of ${h.size} bytes is larger than ${this.maxBoxSize} bytes`, {
          code: 'E_MP4_BOX_TOO_LARGE',
          offset: start,
        });
      }
      if (h.type === 'moof' && !this.moovSeen) {
        throw new FormatError(
          'movie fragment before any moov box: a fragmented input needs its init segment first',
          {
            code: 'E_MP4_NO_MOOV',
            offset: start,
          },
        );
      }
      this.state = 'buffer';
      this.parts = [headerBytes];
      this.partsLen = headerBytes.length;
      if (this.remaining === 0) {
        this.state = 'header';
        this.boxDone();
      }
      return;
    }
    this.state = this.remaining === 0 ? 'header' : 'skip';
  }

  /** A moov or moof has been buffered completely. */
  private boxDone(): void {
    const data = concat(this.parts, this.partsLen);
    this.parts = [];
    this.partsLen = 0;
    if (this.boxType === 'moov') this.onMoov(data, this.boxStart);
    else this.onMoof(data, this.boxStart);
  }

  private onMoov(data: Uint8Array, start: number): void {
    const box = readBox(data, 0, data.length, start);
    const parsed = parseMoov(data, box, start);
    for (const w of parsed.warnings) this.warn(w);
    if (this.moovSeen) {
      // A repeated init segment (a live stream re-sends it): keep the tracks, re-announce changed configs.
      for (const p of parsed.tracks) {
        const t = this.byFileId.get(p.fileTrackId);
        if (!t) continue;
        t.trex = p.trex;
        if (!sameBytes(t.info.config, p.info.config)) {
          p.info.id = t.id;
          t.info = p.info;
          this.out.tracks.push(p.info);
        }
      }
      return;
    }
    this.moovSeen = true;
    for (const p of parsed.tracks) {
      const t: DemuxTrack = {
        id: p.info.id,
        fileTrackId: p.fileTrackId,
        trex: p.trex,
        nextDts: p.tables ? sttsDuration(data, p.tables.stts.at, p.tables.stts.count) : 0,
        info: p.info,
      };
      this.trackList.push(t);
      this.byFileId.set(p.fileTrackId, t);
      this.out.tracks.push(p.info);
      if (p.tables) this.walks.push(this.walkOf(data, p));
    }
    if (this.trackList.length === 0) {
      this.warn({
        code: 'W_MP4_NO_TRACKS',
        message: 'the moov has no audio or video track castkit can read',
        offset: start,
      });
    }
  }

  private walkOf(data: Uint8Array, p: ParsedTrack): Walk {
    return { trackId: p.info.id, cursor: new SampleTableCursor(data, p.tables!), ready: false, done: false };
  }

  private onMoof(data: Uint8Array, start: number): void {
    this.pendingMoof = parseMoof(data, start, this.byFileId, this.out.warnings, this.warnedTracks);
  }

  private flushMoof(limit: number): void {
    const plan = this.pendingMoof;
    if (!plan) return;
    this.pendingMoof = undefined;
    const samples = expandMoof(plan, limit);
    if (this.queueHead > 0 && this.queueHead === this.queue.length) {
      this.queue = [];
      this.queueHead = 0;
    }
    // Indexed: once per sample, mostly before the JIT gets to it.
    for (let i = 0; i < samples.length; i++) this.queue.push(samples[i] as Sample);
  }

  /**
   * Emit every sample whose bytes have all been pushed: progressive samples first (merged across tracks in
   * payload order), then fragment samples. With `final`, stop at nothing that is still missing.
   */
  private drain(final: boolean): void {
    const limit = this.pos;
    const out = this.out.samples;
    while (this.walks.length > 0) {
      let best: Walk | undefined;
      for (const w of this.walks) {
        if (!w.ready && !w.done) {
          if (w.cursor.next()) w.ready = true;
          else {
            w.done = true;
            if (w.cursor.shortBy > 0) {
              this.warn({
                code: 'W_MP4_SHORT_TABLES',
                message: `track ${w.trackId}: the sample tables describe ${w.cursor.shortBy} fewer samples than stsz counts`,
              });
            }
          }
        }
        if (w.ready && (!best || w.cursor.offset < best.cursor.offset)) best = w;
      }
      if (!best) {
        this.walks = [];
        break;
      }
      const c = best.cursor;
      if (c.offset + c.size > limit) {
        if (!final) return;
        // The input ended before these samples' bytes: a truncated file. Say how many are lost (from the
        // declared counts: walking a lying table to its end could take forever).
        let lost = 0;
        for (const w of this.walks) {
          if (!w.done) lost += w.cursor.sampleCount - w.cursor.index - (w.ready ? 0 : 1);
          w.done = true;
          w.ready = false;
        }
        this.warn({
          code: 'W_MP4_TRUNCATED',
          message: `${lost} samples lie past the end of the input: dropped`,
          offset: limit,
        });
        this.walks = [];
        break;
      }
      this.account(c.size, c.offset);
      out.push({
        trackId: best.trackId,
        dts: c.dts,
        cts: c.cts,
        duration: c.duration,
        keyframe: c.keyframe,
        size: c.size,
        offset: c.offset,
      });
      best.ready = false;
    }
    const q = this.queue;
    let h = this.queueHead;
    while (h < q.length) {
      const s = q[h] as Sample;
      if ((s.offset as number) + s.size > limit) break;
      this.account(s.size, s.offset as number);
      out.push(s);
      h++;
    }
    this.queueHead = h;
    if (final && h < q.length) {
      this.warn({
        code: 'W_MP4_TRUNCATED',
        message: `${q.length - h} fragment samples lie past the end of the input: dropped`,
        offset: limit,
      });
      this.queueHead = q.length;
    }
    if (h > 4096 && h * 2 > q.length) {
      this.queue = q.slice(h);
      this.queueHead = 0;
    }
  }

  /**
   * Samples of a sane file never share bytes, so their sizes add up to at most the input's size. Checking
   * this bounds the work a hostile table can cause (chunks that all point at the same bytes, a fixed
   * sample size with a huge count) to the size of the input.
   */
  private account(size: number, offset: number): void {
    this.emittedBytes += size;
    if (this.emittedBytes > this.pos) {
      throw new FormatError('the sample tables describe more payload bytes than the input holds', {
        code: 'E_MP4_OVERLAP',
        offset,
      });
    }
  }

  private finish(): void {
    if (this.state === 'header' && this.hdrLen > 0) {
      this.warn({
        code: 'W_MP4_TRAILING',
        message: `${this.hdrLen} trailing bytes too short for a box header: ignored`,
        offset: this.pos - this.hdrLen,
      });
      this.hdrLen = 0;
    } else if (this.state === 'buffer') {
      if (this.remaining === Infinity) {
        this.state = 'header';
        this.boxDone();
      } else if (this.boxType === 'moov') {
        throw new FormatError(`truncated moov box: ${this.remaining} bytes missing`, {
          code: 'E_MP4_TRUNCATED',
          offset: this.boxStart,
        });
      } else {
        this.warn({
          code: 'W_MP4_TRUNCATED',
          message: `truncated moof box (${this.remaining} bytes missing): its fragment is dropped`,
          offset: this.boxStart,
        });
      }
    } else if (this.state === 'skip' && this.remaining !== Infinity) {
      this.warn({
        code: 'W_MP4_TRUNCATED',
        message: `truncated '${this.boxType}' box: ${this.remaining} bytes missing`,
        offset: this.boxStart,
      });
    }
    this.state = 'header';
    this.remaining = 0;
    if (!this.moovSeen) {
      throw new FormatError(
        this.pos === 0 ? 'empty input' : 'no moov box: not a complete MP4 (or the init segment is missing)',
        { code: 'E_MP4_NO_MOOV', offset: this.pos },
      );
    }
    this.flushMoof(this.pos);
    this.drain(true);
  }
}

function emptyOutput(): IsobmffDemuxOutput {
  return { tracks: [], samples: [], warnings: [] };
}

function concat(parts: Uint8Array[], total: number): Uint8Array {
  if (parts.length === 1) return parts[0] as Uint8Array;
  const out = new Uint8Array(total);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Demux a whole buffer at once (tests, small inputs). */
export function demuxIsobmff(data: Uint8Array, options?: IsobmffDemuxerOptions): IsobmffDemuxOutput {
  const d = new IsobmffDemuxer(options);
  const a = d.push(data);
  const b = d.end();
  return {
    tracks: [...a.tracks, ...b.tracks],
    samples: a.samples.concat(b.samples),
    warnings: [...a.warnings, ...b.warnings],
  };
}
