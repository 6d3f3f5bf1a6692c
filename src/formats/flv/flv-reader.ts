/**
 * A push reader of FLV tags (FLV spec v10.1 Annex E): the file header (E.2), then tags (E.4.1) each
 * followed by its PreviousTagSize (E.3). It hands every complete, checked tag to a sink and never copies a
 * tag body unless the body straddles two pushed chunks and the sink needs it whole (script data and
 * sequence headers, which are small).
 *
 * Damage is repaired where that is sensible and always reported:
 * - PreviousTagSize differs from 11 + DataSize: if a plausible tag header follows, only the size field is
 *   wrong and the tag is kept; otherwise the tag's DataSize is wrong, the tag is dropped and the reader
 *   resyncs by scanning forward from the byte after its start for a tag header whose own PreviousTagSize
 *   confirms it.
 * - A tag running past the end of the input is dropped (the scan above still looks inside it).
 * Only a missing or wrong file signature is fatal (FormatError).
 *
 * Memory: the reader keeps the pushed chunks that hold the current tag (at most one tag, <= 16 MiB, plus
 * chunk granularity) and drops the rest.
 */
import { readU32 } from '../../core/bytes.js';
import { FormatError } from '../../core/errors.js';
import type { FormatWarning } from '../media.js';
import {
  FLV_HEADER_SIZE,
  newMediaHeader,
  PACKET_CONFIG,
  parseAudioHeader,
  parseVideoHeader,
  plausibleTagHeader,
  TAG_AUDIO,
  TAG_HEADER_SIZE,
  TAG_SCRIPT,
  TAG_VIDEO,
  tagTimestamp,
  u24,
  type MediaHeader,
} from './flv-tags.js';

/** One tag, as handed to the sink. The object is reused: copy what you keep. */
export interface FlvTagView {
  /** TagType: 8 audio, 9 video, 18 script data. */
  type: number;
  /** Timestamp in ms, with TimestampExtended (E.4.1). */
  timestamp: number;
  /** Absolute input offset of the tag header. */
  tagOffset: number;
  /** Absolute input offset of the tag body (tagOffset + 11). */
  bodyOffset: number;
  dataSize: number;
  /** Bytes holding the body from index `at`; valid during the callback only. */
  buf: Uint8Array;
  at: number;
  /** Body bytes readable in `buf` from `at`: all of them for script data and configs, else >= 16 or all. */
  avail: number;
  /** The audio/video header, parsed (meaningless for script tags). */
  media: MediaHeader;
  /** The tag's PreviousTagSize was present and equal to 11 + DataSize. */
  sizeOk: boolean;
  /** The header's StreamID was 0 and TagType had no reserved or filter bit. */
  headerClean: boolean;
}

export interface FlvTagSink {
  tag(t: FlvTagView): void;
  warning(w: FormatWarning): void;
}

export interface FlvFileHeader {
  version: number;
  hasAudio: boolean;
  hasVideo: boolean;
  /** DataOffset: where the first PreviousTagSize starts. */
  dataOffset: number;
}

const S_HEADER = 0;
const S_PTS0 = 1;
const S_TAG = 2;
const S_RESYNC = 3;
const S_DONE = 4;

/** Body bytes parsed before deciding whether the whole body is needed (covers every header handled). */
const PREFIX = 16;
/** Per warning code, how many are reported before the rest are only counted. */
const WARN_LIMIT = 20;

export class FlvTagReader {
  header: FlvFileHeader | undefined;

  private chunks: Uint8Array[] = [];
  private starts: number[] = [];
  private dataEnd = 0;
  /** The input length the reader is waiting for: pushes that do not reach it are only queued. */
  private need = 0;
  private pos = 0;
  private state = S_HEADER;
  private ended = false;
  private resyncFrom = 0;
  private resyncOrigin = 0;
  private resyncQuiet = false;
  private vb: Uint8Array = new Uint8Array(0);
  private va = 0;
  private readonly view: FlvTagView = {
    type: 0,
    timestamp: 0,
    tagOffset: 0,
    bodyOffset: 0,
    dataSize: 0,
    buf: new Uint8Array(0),
    at: 0,
    avail: 0,
    media: newMediaHeader(),
    sizeOk: true,
    headerClean: true,
  };
  private readonly warnCounts = new Map<string, number>();
  private sink: FlvTagSink | undefined;

  /** Absolute offset of the next byte the reader will look at. */
  get position(): number {
    return this.pos;
  }

  push(chunk: Uint8Array, sink: FlvTagSink): void {
    if (this.ended) throw new RangeError('FlvTagReader: push() after end()');
    if (chunk.length > 0) {
      this.chunks.push(chunk);
      this.starts.push(this.dataEnd);
      this.dataEnd += chunk.length;
    }
    // A tag arriving in many small pieces is parsed once, not once per piece.
    if (this.dataEnd >= this.need) {
      this.sink = sink;
      this.run();
      this.sink = undefined;
    }
    this.ownRetained(chunk);
  }

  /**
   * The caller may reuse its chunk once push() returns: what is still needed of it (an incomplete tag) is
   * kept as a copy. Bytes before the reading position are never looked at again.
   */
  private ownRetained(chunk: Uint8Array): void {
    const k = this.chunks.length - 1;
    if (k < 0 || this.chunks[k] !== chunk) return;
    const start = this.starts[k] as number;
    const lowest = this.state === S_RESYNC ? Math.min(this.pos, this.resyncFrom) : this.pos;
    const from = Math.min(chunk.length, Math.max(0, lowest - start));
    this.chunks[k] = chunk.slice(from);
    this.starts[k] = start + from;
  }

  end(sink: FlvTagSink): void {
    if (this.ended) return;
    this.ended = true;
    this.sink = sink;
    this.run();
    for (const [code, n] of this.warnCounts) {
      if (n > WARN_LIMIT) {
        sink.warning({ code, message: `${n - WARN_LIMIT} more warnings of this kind were not reported` });
      }
    }
    this.sink = undefined;
    this.chunks = [];
    this.starts = [];
  }

  private warn(code: string, message: string, offset: number): void {
    const n = (this.warnCounts.get(code) ?? 0) + 1;
    this.warnCounts.set(code, n);
    if (n <= WARN_LIMIT) this.sink?.warning({ code, message, offset });
  }

  /**
   * Makes bytes [p, p + n) addressable as this.vb[this.va ...]. False when they have not all arrived.
   * Copies only when the range straddles chunks.
   */
  private avail(p: number, n: number): boolean {
    if (p + n > this.dataEnd) {
      this.need = p + n;
      return false;
    }
    const chunks = this.chunks;
    const starts = this.starts;
    for (let i = 0; i < chunks.length; i++) {
      const c = chunks[i] as Uint8Array;
      const s = starts[i] as number;
      if (p >= s + c.length) continue;
      if (p < s) throw new RangeError(`FlvTagReader: byte ${p} was already released`);
      if (p + n <= s + c.length) {
        this.vb = c;
        this.va = p - s;
        return true;
      }
      const copy = new Uint8Array(n);
      let done = 0;
      for (let j = i; done < n && j < chunks.length; j++) {
        const cj = chunks[j] as Uint8Array;
        const from = j === i ? p - s : 0;
        const take = Math.min(cj.length - from, n - done);
        copy.set(cj.subarray(from, from + take), done);
        done += take;
      }
      this.vb = copy;
      this.va = 0;
      return true;
    }
    return n === 0;
  }

  /** Drops chunks that end at or before `p`. */
  private release(p: number): void {
    let k = 0;
    while (k < this.chunks.length && (this.starts[k] as number) + (this.chunks[k] as Uint8Array).length <= p)
      k++;
    if (k > 0) {
      this.chunks.splice(0, k);
      this.starts.splice(0, k);
    }
  }

  private run(): void {
    for (;;) {
      let progressed: boolean;
      switch (this.state) {
        case S_HEADER:
          progressed = this.readHeader();
          break;
        case S_PTS0:
          progressed = this.readPts0();
          break;
        case S_TAG:
          this.readCleanTags();
          progressed = this.readTag();
          break;
        case S_RESYNC:
          progressed = this.resync();
          break;
        default:
          return;
      }
      if (!progressed) return;
    }
  }

  private readHeader(): boolean {
    if (!this.avail(0, FLV_HEADER_SIZE)) {
      if (!this.ended) {
        // Reject a wrong signature as soon as its bytes are in, without waiting for all 9.
        if (this.dataEnd > 0) this.checkSignature(Math.min(3, this.dataEnd));
        return false;
      }
      if (this.dataEnd === 0) throw new FormatError('FLV: empty input', { code: 'E_FLV_EMPTY', offset: 0 });
      this.checkSignature(Math.min(3, this.dataEnd));
      throw new FormatError(`FLV: file header truncated (${this.dataEnd} of 9 bytes)`, {
        code: 'E_FLV_TRUNCATED',
        offset: 0,
      });
    }
    this.checkSignature(3);
    this.avail(0, FLV_HEADER_SIZE); // checkSignature moved the view
    const b = this.vb;
    const a = this.va;
    const version = b[a + 3] as number;
    const flags = b[a + 4] as number;
    let dataOffset = readU32(b, a + 5);
    if (version !== 1) this.warn('E_FLV_VERSION', `FLV version ${version}, expected 1; reading anyway`, 3);
    if (dataOffset < FLV_HEADER_SIZE) {
      this.warn(
        'E_FLV_DATA_OFFSET',
        `DataOffset ${dataOffset} is smaller than the 9-byte header; using 9`,
        5,
      );
      dataOffset = FLV_HEADER_SIZE;
    }
    // E.2: TypeFlagsAudio is bit 2, TypeFlagsVideo bit 0.
    this.header = { version, hasAudio: (flags & 4) !== 0, hasVideo: (flags & 1) !== 0, dataOffset };
    this.pos = dataOffset;
    this.release(this.pos);
    this.state = S_PTS0;
    return true;
  }

  private checkSignature(n: number): void {
    if (!this.avail(0, n)) return;
    const sig = [0x46, 0x4c, 0x56]; // "FLV"
    for (let i = 0; i < n; i++) {
      if (this.vb[this.va + i] !== sig[i]) {
        throw new FormatError('FLV: no "FLV" signature at the start: not an FLV file', {
          code: 'E_FLV_SIGNATURE',
          offset: i,
        });
      }
    }
  }

  private readPts0(): boolean {
    if (!this.avail(this.pos, 4)) {
      if (!this.ended) return false;
      if (this.dataEnd > this.pos)
        this.warn('E_FLV_TRUNCATED_TAG', 'input ends inside PreviousTagSize0', this.pos);
      this.state = S_DONE;
      return false;
    }
    const b = this.vb;
    const a = this.va;
    if (((b[a] as number) | (b[a + 1] as number) | (b[a + 2] as number) | (b[a + 3] as number)) !== 0) {
      this.warn('E_FLV_PREVIOUS_TAG_SIZE', 'PreviousTagSize0 is not 0', this.pos);
    }
    this.pos += 4;
    this.release(this.pos);
    this.state = S_TAG;
    return true;
  }

  private startResync(from: number, quiet: boolean): void {
    this.state = S_RESYNC;
    this.resyncFrom = from;
    this.resyncOrigin = from;
    this.resyncQuiet = quiet;
  }

  /**
   * The hot path: hands out, straight from the newest chunk, the run of tags from this.pos that lie whole
   * in it with the PreviousTagSize they should have and a plain TagType. readTag() does the same for one
   * tag at a time through avail(), and takes over at anything else (a tag straddling chunks, the input's
   * end, damage), so both give the sink the same views.
   */
  private readCleanTags(): void {
    const k = this.chunks.length - 1;
    if (k < 0) return;
    const c = this.chunks[k] as Uint8Array;
    const s = this.starts[k] as number;
    let a = this.pos - s;
    if (a < 0) return;
    const n = c.length;
    const t = this.view;
    const start = a;
    while (a + TAG_HEADER_SIZE <= n) {
      const type = c[a] as number;
      if (type !== TAG_AUDIO && type !== TAG_VIDEO && type !== TAG_SCRIPT) break;
      const size = u24(c, a + 1);
      const end = a + TAG_HEADER_SIZE + size;
      if (end + 4 > n) break;
      if (readU32(c, end) !== size + TAG_HEADER_SIZE) break;
      const body = a + TAG_HEADER_SIZE;
      if (type === TAG_VIDEO) parseVideoHeader(c, body, size, size, t.media);
      else if (type === TAG_AUDIO) parseAudioHeader(c, body, size, size, t.media);
      const clean = ((c[a + 8] as number) | (c[a + 9] as number) | (c[a + 10] as number)) === 0;
      this.fillView(type, tagTimestamp(c, a), s + a, size, c, body, size, true, clean);
      this.pos = s + end + 4;
      this.sink?.tag(t);
      a = end + 4;
    }
    if (a > start) this.release(this.pos);
  }

  /** Reads the tag at this.pos; false when it must wait for more input (or the input is done). */
  private readTag(): boolean {
    const p = this.pos;
    if (!this.avail(p, TAG_HEADER_SIZE)) {
      if (this.ended) {
        const left = this.dataEnd - p;
        if (left > 0) {
          this.warn('E_FLV_TRUNCATED_TAG', `input ends ${left} bytes into a tag header; dropped`, p);
        }
        this.state = S_DONE;
      }
      return false;
    }
    let b = this.vb;
    let a = this.va;
    const typeByte = b[a] as number;
    const type = typeByte & 0x1f;
    const size = u24(b, a + 1);
    const timestamp = tagTimestamp(b, a);
    const streamIdZero = ((b[a + 8] as number) | (b[a + 9] as number) | (b[a + 10] as number)) === 0;
    if ((typeByte & 0xc0) !== 0 || (type !== TAG_AUDIO && type !== TAG_VIDEO && type !== TAG_SCRIPT)) {
      this.warn('E_FLV_BAD_TAG', `byte 0x${typeByte.toString(16)} is not a tag type; resyncing`, p);
      this.startResync(p + 1, false);
      return true;
    }
    const end = p + TAG_HEADER_SIZE + size;
    const prefix = size < PREFIX ? size : PREFIX;
    if (!this.avail(p + TAG_HEADER_SIZE, prefix)) return this.pastEnd(p, size);
    b = this.vb;
    a = this.va;
    const t = this.view;
    const encrypted = (typeByte & 0x20) !== 0;
    let needAll = type === TAG_SCRIPT;
    if (type === TAG_VIDEO) {
      parseVideoHeader(b, a, prefix, size, t.media);
      needAll = t.media.packet === PACKET_CONFIG;
    } else if (type === TAG_AUDIO) {
      parseAudioHeader(b, a, prefix, size, t.media);
      needAll = t.media.packet === PACKET_CONFIG;
    }
    if (encrypted) needAll = false;
    let bodyAvail = prefix;
    if (needAll && size > prefix) {
      if (!this.avail(p + TAG_HEADER_SIZE, size)) return this.pastEnd(p, size);
      b = this.vb;
      a = this.va;
      bodyAvail = size;
    }
    let sizeOk = true;
    let next = end + 4;
    if (!this.avail(end, 4)) {
      if (!this.ended) return false;
      if (this.dataEnd < end) return this.pastEnd(p, size);
      // The body is complete; only the last PreviousTagSize is missing (a recording cut short).
      this.warn('E_FLV_NO_PREVIOUS_TAG_SIZE', 'the last tag has no PreviousTagSize; kept', end);
      sizeOk = false;
      next = this.dataEnd;
    } else {
      const prev = readU32(this.vb, this.va);
      if (prev !== size + TAG_HEADER_SIZE) {
        // Decide who is wrong: the size field, or the tag's DataSize (then the next header is not where
        // DataSize says it is).
        if (this.avail(next, TAG_HEADER_SIZE)) {
          if (!plausibleTagHeader(this.vb, this.va)) {
            this.warn(
              'E_FLV_PREVIOUS_TAG_SIZE',
              `PreviousTagSize ${prev} after the tag at ${p} should be ${size + TAG_HEADER_SIZE} and no tag follows; tag dropped, resyncing`,
              end,
            );
            this.startResync(p + 1, false);
            return true;
          }
        } else if (!this.ended) return false;
        this.warn(
          'E_FLV_PREVIOUS_TAG_SIZE',
          `PreviousTagSize ${prev} after the tag at ${p} should be ${size + TAG_HEADER_SIZE}; tag kept`,
          end,
        );
        sizeOk = false;
      }
    }
    this.fillView(type, timestamp, p, size, b, a, bodyAvail, sizeOk, streamIdZero && typeByte === type);
    if (encrypted) {
      this.warn('E_FLV_ENCRYPTED', 'encrypted tag (Filter bit set) dropped', p);
    } else {
      this.sink?.tag(t);
    }
    this.pos = next;
    this.release(next);
    return true;
  }

  /** Sets the view handed to the sink (its media header is parsed into it beforehand). */
  private fillView(
    type: number,
    timestamp: number,
    tagOffset: number,
    size: number,
    buf: Uint8Array,
    at: number,
    avail: number,
    sizeOk: boolean,
    headerClean: boolean,
  ): void {
    const t = this.view;
    t.type = type;
    t.timestamp = timestamp;
    t.tagOffset = tagOffset;
    t.bodyOffset = tagOffset + TAG_HEADER_SIZE;
    t.dataSize = size;
    t.buf = buf;
    t.at = at;
    t.avail = avail;
    t.sizeOk = sizeOk;
    t.headerClean = headerClean;
  }

  /** The tag at p does not fit in the input (known only once the input has ended). */
  private pastEnd(p: number, size: number): boolean {
    if (!this.ended) return false;
    this.warn(
      'E_FLV_TAG_PAST_END',
      `tag of ${size} bytes runs past the end of the input (${this.dataEnd - p - TAG_HEADER_SIZE} body bytes present); dropped`,
      p,
    );
    // The declared size may be the damage: look inside for later tags, quietly.
    this.startResync(p + 1, true);
    return true;
  }

  /**
   * Scans forward for a tag header whose own PreviousTagSize matches its DataSize, so that a random
   * match inside payload bytes is not taken for a tag.
   */
  private resync(): boolean {
    let c = this.resyncFrom;
    for (;;) {
      if (!this.avail(c, TAG_HEADER_SIZE)) {
        if (!this.ended) {
          this.resyncFrom = c;
          this.release(c);
          return false;
        }
        if (!this.resyncQuiet) {
          this.warn(
            'E_FLV_RESYNC_FAILED',
            `no valid tag found after byte ${this.resyncOrigin}; ${this.dataEnd - this.resyncOrigin} bytes skipped`,
            this.resyncOrigin,
          );
        }
        this.state = S_DONE;
        return false;
      }
      if (plausibleTagHeader(this.vb, this.va)) {
        const size = u24(this.vb, this.va + 1);
        const end = c + TAG_HEADER_SIZE + size;
        if (this.avail(end, 4)) {
          const b = this.vb;
          const a = this.va;
          const prev =
            (((b[a] as number) << 24) |
              ((b[a + 1] as number) << 16) |
              ((b[a + 2] as number) << 8) |
              (b[a + 3] as number)) >>>
            0;
          if (prev === size + TAG_HEADER_SIZE) break;
        } else if (!this.ended) {
          this.resyncFrom = c;
          this.release(c);
          return false;
        }
      }
      c++;
    }
    if (c > this.resyncOrigin || !this.resyncQuiet) {
      this.warn('E_FLV_RESYNC', `resynced at the tag at ${c}; ${c - this.resyncOrigin + 1} bytes skipped`, c);
    }
    this.pos = c;
    this.state = S_TAG;
    return true;
  }
}
