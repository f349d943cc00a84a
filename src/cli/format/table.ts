/** Aligned plain-text tables (like torchinfo's) and markdown tables from the same columns. */

export interface Column {
  header: string;
  /** Numbers right, words left. */
  align: 'left' | 'right';
}

const pad = (s: string, width: number, align: Column['align']): string =>
  align === 'right' ? s.padStart(width, ' ') : s.padEnd(width, ' ');

/** Column widths: the widest cell or header. */
function widths(columns: readonly Column[], rows: readonly (readonly string[])[]): number[] {
  // A loop, not Math.max(...rows): spreading many rows as arguments overflows the stack.
  return columns.map((c, i) => rows.reduce((w, r) => Math.max(w, (r[i] ?? '').length), c.header.length));
}

/** Lines of a text table: header, a rule, then rows; columns separated by `gap` spaces. */
export function textTable(columns: readonly Column[], rows: readonly (readonly string[])[], gap = 3): string[] {
  const w = widths(columns, rows);
  const line = (cells: readonly string[]): string =>
    cells
      .map((c, i) => pad(c ?? '', w[i], columns[i].align))
      .join(' '.repeat(gap))
      .trimEnd();
  const width = w.reduce((n, x) => n + x, 0) + gap * (w.length - 1);
  return [line(columns.map((c) => c.header)), '-'.repeat(width), ...rows.map(line)];
}

/** The width textTable's lines take (for rules drawn around it). */
export function textTableWidth(columns: readonly Column[], rows: readonly (readonly string[])[], gap = 3): number {
  const w = widths(columns, rows);
  return w.reduce((n, x) => n + x, 0) + gap * (w.length - 1);
}

const escapeCell = (s: string): string => s.replace(/\|/g, '\\|');

/** A GitHub-flavoured markdown table. */
export function markdownTable(columns: readonly Column[], rows: readonly (readonly string[])[]): string[] {
  const row = (cells: readonly string[]): string => `| ${cells.map(escapeCell).join(' | ')} |`;
  return [
    row(columns.map((c) => c.header)),
    `|${columns.map((c) => (c.align === 'right' ? '---:' : ':---')).join('|')}|`,
    ...rows.map(row),
  ];
}
