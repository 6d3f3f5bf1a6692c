/**
 * Reassembles EvoStream progressive framing into a fragmented MP4 (shared/specs/ws-fmp4.md "Framing" and
 * "What a recorder should do with it"). Pure: websocket messages in, init segments and `moof + mdat`
 * fragments out, as lists of byte ranges of the messages (nothing is copied).
 *
 * Within a fragment the server sends BEGIN, every sample as VIDEO_BUFFER / AUDIO_BUFFER as it is produced
 * (interleaved), then the moof in pieces (HEADER_MOOF: the moof + mfhd header, then per track the traf
 * header and its trun), then HEADER_MDAT (8 bytes: size + "mdat"), then END. The trun data offsets
 * (fmp4writer.cpp CloseFragmentTrack: audio's data_offset is moof size + 8 + all video bytes) assume an
 * mdat that holds all video sample bytes first, then all audio sample bytes. So video and audio are
 * buffered apart and, at END, emitted as `moof pieces ‖ mdat header ‖ video ‖ audio`. Appending the
 * buffers in arrival order (or only the last video buffer, as the answer in seed 002 does) is only right
 * for a video-only stream with one sample per fragment.
 */
import { FormatError } from '../../core/errors.js';
import type { FormatWarning } from '../media.js';
import {
  EVO_AUDIO_BUFFER,
  EVO_BEGIN,
  EVO_END,
  EVO_HEADER_MDAT,
  EVO_HEADER_MOOF,
  EVO_HEADER_MOOV,
  EVO_VIDEO_BUFFER,
  type EvoFrame,
  type EvoInit,
  evoTypeName,
  isKnownEvoType,
  parseEvoMoov,
  readEvoFrames,
} from './evo-frame.js';

/** One reassembled `moof + mdat`: write `pieces` in order. */
export interface EvoFragment {
  /** moof pieces ‖ mdat header ‖ video sample buffers ‖ audio sample buffers. */
  pieces: Uint8Array[];
  /** Bytes in all pieces. */
  size: number;
  videoSamples: number;
  audioSamples: number;
  /** Stream offset of the BEGIN frame. */
  offset: number;
}

export type EvoUnit =
  { kind: 'init'; init: EvoInit; offset: number } | { kind: 'fragment'; fragment: EvoFragment };

export interface EvoOutput {
  units: EvoUnit[];
  warnings: FormatWarning[];
}

export interface EvoReassemblerOptions {
  /** Largest fragment to buffer, bytes (default 256 MiB); a larger one is a FormatError. */
  maxFragmentBytes?: number;
}

/**
 * - `no-init`: nothing but a HEADER_MOOV may come (spec: "A late joiner gets the last MOOV first").
 * - `joining`: after a MOOV, until the first BEGIN. The server hands a new client the last completed MOOV
 *   and then whatever it sends next (outnetfmp4stream.cpp RegisterOutputProtocol), which may be the rest
 *   of a fragment already begun: that tail cannot be used and is skipped.
 * - `idle`: between END and BEGIN.
 * - `open`: inside BEGIN .. END.
 */
type State = 'no-init' | 'joining' | 'idle' | 'open';

const MDAT = 0x6d646174; // "mdat"
const MOOF = 0x6d6f6f66; // "moof"

export class EvoReassembler {
  private readonly maxFragmentBytes: number;
  private state: State = 'no-init';
  /** Stream offset of the next message's first byte. */
  private pos = 0;
  private failed: unknown;
  private lastInit: Uint8Array | undefined;
  private readonly warnedTypes = new Set<number>();
  private skipped = 0;
  private skippedFrames = 0;

  // The open fragment.
  private beginAt = 0;
  private moof: Uint8Array[] = [];
  private moofLen = 0;
  private mdat: Uint8Array | undefined;
  private mdatAt = 0;
  private video: Uint8Array[] = [];
  private videoLen = 0;
  private audio: Uint8Array[] = [];
  private audioLen = 0;

  constructor(options: EvoReassemblerOptions = {}) {
    this.maxFragmentBytes = options.maxFragmentBytes ?? 256 * 1024 * 1024;
  }

  /** Bytes of messages pushed so far. */
  get bytesIn(): number {
    return this.pos;
  }

  /** Whether a fragment is open (BEGIN seen, END not yet). */
  get inFragment(): boolean {
    return this.state === 'open';
  }

  /** Bytes held for the open fragment. */
  get bufferedBytes(): number {
    return this.moofLen + this.videoLen + this.audioLen + (this.mdat?.length ?? 0);
  }

  /** One websocket message (one frame, or frames back to back). */
  push(message: Uint8Array): EvoOutput {
    if (this.failed !== undefined) throw this.failed;
    const out: EvoOutput = { units: [], warnings: [] };
    try {
      for (const frame of readEvoFrames(message, this.pos)) this.frame(frame, out);
    } catch (err) {
      this.failed = err;
      throw err;
    }
    this.pos += message.length;
    return out;
  }

  /** The stream ended: an open fragment is dropped, and said so. */
  end(): EvoOutput {
    const out: EvoOutput = { units: [], warnings: [] };
    if (this.failed !== undefined) return out;
    if (this.state === 'open') {
      out.warnings.push({
        code: 'W_EVO_PARTIAL',
        message: `the stream ended inside a fragment (${this.bufferedBytes} bytes since its BEGIN): dropped`,
        offset: this.beginAt,
      });
      this.resetFragment();
      this.state = 'idle';
    }
    return out;
  }

  private frame(f: EvoFrame, out: EvoOutput): void {
    if (!isKnownEvoType(f.type)) {
      // Spec: unknown type bytes are tolerated (logged once per type, skipped).
      if (!this.warnedTypes.has(f.type)) {
        this.warnedTypes.add(f.type);
        out.warnings.push({
          code: 'W_EVO_UNKNOWN_TYPE',
          message: `EvoStream frame of unknown type ${evoTypeName(f.type)} (${f.payload.length} bytes): skipped`,
          offset: f.offset,
        });
      }
      return;
    }
    if (f.type === EVO_HEADER_MOOV) return this.moov(f, out);
    switch (this.state) {
      case 'no-init':
        throw new FormatError(`EvoStream ${evoTypeName(f.type)} frame before any HEADER_MOOV`, {
          code: 'E_EVO_NO_MOOV',
          offset: f.offset,
          hint: 'the server must send the init segment (HEADER_MOOV) first',
        });
      case 'joining':
        if (f.type === EVO_BEGIN) {
          this.noteSkipped(out, f.offset);
          return this.begin(f);
        }
        // The tail of a fragment that began before we joined.
        this.skipped += f.payload.length + 4;
        this.skippedFrames++;
        if (this.skipped > this.maxFragmentBytes) {
          throw new FormatError(`no EvoStream BEGIN frame in the ${this.skipped} bytes after HEADER_MOOV`, {
            code: 'E_EVO_NO_BEGIN',
            offset: f.offset,
          });
        }
        return;
      case 'idle':
        if (f.type === EVO_BEGIN) return this.begin(f);
        throw new FormatError(
          `EvoStream ${evoTypeName(f.type)} frame outside a fragment (after END, before BEGIN)`,
          {
            code: 'E_EVO_SEQUENCE',
            offset: f.offset,
          },
        );
      case 'open':
        return this.inside(f, out);
    }
  }

  private moov(f: EvoFrame, out: EvoOutput): void {
    const init = parseEvoMoov(f.payload, f.offset + 4);
    if (this.state === 'open') {
      out.warnings.push({
        code: 'W_EVO_PARTIAL',
        message: `HEADER_MOOV inside an open fragment (${this.bufferedBytes} bytes since its BEGIN): the fragment is dropped`,
        offset: f.offset,
      });
      this.resetFragment();
    }
    this.state = 'joining';
    this.skipped = 0;
    this.skippedFrames = 0;
    // A repeated, identical init segment changes nothing.
    if (this.lastInit && sameBytes(this.lastInit, init.init)) return;
    this.lastInit = init.init;
    out.units.push({ kind: 'init', init, offset: f.offset });
  }

  private noteSkipped(out: EvoOutput, offset: number): void {
    if (this.skippedFrames > 0) {
      out.warnings.push({
        code: 'W_EVO_JOIN_SKIPPED',
        message: `joined inside a fragment: ${this.skippedFrames} frames (${this.skipped} bytes) before the first BEGIN skipped`,
        offset,
      });
    }
    this.skipped = 0;
    this.skippedFrames = 0;
  }

  private begin(f: EvoFrame): void {
    this.resetFragment();
    this.state = 'open';
    this.beginAt = f.offset;
  }

  private inside(f: EvoFrame, out: EvoOutput): void {
    const p = f.payload;
    switch (f.type) {
      case EVO_BEGIN:
        throw new FormatError(
          `EvoStream BEGIN inside an open fragment (the fragment begun at byte ${this.beginAt} has no END)`,
          { code: 'E_EVO_SEQUENCE', offset: f.offset },
        );
      case EVO_VIDEO_BUFFER:
        this.video.push(p);
        this.videoLen += p.length;
        break;
      case EVO_AUDIO_BUFFER:
        this.audio.push(p);
        this.audioLen += p.length;
        break;
      case EVO_HEADER_MOOF:
        this.moof.push(p);
        this.moofLen += p.length;
        break;
      case EVO_HEADER_MDAT:
        if (this.mdat) {
          throw new FormatError('a second EvoStream HEADER_MDAT in one fragment', {
            code: 'E_EVO_SEQUENCE',
            offset: f.offset,
          });
        }
        this.mdat = p;
        this.mdatAt = f.offset;
        break;
      case EVO_END:
        this.close(f, out);
        return;
    }
    if (this.bufferedBytes > this.maxFragmentBytes) {
      throw new FormatError(`EvoStream fragment larger than ${this.maxFragmentBytes} bytes`, {
        code: 'E_EVO_FRAGMENT_TOO_LARGE',
        offset: this.beginAt,
      });
    }
  }

  /** END: check the pieces against each other and emit `moof ‖ mdat header ‖ video ‖ audio`. */
  private close(f: EvoFrame, out: EvoOutput): void {
    this.state = 'idle';
    const mdat = this.mdat;
    if (!mdat) {
      throw new FormatError('EvoStream fragment ended (END) without a HEADER_MDAT', {
        code: 'E_EVO_NO_MDAT',
        offset: f.offset,
        hint: 'the stream is cut or reordered; the fragment cannot be rebuilt',
      });
    }
    if (mdat.length !== 8) {
      throw new FormatError(`EvoStream HEADER_MDAT payload is ${mdat.length} bytes, not 8 (size + "mdat")`, {
        code: 'E_EVO_BAD_MDAT',
        offset: this.mdatAt,
      });
    }
    const mdatSize = u32(mdat, 0);
    if (u32(mdat, 4) !== MDAT) {
      throw new FormatError('EvoStream HEADER_MDAT does not hold an "mdat" box header', {
        code: 'E_EVO_BAD_MDAT',
        offset: this.mdatAt,
      });
    }
    const payload = this.videoLen + this.audioLen;
    if (mdatSize !== 8 + payload) {
      throw new FormatError(
        `EvoStream mdat declares ${mdatSize} bytes but the fragment carried ${payload} bytes of samples (+ 8 header)`,
        { code: 'E_EVO_MDAT_SIZE', offset: this.mdatAt },
      );
    }
    if (this.moofLen < 8) {
      throw new FormatError(
        `EvoStream fragment has ${this.moofLen} bytes of HEADER_MOOF, less than a box header`,
        {
          code: 'E_EVO_BAD_MOOF',
          offset: this.beginAt,
        },
      );
    }
    const head = firstBytes(this.moof, 8);
    if (u32(head, 4) !== MOOF) {
      throw new FormatError('the first EvoStream HEADER_MOOF piece does not start a "moof" box', {
        code: 'E_EVO_BAD_MOOF',
        offset: this.beginAt,
      });
    }
    if (u32(head, 0) !== this.moofLen) {
      throw new FormatError(
        `EvoStream moof declares ${u32(head, 0)} bytes but its HEADER_MOOF pieces hold ${this.moofLen}`,
        { code: 'E_EVO_MOOF_SIZE', offset: this.beginAt },
      );
    }
    const videoSamples = this.video.length;
    const audioSamples = this.audio.length;
    // After a stream reset the server closes a fragment with no sample in it (CloseFragment with no track
    // started): nothing to keep.
    if (videoSamples + audioSamples > 0) {
      const pieces = [...this.moof, mdat, ...this.video, ...this.audio];
      out.units.push({
        kind: 'fragment',
        fragment: {
          pieces,
          size: this.moofLen + 8 + payload,
          videoSamples,
          audioSamples,
          offset: this.beginAt,
        },
      });
    }
    this.resetFragment();
  }

  private resetFragment(): void {
    this.moof = [];
    this.moofLen = 0;
    this.mdat = undefined;
    this.video = [];
    this.videoLen = 0;
    this.audio = [];
    this.audioLen = 0;
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

/** The first `n` bytes of a list of pieces that hold at least that many. */
function firstBytes(pieces: readonly Uint8Array[], n: number): Uint8Array {
  const first = pieces[0];
  if (first && first.length >= n) return first;
  const out = new Uint8Array(n);
  let at = 0;
  for (const p of pieces) {
    const take = Math.min(p.length, n - at);
    out.set(p.subarray(0, take), at);
    at += take;
    if (at === n) break;
  }
  return out;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
