/**
 * The movie box (ISO/IEC 14496-12 8.2.1) of an init segment or a progressive file: tracks (trak/tkhd/mdhd/
 * hdlr/stsd), edit lists, the sample tables of a progressive file (kept as views into the moov, expanded
 * lazily by isobmff-sample-table.ts) and the trex defaults of a fragmented one (mvex, 8.8.3).
 */
import { FormatError } from '../../core/errors.js';
import { parseAudioSpecificConfig } from '../codecs/aac.js';
import type { AudioCodec, FormatWarning, TrackInfo, VideoCodec } from '../media.js';
import { type Box, BoxCursor, bodyStart, childBoxes, findBox, fullBoxHeader, u32 } from './isobmff-boxes.js';

/**
 * A track's edit list (14496-12 8.6.6), reduced to what a remuxer needs to keep the presentation timeline:
 * leading empty edits become `delay`, the first non-empty edit gives `mediaTime` and `duration`.
 */
export interface Mp4Edit {
  /** Media (composition) time, in track ticks, at which presentation starts: elst media_time. */
  mediaTime: number;
  /** Track ticks of empty edits before the media starts (a presentation delay). */
  delay: number;
  /** Track ticks of media the edit presents; 0 when open-ended (an empty fragmented movie, 8.6.6.1). */
  duration: number;
}

/** TrackInfo plus what an ISO-BMFF input says about it beyond media.ts. */
export interface Mp4TrackInfo extends TrackInfo {
  /** Present when the input had an edit list for this track (a muxer keeps it to keep the timeline). */
  edit?: Mp4Edit;
  /** tkhd track_ID in the input (TrackInfo.id is renumbered 1..n). */
  sourceTrackId?: number;
}

/** Track extends defaults (14496-12 8.8.3), used by fragments that leave a field out. */
export interface TrexDefaults {
  descriptionIndex: number;
  duration: number;
  size: number;
  flags: number;
}

/** A table of fixed-size entries inside the moov buffer. */
export interface TableView {
  /** Position of the first entry in the moov buffer. */
  at: number;
  count: number;
  /** Absolute input offset of the box, for errors. */
  boxOffset: number;
}

/** The sample tables of one track of a progressive file (14496-12 8.6, 8.7). */
export interface SampleTables {
  /** stts: (sample_count u32, sample_delta u32). */
  stts: TableView;
  /**
   * ctts: (sample_count u32, sample_offset); undefined when absent (all offsets 0). Version 0 offsets are
   * unsigned in 8.6.1.2, but muxers have written negative ones there; like ffmpeg every offset is read as
   * signed (an offset of 2^31 ticks or more is never real).
   */
  ctts?: TableView;
  /** stss: sample_number u32; undefined when absent (every sample is a sync sample, 8.6.2.1). */
  stss?: TableView;
  /** stsz/stz2: the sample count; `fixedSize` > 0 when every sample has that size. */
  sampleCount: number;
  fixedSize: number;
  /** stsz entry width in bits (32, or 4/8/16 for stz2); entries at `sizes.at`. */
  sizeBits: number;
  sizes: TableView;
  /** stsc: (first_chunk u32, samples_per_chunk u32, sample_description_index u32). */
  stsc: TableView;
  /** stco (4 bytes) or co64 (8 bytes) chunk offsets. */
  chunkOffsets: TableView;
  chunkOffsetBytes: 4 | 8;
}

export interface ParsedTrack {
  info: Mp4TrackInfo;
  /** tkhd track_ID. */
  fileTrackId: number;
  trex: TrexDefaults;
  /** Present when the moov itself describes samples (a progressive file, or samples before fragments). */
  tables?: SampleTables;
  /** Number of sample entries in stsd (only the first is used). */
  descriptionCount: number;
  /** Where in `data` the mdhd's packed language (u16) is, to rewrite it in place. */
  languageAt: number;
}

export interface ParsedMoov {
  tracks: ParsedTrack[];
  movieTimescale: number;
  /** mvex present: movie fragments follow (14496-12 8.8.1). */
  fragmented: boolean;
  warnings: FormatWarning[];
}

/**
 * Parse a complete moov box. `data` holds the box (and maybe more); `base` is the absolute input offset of
 * `data[0]`. Tracks other than video/audio with a supported codec are skipped with a warning.
 */
export function parseMoov(data: Uint8Array, moov: Box, base: number): ParsedMoov {
  const warnings: FormatWarning[] = [];
  const children = childBoxes(data, moov, base);
  const mvhd = findBox(children, 'mvhd');
  let movieTimescale = 1000;
  if (mvhd) {
    const c = fullCursor(data, mvhd, base);
    const v = c.data[bodyStart(mvhd)] as number;
    c.skip(v === 1 ? 16 : 8);
    movieTimescale = c.u32() || 1000;
  }
  const mvex = findBox(children, 'mvex');
  const trexById = new Map<number, TrexDefaults>();
  if (mvex) {
    for (const b of childBoxes(data, mvex, base)) {
      if (b.type !== 'trex') continue;
      const c = fullCursor(data, b, base);
      const id = c.u32();
      trexById.set(id, { descriptionIndex: c.u32(), duration: c.u32(), size: c.u32(), flags: c.u32() });
    }
  }
  const tracks: ParsedTrack[] = [];
  for (const trak of children) {
    if (trak.type !== 'trak') continue;
    const t = parseTrak(data, trak, base, movieTimescale, warnings);
    if (!t) continue;
    t.info.id = tracks.length + 1;
    t.trex = trexById.get(t.fileTrackId) ?? t.trex;
    tracks.push(t);
  }
  return { tracks, movieTimescale, fragmented: mvex !== undefined, warnings };
}

function fullCursor(data: Uint8Array, b: Box, base: number): BoxCursor {
  fullBoxHeader(data, b, base);
  return new BoxCursor(data, b, base, bodyStart(b) + 4);
}

function need(box: Box | undefined, type: string, parent: Box, base: number): Box {
  if (!box) {
    throw new FormatError(`'${parent.type}' box has no '${type}' box`, {
      code: 'E_MP4_MISSING_BOX',
      offset: base + parent.start,
    });
  }
  return box;
}

function parseTrak(
  data: Uint8Array,
  trak: Box,
  base: number,
  movieTimescale: number,
  warnings: FormatWarning[],
): ParsedTrack | undefined {
  const kids = childBoxes(data, trak, base);
  const tkhd = need(findBox(kids, 'tkhd'), 'tkhd', trak, base);
  const mdia = need(findBox(kids, 'mdia'), 'mdia', trak, base);
  const mdiaKids = childBoxes(data, mdia, base);
  const mdhd = need(findBox(mdiaKids, 'mdhd'), 'mdhd', mdia, base);
  const hdlr = need(findBox(mdiaKids, 'hdlr'), 'hdlr', mdia, base);

  // tkhd (8.3.2): track_ID after the creation/modification times.
  const tc = fullCursor(data, tkhd, base);
  tc.skip(data[bodyStart(tkhd)] === 1 ? 16 : 8);
  const fileTrackId = tc.u32();

  // mdhd (8.4.2): timescale, then duration, then the packed ISO 639-2/T language (three 5-bit letters
  // offset by 0x60).
  const mc = fullCursor(data, mdhd, base);
  const mv = data[bodyStart(mdhd)] as number;
  mc.skip(mv === 1 ? 16 : 8);
  const timescale = mc.u32();
  mc.skip(mv === 1 ? 8 : 4);
  const languageAt = mc.pos;
  const lang = mc.u16();
  const language = String.fromCharCode(
    ((lang >> 10) & 31) + 0x60,
    ((lang >> 5) & 31) + 0x60,
    (lang & 31) + 0x60,
  );
  if (timescale === 0) {
    throw new FormatError(`track ${fileTrackId} has a media timescale of 0`, {
      code: 'E_MP4_VALUE',
      offset: base + mdhd.start,
    });
  }

  // hdlr (8.4.3): pre_defined u32, then handler_type.
  const hc = fullCursor(data, hdlr, base);
  hc.skip(4);
  const handler = hc.fourcc();
  if (handler !== 'vide' && handler !== 'soun') {
    warnings.push({
      code: 'W_MP4_TRACK_SKIPPED',
      message: `track ${fileTrackId} has handler '${handler}', not video or audio: skipped`,
      offset: base + trak.start,
    });
    return undefined;
  }

  const minf = need(findBox(mdiaKids, 'minf'), 'minf', mdia, base);
  const minfKids = childBoxes(data, minf, base);
  const stbl = need(findBox(minfKids, 'stbl'), 'stbl', minf, base);
  const stblKids = childBoxes(data, stbl, base);
  const stsd = need(findBox(stblKids, 'stsd'), 'stsd', stbl, base);
  const sc = fullCursor(data, stsd, base);
  const descriptionCount = sc.u32();
  if (descriptionCount === 0 || sc.remaining < 8) {
    warnings.push({
      code: 'W_MP4_TRACK_SKIPPED',
      message: `track ${fileTrackId} has no sample description: skipped`,
      offset: base + stsd.start,
    });
    return undefined;
  }
  const entries = childBoxes(data, stsd, base, 4 + 4);
  const entry = entries[0] as Box;
  const info = parseSampleEntry(
    data,
    entry,
    base,
    handler === 'vide' ? 'video' : 'audio',
    warnings,
    fileTrackId,
  );
  if (!info) return undefined;
  info.timescale = timescale;
  info.language = language;
  info.sourceTrackId = fileTrackId;
  if (descriptionCount > 1) {
    warnings.push({
      code: 'W_MP4_MULTIPLE_DESCRIPTIONS',
      message: `track ${fileTrackId} has ${descriptionCount} sample descriptions: only the first is used`,
      offset: base + stsd.start,
    });
  }

  const edts = findBox(kids, 'edts');
  if (edts) {
    const elst = findBox(childBoxes(data, edts, base), 'elst');
    if (elst) {
      const edit = parseElst(data, elst, base, movieTimescale, timescale, fileTrackId, warnings);
      if (edit) info.edit = edit;
    }
  }

  const tables = parseTables(data, stblKids, stbl, base);
  const out: ParsedTrack = {
    info,
    fileTrackId,
    trex: { descriptionIndex: 1, duration: 0, size: 0, flags: 0 },
    descriptionCount,
    languageAt,
  };
  if (tables) out.tables = tables;
  return out;
}

/**
 * elst (8.6.6): leading empty edits (media_time -1) are a presentation delay; the first non-empty edit
 * gives the media time presentation starts at. segment_duration is in the movie timescale, media_time in
 * the track's.
 */
function parseElst(
  data: Uint8Array,
  elst: Box,
  base: number,
  movieTimescale: number,
  timescale: number,
  trackId: number,
  warnings: FormatWarning[],
): Mp4Edit | undefined {
  const version = data[bodyStart(elst)];
  const c = fullCursor(data, elst, base);
  const count = c.u32();
  const entrySize = version === 1 ? 20 : 12;
  if (count > c.remaining / entrySize) {
    throw new FormatError(`elst declares ${count} entries, more than its ${c.remaining} bytes hold`, {
      code: 'E_MP4_TABLE_OVERFLOW',
      offset: base + elst.start,
    });
  }
  let delay = 0;
  const toTrack = (d: number): number => Math.round((d * timescale) / movieTimescale);
  for (let i = 0; i < count; i++) {
    const duration = version === 1 ? c.u64('segment_duration') : c.u32();
    const mediaTime = version === 1 ? c.i64('media_time') : c.i32();
    c.skip(4); // media_rate
    if (mediaTime === -1) {
      delay += toTrack(duration);
      continue;
    }
    if (i + 1 < count) {
      warnings.push({
        code: 'W_MP4_EDIT_LIST',
        message: `track ${trackId} has an edit list of ${count} edits: only the first non-empty one is kept`,
        offset: base + elst.start,
      });
    }
    return { mediaTime, delay, duration: toTrack(duration) };
  }
  return delay > 0 ? { mediaTime: 0, delay, duration: 0 } : undefined;
}

const VIDEO_ENTRIES: Record<string, { codec: VideoCodec; config: string }> = {
  avc1: { codec: 'avc', config: 'avcC' },
  avc3: { codec: 'avc', config: 'avcC' },
  hvc1: { codec: 'hevc', config: 'hvcC' },
  hev1: { codec: 'hevc', config: 'hvcC' },
};

/** VisualSampleEntry (12.1.3) and AudioSampleEntry (12.2.3) fields up to the child boxes. */
const VISUAL_ENTRY_HEADER = 78;
const AUDIO_ENTRY_HEADER = 28;

function parseSampleEntry(
  data: Uint8Array,
  entry: Box,
  base: number,
  kind: 'video' | 'audio',
  warnings: FormatWarning[],
  trackId: number,
): Mp4TrackInfo | undefined {
  const skip = (why: string): undefined => {
    warnings.push({
      code: 'W_MP4_TRACK_SKIPPED',
      message: `track ${trackId}: ${why}: skipped`,
      offset: base + entry.start,
    });
    return undefined;
  };
  const body = bodyStart(entry);
  if (kind === 'video') {
    const known = VIDEO_ENTRIES[entry.type];
    if (!known) return skip(`video sample entry '${entry.type}' is not supported`);
    const c = new BoxCursor(data, entry, base);
    c.need(VISUAL_ENTRY_HEADER, 'visual sample entry');
    const width = (data[body + 24] as number) * 256 + (data[body + 25] as number);
    const height = (data[body + 26] as number) * 256 + (data[body + 27] as number);
    const kids = childBoxes(data, entry, base, VISUAL_ENTRY_HEADER);
    const cfg = findBox(kids, known.config);
    if (!cfg) return skip(`'${entry.type}' sample entry has no '${known.config}' box`);
    return {
      id: 0,
      kind,
      codec: known.codec,
      timescale: 0,
      config: data.slice(bodyStart(cfg), cfg.end),
      width,
      height,
    };
  }
  if (entry.type !== 'mp4a' && entry.type !== '.mp3') {
    return skip(`audio sample entry '${entry.type}' is not supported`);
  }
  const c = new BoxCursor(data, entry, base);
  c.need(AUDIO_ENTRY_HEADER, 'audio sample entry');
  // QuickTime sound description versions 1 and 2 (used in MP4 by some muxers) add 16 or 36 bytes.
  const qtVersion = (data[body + 8] as number) * 256 + (data[body + 9] as number);
  let channels = (data[body + 16] as number) * 256 + (data[body + 17] as number);
  let sampleRate = u32(data, body + 24) >>> 16;
  let extra = 0;
  if (qtVersion === 1) extra = 16;
  else if (qtVersion === 2) {
    extra = 36;
    c.need(AUDIO_ENTRY_HEADER + extra, 'sound description v2');
    sampleRate = Math.round(new DataView(data.buffer, data.byteOffset + body + 32, 8).getFloat64(0));
    channels = u32(data, body + 40);
  }
  c.need(AUDIO_ENTRY_HEADER + extra, 'sound description');
  const info: Mp4TrackInfo = { id: 0, kind, codec: 'mp3', timescale: 0, config: new Uint8Array(0) };
  if (channels > 0) info.channels = channels;
  if (sampleRate > 0) info.sampleRate = sampleRate;
  if (entry.type === '.mp3') return info;
  const kids = childBoxes(data, entry, base, AUDIO_ENTRY_HEADER + extra);
  let esds = findBox(kids, 'esds');
  const wave = findBox(kids, 'wave'); // QuickTime puts esds inside a 'wave' box
  if (!esds && wave) esds = findBox(childBoxes(data, wave, base), 'esds');
  if (!esds) return skip(`'mp4a' sample entry has no 'esds' box`);
  const es = parseEsds(data, esds, base);
  const codec = audioCodecOf(es.objectType);
  if (!codec) return skip(`'mp4a' object type 0x${es.objectType.toString(16)} is not AAC or MP3`);
  info.codec = codec;
  if (codec === 'aac') {
    if (es.config.length < 2) return skip('AAC track has no AudioSpecificConfig');
    info.config = es.config.slice();
    // The sample entry's channelcount is often 2 whatever the stream (14496-12 12.2.3.2 lets it be a
    // template): the AudioSpecificConfig says what the decoder will output (mono written as 2 otherwise).
    try {
      const asc = parseAudioSpecificConfig(info.config);
      if (asc.channels > 0) info.channels = asc.channels;
    } catch {
      // an unreadable configuration leaves the sample entry's count, as before
    }
  }
  return info;
}

/** objectTypeIndication values (14496-1 Table 5, mp4ra.org). */
function audioCodecOf(oti: number): AudioCodec | undefined {
  if (oti === 0x40 || oti === 0x66 || oti === 0x67 || oti === 0x68) return 'aac';
  if (oti === 0x69 || oti === 0x6b) return 'mp3';
  return undefined;
}

/**
 * esds (14496-14 5.6): an ES_Descriptor (14496-1 7.2.6.5) holding a DecoderConfigDescriptor (7.2.6.6) whose
 * DecoderSpecificInfo (7.2.6.7) is the AudioSpecificConfig. Descriptor sizes use the expandable length
 * coding (7.2.2.3: up to four bytes of 7 bits, high bit = more).
 */
export function parseEsds(
  data: Uint8Array,
  esds: Box,
  base: number,
): { objectType: number; config: Uint8Array } {
  const end = esds.end;
  const fail = (why: string): never => {
    throw new FormatError(`esds: ${why}`, { code: 'E_MP4_ESDS', offset: base + esds.start });
  };
  let at = bodyStart(esds) + 4;
  const header = (): { tag: number; len: number; body: number } => {
    if (at + 2 > end) fail('truncated descriptor');
    const tag = data[at++] as number;
    let len = 0;
    for (let i = 0; i < 4; i++) {
      if (at >= end) fail('truncated descriptor length');
      const b = data[at++] as number;
      len = len * 128 + (b & 0x7f);
      if ((b & 0x80) === 0) break;
    }
    return { tag, len, body: at };
  };
  const es = header();
  if (es.tag !== 3) fail(`expected an ES_Descriptor (tag 3), found tag ${es.tag}`);
  const esEnd = Math.min(end, es.body + es.len);
  if (at + 3 > esEnd) fail('truncated ES_Descriptor');
  const flags = data[at + 2] as number;
  at += 3;
  if (flags & 0x80) at += 2; // dependsOn_ES_ID
  if (flags & 0x40) at += 1 + (data[at] ?? 0); // URL
  if (flags & 0x20) at += 2; // OCR_ES_Id
  while (at < esEnd) {
    const d = header();
    const dEnd = Math.min(esEnd, d.body + d.len);
    if (d.tag !== 4) {
      at = dEnd;
      continue;
    }
    if (d.body + 13 > dEnd) fail('truncated DecoderConfigDescriptor');
    const objectType = data[d.body] as number;
    at = d.body + 13;
    let config: Uint8Array = new Uint8Array(0);
    while (at < dEnd) {
      const s = header();
      const sEnd = Math.min(dEnd, s.body + s.len);
      if (s.tag === 5) config = data.subarray(s.body, sEnd);
      at = sEnd;
    }
    return { objectType, config };
  }
  return fail('no DecoderConfigDescriptor');
}

function tableView(
  data: Uint8Array,
  box: Box,
  base: number,
  headerBytes: number,
  entrySize: number,
  countAt: number,
): TableView {
  const c = fullCursor(data, box, base);
  c.skip(countAt);
  const count = c.u32();
  const at = bodyStart(box) + 4 + headerBytes;
  // Entries must fit the box: a count that claims more is a lie (or an overflow attempt).
  if (at > box.end || count > (box.end - at) / entrySize) {
    throw new FormatError(
      `'${box.type}' declares ${count} entries, more than its ${box.end - bodyStart(box)} bytes hold`,
      { code: 'E_MP4_TABLE_OVERFLOW', offset: base + box.start },
    );
  }
  return { at, count, boxOffset: base + box.start };
}

function parseTables(data: Uint8Array, kids: Box[], stbl: Box, base: number): SampleTables | undefined {
  const stsz = findBox(kids, 'stsz');
  const stz2 = findBox(kids, 'stz2');
  if (!stsz && !stz2) return undefined;
  let sampleCount: number;
  let fixedSize = 0;
  let sizeBits = 32;
  let sizes: TableView;
  if (stsz) {
    // stsz (8.7.3.2): sample_size, sample_count, then entries only when sample_size == 0.
    const c = fullCursor(data, stsz, base);
    fixedSize = c.u32();
    sampleCount = c.u32();
    sizes =
      fixedSize === 0
        ? tableView(data, stsz, base, 8, 4, 4)
        : { at: c.pos, count: 0, boxOffset: base + stsz.start };
  } else {
    // stz2 (8.7.3.3): reserved u24, field_size u8, sample_count, packed entries.
    const b = stz2 as Box;
    const c = fullCursor(data, b, base);
    c.skip(3);
    sizeBits = c.u8();
    if (sizeBits !== 4 && sizeBits !== 8 && sizeBits !== 16) {
      throw new FormatError(`stz2 field_size ${sizeBits} is not 4, 8 or 16`, {
        code: 'E_MP4_VALUE',
        offset: base + b.start,
      });
    }
    sampleCount = c.u32();
    if (sampleCount > ((b.end - c.pos) * 8) / sizeBits) {
      throw new FormatError(`stz2 declares ${sampleCount} entries, more than its bytes hold`, {
        code: 'E_MP4_TABLE_OVERFLOW',
        offset: base + b.start,
      });
    }
    sizes = { at: c.pos, count: sampleCount, boxOffset: base + b.start };
  }
  if (sampleCount === 0) return undefined;

  const stts = findBox(kids, 'stts');
  const stsc = findBox(kids, 'stsc');
  const stco = findBox(kids, 'stco');
  const co64 = findBox(kids, 'co64');
  const ctts = findBox(kids, 'ctts');
  const stss = findBox(kids, 'stss');
  const tables: SampleTables = {
    stts: tableView(data, need(stts, 'stts', stbl, base), base, 4, 8, 0),
    sampleCount,
    fixedSize,
    sizeBits,
    sizes,
    stsc: tableView(data, need(stsc, 'stsc', stbl, base), base, 4, 12, 0),
    chunkOffsets: co64
      ? tableView(data, co64, base, 4, 8, 0)
      : tableView(data, need(stco, 'stco', stbl, base), base, 4, 4, 0),
    chunkOffsetBytes: co64 ? 8 : 4,
  };
  if (ctts) tables.ctts = tableView(data, ctts, base, 4, 8, 0);
  if (stss) tables.stss = tableView(data, stss, base, 4, 4, 0);
  return tables;
}

/** Total duration of an stts table (the decode time just past the last sample). */
export function sttsDuration(data: Uint8Array, at: number, count: number): number {
  let total = 0;
  for (let i = 0; i < count; i++) total += u32(data, at + i * 8) * u32(data, at + i * 8 + 4);
  return total;
}
