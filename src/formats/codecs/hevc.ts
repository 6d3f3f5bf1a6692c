/**
 * H.265 / HEVC helpers: VPS/SPS/PPS parsing (ITU-T H.265 7.3.2) for the facts a container needs, and the
 * HEVCDecoderConfigurationRecord (hvcC, ISO/IEC 14496-15 8.3.3). Pure.
 *
 * The hvcC fields are derived the way ffmpeg's hvcc writer (libavformat/hevc.c) derives them, so that a
 * record built here from a TS stream's parameter sets equals the one ffmpeg writes into an MP4: profile,
 * tier, level, compatibility and constraint flags merged over the VPS and SPS profile_tier_level(),
 * min_spatial_segmentation_idc from the SPS VUI, parallelismType from the PPS.
 */
import { BitReader, ByteWriter, unescapeRbsp } from '../../core/bytes.js';
import { FormatError } from '../../core/errors.js';

/** nal_unit_type values used by the format code (H.265 Table 7-1). */
export const HEVC_NAL = {
  BLA_W_LP: 16,
  CRA: 21,
  /** IRAP pictures are types 16..23 (BLA, IDR, CRA and two reserved IRAP types). */
  IRAP_LAST: 23,
  VPS: 32,
  SPS: 33,
  PPS: 34,
  AUD: 35,
  END_OF_SEQUENCE: 36,
  END_OF_BITSTREAM: 37,
  FILLER: 38,
  SEI_PREFIX: 39,
  SEI_SUFFIX: 40,
} as const;

/** nal_unit_type of an HEVC NAL unit from its first byte (the header is 2 bytes, 7.3.1.2). */
export function hevcNalType(firstByte: number): number {
  return (firstByte >> 1) & 0x3f;
}

/** general_* fields of profile_tier_level() (7.3.3). */
export interface HevcProfileTierLevel {
  profileSpace: number;
  tierFlag: number;
  profileIdc: number;
  /** general_profile_compatibility_flag[0..31], flag 0 in the most significant bit. */
  compatFlags: number;
  /** The 48 bits from general_progressive_source_flag on, as 6 bytes. */
  constraintFlags: Uint8Array;
  levelIdc: number;
}

export interface HevcVps {
  vpsId: number;
  maxSubLayers: number;
  ptl: HevcProfileTierLevel;
}

export interface HevcSps {
  vpsId: number;
  spsId: number;
  maxSubLayers: number;
  temporalIdNesting: boolean;
  ptl: HevcProfileTierLevel;
  chromaFormatIdc: number;
  bitDepthLuma: number;
  bitDepthChroma: number;
  codedWidth: number;
  codedHeight: number;
  /** Size after the conformance window (7.4.3.2.1). */
  width: number;
  height: number;
  /** From the VUI bitstream_restriction (E.2.1); 0 when absent. */
  minSpatialSegmentationIdc: number;
}

export interface HevcPps {
  ppsId: number;
  spsId: number;
  tilesEnabled: boolean;
  entropyCodingSync: boolean;
}

function fail(what: string, offset: number, cause?: unknown): never {
  throw new FormatError(`malformed HEVC ${what}`, { code: 'E_HEVC_PARAMS', offset, cause });
}

/** The RBSP of a NAL unit: without the 2-byte header and the emulation prevention bytes. */
function rbspReader(nal: Uint8Array, type: number, name: string, offset: number): BitReader {
  if (nal.length < 3 || hevcNalType(nal[0] ?? 0) !== type) fail(`${name}: wrong NAL unit type`, offset);
  return new BitReader(unescapeRbsp(nal.subarray(2)));
}

function parsePtl(r: BitReader, maxSubLayersMinus1: number): HevcProfileTierLevel {
  const profileSpace = r.bits(2);
  const tierFlag = r.bit();
  const profileIdc = r.bits(5);
  const compatFlags = r.bits(32) >>> 0;
  const constraintFlags = new Uint8Array(6);
  for (let i = 0; i < 6; i++) constraintFlags[i] = r.bits(8);
  const levelIdc = r.bits(8);
  const profilePresent: number[] = [];
  const levelPresent: number[] = [];
  for (let i = 0; i < maxSubLayersMinus1; i++) {
    profilePresent.push(r.bit());
    levelPresent.push(r.bit());
  }
  if (maxSubLayersMinus1 > 0) for (let i = maxSubLayersMinus1; i < 8; i++) r.skip(2); // reserved_zero_2bits
  for (let i = 0; i < maxSubLayersMinus1; i++) {
    if (profilePresent[i]) r.skip(88); // sub_layer profile space .. constraint flags
    if (levelPresent[i]) r.skip(8); // sub_layer_level_idc
  }
  return { profileSpace, tierFlag, profileIdc, compatFlags, constraintFlags, levelIdc };
}

/** Parse a VPS NAL unit (with its 2-byte header). */
export function parseHevcVps(nal: Uint8Array, offset = 0): HevcVps {
  try {
    const r = rbspReader(nal, HEVC_NAL.VPS, 'VPS', offset);
    const vpsId = r.bits(4);
    r.skip(2); // vps_base_layer_internal_flag, vps_base_layer_available_flag
    r.skip(6); // vps_max_layers_minus1
    const maxSubLayersMinus1 = r.bits(3);
    r.skip(1 + 16); // vps_temporal_id_nesting_flag, vps_reserved_0xffff_16bits
    const ptl = parsePtl(r, maxSubLayersMinus1);
    return { vpsId, maxSubLayers: maxSubLayersMinus1 + 1, ptl };
  } catch (err) {
    if (err instanceof FormatError) throw err;
    return fail(`VPS: ${(err as Error).message}`, offset, err);
  }
}

/** 7.3.4 scaling_list_data(): parsed only to skip it. */
function skipScalingListData(r: BitReader): void {
  for (let sizeId = 0; sizeId < 4; sizeId++) {
    for (let matrixId = 0; matrixId < 6; matrixId += sizeId === 3 ? 3 : 1) {
      if (!r.bit()) {
        r.ue(); // scaling_list_pred_matrix_id_delta
      } else {
        const coefNum = Math.min(64, 1 << (4 + (sizeId << 1)));
        if (sizeId > 1) r.se(); // scaling_list_dc_coef_minus8
        for (let i = 0; i < coefNum; i++) r.se();
      }
    }
  }
}

/** 7.3.7 st_ref_pic_set(): returns NumDeltaPocs of this set, needed to parse the next one. */
function skipShortTermRps(r: BitReader, idx: number, numDeltaPocs: number[]): number {
  if (idx > 0 && r.bit()) {
    // inter_ref_pic_set_prediction_flag; in an SPS the reference set is always idx - 1.
    r.skip(1); // delta_rps_sign
    r.ue(); // abs_delta_rps_minus1
    const refCount = numDeltaPocs[idx - 1] ?? 0;
    let n = 0;
    for (let j = 0; j <= refCount; j++) {
      const used = r.bit();
      const useDelta = used ? 1 : r.bit();
      if (used || useDelta) n++;
    }
    return n;
  }
  const negative = r.ue();
  const positive = r.ue();
  if ((negative + positive) * 2 > r.bitsLeft) throw new RangeError('st_ref_pic_set past the end');
  for (let i = 0; i < negative + positive; i++) {
    r.ue(); // delta_poc_sX_minus1
    r.skip(1); // used_by_curr_pic_sX_flag
  }
  return negative + positive;
}

/** E.2.3 sub_layer_hrd_parameters() */
function skipSubLayerHrd(r: BitReader, cpbCnt: number, subPic: boolean): void {
  for (let i = 0; i <= cpbCnt; i++) {
    r.ue(); // bit_rate_value_minus1
    r.ue(); // cpb_size_value_minus1
    if (subPic) {
      r.ue(); // cpb_size_du_value_minus1
      r.ue(); // bit_rate_du_value_minus1
    }
    r.skip(1); // cbr_flag
  }
}

/** E.2.2 hrd_parameters( commonInfPresentFlag = 1, maxNumSubLayersMinus1 ) */
function skipHrd(r: BitReader, maxSubLayersMinus1: number): void {
  const nal = r.bit();
  const vcl = r.bit();
  let subPic = false;
  if (nal || vcl) {
    subPic = r.bit() === 1;
    if (subPic) r.skip(8 + 5 + 1 + 5);
    r.skip(4 + 4); // bit_rate_scale, cpb_size_scale
    if (subPic) r.skip(4); // cpb_size_du_scale
    r.skip(5 + 5 + 5);
  }
  for (let i = 0; i <= maxSubLayersMinus1; i++) {
    const fixedGeneral = r.bit();
    const fixedWithinCvs = fixedGeneral ? 1 : r.bit();
    let lowDelay = 0;
    if (fixedWithinCvs)
      r.ue(); // elemental_duration_in_tc_minus1
    else lowDelay = r.bit();
    let cpbCnt = 0;
    if (!lowDelay) cpbCnt = r.ue();
    if (cpbCnt > 31) throw new RangeError(`cpb_cnt_minus1 ${cpbCnt}`);
    if (nal) skipSubLayerHrd(r, cpbCnt, subPic);
    if (vcl) skipSubLayerHrd(r, cpbCnt, subPic);
  }
}

/** E.2.1 vui_parameters(): returns min_spatial_segmentation_idc (0 when absent). */
function parseVui(r: BitReader, maxSubLayersMinus1: number): number {
  if (r.bit()) {
    // aspect_ratio_info_present_flag
    if (r.bits(8) === 255) r.skip(32); // EXTENDED_SAR: sar_width, sar_height
  }
  if (r.bit()) r.skip(1); // overscan_info_present_flag -> overscan_appropriate_flag
  if (r.bit()) {
    // video_signal_type_present_flag
    r.skip(4); // video_format, video_full_range_flag
    if (r.bit()) r.skip(24); // colour_description_present_flag
  }
  if (r.bit()) {
    // chroma_loc_info_present_flag
    r.ue();
    r.ue();
  }
  r.skip(3); // neutral_chroma_indication_flag, field_seq_flag, frame_field_info_present_flag
  if (r.bit()) {
    // default_display_window_flag
    r.ue();
    r.ue();
    r.ue();
    r.ue();
  }
  if (r.bit()) {
    // vui_timing_info_present_flag
    r.skip(64); // vui_num_units_in_tick, vui_time_scale
    if (r.bit()) r.ue(); // vui_poc_proportional_to_timing_flag -> vui_num_ticks_poc_diff_one_minus1
    if (r.bit()) skipHrd(r, maxSubLayersMinus1);
  }
  if (r.bit()) {
    // bitstream_restriction_flag
    r.skip(3); // tiles_fixed_structure, motion_vectors_over_pic_boundaries, restricted_ref_pic_lists
    return r.ue(); // min_spatial_segmentation_idc
  }
  return 0;
}

/** Parse an SPS NAL unit (with its 2-byte header) up to the VUI (7.3.2.2.1). */
export function parseHevcSps(nal: Uint8Array, offset = 0): HevcSps {
  try {
    const r = rbspReader(nal, HEVC_NAL.SPS, 'SPS', offset);
    const vpsId = r.bits(4);
    const maxSubLayersMinus1 = r.bits(3);
    const temporalIdNesting = r.bit() === 1;
    const ptl = parsePtl(r, maxSubLayersMinus1);
    const spsId = r.ue();
    if (spsId > 15) throw new RangeError(`sps_seq_parameter_set_id ${spsId}`);
    const chromaFormatIdc = r.ue();
    if (chromaFormatIdc > 3) throw new RangeError(`chroma_format_idc ${chromaFormatIdc}`);
    const separateColourPlane = chromaFormatIdc === 3 ? r.bit() === 1 : false;
    const codedWidth = r.ue();
    const codedHeight = r.ue();
    if (codedWidth === 0 || codedHeight === 0 || codedWidth > 65536 || codedHeight > 65536) {
      throw new RangeError(`picture size ${codedWidth}x${codedHeight}`);
    }
    let width = codedWidth;
    let height = codedHeight;
    if (r.bit()) {
      // conformance_window_flag; offsets are in chroma sample units (7.4.3.2.1, Table 6-1)
      const chromaArrayType = separateColourPlane ? 0 : chromaFormatIdc;
      const subW = chromaArrayType === 1 || chromaArrayType === 2 ? 2 : 1;
      const subH = chromaArrayType === 1 ? 2 : 1;
      const left = r.ue();
      const right = r.ue();
      const top = r.ue();
      const bottom = r.ue();
      width -= subW * (left + right);
      height -= subH * (top + bottom);
      if (width <= 0 || height <= 0) throw new RangeError('conformance window larger than the picture');
    }
    const bitDepthLuma = r.ue() + 8;
    const bitDepthChroma = r.ue() + 8;
    if (bitDepthLuma > 16 || bitDepthChroma > 16) throw new RangeError('bit depth > 16');
    const log2MaxPocLsb = r.ue() + 4;
    if (log2MaxPocLsb > 16) throw new RangeError(`log2_max_pic_order_cnt_lsb ${log2MaxPocLsb}`);
    const orderingAll = r.bit();
    for (let i = orderingAll ? 0 : maxSubLayersMinus1; i <= maxSubLayersMinus1; i++) {
      r.ue(); // sps_max_dec_pic_buffering_minus1
      r.ue(); // sps_max_num_reorder_pics
      r.ue(); // sps_max_latency_increase_plus1
    }
    r.ue(); // log2_min_luma_coding_block_size_minus3
    r.ue(); // log2_diff_max_min_luma_coding_block_size
    r.ue(); // log2_min_luma_transform_block_size_minus2
    r.ue(); // log2_diff_max_min_luma_transform_block_size
    r.ue(); // max_transform_hierarchy_depth_inter
    r.ue(); // max_transform_hierarchy_depth_intra
    if (r.bit() && r.bit()) skipScalingListData(r); // scaling_list_enabled_flag, sps_scaling_list_data_present_flag
    r.skip(2); // amp_enabled_flag, sample_adaptive_offset_enabled_flag
    if (r.bit()) {
      // pcm_enabled_flag
      r.skip(8); // pcm_sample_bit_depth_luma_minus1, pcm_sample_bit_depth_chroma_minus1
      r.ue();
      r.ue();
      r.skip(1); // pcm_loop_filter_disabled_flag
    }
    const numRps = r.ue();
    if (numRps > 64) throw new RangeError(`num_short_term_ref_pic_sets ${numRps}`);
    const numDeltaPocs: number[] = [];
    for (let i = 0; i < numRps; i++) numDeltaPocs.push(skipShortTermRps(r, i, numDeltaPocs));
    if (r.bit()) {
      // long_term_ref_pics_present_flag
      const n = r.ue();
      if (n > 32) throw new RangeError(`num_long_term_ref_pics_sps ${n}`);
      for (let i = 0; i < n; i++) r.skip(log2MaxPocLsb + 1);
    }
    r.skip(2); // sps_temporal_mvp_enabled_flag, strong_intra_smoothing_enabled_flag
    const minSpatialSegmentationIdc = r.bit() ? parseVui(r, maxSubLayersMinus1) : 0;
    return {
      vpsId,
      spsId,
      maxSubLayers: maxSubLayersMinus1 + 1,
      temporalIdNesting,
      ptl,
      chromaFormatIdc,
      bitDepthLuma,
      bitDepthChroma,
      codedWidth,
      codedHeight,
      width,
      height,
      minSpatialSegmentationIdc,
    };
  } catch (err) {
    if (err instanceof FormatError) throw err;
    return fail(`SPS: ${(err as Error).message}`, offset, err);
  }
}

/** Parse a PPS NAL unit (with its 2-byte header) up to entropy_coding_sync_enabled_flag (7.3.2.3.1). */
export function parseHevcPps(nal: Uint8Array, offset = 0): HevcPps {
  try {
    const r = rbspReader(nal, HEVC_NAL.PPS, 'PPS', offset);
    const ppsId = r.ue();
    const spsId = r.ue();
    r.skip(1 + 1 + 3 + 1 + 1); // dependent_slice_segments .. cabac_init_present_flag
    r.ue(); // num_ref_idx_l0_default_active_minus1
    r.ue(); // num_ref_idx_l1_default_active_minus1
    r.se(); // init_qp_minus26
    r.skip(2); // constrained_intra_pred_flag, transform_skip_enabled_flag
    if (r.bit()) r.ue(); // cu_qp_delta_enabled_flag -> diff_cu_qp_delta_depth
    r.se(); // pps_cb_qp_offset
    r.se(); // pps_cr_qp_offset
    r.skip(4); // slice_chroma_qp_offsets_present, weighted_pred, weighted_bipred, transquant_bypass
    const tilesEnabled = r.bit() === 1;
    const entropyCodingSync = r.bit() === 1;
    return { ppsId, spsId, tilesEnabled, entropyCodingSync };
  } catch (err) {
    if (err instanceof FormatError) throw err;
    return fail(`PPS: ${(err as Error).message}`, offset, err);
  }
}

/** One array of the hvcC (14496-15 8.3.3.1.2). */
export interface HevcNalArray {
  type: number;
  completeness: boolean;
  nalus: Uint8Array[];
}

/** The parsed HEVCDecoderConfigurationRecord. */
export interface HevcConfig {
  profileSpace: number;
  tierFlag: number;
  profileIdc: number;
  compatFlags: number;
  constraintFlags: Uint8Array;
  levelIdc: number;
  minSpatialSegmentationIdc: number;
  parallelismType: number;
  chromaFormat: number;
  bitDepthLuma: number;
  bitDepthChroma: number;
  avgFrameRate: number;
  constantFrameRate: number;
  numTemporalLayers: number;
  temporalIdNested: boolean;
  lengthSize: number;
  arrays: HevcNalArray[];
  vps: Uint8Array[];
  sps: Uint8Array[];
  pps: Uint8Array[];
}

export interface BuildHvcCOptions {
  /** Declarative SEI NAL units to carry in the record (prefix or suffix SEI). */
  sei?: Uint8Array[];
  /** array_completeness of the VPS/SPS/PPS arrays; 1 (ffmpeg's choice for 'hvc1'). */
  complete?: boolean;
}

/**
 * Build an hvcC from VPS, SPS and PPS NAL units (with their 2-byte headers), merging the general profile
 * fields of every VPS and SPS (the largest profile/tier/level, the intersection of the compatibility and
 * constraint flags), as ffmpeg does.
 */
export function buildHvcC(
  vps: Uint8Array[],
  sps: Uint8Array[],
  pps: Uint8Array[],
  options: BuildHvcCOptions = {},
): Uint8Array {
  if (vps.length === 0 || sps.length === 0 || pps.length === 0) {
    throw new FormatError('an hvcC needs at least one VPS, SPS and PPS', { code: 'E_HEVC_HVCC', offset: 0 });
  }
  let profileSpace = 0;
  let tierFlag = 0;
  let profileIdc = 0;
  let levelIdc = 0;
  let compatFlags = 0xffffffff;
  const constraint = new Uint8Array([0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);
  let numTemporalLayers = 0;
  let temporalIdNested = 0;
  let minSpatial = 4097; // above the maximum (4095), "not yet seen"
  let chromaFormat = 1;
  let bitDepthLuma = 8;
  let bitDepthChroma = 8;
  let parallelismType = 0;
  const mergePtl = (p: HevcProfileTierLevel): void => {
    profileSpace = p.profileSpace;
    if (tierFlag < p.tierFlag) levelIdc = p.levelIdc;
    else levelIdc = Math.max(levelIdc, p.levelIdc);
    tierFlag = Math.max(tierFlag, p.tierFlag);
    profileIdc = Math.max(profileIdc, p.profileIdc);
    compatFlags = (compatFlags & p.compatFlags) >>> 0;
    for (let i = 0; i < 6; i++) constraint[i] = (constraint[i] as number) & (p.constraintFlags[i] as number);
  };
  for (const v of vps) {
    const info = parseHevcVps(v);
    numTemporalLayers = Math.max(numTemporalLayers, info.maxSubLayers);
    mergePtl(info.ptl);
  }
  for (const s of sps) {
    const info = parseHevcSps(s);
    numTemporalLayers = Math.max(numTemporalLayers, info.maxSubLayers);
    temporalIdNested = info.temporalIdNesting ? 1 : 0;
    mergePtl(info.ptl);
    minSpatial = Math.min(minSpatial, info.minSpatialSegmentationIdc);
    chromaFormat = info.chromaFormatIdc;
    bitDepthLuma = info.bitDepthLuma;
    bitDepthChroma = info.bitDepthChroma;
  }
  for (const p of pps) {
    const info = parseHevcPps(p);
    if (info.entropyCodingSync && info.tilesEnabled)
      parallelismType = 0; // mixed
    else if (info.entropyCodingSync)
      parallelismType = 3; // wavefront
    else if (info.tilesEnabled)
      parallelismType = 2; // tiles
    else parallelismType = 1; // slices
  }
  if (minSpatial > 4096) minSpatial = 0;
  // 14496-15 8.3.3.1.2: parallelismType is 0 (unknown) when min_spatial_segmentation_idc is 0.
  if (minSpatial === 0) parallelismType = 0;

  const seis = options.sei ?? [];
  const complete = options.complete ?? true;
  const w = new ByteWriter(64 + [...vps, ...sps, ...pps, ...seis].reduce((n, x) => n + x.length + 2, 0));
  w.u8(1); // configurationVersion
  w.u8((profileSpace << 6) | (tierFlag << 5) | profileIdc);
  w.u32(compatFlags);
  w.bytes(constraint);
  w.u8(levelIdc);
  w.u16(0xf000 | minSpatial);
  w.u8(0xfc | parallelismType);
  w.u8(0xfc | chromaFormat);
  w.u8(0xf8 | (bitDepthLuma - 8));
  w.u8(0xf8 | (bitDepthChroma - 8));
  w.u16(0); // avgFrameRate: unspecified
  // constantFrameRate (0: unknown), numTemporalLayers, temporalIdNested, lengthSizeMinusOne (3)
  w.u8((Math.min(numTemporalLayers, 7) << 3) | (temporalIdNested << 2) | 3);
  const arrays: Array<[number, Uint8Array[], boolean]> = [
    [HEVC_NAL.VPS, vps, complete],
    [HEVC_NAL.SPS, sps, complete],
    [HEVC_NAL.PPS, pps, complete],
  ];
  const prefix = seis.filter((s) => hevcNalType(s[0] ?? 0) === HEVC_NAL.SEI_PREFIX);
  const suffix = seis.filter((s) => hevcNalType(s[0] ?? 0) === HEVC_NAL.SEI_SUFFIX);
  if (prefix.length) arrays.push([HEVC_NAL.SEI_PREFIX, prefix, false]);
  if (suffix.length) arrays.push([HEVC_NAL.SEI_SUFFIX, suffix, false]);
  w.u8(arrays.length);
  for (const [type, nalus, isComplete] of arrays) {
    if (nalus.length > 0xffff) throw new RangeError('too many NAL units for one hvcC array');
    w.u8((isComplete ? 0x80 : 0) | type);
    w.u16(nalus.length);
    for (const n of nalus) {
      if (n.length > 0xffff) throw new RangeError('NAL unit longer than 65535 bytes in an hvcC');
      w.u16(n.length).bytes(n);
    }
  }
  return w.toBytes();
}

/** Parse an hvcC record. `offset` is the record's position in the input, for error messages. */
export function parseHvcC(bytes: Uint8Array, offset = 0): HevcConfig {
  const bad = (what: string, at: number): never => {
    throw new FormatError(`malformed hvcC: ${what}`, { code: 'E_HEVC_HVCC', offset: offset + at });
  };
  if (bytes.length < 23) bad('shorter than 23 bytes', 0);
  if (bytes[0] !== 1) bad(`configurationVersion ${bytes[0]}`, 0);
  const b = (i: number): number => bytes[i] as number;
  const cfg: HevcConfig = {
    profileSpace: b(1) >> 6,
    tierFlag: (b(1) >> 5) & 1,
    profileIdc: b(1) & 0x1f,
    compatFlags: ((b(2) << 24) | (b(3) << 16) | (b(4) << 8) | b(5)) >>> 0,
    constraintFlags: bytes.slice(6, 12),
    levelIdc: b(12),
    minSpatialSegmentationIdc: ((b(13) << 8) | b(14)) & 0x0fff,
    parallelismType: b(15) & 3,
    chromaFormat: b(16) & 3,
    bitDepthLuma: (b(17) & 7) + 8,
    bitDepthChroma: (b(18) & 7) + 8,
    avgFrameRate: (b(19) << 8) | b(20),
    constantFrameRate: b(21) >> 6,
    numTemporalLayers: (b(21) >> 3) & 7,
    temporalIdNested: ((b(21) >> 2) & 1) === 1,
    lengthSize: (b(21) & 3) + 1,
    arrays: [],
    vps: [],
    sps: [],
    pps: [],
  };
  if (cfg.lengthSize === 3) bad('NAL length size 3', 21);
  const numArrays = b(22);
  let at = 23;
  for (let i = 0; i < numArrays; i++) {
    if (at + 3 > bytes.length) bad('array header past the end', at);
    const type = b(at) & 0x3f;
    const completeness = (b(at) & 0x80) !== 0;
    const count = (b(at + 1) << 8) | b(at + 2);
    at += 3;
    // Each NAL unit needs at least its 2-byte length: cap the count by the bytes left.
    if (count * 2 > bytes.length - at) bad(`${count} NAL units cannot fit`, at);
    const nalus: Uint8Array[] = [];
    for (let j = 0; j < count; j++) {
      if (at + 2 > bytes.length) bad('NAL unit length past the end', at);
      const len = (b(at) << 8) | b(at + 1);
      at += 2;
      if (at + len > bytes.length) bad(`NAL unit of ${len} bytes past the end`, at);
      nalus.push(bytes.subarray(at, at + len));
      at += len;
    }
    cfg.arrays.push({ type, completeness, nalus });
    if (type === HEVC_NAL.VPS) cfg.vps.push(...nalus);
    else if (type === HEVC_NAL.SPS) cfg.sps.push(...nalus);
    else if (type === HEVC_NAL.PPS) cfg.pps.push(...nalus);
  }
  return cfg;
}

function reverseBits32(v: number): number {
  let r = 0;
  for (let i = 0; i < 32; i++) {
    r = (r << 1) | (v & 1);
    v >>>= 1;
  }
  return r >>> 0;
}

/**
 * RFC 6381 / ISO/IEC 14496-15 Annex E.3 codec string, e.g. hvc1.1.6.L93.B0: profile space letter and
 * profile_idc, the compatibility flags bit-reversed in hex, tier letter and level_idc, then the constraint
 * bytes in hex with trailing zero bytes omitted.
 */
export function hevcCodecString(
  c: Pick<
    HevcConfig,
    'profileSpace' | 'profileIdc' | 'compatFlags' | 'tierFlag' | 'levelIdc' | 'constraintFlags'
  >,
  entry = 'hvc1',
): string {
  const space = ['', 'A', 'B', 'C'][c.profileSpace] ?? '';
  const compat = reverseBits32(c.compatFlags).toString(16).toUpperCase();
  const bytes = Array.from(c.constraintFlags);
  while (bytes.length > 0 && bytes[bytes.length - 1] === 0) bytes.pop();
  const constraint = bytes.map((x) => '.' + x.toString(16).toUpperCase()).join('');
  return `${entry}.${space}${c.profileIdc}.${compat}.${c.tierFlag ? 'H' : 'L'}${c.levelIdc}${constraint}`;
}
