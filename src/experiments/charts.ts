/**
 * The experiments' charts as plain Vega specs (rendered to SVG headless by report.ts, as the
 * training curves are): grouped bars, a scatter with sized and coloured points, lines; the
 * training and test curves in panels and the heatmap are in charts-panels.ts.
 */
import { parse, type Scale, View, type Spec } from 'vega';

export type Mark = NonNullable<Spec['marks']>[number];

/** What every chart shares: the schema, padding, white background and a title. */
export const base = (title: string, subtitle?: string): Spec => ({
  $schema: 'https://vega.github.io/schema/vega/v6.json',
  padding: 12,
  autosize: 'pad',
  background: 'white',
  title: { text: title, subtitle, anchor: 'start', fontSize: 15, offset: 12 },
});

export interface BarRow {
  /** The x-axis category (a block). */
  group: string;
  /** The bar within the group ('with 1x1 reduction', 'without'). */
  series: string;
  value: number;
}

export interface BarPanel {
  title: string;
  yTitle: string;
  rows: readonly BarRow[];
  /** d3 format of the axis labels (default '~s'). */
  format?: string;
}

/** One or more panels stacked vertically, each with a bar per series in every group. */
export function groupedBarsSpec(
  title: string,
  panels: readonly BarPanel[],
  series: readonly string[],
  subtitle?: string,
): Spec {
  const groups = [...new Set(panels.flatMap((p) => p.rows.map((r) => r.group)))];
  const width = Math.max(360, groups.length * 16 * Math.max(2, series.length));
  const height = 200;
  const palette = ['#9ecae1', '#3182bd', '#e6550d', '#31a354'];
  const marks: Mark[] = panels.map((p, i) => ({
    type: 'group',
    name: `panel${i}`,
    title: { text: p.title, anchor: 'start', fontSize: 13 },
    encode: { update: { width: { value: width }, height: { value: height } } },
    data: [{ name: `rows${i}`, values: p.rows as unknown as object[] }],
    scales: [
      { name: 'x', type: 'band', domain: groups, range: [0, width], padding: 0.2 },
      {
        name: 'y',
        type: 'linear',
        domain: { data: `rows${i}`, field: 'value' },
        range: [height, 0],
        nice: true,
        zero: true,
      },
      { name: 'color', type: 'ordinal', domain: [...series], range: palette.slice(0, series.length) },
    ],
    axes: [
      {
        orient: 'bottom',
        scale: 'x',
        labelAngle: -45,
        labelAlign: 'right',
        labelBaseline: 'middle',
        labelFontSize: 10,
      },
      { orient: 'left', scale: 'y', title: p.yTitle, grid: true, format: p.format ?? '~s' },
    ],
    legends: i === 0 ? [{ fill: 'color', orient: 'top-right', direction: 'vertical' }] : [],
    marks: [
      {
        type: 'group',
        from: { facet: { name: `facet${i}`, data: `rows${i}`, groupby: 'group' } },
        encode: { enter: { x: { scale: 'x', field: 'group' } } },
        signals: [{ name: 'width', update: "bandwidth('x')" }],
        // The series present in this group only: a group with one bar gives it the whole band.
        scales: [
          {
            name: 'inner',
            type: 'band',
            range: 'width',
            domain: { data: `facet${i}`, field: 'series' },
            padding: 0.05,
          },
        ],
        marks: [
          {
            type: 'rect',
            from: { data: `facet${i}` },
            encode: {
              enter: {
                x: { scale: 'inner', field: 'series' },
                width: { scale: 'inner', band: 1 },
                y: { scale: 'y', field: 'value' },
                y2: { scale: 'y', value: 0 },
                fill: { scale: 'color', field: 'series' },
                tooltip: { signal: "datum.group + ' ' + datum.series + ': ' + format(datum.value, ',')" },
              },
            },
          },
        ],
      },
    ],
  }));
  // The facet groups need the band width as their own width.
  for (const m of marks) {
    const inner = (m as { marks: { encode: { enter: Record<string, unknown> } }[] }).marks[0];
    inner.encode.enter.width = { scale: 'x', band: 1 };
  }
  return { ...base(title, subtitle), layout: { columns: 1, padding: 40, bounds: 'full', align: 'all' }, marks };
}

export interface ScatterPoint {
  label: string;
  x: number;
  y: number;
  size: number;
  color: string;
}

/**
 * Where each point's label goes: right of and above the point unless an earlier label sits close by,
 * then right and below, then left (closeness in axis units: a tenth of a decade or 0.7 of y on a log x axis).
 */
function placeLabels(
  points: readonly ScatterPoint[],
  xLog: boolean,
): (ScatterPoint & { align: string; dx: number; dy: number })[] {
  const xs = points.map((p) => (xLog ? Math.log10(p.x) : p.x));
  const xSpan = Math.max(...xs) - Math.min(...xs) || 1;
  const ys = points.map((p) => p.y);
  const ySpan = Math.max(...ys) - Math.min(...ys) || 1;
  const placed: { x: number; y: number; side: number }[] = [];
  const sides = [
    { align: 'left', dx: 8, dy: -4 },
    { align: 'left', dx: 8, dy: 12 },
    { align: 'right', dx: -8, dy: -4 },
    { align: 'right', dx: -8, dy: 12 },
  ];
  return points.map((p, i) => {
    const x = xs[i];
    const near = placed.filter((q) => Math.abs(q.x - x) < 0.08 * xSpan && Math.abs(q.y - p.y) < 0.04 * ySpan);
    const side = [0, 1, 2, 3].find((s) => near.every((q) => q.side !== s)) ?? 0;
    placed.push({ x, y: p.y, side });
    return { ...p, ...sides[side] };
  });
}

/** Points at (x, y), area by `size`, colour by `color`, each labelled. */
export function scatterSpec(
  title: string,
  points: readonly ScatterPoint[],
  axes: { x: string; y: string; size: string; color: string; xLog?: boolean },
  subtitle?: string,
): Spec {
  const width = 620;
  const height = 400;
  return {
    ...base(title, subtitle),
    width,
    height,
    data: [{ name: 'points', values: placeLabels(points, axes.xLog ?? false) as unknown as object[] }],
    scales: [
      {
        name: 'x',
        type: axes.xLog ? 'log' : 'linear',
        domain: { data: 'points', field: 'x' },
        range: 'width',
        nice: false,
        zero: false,
        padding: 30,
      } as Scale,
      {
        name: 'y',
        type: 'linear',
        domain: { data: 'points', field: 'y' },
        range: 'height',
        nice: true,
        zero: false,
        padding: 20,
      },
      { name: 'size', type: 'linear', domain: { data: 'points', field: 'size' }, range: [40, 900], zero: true },
      { name: 'color', type: 'ordinal', domain: { data: 'points', field: 'color' }, range: 'category' },
    ],
    axes: [
      { orient: 'bottom', scale: 'x', title: axes.x, grid: true },
      { orient: 'left', scale: 'y', title: axes.y, grid: true },
    ],
    legends: [
      { fill: 'color', title: axes.color, orient: 'right', symbolType: 'circle' },
      {
        size: 'size',
        title: axes.size,
        orient: 'right',
        symbolType: 'circle',
        format: '~s',
        symbolFillColor: '#bbb',
        symbolStrokeColor: '#666',
      },
    ],
    marks: [
      {
        type: 'symbol',
        name: 'dots',
        from: { data: 'points' },
        encode: {
          enter: {
            x: { scale: 'x', field: 'x' },
            y: { scale: 'y', field: 'y' },
            size: { scale: 'size', field: 'size' },
            fill: { scale: 'color', field: 'color' },
            fillOpacity: { value: 0.55 },
            stroke: { scale: 'color', field: 'color' },
            strokeWidth: { value: 1.5 },
          },
        },
      },
      {
        type: 'text',
        from: { data: 'points' },
        encode: {
          enter: {
            x: { scale: 'x', field: 'x' },
            y: { scale: 'y', field: 'y' },
            text: { field: 'label' },
            fontSize: { value: 9 },
            fill: { value: '#333' },
            align: { field: 'align' },
            dx: { field: 'dx' },
            dy: { field: 'dy' },
          },
        },
      },
    ],
  };
}

export interface LinePoint {
  series: string;
  x: number;
  y: number;
}

/** A line (with points) per series. */
export function linesSpec(
  title: string,
  points: readonly LinePoint[],
  axes: { x: string; y: string; yLog?: boolean; xLog?: boolean; legend?: string; xInteger?: boolean },
  subtitle?: string,
): Spec {
  return {
    ...base(title, subtitle),
    width: 560,
    height: 340,
    data: [{ name: 'points', values: points as unknown as object[] }],
    scales: [
      {
        name: 'x',
        type: axes.xLog ? 'log' : 'linear',
        domain: { data: 'points', field: 'x' },
        range: 'width',
        nice: !axes.xLog,
        zero: false,
      } as Scale,
      {
        name: 'y',
        type: axes.yLog ? 'log' : 'linear',
        domain: { data: 'points', field: 'y' },
        range: 'height',
        nice: true,
        zero: !axes.yLog,
      } as Scale,
      { name: 'color', type: 'ordinal', domain: { data: 'points', field: 'series' }, range: 'category' },
    ],
    axes: [
      {
        orient: 'bottom',
        scale: 'x',
        title: axes.x,
        grid: true,
        ...(axes.xInteger ? { tickMinStep: 1, format: 'd' } : {}),
      },
      { orient: 'left', scale: 'y', title: axes.y, grid: true, format: '~s' },
    ],
    legends: [
      {
        stroke: 'color',
        title: axes.legend,
        orient: 'right',
        symbolType: 'stroke',
        symbolStrokeWidth: 2,
        labelLimit: 400,
      },
    ],
    marks: [
      {
        type: 'group',
        from: { facet: { name: 'series', data: 'points', groupby: 'series' } },
        marks: [
          {
            type: 'line',
            from: { data: 'series' },
            encode: {
              enter: {
                x: { scale: 'x', field: 'x' },
                y: { scale: 'y', field: 'y' },
                stroke: { scale: 'color', field: 'series' },
                strokeWidth: { value: 2 },
              },
            },
          },
          {
            type: 'symbol',
            from: { data: 'series' },
            encode: {
              enter: {
                x: { scale: 'x', field: 'x' },
                y: { scale: 'y', field: 'y' },
                fill: { scale: 'color', field: 'series' },
                size: { value: 14 },
              },
            },
          },
        ],
      },
    ],
  };
}

/** A Vega spec as an SVG document (headless, no canvas). */
export async function renderSvg(spec: Spec): Promise<string> {
  const view = new View(parse(spec), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}
