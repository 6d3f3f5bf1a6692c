/** Small, pure helpers for media time. */

/** Parse an ffmpeg rational such as "30000/1001" or "25/1"; undefined for 0/0 and garbage. */
export function parseRational(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const m = /^(-?\d+(?:\.\d+)?)(?:[/:](\d+(?:\.\d+)?))?$/.exec(text.trim());
  if (!m) return undefined;
  const num = Number(m[1]);
  const den = m[2] === undefined ? 1 : Number(m[2]);
  if (!Number.isFinite(num) || !Number.isFinite(den) || den === 0 || num === 0) return undefined;
  return num / den;
}

/** Parse "HH:MM:SS.ffffff" (ffmpeg's out_time) into seconds. */
export function parseClock(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const m = /^(-)?(\d+):(\d{1,2}):(\d{1,2}(?:\.\d+)?)$/.exec(text.trim());
  if (!m) return undefined;
  const secs = Number(m[2]) * 3600 + Number(m[3]) * 60 + Number(m[4]);
  return m[1] ? -secs : secs;
}

/**
 * A length of time as people write it on a command line: seconds ("90", "1.5"), m:ss ("1:30", "30:00")
 * or h:mm:ss ("1:00:00", "0:01:30.5"). Undefined for anything else, and for a minutes or seconds field
 * of 60 or more after the first.
 */
export function parseDuration(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const t = text.trim();
  if (/^\d+(\.\d+)?$/.test(t)) return Number(t);
  const m = /^(?:(\d+):)?(\d+):(\d{1,2}(?:\.\d+)?)$/.exec(t);
  if (!m) return undefined;
  const hours = m[1] === undefined ? 0 : Number(m[1]);
  const minutes = Number(m[2]);
  const seconds = Number(m[3]);
  if (seconds >= 60 || (m[1] !== undefined && minutes >= 60)) return undefined;
  return hours * 3600 + minutes * 60 + seconds;
}

/** Format seconds as H:MM:SS.mmm (hours unpadded), for people. */
export function formatClock(seconds: number): string {
  const neg = seconds < 0;
  let ms = Math.round(Math.abs(seconds) * 1000);
  const h = Math.floor(ms / 3_600_000);
  ms -= h * 3_600_000;
  const m = Math.floor(ms / 60_000);
  ms -= m * 60_000;
  const s = Math.floor(ms / 1000);
  ms -= s * 1000;
  const pad = (n: number, w: number): string => String(n).padStart(w, '0');
  return `${neg ? '-' : ''}${h}:${pad(m, 2)}:${pad(s, 2)}.${pad(ms, 3)}`;
}

/** Round to a fixed number of decimals without string round-trips in callers. */
export function roundTo(value: number, decimals: number): number {
  const f = 10 ** decimals;
  return Math.round(value * f) / f;
}
