/**
 * Training curves as SVG, drawn by Vega (vega.github.io) in Node with no canvas: two panels, loss
 * and accuracy, each with the training and the test curve. The spec is plain Vega (not Vega-Lite,
 * whose current release needs Node 22), so the chart comes from one parse and one headless view.
 */
import { parse, View, type Spec } from 'vega';

export interface CurvePoint {
  epoch: number;
  train_loss: number;
  train_acc: number;
  test_loss: number;
  test_acc: number;
}

const COLORS = { train: '#1f77b4', test: '#e6550d' } as const;
/** Plot area of each panel, in pixels (the scales' ranges: a group's size is not a signal its scales see). */
const PANEL = { width: 340, height: 230 } as const;

/** A panel: one metric over the epochs, a line and points per split. */
function panel(metric: 'loss' | 'accuracy', epochs: [number, number]): NonNullable<Spec['marks']>[number] {
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
      { name: 'color', type: 'ordinal', domain: ['train', 'test'], range: [COLORS.train, COLORS.test] },
    ],
    axes: [
      { orient: 'bottom', scale: 'x', title: 'epoch', tickMinStep: 1, format: 'd' },
      { orient: 'left', scale: 'y', title: metric, grid: true, format: accuracy ? '.0%' : '.2f' },
    ],
    // One legend, right of the accuracy panel, where it hides no curve.
    legends: accuracy ? [{ stroke: 'color', orient: 'right', symbolType: 'stroke', symbolStrokeWidth: 2 }] : [],
    marks: [
      {
        type: 'group',
        from: { facet: { name: `${metric}-series`, data: metric, groupby: 'split' } },
        marks: [
          {
            type: 'line',
            from: { data: `${metric}-series` },
            encode: {
              enter: {
                x: { scale: 'x', field: 'epoch' },
                y: { scale: 'y', field: 'value' },
                stroke: { scale: 'color', field: 'split' },
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
                fill: { scale: 'color', field: 'split' },
                size: { value: 24 },
              },
            },
          },
        ],
      },
    ],
  };
}

/** The Vega spec of the curves so far; the x axis spans the whole run (`epochs`). */
export function trainingChartSpec(rows: readonly CurvePoint[], title: string, epochs: number): Spec {
  const values = rows.flatMap((r) => [
    { epoch: r.epoch, metric: 'loss', split: 'train', value: r.train_loss },
    { epoch: r.epoch, metric: 'loss', split: 'test', value: r.test_loss },
    { epoch: r.epoch, metric: 'accuracy', split: 'train', value: r.train_acc },
    { epoch: r.epoch, metric: 'accuracy', split: 'test', value: r.test_acc },
  ]);
  const span: [number, number] = [1, Math.max(2, epochs)];
  return {
    $schema: 'https://vega.github.io/schema/vega/v6.json',
    padding: 12,
    autosize: 'pad',
    background: 'white',
    title: { text: title, anchor: 'start', fontSize: 15, offset: 12 },
    layout: { columns: 2, padding: 36, bounds: 'full', align: 'all' },
    data: [{ name: 'points', values }],
    marks: [panel('loss', span), panel('accuracy', span)],
  };
}

/** The curves as an SVG document. */
export async function trainingChartSvg(rows: readonly CurvePoint[], title: string, epochs: number): Promise<string> {
  const view = new View(parse(trainingChartSpec(rows, title, epochs)), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}
