import { InputError } from '../core/errors.js';
import { parameterSetUnits, withParameterSets, type InBandParams } from '../formats/codecs/parameter-sets.js';
import { freeBox } from '../formats/isobmff/isobmff-boxes.js';
import {
  writeFragment,
  writeInitSegment,
  type Fmp4FragmentTrack,
} from '../formats/isobmff/isobmff-fmp4-writer.js';
import type { Mp4WriterTrack } from '../formats/isobmff/isobmff-mp4-writer.js';
import type { Sample } from '../formats/media.js';
import { QueuedTracks, type OnePassSink, type Queued, type TsTrack } from './ts-interleaver.js';

/** Room left after the first init segment, for the tracks of later inputs: a trak is about 0.5-1 KB. */
const LATE_TRACK_ROOM = 4096;

/**
 * Writes fragmented MP4 as samples come (the one-pass counterpart of fragmentAtKeyframes): room for the init
 * segment when the tracks are known (it is written into it at the end), then a fragment each time the
 * video (else the first track) reaches a keyframe at least `minDuration` after the fragment's start and
 * every other track has samples past it (or is `maxLeadSec` behind: a track with a hole must not hold the
 * others in memory). Other tracks' samples go to the fragment whose span holds their time, as
 * fragmentAtKeyframes puts them.
 */
export class Fmp4Streamer extends QueuedTracks implements OnePassSink {
  private begun = false;
  private sequence = 0;
  /** Bytes reserved at the start of the file for the init segment, once started. */
  room = 0;
  /** Per video track whose parameters changed: the sets its next keyframe must carry (see setConfig). */
  private readonly carry = new Map<TsTrack, InBandParams>();

  constructor(
    private readonly write: (bytes: Uint8Array) => Promise<void>,
    /**
     * Called once, before the first fragment, with the room to leave at the start of the file. The init
     * segment goes there at the end (head()), so that it lists the tracks that start in later inputs too.
     */
    private readonly reserve: (room: number) => void,
    private readonly minDuration = 1,
    /** The room to reserve instead of the first init's size and LATE_TRACK_ROOM (tests: RemuxOptions.moovRoom). */
    private readonly fixedRoom?: number,
    private readonly maxLeadSec = 10,
  ) {
    super();
  }

  get started(): boolean {
    return this.begun;
  }

  /**
   * A track's decoder configuration changes. Before the output starts, the init segment takes the new one.
   * After, H.264 or HEVC video whose NAL length size stays goes on under the init segment's sample entry:
   * the next keyframe carries the new parameter sets in band (an MPEG-TS input's do already), as the MP4
   * output of the same inputs does. Anything else is refused: one init segment cannot hold both.
   */
  setConfig(t: TsTrack, config: Uint8Array): void {
    if (!this.begun) {
      t.info = { ...t.info, config };
      return;
    }
    const hevc = t.info.codec === 'hevc';
    if (t.info.kind === 'video' && (hevc || t.info.codec === 'avc')) {
      const next = parameterSetUnits(hevc, config);
      const first = parameterSetUnits(hevc, t.info.config);
      if (next && first && next.lengthSize === first.lengthSize) {
        this.carry.set(t, next);
        return;
      }
    }
    throw new InputError(
      `the ${t.info.kind} decoder configuration changes midway: one fMP4 init segment cannot hold both`,
      {
        code: 'E_FMP4_CONFIG_CHANGE',
        hint:
          t.info.kind === 'video'
            ? "write TS instead: it carries each part's parameter sets with its keyframes"
            : 'write TS instead: it carries the audio settings with every frame',
      },
    );
  }

  override queue(t: TsTrack, sec: number, sample: Sample, payload: Uint8Array): void {
    const params = sample.keyframe ? this.carry.get(t) : undefined;
    if (params) {
      this.carry.delete(t);
      const grown = withParameterSets(payload, params);
      if (grown !== payload) {
        super.queue(t, sec, { ...sample, size: grown.length }, grown);
        return;
      }
    }
    super.queue(t, sec, sample, payload);
  }

  start(): boolean {
    if (this.begun) return true;
    if (this.tracks.length === 0) return false;
    this.setBase();
    this.begun = true;
    this.room = this.fixedRoom ?? this.init().length + LATE_TRACK_ROOM;
    this.reserve(this.room);
    return true;
  }

  private init(): Uint8Array {
    return writeInitSegment(this.tracks.map((t) => t.info) as Mp4WriterTrack[]);
  }

  /**
   * The init segment for the reserved room, once every fragment is written: exactly `room` bytes, padded
   * with a free box, or, when the tracks that came later made it larger than the room (or left 1-7 bytes,
   * which no box fills), the init alone (`fits` false: the fragments must be moved behind it).
   */
  head(): { bytes: Uint8Array; fits: boolean } {
    const init = this.init();
    const free = freeBox(this.room - init.length);
    if (!free) return { bytes: init, fits: false };
    const bytes = new Uint8Array(this.room);
    bytes.set(init);
    bytes.set(free, init.length);
    return { bytes, fits: true };
  }

  async drain(all: boolean): Promise<void> {
    if (!this.begun) return;
    const ref = this.tracks.find((t) => t.info.kind === 'video') ?? (this.tracks[0] as TsTrack);
    const video = ref.info.kind === 'video';
    const minSec = video ? this.minDuration : this.minDuration > 0 ? this.minDuration : 1;
    for (;;) {
      const head = ref.queue[ref.head];
      if (!head) break;
      let cut = -1;
      for (let i = ref.head + 1; i < ref.queue.length; i++) {
        const q = ref.queue[i] as Queued;
        if ((!video || q.sample.keyframe) && q.sec - head.sec >= minSec) {
          cut = i;
          break;
        }
      }
      if (cut < 0) break; // with `all`, the rest is one last fragment (below)
      const cutSec = (ref.queue[cut] as Queued).sec;
      if (!all) {
        const latest = ref.lastSec;
        const behind = this.tracks.some(
          (t) => t !== ref && t.lastSec < cutSec && latest - t.lastSec < this.maxLeadSec,
        );
        if (behind) break;
      }
      await this.fragment(cutSec);
    }
    if (all) await this.fragment(Infinity);
  }

  /** One fragment of every queued sample before `cutSec`. */
  private async fragment(cutSec: number): Promise<void> {
    const parts: Fmp4FragmentTrack[] = [];
    const payloads: Uint8Array[] = [];
    for (const t of this.tracks) {
      const ts = t.info.timescale;
      const samples: Sample[] = [];
      while (t.head < t.queue.length && (t.queue[t.head] as Queued).sec < cutSec) {
        const { q, dts } = this.take(t);
        samples.push({ ...q.sample, trackId: t.info.id, dts, offset: 0 });
        payloads.push(q.payload);
      }
      if (samples.length === 0) continue;
      const part: Fmp4FragmentTrack = { trackId: t.info.id, samples };
      const next = t.queue[t.head];
      if (next) part.endDts = Math.round((next.sec - this.base) * ts);
      parts.push(part);
    }
    if (parts.length === 0) return;
    await this.write(writeFragment(++this.sequence, parts));
    for (const p of payloads) await this.write(p);
  }
}
