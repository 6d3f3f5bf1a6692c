/**
 * Walks the sample tables of one progressive track (ISO/IEC 14496-12 8.6.1.2 stts, 8.6.1.3 ctts, 8.6.2 stss,
 * 8.7.3 stsz/stz2, 8.7.4 stsc, 8.7.5 stco/co64) one sample at a time, in decode order, without expanding
 * them into arrays: the tables are run-length coded, and a count in them allocates nothing here, so a lying
 * count costs at most the samples that really get emitted.
 */
import { FormatError } from '../../core/errors.js';
import { u32 } from './isobmff-boxes.js';
import type { SampleTables } from './isobmff-moov.js';

export class SampleTableCursor {
  /** The current sample, valid after `next()` returned true. */
  index = -1;
  offset = 0;
  size = 0;
  dts = 0;
  cts = 0;
  duration = 0;
  keyframe = false;
  /** Set when the tables ran out before `sampleCount` samples (a warning for the caller). */
  shortBy = 0;

  private nextDts = 0;
  private sttsI = 0;
  private sttsLeft = 0;
  private delta = 0;
  private cttsI = 0;
  private cttsLeft = 0;
  private cttsValue = 0;
  private stssI = 0;
  private nextSync = 0;
  private chunk = -1;
  private chunkLeft = 0;
  private stscI = 0;
  private nextOffset = 0;
  private done = false;

  constructor(
    private readonly data: Uint8Array,
    private readonly t: SampleTables,
  ) {
    if (t.stss && t.stss.count > 0) this.nextSync = u32(data, t.stss.at);
  }

  /** Total samples the tables declare. */
  get sampleCount(): number {
    return this.t.sampleCount;
  }

  /** Advance to the next sample; false when there are no more. */
  next(): boolean {
    if (this.done) return false;
    const t = this.t;
    const d = this.data;
    const i = this.index + 1;
    if (i >= t.sampleCount) return this.stop(0);

    // stsc: which chunk this sample is in; chunks with 0 samples are skipped.
    while (this.chunkLeft === 0) {
      this.chunk++;
      if (this.chunk >= t.chunkOffsets.count) return this.stop(t.sampleCount - i);
      const stsc = t.stsc;
      while (this.stscI + 1 < stsc.count && this.chunk + 1 >= u32(d, stsc.at + (this.stscI + 1) * 12)) {
        this.stscI++;
      }
      if (stsc.count === 0) return this.stop(t.sampleCount - i);
      this.chunkLeft = u32(d, stsc.at + this.stscI * 12 + 4);
      const co = t.chunkOffsets;
      if (t.chunkOffsetBytes === 8) {
        const at = co.at + this.chunk * 8;
        const hi = u32(d, at);
        if (hi > 0x1fffff) {
          throw new FormatError(`co64 chunk offset ${this.chunk + 1} is too large to be real`, {
            code: 'E_MP4_VALUE',
            offset: co.boxOffset,
          });
        }
        this.nextOffset = hi * 2 ** 32 + u32(d, at + 4);
      } else {
        this.nextOffset = u32(d, co.at + this.chunk * 4);
      }
    }

    // stts: run-length decode deltas.
    while (this.sttsLeft === 0) {
      if (this.sttsI >= t.stts.count) return this.stop(t.sampleCount - i);
      const at = t.stts.at + this.sttsI * 8;
      this.sttsLeft = u32(d, at);
      this.delta = u32(d, at + 4);
      this.sttsI++;
    }
    this.sttsLeft--;

    // ctts: missing entries (a short table) mean offset 0.
    if (t.ctts) {
      while (this.cttsLeft === 0 && this.cttsI < t.ctts.count) {
        const at = t.ctts.at + this.cttsI * 8;
        this.cttsLeft = u32(d, at);
        this.cttsValue = u32(d, at + 4) | 0;
        this.cttsI++;
      }
      if (this.cttsLeft > 0) {
        this.cttsLeft--;
        this.cts = this.cttsValue;
      } else this.cts = 0;
    }

    // stsz / stz2
    let size: number;
    if (t.fixedSize > 0) size = t.fixedSize;
    else if (t.sizeBits === 32) size = u32(d, t.sizes.at + i * 4);
    else if (t.sizeBits === 16)
      size = ((d[t.sizes.at + i * 2] as number) << 8) | (d[t.sizes.at + i * 2 + 1] as number);
    else if (t.sizeBits === 8) size = d[t.sizes.at + i] as number;
    else {
      const b = d[t.sizes.at + (i >>> 1)] as number;
      size = (i & 1) === 0 ? b >>> 4 : b & 15;
    }

    // stss: sorted sample numbers (1-based); absent means every sample is a sync sample.
    if (t.stss) {
      const n = i + 1;
      while (this.nextSync < n && this.stssI < t.stss.count) {
        this.stssI++;
        this.nextSync = this.stssI < t.stss.count ? u32(d, t.stss.at + this.stssI * 4) : Infinity;
      }
      this.keyframe = this.nextSync === n;
    } else this.keyframe = true;

    this.index = i;
    this.offset = this.nextOffset;
    this.size = size;
    this.dts = this.nextDts;
    this.duration = this.delta;
    this.nextDts += this.delta;
    this.nextOffset += size;
    this.chunkLeft--;
    return true;
  }

  /** Decode time just past the last sample walked so far. */
  get endDts(): number {
    return this.nextDts;
  }

  private stop(short: number): false {
    this.done = true;
    this.shortBy = short;
    return false;
  }
}
