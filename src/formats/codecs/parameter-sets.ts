/**
 * Parameter sets carried in band: the VPS/SPS/PPS of an avcC or hvcC (ISO/IEC 14496-15 5.3.3, 8.3.3) as
 * the length-prefixed NAL units of a sample, and where they go in one. A stream whose configuration
 * changes midway (chunks of a publisher that changed its encoder settings, an ad break in a recording)
 * plays under its first configuration record when the first keyframe after the change carries the new
 * parameter sets: what ffmpeg's concat does, and what an MPEG-TS stream has in every keyframe anyway.
 */
import { FormatError } from '../../core/errors.js';
import { H264_NAL, h264NalType, parseAvcC } from './h264.js';
import { HEVC_NAL, hevcNalType, parseHvcC } from './hevc.js';

export interface InBandParams {
  /** The parameter sets as length-prefixed NAL units (VPS, SPS, PPS). */
  units: Uint8Array;
  lengthSize: number;
  hevc: boolean;
}

/** The in-band form of an avcC (`hevc` false) or hvcC record; undefined for a record that does not parse. */
export function parameterSetUnits(hevc: boolean, record: Uint8Array): InBandParams | undefined {
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
 * Where `p` goes among the length-prefixed NAL units b[pos, end) of a sample: after an access unit
 * delimiter, which must come first (H.264 7.4.1.2.3, H.265 7.4.2.4.4); undefined when the sample already
 * carries an SPS (or VPS) among its first units.
 */
export function unitsInsertAt(b: Uint8Array, pos: number, end: number, p: InBandParams): number | undefined {
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

/** A sample's length-prefixed NAL units with `p` put in front (after an AUD); the same array when it has an SPS. */
export function withParameterSets(sample: Uint8Array, p: InBandParams): Uint8Array {
  const at = unitsInsertAt(sample, 0, sample.length, p);
  if (at === undefined) return sample;
  const out = new Uint8Array(sample.length + p.units.length);
  out.set(sample.subarray(0, at), 0);
  out.set(p.units, at);
  out.set(sample.subarray(at), at + p.units.length);
  return out;
}
