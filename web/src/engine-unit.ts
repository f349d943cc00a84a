/**
 * One unit of a convolution, ReLU or pooling layer explained, as CNN Explainer does: the input
 * window it sees (per input channel), the kernel for a convolution, and the arithmetic recomputed
 * from them (products summed + bias; max(0, x); the window's max or mean), beside the value the
 * traced pass gave (engine.ts). Window geometry comes from the op's own resolved arguments
 * (src/backend/kernel-args.ts), so padding, stride, dilation and groups are the op's.
 */
import type { Conv2dGeometry, Pool2dGeometry } from '../../src/backend/kernel-args.js';
import type { LayerActivation } from './engine.js';

/** A unit of a layer's output: channel and position (y, x are 0 for a flat output). */
export interface Unit {
  channel: number;
  y: number;
  x: number;
}

/** One input channel's window (null where it lies in the padding) and, for a conv, its kernel slice. */
export interface ChannelWindow {
  channel: number;
  window: (number | null)[][];
  kernel: number[][] | null;
  /** Sum of window x kernel (conv), of the window (average pooling), or its max (max pooling). */
  partial: number;
}

export interface UnitExplanation {
  op: string;
  unit: Unit;
  channels: ChannelWindow[];
  /** conv: the sum of all products; avg pool: the window's sum. */
  sum: number | null;
  bias: number | null;
  /** avg pool: what the sum is divided by. */
  divisor: number | null;
  /** The value the arithmetic gives (float64). */
  value: number;
  /** The value the pass computed (the op's float32 output). */
  output: number;
  /** Multiplications (conv) or window cells (pooling) that went in. */
  terms: number;
  /** The rows and columns of the input the window spans (dilation included; may reach into the padding). */
  span: Span;
}

export interface Span {
  top: number;
  left: number;
  height: number;
  width: number;
}

/** The input span of a window of `rows` x `cols` taps from (top, left), taps `dilation` apart. */
const spanOf = (top: number, left: number, rows: number, cols: number, dilation = [1, 1]): Span => ({
  top,
  left,
  height: (rows - 1) * dilation[0] + 1,
  width: (cols - 1) * dilation[1] + 1,
});

/** [C, H, W] of an activation (a flat [F] output is F channels of 1x1). */
function chw(shape: readonly number[]): [number, number, number] {
  if (shape.length === 3) return [shape[0], shape[1], shape[2]];
  if (shape.length === 1) return [shape[0], 1, 1];
  throw new Error(`expected a [C, H, W] or [F] activation, got [${shape.join(', ')}]`);
}

const at = (l: LayerActivation, u: Unit): number => {
  const [, h, w] = chw(l.output.shape);
  return l.output.values[(u.channel * h + u.y) * w + u.x];
};

/** The window of `channel` starting at (top, left), `null` outside the input. */
function windowOf(
  l: LayerActivation,
  channel: number,
  top: number,
  left: number,
  rows: number,
  cols: number,
  dilation: [number, number] = [1, 1],
): (number | null)[][] {
  const input = l.input as NonNullable<LayerActivation['input']>;
  const [, h, w] = chw(input.shape);
  return Array.from({ length: rows }, (_, r) =>
    Array.from({ length: cols }, (_, c) => {
      const iy = top + r * dilation[0];
      const ix = left + c * dilation[1];
      return iy < 0 || iy >= h || ix < 0 || ix >= w ? null : input.values[(channel * h + iy) * w + ix];
    }),
  );
}

function explainConv(l: LayerActivation, u: Unit): UnitExplanation {
  const g = l.attrs.geometry as Conv2dGeometry;
  const weight = l.weight as NonNullable<LayerActivation['weight']>;
  const perGroup = g.inChannels / g.groups;
  const group = Math.floor(u.channel / (g.outChannels / g.groups));
  const channels: ChannelWindow[] = [];
  let sum = 0;
  const top = u.y * g.strideH - g.padTop;
  const left = u.x * g.strideW - g.padLeft;
  for (let j = 0; j < perGroup; j++) {
    const ci = group * perGroup + j;
    const window = windowOf(l, ci, top, left, g.kernelH, g.kernelW, [g.dilationH, g.dilationW]);
    const base = (u.channel * perGroup + j) * g.kernelH * g.kernelW;
    const kernel = Array.from({ length: g.kernelH }, (_, r) =>
      Array.from({ length: g.kernelW }, (_, c) => weight.values[base + r * g.kernelW + c]),
    );
    let partial = 0;
    window.forEach((row, r) => row.forEach((v, c) => (partial += (v ?? 0) * kernel[r][c])));
    sum += partial;
    channels.push({ channel: ci, window, kernel, partial });
  }
  const bias = l.bias ? l.bias[u.channel] : null;
  return {
    op: l.op,
    unit: u,
    channels,
    sum,
    bias,
    divisor: null,
    value: sum + (bias ?? 0),
    output: at(l, u),
    terms: perGroup * g.kernelH * g.kernelW,
    span: spanOf(top, left, g.kernelH, g.kernelW, [g.dilationH, g.dilationW]),
  };
}

function explainPool(l: LayerActivation, u: Unit): UnitExplanation {
  const input = l.input as NonNullable<LayerActivation['input']>;
  const [, inH, inW] = chw(input.shape);
  const [, outH, outW] = chw(l.output.shape);
  let window: (number | null)[][];
  let span: Span;
  let padded = 0;
  if (l.op === 'adaptiveAvgPool2d') {
    // PyTorch's bins: [floor(i * in / out), ceil((i + 1) * in / out)).
    const y0 = Math.floor((u.y * inH) / outH);
    const x0 = Math.floor((u.x * inW) / outW);
    const rows = Math.ceil(((u.y + 1) * inH) / outH) - y0;
    const cols = Math.ceil(((u.x + 1) * inW) / outW) - x0;
    window = windowOf(l, u.channel, y0, x0, rows, cols);
    span = spanOf(y0, x0, rows, cols);
  } else {
    const g = l.attrs.geometry as Pool2dGeometry;
    const top = u.y * g.strideH - g.padH;
    const left = u.x * g.strideW - g.padW;
    window = windowOf(l, u.channel, top, left, g.kernelH, g.kernelW, [g.dilationH, g.dilationW]);
    span = spanOf(top, left, g.kernelH, g.kernelW, [g.dilationH, g.dilationW]);
    // Average pooling with count_include_pad counts the padding inside the padded input, not beyond.
    for (let r = 0; r < g.kernelH; r++)
      for (let c = 0; c < g.kernelW; c++) {
        const iy = top + r * g.dilationH;
        const ix = left + c * g.dilationW;
        if ((iy < 0 || iy >= inH || ix < 0 || ix >= inW) && iy < inH + g.padH && ix < inW + g.padW) padded++;
      }
  }
  const cells = window.flat().filter((v): v is number => v !== null);
  const isMax = l.op === 'maxPool2d';
  const sum = cells.reduce((a, b) => a + b, 0);
  let divisor: number | null = null;
  if (!isMax) {
    const override = l.attrs.divisorOverride as number | null | undefined;
    const includePad = l.op === 'avgPool2d' && (l.attrs.countIncludePad as boolean);
    divisor = override ?? cells.length + (includePad ? padded : 0);
  }
  const value = isMax ? Math.max(...cells) : sum / (divisor as number);
  return {
    op: l.op,
    unit: u,
    channels: [{ channel: u.channel, window, kernel: null, partial: isMax ? value : sum }],
    sum: isMax ? null : sum,
    bias: null,
    divisor,
    value,
    output: at(l, u),
    terms: cells.length,
    span,
  };
}

function explainRelu(l: LayerActivation, u: Unit): UnitExplanation {
  const x = windowOf(l, u.channel, u.y, u.x, 1, 1)[0][0] as number;
  return {
    op: l.op,
    unit: u,
    channels: [{ channel: u.channel, window: [[x]], kernel: null, partial: x }],
    sum: null,
    bias: null,
    divisor: null,
    value: Math.max(0, x),
    output: at(l, u),
    terms: 1,
    span: spanOf(u.y, u.x, 1, 1),
  };
}

/** The unit's explanation, or null when the layer's op is not one the page explains. */
export function explainUnit(l: LayerActivation, u: Unit): UnitExplanation | null {
  if (l.input === null) return null;
  if (l.op === 'conv2d') return explainConv(l, u);
  if (l.op === 'relu') return explainRelu(l, u);
  if (l.op === 'maxPool2d' || l.op === 'avgPool2d' || l.op === 'adaptiveAvgPool2d') return explainPool(l, u);
  return null;
}

export { chw };
