// eslint-disable-next-line no-control-regex
const ANSI = /\u001b\[[0-9;]*m/g;

const visibleLength = (s: string): number => s.replace(ANSI, '').length;

/** Left-aligned columns separated by two spaces; trailing blanks trimmed. */
export function renderTable(rows: readonly (readonly string[])[], indent = ''): string {
  const widths: number[] = [];
  for (const row of rows) {
    row.forEach((cell, i) => {
      widths[i] = Math.max(widths[i] ?? 0, visibleLength(cell));
    });
  }
  return rows
    .map((row) =>
      (
        indent + row.map((cell, i) => cell + ' '.repeat((widths[i] ?? 0) - visibleLength(cell))).join('  ')
      ).trimEnd(),
    )
    .join('\n');
}
