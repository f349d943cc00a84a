/** Elementwise arithmetic with broadcasting, scalar forms, and unary math functions. */
import type { BinaryOp, ScalarOp, UnaryOp } from '../backend/backend.js';
import { recordSaved } from '../core/autograd.js';
import { broadcastShapes } from '../core/shape.js';
import type { Tensor } from '../core/tensor.js';
import { sumTo } from './reduce.js';
import { common, commonRequired, wrap } from './util.js';

function binaryRaw(op: BinaryOp, a: Tensor, b: Tensor): Tensor {
  const backend = commonRequired(op, a, b);
  const outShape = broadcastShapes(op, a.shape, b.shape);
  const storage = backend.kernels.binary({
    op,
    a: a.storage,
    aShape: a.shape,
    b: b.storage,
    bShape: b.shape,
    outShape,
  });
  return wrap(storage, outShape, backend);
}

function scalarRaw(op: ScalarOp, x: Tensor, value: number): Tensor {
  common(op, x);
  return wrap(x.backend.kernels.scalar({ op, x: x.storage, value }), x.shape, x.backend);
}

function unaryRaw(op: UnaryOp, x: Tensor): Tensor {
  common(op, x);
  return wrap(x.backend.kernels.unary({ op, x: x.storage }), x.shape, x.backend);
}

/** Sums a gradient down to an operand's shape, freeing the broadcast one. */
function reduceBack(g: Tensor, shape: readonly number[]): Tensor {
  const out = sumTo(g, shape);
  if (out !== g) g.dispose();
  return out;
}

export function add(a: Tensor, b: Tensor | number): Tensor {
  if (typeof b === 'number')
    return recordSaved([], scalarRaw('add', a, b), 'add', [a], (gy) => [gy], { attrs: { scalar: b } });
  return recordSaved([], binaryRaw('add', a, b), 'add', [a, b], (gy, needs) => [
    needs[0] ? sumTo(gy, a.shape) : null,
    needs[1] ? sumTo(gy, b.shape) : null,
  ]);
}

export function sub(a: Tensor, b: Tensor | number): Tensor {
  if (typeof b === 'number')
    return recordSaved([], scalarRaw('add', a, -b), 'sub', [a], (gy) => [gy], { attrs: { scalar: b } });
  return recordSaved([], binaryRaw('sub', a, b), 'sub', [a, b], (gy, needs) => [
    needs[0] ? sumTo(gy, a.shape) : null,
    needs[1] ? reduceBack(unaryRaw('neg', gy), b.shape) : null,
  ]);
}

export function mul(a: Tensor, b: Tensor | number): Tensor {
  if (typeof b === 'number')
    return recordSaved([], scalarRaw('mul', a, b), 'mul', [a], (gy) => [scalarRaw('mul', gy, b)], {
      attrs: { scalar: b },
    });
  return recordSaved([a, b], binaryRaw('mul', a, b), 'mul', [a, b], (gy, needs) => [
    needs[0] ? reduceBack(binaryRaw('mul', gy, b), a.shape) : null,
    needs[1] ? reduceBack(binaryRaw('mul', gy, a), b.shape) : null,
  ]);
}

export function div(a: Tensor, b: Tensor | number): Tensor {
  if (typeof b === 'number')
    return recordSaved([], scalarRaw('mul', a, 1 / b), 'div', [a], (gy) => [scalarRaw('mul', gy, 1 / b)], {
      attrs: { scalar: b },
    });
  return recordSaved([a, b], binaryRaw('div', a, b), 'div', [a, b], (gy, needs) => {
    const ga = needs[0] ? reduceBack(binaryRaw('div', gy, b), a.shape) : null;
    let gb: Tensor | null = null;
    if (needs[1]) {
      // d(a/b)/db = -a / b^2
      const b2 = unaryRaw('square', b);
      const q = binaryRaw('div', a, b2);
      const t = binaryRaw('mul', gy, q);
      gb = reduceBack(unaryRaw('neg', t), b.shape);
      for (const x of [b2, q, t]) x.dispose();
    }
    return [ga, gb];
  });
}

/** Scalar minus tensor, c - x. */
export function rsub(c: number, x: Tensor): Tensor {
  return recordSaved([], scalarRaw('rsub', x, c), 'rsub', [x], (gy) => [unaryRaw('neg', gy)], {
    attrs: { scalar: c },
  });
}

/**
 * Elementwise maximum; a NaN on either side gives NaN, and where a == b the gradient is split
 * equally, as in PyTorch.
 */
export function maximum(a: Tensor, b: Tensor): Tensor {
  return minMax('max', a, b);
}

export function minimum(a: Tensor, b: Tensor): Tensor {
  return minMax('min', a, b);
}

function minMax(op: 'max' | 'min', a: Tensor, b: Tensor): Tensor {
  const out = binaryRaw(op, a, b);
  return recordSaved([a, b], out, op === 'max' ? 'maximum' : 'minimum', [a, b], (gy, needs) => {
    // PyTorch's rule: each side gets gy, halved at ties, zeroed where it loses; a NaN loses
    // nowhere, so both sides get gy there.
    const aLoses = binaryRaw(op === 'max' ? 'lt' : 'gt', a, b);
    const bLoses = binaryRaw(op === 'max' ? 'gt' : 'lt', a, b);
    const ties = binaryRaw('eq', a, b);
    const half = scalarRaw('mul', ties, 0.5);
    const aOff = binaryRaw('add', aLoses, half);
    const bOff = binaryRaw('add', bLoses, half);
    const wa = scalarRaw('rsub', aOff, 1);
    const wb = scalarRaw('rsub', bOff, 1);
    const ga = needs[0] ? reduceBack(binaryRaw('mul', gy, wa), a.shape) : null;
    const gb = needs[1] ? reduceBack(binaryRaw('mul', gy, wb), b.shape) : null;
    for (const t of [aLoses, bLoses, ties, half, aOff, bOff, wa, wb]) t.dispose();
    return [ga, gb];
  });
}

export function neg(x: Tensor): Tensor {
  return recordSaved([], unaryRaw('neg', x), 'neg', [x], (gy) => [unaryRaw('neg', gy)]);
}

export function exp(x: Tensor): Tensor {
  const out = unaryRaw('exp', x);
  return recordSaved([out], out, 'exp', [x], (gy) => [binaryRaw('mul', gy, out)]);
}

export function log(x: Tensor): Tensor {
  return recordSaved([x], unaryRaw('log', x), 'log', [x], (gy) => [binaryRaw('div', gy, x)]);
}

export function sqrt(x: Tensor): Tensor {
  const out = unaryRaw('sqrt', x);
  return recordSaved([out], out, 'sqrt', [x], (gy) => {
    const twice = scalarRaw('mul', out, 2);
    const g = binaryRaw('div', gy, twice);
    twice.dispose();
    return [g];
  });
}

export function square(x: Tensor): Tensor {
  return recordSaved([x], unaryRaw('square', x), 'square', [x], (gy) => {
    const twice = scalarRaw('mul', x, 2);
    const g = binaryRaw('mul', gy, twice);
    twice.dispose();
    return [g];
  });
}

export function abs(x: Tensor): Tensor {
  return recordSaved([x], unaryRaw('abs', x), 'abs', [x], (gy) => {
    // sign(x), with sign(0) = 0 as in PyTorch
    const gt = binaryRaw('gt', x, zerosOf(x));
    const lt = binaryRaw('lt', x, zerosOf(x));
    const sign = binaryRaw('sub', gt, lt);
    const g = binaryRaw('mul', gy, sign);
    for (const t of [gt, lt, sign]) t.dispose();
    return [g];
  });
}

function zerosOf(x: Tensor): Tensor {
  return wrap(x.backend.kernels.fill({ size: 1, value: 0, dtype: x.dtype }), [], x.backend);
}

/** x to a constant power. */
export function pow(x: Tensor, exponent: number): Tensor {
  return recordSaved([x], scalarRaw('pow', x, exponent), 'pow', [x], (gy) => {
    const d = scalarRaw('pow', x, exponent - 1);
    const scaled = scalarRaw('mul', d, exponent);
    const g = binaryRaw('mul', gy, scaled);
    d.dispose();
    scaled.dispose();
    return [g];
  });
}

/** 1 where a == b, else 0 (not differentiable). */
export function eq(a: Tensor, b: Tensor): Tensor {
  return binaryRaw('eq', a, b);
}

export function gt(a: Tensor, b: Tensor): Tensor {
  return binaryRaw('gt', a, b);
}

export function lt(a: Tensor, b: Tensor): Tensor {
  return binaryRaw('lt', a, b);
}

/** Clamps into [low, high] (either may be omitted); the gradient passes where x is inside. */
export function clamp(x: Tensor, low?: number, high?: number): Tensor {
  common('clamp', x);
  let out = x.alias(x.shape);
  if (low !== undefined) out = replace(out, scalarRaw('max', out, low));
  if (high !== undefined) out = replace(out, scalarRaw('min', out, high));
  return recordSaved([x, out], out, 'clamp', [x], (gy) => {
    const inside = binaryRaw('eq', out, x);
    const g = binaryRaw('mul', gy, inside);
    inside.dispose();
    return [g];
  });
}

function replace(old: Tensor, next: Tensor): Tensor {
  old.dispose();
  return next;
}
