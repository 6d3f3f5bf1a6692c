/**
 * How much time the media of one MPEG-TS segment covers, read from its PES headers only (ISO/IEC 13818-1
 * 2.4.3.2 packets, 2.4.3.6-7 PES headers): bytes are pushed as they arrive, nothing is kept but one partial
 * packet and the PTS of each video and audio PES. A recorder uses it to see a segment that a server cut
 * short while sending a Content-Length that matches (the HTTP layer cannot tell).
 *
 * The span of a track is its last presentation time plus one frame (or, for audio, one PES: ffmpeg puts
 * several AAC frames in one) less its first. Video is exact to a frame, audio to a PES.
 */

const PACKET = 188;
const SYNC = 0x47;
const CLOCK = 90_000;
const WRAP = 2 ** 33;

export interface TsTrackSpan {
  pid: number;
  kind: 'video' | 'audio';
  /** PES packets with a PTS. */
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

  push(chunk: Uint8Array): void {
    if (this.lost || chunk.length === 0) return;
    let i = 0;
    if (this.carried > 0) {
      const take = Math.min(PACKET - this.carried, chunk.length);
      this.carry.set(chunk.subarray(0, take), this.carried);
      this.carried += take;
      i = take;
      if (this.carried < PACKET) return;
      this.packet(this.carry, 0);
      this.carried = 0;
    }
    for (; i + PACKET <= chunk.length && !this.lost; i += PACKET) this.packet(chunk, i);
    if (!this.lost && i < chunk.length) {
      this.carry.set(chunk.subarray(i), 0);
      this.carried = chunk.length - i;
    }
  }

  /** Each video and audio track seen, with the time its PES packets cover. */
  spans(): TsTrackSpan[] {
    const out: TsTrackSpan[] = [];
    for (const [pid, t] of this.pts) {
      const v = t.values.slice().sort((a, b) => a - b);
      out.push({ pid, kind: t.kind, count: v.length, seconds: spanOf(v) / CLOCK });
    }
    return out;
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
    const q = p + 9;
    const pts =
      (((b[q] as number) >> 1) & 7) * 2 ** 30 +
      (b[q + 1] as number) * 2 ** 22 +
      ((b[q + 2] as number) >> 1) * 2 ** 15 +
      (b[q + 3] as number) * 2 ** 7 +
      ((b[q + 4] as number) >> 1);
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
