/**
 * H.264 / AVC helpers: Annex B NAL unit splitting (ISO/IEC 14496-10 Annex B), sequence parameter set parsing
 * (14496-10 7.3.2.1.1) and the AVCDecoderConfigurationRecord (avcC, ISO/IEC 14496-15 5.3.3). Pure.
 */
import { BitReader, ByteWriter, unescapeRbsp } from '../../core/bytes.js';
import { FormatError } from '../../core/errors.js';

/** nal_unit_type values used by the format code (14496-10 Table 7-1). */
export const H264_NAL = {
  SLICE: 1,
  IDR: 5,
  SEI: 6,
  SPS: 7,
  PPS: 8,
  AUD: 9,
  END_OF_SEQUENCE: 10,
  END_OF_STREAM: 11,
  FILLER: 12,
  SPS_EXT: 13,
} as const;

/** nal_unit_type of an H.264 NAL unit from its first byte. */
export function h264NalType(firstByte: number): number {
  return firstByte & 0x1f;
}

/**
 * Split an Annex B byte stream into NAL units: views into `data`, without start codes and without the
 * trailing zero bytes (trailing_zero_8bits, Annex B.1) that precede the next start code. Bytes before the
 * first start code are ignored. Uses indexOf for the 0x01 of each start code, not a per-byte loop.
 */
export function splitAnnexB(data: Uint8Array): Uint8Array[] {
  const out: Uint8Array[] = [];
  let nalStart = -1;
  let i = 2;
  for (;;) {
    const j = data.indexOf(1, i);
    if (j < 0) break;
    if (j >= 2 && data[j - 1] === 0 && data[j - 2] === 0) {
      if (nalStart >= 0) pushTrimmed(out, data, nalStart, j - 2);
      nalStart = j + 1;
    }
    i = j + 1;
  }
  if (nalStart >= 0) pushTrimmed(out, data, nalStart, data.length);
  return out;
}

function pushTrimmed(out: Uint8Array[], data: Uint8Array, start: number, end: number): void {
  while (end > start && data[end - 1] === 0) end--;
  if (end > start) out.push(data.subarray(start, end));
}

export interface H264Sps {
  spsId: number;
  profileIdc: number;
  /** constraint_set0..5 flags and reserved bits: the byte after profile_idc (the avcC "compatibility"). */
  constraintFlags: number;
  levelIdc: number;
  /** 0 monochrome, 1 4:2:0, 2 4:2:2, 3 4:4:4. */
  chromaFormatIdc: number;
  separateColourPlane: boolean;
  bitDepthLuma: number;
  bitDepthChroma: number;
  frameMbsOnly: boolean;
  /** Decoded size in luma samples before cropping. */
  codedWidth: number;
  codedHeight: number;
  /** Display size: coded size minus the frame cropping rectangle (7.4.2.1.1, CropUnitX/CropUnitY). */
  width: number;
  height: number;
  crop: { left: number; right: number; top: number; bottom: number };
}

/** Profiles whose SPS carries chroma_format_idc, bit depths and scaling matrices (7.3.2.1.1). */
const HIGH_PROFILES = new Set([100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135]);

function skipScalingList(r: BitReader, size: number): void {
  // 7.3.2.1.1.1 scaling_list(): delta_scale is only read while nextScale != 0.
  let last = 8;
  let next = 8;
  for (let j = 0; j < size; j++) {
    if (next !== 0) {
      const delta = r.se();
      next = (last + delta + 256) % 256;
    }
    last = next === 0 ? last : next;
  }
}

/**
 * Parse an SPS NAL unit (with its one-byte NAL header, emulation prevention bytes still in) for the facts a
 * container needs. `offset` is where the NAL unit sits in the input, for the error message.
 */
export function parseH264Sps(nal: Uint8Array, offset = 0): H264Sps {
  if (nal.length < 4 || h264NalType(nal[0] ?? 0) !== H264_NAL.SPS) {
    throw new FormatError('not an H.264 sequence parameter set', { code: 'E_H264_SPS', offset });
  }
  try {
    const rbsp = unescapeRbsp(nal.subarray(1));
    const r = new BitReader(rbsp);
    const profileIdc = r.bits(8);
    const constraintFlags = r.bits(8);
    const levelIdc = r.bits(8);
    const spsId = r.ue();
    if (spsId > 31) throw new RangeError(`seq_parameter_set_id ${spsId} > 31`);
    let chromaFormatIdc = 1;
    let separateColourPlane = false;
    let bitDepthLuma = 8;
    let bitDepthChroma = 8;
    if (HIGH_PROFILES.has(profileIdc)) {
      chromaFormatIdc = r.ue();
      if (chromaFormatIdc > 3) throw new RangeError(`chroma_format_idc ${chromaFormatIdc}`);
      if (chromaFormatIdc === 3) separateColourPlane = r.bit() === 1;
      bitDepthLuma = r.ue() + 8;
      bitDepthChroma = r.ue() + 8;
      if (bitDepthLuma > 14 || bitDepthChroma > 14) throw new RangeError('bit depth > 14');
      r.skip(1); // qpprime_y_zero_transform_bypass_flag
      if (r.bit()) {
        // seq_scaling_matrix_present_flag
        const lists = chromaFormatIdc !== 3 ? 8 : 12;
        for (let i = 0; i < lists; i++) if (r.bit()) skipScalingList(r, i < 6 ? 16 : 64);
      }
    }
    r.ue(); // log2_max_frame_num_minus4
    const pocType = r.ue();
    if (pocType === 0) {
      r.ue(); // log2_max_pic_order_cnt_lsb_minus4
    } else if (pocType === 1) {
      r.skip(1); // delta_pic_order_always_zero_flag
      r.se(); // offset_for_non_ref_pic
      r.se(); // offset_for_top_to_bottom_field
      const n = r.ue();
      if (n > 255) throw new RangeError(`num_ref_frames_in_pic_order_cnt_cycle ${n}`);
      for (let i = 0; i < n; i++) r.se();
    } else if (pocType !== 2) {
      throw new RangeError(`pic_order_cnt_type ${pocType}`);
    }
    r.ue(); // max_num_ref_frames
    r.skip(1); // gaps_in_frame_num_value_allowed_flag
    const widthMbs = r.ue() + 1;
    const heightMapUnits = r.ue() + 1;
    const frameMbsOnly = r.bit() === 1;
    if (!frameMbsOnly) r.skip(1); // mb_adaptive_frame_field_flag
    r.skip(1); // direct_8x8_inference_flag
    const crop = { left: 0, right: 0, top: 0, bottom: 0 };
    if (r.bit()) {
      crop.left = r.ue();
      crop.right = r.ue();
      crop.top = r.ue();
      crop.bottom = r.ue();
    }
    const codedWidth = widthMbs * 16;
    const codedHeight = (frameMbsOnly ? 1 : 2) * heightMapUnits * 16;
    if (codedWidth > 65536 || codedHeight > 65536) throw new RangeError('picture size out of range');
    // 7.4.2.1.1: the cropping unit depends on ChromaArrayType and on field coding.
    const chromaArrayType = separateColourPlane ? 0 : chromaFormatIdc;
    const subWidthC = chromaArrayType === 0 || chromaArrayType === 3 ? 1 : 2;
    const subHeightC = chromaArrayType === 1 ? 2 : 1;
    const cropUnitX = chromaArrayType === 0 ? 1 : subWidthC;
    const cropUnitY = (chromaArrayType === 0 ? 1 : subHeightC) * (frameMbsOnly ? 1 : 2);
    const width = codedWidth - cropUnitX * (crop.left + crop.right);
    const height = codedHeight - cropUnitY * (crop.top + crop.bottom);
    if (width <= 0 || height <= 0) throw new RangeError('cropping larger than the picture');
    return {
      spsId,
      profileIdc,
      constraintFlags,
      levelIdc,
      chromaFormatIdc,
      separateColourPlane,
      bitDepthLuma,
      bitDepthChroma,
      frameMbsOnly,
      codedWidth,
      codedHeight,
      width,
      height,
      crop,
    };
  } catch (err) {
    if (err instanceof FormatError) throw err;
    throw new FormatError(`malformed H.264 sequence parameter set: ${(err as Error).message}`, {
      code: 'E_H264_SPS',
      offset,
      cause: err,
    });
  }
}

/** The parsed AVCDecoderConfigurationRecord (14496-15 5.3.3.1.2). */
export interface AvcConfig {
  profile: number;
  /** profile_compatibility: the SPS constraint flags byte. */
  compat: number;
  level: number;
  /** NAL unit length field size in bytes: 1, 2 or 4. */
  lengthSize: number;
  sps: Uint8Array[];
  pps: Uint8Array[];
  /** Present for profiles other than 66, 77 and 88 when the record carries the extension. */
  chromaFormat?: number;
  bitDepthLuma?: number;
  bitDepthChroma?: number;
  spsExt?: Uint8Array[];
}

/** Profiles whose avcC has no chroma/bit-depth extension (14496-15 5.3.3.1.2). */
function avcHasExtension(profile: number): boolean {
  return profile !== 66 && profile !== 77 && profile !== 88;
}

/**
 * Build an avcC from SPS and PPS NAL units (with their NAL header bytes). Profile, compatibility and level
 * come from the first SPS; the high-profile extension (chroma format, bit depths) from parsing it.
 */
export function buildAvcC(sps: Uint8Array[], pps: Uint8Array[], lengthSize = 4): Uint8Array {
  const first = sps[0];
  if (!first || pps.length === 0) {
    throw new FormatError('an avcC needs at least one SPS and one PPS', { code: 'E_H264_AVCC', offset: 0 });
  }
  if (sps.length > 31 || pps.length > 255) {
    throw new FormatError('too many parameter sets for an avcC', { code: 'E_H264_AVCC', offset: 0 });
  }
  if (lengthSize !== 1 && lengthSize !== 2 && lengthSize !== 4) {
    throw new RangeError(`avcC length size must be 1, 2 or 4, not ${lengthSize}`);
  }
  const info = parseH264Sps(first);
  const w = new ByteWriter(
    16 + sps.reduce((n, s) => n + s.length + 2, 0) + pps.reduce((n, p) => n + p.length + 2, 0),
  );
  w.u8(1); // configurationVersion
  w.u8(info.profileIdc).u8(info.constraintFlags).u8(info.levelIdc);
  w.u8(0xfc | (lengthSize - 1));
  w.u8(0xe0 | sps.length);
  for (const s of sps) {
    if (s.length > 0xffff) throw new RangeError('SPS longer than 65535 bytes');
    w.u16(s.length).bytes(s);
  }
  w.u8(pps.length);
  for (const p of pps) {
    if (p.length > 0xffff) throw new RangeError('PPS longer than 65535 bytes');
    w.u16(p.length).bytes(p);
  }
  if (avcHasExtension(info.profileIdc)) {
    w.u8(0xfc | info.chromaFormatIdc);
    w.u8(0xf8 | (info.bitDepthLuma - 8));
    w.u8(0xf8 | (info.bitDepthChroma - 8));
    w.u8(0); // numOfSequenceParameterSetExt
  }
  return w.toBytes();
}

/** Parse an avcC record. `offset` is the record's position in the input, for error messages. */
export function parseAvcC(bytes: Uint8Array, offset = 0): AvcConfig {
  const fail = (what: string, at: number): never => {
    throw new FormatError(`malformed avcC: ${what}`, { code: 'E_H264_AVCC', offset: offset + at });
  };
  if (bytes.length < 7) fail('shorter than 7 bytes', 0);
  if (bytes[0] !== 1) fail(`configurationVersion ${bytes[0]}`, 0);
  const profile = bytes[1] as number;
  const compat = bytes[2] as number;
  const level = bytes[3] as number;
  const lengthSize = ((bytes[4] as number) & 3) + 1;
  if (lengthSize === 3) fail('NAL length size 3', 4);
  let at = 5;
  const readList = (count: number, into: Uint8Array[]): void => {
    for (let i = 0; i < count; i++) {
      if (at + 2 > bytes.length) fail('parameter set length past the end', at);
      const len = ((bytes[at] as number) << 8) | (bytes[at + 1] as number);
      at += 2;
      if (at + len > bytes.length) fail(`parameter set of ${len} bytes past the end`, at);
      into.push(bytes.subarray(at, at + len));
      at += len;
    }
  };
  const sps: Uint8Array[] = [];
  const pps: Uint8Array[] = [];
  readList((bytes[at++] as number) & 0x1f, sps);
  if (at >= bytes.length) fail('no PPS count', at);
  readList(bytes[at++] as number, pps);
  const cfg: AvcConfig = { profile, compat, level, lengthSize, sps, pps };
  // The extension is optional in practice: many writers omit it even for High profile.
  if (avcHasExtension(profile) && at + 4 <= bytes.length) {
    cfg.chromaFormat = (bytes[at] as number) & 3;
    cfg.bitDepthLuma = ((bytes[at + 1] as number) & 7) + 8;
    cfg.bitDepthChroma = ((bytes[at + 2] as number) & 7) + 8;
    at += 3;
    const ext: Uint8Array[] = [];
    readList(bytes[at++] as number, ext);
    cfg.spsExt = ext;
  }
  return cfg;
}

/** RFC 6381 codec string of an avcC: avc1.PPCCLL (hex of profile, compatibility, level). */
export function avcCodecString(profile: number, compat: number, level: number, entry = 'avc1'): string {
  const hex = (v: number): string => v.toString(16).padStart(2, '0');
  return `${entry}.${hex(profile)}${hex(compat)}${hex(level)}`;
}
