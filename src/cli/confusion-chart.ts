/**
 * The confusion matrix of `convkit eval` as a heat map, drawn by Vega: rows the true class,
 * columns the predicted one, both named; each cell shows its count and is shaded by the share of
 * its row (so a rare class reads as clearly as a common one); the row labels carry the class's
 * accuracy.
 */
import type { Spec } from 'vega';
import { renderSvg } from '../experiments/charts.js';

export interface ConfusionInput {
  title: string;
  classes: readonly string[];
  /** confusion[true][predicted]: counts. */
  confusion: readonly (readonly number[])[];
  /** Per class: correct / samples of that class (null when the split has none). */
  classAccuracy: readonly (number | null)[];
}

/** Side of a cell in pixels: large enough for a four-digit count at 10 classes, smaller for many. */
const cellSide = (classes: number): number => Math.max(8, Math.min(44, Math.floor(520 / classes)));

export function confusionChartSpec(c: ConfusionInput): Spec {
  const n = c.classes.length;
  const rowLabel = (i: number): string => {
    const acc = c.classAccuracy[i];
    return `${c.classes[i]} (${acc === null ? 'none' : `${(100 * acc).toFixed(1)}%`})`;
  };
  const cells = c.confusion.flatMap((row, t) => {
    const total = row.reduce((a, b) => a + b, 0);
    return row.map((count, p) => ({
      truth: rowLabel(t),
      predicted: c.classes[p],
      count,
      share: total === 0 ? 0 : count / total,
      diagonal: t === p,
    }));
  });
  const side = cellSide(n) * n;
  // Counts are written in the cells only while they fit.
  const showCounts = cellSide(n) >= 24;
  return {
    $schema: 'https://vega.github.io/schema/vega/v6.json',
    padding: 12,
    autosize: 'pad',
    background: 'white',
    title: {
      text: c.title,
      subtitle: 'rows: true class (its accuracy), columns: predicted; shade: share of the row',
      anchor: 'start',
      fontSize: 15,
      offset: 12,
    },
    width: side,
    height: side,
    data: [{ name: 'cells', values: cells }],
    scales: [
      { name: 'x', type: 'band', domain: [...c.classes], range: 'width', padding: 0 },
      { name: 'y', type: 'band', domain: c.classes.map((_, i) => rowLabel(i)), range: 'height', padding: 0 },
      { name: 'color', type: 'linear', domain: [0, 1], range: { scheme: 'blues' } },
    ],
    axes: [
      { orient: 'top', scale: 'x', title: 'predicted', labelAngle: -45, labelAlign: 'left', labelBaseline: 'middle' },
      { orient: 'left', scale: 'y', title: 'true class', labelLimit: 300 },
    ],
    legends: [{ fill: 'color', title: 'share of the row', orient: 'right', type: 'gradient', format: '.0%' }],
    marks: [
      {
        type: 'rect',
        from: { data: 'cells' },
        encode: {
          enter: {
            x: { scale: 'x', field: 'predicted' },
            width: { scale: 'x', band: 1 },
            y: { scale: 'y', field: 'truth' },
            height: { scale: 'y', band: 1 },
            fill: { scale: 'color', field: 'share' },
            stroke: { value: 'white' },
            strokeWidth: { value: 0.5 },
            tooltip: { signal: "datum.truth + ' predicted as ' + datum.predicted + ': ' + datum.count" },
          },
        },
      },
      ...(showCounts
        ? [
            {
              type: 'text' as const,
              from: { data: 'cells' },
              encode: {
                enter: {
                  x: { scale: 'x', field: 'predicted', band: 0.5 },
                  y: { scale: 'y', field: 'truth', band: 0.5 },
                  text: { signal: "datum.count === 0 ? '' : format(datum.count, 'd')" },
                  align: { value: 'center' as const },
                  baseline: { value: 'middle' as const },
                  fontSize: { value: 11 },
                  fontWeight: { signal: "datum.diagonal ? 'bold' : 'normal'" },
                  // Dark text on light cells, white on dark ones.
                  fill: { signal: "datum.share > 0.5 ? 'white' : '#222'" },
                },
              },
            },
          ]
        : []),
    ],
  };
}

/** The heat map as an SVG document. */
export function confusionChartSvg(c: ConfusionInput): Promise<string> {
  return renderSvg(confusionChartSpec(c));
}
