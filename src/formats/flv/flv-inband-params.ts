/**
 * Parameter sets carried in-band at a change of video configuration in an FLV made by joining.
 *
 * An FLV whose AVC/HEVC sequence header changes mid-stream (chunks from a publisher that changed its
 * encoder settings) plays, but readers that parse the frames themselves (ffmpeg's H.264 parser, behind
 * its FLV demuxer) keep the first SPS/PPS and print errors for every frame after the change. ffmpeg's own
 * concat puts the new parameter sets in the first keyframe after the change; so does the joiner, with
 * these helpers: the NAL units of a sequence header as length-prefixed units, and where they go in a frame.
 */
import { FormatError } from '../../core/errors.js';
import { H264_NAL, h264NalType, parseAvcC } from '../codecs/h264.js';
import { HEVC_NAL, hevcNalType, parseHvcC } from '../codecs/hevc.js';

/** What to put into the first keyframe after a video sequence header `body` (the whole tag body). */
export interface InBandParams {
  /** The parameter sets as length-prefixed NAL units (VPS, SPS, PPS). */
  units: Uint8Array;
  lengthSize: number;
  hevc: boolean;
}

const FOURCC_AVC1 = 0x61766331; // 'avc1'
const FOURCC_HVC1 = 0x68766331; // 'hvc1'

/** The in-band form of a video sequence header tag body, or undefined for other codecs or bad records. */
export function inBandParams(body: Uint8Array): InBandParams | undefined {
  if (body.length < 6) return undefined;
  const b0 = body[0] as number;
  let hevc: boolean;
  if ((b0 & 0x80) !== 0) {
    // Enhanced RTMP: FourCC in bytes 1-4, the record from byte 5 (PacketTypeSequenceStart).
    const fourcc = ((body[1]! << 24) | (body[2]! << 16) | (body[3]! << 8) | body[4]!) >>> 0;
    if (fourcc !== FOURCC_AVC1 && fourcc !== FOURCC_HVC1) return undefined;
    hevc = fourcc === FOURCC_HVC1;
  } else {
    const codec = b0 & 0x0f;
    if (codec !== 7 && codec !== 12) return undefined;
    hevc = codec === 12;
  }
  const record = body.subarray(5);
  try {
    const cfg = hevc ? parseHvcC(record) : parseAvcC(record);
    const sets = hevc
      ? [...(cfg as ReturnType<typeof parseHvcC>).vps, ...cfg.sps, ...cfg.pps]
      : [...cfg.sps, ...cfg.pps];
    if (cfg.sps.length === 0) return undefined;
    const n = cfg.lengthSize;
    let size = 0;
    for (const s of sets) size += n + s.length;
    const units = new Uint8Array(size);
    let at = 0;
    for (const s of sets) {
      for (let k = n - 1, len = s.length; k >= 0; k--, len = Math.floor(len / 256))
        units[at + k] = len & 0xff;
      units.set(s, at + n);
      at += n + s.length;
    }
    return { units, lengthSize: n, hevc };
  } catch (err) {
    if (err instanceof FormatError) return undefined;
    throw err;
  }
}

/**
 * Where the parameter sets go in the video frame tag body b[at, at + size): after the frame's FLV header
 * and any access unit delimiter; undefined when the frame already carries an SPS in its first units.
 */
export function paramsInsertAt(b: Uint8Array, at: number, size: number, p: InBandParams): number | undefined {
  const b0 = b[at] as number;
  // Legacy: FrameType/CodecID, AVCPacketType, CompositionTime (5 bytes). Enhanced: FourCC, then a
  // CompositionTime only for PacketTypeCodedFrames (1), not CodedFramesX (3).
  let pos = at + ((b0 & 0x80) !== 0 ? ((b0 & 0x0f) === 1 ? 8 : 5) : 5);
  const end = at + size;
  if (pos > end) return undefined;
  let insert = pos;
  for (let units = 0; units < 4 && pos + p.lengthSize < end; units++) {
    let len = 0;
    for (let k = 0; k < p.lengthSize; k++) len = len * 256 + (b[pos + k] as number);
    const first = b[pos + p.lengthSize] as number;
    const type = p.hevc ? hevcNalType(first) : h264NalType(first);
    if (p.hevc ? type === HEVC_NAL.SPS || type === HEVC_NAL.VPS : type === H264_NAL.SPS) return undefined;
    const aud = p.hevc ? type === HEVC_NAL.AUD : type === H264_NAL.AUD;
    pos += p.lengthSize + len;
    if (aud && insert === pos - p.lengthSize - len) insert = pos;
  }
  return insert;
}
