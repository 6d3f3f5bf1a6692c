/** castkit's library surface. The CLI is a thin layer over these functions. */
export {
  probe,
  type ProbeOptions,
  type ProbeResult,
  type MediaFormat,
  type MediaStream,
  type StreamType,
} from './api/probe.js';
export {
  doctor,
  type DoctorOptions,
  type DoctorResult,
  type Capability,
  type ToolReport,
} from './api/doctor.js';
export {
  remux,
  type RemuxFormat,
  type RemuxOptions,
  type RemuxResult,
  type RemuxTrackSummary,
} from './api/remux.js';
export {
  record,
  listRenditions,
  type RecordGap,
  type RecordListing,
  type RecordOptions,
  type RecordProgress,
  type RecordResult,
} from './api/record.js';
export {
  recordWebSocket,
  type RecordWebSocketOptions,
  type RecordWebSocketResult,
  type RecordWebSocketGap,
  type RecordWebSocketWarning,
  type WsFraming,
} from './api/record-websocket.js';
export {
  CastkitError,
  UsageError,
  InputError,
  NetworkError,
  FfmpegError,
  OutputError,
  InterruptedError,
  isCastkitError,
  type ErrorCategory,
} from './core/errors.js';
export { createLogger, silentLogger, type Logger, type LogLevel } from './core/logger.js';
export {
  locateTools,
  locateTool,
  type LocateOptions,
  type ToolLocation,
  type Toolset,
} from './ffmpeg/locate.js';
export {
  runTool,
  runFfmpeg,
  type RunToolOptions,
  type RunFfmpegOptions,
  type RunToolResult,
} from './ffmpeg/run.js';
export type { FfmpegProgress } from './ffmpeg/progress.js';
export { castkitVersion } from './version.js';
