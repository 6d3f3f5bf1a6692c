/**
 * Splitters: websocket messages in, whole media units out, so that a recording can stop or be cut between
 * two units and still be a valid file. Pure byte code: messages may cut a box or a tag anywhere (except
 * EvoStream, whose framing is per message); a unit is a list of views of the messages, not a copy.
 *
 * - EvoStream: an init segment per new HEADER_MOOV, a `moof + mdat` per fragment (formats/evo).
 * - Plain fMP4: the init segment (everything up to and with the moov), then each fragment (everything up to
 *   and with the mdat that follows a moof: styp, sidx, prft, emsg ride along), ISO/IEC 14496-12 8.8.
 * - FLV: the file header with PreviousTagSize0 (FLV spec v10.1 E.2, E.3), then each tag with its
 *   PreviousTagSize (E.4.1).
 * Memory is bounded by the largest unit, which `maxUnitBytes` caps.
 */
import { FormatError } from '../../core/errors.js';
import { EvoReassembler } from '../../formats/evo/evo-reassembler.js';
import { sniffFlv } from '../../formats/flv/flv-demuxer.js';
import { plausibleTagHeader } from '../../formats/flv/flv-tags.js';
import { boxHeaderLength, isPrintableType, peekBoxHeader } from '../../formats/isobmff/isobmff-boxes.js';
import type { FormatWarning } from '../../formats/media.js';
import type { WsFraming } from './ws-sniff.js';

export interface MediaUnit {
  /** `init`: starts a file (an init segment, an FLV header); `media`: continues it. */
  kind: 'init' | 'media';
  /** The unit's bytes, in order. */
  pieces: Uint8Array[];
  /** Bytes in all pieces. */
  size: number;
  /** Offset of the unit in its connection's byte stream. */
  offset: number;
}

export interface SplitOutput {
  units: MediaUnit[];
  warnings: FormatWarning[];
}

export interface UnitSplitter {
  readonly framing: WsFraming;
  push(message: Uint8Array): SplitOutput;
  /** The stream ended: a unit still open is dropped, with a warning. */
  end(): SplitOutput;
}

export interface SplitterOptions {
  /** Largest unit (a fragment, a tag) held before it is complete, bytes. Default 256 MiB. */
  maxUnitBytes?: number;
}

export function createSplitter(framing: WsFraming, options: SplitterOptions = {}): UnitSplitter {
  const max = options.maxUnitBytes ?? 256 * 1024 * 1024;
  switch (framing) {
    case 'evo':
      return new EvoSplitter(max);
    case 'fmp4':
      return new Fmp4Splitter(max);
    case 'flv':
      return new FlvSplitter(max);
  }
}

class EvoSplitter implements UnitSplitter {
  readonly framing = 'evo' as const;
  private readonly evo: EvoReassembler;

  constructor(maxUnitBytes: number) {
    this.evo = new EvoReassembler({ maxFragmentBytes: maxUnitBytes });
  }

  push(message: Uint8Array): SplitOutput {
    return convert(this.evo.push(message));
  }

  end(): SplitOutput {
    return convert(this.evo.end());
  }
}

function convert(o: ReturnType<EvoReassembler['push']>): SplitOutput {
  const units: MediaUnit[] = o.units.map((u) =>
    u.kind === 'init'
      ? { kind: 'init', pieces: [u.init.init], size: u.init.init.length, offset: u.offset }
      : { kind: 'media', pieces: u.fragment.pieces, size: u.fragment.size, offset: u.fragment.offset },
  );
  return { units, warnings: o.warnings };
}

/** The unit being gathered: pieces of messages and where it started. */
class Gather {
  pieces: Uint8Array[] = [];
  size = 0;
  start = 0;

  add(p: Uint8Array): void {
    if (p.length === 0) return;
    this.pieces.push(p);
    this.size += p.length;
  }

  take(kind: MediaUnit['kind']): MediaUnit {
    const u: MediaUnit = { kind, pieces: this.pieces, size: this.size, offset: this.start };
    this.clear(this.start + this.size);
    return u;
  }

  clear(nextStart: number): void {
    this.pieces = [];
    this.size = 0;
    this.start = nextStart;
  }
}

/**
 * What the fMP4 and FLV splitters share: the unit being gathered, the input position, a failure that
 * sticks (after a bad byte nothing more is read), and the copying of a body's bytes into the unit.
 */
abstract class GatheringSplitter {
  protected pos = 0;
  protected readonly unit = new Gather();
  /** Bytes of the current body still to come. */
  protected remaining = 0;
  /** The first failure: every later push() throws it again. */
  protected failed: unknown;

  push(message: Uint8Array): SplitOutput {
    if (this.failed !== undefined) throw this.failed;
    const out: SplitOutput = { units: [], warnings: [] };
    try {
      this.consume(message, out);
    } catch (err) {
      this.failed = err;
      throw err;
    }
    return out;
  }

  protected abstract consume(m: Uint8Array, out: SplitOutput): void;

  /** Move up to `remaining` bytes of `m` from `i` into the unit; returns where reading goes on. */
  protected takeBody(m: Uint8Array, i: number): number {
    const take = Math.min(this.remaining, m.length - i);
    this.unit.add(m.subarray(i, i + take));
    this.pos += take;
    this.remaining -= take;
    return i + take;
  }
}

class Fmp4Splitter extends GatheringSplitter implements UnitSplitter {
  readonly framing = 'fmp4' as const;
  private readonly hdr = new Uint8Array(32);
  private hdrLen = 0;
  private inBox = false;
  private boxType = '';
  private boxStart = 0;
  private moovSeen = false;
  private moofOpen = false;

  constructor(private readonly maxUnitBytes: number) {
    super();
  }

  protected consume(m: Uint8Array, out: SplitOutput): void {
    let i = 0;
    while (i < m.length) {
      if (this.inBox) {
        i = this.takeBody(m, i);
        if (this.remaining === 0) {
          this.inBox = false;
          this.boxDone(out);
        }
        continue;
      }
      const want = this.hdrLen < 8 ? 8 : boxHeaderLength(this.hdr, 0);
      const take = Math.min(want - this.hdrLen, m.length - i);
      this.hdr.set(m.subarray(i, i + take), this.hdrLen);
      this.hdrLen += take;
      i += take;
      this.pos += take;
      if (this.hdrLen < 8 || this.hdrLen < boxHeaderLength(this.hdr, 0)) continue;
      this.header();
      if (!this.inBox) this.boxDone(out);
    }
  }

  private header(): void {
    const start = this.pos - this.hdrLen;
    if (!isPrintableType(this.hdr, 4)) {
      throw new FormatError('not an ISO-BMFF box: the box type is not four printable characters', {
        code: 'E_MP4_BOX_TYPE',
        offset: start,
      });
    }
    const h = peekBoxHeader(this.hdr, 0, this.hdrLen, start);
    if (!h) return; // unreachable: the whole header is here
    if (h.size === -1) {
      throw new FormatError(
        `box '${h.type}' has size 0 ("to the end of the file"): a live stream cannot be cut`,
        {
          code: 'E_WS_OPEN_BOX',
          offset: start,
        },
      );
    }
    if (h.type === 'moof' && !this.moovSeen) {
      throw new FormatError(
        'movie fragment before any moov: the stream did not start with its init segment',
        {
          code: 'E_MP4_NO_MOOV',
          offset: start,
        },
      );
    }
    if (this.unit.size + h.size > this.maxUnitBytes) {
      throw new FormatError(`fragment larger than ${this.maxUnitBytes} bytes`, {
        code: 'E_WS_UNIT_TOO_LARGE',
        offset: this.unit.start,
      });
    }
    this.unit.add(this.hdr.slice(0, this.hdrLen));
    this.hdrLen = 0;
    this.boxType = h.type;
    this.boxStart = start;
    this.remaining = h.size - h.headerSize;
    this.inBox = this.remaining > 0;
  }

  private boxDone(out: SplitOutput): void {
    switch (this.boxType) {
      case 'moov':
        this.moovSeen = true;
        this.moofOpen = false;
        out.units.push(this.unit.take('init'));
        break;
      case 'moof':
        this.moofOpen = true;
        break;
      case 'mdat':
        if (this.moofOpen) {
          out.units.push(this.unit.take('media'));
        } else {
          out.warnings.push({
            code: 'W_WS_STRAY_MDAT',
            message: `mdat of ${this.unit.size} bytes with no moof before it: dropped`,
            offset: this.boxStart,
          });
          this.unit.clear(this.pos);
        }
        this.moofOpen = false;
        break;
      default:
      // ftyp, styp, sidx, prft, emsg, free...: part of the unit being gathered.
    }
  }

  end(): SplitOutput {
    const out: SplitOutput = { units: [], warnings: [] };
    const open = this.unit.size + this.hdrLen;
    if (this.failed === undefined && open > 0) {
      out.warnings.push({
        code: 'W_WS_PARTIAL',
        message: `the stream ended inside a fragment: ${open} bytes dropped`,
        offset: this.unit.start,
      });
    }
    this.unit.clear(this.pos);
    this.hdrLen = 0;
    this.inBox = false;
    return out;
  }
}

const FLV_TAG_HEADER = 11;
const FLV_PREVIOUS_TAG_SIZE = 4;

class FlvSplitter extends GatheringSplitter implements UnitSplitter {
  readonly framing = 'flv' as const;
  /** Header bytes being gathered: the FLV header, then each tag header. */
  private readonly hdr = new Uint8Array(FLV_TAG_HEADER);
  private hdrLen = 0;
  private headerDone = false;
  /** `remaining` here: the file header's DataOffset gap, or a tag body plus its PreviousTagSize. */
  private inBody = false;

  constructor(private readonly maxUnitBytes: number) {
    super();
  }

  protected consume(m: Uint8Array, out: SplitOutput): void {
    let i = 0;
    while (i < m.length) {
      if (this.inBody) {
        i = this.takeBody(m, i);
        if (this.remaining === 0) {
          this.inBody = false;
          out.units.push(this.unit.take(this.headerDone ? 'media' : 'init'));
          this.headerDone = true;
        }
        continue;
      }
      const want = this.headerDone ? FLV_TAG_HEADER : 9;
      const take = Math.min(want - this.hdrLen, m.length - i);
      this.hdr.set(m.subarray(i, i + take), this.hdrLen);
      this.hdrLen += take;
      i += take;
      this.pos += take;
      if (this.hdrLen < want) continue;
      const start = this.pos - this.hdrLen;
      const h = this.hdr.slice(0, this.hdrLen);
      this.hdrLen = 0;
      if (!this.headerDone) {
        // E.2: "FLV", version, TypeFlags, DataOffset (the header's size), then PreviousTagSize0 (E.3).
        if (!sniffFlv(h)) {
          throw new FormatError('not an FLV header', { code: 'E_FLV_HEADER', offset: start });
        }
        const dataOffset = u32(h, 5);
        if (dataOffset > 1024) {
          throw new FormatError(`FLV header DataOffset ${dataOffset} is implausible`, {
            code: 'E_FLV_HEADER',
            offset: start,
          });
        }
        this.unit.add(h);
        this.remaining = dataOffset - 9 + FLV_PREVIOUS_TAG_SIZE;
      } else {
        if (!plausibleTagHeader(h, 0)) {
          throw new FormatError(
            `not an FLV tag header (type ${h[0]}, stream id ${(h[8]! << 16) | (h[9]! << 8) | h[10]!})`,
            { code: 'E_FLV_TAG', offset: start },
          );
        }
        const dataSize = ((h[1] as number) << 16) | ((h[2] as number) << 8) | (h[3] as number);
        if (FLV_TAG_HEADER + dataSize + FLV_PREVIOUS_TAG_SIZE > this.maxUnitBytes) {
          throw new FormatError(`FLV tag of ${dataSize} bytes is larger than allowed`, {
            code: 'E_WS_UNIT_TOO_LARGE',
            offset: start,
          });
        }
        this.unit.add(h);
        this.remaining = dataSize + FLV_PREVIOUS_TAG_SIZE;
      }
      this.inBody = true;
    }
  }

  end(): SplitOutput {
    const out: SplitOutput = { units: [], warnings: [] };
    const open = this.unit.size + this.hdrLen;
    if (this.failed === undefined && open > 0) {
      out.warnings.push({
        code: 'W_WS_PARTIAL',
        message: `the stream ended inside an FLV tag: ${open} bytes dropped`,
        offset: this.unit.start,
      });
    }
    this.unit.clear(this.pos);
    this.hdrLen = 0;
    this.inBody = false;
    return out;
  }
}

function u32(b: Uint8Array, at: number): number {
  return (
    (((b[at] as number) << 24) |
      ((b[at + 1] as number) << 16) |
      ((b[at + 2] as number) << 8) |
      b[at + 3]!) >>>
    0
  );
}
