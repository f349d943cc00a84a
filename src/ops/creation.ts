/** Creating tensors: from values, constants, ranges and seeded random draws. */
import type { Backend } from '../backend/backend.js';
import { getBackend } from '../backend/registry.js';
import { allocFloat, type DType, type FloatArray, isDType } from '../core/dtype.js';
import { ArgumentError, ShapeError } from '../core/errors.js';
import { defaultGenerator, type Generator } from '../core/random.js';
import { checkShape, formatShape, sizeOf, type Shape } from '../core/shape.js';
import type { NestedArray, Tensor } from '../core/tensor.js';
import { common, wrap } from './util.js';

export interface TensorOptions {
  dtype?: DType;
  /** Backend name; the current default when absent. */
  backend?: string;
  requiresGrad?: boolean;
}

function target(op: string, shape: Shape, opts: TensorOptions): { backend: Backend; dtype: DType } {
  checkShape(op, shape);
  const dtype = opts.dtype ?? 'float32';
  if (!isDType(dtype)) throw new ArgumentError(op, `dtype must be 'float32' or 'float64', got '${String(dtype)}'`);
  return { backend: getBackend(opts.backend), dtype };
}

function finish(t: Tensor, opts: TensorOptions): Tensor {
  if (opts.requiresGrad) t.requiresGrad = true;
  return t;
}

/** A tensor from a flat typed array and a shape (values are copied). */
export function fromArray(values: FloatArray | readonly number[], shape: Shape, opts: TensorOptions = {}): Tensor {
  const { backend, dtype } = target('fromArray', shape, opts);
  if (values.length !== sizeOf(shape)) {
    throw new ShapeError(
      'fromArray',
      `${values.length} values cannot fill shape ${formatShape(shape)} (${sizeOf(shape)} elements)`,
    );
  }
  const flat = allocFloat(dtype, values.length);
  flat.set(values);
  return finish(wrap(backend.write(flat, dtype), shape, backend), opts);
}

/** A tensor from a number or nested arrays of numbers, like torch.tensor. */
export function tensor(values: NestedArray, opts: TensorOptions = {}): Tensor {
  const shape: number[] = [];
  for (let v: NestedArray = values; Array.isArray(v); v = v[0]) shape.push(v.length);
  const flat: number[] = [];
  const walk = (v: NestedArray, dim: number, at: string): void => {
    if (dim === shape.length) {
      if (typeof v !== 'number')
        throw new ShapeError('tensor', `expected a number at ${at || 'the top'}, got an array`);
      flat.push(v);
      return;
    }
    if (!Array.isArray(v) || v.length !== shape[dim]) {
      throw new ShapeError(
        'tensor',
        `ragged nested array: expected ${shape[dim]} items at ${at || 'the top'}, got ${Array.isArray(v) ? v.length : 'a number'}`,
      );
    }
    v.forEach((item, i) => walk(item, dim + 1, `${at}[${i}]`));
  };
  walk(values, 0, '');
  return fromArray(flat, shape, opts);
}

export function full(shape: Shape, value: number, opts: TensorOptions = {}): Tensor {
  const { backend, dtype } = target('full', shape, opts);
  return finish(wrap(backend.kernels.fill({ size: sizeOf(shape), value, dtype }), shape, backend), opts);
}

export function zeros(shape: Shape, opts: TensorOptions = {}): Tensor {
  return full(shape, 0, opts);
}

export function ones(shape: Shape, opts: TensorOptions = {}): Tensor {
  return full(shape, 1, opts);
}

/** Options for the *Like functions default to the model tensor's dtype and backend. */
function likeOptions(op: string, x: Tensor, opts: TensorOptions): TensorOptions {
  common(op, x);
  return { dtype: x.dtype, backend: x.backend.name, ...opts };
}

export function zerosLike(x: Tensor, opts: TensorOptions = {}): Tensor {
  return full(x.shape, 0, likeOptions('zerosLike', x, opts));
}

export function onesLike(x: Tensor, opts: TensorOptions = {}): Tensor {
  return full(x.shape, 1, likeOptions('onesLike', x, opts));
}

export function fullLike(x: Tensor, value: number, opts: TensorOptions = {}): Tensor {
  return full(x.shape, value, likeOptions('fullLike', x, opts));
}

/** Values start, start + step, ... below end (torch.arange). `arange(n)` counts 0..n-1. */
export function arange(start: number, end?: number, step = 1, opts: TensorOptions = {}): Tensor {
  const [lo, hi] = end === undefined ? [0, start] : [start, end];
  if (step === 0 || !Number.isFinite(step))
    throw new ArgumentError('arange', `step must be a finite non-zero number, got ${step}`);
  const count = Math.max(0, Math.ceil((hi - lo) / step));
  return fromArray(
    Array.from({ length: count }, (_, i) => lo + i * step),
    [count],
    opts,
  );
}

export interface RandomOptions extends TensorOptions {
  generator?: Generator;
}

function draw(op: string, shape: Shape, opts: RandomOptions, fill: (g: Generator, values: FloatArray) => void): Tensor {
  const { dtype } = target(op, shape, opts);
  const values = allocFloat(dtype, sizeOf(shape));
  fill(opts.generator ?? defaultGenerator, values);
  return fromArray(values, shape, opts);
}

/** Uniform in [low, high). */
export function uniform(shape: Shape, low = 0, high = 1, opts: RandomOptions = {}): Tensor {
  return draw('uniform', shape, opts, (g, values) => g.fillUniform(values, low, high));
}

/** Normal with the given mean and standard deviation. */
export function normal(shape: Shape, mean = 0, std = 1, opts: RandomOptions = {}): Tensor {
  return draw('normal', shape, opts, (g, values) => g.fillNormal(values, mean, std));
}

export function rand(shape: Shape, opts: RandomOptions = {}): Tensor {
  return uniform(shape, 0, 1, opts);
}

export function randn(shape: Shape, opts: RandomOptions = {}): Tensor {
  return normal(shape, 0, 1, opts);
}
