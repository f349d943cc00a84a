/** Matrix products: matmul (batched, broadcasting) and linear (x W^T + b). */
import { recordSaved } from '../core/autograd.js';
import { ArgumentError, ShapeError } from '../core/errors.js';
import { isGradEnabled } from '../core/grad-mode.js';
import { broadcastShapes, formatShape, sizeOf, type Shape } from '../core/shape.js';
import type { Tensor } from '../core/tensor.js';
import { expand, reshape } from './layout.js';
import { sumTo } from './reduce.js';
import { common, commonRequired, willRecord, wrap } from './util.js';

/** Raw product of [batch?, m, k] x [batch?, k, n] with optional transposes; no autograd. */
function product(
  a: Tensor,
  b: Tensor,
  transA: boolean,
  transB: boolean,
  batch: number,
  aBatched: boolean,
  bBatched: boolean,
): Tensor {
  const [ar, ac] = a.shape.slice(-2);
  const [br, bc] = b.shape.slice(-2);
  const [m, k] = transA ? [ac, ar] : [ar, ac];
  const n = transB ? br : bc;
  const storage = a.backend.kernels.matmul({
    a: a.storage,
    b: b.storage,
    batch,
    m,
    k,
    n,
    transA,
    transB,
    aBatched,
    bBatched,
  });
  return wrap(storage, batch === 1 && !aBatched && !bBatched ? [m, n] : [batch, m, n], a.backend);
}

/**
 * Matrix product with PyTorch's rules for rank >= 2: the last two axes multiply, leading axes
 * broadcast. Vectors are not promoted; use reshape.
 */
export function matmul(a: Tensor, b: Tensor): Tensor {
  commonRequired('matmul', a, b);
  if (a.ndim < 2 || b.ndim < 2) {
    throw new ShapeError(
      'matmul',
      `both operands need at least 2 dimensions, got ${formatShape(a.shape)} and ${formatShape(b.shape)}`,
    );
  }
  const [m, k] = a.shape.slice(-2);
  const [k2, n] = b.shape.slice(-2);
  if (k !== k2)
    throw new ShapeError(
      'matmul',
      `inner dimensions differ: ${formatShape(a.shape)} @ ${formatShape(b.shape)} (${k} vs ${k2})`,
    );
  const batchShape = broadcastShapes('matmul', a.shape.slice(0, -2), b.shape.slice(0, -2));
  const batch = sizeOf(batchShape);
  const outShape = [...batchShape, m, n];
  // A side is either a single matrix shared by every batch, or expanded to the full batch.
  const side = (t: Tensor, rows: number, cols: number): [Tensor, boolean] => {
    if (sizeOf(t.shape.slice(0, -2)) === 1) return [reshape(t, [rows, cols]), false];
    return [reshape(expand(t, [...batchShape, rows, cols]), [batch, rows, cols]), true];
  };
  const [a3, aBatched] = side(a, m, k);
  const [b3, bBatched] = side(b, k, n);
  const raw = product(a3, b3, false, false, batch, aBatched, bBatched);
  const out = raw.alias(outShape);
  raw.dispose();
  return recordSaved(
    [a3, b3],
    out,
    'matmul',
    [a3, b3],
    (gy, needs) => {
      const g3 = gy.alias([batch, m, n]);
      const batched = aBatched || bBatched;
      const ga = needs[0] ? product(g3, b3, false, true, batch, batched, bBatched) : null;
      const gb = needs[1] ? product(a3, g3, true, false, batch, aBatched, batched) : null;
      g3.dispose();
      return [ga && collapse(ga, a3.shape), gb && collapse(gb, b3.shape)];
    },
    { macs: batch * m * n * k },
  );
}

/** Sums a per-batch gradient over the batch when the operand was one shared matrix. */
function collapse(g: Tensor, shape: Shape): Tensor {
  if (g.ndim === shape.length) return g;
  const summed = sumTo(g, [1, ...shape]);
  const out = summed.alias(shape);
  if (summed !== g) summed.dispose();
  g.dispose();
  return out;
}

/** A ReLU fused into an inference linear: y = relu(x W^T + b). */
export interface LinearPostOps {
  relu?: boolean;
}

/** y = x W^T + b, with W of shape [out, in] as in nn.Linear. x may have any leading axes. */
export function linear(
  x: Tensor,
  weight: Tensor,
  bias: Tensor | null = null,
  { relu = false }: LinearPostOps = {},
): Tensor {
  commonRequired('linear', x, weight);
  common('linear', x, weight, bias);
  if (weight.ndim !== 2)
    throw new ShapeError('linear', `weight must be [out_features, in_features], got ${formatShape(weight.shape)}`);
  const [outF, inF] = weight.shape;
  if (x.ndim < 1 || x.shape[x.ndim - 1] !== inF) {
    throw new ShapeError(
      'linear',
      `input has ${x.shape[x.ndim - 1] ?? 0} features (shape ${formatShape(x.shape)}), weight expects ${inF}`,
    );
  }
  if (bias && (bias.ndim !== 1 || bias.shape[0] !== outF)) {
    throw new ShapeError('linear', `bias must have shape [${outF}], got ${formatShape(bias.shape)}`);
  }
  if (relu && isGradEnabled() && [x, weight, bias].some((t) => t?.requiresGrad)) {
    throw new ArgumentError(
      'linear',
      'a fused ReLU has no gradient: use it under noGrad or with inputs that need none',
    );
  }
  // Leading axes, not size / inF: with inF = 0 (PyTorch allows it) the output is the bias, broadcast.
  const rows = sizeOf(x.shape.slice(0, -1));
  const x2 = reshape(x, [rows, inF]);
  const storage = x.backend.kernels.linear({
    x: x2.storage,
    weight: weight.storage,
    bias: bias?.storage ?? null,
    rows,
    inF,
    outF,
    relu,
    training: willRecord(x, weight, bias),
  });
  const y = recordSaved(
    [x2, weight],
    wrap(storage, [rows, outF], x.backend),
    'linear',
    [x2, weight, bias],
    (gy, needs) => [
      needs[0] ? product(gy, weight, false, false, 1, false, false) : null,
      needs[1] ? product(gy, x2, true, false, 1, false, false) : null,
      needs[2] ? sumTo(gy, [outF]) : null,
    ],
    { macs: rows * inF * outF, attrs: { relu } },
  );
  return reshape(y, [...x.shape.slice(0, -1), outF]);
}
