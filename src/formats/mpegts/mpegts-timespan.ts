/**
 * How much time the media of one MPEG-TS segment covers, read from its PES headers only (ISO/IEC 13818-1
 * 2.4.3.2 packets, 2.4.3.6-7 PES headers): bytes are pushed as they arrive, nothing is kept but one partial
 * packet and the PTS of each video and audio PES. A recorder uses it to see a segment that a server cut
 * short while sending a Content-Length that matches (the HTTP layer cannot tell).
 *
 * The span of a track is its last presentation time plus one frame (or, for audio, one PES: ffmpeg puts
 * several AAC frames in one) less its first. Video is exact to a frame, audio to a PES.
 *
 * Told the segment's length (`expect`), a segment with video is read only in its first SCAN_HEAD and
 * last SCAN_TAIL bytes, and gives its video spans only: the video's first and last presentation times are
 * there (the last within the few frames of B-frame reordering, which the caller's slack covers), while
 * a muxer may write audio well ahead of the video (ffmpeg: up to 0.7 s), so the last audio can lie in the
 * middle. Reading one byte of every 188 costs about 22 ns a packet out of the caches: 17 ms of a 142 MB
 * recording's main thread, read whole. Without a few video frames in the head, the whole segment is read.
 */
import { readPesTime } from './mpegts-pes-fields.js';

const PACKET = 188;
const SYNC = 0x47;
const CLOCK = 90_000;
const WRAP = 2 ** 33;
/** Bytes read at the start and at the end of a segment of known length (see expect()). */
export const SCAN_HEAD = 256 * 1024;
export const SCAN_TAIL = 512 * 1024;
/** Video frames the head must hold for the middle to be skipped. */
const HEAD_FRAMES = 3;

export interface TsTrackSpan {
  pid: number;
  kind: 'video' | 'audio';
  /** PES packets with a PTS, among those read. */
  count: number;
  /** Seconds from the first presentation time to the end of the last frame (or PES). */
  seconds: number;
}

export class TsTimeSpan {
  private carry = new Uint8Array(PACKET);
  private carried = 0;
  /** PTS per PID, unwrapped against the first one seen in the segment. */
  private readonly pts = new Map<number, { kind: 'video' | 'audio'; first: number; values: number[] }>();
  /** Lost packet sync: the rest is not read (spans stay what they were). */
  private lost = false;
  /** Bytes pushed so far: packets start at multiples of PACKET from the segment's first byte. */
  private pos = 0;
  /** Packets starting in [skipFrom, skipTo) are not read (once video has been seen before it). */
  private skipFrom = Infinity;
  private skipTo = Infinity;
  /** Whether packets were skipped: only video spans are then whole. */
  private skipped = false;

  /**
   * The segment's length in bytes, when known before its bytes come (a Content-Length): only its head and
   * tail are read then. A length a few bytes off (AES padding) does no harm.
   */
  expect(length: number | undefined): void {
    if (length === undefined || length <= SCAN_HEAD + SCAN_TAIL + PACKET) return;
    this.skipFrom = SCAN_HEAD;
    this.skipTo = Math.ceil((length - SCAN_TAIL) / PACKET) * PACKET;
  }

  push(chunk: Uint8Array): void {
    if (this.lost || chunk.length === 0) return;
    const base = this.pos;
    this.pos += chunk.length;
    // After skipped bytes, the first packet start in this chunk; after a carried part, its end.
    let i = (PACKET - (base % PACKET)) % PACKET;
    if (this.carried > 0) {
      const take = Math.min(PACKET - this.carried, chunk.length);
      this.carry.set(chunk.subarray(0, take), this.carried);
      this.carried += take;
      if (this.carried < PACKET) return;
      this.packet(this.carry, 0);
      this.carried = 0;
    }
    for (; i + PACKET <= chunk.length && !this.lost; i += PACKET) {
      const at = base + i;
      if (at >= this.skipFrom && at < this.skipTo && this.skipping()) i = this.skipTo - base - PACKET;
      else this.packet(chunk, i);
    }
    const at = base + i;
    if (!this.lost && i < chunk.length && !(at >= this.skipFrom && at < this.skipTo && this.skipped)) {
      this.carry.set(chunk.subarray(i), 0);
      this.carried = chunk.length - i;
    }
  }

  /**
   * Each video and audio track seen, with the time its PES packets cover; only the video tracks when the
   * middle of the segment was skipped.
   */
  spans(): TsTrackSpan[] {
    const out: TsTrackSpan[] = [];
    for (const [pid, t] of this.pts) {
      if (this.skipped && t.kind !== 'video') continue;
      const v = t.values.slice().sort((a, b) => a - b);
      out.push({ pid, kind: t.kind, count: v.length, seconds: spanOf(v) / CLOCK });
    }
    return out;
  }

  /**
   * At the first packet of the middle: skip it when a few video frames have come, else read everything
   * (no video, or video too sparse for its span to tell: one still picture over running audio).
   */
  private skipping(): boolean {
    if (this.skipped) return true;
    for (const t of this.pts.values())
      if (t.kind === 'video' && t.values.length >= HEAD_FRAMES) return (this.skipped = true);
    this.skipFrom = this.skipTo = Infinity;
    return false;
  }

  private packet(b: Uint8Array, i: number): void {
    if (b[i] !== SYNC) {
      this.lost = true;
      return;
    }
    const b1 = b[i + 1] as number;
    if ((b1 & 0x40) === 0) return; // no PES starts in this packet
    const pid = ((b1 & 0x1f) << 8) | (b[i + 2] as number);
    const afc = ((b[i + 3] as number) >> 4) & 3;
    if ((afc & 1) === 0) return; // no payload
    const p = i + 4 + (afc & 2 ? 1 + (b[i + 4] as number) : 0);
    // packet_start_code_prefix, stream_id, PES_packet_length, flags, PES_header_data_length, PTS.
    if (p + 14 > i + PACKET || b[p] !== 0 || b[p + 1] !== 0 || b[p + 2] !== 1) return;
    const id = b[p + 3] as number;
    const kind =
      id >= 0xe0 && id <= 0xef ? 'video' : (id >= 0xc0 && id <= 0xdf) || id === 0xbd ? 'audio' : '';
    if (kind === '' || ((b[p + 7] as number) & 0x80) === 0) return; // not media, or no PTS
    const pts = readPesTime(b, p + 9);
    let t = this.pts.get(pid);
    if (!t) {
      t = { kind, first: pts, values: [] };
      this.pts.set(pid, t);
    }
    let d = pts - t.first;
    if (d < -WRAP / 2) d += WRAP;
    else if (d > WRAP / 2) d -= WRAP;
    t.values.push(t.first + d);
  }
}

/** Sorted times: last less first plus one step (the median gap between neighbours; 0 for one time). */
function spanOf(sorted: readonly number[]): number {
  if (sorted.length === 0) return 0;
  const gaps: number[] = [];
  for (let k = 1; k < sorted.length; k++) {
    const g = (sorted[k] as number) - (sorted[k - 1] as number);
    if (g > 0) gaps.push(g);
  }
  gaps.sort((a, b) => a - b);
  const step = gaps.length > 0 ? (gaps[gaps.length >> 1] as number) : 0;
  return (sorted[sorted.length - 1] as number) - (sorted[0] as number) + step;
}

/** Whether bytes look like the start of an MPEG-TS (a sync byte at the first two packet starts). */
export function looksLikeTs(head: Uint8Array): boolean {
  return head[0] === SYNC && (head.length <= PACKET || head[PACKET] === SYNC);
}
