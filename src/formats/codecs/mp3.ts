/**
 * MPEG audio frame headers (ISO/IEC 11172-3 2.4.2.3, ISO/IEC 13818-3 for the low sampling frequencies, and
 * the common "MPEG 2.5" extension). Pure.
 */

export interface MpegAudioHeader {
  /** 1 (MPEG-1), 2 (MPEG-2 LSF) or 2.5. */
  version: 1 | 2 | 2.5;
  layer: 1 | 2 | 3;
  /** kbit/s */
  bitrate: number;
  sampleRate: number;
  channels: 1 | 2;
  /** The whole frame, header included, bytes. */
  frameLength: number;
  samplesPerFrame: number;
}

// kbit/s by bitrate_index 1..14, per version/layer (11172-3 Table 2.4.2.3, 13818-3 Table 2.4.2.3)
const BITRATES_V1: Record<number, readonly number[]> = {
  1: [32, 64, 96, 128, 160, 192, 224, 256, 288, 320, 352, 384, 416, 448],
  2: [32, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384],
  3: [32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320],
};
const BITRATES_V2: Record<number, readonly number[]> = {
  1: [32, 48, 56, 64, 80, 96, 112, 128, 144, 160, 176, 192, 224, 256],
  2: [8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160],
  3: [8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160],
};
const RATES_V1 = [44100, 48000, 32000];

/**
 * Parse the 4-byte MPEG audio header at `at`, or return undefined when it is not one (no 11-bit sync,
 * reserved version/layer/rate, or "free format" bitrate, whose frame length cannot be known from the header).
 */
export function parseMpegAudioHeader(data: Uint8Array, at = 0): MpegAudioHeader | undefined {
  if (at + 4 > data.length) return undefined;
  const b1 = data[at + 1] as number;
  const b2 = data[at + 2] as number;
  const b3 = data[at + 3] as number;
  if (data[at] !== 0xff || (b1 & 0xe0) !== 0xe0) return undefined;
  const versionBits = (b1 >> 3) & 3;
  const layerBits = (b1 >> 1) & 3;
  if (versionBits === 1 || layerBits === 0) return undefined;
  const version = versionBits === 3 ? 1 : versionBits === 2 ? 2 : 2.5;
  const layer = (4 - layerBits) as 1 | 2 | 3;
  const bitrateIndex = b2 >> 4;
  const rateIndex = (b2 >> 2) & 3;
  if (bitrateIndex === 0 || bitrateIndex === 15 || rateIndex === 3) return undefined;
  const bitrate = (version === 1 ? BITRATES_V1 : BITRATES_V2)[layer]?.[bitrateIndex - 1];
  if (bitrate === undefined) return undefined;
  const sampleRate = (RATES_V1[rateIndex] as number) / (version === 1 ? 1 : version === 2 ? 2 : 4);
  const padding = (b2 >> 1) & 1;
  let frameLength: number;
  let samplesPerFrame: number;
  if (layer === 1) {
    frameLength = (Math.floor((12 * bitrate * 1000) / sampleRate) + padding) * 4;
    samplesPerFrame = 384;
  } else if (layer === 2 || version === 1) {
    frameLength = Math.floor((144 * bitrate * 1000) / sampleRate) + padding;
    samplesPerFrame = 1152;
  } else {
    frameLength = Math.floor((72 * bitrate * 1000) / sampleRate) + padding;
    samplesPerFrame = 576;
  }
  return {
    version,
    layer,
    bitrate,
    sampleRate,
    channels: b3 >> 6 === 3 ? 1 : 2,
    frameLength,
    samplesPerFrame,
  };
}
