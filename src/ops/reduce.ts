/** Reductions over axes (sum, mean, max, min, var) and argmax. */
import { recordSaved } from '../core/autograd.js';
import { ArgumentError } from '../core/errors.js';
import { broadcastAxes, normalizeAxis, sizeOf, type Shape } from '../core/shape.js';
import type { Tensor } from '../core/tensor.js';
import { common, wrap } from './util.js';

export interface ReduceOptions {
  /** Keep reduced axes with size 1 (PyTorch's keepdim). */
  keepDims?: boolean;
}

type Axes = number | readonly number[] | undefined;

function resolveAxes(op: string, x: Tensor, axes: Axes): number[] {
  common(op, x);
  if (axes === undefined) return x.shape.map((_, i) => i);
  const list = typeof axes === 'number' ? [axes] : [...axes];
  const resolved = list.map((a) => normalizeAxis(op, a, x.ndim));
  if (new Set(resolved).size !== resolved.length)
    throw new ArgumentError(op, `axes [${list.join(', ')}] repeat an axis`);
  return resolved.sort((a, b) => a - b);
}

function keptShape(shape: Shape, axes: readonly number[]): number[] {
  return shape.map((d, i) => (axes.includes(i) ? 1 : d));
}

function finalShape(shape: Shape, axes: readonly number[], keepDims: boolean): number[] {
  return keepDims ? keptShape(shape, axes) : shape.filter((_, i) => !axes.includes(i));
}

/** Expands a reduced gradient back over the reduced axes. */
function spread(g: Tensor, shape: Shape, axes: readonly number[]): Tensor {
  const kept = g.alias(keptShape(shape, axes));
  const out = wrap(g.backend.kernels.expand({ x: kept.storage, shape: kept.shape, outShape: shape }), shape, g.backend);
  kept.dispose();
  return out;
}

function sumOrMean(op: 'sum' | 'mean', x: Tensor, axes: Axes, opts: ReduceOptions): Tensor {
  const ax = resolveAxes(op, x, axes);
  const storage = x.backend.kernels.reduce({ op, x: x.storage, shape: x.shape, axes: ax });
  const out = wrap(storage, finalShape(x.shape, ax, opts.keepDims ?? false), x.backend);
  const count = sizeOf(ax.map((a) => x.shape[a]));
  return recordSaved([], out, op, [x], (gy) => {
    const g = spread(gy, x.shape, ax);
    if (op === 'sum') return [g];
    const scaled = wrap(g.backend.kernels.scalar({ op: 'mul', x: g.storage, value: 1 / count }), g.shape, g.backend);
    g.dispose();
    return [scaled];
  });
}

export function sum(x: Tensor, axes?: Axes, opts: ReduceOptions = {}): Tensor {
  return sumOrMean('sum', x, axes, opts);
}

export function mean(x: Tensor, axes?: Axes, opts: ReduceOptions = {}): Tensor {
  return sumOrMean('mean', x, axes, opts);
}

/** max or min; the gradient is shared equally between tied extremes, as in PyTorch's amax. */
function extreme(op: 'max' | 'min', x: Tensor, axes: Axes, opts: ReduceOptions): Tensor {
  const ax = resolveAxes(op, x, axes);
  const k = x.backend.kernels;
  const reduced = k.reduce({ op, x: x.storage, shape: x.shape, axes: ax });
  const out = wrap(reduced, finalShape(x.shape, ax, opts.keepDims ?? false), x.backend);
  return recordSaved([x, out], out, op, [x], (gy) => {
    const kept = keptShape(x.shape, ax);
    const hit = k.binary({ op: 'eq', a: x.storage, aShape: x.shape, b: out.storage, bShape: kept, outShape: x.shape });
    const ties = k.reduce({ op: 'sum', x: hit, shape: x.shape, axes: ax });
    const share = k.binary({ op: 'div', a: gy.storage, aShape: kept, b: ties, bShape: kept, outShape: kept });
    const g = k.binary({ op: 'mul', a: hit, aShape: x.shape, b: share, bShape: kept, outShape: x.shape });
    for (const s of [hit, ties, share]) s.release();
    return [wrap(g, x.shape, x.backend)];
  });
}

export function max(x: Tensor, axes?: Axes, opts: ReduceOptions = {}): Tensor {
  return extreme('max', x, axes, opts);
}

export function min(x: Tensor, axes?: Axes, opts: ReduceOptions = {}): Tensor {
  return extreme('min', x, axes, opts);
}

/** Index of the largest value along `axis` (float tensor of indices; not differentiable). */
export function argmax(x: Tensor, axis: number, opts: ReduceOptions = {}): Tensor {
  common('argmax', x);
  const a = normalizeAxis('argmax', axis, x.ndim);
  const layout = { outer: sizeOf(x.shape.slice(0, a)), dim: x.shape[a], inner: sizeOf(x.shape.slice(a + 1)) };
  return wrap(
    x.backend.kernels.argmax({ x: x.storage, layout }),
    finalShape(x.shape, [a], opts.keepDims ?? false),
    x.backend,
  );
}

/**
 * Sums a broadcast gradient back to `shape` (the inverse of broadcasting), for the backward
 * passes of broadcasting ops.
 */
export function sumTo(g: Tensor, shape: Shape): Tensor {
  const axes = broadcastAxes(shape, g.shape);
  if (axes.length === 0) return g;
  const reduced = g.backend.kernels.reduce({ op: 'sum', x: g.storage, shape: g.shape, axes });
  return wrap(reduced, shape, g.backend);
}
