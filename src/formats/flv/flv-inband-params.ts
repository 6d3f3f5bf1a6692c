/**
 * Parameter sets carried in-band at a change of video configuration in an FLV made by joining.
 *
 * An FLV whose AVC/HEVC sequence header changes mid-stream (chunks from a publisher that changed its
 * encoder settings) plays, but readers that parse the frames themselves (ffmpeg's H.264 parser, behind
 * its FLV demuxer) keep the first SPS/PPS and print errors for every frame after the change. ffmpeg's own
 * concat puts the new parameter sets in the first keyframe after the change; so does the joiner, with
 * these helpers (over codecs/parameter-sets.ts): the NAL units of a sequence header as length-prefixed
 * units, and where they go in a frame.
 */
import { parameterSetUnits, unitsInsertAt, type InBandParams } from '../codecs/parameter-sets.js';

export type { InBandParams };

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
  return parameterSetUnits(hevc, body.subarray(5));
}

/**
 * Where the parameter sets go in the video frame tag body b[at, at + size): after the frame's FLV header
 * and any access unit delimiter; undefined when the frame already carries an SPS in its first units.
 */
export function paramsInsertAt(b: Uint8Array, at: number, size: number, p: InBandParams): number | undefined {
  const b0 = b[at] as number;
  // Legacy: FrameType/CodecID, AVCPacketType, CompositionTime (5 bytes). Enhanced: FourCC, then a
  // CompositionTime only for PacketTypeCodedFrames (1), not CodedFramesX (3).
  const pos = at + ((b0 & 0x80) !== 0 ? ((b0 & 0x0f) === 1 ? 8 : 5) : 5);
  return unitsInsertAt(b, pos, at + size, p);
}
