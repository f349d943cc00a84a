/**
 * Training curves as SVG, drawn by Vega (vega.github.io) in Node with no canvas: two panels, loss
 * and accuracy, each with the training and the test curve of one run (convkit train), or of
 * several runs side by side (convkit plot). The spec is plain Vega (not Vega-Lite,
 * whose current release needs Node 22), so the chart comes from one parse and one headless view.
 */
import type { Spec } from 'vega';
import { renderSvg } from '../experiments/charts.js';

export interface CurvePoint {
  epoch: number;
  train_loss: number;
  train_acc: number;
  test_loss: number;
  test_acc: number;
}

/** A run's curves: its name (in the legend when several runs share a chart) and its epochs. */
export interface RunCurves {
  name: string;
  rows: readonly CurvePoint[];
}

export type CurveMetric = 'loss' | 'accuracy';

const SPLIT_COLORS = { train: '#1f77b4', test: '#e6550d' } as const;
/** One colour per run when several are drawn (Vega's category10). */
const RUN_COLORS = [
  '#1f77b4',
  '#ff7f0e',
  '#2ca02c',
  '#d62728',
  '#9467bd',
  '#8c564b',
  '#e377c2',
  '#7f7f7f',
  '#bcbd22',
  '#17becf',
];
/** Train solid, test dashed, when several runs are drawn. */
const SPLIT_DASH = { train: [1, 0], test: [6, 3] } as const;
/** Plot area of each panel, in pixels (the scales' ranges: a group's size is not a signal its scales see). */
const PANEL = { width: 340, height: 230 } as const;

/** The lines' labels with their colour and dash: per split for one run, per run and split for several. */
function lineStyles(runs: readonly RunCurves[]): { label: string; color: string; dash: readonly number[] }[] {
  if (runs.length === 1)
    return (['train', 'test'] as const).map((split) => ({ label: split, color: SPLIT_COLORS[split], dash: [1, 0] }));
  return runs.flatMap((r, i) =>
    (['train', 'test'] as const).map((split) => ({
      label: `${r.name} ${split}`,
      color: RUN_COLORS[i % RUN_COLORS.length],
      dash: SPLIT_DASH[split],
    })),
  );
}

/** A panel: one metric over the epochs, a line and points per line label. */
function panel(
  metric: CurveMetric,
  epochs: [number, number],
  styles: ReturnType<typeof lineStyles>,
  legend: boolean,
): NonNullable<Spec['marks']>[number] {
  const accuracy = metric === 'accuracy';
  return {
    type: 'group',
    name: metric,
    title: { text: accuracy ? 'Accuracy' : 'Loss (cross-entropy)', anchor: 'start', fontSize: 13 },
    encode: { update: { width: { value: PANEL.width }, height: { value: PANEL.height } } },
    data: [{ name: metric, source: 'points', transform: [{ type: 'filter', expr: `datum.metric === '${metric}'` }] }],
    scales: [
      { name: 'x', type: 'linear', domain: epochs, range: [0, PANEL.width], zero: false, nice: false },
      {
        name: 'y',
        type: 'linear',
        domain: accuracy ? [0, 1] : { data: metric, field: 'value' },
        range: [PANEL.height, 0],
        // Loss: the range it spans (it starts near ln(classes), far from 0); accuracy: 0 to 100%.
        zero: accuracy,
        nice: true,
      },
      { name: 'color', type: 'ordinal', domain: styles.map((s) => s.label), range: styles.map((s) => s.color) },
      {
        name: 'dash',
        type: 'ordinal',
        domain: styles.map((s) => s.label),
        range: styles.map((s) => [...s.dash]) as unknown as string[],
      },
    ],
    axes: [
      { orient: 'bottom', scale: 'x', title: 'epoch', tickMinStep: 1, format: 'd' },
      { orient: 'left', scale: 'y', title: metric, grid: true, format: accuracy ? '.0%' : '.2f' },
    ],
    // One legend, right of the last panel, where it hides no curve.
    legends: legend
      ? [
          {
            stroke: 'color',
            strokeDash: 'dash',
            orient: 'right',
            symbolType: 'stroke',
            symbolStrokeWidth: 2,
            labelLimit: 300,
          },
        ]
      : [],
    marks: [
      {
        type: 'group',
        from: { facet: { name: `${metric}-series`, data: metric, groupby: 'line' } },
        marks: [
          {
            type: 'line',
            from: { data: `${metric}-series` },
            encode: {
              enter: {
                x: { scale: 'x', field: 'epoch' },
                y: { scale: 'y', field: 'value' },
                stroke: { scale: 'color', field: 'line' },
                strokeDash: { scale: 'dash', field: 'line' },
                strokeWidth: { value: 2 },
              },
            },
          },
          {
            type: 'symbol',
            from: { data: `${metric}-series` },
            encode: {
              enter: {
                x: { scale: 'x', field: 'epoch' },
                y: { scale: 'y', field: 'value' },
                fill: { scale: 'color', field: 'line' },
                size: { value: 24 },
              },
            },
          },
        ],
      },
    ],
  };
}

/**
 * The Vega spec of the curves of one run or several (one line per run and split, run names in the
 * legend), in a panel per metric; the x axis spans `epochs` (the whole run, for a run in progress).
 */
export function curvesChartSpec(
  runs: readonly RunCurves[],
  title: string,
  epochs: number,
  metrics: readonly CurveMetric[] = ['loss', 'accuracy'],
): Spec {
  const styles = lineStyles(runs);
  const label = (run: RunCurves, split: 'train' | 'test'): string =>
    runs.length === 1 ? split : `${run.name} ${split}`;
  const values = runs.flatMap((run) =>
    run.rows.flatMap((r) => [
      { epoch: r.epoch, metric: 'loss', line: label(run, 'train'), value: r.train_loss },
      { epoch: r.epoch, metric: 'loss', line: label(run, 'test'), value: r.test_loss },
      { epoch: r.epoch, metric: 'accuracy', line: label(run, 'train'), value: r.train_acc },
      { epoch: r.epoch, metric: 'accuracy', line: label(run, 'test'), value: r.test_acc },
    ]),
  );
  const span: [number, number] = [1, Math.max(2, epochs)];
  return {
    $schema: 'https://vega.github.io/schema/vega/v6.json',
    padding: 12,
    autosize: 'pad',
    background: 'white',
    title: { text: title, anchor: 'start', fontSize: 15, offset: 12 },
    layout: { columns: metrics.length, padding: 36, bounds: 'full', align: 'all' },
    data: [{ name: 'points', values }],
    marks: metrics.map((m, i) => panel(m, span, styles, i === metrics.length - 1)),
  };
}

/** The Vega spec of one run's curves so far; the x axis spans the whole run (`epochs`). */
export function trainingChartSpec(rows: readonly CurvePoint[], title: string, epochs: number): Spec {
  return curvesChartSpec([{ name: title, rows }], title, epochs);
}

/** The curves of one run as an SVG document. */
export function trainingChartSvg(rows: readonly CurvePoint[], title: string, epochs: number): Promise<string> {
  return renderSvg(trainingChartSpec(rows, title, epochs));
}
