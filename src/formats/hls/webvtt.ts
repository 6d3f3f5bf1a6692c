/**
 * WebVTT segments of an HLS subtitles rendition (RFC 8216 3.5) joined into one .vtt file. Each segment
 * is a whole WebVTT file; its X-TIMESTAMP-MAP header, when present, maps its cue times to the MPEG-2 TS
 * timeline (MPEGTS, 90 kHz) at a LOCAL time. The joined file is in the recording's time: cue times are
 * moved so that the first segment's mapped start is 0, repeated cues (one that spans two segments is in
 * both) are written once, and the other header lines of the first file are kept. Pure text in, text out.
 */

const TIMING = /^\s*((?:\d+:)?\d{2}:\d{2}\.\d{3})\s+-->\s+((?:\d+:)?\d{2}:\d{2}\.\d{3})(.*)$/;

export function parseVttTime(t: string): number {
  const parts = t.split(':').map(Number);
  let s = 0;
  for (const p of parts) s = s * 60 + p;
  return s;
}

export function formatVttTime(seconds: number): string {
  const ms = Math.max(0, Math.round(seconds * 1000));
  const h = Math.floor(ms / 3_600_000);
  const m = Math.floor((ms % 3_600_000) / 60_000);
  const s = Math.floor((ms % 60_000) / 1000);
  const pad = (n: number, w = 2): string => String(n).padStart(w, '0');
  return `${pad(h)}:${pad(m)}:${pad(s)}.${pad(ms % 1000, 3)}`;
}

/** MPEGTS/90000 - LOCAL of an X-TIMESTAMP-MAP line, seconds; undefined without one. */
function mapOffset(header: string[]): number | undefined {
  const line = header.find((l) => l.startsWith('X-TIMESTAMP-MAP='));
  if (!line) return undefined;
  const mpegts = /MPEGTS:(\d+)/.exec(line);
  const local = /LOCAL:((?:\d+:)?\d{2}:\d{2}\.\d{3})/.exec(line);
  if (!mpegts?.[1]) return undefined;
  return Number(mpegts[1]) / 90000 - (local?.[1] ? parseVttTime(local[1]) : 0);
}

export function joinWebVtt(files: readonly string[]): string {
  let header: string[] | undefined;
  let base: number | undefined;
  const seen = new Set<string>();
  const cues: string[] = [];
  for (const file of files) {
    const text = file.replace(/^\uFEFF/, '').replace(/\r\n?/g, '\n');
    const blocks = text.split(/\n{2,}/);
    const head = (blocks.shift() ?? '').split('\n');
    if (!head[0]?.startsWith('WEBVTT')) continue; // not a WebVTT file (an error page): skipped
    const offset = mapOffset(head);
    base ??= offset ?? 0;
    const shift = offset === undefined ? 0 : offset - base;
    header ??= head.filter((l) => !l.startsWith('X-TIMESTAMP-MAP='));
    for (const block of blocks) {
      const lines = block.split('\n').filter((l, i, a) => !(l === '' && i === a.length - 1));
      if (lines.length === 0) continue;
      const at = lines.findIndex((l) => TIMING.test(l));
      if (at < 0) {
        if (/^(NOTE|STYLE|REGION)\b/.test(lines[0] ?? '') && cues.length === 0) cues.push(lines.join('\n'));
        continue;
      }
      const m = TIMING.exec(lines[at] as string) as RegExpExecArray;
      const start = formatVttTime(parseVttTime(m[1] as string) + shift);
      const end = formatVttTime(parseVttTime(m[2] as string) + shift);
      const body = lines.slice(at + 1).join('\n');
      const key = `${start} ${end} ${body}`;
      if (seen.has(key)) continue;
      seen.add(key);
      const id = at > 0 ? `${lines.slice(0, at).join('\n')}\n` : '';
      cues.push(`${id}${start} --> ${end}${m[3] ?? ''}\n${body}`);
    }
  }
  return `${(header ?? ['WEBVTT']).join('\n')}\n\n${cues.join('\n\n')}${cues.length ? '\n' : ''}`;
}
