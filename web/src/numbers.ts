/** Numbers as the page shows them: the command line's formatters (src/cli/format/numbers.ts), plus compact forms for graph nodes. */
import type { ReceptiveField } from '../../src/analysis/receptive-field.js';
import { formatCount, formatFieldJump, formatFieldSize, formatMB } from '../../src/cli/format/numbers.js';

export {
  formatCount,
  formatFieldJump,
  formatFieldSize,
  formatShape,
  formatWindow,
} from '../../src/cli/format/numbers.js';

/** 25557032 -> "25.6M"; 9408 -> "9.4K"; 0 -> "0". */
export function countText(n: number): string {
  if (n >= 1e9) return `${(n / 1e9).toFixed(2)}G`;
  if (n >= 1e6) return `${(n / 1e6).toFixed(1)}M`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(1)}K`;
  return formatCount(Math.round(n));
}

export const shapeText = (shape: readonly number[]): string => shape.join('×');

/** "35 / 4" (size / jump). */
export const fieldText = (f: ReceptiveField | null): string =>
  f === null ? '--' : `${formatFieldSize(f)} / ${formatFieldJump(f)}`;

export const bytesText = (bytes: number): string => `${formatMB(bytes)} MB`;
