/**
 * The experiments' two charts beyond bars, points and lines: training and test curves in panels
 * (degradation, He et al. 2015 Fig. 6) and a heatmap with outlines (the effective receptive field).
 */
import type { Spec } from 'vega';
import { base, type Mark } from './charts.js';

export interface CurvePoint {
  /** The panel the curve is drawn in ('plain', 'ResNet'). */
  panel: string;
  /** The colour of the curve (a depth). */
  series: string;
  /** Thin dashed for training, bold for test (He et al. 2015, Fig. 6). */
  split: 'training' | 'test';
  x: number;
  y: number;
}

/**
 * Training and test curves side by side in one panel per `panel` value, on shared axes: one colour
 * per series, training thin and dashed, test bold (the form of He et al. 2015, Fig. 6).
 */
export function trainTestCurvesSpec(
  title: string,
  points: readonly CurvePoint[],
  axes: { x: string; y: string; legend: string },
  subtitle?: string,
): Spec {
  const width = 340;
  const height = 300;
  const panels = [...new Set(points.map((p) => p.panel))];
  const series = [...new Set(points.map((p) => p.series))];
  const xs = points.map((p) => p.x);
  const ys = points.map((p) => p.y);
  const marks: Mark[] = panels.map((panel, i) => ({
    type: 'group',
    title: { text: panel, anchor: 'start', fontSize: 13 },
    encode: { update: { width: { value: width }, height: { value: height } } },
    data: [{ name: `panel${i}`, values: points.filter((p) => p.panel === panel) as unknown as object[] }],
    axes: [
      { orient: 'bottom', scale: 'x', title: axes.x, grid: true, format: '~s' },
      { orient: 'left', scale: 'y', title: axes.y, grid: true },
    ],
    marks: [
      {
        type: 'group',
        from: { facet: { name: `curve${i}`, data: `panel${i}`, groupby: ['series', 'split'] } },
        marks: [
          {
            type: 'line',
            from: { data: `curve${i}` },
            encode: {
              enter: {
                x: { scale: 'x', field: 'x' },
                y: { scale: 'y', field: 'y' },
                stroke: { scale: 'color', field: 'series' },
                strokeDash: { scale: 'dash', field: 'split' },
                strokeWidth: { scale: 'lineWidth', field: 'split' },
              },
            },
          },
          {
            type: 'symbol',
            from: { data: `curve${i}` },
            encode: {
              enter: {
                x: { scale: 'x', field: 'x' },
                y: { scale: 'y', field: 'y' },
                fill: { scale: 'color', field: 'series' },
                size: { scale: 'dotSize', field: 'split' },
              },
            },
          },
        ],
      },
    ],
  }));
  return {
    ...base(title, subtitle),
    layout: { columns: panels.length, padding: 30, bounds: 'full', align: 'all' },
    scales: [
      { name: 'x', type: 'linear', domain: [Math.min(0, ...xs), Math.max(...xs)], range: [0, width], nice: true },
      { name: 'y', type: 'linear', domain: [0, Math.max(...ys)], range: [height, 0], nice: true },
      { name: 'color', type: 'ordinal', domain: series, range: 'category' },
      {
        name: 'dash',
        type: 'ordinal',
        domain: ['training', 'test'],
        range: [
          [5, 3],
          [1, 0],
        ],
      },
      { name: 'lineWidth', type: 'ordinal', domain: ['training', 'test'], range: [1.2, 2.6] },
      { name: 'dotSize', type: 'ordinal', domain: ['training', 'test'], range: [8, 22] },
    ],
    legends: [
      { stroke: 'color', title: axes.legend, orient: 'right', symbolType: 'stroke', symbolStrokeWidth: 2.6 },
      {
        strokeDash: 'dash',
        strokeWidth: 'lineWidth',
        title: 'error',
        orient: 'right',
        symbolType: 'stroke',
        symbolStrokeColor: '#333',
      },
    ],
    marks,
  };
}

export interface HeatmapOverlay {
  label: string;
  /** Inclusive pixel bounds. */
  x0: number;
  x1: number;
  y0: number;
  y1: number;
  color: string;
}

/** A square heatmap of `values` (row-major, height x width), with labelled rectangles on top. */
export function heatmapSpec(
  title: string,
  values: readonly number[],
  shape: readonly [number, number],
  overlays: readonly HeatmapOverlay[],
  legend: string,
  subtitle?: string,
): Spec {
  const [h, w] = shape;
  const cells = values.map((v, i) => ({ x: i % w, y: Math.floor(i / w), v }));
  const side = 420;
  const xs = Array.from({ length: w }, (_, i) => i);
  const ys = Array.from({ length: h }, (_, i) => i);
  return {
    ...base(title, subtitle),
    width: side,
    height: side * (h / w),
    data: [
      { name: 'cells', values: cells },
      { name: 'overlays', values: overlays as unknown as object[] },
    ],
    scales: [
      { name: 'x', type: 'band', domain: xs, range: 'width', padding: 0 },
      { name: 'y', type: 'band', domain: ys, range: 'height', padding: 0, reverse: true },
      { name: 'px', type: 'linear', domain: [-0.5, w - 0.5], range: 'width', zero: false, nice: false },
      { name: 'py', type: 'linear', domain: [-0.5, h - 0.5], range: 'height', zero: false, nice: false, reverse: true },
      {
        name: 'color',
        type: 'linear',
        domain: { data: 'cells', field: 'v' },
        range: { scheme: 'viridis' },
        zero: true,
      },
      { name: 'ocolor', type: 'ordinal', domain: overlays.map((o) => o.label), range: overlays.map((o) => o.color) },
    ],
    axes: [
      { orient: 'bottom', scale: 'px', title: 'input column', tickMinStep: 1, format: 'd' },
      { orient: 'left', scale: 'py', title: 'input row', tickMinStep: 1, format: 'd' },
    ],
    legends: [
      { fill: 'color', title: legend, orient: 'right', type: 'gradient', format: '.3~g' },
      {
        stroke: 'ocolor',
        orient: 'bottom',
        direction: 'vertical',
        symbolType: 'square',
        symbolStrokeWidth: 2,
        labelLimit: 500,
      },
    ],
    marks: [
      {
        type: 'rect',
        from: { data: 'cells' },
        encode: {
          enter: {
            x: { scale: 'x', field: 'x' },
            width: { scale: 'x', band: 1 },
            y: { scale: 'y', field: 'y' },
            height: { scale: 'y', band: 1 },
            fill: { scale: 'color', field: 'v' },
            // A hairline of the same colour hides the seams between cells.
            stroke: { scale: 'color', field: 'v' },
            strokeWidth: { value: 0.5 },
          },
        },
      },
      {
        type: 'rect',
        from: { data: 'overlays' },
        encode: {
          enter: {
            x: { scale: 'px', signal: 'datum.x0 - 0.5' },
            x2: { scale: 'px', signal: 'datum.x1 + 0.5' },
            y: { scale: 'py', signal: 'datum.y0 - 0.5' },
            y2: { scale: 'py', signal: 'datum.y1 + 0.5' },
            stroke: { field: 'color' },
            strokeWidth: { value: 2 },
            strokeDash: { value: [6, 3] },
            fillOpacity: { value: 0 },
          },
        },
      },
    ],
  };
}
