import { CastkitError, InterruptedError } from '../core/errors.js';
import {
  FlvJoiner,
  type FlvChunkPlan,
  type FlvJoinResult,
  type FlvPiece,
} from '../formats/flv/flv-joiner.js';
import { AtomicFile } from '../storage/local.js';
import { GatherWriter } from '../storage/gather-writer.js';
import { closeInput, openInputFile, readOpenInput } from '../sources/file-source.js';
import { requireFlvInput, sniffBytes } from './remux-inputs.js';
import { rewriteWithHead } from './remux-output.js';
import { pacer } from './remux-demux.js';
import { progressReporter } from './remux-shared.js';
import type { RemuxOptions, RemuxResult, RemuxTrackSummary, RemuxWarning } from './remux-types.js';

/** FLV chunks -> one FLV: one header, one onMetaData, repaired timestamps (the ustream case). */
export async function joinFlv(inputs: readonly string[], options: RemuxOptions): Promise<RemuxResult> {
  // Each chunk's size is taken from the chunk once open (no stat of every input first): progress counts
  // chunks, and the room for the head is estimated from the chunks read before it is reserved.
  // The chunks are read into our own memory and written out before the next is read: retime in place.
  const joiner = new FlvJoiner({ rewriteInPlace: true });
  const pace = pacer();
  const out = await AtomicFile.create(options.output);
  const readProgress = progressReporter(options, 'join', inputs.length, 'items');
  // Each chunk is read into the writer's block and its tags are written from there, retimed in place. A
  // full block goes to the thread pool while the next is filled; when that one is full too and the pool
  // is still writing (its core taken by V8's compiler, which optimizes the joiner meanwhile, or by the
  // kernel's page cache), this thread writes it itself instead of waiting. 1,400 chunks, 31 interleaved
  // runs: 147.9 ms with every write on this thread, 134.6 with every write on the pool, 131.8 so (cat 88.9).
  const writer = new GatherWriter({
    writev: (parts) => out.writev(parts),
    writevNow: (parts) => out.appendvSync(parts),
  });
  // The onMetaData goes first but is known only at the end (duration, keyframe index): the body is
  // written as the chunks are read, after room reserved for it from the keyframe rate of the first chunks.
  // Until then the chunks are held in the writer's first block (nothing can be written before the room):
  // the room is reserved once the next chunk would not fit there, so that the writes start early (the
  // join's pace is the writes': held to 16 MB in chunks of their own, they started 15-20 ms later).
  let reserved: number | undefined;
  let held: { buf: Uint8Array; pieces: FlvPiece[] }[] = [];
  let bytesIn = 0;
  const emit = (buf: Uint8Array, pieces: FlvPiece[]): void => {
    for (const p of pieces) writer.append('bytes' in p ? p.bytes : buf.subarray(p.offset, p.offset + p.size));
  };
  const reserve = (chunks: number): void => {
    // Keyframes of the chunks so far, scaled to every chunk, with a margin; too few is put right at the
    // end, by moving the body behind a bigger head.
    const estimate = Math.ceil((joiner.keyframeCount / chunks) * inputs.length * 1.25) + 32;
    reserved = joiner.headSizeBound(estimate);
    out.reserve(reserved);
    for (const h of held) emit(h.buf, h.pieces);
    held = [];
  };
  let result: FlvJoinResult;
  try {
    for (const [i, input] of inputs.entries()) {
      if (options.signal?.aborted) throw new InterruptedError();
      // Chunks are small and many: a synchronous read each is far cheaper than a round of async calls.
      const opened = openInputFile(input);
      let buf: Uint8Array;
      try {
        if (reserved === undefined && held.length > 0 && !writer.fits(opened.size)) reserve(i);
        buf = readOpenInput(opened, await writer.region(opened.size));
      } finally {
        closeInput(opened);
      }
      if (i > 0) requireFlvInput(input, sniffBytes(input, buf));
      bytesIn += buf.length;
      const { pieces } = pushNaming(joiner, buf, input);
      if (reserved !== undefined) emit(buf, pieces);
      else {
        held.push({ buf, pieces });
        if (held.length === 64 || i === inputs.length - 1) reserve(i + 1);
      }
      readProgress(i + 1, bytesIn);
      // The reads are synchronous and the writer's waits often settle at once: without a yield now and
      // then, a Ctrl-C would be seen only at the end.
      const yielded = pace(buf.length);
      if (yielded) await yielded;
    }
    await writer.flush();
    try {
      result = joiner.finish({ headSize: reserved });
      await out.writeAt(result.head, 0);
      await out.commit();
    } catch (err) {
      if (!(err instanceof RangeError)) throw err;
      // More keyframes than estimated: write the head, then move the body behind it.
      result = joiner.finish();
      await rewriteWithHead(out, result.head, reserved ?? 0, result.bodySize, options.output);
    }
  } catch (err) {
    await out.abort();
    throw err;
  }
  return {
    output: options.output,
    format: 'flv',
    inputs: inputs.length,
    bytesIn,
    bytesOut: result.size,
    durationSec: result.durationMs / 1000,
    tracks: flvTracks(result.metadata),
    warnings: joinWarnings(inputs, result),
    join: result.summary,
  };
}

/** joiner.push, with a refusal of the chunk naming its file. */
function pushNaming(joiner: FlvJoiner, buf: Uint8Array, input: string): FlvChunkPlan {
  try {
    return joiner.push(buf);
  } catch (err) {
    if (!(err instanceof CastkitError) || err.code !== 'E_CONCAT_MISMATCH') throw err;
    throw new CastkitError(`${input}: ${err.message}`, {
      code: err.code,
      category: err.category,
      ...(err.hint ? { hint: err.hint } : {}),
      details: { ...err.details, path: input },
    });
  }
}

/** What the joiner repaired or skipped, per input. */
function joinWarnings(inputs: readonly string[], result: FlvJoinResult): RemuxWarning[] {
  const warnings: RemuxWarning[] = [];
  for (const r of result.reports) {
    const input = inputs[r.index] ?? '';
    for (const w of r.warnings) warnings.push({ ...w, input });
    if (r.error)
      warnings.push({
        code: r.error.code,
        message: `skipped: ${r.error.message}`,
        offset: r.error.offset,
        input,
      });
  }
  return warnings;
}

/** The tracks of a joined FLV, as its onMetaData tells them. */
function flvTracks(m: FlvJoinResult['metadata']): RemuxTrackSummary[] {
  const tracks: RemuxTrackSummary[] = [];
  if (m.videocodecid !== undefined) {
    const v: RemuxTrackSummary = { kind: 'video', codec: m.videocodecid === 7 ? 'avc' : 'hevc' };
    if (m.width) v.width = m.width;
    if (m.height) v.height = m.height;
    tracks.push(v);
  }
  if (m.audiocodecid !== undefined) {
    const a: RemuxTrackSummary = { kind: 'audio', codec: m.audiocodecid === 10 ? 'aac' : 'mp3' };
    if (m.audiosamplerate) a.sampleRate = m.audiosamplerate;
    tracks.push(a);
  }
  return tracks;
}
