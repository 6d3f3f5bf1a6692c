/**
 * What muxers and manifest writers need to know about a track's decoder configuration: picture size,
 * sampling rate, channels, and the RFC 6381 codec string (ISO/IEC 14496-15 Annex E for AVC/HEVC, RFC 6381
 * 3.3 for mp4a). Pure.
 */
import type { AudioCodec, VideoCodec } from '../media.js';
import { aacCodecString, parseAudioSpecificConfig } from './aac.js';
import { avcCodecString, parseAvcC, parseH264Sps } from './h264.js';
import { hevcCodecString, parseHevcSps, parseHvcC } from './hevc.js';

export interface ConfigDescription {
  width?: number;
  height?: number;
  sampleRate?: number;
  channels?: number;
  /** e.g. avc1.64001f, hvc1.1.6.L93.B0, mp4a.40.2 */
  codecString: string;
  /** Human-readable profile name when known (e.g. "High", "Main", "LC"). */
  profile?: string;
  /** H.264: level_idc / 10 (e.g. 3.1); HEVC: general_level_idc / 30 (e.g. 3.1). */
  level?: number;
}

export interface DescribeOptions {
  /** Sample entry type in the codec string: 'avc1' (default) or 'avc3', 'hvc1' (default) or 'hev1'. */
  entry?: string;
}

const AVC_PROFILES: Record<number, string> = {
  66: 'Baseline',
  77: 'Main',
  88: 'Extended',
  100: 'High',
  110: 'High 10',
  122: 'High 4:2:2',
  244: 'High 4:4:4 Predictive',
  44: 'CAVLC 4:4:4',
};
const HEVC_PROFILES: Record<number, string> = { 1: 'Main', 2: 'Main 10', 3: 'Main Still Picture', 4: 'Rext' };
const AAC_PROFILES: Record<number, string> = {
  1: 'Main',
  2: 'LC',
  3: 'SSR',
  4: 'LTP',
  5: 'HE-AAC',
  29: 'HE-AACv2',
};

/**
 * Describe a decoder configuration record: avcC, hvcC or AudioSpecificConfig (empty for MP3). Throws a
 * FormatError (offset relative to the record) when the record is malformed.
 */
export function describeConfig(
  codec: VideoCodec | AudioCodec,
  config: Uint8Array,
  options: DescribeOptions = {},
): ConfigDescription {
  switch (codec) {
    case 'avc': {
      const c = parseAvcC(config);
      const out: ConfigDescription = {
        codecString: avcCodecString(c.profile, c.compat, c.level, options.entry ?? 'avc1'),
        level: c.level / 10,
      };
      const profile = AVC_PROFILES[c.profile];
      if (profile) out.profile = profile;
      const sps = c.sps[0];
      if (sps) {
        const info = parseH264Sps(sps);
        out.width = info.width;
        out.height = info.height;
      }
      return out;
    }
    case 'hevc': {
      const c = parseHvcC(config);
      const out: ConfigDescription = {
        codecString: hevcCodecString(c, options.entry ?? 'hvc1'),
        level: Math.round((c.levelIdc / 30) * 10) / 10,
      };
      const profile = HEVC_PROFILES[c.profileIdc];
      if (profile) out.profile = profile;
      const sps = c.sps[0];
      if (sps) {
        const info = parseHevcSps(sps);
        out.width = info.width;
        out.height = info.height;
      }
      return out;
    }
    case 'aac': {
      const a = parseAudioSpecificConfig(config);
      const out: ConfigDescription = {
        codecString: aacCodecString(a.objectType),
        sampleRate: a.extensionSampleRate ?? a.sampleRate,
        channels: a.ps ? 2 : a.channels,
      };
      const profile = AAC_PROFILES[a.objectType];
      if (profile) out.profile = profile;
      return out;
    }
    case 'mp3':
      // MP3 has no configuration record; "mp4a.40.34" is the MPEG-1/2 Layer III codec string of the
      // HLS authoring spec (the object type of 14496-3 Table 1.17).
      return { codecString: 'mp4a.40.34' };
  }
}
