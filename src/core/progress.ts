/** Progress of long work, as typed events; the CLI renders them, the API passes them to callbacks. */
export type ProgressUnit = 'bytes' | 'seconds' | 'segments' | 'items';

export interface ProgressEvent {
  /** What is being done: "remux", "download", "encode 720p". */
  phase: string;
  done: number;
  total?: number;
  unit: ProgressUnit;
  /** Units per second. */
  rate?: number;
  etaSec?: number;
  /** More for people, shown after the figures: "4.2 MB/s, 3 retries". */
  detail?: string;
}
