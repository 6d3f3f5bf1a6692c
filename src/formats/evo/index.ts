/** EvoStream / RDK media server progressive fMP4 framing (shared/specs/ws-fmp4.md): parser and reassembler. */
export {
  EVO_AUDIO_BUFFER,
  EVO_BEGIN,
  EVO_END,
  EVO_FRAME_HEADER_SIZE,
  EVO_HEADER_MDAT,
  EVO_HEADER_MOOF,
  EVO_HEADER_MOOV,
  EVO_MAX_PAYLOAD,
  EVO_VIDEO_BUFFER,
  type EvoFrame,
  type EvoInit,
  evoTypeName,
  isKnownEvoType,
  parseEvoMoov,
  readEvoFrames,
  sniffEvo,
} from './evo-frame.js';
export {
  EvoReassembler,
  type EvoFragment,
  type EvoOutput,
  type EvoReassemblerOptions,
  type EvoUnit,
} from './evo-reassembler.js';
