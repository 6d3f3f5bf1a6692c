import { BlockQueue } from '../core/block-queue.js';
import { SlabArena } from '../core/slab-arena.js';
import { createDemuxer } from '../formats/demux.js';
import { planMp4, type Mp4WriterTrack } from '../formats/isobmff/isobmff-mp4-writer.js';
import { withParameterSets, type InBandParams } from '../formats/codecs/parameter-sets.js';
import type { Sample, TrackInfo } from '../formats/media.js';
import { SampleTable } from '../formats/sample-table.js';
import { joinInputs, parameterSetsToCarry, type DemuxedInput } from '../formats/timeline.js';
import { AtomicFile } from '../storage/local.js';
import { PieceWriter } from '../storage/piece-writer.js';
import { IO_BLOCK } from '../storage/write-all.js';
import { demuxedInput, demuxFile, pacer, RecentChunks } from './remux-demux.js';
import { statInput } from '../sources/file-source.js';
import type { SniffedInput } from './remux-inputs.js';
import { rewriteWithHead } from './remux-output.js';
import { PayloadPeek } from './remux-payloads.js';
import { progressReporter, trackSummaries, withDetails } from './remux-shared.js';
import type { RemuxOptions, RemuxResult, RemuxWarning } from './remux-types.js';

/** Bytes of moov per sample, at the most: stsz 4, ctts 8, stts 8, stss 4, and a chunk entry (co64 8, stsc 12). */
const MOOV_BYTES_PER_SAMPLE = 44;

/**
 * Input read before the room for the moov is sized from its sample rate. Until then every payload is held
 * as a copy in new memory, which is slow to touch on the VMs here (see bench/README.md): 2 MB instead of
 * 16 MB took a 121 MB TS -> MP4 from 447 to 428 ms, 432 to 384 ms and 463 to 429 ms (medians of 25, 21 and
 * 15 interleaved runs) and peak RSS from 86 to 71 MB; FLV -> MP4 (payloads are views of the chunks read)
 * was unchanged. The estimate is as good from 2 MB as from 16 MB on the bench inputs (22,118 and 22,936
 * samples for 23,064), and the room has a wide margin: 44 bytes a sample where that TS's moov takes 7
 * (160 KB in 1.18 MB of room), so its first 2 MB would have to hold about seven times fewer samples per
 * byte than the whole input for the media to be moved at the end.
 */
const RESERVE_AFTER = 2 << 20;

/**
 * MPEG-TS and FLV inputs to MP4 in one pass: payloads go into the output as they are demuxed, after room
 * reserved for the moov (estimated from the sample rate of the first 2 MB, with a margin); the moov, a
 * `free` box for what is left of the room, and the mdat header are written into that room at the end. The
 * inputs are read once and the media written once, as ffmpeg does; if the estimate was short, the media
 * is moved behind a head of the right size.
 */
export async function remuxStreaming(
  inputs: readonly string[],
  sniffed: readonly SniffedInput[],
  options: RemuxOptions,
): Promise<RemuxResult> {
  const sizes = inputs.map((p) => statInput(p));
  const total = sizes.reduce((a, b) => a + b, 0);
  const out = await AtomicFile.create(options.output);
  const writer = new PieceWriter(out, [], IO_BLOCK);
  const warnings: RemuxWarning[] = [];
  const demuxed: DemuxedInput[] = [];
  const progress = progressReporter(options, 'remux', total);
  const pace = pacer();
  let reserved: number | undefined;
  let held: BlockQueue | undefined = new BlockQueue(IO_BLOCK);
  let payloadPos = 0;
  let samplesSeen = 0;
  let bytesIn = 0;
  // Payloads the demuxer makes (MPEG-TS access units) live only until they are copied into the output.
  const arena = new SlabArena();
  // The previous input's first video track: an input encoded with other parameters (clips of another size,
  // FLV chunks of another rendition) gets its own parameter sets into its first keyframe, and its track
  // says so, for joinInputs to keep it under the first sample entry (as remux-twopass carryParameterSets).
  let videoBefore: TrackInfo | undefined;
  const reserve = async (bytesRead: number): Promise<void> => {
    const perByte = samplesSeen / Math.max(1, bytesRead);
    const estimate = Math.ceil(perByte * total * 1.2) + 256;
    reserved = options.moovRoom ?? 4096 + estimate * MOOV_BYTES_PER_SAMPLE;
    out.reserve(reserved);
    const blocks = (held as BlockQueue).blocks();
    held = undefined;
    // Whole blocks go to the file as they are (add() writes a block of its buffer's size directly).
    for (const b of blocks) await writer.add({ bytes: b });
  };
  try {
    for (const [i, input] of inputs.entries()) {
      const demuxer = createDemuxer((sniffed[i] as SniffedInput).format, {
        allocate: (n) => arena.allocate(n),
      });
      const samples = new SampleTable(4096);
      const recent = new RecentChunks();
      let firstVideo: TrackInfo | undefined;
      let carry: InBandParams | undefined;
      let changed = false;
      const { tracks, bytes } = await demuxFile(input, sizes[i] as number, demuxer, {
        signal: options.signal,
        pace,
        warnings,
        onChunk: (chunk, at) => recent.add(chunk, at),
        onTracks: (announced) => {
          const t = firstVideo ? undefined : announced.find((a) => a.kind === 'video');
          if (!t) return;
          firstVideo = t;
          carry = parameterSetsToCarry(t, videoBefore);
          changed = carry !== undefined;
        },
        // Runs once per sample, mostly interpreted (see cli/jit.ts): an indexed loop, no object per payload,
        // and the arena asked only about payloads it made (FLV payloads are views of the chunks read).
        onSamples: async (got, readAt) => {
          for (let k = 0; k < got.length; k++) {
            let s = got[k] as Sample;
            const given = recent.payload(s, readAt);
            let payload = given;
            if (carry && s.keyframe && s.trackId === firstVideo?.id) {
              payload = withParameterSets(given, carry);
              carry = undefined;
              if (payload !== given) s = { ...s, size: payload.length };
            }
            samples.addSample(s, payloadPos);
            payloadPos += s.size;
            samplesSeen++;
            // Held payloads (before the room is reserved) are copied: the chunks and the arena move on. One
            // block a megabyte instead of one allocation a payload (about 3,000 for the 121 MB bench TS):
            // peak RSS 91 -> 86 MB; the time is about the same, mostly the kernel faulting in new memory.
            if (held) held.add(payload);
            else if (!writer.tryAddBytes(payload)) await writer.add({ bytes: payload });
            if (s.data) arena.release(given);
          }
        },
        onRead: async (done) => {
          const read = bytesIn + done;
          if (reserved === undefined && read >= RESERVE_AFTER) await reserve(read);
          progress(read);
        },
      });
      bytesIn += bytes;
      if (firstVideo) {
        videoBefore = firstVideo;
        const k = tracks.findIndex((t) => t.id === firstVideo?.id);
        if (changed && k >= 0) tracks[k] = { ...(tracks[k] as TrackInfo), inBandParameterSets: true };
      }
      demuxed.push(demuxedInput(input, tracks, samples));
    }
    if (reserved === undefined) await reserve(bytesIn);
    await writer.flush();

    // The payloads are in the output by now, behind the room: read back there to compare at a seam.
    const peek = new PayloadPeek();
    const room = reserved as number;
    let timeline;
    try {
      timeline = joinInputs(demuxed, {
        samePayload: PayloadPeek.same((r) => peek.read(out.tempPath, room + r.offset, r.size)),
      });
    } finally {
      peek.close();
    }
    for (const w of timeline.warnings) warnings.push({ ...w, input: w.input ?? inputs[0] ?? '' });
    const tracks = timeline.tracks.map(withDetails);
    const plan = planMp4(tracks as Mp4WriterTrack[], timeline.samples, {
      explicitOffsets: true,
      payloadSize: payloadPos,
      room,
    });
    if (plan.head.length === room) {
      await out.writeAt(plan.head, 0);
      await out.commit();
    } else {
      // More samples than estimated: a head of the right size, then the media moved behind it.
      await rewriteWithHead(out, plan.head, room, payloadPos, options.output);
    }
    return {
      output: options.output,
      format: 'mp4',
      inputs: inputs.length,
      bytesIn,
      bytesOut: plan.head.length + payloadPos,
      durationSec: plan.durationSec, // the mvhd's: what a player reads
      tracks: trackSummaries(tracks, timeline.samples),
      warnings,
    };
  } catch (err) {
    await out.abort();
    throw err;
  }
}
