/**
 * An MPEG-2 transport stream muxer (ISO/IEC 13818-1): one program, a PAT and a PMT (2.4.4.3, 2.4.4.8)
 * before the first sample and again before every video keyframe (so that a player joining a pipe or a cut
 * file starts clean), one PES packet per sample (2.4.3.6) with its PTS and DTS, and a PCR (2.4.3.5) in the
 * first packet of every PES of the first video track (or the first track when there is no video).
 *
 * Payloads go in as MP4 samples and leave as the elementary streams TS carries:
 *  - H.264 and HEVC: length-prefixed NAL units to Annex B (ISO/IEC 14496-10 Annex B, 14496-15), an access
 *    unit delimiter first, and the parameter sets of the avcC/hvcC before every keyframe that lacks them;
 *  - AAC: each raw frame behind an ADTS header (14496-3 1.A.2) made from the AudioSpecificConfig;
 *  - MP3: the frames as they are.
 *
 * Timestamps: 90 kHz, 1.4 s added (as ffmpeg does) so that the PCR can run 0.7 s ahead of the decode times
 * and the first decode times of B-frame video stay positive; they wrap at 2^33 as the standard says.
 *
 * Hot path: each sample's elementary stream is built in a reused buffer, past the room for its packets,
 * and cut into packets in place (copyWithin); the result is a view that stays valid until the next call.
 */
import { writePesTime } from './mpegts-pes-fields.js';
import { FormatError } from '../../core/errors.js';
import { parseAudioSpecificConfig } from '../codecs/aac.js';
import { parseAvcC } from '../codecs/h264.js';
import { parseHvcC } from '../codecs/hevc.js';
import type { TrackInfo } from '../media.js';
import { crc32Mpeg2 } from './mpegts-psi.js';

export const TS_PACKET_SIZE = 188;
const PAYLOAD = 184;
const CLOCK = 90000;
const WRAP = 2 ** 33;
/** Added to every PTS and DTS (1.4 s, ffmpeg's default start): room for the PCR lead and B-frame delay. */
const TIME_OFFSET = 126000;
/** How far the PCR runs ahead of the decode time of the PES it rides on (0.7 s, ffmpeg's max_delay). */
const PCR_LEAD = 63000;
/** At least this often (90 kHz) the PAT and PMT are repeated when no video keyframe brings them. */
const PSI_INTERVAL = CLOCK / 2;
const PAT_PID = 0;
const PMT_PID = 0x1000;
const FIRST_PID = 0x100;
/** Table 2-34 stream_type values. */
const STREAM_TYPE = { avc: 0x1b, hevc: 0x24, aac: 0x0f, mp3: 0x03, mp2audio: 0x04 } as const;
/** H.264 access unit delimiter, primary_pic_type 7 (any slice type). */
const AVC_AUD = Uint8Array.of(0, 0, 0, 1, 0x09, 0xf0);
/** HEVC access unit delimiter (nal_unit_type 35, temporal id 1), pic_type 2 (any). */
const HEVC_AUD = Uint8Array.of(0, 0, 0, 1, 0x46, 0x01, 0x50);
const START_CODE = Uint8Array.of(0, 0, 0, 1);

export interface TsMuxerTrackOptions {
  /**
   * Ticks (of the track's timescale) added to its decode and presentation times: an MP4 edit list's
   * delay minus its media time, so that the presentation starts where the source's did.
   */
  shift?: number;
  /**
   * Ticks by which decode times lead presentation times (the largest negative composition offset of the
   * track): taken off the decode times, since a TS PTS may never come before its DTS.
   */
  decodeLead?: number;
}

interface MuxTrack {
  info: TrackInfo;
  pid: number;
  streamId: number;
  streamType: number;
  cc: number;
  shift: number;
  decodeLead: number;
  /** Video: the NAL length size and the parameter sets put before keyframes, in Annex B. */
  lengthSize: number;
  parameterSets: Uint8Array;
  /** AAC: the ADTS header's fixed bits (all but the frame length). */
  adts?: Uint8Array;
}

/**
 * Muxes samples, given in decode-time order across the tracks, into TS packets. Throws a FormatError for a
 * track TS cannot carry as given (an AAC configuration ADTS cannot express) or a malformed sample.
 */
export class TsMuxer {
  private readonly tracks = new Map<number, MuxTrack>();
  private readonly pcrTrack: MuxTrack;
  private readonly psi: Uint8Array;
  private patCc = 0;
  private pmtCc = 0;
  private lastPsi = -Infinity;
  /** Video and audio tracks so far (their PES stream ids count up), and the PMT's version_number. */
  private videos = 0;
  private audios = 0;
  private pmtVersion = 0;
  private out = new Uint8Array(1 << 20);
  private outLength = 0;
  /** Where in `out` the current sample's elementary stream is built, past the room for its packets. */
  private esBase = 0;
  /** Packets written so far. */
  packets = 0;

  constructor(tracks: readonly TrackInfo[], options: ReadonlyMap<number, TsMuxerTrackOptions> = new Map()) {
    if (tracks.length === 0) throw new RangeError('a TS needs at least one track');
    for (const info of tracks) this.add(info, options.get(info.id));
    const all = [...this.tracks.values()];
    this.pcrTrack = all.find((t) => t.info.kind === 'video') ?? (all[0] as MuxTrack);
    this.psi = new Uint8Array(2 * TS_PACKET_SIZE);
    this.psi.set(psiPacket(PAT_PID, patSection()), 0);
    this.writePmt();
  }

  private add(info: TrackInfo, options: TsMuxerTrackOptions | undefined): void {
    const video = info.kind === 'video';
    const t: MuxTrack = {
      info,
      pid: FIRST_PID + this.tracks.size,
      streamId: video ? 0xe0 + this.videos++ : 0xc0 + this.audios++,
      streamType: streamTypeOf(info),
      cc: 0,
      shift: options?.shift ?? 0,
      decodeLead: Math.max(0, options?.decodeLead ?? 0),
      lengthSize: 4,
      parameterSets: new Uint8Array(0),
    };
    configure(t, info.config);
    if (this.videos > 16 || this.audios > 32) throw new RangeError('too many tracks for one TS program');
    this.tracks.set(info.id, t);
  }

  private writePmt(): void {
    const section = pmtSection([...this.tracks.values()], this.pcrTrack.pid, this.pmtVersion);
    this.psi.set(psiPacket(PMT_PID, section), TS_PACKET_SIZE);
  }

  /**
   * A track that starts after the output did (a later input's audio after a silent intro): the PMT gets it
   * under a new version (2.4.4.8 version_number), sent before the next sample.
   */
  addTrack(info: TrackInfo, options?: TsMuxerTrackOptions): void {
    if (this.tracks.has(info.id)) throw new RangeError(`track ${info.id} is already in this TS`);
    this.add(info, options);
    this.pmtVersion = (this.pmtVersion + 1) & 31;
    this.writePmt();
    this.lastPsi = -Infinity;
  }

  /**
   * A new decoder configuration for a track (a stream whose parameter sets or AAC config changed): the
   * following keyframes carry the new parameter sets in band, the ADTS headers the new config. The codec
   * must stay the same (the PMT does not change).
   */
  setConfig(trackId: number, config: Uint8Array): void {
    const t = this.tracks.get(trackId);
    if (!t) throw new RangeError(`no track ${trackId} in this TS`);
    configure(t, config);
  }

  /**
   * The TS packets of one sample (PAT and PMT first when they are due). `dts` and `cts` are in the
   * track's timescale. The result is a view of memory reused by the next call.
   */
  sample(trackId: number, dts: number, cts: number, keyframe: boolean, payload: Uint8Array): Uint8Array {
    const t = this.tracks.get(trackId);
    if (!t) throw new RangeError(`no track ${trackId} in this TS`);
    const scale = CLOCK / t.info.timescale;
    const pts90 = Math.round((dts + cts + t.shift) * scale) + TIME_OFFSET;
    // A PTS may not come before its DTS (2.7.5): a lead the caller did not announce is absorbed here.
    const dts90 = Math.min(pts90, Math.round((dts + t.shift - t.decodeLead) * scale) + TIME_OFFSET);
    const video = t.info.kind === 'video';
    this.outLength = 0;
    if ((video && keyframe) || dts90 - this.lastPsi >= PSI_INTERVAL || this.packets === 0) {
      this.lastPsi = dts90;
      this.psi[3] = 0x10 | (this.patCc = (this.patCc + 1) & 15);
      this.psi[TS_PACKET_SIZE + 3] = 0x10 | (this.pmtCc = (this.pmtCc + 1) & 15);
      this.reserve(this.psi.length);
      this.out.set(this.psi, 0);
      this.outLength = this.psi.length;
      this.packets += 2;
    }
    const esLength = video
      ? this.videoEs(t, payload, keyframe, dts)
      : t.adts
        ? this.adtsEs(t, payload, dts)
        : this.copyEs(payload);
    const pcr = t === this.pcrTrack ? Math.max(0, dts90 - PCR_LEAD) : -1;
    this.packetize(t, pts90, video ? dts90 : pts90, esLength, pcr, video && keyframe);
    return this.out.subarray(0, this.outLength);
  }

  /**
   * Room in `out` for an elementary stream of `n` bytes, placed past the packets it will become, so that
   * the packets are cut from it with copyWithin (no view, no garbage per packet). Returns where it starts.
   */
  private esRoom(n: number): number {
    const packets = (Math.ceil((n + 19 + 8) / PAYLOAD) + 1) * TS_PACKET_SIZE;
    this.reserve(packets + n);
    this.esBase = this.outLength + packets;
    return this.esBase;
  }

  private reserve(n: number): void {
    if (this.outLength + n <= this.out.length) return;
    const bigger = new Uint8Array(Math.max(this.outLength + n, this.out.length * 2));
    bigger.set(this.out.subarray(0, this.outLength));
    this.out = bigger;
  }

  private copyEs(payload: Uint8Array): number {
    this.out.set(payload, this.esRoom(payload.length));
    return payload.length;
  }

  private adtsEs(t: MuxTrack, payload: Uint8Array, dts: number): number {
    const length = payload.length + 7;
    if (length > 0x1fff) {
      throw new FormatError(`an AAC frame of ${payload.length} bytes is too long for ADTS`, {
        code: 'E_TS_AAC_FRAME',
        offset: 0,
        hint: `track ${t.info.id}, decode time ${dts}`,
      });
    }
    const at = this.esRoom(length);
    const es = this.out;
    es.set(t.adts as Uint8Array, at);
    // aac_frame_length: 13 bits across bytes 3 to 5 (14496-3 Table 1.A.7).
    es[at + 3] = ((es[at + 3] as number) & 0xfc) | (length >>> 11);
    es[at + 4] = (length >>> 3) & 0xff;
    es[at + 5] = ((length & 7) << 5) | 0x1f;
    es.set(payload, at + 7);
    return length;
  }

  /** Length-prefixed NAL units to Annex B, with an AUD first and the parameter sets before keyframes. */
  private videoEs(t: MuxTrack, payload: Uint8Array, keyframe: boolean, dts: number): number {
    const avc = t.info.codec === 'avc';
    const ls = t.lengthSize;
    // One pass to find what the sample has and what it will take.
    let size = 0;
    let hasAud = false;
    let hasParams = false;
    let nals = 0;
    for (let at = 0; at < payload.length;) {
      if (at + ls > payload.length) throw malformed(t, dts, at, 'a NAL unit length is cut off');
      let n = 0;
      for (let k = 0; k < ls; k++) n = n * 256 + (payload[at + k] as number);
      at += ls;
      if (n === 0) continue;
      if (at + n > payload.length)
        throw malformed(t, dts, at, `a NAL unit of ${n} bytes runs past the sample`);
      const h = payload[at] as number;
      const type = avc ? h & 0x1f : (h >> 1) & 0x3f;
      if (nals === 0 && type === (avc ? 9 : 35)) hasAud = true;
      if (avc ? type === 7 : type === 32 || type === 33) hasParams = true;
      size += 4 + n;
      nals++;
      at += n;
    }
    const aud = hasAud ? undefined : avc ? AVC_AUD : HEVC_AUD;
    const params = keyframe && !hasParams ? t.parameterSets : undefined;
    const total = (aud?.length ?? 0) + (params?.length ?? 0) + size;
    const base = this.esRoom(total);
    const es = this.out;
    let o = base;
    if (aud) {
      es.set(aud, o);
      o += aud.length;
    }
    // The AUD must come first; the parameter sets right after it (14496-10 7.4.1.2.3).
    let paramsDone = params === undefined;
    for (let at = 0; at < payload.length;) {
      let n = 0;
      for (let k = 0; k < ls; k++) n = n * 256 + (payload[at + k] as number);
      at += ls;
      if (n === 0) continue;
      if (!paramsDone && !(hasAud && at === ls)) {
        es.set(params as Uint8Array, o);
        o += (params as Uint8Array).length;
        paramsDone = true;
      }
      es.set(START_CODE, o);
      es.set(payload.subarray(at, at + n), o + 4);
      o += 4 + n;
      at += n;
    }
    if (!paramsDone) {
      es.set(params as Uint8Array, o);
      o += (params as Uint8Array).length;
    }
    return o - base;
  }

  /** The PES of the ES at `esBase` as TS packets (2.4.3.2, 2.4.3.6), appended to `out`. */
  private packetize(
    t: MuxTrack,
    pts: number,
    dts: number,
    esLength: number,
    pcr: number,
    randomAccess: boolean,
  ): void {
    const withDts = dts !== pts;
    const headerLength = withDts ? 19 : 14;
    const pesLength = esLength + headerLength - 6;
    if (pesLength > 0xffff && t.info.kind !== 'video') {
      throw new FormatError(`an audio frame of ${esLength} bytes is too long for one PES packet`, {
        code: 'E_TS_PES_LENGTH',
        offset: 0,
      });
    }
    const out = this.out;
    const es = this.esBase;
    let o = this.outLength;
    let pos = 0;
    let first = true;
    while (first || pos < esLength) {
      // Adaptation field (2.4.3.4): the PCR and random access flag on the first packet; stuffing on the last.
      let afFlags = 0;
      let afLength = 0; // bytes of the adaptation field, its length byte included
      if (first && (pcr >= 0 || randomAccess)) {
        afFlags = (randomAccess ? 0x40 : 0) | (pcr >= 0 ? 0x10 : 0);
        afLength = 2 + (pcr >= 0 ? 6 : 0);
      }
      const header = first ? headerLength : 0;
      const room = PAYLOAD - afLength - header;
      const left = esLength - pos;
      const take = Math.min(room, left);
      const stuffing = room - take;
      afLength += stuffing; // a lone length byte (0) when one byte is left
      out[o] = 0x47;
      out[o + 1] = (first ? 0x40 : 0) | (t.pid >> 8);
      out[o + 2] = t.pid & 0xff;
      out[o + 3] = (afLength > 0 ? 0x30 : 0x10) | t.cc;
      t.cc = (t.cc + 1) & 15;
      let p = o + 4;
      if (afLength > 0) {
        out[p] = afLength - 1;
        if (afLength > 1) {
          out[p + 1] = afFlags;
          let q = p + 2;
          if (afFlags & 0x10) {
            writePcr(out, q, pcr);
            q += 6;
          }
          out.fill(0xff, q, p + afLength);
        }
        p += afLength;
      }
      if (first) {
        // PES header: start code, stream_id, length (0 = unbounded, allowed for video only), flags, PTS, DTS.
        out[p] = 0;
        out[p + 1] = 0;
        out[p + 2] = 1;
        out[p + 3] = t.streamId;
        const field = pesLength <= 0xffff ? pesLength : 0;
        out[p + 4] = field >> 8;
        out[p + 5] = field & 0xff;
        out[p + 6] = 0x80; // '10', not scrambled, no priority, no alignment flag, not copyrighted, copy
        out[p + 7] = withDts ? 0xc0 : 0x80;
        out[p + 8] = withDts ? 10 : 5;
        writePesTime(out, p + 9, withDts ? 3 : 2, pts);
        if (withDts) writePesTime(out, p + 14, 1, dts);
        p += header;
      }
      out.copyWithin(p, es + pos, es + pos + take);
      pos += take;
      o += TS_PACKET_SIZE;
      this.packets++;
      first = false;
    }
    this.outLength = o;
  }
}

/** What a track's decoder configuration gives the muxer: NAL length size and parameter sets, or ADTS bits. */
function configure(t: MuxTrack, config: Uint8Array): void {
  const info = { ...t.info, config };
  if (info.codec === 'avc') {
    const c = parseAvcC(config);
    t.lengthSize = c.lengthSize;
    t.parameterSets = annexB([...c.sps, ...c.pps]);
  } else if (info.codec === 'hevc') {
    const c = parseHvcC(config);
    t.lengthSize = c.lengthSize;
    t.parameterSets = annexB([...c.vps, ...c.sps, ...c.pps]);
  } else if (info.codec === 'aac') t.adts = adtsTemplate(info);
  t.info = info;
}

function streamTypeOf(info: TrackInfo): number {
  switch (info.codec) {
    case 'avc':
      return STREAM_TYPE.avc;
    case 'hevc':
      return STREAM_TYPE.hevc;
    case 'aac':
      return STREAM_TYPE.aac;
    case 'mp3':
      // MPEG-2 audio (the lower sampling rates of 13818-3) has its own type; MPEG-1 the other.
      return (info.sampleRate ?? 44100) < 32000 ? STREAM_TYPE.mp2audio : STREAM_TYPE.mp3;
  }
}

/** The first 7 bytes of every ADTS header of a track, frame length left 0 (14496-3 1.A.2.2). */
function adtsTemplate(info: TrackInfo): Uint8Array {
  const asc = parseAudioSpecificConfig(info.config);
  const profile = asc.coreObjectType - 1;
  if (profile < 0 || profile > 3) {
    throw new FormatError(`AAC object type ${asc.coreObjectType} cannot be carried in ADTS`, {
      code: 'E_TS_AAC_CONFIG',
      offset: 0,
      hint: 'write MP4 or fragmented MP4 instead: ADTS carries AAC Main, LC, SSR and LTP only',
    });
  }
  if (asc.channelConfig === 0 || asc.samplingIndex > 12) {
    throw new FormatError(
      asc.channelConfig === 0
        ? 'an AAC channel layout given by a program config element cannot be carried in ADTS'
        : `an AAC sampling rate of ${asc.sampleRate} Hz cannot be carried in ADTS`,
      {
        code: 'E_TS_AAC_CONFIG',
        offset: 0,
        hint: 'write MP4 or fragmented MP4 instead',
      },
    );
  }
  return Uint8Array.of(
    0xff,
    0xf1, // syncword, MPEG-4, layer 0, no CRC
    (profile << 6) | (asc.samplingIndex << 2) | (asc.channelConfig >> 2),
    (asc.channelConfig & 3) << 6,
    0,
    0x1f, // buffer fullness 0x7ff (variable rate)
    0xfc, // and one raw data block
  );
}

/** Parameter sets in Annex B: each behind a 4-byte start code. */
function annexB(nals: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(nals.reduce((n, x) => n + 4 + x.length, 0));
  let o = 0;
  for (const n of nals) {
    out.set(START_CODE, o);
    out.set(n, o + 4);
    o += 4 + n.length;
  }
  return out;
}

/** 2.4.3.5: program_clock_reference_base (33 bits, 90 kHz), 6 reserved bits, extension 0. */
function writePcr(out: Uint8Array, at: number, pcr90: number): void {
  const v = pcr90 % WRAP;
  const top = Math.floor(v / 2); // bits 32..1
  out[at] = (top >>> 24) & 0xff;
  out[at + 1] = (top >>> 16) & 0xff;
  out[at + 2] = (top >>> 8) & 0xff;
  out[at + 3] = top & 0xff;
  out[at + 4] = ((v & 1) << 7) | 0x7e;
  out[at + 5] = 0;
}

/** A section of the PSI: header, body, CRC_32 (2.4.4.3, 2.4.4.8). */
function section(tableId: number, idExtension: number, body: Uint8Array, version = 0): Uint8Array {
  const length = 5 + body.length + 4; // after section_length: id extension .. last_section_number, body, CRC
  const s = new Uint8Array(3 + length);
  s[0] = tableId;
  s[1] = 0xb0 | (length >> 8); // section_syntax_indicator, '0', reserved
  s[2] = length & 0xff;
  s[3] = idExtension >> 8;
  s[4] = idExtension & 0xff;
  s[5] = 0xc1 | ((version & 31) << 1); // reserved, version_number, current_next_indicator
  s[6] = 0; // section_number
  s[7] = 0; // last_section_number
  s.set(body, 8);
  const crc = crc32Mpeg2(s, 0, s.length - 4);
  s[s.length - 4] = crc >>> 24;
  s[s.length - 3] = (crc >>> 16) & 0xff;
  s[s.length - 2] = (crc >>> 8) & 0xff;
  s[s.length - 1] = crc & 0xff;
  return s;
}

/** The PAT: program 1 at PMT_PID. */
function patSection(): Uint8Array {
  return section(0x00, 1, Uint8Array.of(0, 1, 0xe0 | (PMT_PID >> 8), PMT_PID & 0xff));
}

/** The PMT of program 1: the PCR PID, then each stream with its type and (for audio) its language. */
function pmtSection(tracks: readonly MuxTrack[], pcrPid: number, version: number): Uint8Array {
  const parts: number[] = [0xe0 | (pcrPid >> 8), pcrPid & 0xff, 0xf0, 0];
  for (const t of tracks) {
    const lang = t.info.language && /^[a-z]{3}$/.test(t.info.language) ? t.info.language : undefined;
    const info = lang ? [0x0a, 4, lang.charCodeAt(0), lang.charCodeAt(1), lang.charCodeAt(2), 0] : [];
    parts.push(t.streamType, 0xe0 | (t.pid >> 8), t.pid & 0xff, 0xf0 | (info.length >> 8), info.length);
    parts.push(...info);
  }
  const s = section(0x02, 1, Uint8Array.from(parts), version);
  if (s.length > PAYLOAD - 1) throw new RangeError('too many tracks for one PMT packet');
  return s;
}

/** One packet carrying a whole section (pointer_field 0, 0xFF stuffing after it). */
function psiPacket(pid: number, sec: Uint8Array): Uint8Array {
  const p = new Uint8Array(TS_PACKET_SIZE).fill(0xff);
  p[0] = 0x47;
  p[1] = 0x40 | (pid >> 8);
  p[2] = pid & 0xff;
  p[3] = 0x10;
  p[4] = 0; // pointer_field
  p.set(sec, 5);
  return p;
}

function malformed(t: MuxTrack, dts: number, at: number, what: string): FormatError {
  return new FormatError(`${what} (track ${t.info.id}, the sample at decode time ${dts})`, {
    code: 'E_TS_MUX_SAMPLE',
    offset: at,
    hint: 'the input sample is damaged; remux to MP4 to keep it as it is',
  });
}
