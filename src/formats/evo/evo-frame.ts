/**
 * EvoStream / RDK media server "progressive" fMP4 framing over a websocket (shared/specs/ws-fmp4.md
 * "Framing"; the server side is rdkcmf/rdkc-rms fmp4writer.h `FMP4ProgressiveBufferType` and
 * outnetfmp4stream.cpp `WriteProgressiveBuffer`).
 *
 * Every binary message is one frame: a 4-byte big-endian word `(type << 24) | payloadSize`, then
 * `payloadSize` bytes. The server refuses payloads above 0x00ffffff, so the size field is 24 bits.
 * Pure: bytes in, frames out.
 */
import { FormatError } from '../../core/errors.js';
import { readBoxes } from '../isobmff/isobmff-boxes.js';

/** Frame types (spec table "Framing"; fmp4writer.h PBT_*). */
export const EVO_BEGIN = 0xf9;
export const EVO_HEADER_MOOV = 0xfa;
export const EVO_HEADER_MOOF = 0xfb;
export const EVO_VIDEO_BUFFER = 0xfc;
export const EVO_AUDIO_BUFFER = 0xfd;
export const EVO_HEADER_MDAT = 0xfe;
export const EVO_END = 0xff;

/** The frame header: one 32-bit word. */
export const EVO_FRAME_HEADER_SIZE = 4;
/** The largest payload the size field can say (WriteProgressiveBuffer: "Maximum allowed size is 0x00ffffff"). */
export const EVO_MAX_PAYLOAD = 0x00ffffff;

const NAMES: Record<number, string> = {
  [EVO_BEGIN]: 'BEGIN',
  [EVO_HEADER_MOOV]: 'HEADER_MOOV',
  [EVO_HEADER_MOOF]: 'HEADER_MOOF',
  [EVO_VIDEO_BUFFER]: 'VIDEO_BUFFER',
  [EVO_AUDIO_BUFFER]: 'AUDIO_BUFFER',
  [EVO_HEADER_MDAT]: 'HEADER_MDAT',
  [EVO_END]: 'END',
};

/** "HEADER_MOOF (0xfb)", or "0x12" for a type the spec does not define. */
export function evoTypeName(type: number): string {
  const hex = `0x${type.toString(16).padStart(2, '0')}`;
  const name = NAMES[type];
  return name ? `${name} (${hex})` : hex;
}

export function isKnownEvoType(type: number): boolean {
  return type >= EVO_BEGIN && type <= EVO_END;
}

export interface EvoFrame {
  type: number;
  /** The payload: a view of the message, not a copy. */
  payload: Uint8Array;
  /** Where the frame header starts, as an offset in the whole stream (for messages). */
  offset: number;
}

/**
 * Whether a websocket message starts like this framing: a first byte that is one of the frame types and
 * room for the header. Nothing else a websocket media server sends starts that way: an ISO-BMFF box size
 * of 0xF9000000 or more is over 4 GB, and FLV starts with "F" (0x46).
 */
export function sniffEvo(message: Uint8Array): boolean {
  return message.length >= EVO_FRAME_HEADER_SIZE && isKnownEvoType(message[0] as number);
}

/**
 * The frames of one message (the server sends one per message; frames back to back are accepted too).
 * `offset` is the message's position in the stream. A header cut short, or a size field that runs past the
 * end of the message, is a FormatError naming the frame type and both sizes.
 */
export function readEvoFrames(message: Uint8Array, offset: number): EvoFrame[] {
  const frames: EvoFrame[] = [];
  let at = 0;
  while (at < message.length) {
    const left = message.length - at;
    if (left < EVO_FRAME_HEADER_SIZE) {
      throw new FormatError(
        `EvoStream frame header cut short: ${left} of ${EVO_FRAME_HEADER_SIZE} bytes left in the message`,
        { code: 'E_EVO_TRUNCATED', offset: offset + at },
      );
    }
    const type = message[at] as number;
    const size = ((message[at + 1] as number) << 16) | ((message[at + 2] as number) << 8) | message[at + 3]!;
    if (size > left - EVO_FRAME_HEADER_SIZE) {
      throw new FormatError(
        `EvoStream ${evoTypeName(type)} frame declares ${size} payload bytes but the message has ${left - EVO_FRAME_HEADER_SIZE} after its header`,
        {
          code: 'E_EVO_FRAME_SIZE',
          offset: offset + at,
          hint: 'the stream is cut or is not EvoStream progressive framing',
        },
      );
    }
    const start = at + EVO_FRAME_HEADER_SIZE;
    frames.push({ type, payload: message.subarray(start, start + size), offset: offset + at });
    at = start + size;
  }
  return frames;
}

/** What a HEADER_MOOV frame says (spec "Framing": the 4 extra bytes, then ftyp + moov). */
export interface EvoInit {
  /** The init segment: ftyp + moov (a view of the frame's payload). */
  init: Uint8Array;
  hasVideo: boolean;
  hasAudio: boolean;
  /** "avc1.PPCCLL" from the three AVC bytes, when the stream has video. */
  codecString?: string;
}

const CAPABILITY_MARK = 0xf0;
const CAP_VIDEO = 0x01;
const CAP_AUDIO = 0x02;

function hex2(v: number): string {
  return v.toString(16).padStart(2, '0');
}

/**
 * Parse a HEADER_MOOV payload: a capability byte `0xF0 | 1 (video) | 2 (audio)`, the AVC profile,
 * compatibility and level bytes (fmp4writer.cpp OpenSegment), then the init segment, which must be whole
 * ISO-BMFF boxes (ISO/IEC 14496-12 4.2) including a moov. `offset` is the payload's stream offset.
 */
export function parseEvoMoov(payload: Uint8Array, offset: number): EvoInit {
  if (payload.length < 4 + 8) {
    throw new FormatError(`EvoStream HEADER_MOOV payload of ${payload.length} bytes is too short`, {
      code: 'E_EVO_BAD_MOOV',
      offset,
    });
  }
  const cap = payload[0] as number;
  if ((cap & 0xf0) !== CAPABILITY_MARK) {
    throw new FormatError(
      `EvoStream HEADER_MOOV starts with 0x${hex2(cap)}, not a capability byte (0xf0 | 1 video | 2 audio)`,
      { code: 'E_EVO_BAD_MOOV', offset },
    );
  }
  const init = payload.subarray(4);
  let boxes;
  try {
    boxes = readBoxes(init, 0, init.length, offset + 4);
  } catch (err) {
    throw new FormatError(
      'EvoStream HEADER_MOOV does not hold whole ISO-BMFF boxes after its 4-byte prefix',
      {
        code: 'E_EVO_BAD_MOOV',
        offset: offset + 4,
        cause: err,
      },
    );
  }
  if (!boxes.some((b) => b.type === 'moov')) {
    throw new FormatError(
      `EvoStream HEADER_MOOV holds no moov box (boxes: ${boxes.map((b) => b.type).join(', ') || 'none'})`,
      { code: 'E_EVO_BAD_MOOV', offset: offset + 4 },
    );
  }
  const out: EvoInit = { init, hasVideo: (cap & CAP_VIDEO) !== 0, hasAudio: (cap & CAP_AUDIO) !== 0 };
  if (out.hasVideo) {
    out.codecString = `avc1.${hex2(payload[1] as number)}${hex2(payload[2] as number)}${hex2(payload[3] as number)}`;
  }
  return out;
}
