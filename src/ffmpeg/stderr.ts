/**
 * Keeps the tail of a tool's stderr in bounded memory and picks out the lines that explain a failure,
 * skipping the banner, the stream listing and the progress chatter.
 */
const NOISE = [
  /^\s/, // indented banner, metadata and stream listing lines
  /^(ffmpeg|ffprobe) version /,
  /^built with /,
  /^configuration: /,
  /^lib\w+\s+\d/,
  /^(frame|size)=/,
  /^Press \[q\]/,
  /^(Input|Output) #\d/,
  /^Stream mapping:/,
  /^\[.*\] (Opening|Skip)/,
];

export class StderrTail {
  private lines: string[] = [];
  private partial = '';

  constructor(private readonly maxLines = 200) {}

  push(chunk: string): void {
    const parts = (this.partial + chunk).split(/\r?\n|\r/);
    this.partial = (parts.pop() ?? '').slice(0, 4000);
    for (const p of parts) this.add(p);
  }

  private add(line: string): void {
    if (line.trim() === '') return;
    this.lines.push(line.length > 2000 ? line.slice(0, 2000) + '…' : line);
    if (this.lines.length > this.maxLines) this.lines.splice(0, this.lines.length - this.maxLines);
  }

  /** All kept lines, oldest first. */
  all(): string[] {
    return this.partial.trim() === '' ? [...this.lines] : [...this.lines, this.partial];
  }

  /** The last `count` lines that say something about what went wrong. */
  meaningful(count = 8): string[] {
    return this.all()
      .filter((l) => !NOISE.some((re) => re.test(l)))
      .slice(-count);
  }
}
