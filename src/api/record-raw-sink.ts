import type { Writable } from 'node:stream';
import { InputError, OutputError } from '../core/errors.js';
import { sniffContainer } from '../formats/sniff.js';
import type { StreamName } from '../sources/record-source.js';
import { AtomicFile } from '../storage/local.js';
import type { RecordSinkResult, SegmentMeta } from './record-sink.js';

/** What the recorder needs of an output: the MP4 sink and the pass-through sink both are one. */
export interface RecordSink {
  setInit(stream: StreamName, bytes: Uint8Array): Promise<void>;
  addSegment(stream: StreamName, bytes: Uint8Array, meta: SegmentMeta): Promise<void>;
  addGap(stream: StreamName, seconds: number): Promise<void>;
  recordedSec(stream?: StreamName): number;
  finish(): Promise<RecordSinkResult>;
  abort(): Promise<void>;
  /** True when the sink keeps no reference to the bytes it was last given: the caller may reuse them. */
  releasesSegments?(): boolean;
}

/**
 * The segments themselves, in order, as one MPEG-TS or fragmented MP4 stream (what `--format ts|fmp4` and
 * `-o -` write for a stream that comes as one muxed rendition): TS segments back to back, or the init
 * section (again whenever it changes) followed by the media segments. Nothing is parsed or rewritten, so
 * it can go to a pipe while it is being recorded.
 */
export class RawRecordSink implements RecordSink {
  private recorded = 0;
  private written = 0;
  private lastInit: Uint8Array | undefined;
  private pendingInit: Uint8Array | undefined;

  private constructor(
    private format: 'ts' | 'fmp4' | 'auto',
    private readonly name: string,
    private readonly file: AtomicFile | undefined,
    private readonly pipe: Writable | undefined,
  ) {}

  static async toFile(path: string, format: 'ts' | 'fmp4' | 'auto'): Promise<RawRecordSink> {
    return new RawRecordSink(format, path, await AtomicFile.create(path), undefined);
  }

  static toStream(stream: Writable, format: 'ts' | 'fmp4' | 'auto'): RawRecordSink {
    return new RawRecordSink(format, 'stdout', undefined, stream);
  }

  async setInit(_stream: StreamName, bytes: Uint8Array): Promise<void> {
    if (this.lastInit && Buffer.compare(this.lastInit, bytes) === 0) return;
    this.pendingInit = bytes;
  }

  async addSegment(_stream: StreamName, bytes: Uint8Array, meta: SegmentMeta): Promise<void> {
    const kind = sniffContainer(bytes.subarray(0, 4096));
    const isTs = kind === 'mpegts';
    if (this.format === 'auto') this.format = isTs ? 'ts' : 'fmp4';
    if (this.format === 'ts' && !isTs) {
      throw new InputError(`segment ${meta.name} is not MPEG-TS, so it cannot be written as a TS stream`, {
        code: 'E_OUTPUT_FORMAT',
        hint: 'this stream has fragmented MP4 segments: use --format fmp4 or mp4',
      });
    }
    if (this.format === 'fmp4' && isTs) {
      throw new InputError(
        `segment ${meta.name} is MPEG-TS, so it cannot be written as fragmented MP4 as is`,
        {
          code: 'E_OUTPUT_FORMAT',
          hint: 'use --format ts, or mp4',
        },
      );
    }
    if (this.pendingInit) {
      await this.write(this.pendingInit);
      this.lastInit = this.pendingInit;
      this.pendingInit = undefined;
    }
    await this.write(bytes);
    this.recorded += meta.duration;
  }

  async addGap(): Promise<void> {
    // The segments carry their own timestamps: a hole shows as a jump, as in the source.
  }

  recordedSec(): number {
    return this.recorded;
  }

  private async write(bytes: Uint8Array): Promise<void> {
    this.written += bytes.length;
    if (this.file) return this.file.write(bytes);
    await writeToPipe(this.pipe as Writable, bytes, this.name);
  }

  async finish(): Promise<RecordSinkResult> {
    await this.file?.commit();
    return {
      output: this.name,
      bytesOut: this.written,
      durationSec: this.recorded,
      tracks: [],
      warnings: [],
    };
  }

  async abort(): Promise<void> {
    await this.file?.abort();
  }
}

/** Write to a pipe, waiting for it to drain when it is full; a pipe error becomes an OutputError. */
export async function writeToPipe(pipe: Writable, bytes: Uint8Array, name: string): Promise<void> {
  if (pipe.write(bytes)) return;
  await new Promise<void>((resolve, reject) => {
    const done = (err?: Error): void => {
      pipe.off('drain', ok);
      pipe.off('error', done);
      if (err) reject(new OutputError(`cannot write to ${name}: ${err.message}`, { code: 'E_OUTPUT_WRITE' }));
      else resolve();
    };
    const ok = (): void => done();
    pipe.once('drain', ok);
    pipe.once('error', done);
  });
}
