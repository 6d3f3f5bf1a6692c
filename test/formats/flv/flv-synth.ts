/**
 * Hand-made FLV bytes for tests: tags built with the writer helpers, payloads made unique per frame so
 * that no two frames look alike unless a test repeats one on purpose.
 */
import { ecmaArray, encodeAmf0 } from '../../../src/formats/flv/amf0.js';
import { TAG_AUDIO, TAG_SCRIPT, TAG_VIDEO } from '../../../src/formats/flv/flv-tags.js';
import { flvHeader, flvTag } from '../../../src/formats/flv/flv-writer.js';
import { concatBytes as concat } from '../../../src/core/bytes.js';
export { concat };

/** A fake but well-formed-looking avcC (configurationVersion 1, profile 100). */
export const FAKE_AVCC = new Uint8Array([
  1, 100, 0, 13, 0xff, 0xe1, 0, 4, 0x67, 100, 0, 13, 1, 0, 2, 0x68, 0xee,
]);
/** AAC LC, 48 kHz (index 3), stereo: 0x11 0x90. */
export const ASC_48K_STEREO = new Uint8Array([0x11, 0x90]);

/** A payload of `size` bytes derived from `seed`, different for every seed. */
export function payload(seed: number, size: number): Uint8Array {
  const b = new Uint8Array(size);
  let x = (seed * 2654435761) >>> 0 || 1;
  for (let i = 0; i < size; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    b[i] = x & 0xff;
  }
  // First 4 bytes as a NAL length prefix covering the rest, as in a real AVC sample.
  if (size >= 5) {
    const n = size - 4;
    b[0] = n >>> 24;
    b[1] = (n >>> 16) & 0xff;
    b[2] = (n >>> 8) & 0xff;
    b[3] = n & 0xff;
  }
  return b;
}

export function avcTag(
  ts: number,
  packetType: number,
  cts: number,
  keyframe: boolean,
  data: Uint8Array,
): Uint8Array {
  const body = new Uint8Array(5 + data.length);
  body[0] = ((keyframe ? 1 : 2) << 4) | 7;
  body[1] = packetType;
  const c = cts & 0xffffff;
  body[2] = c >>> 16;
  body[3] = (c >>> 8) & 0xff;
  body[4] = c & 0xff;
  body.set(data, 5);
  return flvTag(TAG_VIDEO, ts, body);
}

export function aacTag(ts: number, packetType: number, data: Uint8Array): Uint8Array {
  const body = new Uint8Array(2 + data.length);
  body[0] = 0xaf; // AAC, 44 kHz flag, 16-bit, stereo (E.4.2.1: always these for AAC)
  body[1] = packetType;
  body.set(data, 2);
  return flvTag(TAG_AUDIO, ts, body);
}

export function metadataTag(fields: Record<string, number | boolean | string>): Uint8Array {
  return flvTag(TAG_SCRIPT, 0, encodeAmf0('onMetaData', ecmaArray(fields)));
}

export interface SynthChunkOptions {
  /** Timestamp of the first frame. */
  t0: number;
  /** Unique id of the first video frame (and, x1000, audio); frames are numbered from here. */
  frame0: number;
  videoFrames: number;
  audioFrames: number;
  videoMs?: number;
  audioMs?: number;
  avcc?: Uint8Array;
  /** Extra tags after the sequence headers, before the frames. */
  prefixTags?: Uint8Array[];
  /** Every audio frame the same bytes (as an AAC encoder makes silence). */
  silence?: boolean;
  /** Unique id of the audio frames when not frame0's (the same sound under other video). */
  audio0?: number;
}

/** A complete FLV chunk: header, onMetaData, sequence headers, interleaved A/V frames, end of sequence. */
export function synthChunk(o: SynthChunkOptions): Uint8Array {
  const vms = o.videoMs ?? 40;
  const ams = o.audioMs ?? 20;
  const parts: Uint8Array[] = [
    flvHeader({ audio: true, video: true }),
    metadataTag({
      duration: 0,
      width: 320,
      height: 240,
      framerate: 1000 / vms,
      videocodecid: 7,
      audiocodecid: 10,
    }),
    avcTag(o.t0, 0, 0, true, o.avcc ?? FAKE_AVCC),
    aacTag(o.t0, 0, ASC_48K_STEREO),
    ...(o.prefixTags ?? []),
  ];
  const tags: { ts: number; bytes: Uint8Array }[] = [];
  for (let i = 0; i < o.videoFrames; i++) {
    const id = o.frame0 + i;
    tags.push({
      ts: o.t0 + i * vms,
      bytes: avcTag(o.t0 + i * vms, 1, 0, i === 0, payload(id, 40 + (id % 50))),
    });
  }
  for (let i = 0; i < o.audioFrames; i++) {
    const id = o.silence === true ? 999_999 : 1_000_000 + ((o.audio0 ?? o.frame0) * 1000 + i);
    tags.push({ ts: o.t0 + i * ams, bytes: aacTag(o.t0 + i * ams, 1, payload(id, 10 + (id % 7))) });
  }
  tags.sort((a, b) => a.ts - b.ts);
  for (const t of tags) parts.push(t.bytes);
  const last = o.t0 + Math.max(0, (o.videoFrames - 1) * vms);
  parts.push(avcTag(last, 2, 0, true, new Uint8Array(0)));
  return concat(parts);
}
