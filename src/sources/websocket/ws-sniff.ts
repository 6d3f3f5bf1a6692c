/**
 * What a websocket media stream is, from its first binary bytes (shared/specs/ws-fmp4.md): EvoStream
 * progressive framing (a first byte 0xF9..0xFF, one frame per message), FLV (node-media-server's WS-FLV:
 * "FLV", FLV spec v10.1 E.2) or plain fragmented MP4 (a top-level ISO-BMFF box, ISO/IEC 14496-12 4.2).
 */
import { InputError } from '../../core/errors.js';
import { redactUrlCredentials } from '../../core/redact.js';
import { sniffEvo } from '../../formats/evo/evo-frame.js';
import { sniffFlv } from '../../formats/flv/flv-demuxer.js';
import { sniffIsobmff } from '../../formats/isobmff/isobmff-demuxer.js';

export type WsFraming = 'evo' | 'fmp4' | 'flv';

/** Bytes the FLV and ISO-BMFF sniffers want to decide (an FLV header is 9, a box header 8). */
export const SNIFF_BYTES = 16;

/**
 * The framing of a stream whose first binary message is `first` and whose first bytes (the first messages
 * joined, at least SNIFF_BYTES of them when the stream has that many) are `head`; undefined when it is none
 * of the three. EvoStream is told from the first message alone: its framing is per message.
 */
export function sniffWsFraming(first: Uint8Array, head: Uint8Array): WsFraming | undefined {
  if (sniffEvo(first)) return 'evo';
  if (sniffFlv(head) && head.length >= 9) return 'flv';
  if (sniffIsobmff(head)) return 'fmp4';
  return undefined;
}

function hex(bytes: Uint8Array): string {
  return [...bytes].map((b) => b.toString(16).padStart(2, '0')).join(' ');
}

function preview(text: string, max = 80): string {
  let clean = '';
  for (const c of text.slice(0, max + 1)) {
    const code = c.charCodeAt(0);
    clean += code < 0x20 || code === 0x7f ? `\\x${code.toString(16).padStart(2, '0')}` : c;
  }
  return clean.length > max ? `${clean.slice(0, max)}...` : clean;
}

/** A message as a person can recognise it: its kind, size, first bytes, and readable text if it is text. */
export function describeMessage(data: Uint8Array, binary: boolean): string {
  if (!binary) {
    return `a text message of ${data.length} bytes: "${preview(new TextDecoder().decode(data.subarray(0, 400)))}"`;
  }
  const head = data.subarray(0, 16);
  let printable = 0;
  for (const b of head) if (b >= 0x20 && b < 0x7f) printable++;
  const text =
    head.length > 0 && printable === head.length ? ` ("${preview(new TextDecoder().decode(head))}")` : '';
  return `a binary message of ${data.length} bytes starting ${hex(head) || '(empty)'}${text}`;
}

/** The error for a stream that is none of the framings castkit reads; names what was seen. */
export function unknownFramingError(url: string, seen: string): InputError {
  return new InputError(
    `${redactUrlCredentials(url)} sent ${seen}, which is not EvoStream progressive framing, fragmented MP4 or FLV`,
    {
      code: 'E_WS_UNKNOWN_FRAMING',
      hint: 'castkit records websockets that push EvoStream/RDK progressive fMP4, plain fragmented MP4 or FLV; check the URL (EvoStream wants ...?progressive) and whether the server expects a first message from the client',
      details: { url: redactUrlCredentials(url), seen },
    },
  );
}
