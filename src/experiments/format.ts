/** Number formatting shared by the experiments' reports. */

/** 147456 -> '147,456'. */
export const int = (n: number): string => Math.round(n).toLocaleString('en-US');

/** A ratio with two decimals: '3.60x'. */
export const times = (x: number): string => `${x.toFixed(2)}x`;

/** Millions with two decimals: '6.62M'. */
export const millions = (n: number): string => `${(n / 1e6).toFixed(2)}M`;

/** Billions with three decimals: '1.498'. */
export const giga = (n: number): string => (n / 1e9).toFixed(3);

/** A fraction as a percentage with two decimals: '78.12%'. */
export const pct = (x: number): string => `${(100 * x).toFixed(2)}%`;

/** Bytes in MiB with two decimals. */
export const mib = (bytes: number): string => `${(bytes / 2 ** 20).toFixed(2)} MiB`;

/** A markdown table from a header and rows of cells. */
export function table(
  header: readonly string[],
  rows: readonly (readonly (string | number)[])[],
  align?: string,
): string {
  const sep = align ?? header.map((_, i) => (i === 0 ? '---' : '---:')).join('|');
  const line = (cells: readonly (string | number)[]): string => `| ${cells.join(' | ')} |`;
  return [line(header), `|${sep}|`, ...rows.map(line)].join('\n');
}
