/**
 * Writing the parts of a moov that the progressive and the fragmented writer share (ISO/IEC 14496-12 8.2 to
 * 8.5, 12.1, 12.2; 14496-14 5.6 esds; 14496-15 5.3.4 avc1/avcC and 8.4.1 hvc1/hvcC).
 */
import { ByteWriter } from '../../core/bytes.js';
import type { TrackInfo } from '../media.js';
import { box, fullBox } from './isobmff-boxes.js';

const U32_MAX = 0xffffffff;

/** The unity transformation matrix of mvhd/tkhd (8.2.2.3). */
const MATRIX = [0x00010000, 0, 0, 0, 0x00010000, 0, 0, 0, 0x40000000];

export interface Brands {
  major: string;
  minor: number;
  compatible: string[];
}

/** ftyp (4.3) or styp (8.16.2). */
export function writeFtyp(w: ByteWriter, brands: Brands, type = 'ftyp'): void {
  box(w, type, (b) => {
    b.ascii(brands.major).u32(brands.minor);
    for (const c of brands.compatible) b.ascii(c);
  });
}

/** mvhd (8.2.2); version 1 when the duration does not fit 32 bits. */
export function writeMvhd(w: ByteWriter, timescale: number, duration: number, nextTrackId: number): void {
  const v1 = duration > U32_MAX;
  fullBox(w, 'mvhd', v1 ? 1 : 0, 0, (b) => {
    if (v1) b.u64(0).u64(0).u32(timescale).u64(duration);
    else b.u32(0).u32(0).u32(timescale).u32(duration);
    b.u32(0x00010000).u16(0x0100).u16(0).u32(0).u32(0); // rate 1.0, volume 1.0, reserved
    for (const m of MATRIX) b.u32(m);
    for (let i = 0; i < 6; i++) b.u32(0); // pre_defined
    b.u32(nextTrackId);
  });
}

/** An edit list as written: durations in the movie timescale, media time in the track's (8.6.6). */
export interface EditOut {
  /** Empty edit before the media, movie ticks (0: none). */
  delay: number;
  mediaTime: number;
  /** Movie ticks of the media edit; 0 in an empty fragmented movie (open-ended, 8.6.6.1). */
  duration: number;
}

export interface TrakOptions {
  trackId: number;
  /** tkhd duration, movie ticks. */
  duration: number;
  /** mdhd duration, track ticks. */
  mediaDuration: number;
  edit?: EditOut;
  /** Writes the rest of stbl after stsd (the sample tables). */
  tables: (w: ByteWriter) => void;
  /** esds bitrates for audio (bits per second), and the decoder buffer size (bytes). */
  maxBitrate?: number;
  avgBitrate?: number;
  bufferSize?: number;
}

export function writeTrak(w: ByteWriter, track: TrackInfo, o: TrakOptions): void {
  box(w, 'trak', (b) => {
    writeTkhd(b, track, o.trackId, o.duration);
    if (o.edit) writeEdts(b, o.edit);
    box(b, 'mdia', (m) => {
      writeMdhd(m, track.timescale, o.mediaDuration, track.language);
      writeHdlr(m, track.kind);
      box(m, 'minf', (mi) => {
        if (track.kind === 'video') {
          fullBox(mi, 'vmhd', 0, 1, (v) => v.u16(0).u16(0).u16(0).u16(0)); // graphicsmode copy (12.1.2)
        } else {
          fullBox(mi, 'smhd', 0, 0, (s) => s.u16(0).u16(0)); // balance 0 (12.2.2)
        }
        // dinf/dref with one self-contained 'url ' entry (8.7.2): the media is in this file.
        box(mi, 'dinf', (di) =>
          fullBox(di, 'dref', 0, 0, (dr) => {
            dr.u32(1);
            fullBox(dr, 'url ', 0, 1);
          }),
        );
        box(mi, 'stbl', (st) => {
          fullBox(st, 'stsd', 0, 0, (sd) => {
            sd.u32(1);
            writeSampleEntry(sd, track, o);
          });
          o.tables(st);
        });
      });
    });
  });
}

/** tkhd (8.3.2), flags track_enabled | track_in_movie. */
function writeTkhd(w: ByteWriter, track: TrackInfo, trackId: number, duration: number): void {
  const v1 = duration > U32_MAX;
  fullBox(w, 'tkhd', v1 ? 1 : 0, 3, (b) => {
    if (v1) b.u64(0).u64(0).u32(trackId).u32(0).u64(duration);
    else b.u32(0).u32(0).u32(trackId).u32(0).u32(duration);
    b.u32(0).u32(0); // reserved
    b.u16(0).u16(0); // layer, alternate_group
    b.u16(track.kind === 'audio' ? 0x0100 : 0).u16(0); // volume, reserved
    for (const m of MATRIX) b.u32(m);
    const video = track.kind === 'video';
    b.u32(video ? (track.width ?? 0) * 65536 : 0).u32(video ? (track.height ?? 0) * 65536 : 0);
  });
}

/** edts/elst (8.6.5, 8.6.6): an optional empty edit (media_time -1), then the media edit. */
function writeEdts(w: ByteWriter, e: EditOut): void {
  const v1 = e.delay > 0x7fffffff || e.duration > U32_MAX || e.mediaTime > 0x7fffffff;
  box(w, 'edts', (b) =>
    fullBox(b, 'elst', v1 ? 1 : 0, 0, (l) => {
      const entry = (duration: number, mediaTime: number): void => {
        if (v1) {
          l.u64(duration);
          if (mediaTime < 0) l.u32(0xffffffff).u32(0xffffffff);
          else l.u64(mediaTime);
        } else l.u32(duration).i32(mediaTime);
        l.u32(0x00010000); // media_rate 1.0
      };
      l.u32(e.delay > 0 ? 2 : 1);
      if (e.delay > 0) entry(e.delay, -1);
      entry(e.duration, e.mediaTime);
    }),
  );
}

/** An mdhd language (8.4.2.3): three 5-bit letters, each less 0x60; "und" for anything but three a-z. */
export function packedLanguage(language: string | undefined): number {
  const lang = /^[a-z]{3}$/.test(language ?? '') ? (language as string) : 'und';
  return (
    ((lang.charCodeAt(0) - 0x60) << 10) | ((lang.charCodeAt(1) - 0x60) << 5) | (lang.charCodeAt(2) - 0x60)
  );
}

/** mdhd (8.4.2): timescale, duration and the ISO 639-2/T language packed as three 5-bit letters - 0x60. */
function writeMdhd(w: ByteWriter, timescale: number, duration: number, language?: string): void {
  const v1 = duration > U32_MAX;
  const packed = packedLanguage(language);
  fullBox(w, 'mdhd', v1 ? 1 : 0, 0, (b) => {
    if (v1) b.u64(0).u64(0).u32(timescale).u64(duration);
    else b.u32(0).u32(0).u32(timescale).u32(duration);
    b.u16(packed).u16(0);
  });
}

/** hdlr (8.4.3). */
function writeHdlr(w: ByteWriter, kind: 'video' | 'audio'): void {
  fullBox(w, 'hdlr', 0, 0, (b) => {
    b.u32(0)
      .ascii(kind === 'video' ? 'vide' : 'soun')
      .u32(0)
      .u32(0)
      .u32(0);
    b.ascii(kind === 'video' ? 'VideoHandler' : 'SoundHandler').u8(0);
  });
}

/** The sample entry rebuilt from TrackInfo: avc1+avcC, hvc1+hvcC, mp4a+esds. */
export function writeSampleEntry(
  w: ByteWriter,
  track: TrackInfo,
  o: { trackId: number; maxBitrate?: number; avgBitrate?: number; bufferSize?: number },
): void {
  if (track.kind === 'video') {
    const [entry, cfg] = track.codec === 'hevc' ? ['hvc1', 'hvcC'] : ['avc1', 'avcC'];
    box(w, entry, (b) => {
      // VisualSampleEntry (12.1.3)
      b.u32(0).u16(0).u16(1); // reserved, data_reference_index
      b.u16(0).u16(0).u32(0).u32(0).u32(0); // pre_defined, reserved, pre_defined
      b.u16(track.width ?? 0).u16(track.height ?? 0);
      b.u32(0x00480000).u32(0x00480000).u32(0); // 72 dpi, reserved
      b.u16(1); // frame_count
      for (let i = 0; i < 8; i++) b.u32(0); // compressorname
      b.u16(0x0018).u16(0xffff); // depth, pre_defined -1
      box(b, cfg, (c) => c.bytes(track.config));
    });
    return;
  }
  box(w, 'mp4a', (b) => {
    // AudioSampleEntry (12.2.3); a rate above 16 bits cannot be written here, the ASC carries it.
    const rate = track.sampleRate ?? track.timescale;
    b.u32(0).u16(0).u16(1);
    b.u32(0).u32(0);
    b.u16(track.channels ?? 2)
      .u16(16)
      .u16(0)
      .u16(0);
    b.u32(rate < 65536 ? rate * 65536 : 0);
    writeEsds(b, track, o);
  });
}

/**
 * esds (14496-14 5.6): ES_Descriptor > DecoderConfigDescriptor (objectTypeIndication 0x40 MPEG-4 audio, or
 * 0x6B MPEG-1 audio for MP3; streamType 5 audio) > DecoderSpecificInfo (the AudioSpecificConfig), then an
 * SLConfigDescriptor with predefined = 2 (14496-1 7.2.6, 7.3.2.3.1).
 */
function writeEsds(
  w: ByteWriter,
  track: TrackInfo,
  o: { trackId: number; maxBitrate?: number; avgBitrate?: number; bufferSize?: number },
): void {
  const dsi =
    track.codec === 'aac' && track.config.length > 0 ? descriptor(5, track.config) : new Uint8Array(0);
  const dcd = new ByteWriter(32)
    .u8(track.codec === 'mp3' ? 0x6b : 0x40)
    .u8(0x15) // streamType 5 << 2 | upStream 0 | reserved 1
    .u24(Math.min(o.bufferSize ?? 0, 0xffffff))
    .u32(Math.min(Math.round(o.maxBitrate ?? 0), U32_MAX))
    .u32(Math.min(Math.round(o.avgBitrate ?? 0), U32_MAX))
    .bytes(dsi)
    .toBytes();
  const es = new ByteWriter(64)
    .u16(o.trackId & 0xffff)
    .u8(0) // no dependsOn, URL or OCR
    .bytes(descriptor(4, dcd))
    .bytes(descriptor(6, Uint8Array.of(2)))
    .toBytes();
  fullBox(w, 'esds', 0, 0, (b) => b.bytes(descriptor(3, es)));
}

/** A descriptor: tag, expandable size (14496-1 8.3.3: 7 bits a byte, high bit = more), body. */
function descriptor(tag: number, body: Uint8Array): Uint8Array {
  const w = new ByteWriter(body.length + 6).u8(tag);
  const n = body.length;
  if (n >= 1 << 21) w.u8(0x80 | ((n >>> 21) & 0x7f));
  if (n >= 1 << 14) w.u8(0x80 | ((n >>> 14) & 0x7f));
  if (n >= 1 << 7) w.u8(0x80 | ((n >>> 7) & 0x7f));
  w.u8(n & 0x7f);
  return w.bytes(body).toBytes();
}

/** The movie timescale: the first video track's (so that edit delays are exact), else the first track's. */
export function movieTimescaleOf(tracks: readonly TrackInfo[]): number {
  const v = tracks.find((t) => t.kind === 'video') ?? tracks[0];
  return v?.timescale || 1000;
}

/** Convert ticks between timescales, rounding to the nearest tick. */
export function rescale(v: number, from: number, to: number): number {
  return from === to ? v : Math.round((v * to) / from);
}
