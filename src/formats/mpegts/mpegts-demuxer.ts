/**
 * A push demuxer for MPEG-2 transport streams (ISO/IEC 13818-1): 188-byte TS packets, or 192-byte M2TS
 * packets with a 4-byte TP_extra_header (BDAV). Reads the PAT and the PMT of the first program, reassembles
 * PES packets (2.4.3.6) of H.264, HEVC, AAC (ADTS) and MP3 elementary streams, and hands out samples in MP4
 * form: video access units with 4-byte NAL unit lengths instead of Annex B start codes (ISO/IEC 14496-15
 * 5.3.2, 8.3.2), audio as raw AAC frames (ADTS header stripped) or whole MP3 frames.
 *
 * Timestamps: PTS/DTS are 33-bit 90 kHz values that wrap every ~26.5 hours; they are unwrapped against the
 * previous timestamp so the output keeps counting up, and a timebase discontinuity (signalled by the
 * discontinuity_indicator, or a jump no stream can make) is stitched so that the output stays monotonic and
 * continuous. Video tracks use a 90 kHz timescale; audio tracks use their sampling rate, with 1024 ticks per
 * AAC frame.
 *
 * Hot path: TS payloads are kept as views into the pushed chunks (chunks must not be modified after
 * push()), and copied exactly once, into the sample's `data`, whose size is computed before allocation.
 * Start codes are found with Uint8Array.indexOf, never a per-byte loop.
 */
import { hasNoOptionalHeader, readPesTime } from './mpegts-pes-fields.js';
import { BitReader, READ_SKEW, sameBytes, unescapeRbsp } from '../../core/bytes.js';
import { FormatError } from '../../core/errors.js';
import { makeAudioSpecificConfig, parseAdtsHeader } from '../codecs/aac.js';
import { buildAvcC, H264_NAL, parseH264Sps } from '../codecs/h264.js';
import { buildHvcC, HEVC_NAL, parseHevcSps } from '../codecs/hevc.js';
import { parseMpegAudioHeader } from '../codecs/mp3.js';
import type { Demuxer, DemuxOutput, FormatWarning, Sample, TrackInfo } from '../media.js';
import { emptyOutput } from '../media.js';
import { ByteChain, ChainSpace } from './mpegts-chain.js';
import { parsePat, parsePmt, SectionAssembler, type PmtStream } from './mpegts-psi.js';
import { plainCopy, type Plain } from '../plain-copy.js';

const TS_PACKET = 188;
const SYNC_BYTE = 0x47;
const WRAP = 2 ** 33;
const CLOCK = 90000;
/** Bytes searched for the first packet before deciding the input is not a transport stream. */
const DETECT_LIMIT = 64 * 1024;
/** Largest video access unit accepted, bytes; a larger one is dropped (a PES without end is corrupt). */
const MAX_ACCESS_UNIT = 64 * 1024 * 1024;
/** Payload bytes of a transport packet with no adaptation field. */
const PACKET_PAYLOAD = 184;

/**
 * The shared space (see ChainSpace): two input slots (a caller may read the next chunk while the previous
 * one is still looked at), then each stream's chains, sized for what they usually hold: a video access
 * unit, an audio PES and its frames. A chain that outgrows its region continues in its own memory.
 */
const INPUT_SLOT = 512 << 10;
const SPACE_SIZE = 2 * INPUT_SLOT + (2 << 20);
const REGION = { au: 1 << 20, pes: 128 << 10, audio: 128 << 10 } as const;
/** Chunks shorter than this are demuxed where they are: copying them into the space would not pay. */
const STAGE_MIN = 16 << 10;
/**
 * Seconds of audio held back while waiting for the first video keyframe; past that the video is taken to
 * have no usable keyframe soon, and the audio is let through from its start (longer GOPs are rare).
 */
const MAX_GATED_SECONDS = 30;
/**
 * Descriptors that name what a private data stream (0x06) carries when it is not AAC: DVB teletext (0x56),
 * subtitling (0x59), VBI (0x45, 0x46), AC-3/E-AC-3/DTS/extension (0x6a, 0x7a, 0x7b, 0x7f, EN 300 468),
 * ATSC AC-3/E-AC-3 (0x81, 0xcc).
 */
const OTHER_CODEC_DESCRIPTORS = new Set([0x45, 0x46, 0x56, 0x59, 0x6a, 0x7a, 0x7b, 0x7f, 0x81, 0xcc]);
/** Warnings kept per code; later ones are counted and summarised. */
const MAX_WARNINGS_PER_CODE = 50;

export interface MpegtsDemuxerOptions {
  /**
   * Drop video before the first keyframe and audio before that keyframe's presentation time, so the output
   * starts decodable and in sync (default true).
   */
  trimToKeyframe?: boolean;
  /**
   * Where sample payloads are made: a caller that stores them anyway (a remuxer's payload store) hands out
   * views of its own memory, so each payload is written once. Default: a fresh Uint8Array each.
   */
  allocate?: (size: number) => Uint8Array;
}

/**
 * True when the bytes start like a transport stream: a sync byte (0x47) at 0 and every 188 bytes after, or
 * at 4 and every 192 bytes after (M2TS), for at least two packets (13818-1 2.4.3.2).
 */
export function sniffMpegts(bytes: Uint8Array): boolean {
  for (const [start, stride] of [
    [0, TS_PACKET],
    [4, 192],
  ] as const) {
    let checked = 0;
    let at = start;
    while (at < bytes.length && checked < 5 && bytes[at] === SYNC_BYTE) {
      checked++;
      at += stride;
    }
    if (checked >= 2 && (checked === 5 || at >= bytes.length)) return true;
  }
  return false;
}

type Detection = { start: number; stride: number } | { pending: number } | undefined;

/**
 * Find the packet grid: the first position from `from` with sync bytes at `stride` intervals, 188 (TS) or
 * 192 (M2TS, whose sync byte is at offset 4 of each packet). Five packets in a row must agree, or all the
 * packets that are there when `final`. `pending` names the first candidate that needs more bytes to decide;
 * the bytes before it can never start the grid.
 */
function detectPacketSize(buf: Uint8Array, from: number, final: boolean): Detection {
  for (let i = buf.indexOf(SYNC_BYTE, from); i >= 0; i = buf.indexOf(SYNC_BYTE, i + 1)) {
    if (!final && i + 4 * 192 >= buf.length) return { pending: i };
    for (const stride of [TS_PACKET, 192]) {
      let seen = 0;
      let at = i;
      while (seen < 5 && at < buf.length && buf[at] === SYNC_BYTE) {
        seen++;
        at += stride;
      }
      if (seen === 5 || (final && at >= buf.length && i + TS_PACKET <= buf.length))
        return { start: i, stride };
    }
  }
  return undefined;
}

type Kind = 'video' | 'audio';

interface PsiPid {
  kind: 'psi';
  table: 'pat' | 'pmt';
  cc: number;
  discPending: boolean;
  sections: SectionAssembler;
  /** The last section taken from this PID: muxers repeat PAT and PMT every 100 ms or so, unchanged. */
  last?: Uint8Array;
}

/** Per elementary stream state: PES reassembly, timeline, and codec-specific conversion state. */
interface EsPid {
  kind: 'es';
  pid: number;
  streamType: number;
  media: Kind;
  codec: 'avc' | 'hevc' | 'aac' | 'mp3';
  /** 0 while a private stream (0x06) is still being probed. */
  trackId: number;
  /** A private data stream that becomes AAC if its first payload is ADTS. */
  probing: boolean;
  language?: string;
  disabled: boolean;
  cc: number;
  discPending: boolean;
  raiPending: boolean;
  /** random_access_indicator of the current PES's first packet, then of the access unit (2.4.3.5). */
  pesRai: boolean;
  auRai: boolean;

  // PES packet in progress (13818-1 2.4.3.6)
  pes: ByteChain;
  pesActive: boolean;
  pesOffset: number;
  /** Total PES size including the 6-byte start, 0 when PES_packet_length is 0 (unbounded video). */
  pesSize: number;
  headerParsed: boolean;
  payloadStart: number;
  /** Video after its PES header: payloads go straight into the access unit. */
  direct: boolean;
  /** Bytes of the current PES received so far (direct mode). */
  pesBytes: number;
  pesPts: number; // output timeline, 90 kHz; NaN when absent
  pesDts: number;

  // timeline
  lastRaw: number; // NaN before the first timestamp
  lastStep: number;
  offset: number;
  epoch: number;

  track?: TrackInfo;

  // video: the access unit being collected
  au: ByteChain;
  auPts: number;
  auDts: number;
  auOffset: number;
  auOpen: boolean;
  held?: Sample;
  lastOutDts: number;
  lastDuration: number;
  configSps?: Uint8Array;
  lastSps?: Uint8Array[];
  lastPps?: Uint8Array[];
  lastVps?: Uint8Array[];
  badSps?: Uint8Array;
  seenKeyframe: boolean;
  droppedBeforeKey: number;
  nalStarts: number[];
  nalEnds: number[];

  // audio: frames being cut out of the PES payloads
  audio: ByteChain;
  audioConsumed: number;
  audioAppended: number;
  /** [absolute byte position of a PES payload, its PTS (90 kHz output timeline)] */
  marks: number[];
  nextDts: number; // NaN before the first frame
  lostSync: boolean;
  /** objectType/samplingIndex/channelConfig (AAC) or rate/channels (MP3) of the current config. */
  audioKey: number;
  sampleRate: number;
  gated: Sample[];
  gatedDropped: number;
}

/**
 * What MpegtsDemuxer.snapshot() gives: everything the demuxer holds between two pushes, as plain data
 * (plain-copy.ts). Opaque to callers: they keep it, and give it back to MpegtsDemuxer.restore().
 */
export interface MpegtsDemuxerState {
  readonly kind: 'mpegts-demuxer';
  readonly v: 1;
  readonly scalars: Plain;
  readonly psi: Plain[];
  readonly streams: Plain[];
}

/** The demuxer's own fields that snapshot() keeps (the rest is made again, or comes from the options). */
const SNAPSHOT_FIELDS = [
  'warned',
  'inPos',
  'stride',
  'synced',
  'lostAt',
  'carry',
  'carryPos',
  'skip',
  'programNumber',
  'pmtPid',
  'pcrPid',
  'pmtSeen',
  'nextTrackId',
  'unsupported',
  'clockRef',
  'clockEpoch',
  'clockOffset',
  'gate',
  'firstKeyPts',
  'audioEmitted',
] as const;

interface SavedPsi {
  pid: number;
  table: 'pat' | 'pmt';
  cc: number;
  discPending: boolean;
  sections: { bytes: Uint8Array; active: boolean };
  last?: Uint8Array;
}

/** A ByteChain in a snapshot: its live bytes. */
interface SavedChain {
  chain: Uint8Array;
}

export class MpegtsDemuxer implements Demuxer {
  /** PES payloads are copied into the stream's buffers; a partial packet is kept as a copy. */
  readonly copiesInput = true;
  private readonly trim: boolean;
  private out: DemuxOutput = emptyOutput();
  private readonly pids: Array<PsiPid | EsPid | undefined> = new Array<PsiPid | EsPid | undefined>(8192);
  /** The elementary stream PIDs alone, for the packet loop's fast path (one object shape). */
  private readonly esPids: Array<EsPid | undefined> = new Array<EsPid | undefined>(8192);
  private readonly streams: EsPid[] = [];
  private readonly warned = new Map<string, number>();

  // input framing
  private inPos = 0;
  private stride = 0; // 0 until detected
  private synced = false;
  private lostAt = -1;
  private carry: Uint8Array = new Uint8Array(0);
  private carryPos = 0;
  private skip = 0;
  private ended = false;
  private readonly scratch = new Uint8Array(32);
  private readonly allocate: (size: number) => Uint8Array;
  /** Made when the first stream is (or a caller asks for an input buffer): fuzzed garbage never makes it. */
  private space: ChainSpace | undefined;
  private slots: Uint8Array[] = [];
  private slot = 0;
  /** Where the buffer being scanned starts in the shared space, or -1 when it is not in it. */
  private scanBase = -1;

  // program
  private programNumber = -1;
  private pmtPid = -1;
  private pcrPid = -1;
  private pmtSeen = false;
  private nextTrackId = 1;
  private readonly unsupported = new Set<number>();

  // timeline shared by the streams of the program
  private clockRef = NaN;
  private clockEpoch = 0;
  private clockOffset = 0;

  // A/V start: audio waits for the first video keyframe
  private gate: 'none' | 'waiting' | 'open' = 'none';
  private firstKeyPts = NaN;
  private audioEmitted = false;

  constructor(options: MpegtsDemuxerOptions = {}) {
    this.trim = options.trimToKeyframe ?? true;
    this.allocate = options.allocate ?? ((size) => new Uint8Array(size));
    this.pids[0] = this.psi('pat');
  }

  push(chunk: Uint8Array): DemuxOutput {
    if (this.ended) throw new RangeError('MpegtsDemuxer: push() after end()');
    this.out = emptyOutput();
    const space = this.space;
    if (!space || space.holds(chunk) || chunk.length < STAGE_MIN) this.input(chunk, false);
    else {
      // Into the shared space first (one large copy), so that each packet's payload moves with copyWithin.
      for (let at = 0; at < chunk.length; at += INPUT_SLOT) {
        const piece = chunk.subarray(at, Math.min(chunk.length, at + INPUT_SLOT));
        const slot = this.nextSlot().subarray(0, piece.length);
        slot.set(piece);
        this.input(slot, false);
      }
    }
    return this.out;
  }

  /**
   * Everything this demuxer holds now, between two pushes, as plain data: given to restore(), it makes a
   * demuxer that goes on exactly as this one would (the same samples, tracks and warnings from the same
   * next bytes). Made for recordings: one kept after each segment lets a run that died go on from there
   * without the segment bytes before it, so that the resume journal need not keep them (the plan in
   * bench/README.md, `record`). It is small: the PES packets and access units in progress, a sample held
   * for its duration, audio waiting for the first keyframe, the program tables (about 50 kB after each
   * 4.7 MB segment of the record bench's stream, made in 0.2 ms).
   */
  snapshot(): MpegtsDemuxerState {
    if (this.ended) throw new RangeError('MpegtsDemuxer: snapshot() after end()');
    const fields: Record<string, unknown> = {};
    for (const k of SNAPSHOT_FIELDS) fields[k] = this[k];
    const psi: Plain[] = [];
    this.pids.forEach((h, pid) => {
      if (h?.kind !== 'psi') return;
      const saved: SavedPsi = {
        pid,
        table: h.table,
        cc: h.cc,
        discPending: h.discPending,
        sections: h.sections.state(),
      };
      if (h.last) saved.last = h.last.slice();
      psi.push(saved as unknown as Plain);
    });
    const chains = (v: object): Plain | undefined =>
      v instanceof ByteChain ? ({ chain: v.bytes().slice() } satisfies SavedChain) : undefined;
    return {
      kind: 'mpegts-demuxer',
      v: 1,
      scalars: plainCopy(fields),
      psi,
      streams: this.streams.map((st) => plainCopy(st, chains)),
    };
  }

  /** A demuxer that goes on from a snapshot() (with the same options as the one that made it). */
  static restore(state: MpegtsDemuxerState, options: MpegtsDemuxerOptions = {}): MpegtsDemuxer {
    if (state?.kind !== 'mpegts-demuxer' || state.v !== 1)
      throw new RangeError('MpegtsDemuxer.restore: not a snapshot of this demuxer');
    const d = new MpegtsDemuxer(options);
    const fields = plainCopy(state.scalars) as Record<string, unknown>;
    const self = d as unknown as Record<string, unknown>;
    for (const k of SNAPSHOT_FIELDS) self[k] = fields[k];
    d.pids[0] = undefined;
    for (const p of state.psi as unknown as SavedPsi[]) {
      const h: PsiPid = {
        kind: 'psi',
        table: p.table,
        cc: p.cc,
        discPending: p.discPending,
        sections: SectionAssembler.fromState(p.sections),
      };
      if (p.last) h.last = p.last.slice();
      d.pids[p.pid] = h;
    }
    for (const saved of state.streams) {
      const s = plainCopy(saved) as unknown as EsPid;
      const chain = (c: unknown, region: number): ByteChain => {
        const made = region > 0 ? new ByteChain(d.chainSpace(), region) : new ByteChain();
        made.push((c as SavedChain).chain);
        return made;
      };
      s.pes = chain(s.pes, REGION.pes);
      s.au = chain(s.au, s.media === 'video' ? REGION.au : 0);
      s.audio = chain(s.audio, s.media === 'audio' ? REGION.audio : 0);
      if (s.held) s.held = d.ownSample(s.held);
      s.gated = s.gated.map((g) => d.ownSample(g));
      d.pids[s.pid] = s;
      d.esPids[s.pid] = s;
      d.streams.push(s);
    }
    return d;
  }

  /** A restored sample's payload in memory from `allocate`, as the demuxer's own samples have theirs. */
  private ownSample(x: Sample): Sample {
    if (!x.data) return x;
    const data = this.allocate(x.data.length);
    data.set(x.data);
    return { ...x, data };
  }

  /**
   * Memory to read the next chunk into before pushing it (up to `size` bytes; maybe fewer): the caller's
   * read lands where the packets are demuxed from, with no copy. Valid until the push after next.
   */
  inputBuffer(size: number): Uint8Array {
    return this.nextSlot().subarray(0, Math.min(size, INPUT_SLOT));
  }

  private chainSpace(): ChainSpace {
    if (!this.space) {
      this.space = new ChainSpace(SPACE_SIZE + READ_SKEW);
      // The input slots receive file reads: kept off the page boundary the space starts on (fileReadBuffer).
      this.space.take(READ_SKEW);
      this.slots = [this.space.take(INPUT_SLOT) as Uint8Array, this.space.take(INPUT_SLOT) as Uint8Array];
    }
    return this.space;
  }

  private nextSlot(): Uint8Array {
    this.chainSpace();
    this.slot ^= 1;
    return this.slots[this.slot] as Uint8Array;
  }

  end(): DemuxOutput {
    if (this.ended) return emptyOutput();
    this.out = emptyOutput();
    this.input(new Uint8Array(0), true);
    this.ended = true;
    if (this.lostAt >= 0) {
      this.warn(
        'W_TS_SYNC',
        `lost packet sync; no packet found in the last ${this.inPos - this.lostAt} bytes`,
        this.lostAt,
      );
      this.lostAt = -1;
    } else if (this.carry.length > 0) {
      this.warn(
        'W_TS_TRUNCATED',
        `input ends inside a packet (${this.carry.length} bytes left over)`,
        this.carryPos,
      );
    }
    this.carry = new Uint8Array(0);
    for (const s of this.streams) {
      if (s.disabled) continue;
      if (s.pesActive) this.finishPes(s, false);
      if (s.media === 'video') {
        this.flushAccessUnit(s);
        if (s.held) {
          if (s.held.duration === 0) s.held.duration = s.lastDuration;
          this.out.samples.push(s.held);
          s.held = undefined;
        }
        if (!s.seenKeyframe && s.droppedBeforeKey > 0) {
          this.warn(
            'W_TS_NO_KEYFRAME',
            `PID ${hex(s.pid)}: no keyframe in the input; ${s.droppedBeforeKey} video samples dropped`,
          );
        }
      } else {
        this.cutAudioFrames(s, true);
        if (s.audio.length > 0) {
          this.warn(
            'W_TS_TRUNCATED',
            `PID ${hex(s.pid)}: ${s.audio.length} bytes of an incomplete audio frame dropped at the end`,
          );
        }
      }
    }
    if (this.gate === 'waiting') {
      // No video keyframe ever came: keep the audio rather than lose everything.
      this.gate = 'open';
      for (const s of this.streams) this.releaseGated(s);
    }
    for (const s of this.streams) this.reportGatedDrops(s);
    this.summariseWarnings();
    if (this.stride === 0) {
      throw new FormatError(
        'not an MPEG transport stream: no 0x47 sync bytes at a 188- or 192-byte interval',
        {
          code: 'E_TS_NO_SYNC',
          offset: 0,
        },
      );
    }
    if (!this.pmtSeen) {
      throw new FormatError('no program map table (PMT) found in the transport stream', {
        code: 'E_TS_NO_PROGRAM',
        offset: this.inPos,
        hint: 'the input may be truncated before its first PAT/PMT, or not be a complete transport stream',
      });
    }
    if (!this.streams.some((s) => s.track)) {
      const types = [...this.unsupported].map(hex).join(', ');
      throw new FormatError(
        types
          ? `no supported audio or video stream (unsupported stream types ${types})`
          : 'no audio or video data found in the transport stream',
        { code: 'E_TS_NO_MEDIA', offset: this.inPos },
      );
    }
    return this.out;
  }

  // ---------------------------------------------------------------------------------------------------
  // Input framing: packet grid detection, carry-over between chunks, resync.

  private input(chunk: Uint8Array, final: boolean): void {
    // A plain Uint8Array view: subarray() of a Node Buffer builds a Buffer, several times slower.
    let buf =
      chunk.constructor === Uint8Array
        ? chunk
        : new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    let base = this.inPos;
    this.inPos += chunk.length;
    if (this.skip > 0) {
      const k = Math.min(this.skip, buf.length);
      buf = buf.subarray(k);
      base += k;
      this.skip -= k;
    }
    if (this.carry.length > 0) {
      if (this.synced && this.carry.length < TS_PACKET && this.carry.length + buf.length >= TS_PACKET) {
        // Complete the packet that straddles the chunk boundary: the one small copy of the input.
        const need = TS_PACKET - this.carry.length;
        const packet = new Uint8Array(TS_PACKET);
        packet.set(this.carry);
        packet.set(buf.subarray(0, need), this.carry.length);
        const at = this.carryPos;
        this.carry = new Uint8Array(0);
        this.scan(packet, at, false);
        buf = buf.subarray(need);
        base += need;
        if (this.skip > 0) {
          const k = Math.min(this.skip, buf.length);
          buf = buf.subarray(k);
          base += k;
          this.skip -= k;
        }
      }
      if (this.carry.length > 0) {
        // Not synced (detecting or resyncing), or not enough bytes for a packet yet: small and rare.
        const joined = new Uint8Array(this.carry.length + buf.length);
        joined.set(this.carry);
        joined.set(buf, this.carry.length);
        base = this.carryPos;
        buf = joined;
        this.carry = new Uint8Array(0);
      }
    }
    if (buf.length > 0 || final) this.scan(buf, base, final);
  }

  /** Walk the packets of buf (whose first byte is at input offset base); keep what is left over. */
  private scan(buf: Uint8Array, base: number, final: boolean): void {
    // Packets of a chunk in the shared space move into the chains with copyWithin (pushFromSpace).
    this.scanBase = this.space?.holds(buf) ? buf.byteOffset : -1;
    let i = 0;
    const len = buf.length;
    for (;;) {
      if (!this.synced) {
        const found = this.findSync(buf, i, base, final);
        if (found < 0) {
          // -1: nothing usable, keep nothing; other negative values: keep from the candidate on.
          const keepFrom = found === -1 ? len : -found - 2;
          if (this.stride === 0 && base + keepFrom > DETECT_LIMIT) {
            throw new FormatError(
              'not an MPEG transport stream: no 0x47 sync bytes at a 188- or 192-byte interval',
              { code: 'E_TS_NO_SYNC', offset: 0 },
            );
          }
          this.carry = keepFrom < len ? buf.slice(keepFrom) : new Uint8Array(0);
          this.carryPos = base + keepFrom;
          return;
        }
        i = found;
        this.synced = true;
      }
      i = this.packets(buf, i, base);
      if (i + TS_PACKET > len) break;
      this.synced = false; // not a sync byte where the next packet should start
      this.lostAt = base + i;
    }
    if (i < len) {
      this.carry = buf.slice(i);
      this.carryPos = base + i;
    } else {
      this.skip += i - len;
    }
  }

  /**
   * The packets of `buf` from `i` on, while they are whole and in sync; returns where it stopped. The hot
   * loop is a function of its own: inside scan(), V8 (Node 20) compiled it on stack replacement before the
   * code after the loop had ever run, kept that code, and bailed out of it at the loop's end on every later
   * call (533 times in one 138 MB HLS recording; none in a remux, whose 4 MB chunks make fewer calls). The
   * recording's time did not change measurably without them (medians of 11 runs); the loop is kept apart
   * so that they cannot come back with other chunk sizes.
   */
  private packets(buf: Uint8Array, i: number, base: number): number {
    const len = buf.length;
    const stride = this.stride;
    const scanBase = this.scanBase;
    const es = this.esPids;
    while (i + TS_PACKET <= len && buf[i] === SYNC_BYTE) {
      const b1 = buf[i + 1] as number;
      const b3 = buf[i + 3] as number;
      const s = es[((b1 & 31) << 8) | (buf[i + 2] as number)];
      // Most packets continue a video PES whose header has been read: no error or start flag, payload only,
      // the next continuity counter. Their payloads go straight into the access unit, here, with no call
      // through packet() and esPayload() (what those would do, in the same order).
      if (
        s !== undefined &&
        (b1 & 0xc0) === 0 &&
        (b3 & 0xf0) === 0x10 &&
        s.direct &&
        s.pesActive &&
        !s.disabled &&
        (b3 & 15) === ((s.cc + 1) & 15) &&
        s.cc >= 0 &&
        scanBase >= 0 &&
        (s.pesSize === 0 || s.pesBytes + PACKET_PAYLOAD < s.pesSize)
      ) {
        s.cc = b3 & 15;
        s.pesBytes += PACKET_PAYLOAD;
        const au = s.au;
        au.pushFromSpace(scanBase + i + 4, scanBase + i + TS_PACKET);
        if (au.length > MAX_ACCESS_UNIT) this.dropOversizedAccessUnit(s);
      } else {
        this.packet(buf, i, base + i);
      }
      i += stride;
    }
    return i;
  }

  /**
   * Find the next packet start at or after `from`: returns its index, -1 when the buffer holds no candidate,
   * or -(candidate + 2) when more bytes are needed to confirm the candidate.
   */
  private findSync(buf: Uint8Array, from: number, base: number, final: boolean): number {
    if (this.stride === 0) {
      const d = detectPacketSize(buf, from, final);
      if (!d) return -1;
      if ('pending' in d) return -(d.pending + 2);
      this.stride = d.stride;
      const firstPacket = base + d.start - (d.stride === 192 ? 4 : 0);
      if (firstPacket > 0)
        this.warn('W_TS_SYNC', `skipped ${firstPacket} bytes before the first transport packet`, 0);
      return d.start;
    }
    // Resync: a sync byte followed by sync bytes one and two packets on.
    const stride = this.stride;
    for (let c = buf.indexOf(SYNC_BYTE, from); c >= 0; c = buf.indexOf(SYNC_BYTE, c + 1)) {
      if (c + 2 * stride >= buf.length) {
        if (!final) return -(c + 2);
        if (c + TS_PACKET > buf.length) return -1;
        if (c + stride < buf.length && buf[c + stride] !== SYNC_BYTE) continue;
      } else if (buf[c + stride] !== SYNC_BYTE || buf[c + 2 * stride] !== SYNC_BYTE) {
        continue;
      }
      const lostAt = this.lostAt >= 0 ? this.lostAt : base + from;
      this.warn('W_TS_SYNC', `lost packet sync; skipped ${base + c - lostAt} bytes`, lostAt);
      this.lostAt = -1;
      return c;
    }
    return -1;
  }

  /**
   * The next packets start another segment: their continuity counters are not compared with the last
   * ones. A segment after a missing one may start with the counter the last packet had, which would
   * otherwise be taken for a duplicate (2.4.3.3) and dropped: the first packet of a keyframe, silently.
   */
  segmentBoundary(): void {
    for (const h of this.pids) if (h) h.cc = -1;
  }

  // ---------------------------------------------------------------------------------------------------
  // Packets (13818-1 2.4.3.2) and adaptation fields (2.4.3.4)

  private packet(b: Uint8Array, i: number, pos: number): void {
    const b1 = b[i + 1] as number;
    const pid = ((b1 & 0x1f) << 8) | (b[i + 2] as number);
    const h = this.pids[pid];
    if (h === undefined) return;
    if (b1 & 0x80) {
      this.warn(
        'W_TS_TRANSPORT_ERROR',
        `PID ${hex(pid)}: packet flagged with transport_error_indicator; skipped`,
        pos,
      );
      return;
    }
    const b3 = b[i + 3] as number;
    if (b3 & 0xc0) {
      this.warn('W_TS_SCRAMBLED', `PID ${hex(pid)}: scrambled packets cannot be read; skipped`, pos);
      return;
    }
    const afc = (b3 >> 4) & 3;
    if (afc === 0) return; // reserved
    let p = i + 4;
    const end = i + TS_PACKET;
    let disc = false;
    let rai = false;
    if (afc & 2) {
      const afLength = b[p] as number;
      if (afLength > 0) {
        const flags = b[p + 1] as number;
        disc = (flags & 0x80) !== 0;
        rai = (flags & 0x40) !== 0;
      }
      p += 1 + afLength;
      if (p > end) {
        this.warn('W_TS_ADAPTATION', `PID ${hex(pid)}: adaptation_field_length past the packet end`, pos);
        return;
      }
    }
    if (disc) {
      h.discPending = true;
      if (pid === this.pcrPid) for (const s of this.streams) s.discPending = true;
    }
    if ((afc & 1) === 0) return;
    // 2.4.3.3: continuity_counter counts packets with payload; one duplicate is allowed.
    const cc = b3 & 0x0f;
    if (h.cc >= 0 && !disc) {
      if (cc === h.cc) return;
      const expected = (h.cc + 1) & 0x0f;
      if (cc !== expected) {
        const lost = (cc - expected) & 0x0f;
        this.warn(
          'W_TS_CC',
          `PID ${hex(pid)}: continuity counter jumped from ${h.cc} to ${cc}: at least ${lost} packet(s) lost`,
          pos,
        );
        if (h.kind === 'psi') h.sections.reset();
      }
    }
    h.cc = cc;
    const pusi = (b1 & 0x40) !== 0;
    if (h.kind === 'psi') {
      if (p < end) this.psiPayload(h, b.subarray(p, end), pusi, pos);
      return;
    }
    if (rai) h.raiPending = true;
    if (p < end && !h.disabled) this.esPayload(h, b, p, end, pusi, pos);
  }

  // ---------------------------------------------------------------------------------------------------
  // PSI: PAT and PMT

  private psi(table: 'pat' | 'pmt'): PsiPid {
    return { kind: 'psi', table, cc: -1, discPending: false, sections: new SectionAssembler() };
  }

  private psiPayload(h: PsiPid, payload: Uint8Array, pusi: boolean, pos: number): void {
    for (const sec of h.sections.feed(payload, pusi)) {
      // A repeat of the section taken last changes nothing (its CRC was checked then).
      if (h.last && sameBytes(sec, h.last)) continue;
      try {
        if (h.table === 'pat') this.onPat(sec, pos);
        else this.onPmt(sec, pos);
        h.last = sec;
      } catch (err) {
        if (!(err instanceof FormatError)) throw err;
        this.warn('W_TS_PSI', `${h.table.toUpperCase()} section ignored: ${err.message}`, pos);
      }
    }
  }

  private onPat(sec: Uint8Array, pos: number): void {
    const pat = parsePat(sec, pos);
    if (!pat.current) return;
    const programs = pat.programs.filter((p) => p.programNumber !== 0);
    const chosen =
      programs.find((p) => p.programNumber === this.programNumber) ??
      (this.programNumber < 0 ? programs[0] : undefined);
    if (!chosen) return;
    if (this.programNumber < 0 && programs.length > 1) {
      this.warn(
        'W_TS_PROGRAMS',
        `${programs.length} programs in the stream; using program ${chosen.programNumber}`,
        pos,
      );
    }
    this.programNumber = chosen.programNumber;
    if (chosen.pmtPid !== this.pmtPid) {
      const existing = this.pids[chosen.pmtPid];
      if (existing && existing.kind === 'es') {
        this.warn('W_TS_PSI', `PMT PID ${hex(chosen.pmtPid)} is also an elementary stream PID; ignored`, pos);
        return;
      }
      if (this.pmtPid > 0 && this.pids[this.pmtPid]?.kind === 'psi') this.pids[this.pmtPid] = undefined;
      this.pmtPid = chosen.pmtPid;
      if (chosen.pmtPid !== 0) this.pids[chosen.pmtPid] = this.psi('pmt');
    }
  }

  private onPmt(sec: Uint8Array, pos: number): void {
    const pmt = parsePmt(sec, pos);
    if (!pmt.current || pmt.programNumber !== this.programNumber) return;
    this.pmtSeen = true;
    this.pcrPid = pmt.pcrPid;
    for (const es of pmt.streams) {
      const existing = this.pids[es.pid];
      if (existing?.kind === 'es') {
        if (existing.streamType !== es.streamType) {
          this.warn(
            'W_TS_PMT_CHANGE',
            `PID ${hex(es.pid)} changed stream type to ${hex(es.streamType)}; ignored`,
            pos,
          );
        }
        continue;
      }
      if (existing || es.pid < 0x10 || es.pid === 0x1fff) continue;
      this.addStream(es, pos);
    }
  }

  private addStream(es: PmtStream, pos: number): void {
    let media: Kind;
    let codec: EsPid['codec'];
    switch (es.streamType) {
      case 0x1b:
        media = 'video';
        codec = 'avc';
        break;
      case 0x24:
        media = 'video';
        codec = 'hevc';
        break;
      case 0x0f:
        media = 'audio';
        codec = 'aac';
        break;
      case 0x03:
      case 0x04:
        media = 'audio';
        codec = 'mp3';
        break;
      case 0x06:
        // PES private data without a codec descriptor is what ffmpeg's M2TS mode writes for AAC; ffmpeg
        // finds it by probing the payload, and so does this demuxer (ADTS sync, checked on the first frames).
        if (es.registration === undefined && !es.descriptorTags.some((t) => OTHER_CODEC_DESCRIPTORS.has(t))) {
          media = 'audio';
          codec = 'aac';
          break;
        }
        this.unsupportedStream(es, pos);
        return;
      default:
        this.unsupportedStream(es, pos);
        return;
    }
    const s: EsPid = {
      kind: 'es',
      pid: es.pid,
      streamType: es.streamType,
      media,
      codec,
      trackId: es.streamType === 0x06 ? 0 : this.nextTrackId++,
      probing: es.streamType === 0x06,
      disabled: false,
      cc: -1,
      discPending: false,
      raiPending: false,
      pesRai: false,
      auRai: false,
      pes: new ByteChain(this.chainSpace(), REGION.pes),
      pesActive: false,
      pesOffset: 0,
      pesSize: 0,
      headerParsed: false,
      payloadStart: 0,
      direct: false,
      pesBytes: 0,
      pesPts: NaN,
      pesDts: NaN,
      lastRaw: NaN,
      lastStep: 0,
      offset: this.clockOffset,
      epoch: this.clockEpoch,
      au: media === 'video' ? new ByteChain(this.chainSpace(), REGION.au) : new ByteChain(),
      auPts: NaN,
      auDts: NaN,
      auOffset: 0,
      auOpen: false,
      lastOutDts: -Infinity,
      lastDuration: 0,
      seenKeyframe: false,
      droppedBeforeKey: 0,
      nalStarts: [],
      nalEnds: [],
      audio: media === 'audio' ? new ByteChain(this.chainSpace(), REGION.audio) : new ByteChain(),
      audioConsumed: 0,
      audioAppended: 0,
      marks: [],
      nextDts: NaN,
      lostSync: false,
      audioKey: -1,
      sampleRate: 0,
      gated: [],
      gatedDropped: 0,
    };
    if (es.language) s.language = es.language;
    this.pids[es.pid] = s;
    this.esPids[es.pid] = s;
    this.streams.push(s);
    // Audio waits for the first keyframe only at the start; a video stream added to a PMT later must not
    // cut a hole into audio that is already flowing.
    if (media === 'video' && this.trim && this.gate === 'none' && !this.audioEmitted) this.gate = 'waiting';
  }

  private unsupportedStream(es: PmtStream, pos: number): void {
    if (this.unsupported.has(es.streamType)) return;
    this.unsupported.add(es.streamType);
    this.warn(
      'W_TS_UNSUPPORTED_STREAM',
      `PID ${hex(es.pid)}: stream type ${hex(es.streamType)}${es.registration ? ` (${es.registration})` : ''} is not supported; ignored`,
      pos,
    );
  }

  /** Decide what a probed private stream is from the start of its first PES payload. */
  private probe(s: EsPid): boolean {
    const c = s.audio;
    if (c.length < 9) return false;
    const n = Math.min(c.length, 9);
    const h = this.scratch;
    c.copyTo(0, n, h, 0);
    const adts = parseAdtsHeader(h.subarray(0, n), 0);
    // A frame header at the start, and the next frame's syncword right after it (or the payload's end).
    const ok =
      adts !== undefined &&
      (adts.frameLength === c.length ||
        (adts.frameLength + 2 <= c.length &&
          c.byteAt(adts.frameLength) === 0xff &&
          (c.byteAt(adts.frameLength + 1) & 0xf6) === 0xf0));
    s.probing = false;
    if (!ok) {
      s.disabled = true;
      s.audio.clear();
      s.marks = [];
      this.unsupportedStream({ streamType: s.streamType, pid: s.pid, descriptorTags: [] }, s.pesOffset);
      return false;
    }
    s.trackId = this.nextTrackId++;
    return true;
  }

  // ---------------------------------------------------------------------------------------------------
  // PES reassembly (2.4.3.6)

  private esPayload(s: EsPid, b: Uint8Array, p: number, end: number, pusi: boolean, pos: number): void {
    if (pusi) {
      if (s.pesActive) this.finishPes(s, true);
      s.pes.clear();
      s.pesActive = true;
      s.pesOffset = pos;
      s.pesSize = -1;
      s.headerParsed = false;
      s.direct = false;
      s.pesBytes = 0;
      s.pesRai = s.raiPending;
      s.raiPending = false;
    } else if (!s.pesActive) {
      return; // waiting for the start of a PES packet
    }
    if (s.direct) {
      // The common video case: one view per packet appended to the access unit, nothing else.
      let e = end;
      if (s.pesSize > 0) {
        const room = s.pesSize - s.pesBytes;
        if (room < end - p) e = p + Math.max(0, room);
      }
      s.pesBytes += end - p;
      if (e > p) this.append(s.au, b, p, e);
      if (s.pesSize > 0 && s.pesBytes >= s.pesSize) s.pesActive = false;
      if (s.au.length > MAX_ACCESS_UNIT) this.dropOversizedAccessUnit(s);
      return;
    }
    this.append(s.pes, b, p, end);
    if (!s.headerParsed) this.parsePesHeader(s);
    if (s.pesActive && s.pesSize > 0 && s.pes.length >= s.pesSize) this.finishPes(s, true);
    else if (s.pes.length > MAX_ACCESS_UNIT) {
      this.warn(
        'W_TS_PES_SIZE',
        `PID ${hex(s.pid)}: PES packet larger than ${MAX_ACCESS_UNIT} bytes; dropped`,
        s.pesOffset,
      );
      s.pes.clear();
      s.pesActive = false;
    }
  }

  /** Append bytes [p, end) of the buffer being scanned to a chain: a copyWithin when it is in the space. */
  private append(chain: ByteChain, b: Uint8Array, p: number, end: number): void {
    if (this.scanBase >= 0) chain.pushFromSpace(this.scanBase + p, this.scanBase + end);
    else chain.pushFrom(b, p, end);
  }

  /** Parse the PES header once its bytes are there; false when more bytes are needed. */
  private parsePesHeader(s: EsPid): boolean {
    const c = s.pes;
    if (c.length < 9) return false;
    const h = this.scratch;
    c.copyTo(0, Math.min(c.length, 19), h, 0);
    if (h[0] !== 0 || h[1] !== 0 || h[2] !== 1) {
      this.warn(
        'W_TS_PES',
        `PID ${hex(s.pid)}: PES packet without a start code prefix; skipped`,
        s.pesOffset,
      );
      s.pesActive = false;
      s.pes.clear();
      return false;
    }
    const streamId = h[3] as number;
    const packetLength = ((h[4] as number) << 8) | (h[5] as number);
    s.pesSize = packetLength === 0 ? 0 : packetLength + 6;
    let pts = NaN;
    let dts = NaN;
    if (hasNoOptionalHeader(streamId)) {
      s.payloadStart = 6;
    } else {
      const headerLength = h[8] as number;
      if (c.length < 9 + headerLength) return false;
      const flags = (h[7] as number) >> 6;
      if (flags >= 2 && headerLength >= 5) pts = readPesTime(h, 9);
      if (flags === 3 && headerLength >= 10) dts = readPesTime(h, 14);
      s.payloadStart = 9 + headerLength;
      if (s.pesSize > 0 && s.payloadStart > s.pesSize) {
        this.warn('W_TS_PES', `PID ${hex(s.pid)}: PES header longer than its packet; skipped`, s.pesOffset);
        s.pesActive = false;
        s.pes.clear();
        return false;
      }
    }
    s.headerParsed = true;
    if (Number.isNaN(pts)) {
      s.pesPts = NaN;
      s.pesDts = NaN;
    } else {
      const rawDts = this.unwrap(Number.isNaN(dts) ? pts : dts);
      let rawPts = Number.isNaN(dts) ? rawDts : pts + Math.round((rawDts - pts) / WRAP) * WRAP;
      if (rawPts < rawDts) rawPts = rawDts; // PTS before DTS is invalid: present at decode time
      s.pesDts = this.toOutput(s, rawDts);
      s.pesPts = s.pesDts + (rawPts - rawDts);
    }
    if (s.media === 'video') this.startVideoPes(s);
    return true;
  }

  /** A video PES header has been read: close the previous access unit or continue it. */
  private startVideoPes(s: EsPid): void {
    const sameTime = s.auOpen && s.pesPts === s.auPts && s.pesDts === s.auDts;
    if (!Number.isNaN(s.pesPts) && !sameTime) {
      // A PES with a PTS starts a new access unit (2.4.3.7: the PTS applies to the first AU starting in it);
      // one repeating the open access unit's times continues it, as muxers that split large AUs do.
      this.flushAccessUnit(s);
      s.auPts = s.pesPts;
      s.auDts = s.pesDts;
      s.auOffset = s.pesOffset;
      s.auRai = s.pesRai;
      s.auOpen = true;
    }
    if (!s.auOpen) {
      this.warn('W_TS_NO_PTS', `PID ${hex(s.pid)}: video data without a timestamp; skipped`, s.pesOffset);
      s.pesActive = false;
      s.pes.clear();
      return;
    }
    const end = s.pesSize > 0 ? Math.min(s.pes.length, s.pesSize) : s.pes.length;
    s.au.pushRange(s.pes, s.payloadStart, end);
    s.pesBytes = s.pes.length;
    s.pes.clear();
    s.direct = true;
    if (s.pesSize > 0 && s.pesBytes >= s.pesSize) s.pesActive = false;
    if (s.au.length > MAX_ACCESS_UNIT) this.dropOversizedAccessUnit(s);
  }

  private dropOversizedAccessUnit(s: EsPid): void {
    this.warn(
      'W_TS_PES_SIZE',
      `PID ${hex(s.pid)}: access unit larger than ${MAX_ACCESS_UNIT} bytes; dropped`,
      s.auOffset,
    );
    s.au.clear();
    s.auOpen = false;
    s.pesActive = false;
  }

  private finishPes(s: EsPid, complete: boolean): void {
    s.pesActive = false;
    if (s.direct) {
      if (s.pesSize > 0 && s.pesBytes < s.pesSize) {
        this.warn(
          'W_TS_PES',
          `PID ${hex(s.pid)}: PES packet ${complete ? 'cut short' : 'truncated'}: ${s.pesBytes} of ${s.pesSize} bytes`,
          s.pesOffset,
        );
      }
      return;
    }
    if (!s.headerParsed) {
      this.warn('W_TS_PES', `PID ${hex(s.pid)}: PES packet too short for its header; skipped`, s.pesOffset);
      s.pes.clear();
      return;
    }
    let end = s.pes.length;
    if (s.pesSize > 0) {
      if (end < s.pesSize) {
        this.warn(
          'W_TS_PES',
          `PID ${hex(s.pid)}: PES packet ${complete ? 'cut short' : 'truncated'}: ${end} of ${s.pesSize} bytes`,
          s.pesOffset,
        );
      }
      end = Math.min(end, s.pesSize);
    }
    if (s.media === 'audio' && end > s.payloadStart) {
      if (!Number.isNaN(s.pesPts)) {
        // Marks are consumed as frames are cut; a stream that yields no frames must not grow them forever.
        if (s.marks.length > 256) s.marks = s.marks.slice(-128);
        s.marks.push(s.audioAppended, s.pesPts);
      }
      s.audio.pushRange(s.pes, s.payloadStart, end);
      s.audioAppended += end - s.payloadStart;
      this.cutAudioFrames(s, false);
      // A PES cut short lost the rest of its last frame: the next PES must not complete it with its own
      // first bytes (a frame of garbage, then a lost sync).
      if (s.pesSize > 0 && end < s.pesSize && s.audio.length > 0) {
        this.warn(
          'W_TS_TRUNCATED',
          `PID ${hex(s.pid)}: ${s.audio.length} bytes of an incomplete audio frame dropped`,
          s.pesOffset,
        );
        this.dropAudio(s, s.audio.length);
      }
    }
    s.pes.clear();
  }

  // ---------------------------------------------------------------------------------------------------
  // Timeline: 33-bit unwrap and discontinuities

  private unwrap(ts: number): number {
    if (Number.isNaN(this.clockRef)) {
      this.clockRef = ts;
      return ts;
    }
    const v = ts + Math.round((this.clockRef - ts) / WRAP) * WRAP;
    this.clockRef = v;
    return v;
  }

  /** Map an unwrapped decode time to the output timeline, stitching discontinuities. */
  private toOutput(s: EsPid, raw: number): number {
    if (Number.isNaN(s.lastRaw)) {
      s.offset = this.clockOffset;
      s.epoch = this.clockEpoch;
    } else {
      const delta = raw - s.lastRaw;
      // With the indicator set, any step back or of more than 5 s is the discontinuity; without it only
      // steps no stream makes (1 s back, or 60 s forward) are, so genuine gaps are kept.
      const jump = s.discPending ? delta < 0 || delta > 5 * CLOCK : delta < -CLOCK || delta > 60 * CLOCK;
      if (jump) {
        if (s.epoch < this.clockEpoch) {
          // Another stream of the program has already stitched this discontinuity.
          s.offset = this.clockOffset;
          s.epoch = this.clockEpoch;
        } else {
          const expected = s.lastRaw + s.offset + (s.lastStep || 1);
          this.clockEpoch++;
          this.clockOffset = expected - raw;
          s.offset = this.clockOffset;
          s.epoch = this.clockEpoch;
          this.warn(
            'W_TS_DISCONTINUITY',
            `PID ${hex(s.pid)}: timestamps jump by ${(delta / CLOCK).toFixed(3)} s${s.discPending ? ' (discontinuity_indicator)' : ''}; timeline stitched`,
            s.pesOffset,
          );
        }
      } else if (delta > 0 && delta <= 5 * CLOCK) {
        s.lastStep = delta;
      }
    }
    s.discPending = false;
    s.lastRaw = raw;
    return raw + s.offset;
  }

  // ---------------------------------------------------------------------------------------------------
  // Video: Annex B access units -> length-prefixed samples

  /** Find the NAL units of the access unit: start positions after each start code, ends before the next. */
  private scanNalUnits(s: EsPid): void {
    const starts: number[] = [];
    const ends: number[] = [];
    const au = s.au.bytes();
    // 00 00 01 never occurs inside a NAL unit (emulation prevention, 14496-10 7.4.1), so every match is a
    // start code; Buffer's native search finds them many times faster than a byte loop or indexOf(1).
    for (let j = indexOfBytes(au, START_CODE, 0); j >= 0; j = indexOfBytes(au, START_CODE, j + 3)) {
      if (starts.length > ends.length) ends.push(j);
      starts.push(j + 3);
    }
    if (starts.length > ends.length) ends.push(au.length);
    // Trailing zero bytes belong to the next start code (Annex B.1), not to the NAL unit.
    for (let k = 0; k < ends.length; k++) {
      let e = ends[k] as number;
      const st = starts[k] as number;
      while (e > st && au[e - 1] === 0) e--;
      ends[k] = e;
    }
    s.nalStarts = starts;
    s.nalEnds = ends;
  }

  private flushAccessUnit(s: EsPid): void {
    if (!s.auOpen) return;
    s.auOpen = false;
    if (s.au.length === 0) return;
    this.scanNalUnits(s);
    const au = s.au;
    const starts = s.nalStarts;
    const ends = s.nalEnds;
    const hevc = s.codec === 'hevc';
    let size = 0;
    let keyframe = false;
    let hasIdr = false;
    let seiCount = 0;
    let firstSlice = -1;
    let sps: Uint8Array[] | undefined;
    let pps: Uint8Array[] | undefined;
    let vps: Uint8Array[] | undefined;
    const keep: boolean[] = [];
    for (let k = 0; k < starts.length; k++) {
      const st = starts[k] as number;
      const len = (ends[k] as number) - st;
      let use = len > (hevc ? 1 : 0);
      if (use) {
        const header = au.byteAt(st);
        if (hevc) {
          const type = (header >> 1) & 0x3f;
          if (type === HEVC_NAL.AUD || type === HEVC_NAL.FILLER) use = false;
          else if (type >= HEVC_NAL.BLA_W_LP && type <= HEVC_NAL.IRAP_LAST) keyframe = true;
          else if (type === HEVC_NAL.VPS) (vps ??= []).push(au.slice(st, st + len));
          else if (type === HEVC_NAL.SPS) (sps ??= []).push(au.slice(st, st + len));
          else if (type === HEVC_NAL.PPS) (pps ??= []).push(au.slice(st, st + len));
        } else {
          const type = header & 0x1f;
          if (type === H264_NAL.AUD || type === H264_NAL.FILLER) use = false;
          else if (type === H264_NAL.IDR) hasIdr = true;
          else if (type === H264_NAL.SLICE) firstSlice = firstSlice < 0 ? k : firstSlice;
          else if (type === H264_NAL.SEI) seiCount++;
          else if (type === H264_NAL.SPS) (sps ??= []).push(au.slice(st, st + len));
          else if (type === H264_NAL.PPS) (pps ??= []).push(au.slice(st, st + len));
        }
      }
      keep.push(use);
      if (use) size += 4 + len;
    }
    if (!hevc) {
      keyframe =
        hasIdr ||
        (seiCount > 0 && this.hasRecoveryPoint(s)) ||
        // 13818-1 2.14.3 / 2.4.3.5: for AVC the random_access_indicator marks an access unit with the
        // parameter sets and an I picture, the entry point of open-GOP streams that carry no IDR.
        (s.auRai && sps !== undefined && firstSlice >= 0 && this.isIntraSlice(s, firstSlice));
    }
    if (sps) s.lastSps = sps;
    if (pps) s.lastPps = pps;
    if (vps) s.lastVps = vps;
    if (sps) this.updateVideoConfig(s);
    if (size === 0) {
      au.clear();
      this.warn('W_TS_NO_NAL', `PID ${hex(s.pid)}: access unit without NAL units; skipped`, s.auOffset);
      return;
    }

    if (!s.seenKeyframe) {
      if (!s.track || (this.trim && !keyframe)) {
        s.droppedBeforeKey++;
        au.clear();
        return;
      }
      s.seenKeyframe = true;
      if (s.droppedBeforeKey > 0) {
        this.warn(
          'W_TS_TRIMMED',
          `PID ${hex(s.pid)}: the stream starts mid-GOP; ${s.droppedBeforeKey} video samples before the first keyframe dropped`,
          s.auOffset,
        );
      }
      if (this.gate === 'waiting') {
        this.gate = 'open';
        // Audio is cut at the keyframe only when video really started mid-GOP; a stream that starts clean
        // keeps all its audio (the first keyframe's pts is later than its dts with B-frames, and audio
        // in between belongs to the picture).
        this.firstKeyPts = s.droppedBeforeKey > 0 ? s.auPts : -Infinity;
        for (const other of this.streams) {
          this.releaseGated(other);
          this.reportGatedDrops(other);
        }
      }
    }

    // One allocation of the exact size; each NAL unit copied once, after its 4-byte length.
    const data = this.allocate(size);
    let o = 0;
    for (let k = 0; k < starts.length; k++) {
      if (!keep[k]) continue;
      const st = starts[k] as number;
      const len = (ends[k] as number) - st;
      data[o] = len >>> 24;
      data[o + 1] = (len >>> 16) & 0xff;
      data[o + 2] = (len >>> 8) & 0xff;
      data[o + 3] = len & 0xff;
      au.copyTo(st, len, data, o + 4);
      o += 4 + len;
    }
    au.clear();

    let dts = s.auDts;
    if (dts <= s.lastOutDts) {
      this.warn('W_TS_DTS_ORDER', `PID ${hex(s.pid)}: decode times do not increase; adjusted`, s.auOffset);
      dts = s.lastOutDts + 1;
    }
    const pts = Math.max(s.auPts, dts);
    const sample: Sample = {
      trackId: s.trackId,
      dts,
      cts: pts - dts,
      duration: 0,
      keyframe,
      size,
      data,
    };
    // Hold one sample back so that its duration is the next one's decode time minus its own.
    if (s.held) {
      s.held.duration = dts - s.held.dts;
      s.lastDuration = s.held.duration;
      this.out.samples.push(s.held);
    }
    s.held = sample;
    s.lastOutDts = dts;
  }

  /** slice_type of the slice NAL unit k is I (2 or 7, 14496-10 Table 7-6). */
  private isIntraSlice(s: EsPid, k: number): boolean {
    const st = s.nalStarts[k] as number;
    const en = Math.min(s.nalEnds[k] as number, st + 16);
    try {
      const r = new BitReader(unescapeRbsp(s.au.slice(st + 1, en)));
      r.ue(); // first_mb_in_slice
      const type = r.ue();
      return type === 2 || type === 7;
    } catch {
      return false; // too short to say: not a random access point
    }
  }

  /** H.264 without IDR (open GOP): a recovery point SEI (14496-10 D.1.8, payloadType 6) marks a keyframe. */
  private hasRecoveryPoint(s: EsPid): boolean {
    const au = s.au;
    for (let k = 0; k < s.nalStarts.length; k++) {
      const st = s.nalStarts[k] as number;
      const en = s.nalEnds[k] as number;
      if (en - st < 2 || (au.byteAt(st) & 0x1f) !== H264_NAL.SEI) continue;
      // Only the message headers are needed; a bounded prefix keeps this cheap for large SEI.
      const rbsp = unescapeRbsp(au.slice(st + 1, Math.min(en, st + 1 + 4096)));
      let i = 0;
      while (i + 1 < rbsp.length) {
        let type = 0;
        while (rbsp[i] === 0xff) {
          type += 255;
          i++;
        }
        type += rbsp[i++] ?? 0;
        let size = 0;
        while (rbsp[i] === 0xff) {
          size += 255;
          i++;
        }
        size += rbsp[i++] ?? 0;
        if (type === 6) return true;
        i += size;
      }
    }
    return false;
  }

  /** Build the avcC/hvcC from the latest parameter sets when there is none yet or the SPS changed. */
  private updateVideoConfig(s: EsPid): void {
    const sps = s.lastSps?.[0];
    if (!sps || !s.lastPps?.length) return;
    if (s.codec === 'hevc' && !s.lastVps?.length) return;
    if (s.configSps && sameBytes(s.configSps, sps)) return;
    if (s.badSps && sameBytes(s.badSps, sps)) return;
    try {
      let config: Uint8Array;
      let width: number;
      let height: number;
      if (s.codec === 'hevc') {
        config = buildHvcC(s.lastVps ?? [], s.lastSps ?? [], s.lastPps);
        ({ width, height } = parseHevcSps(sps));
      } else {
        config = buildAvcC(s.lastSps ?? [], s.lastPps);
        ({ width, height } = parseH264Sps(sps));
      }
      const changed = s.track !== undefined;
      s.configSps = sps;
      s.track = {
        id: s.trackId,
        kind: 'video',
        codec: s.codec as 'avc' | 'hevc',
        timescale: CLOCK,
        config,
        width,
        height,
        inBandParameterSets: true,
      };
      if (s.language) s.track.language = s.language;
      this.out.tracks.push(s.track);
      if (changed)
        this.warn(
          'W_TS_CONFIG_CHANGE',
          `PID ${hex(s.pid)}: new sequence parameter set (${width}x${height})`,
          s.auOffset,
        );
    } catch (err) {
      if (!(err instanceof FormatError)) throw err;
      s.badSps = sps;
      this.warn('W_TS_BAD_PARAMS', `PID ${hex(s.pid)}: parameter sets ignored: ${err.message}`, s.auOffset);
    }
  }

  // ---------------------------------------------------------------------------------------------------
  // Audio: ADTS / MPEG audio frames out of the PES payloads

  private cutAudioFrames(s: EsPid, final: boolean): void {
    if (s.probing && !this.probe(s)) return;
    const c = s.audio;
    const h = this.scratch;
    const aac = s.codec === 'aac';
    const minHeader = aac ? 7 : 4;
    while (c.length >= minHeader && !s.disabled) {
      c.copyTo(0, Math.min(c.length, 9), h, 0);
      let frameLength: number;
      let headerSize: number;
      let rate: number;
      let samples: number;
      let rawBlocks = 1;
      let adts: ReturnType<typeof parseAdtsHeader>;
      let mpa: ReturnType<typeof parseMpegAudioHeader>;
      if (aac) {
        adts = parseAdtsHeader(h.subarray(0, Math.min(c.length, 9)), 0);
        if (adts && adts.protectionAbsent === false && c.length < 9) break;
        frameLength = adts?.frameLength ?? 0;
        headerSize = adts?.headerSize ?? 0;
        rate = adts?.sampleRate ?? 0;
        samples = 1024;
        rawBlocks = adts?.rawDataBlocks ?? 1;
      } else {
        mpa = parseMpegAudioHeader(h, 0);
        frameLength = mpa?.frameLength ?? 0;
        headerSize = 0; // MP4 keeps MP3 frames whole, header included
        rate = mpa?.sampleRate ?? 0;
        samples = mpa?.samplesPerFrame ?? 1152;
        if (mpa && mpa.layer !== 3) {
          s.disabled = true;
          this.warn(
            'W_TS_UNSUPPORTED_STREAM',
            `PID ${hex(s.pid)}: MPEG audio layer ${mpa.layer} is not supported; ignored`,
            s.pesOffset,
          );
          break;
        }
      }
      if (frameLength === 0) {
        // Not a frame header: skip to the next 0xFF.
        if (!s.lostSync) {
          s.lostSync = true;
          this.warn(
            'W_TS_AUDIO_SYNC',
            `PID ${hex(s.pid)}: audio frame sync lost; skipping to the next frame header`,
            s.pesOffset,
          );
        }
        const next = c.find(0xff, 1);
        this.dropAudio(s, next < 0 ? c.length : next);
        continue;
      }
      if (c.length < frameLength) {
        if (final) break;
        return;
      }
      if (s.lostSync && !final) {
        // After a resync, trust a header only when the next frame's header follows it.
        if (c.length < frameLength + 2) return;
        if (c.byteAt(frameLength) !== 0xff || (c.byteAt(frameLength + 1) & 0xe0) !== 0xe0) {
          this.dropAudio(s, 1);
          continue;
        }
      }
      s.lostSync = false;
      if (rawBlocks > 1) {
        // Several raw_data_blocks in one ADTS frame cannot be split without decoding (13818-7 6.2.1).
        this.warn(
          'W_TS_ADTS_BLOCKS',
          `PID ${hex(s.pid)}: ADTS frame with ${rawBlocks} raw data blocks; skipped`,
          s.pesOffset,
        );
        this.dropAudio(s, frameLength);
        continue;
      }
      this.updateAudioConfig(s, adts, mpa);
      const dts = this.audioTimestamp(s, rate, samples);
      const data = this.allocate(frameLength - headerSize);
      c.copyTo(headerSize, data.length, data, 0);
      this.dropAudio(s, frameLength);
      if (Number.isNaN(dts) || !s.track) continue;
      this.emitAudio(s, {
        trackId: s.trackId,
        dts,
        cts: 0,
        duration: samples,
        keyframe: true,
        size: data.length,
        data,
      });
    }
  }

  private dropAudio(s: EsPid, n: number): void {
    s.audio.drop(n);
    s.audioConsumed += n;
  }

  private updateAudioConfig(
    s: EsPid,
    adts: ReturnType<typeof parseAdtsHeader>,
    mpa: ReturnType<typeof parseMpegAudioHeader>,
  ): void {
    let config: Uint8Array;
    let rate: number;
    let channels: number;
    if (adts) {
      // 14496-3 1.A.2.2: ADTS profile = audio object type - 1; the header carries everything an ASC needs.
      const key = (adts.objectType << 8) | (adts.samplingIndex << 4) | adts.channelConfig;
      if (key === s.audioKey) return;
      s.audioKey = key;
      config = makeAudioSpecificConfig(adts.objectType, adts.sampleRate, adts.channelConfig);
      rate = adts.sampleRate;
      channels = adts.channelConfig === 7 ? 8 : adts.channelConfig;
    } else if (mpa) {
      const key = mpa.sampleRate * 4 + mpa.channels;
      if (key === s.audioKey) return;
      s.audioKey = key;
      config = new Uint8Array(0);
      rate = mpa.sampleRate;
      channels = mpa.channels;
    } else {
      return;
    }
    const changed = s.track !== undefined;
    if (changed && s.sampleRate !== rate) s.nextDts = NaN; // a new timescale: re-anchor on the next PTS
    s.sampleRate = rate;
    s.track = {
      id: s.trackId,
      kind: 'audio',
      codec: s.codec as 'aac' | 'mp3',
      timescale: rate,
      config,
      sampleRate: rate,
      channels,
    };
    if (s.language) s.track.language = s.language;
    this.out.tracks.push(s.track);
    if (changed)
      this.warn(
        'W_TS_CONFIG_CHANGE',
        `PID ${hex(s.pid)}: audio configuration changed (${rate} Hz, ${channels} channels)`,
        s.pesOffset,
      );
  }

  /**
   * The decode time of the frame at the head of the audio chain, in samples: the PTS of the PES it starts
   * in when it is the first frame starting there (2.4.3.7), else the previous frame's end. A PTS within
   * half a frame of the running count is taken as the count, so rounding never makes durations uneven.
   */
  private audioTimestamp(s: EsPid, rate: number, samples: number): number {
    const at = s.audioConsumed;
    let anchor = NaN;
    const m = s.marks;
    let used = 0;
    while (used < m.length && (m[used] as number) <= at) {
      anchor = m[used + 1] as number;
      used += 2;
    }
    if (used > 0) s.marks = m.slice(used);
    let dts = s.nextDts;
    if (!Number.isNaN(anchor) && rate > 0) {
      const fromPts = Math.round((anchor * rate) / CLOCK);
      if (Number.isNaN(dts)) dts = fromPts;
      else if (fromPts > dts + samples / 2) {
        if (fromPts - dts >= samples) {
          this.warn(
            'W_TS_AUDIO_GAP',
            `PID ${hex(s.pid)}: ${((fromPts - dts) / rate).toFixed(3)} s of audio missing`,
            s.pesOffset,
          );
        }
        dts = fromPts;
      }
    }
    if (!Number.isNaN(dts)) s.nextDts = dts + samples;
    return dts;
  }

  /** Whether an audio sample starts before the first video keyframe, compared in the audio's timescale. */
  private beforeKeyframe(s: EsPid, sample: Sample): boolean {
    return sample.dts < Math.round((this.firstKeyPts * s.sampleRate) / CLOCK);
  }

  private emitAudio(s: EsPid, sample: Sample): void {
    if (this.gate === 'waiting') {
      s.gated.push(sample);
      const first = s.gated[0] as Sample;
      if (sample.dts - first.dts <= MAX_GATED_SECONDS * s.sampleRate) return;
      this.gate = 'open';
      this.warn(
        'W_TS_NO_KEYFRAME',
        `no video keyframe within ${MAX_GATED_SECONDS} s of audio; audio kept from its start`,
        s.pesOffset,
      );
      for (const other of this.streams) this.releaseGated(other);
      return;
    }
    if (this.gate === 'open' && this.beforeKeyframe(s, sample)) {
      s.gatedDropped++;
      return;
    }
    this.audioEmitted = true;
    this.out.samples.push(sample);
  }

  private releaseGated(s: EsPid): void {
    const list = s.gated;
    s.gated = [];
    for (const g of list) {
      if (!Number.isNaN(this.firstKeyPts) && this.beforeKeyframe(s, g)) s.gatedDropped++;
      else this.out.samples.push(g);
    }
  }

  private reportGatedDrops(s: EsPid): void {
    if (s.gatedDropped > 0) {
      this.warn(
        'W_TS_AUDIO_TRIMMED',
        `PID ${hex(s.pid)}: ${s.gatedDropped} audio frames before the first video keyframe dropped`,
      );
      s.gatedDropped = 0;
    }
  }

  // ---------------------------------------------------------------------------------------------------

  private warn(code: string, message: string, offset?: number): void {
    const n = (this.warned.get(code) ?? 0) + 1;
    this.warned.set(code, n);
    if (n > MAX_WARNINGS_PER_CODE) return;
    const w: FormatWarning = { code, message };
    if (offset !== undefined) w.offset = offset;
    this.out.warnings.push(w);
  }

  private summariseWarnings(): void {
    for (const [code, n] of this.warned) {
      if (n > MAX_WARNINGS_PER_CODE) {
        this.out.warnings.push({
          code,
          message: `${n - MAX_WARNINGS_PER_CODE} more ${code} warnings not shown`,
        });
      }
    }
  }
}

/** The Annex B start code prefix (14496-10 B.1.1). */
const START_CODE = new Uint8Array([0, 0, 1]);
const bufferIndexOf = Buffer.prototype.indexOf;

/** Index of `needle` in `haystack` at or after `from`, or -1 (Node's native search, on any Uint8Array). */
function indexOfBytes(haystack: Uint8Array, needle: Uint8Array, from: number): number {
  return bufferIndexOf.call(haystack, needle, from) as number;
}

function hex(v: number): string {
  return '0x' + v.toString(16).padStart(2, '0');
}
