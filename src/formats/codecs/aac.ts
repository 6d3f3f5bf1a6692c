/**
 * AAC helpers: ADTS frame headers (ISO/IEC 13818-7 6.2 / ISO/IEC 14496-3 1.A.2.2) and the
 * AudioSpecificConfig (ISO/IEC 14496-3 1.6.2.1). Pure.
 */
import { BitReader } from '../../core/bytes.js';
import { FormatError } from '../../core/errors.js';

/** samplingFrequencyIndex -> Hz (14496-3 Table 1.18); index 15 means "explicit 24-bit value". */
export const AAC_SAMPLE_RATES: readonly number[] = [
  96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350,
];

/** channelConfiguration -> channel count (14496-3 Table 1.19); 0 means "defined by a PCE". */
const CHANNELS_BY_CONFIG: readonly number[] = [0, 1, 2, 3, 4, 5, 6, 8, 0, 0, 0, 7, 8, 24, 8];

export interface AdtsHeader {
  /** 7, or 9 with the CRC (protection_absent = 0). */
  headerSize: number;
  /** aac_frame_length: the whole frame, header included. */
  frameLength: number;
  /** Audio object type: ADTS profile + 1 (1 Main, 2 LC, 3 SSR, 4 LTP). */
  objectType: number;
  samplingIndex: number;
  sampleRate: number;
  channelConfig: number;
  protectionAbsent: boolean;
  /** number_of_raw_data_blocks_in_frame + 1; each block is 1024 samples. */
  rawDataBlocks: number;
}

/**
 * Parse the ADTS header at `at`, or return undefined when the bytes there are not one (no syncword, layer
 * not 0, reserved sampling index, or a frame length shorter than its header). Needs 7 bytes.
 */
export function parseAdtsHeader(data: Uint8Array, at = 0): AdtsHeader | undefined {
  if (at + 7 > data.length) return undefined;
  const b1 = data[at + 1] as number;
  // syncword 0xFFF, then ID (either), layer '00'
  if (data[at] !== 0xff || (b1 & 0xf6) !== 0xf0) return undefined;
  const b2 = data[at + 2] as number;
  const b3 = data[at + 3] as number;
  const samplingIndex = (b2 >> 2) & 0x0f;
  const sampleRate = AAC_SAMPLE_RATES[samplingIndex];
  if (sampleRate === undefined) return undefined;
  const protectionAbsent = (b1 & 1) === 1;
  const headerSize = protectionAbsent ? 7 : 9;
  const frameLength = ((b3 & 3) << 11) | ((data[at + 4] as number) << 3) | ((data[at + 5] as number) >> 5);
  if (frameLength < headerSize) return undefined;
  return {
    headerSize,
    frameLength,
    objectType: (b2 >> 6) + 1,
    samplingIndex,
    sampleRate,
    channelConfig: ((b2 & 1) << 2) | (b3 >> 6),
    protectionAbsent,
    rawDataBlocks: ((data[at + 6] as number) & 3) + 1,
  };
}

/**
 * A minimal AudioSpecificConfig: object type, sampling frequency (index, or 15 plus the explicit value when
 * the rate has no index) and channel configuration, then a GASpecificConfig with frameLengthFlag,
 * dependsOnCoreCoder and extensionFlag all 0 (14496-3 4.4.1). Two bytes for the common case.
 */
export function makeAudioSpecificConfig(
  objectType: number,
  sampleRate: number,
  channelConfig: number,
): Uint8Array {
  if (!Number.isInteger(objectType) || objectType < 1 || objectType > 95) {
    throw new RangeError(`audio object type ${objectType} out of range`);
  }
  if (!Number.isInteger(channelConfig) || channelConfig < 0 || channelConfig > 15) {
    throw new RangeError(`channel configuration ${channelConfig} out of range`);
  }
  const bits: Array<[number, number]> = [];
  if (objectType < 31) bits.push([objectType, 5]);
  else bits.push([31, 5], [objectType - 32, 6]);
  const index = AAC_SAMPLE_RATES.indexOf(sampleRate);
  if (index >= 0) bits.push([index, 4]);
  else {
    if (!Number.isInteger(sampleRate) || sampleRate <= 0 || sampleRate >= 1 << 24) {
      throw new RangeError(`sample rate ${sampleRate} out of range`);
    }
    bits.push([15, 4], [sampleRate, 24]);
  }
  bits.push([channelConfig, 4], [0, 3]);
  const total = bits.reduce((n, [, len]) => n + len, 0);
  const out = new Uint8Array(Math.ceil(total / 8));
  let pos = 0;
  for (const [value, len] of bits) {
    for (let i = len - 1; i >= 0; i--) {
      if (Math.floor(value / 2 ** i) % 2 === 1)
        out[pos >> 3] = (out[pos >> 3] as number) | (0x80 >> (pos & 7));
      pos++;
    }
  }
  return out;
}

export interface AudioSpecificConfig {
  /** The signalled audio object type: 2 for LC, 5 (SBR) or 29 (PS) for explicit HE-AAC signalling. */
  objectType: number;
  /** The core coder's object type (2 for LC, also under SBR/PS signalling). */
  coreObjectType: number;
  samplingIndex: number;
  /** The core sampling frequency, Hz. */
  sampleRate: number;
  channelConfig: number;
  /** Channels from the configuration, or counted from a program_config_element; 0 when unknown. */
  channels: number;
  /** 1024, or 960 when frameLengthFlag is set. */
  frameLength: number;
  /** SBR (HE-AAC) signalled explicitly, hierarchically (object type 5/29) or by a sync extension. */
  sbr: boolean;
  /** Parametric stereo (HE-AAC v2, object type 29). */
  ps: boolean;
  /** The SBR output sampling frequency, when signalled. */
  extensionSampleRate?: number;
}

function readObjectType(r: BitReader): number {
  const t = r.bits(5);
  return t === 31 ? 32 + r.bits(6) : t;
}

function readSampleRate(r: BitReader): [number, number] {
  const index = r.bits(4);
  if (index === 15) return [index, r.bits(24)];
  const rate = AAC_SAMPLE_RATES[index];
  if (rate === undefined) throw new RangeError(`reserved samplingFrequencyIndex ${index}`);
  return [index, rate];
}

/** 4.4.1.1 program_config_element(): the number of output channels it describes. */
function countPceChannels(r: BitReader): number {
  r.skip(4 + 2 + 4); // element_instance_tag, object_type, sampling_frequency_index
  const front = r.bits(4);
  const side = r.bits(4);
  const back = r.bits(4);
  const lfe = r.bits(2);
  const assoc = r.bits(3);
  const cc = r.bits(4);
  if (r.bit()) r.skip(4); // mono_mixdown
  if (r.bit()) r.skip(4); // stereo_mixdown
  if (r.bit()) r.skip(3); // matrix_mixdown
  let channels = 0;
  for (let i = 0; i < front + side + back; i++) {
    channels += r.bit() ? 2 : 1; // is_cpe
    r.skip(4);
  }
  r.skip(lfe * 4 + assoc * 4 + cc * 5);
  return channels + lfe;
}

/**
 * Parse an AudioSpecificConfig. Handles escaped object types (31), explicit frequencies (index 15), the
 * hierarchical SBR/PS signalling (object types 5 and 29), a PCE for channel configuration 0, and the
 * backward-compatible SBR sync extension (0x2b7) that ffmpeg's encoder appends.
 */
export function parseAudioSpecificConfig(bytes: Uint8Array, offset = 0): AudioSpecificConfig {
  try {
    if (bytes.length < 2) throw new RangeError('shorter than 2 bytes');
    const r = new BitReader(bytes);
    const signalled = readObjectType(r);
    let objectType = signalled;
    const [samplingIndex, sampleRate] = readSampleRate(r);
    const channelConfig = r.bits(4);
    let sbr = false;
    let ps = false;
    let extensionSampleRate: number | undefined;
    if (objectType === 5 || objectType === 29) {
      sbr = true;
      ps = objectType === 29;
      extensionSampleRate = readSampleRate(r)[1];
      objectType = readObjectType(r);
      if (objectType === 22) r.skip(4); // extensionChannelConfiguration (ER BSAC)
    }
    let frameLength = 1024;
    let channels = CHANNELS_BY_CONFIG[channelConfig] ?? 0;
    // GASpecificConfig for the object types that use it (14496-3 Table 1.15)
    const ga = [1, 2, 3, 4, 6, 7, 17, 19, 20, 21, 22, 23];
    if (ga.includes(objectType)) {
      if (r.bit()) frameLength = 960;
      if (r.bit()) r.skip(14); // dependsOnCoreCoder -> coreCoderDelay
      const extensionFlag = r.bit();
      if (channelConfig === 0) channels = countPceChannels(r);
      if (objectType === 6 || objectType === 20) r.skip(3); // layerNr
      if (extensionFlag) {
        if (objectType === 22) r.skip(16); // numOfSubFrame, layer_length
        if (objectType === 17 || objectType === 19 || objectType === 20 || objectType === 23) r.skip(3);
        r.skip(1); // extensionFlag3
      }
      // 1.6.2.1: a sync extension after the config signals SBR backward-compatibly.
      if (!sbr && r.bitsLeft >= 16 && r.bits(11) === 0x2b7) {
        const extType = readObjectType(r);
        if (extType === 5 && r.bitsLeft >= 1 && r.bit()) {
          sbr = true;
          extensionSampleRate = readSampleRate(r)[1];
          if (r.bitsLeft >= 12 && r.bits(11) === 0x548 && r.bit()) ps = true;
        }
      }
    }
    if (sampleRate <= 0) throw new RangeError(`sampling frequency ${sampleRate}`);
    const out: AudioSpecificConfig = {
      objectType: signalled,
      coreObjectType: objectType,
      samplingIndex,
      sampleRate,
      channelConfig,
      channels,
      frameLength,
      sbr,
      ps,
    };
    if (extensionSampleRate !== undefined) out.extensionSampleRate = extensionSampleRate;
    return out;
  } catch (err) {
    throw new FormatError(`malformed AudioSpecificConfig: ${(err as Error).message}`, {
      code: 'E_AAC_ASC',
      offset,
      cause: err,
    });
  }
}

/** RFC 6381 codec string: mp4a.40.<audio object type>. */
export function aacCodecString(objectType: number): string {
  return `mp4a.40.${objectType}`;
}
