/** Ops that change shape or arrangement: reshape, flatten, permute, slice, concat, pad, expand. */
import { GradientSlice, recordSaved } from '../core/autograd.js';
import { ArgumentError, ShapeError } from '../core/errors.js';
import { broadcastShapes, formatShape, normalizeAxis, shapesEqual, sizeOf, type Shape } from '../core/shape.js';
import { describeValue, reshapeView, type Tensor } from '../core/tensor.js';
import { sumTo } from './reduce.js';
import { common, commonRequired, wrap } from './util.js';

/** Same values, new shape; one dimension may be -1 and is inferred. Shares storage. */
export function reshape(x: Tensor, shape: readonly number[]): Tensor {
  return reshapeView(x, shape, 'reshape');
}

/** Merges axes startDim..endDim into one (torch.flatten; nn.Flatten uses startDim 1). */
export function flatten(x: Tensor, startDim = 0, endDim = -1): Tensor {
  common('flatten', x);
  if (x.ndim === 0) return reshape(x, [1]);
  const s = normalizeAxis('flatten', startDim, x.ndim);
  const e = normalizeAxis('flatten', endDim, x.ndim);
  if (s > e) throw new ShapeError('flatten', `startDim ${startDim} comes after endDim ${endDim}`);
  return reshape(x, [...x.shape.slice(0, s), sizeOf(x.shape.slice(s, e + 1)), ...x.shape.slice(e + 1)]);
}

export function unsqueeze(x: Tensor, axis: number): Tensor {
  common('unsqueeze', x);
  const a = normalizeAxis('unsqueeze', axis, x.ndim + 1);
  return reshape(x, [...x.shape.slice(0, a), 1, ...x.shape.slice(a)]);
}

/** Drops size-1 axes (all of them, or the one given). */
export function squeeze(x: Tensor, axis?: number): Tensor {
  common('squeeze', x);
  if (axis === undefined)
    return reshape(
      x,
      x.shape.filter((d) => d !== 1),
    );
  const a = normalizeAxis('squeeze', axis, x.ndim);
  return x.shape[a] === 1
    ? reshape(
        x,
        x.shape.filter((_, i) => i !== a),
      )
    : reshape(x, x.shape);
}

export function permute(x: Tensor, perm: readonly number[]): Tensor {
  common('permute', x);
  const resolved = perm.map((p) => normalizeAxis('permute', p, x.ndim));
  if (resolved.length !== x.ndim || new Set(resolved).size !== x.ndim) {
    throw new ShapeError(
      'permute',
      `[${perm.join(', ')}] is not a permutation of the ${x.ndim} axes of ${formatShape(x.shape)}`,
    );
  }
  const k = x.backend.kernels;
  const out = wrap(
    k.permute({ x: x.storage, shape: x.shape, perm: resolved }),
    resolved.map((p) => x.shape[p]),
    x.backend,
  );
  const inverse = resolved.map((_, i) => resolved.indexOf(i));
  return recordSaved(
    [],
    out,
    'permute',
    [x],
    (gy) => [wrap(k.permute({ x: gy.storage, shape: gy.shape, perm: inverse }), x.shape, x.backend)],
    { attrs: { perm: resolved } },
  );
}

export function transpose(x: Tensor, dim0 = -2, dim1 = -1): Tensor {
  const a = normalizeAxis('transpose', dim0, x.ndim);
  const b = normalizeAxis('transpose', dim1, x.ndim);
  const perm = x.shape.map((_, i) => (i === a ? b : i === b ? a : i));
  return permute(x, perm);
}

/** Elements start..end-1 along `axis` (negative indices count from the end, like Python's). */
export function slice(x: Tensor, axis: number, start: number, end?: number): Tensor {
  common('slice', x);
  const a = normalizeAxis('slice', axis, x.ndim);
  const len = x.shape[a];
  const clampIndex = (i: number): number => Math.min(Math.max(i < 0 ? i + len : i, 0), len);
  const s = clampIndex(start);
  const e = Math.max(s, clampIndex(end ?? len));
  const begin = x.shape.map((_, i) => (i === a ? s : 0));
  const size = x.shape.map((d, i) => (i === a ? e - s : d));
  const k = x.backend.kernels;
  const out = wrap(k.slice({ x: x.storage, shape: x.shape, begin, size }), size, x.backend);
  const pads = x.shape.map((d, i): [number, number] => (i === a ? [s, d - e] : [0, 0]));
  return recordSaved(
    [],
    out,
    'slice',
    [x],
    (gy) => [wrap(k.pad({ x: gy.storage, shape: gy.shape, pads, value: 0 }), x.shape, x.backend)],
    { attrs: { axis: a, start: s, end: e } },
  );
}

/** Joins tensors along an axis; all other sizes must agree (torch.cat). */
export function concat(tensors: readonly Tensor[], axis = 0): Tensor {
  // A copy: the backward pass needs this list as it is now, and callers may grow theirs (DenseNet does).
  if (!Array.isArray(tensors))
    throw new ArgumentError('concat', `expected an array of Tensors, got ${describeValue(tensors)}`);
  const xs: Tensor[] = [...tensors];
  if (xs.length === 0) throw new ArgumentError('concat', 'needs at least one tensor');
  const backend = commonRequired('concat', ...xs);
  const first = xs[0];
  const a = normalizeAxis('concat', axis, first.ndim);
  xs.forEach((t, i) => {
    const same = t.ndim === first.ndim && t.shape.every((d, j) => j === a || d === first.shape[j]);
    if (!same) {
      throw new ShapeError(
        'concat',
        `tensor ${i} has shape ${formatShape(t.shape)}, which does not match ${formatShape(first.shape)} outside axis ${a}`,
      );
    }
  });
  const shapes = xs.map((t) => t.shape);
  const outShape = first.shape.map((d, j) => (j === a ? xs.reduce((acc, t) => acc + t.shape[a], 0) : d));
  const out = wrap(backend.kernels.concat({ xs: xs.map((t) => t.storage), shapes, axis: a }), outShape, backend);
  // Each input's gradient is its box of gy, which the engine sums with the input's other gradients.
  const backwardConcat = (gy: Tensor, needs: readonly boolean[]): (GradientSlice | null)[] => {
    let offset = 0;
    return xs.map((t, i) => {
      const begin = outShape.map((_, j) => (j === a ? offset : 0));
      offset += t.shape[a];
      return needs[i] ? new GradientSlice(gy, begin, t.shape) : null;
    });
  };
  return recordSaved([], out, 'concat', xs, backwardConcat, { attrs: { axis: a } });
}

/**
 * Constant padding in PyTorch's F.pad order: pairs from the last axis backwards,
 * [left, right] for the last axis, then [top, bottom] for the one before, and so on.
 */
export function pad(x: Tensor, padding: readonly number[], value = 0): Tensor {
  common('pad', x);
  if (padding.length % 2 !== 0 || padding.length / 2 > x.ndim || padding.some((p) => !Number.isInteger(p) || p < 0)) {
    throw new ShapeError(
      'pad',
      `padding [${padding.join(', ')}] must be non-negative integer pairs for at most ${x.ndim} axes`,
    );
  }
  const pads = x.shape.map((): [number, number] => [0, 0]);
  for (let i = 0; i < padding.length / 2; i++) pads[x.ndim - 1 - i] = [padding[2 * i], padding[2 * i + 1]];
  const outShape = x.shape.map((d, i) => d + pads[i][0] + pads[i][1]);
  const k = x.backend.kernels;
  const out = wrap(k.pad({ x: x.storage, shape: x.shape, pads, value }), outShape, x.backend);
  const begin = pads.map((p) => p[0]);
  return recordSaved(
    [],
    out,
    'pad',
    [x],
    (gy) => [wrap(k.slice({ x: gy.storage, shape: outShape, begin, size: x.shape }), x.shape, x.backend)],
    { attrs: { pads, value } },
  );
}

/** Broadcasts to a larger shape, copying values (torch.expand followed by contiguous). */
export function expand(x: Tensor, shape: Shape): Tensor {
  common('expand', x);
  const outShape = broadcastShapes('expand', x.shape, shape);
  if (!shapesEqual(outShape, shape))
    throw new ShapeError('expand', `cannot expand ${formatShape(x.shape)} to ${formatShape(shape)}`);
  const out = wrap(x.backend.kernels.expand({ x: x.storage, shape: x.shape, outShape }), outShape, x.backend);
  return recordSaved([], out, 'expand', [x], (gy) => [sumTo(gy, x.shape)]);
}
