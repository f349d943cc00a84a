/**
 * What the differential fuzzer calls: one entry per public op (or op form), each with a
 * fast-check arbitrary of its inputs and arguments (mostly valid, sometimes not: both backends
 * must then throw the same error) and a function that calls the op on tensors of one backend.
 * Shapes stay small: the point is to cover argument combinations and kernel paths, not size.
 */
import fc from 'fast-check';
import { Generator } from '../../src/core/random.js';
import type { Tensor } from '../../src/core/tensor.js';
import * as ops from '../../src/ops/index.js';
import type { TensorSpec } from './values.js';

const EPS32 = 2 ** -23;

/** A case as its arbitrary generates it; `op`, `gySeed` and special values are added by the harness. */
export interface CaseBody<A> {
  inputs: Record<string, TensorSpec>;
  args: A;
  /** Run the backward pass (inputs named in the spec's `grads` require a gradient). */
  grad: boolean;
}

/** What a call returns: the output (backward starts there) or named outputs, the first one `y`. */
export type CallResult = Tensor | { y: Tensor; [extra: string]: Tensor };

/** Magnitudes for the dot-product part of the tolerance: k terms of size up to mag are summed. */
export interface DotScale {
  k: number;
  mag: number;
  /** Largest magnitude an intermediate may reach (default k * mag): past float32's range, overflow is tolerated. */
  range?: number;
}

/** An input's values (as the reference backend got them), for tolerances that depend on more than magnitudes. */
export type InputValues = Record<string, Float32Array | Float64Array>;

export interface OpSpec<A extends object = object> {
  name: string;
  arb: () => fc.Arbitrary<CaseBody<A>>;
  /** Calls the op; `backend` is where new tensors (creation ops) go. */
  call: (t: Record<string, Tensor>, args: A, backend: string) => CallResult;
  /** Inputs that require a gradient when the case runs backward. */
  grads?: readonly string[];
  /** k and magnitude of the sums the op computes (see the tolerance table), from each input's largest |value| and gy's. */
  dot?: (
    maxAbs: Record<string, number>,
    args: A,
    shapes: Record<string, readonly number[]>,
    values: InputValues,
  ) => DotScale;
}

const def = <A extends object>(spec: OpSpec<A>): OpSpec => spec as unknown as OpSpec;

// ---------------------------------------------------------------- arbitraries

const seed = fc.integer({ min: 0, max: 0x7fffffff });
const scale = fc.constantFrom(1, 1, 1, 0.01, 100);

/** A tensor spec of the given shape with a random seed and scale. */
export function tensor(shape: number[], dist?: TensorSpec['dist']): fc.Arbitrary<TensorSpec> {
  return fc
    .record({ seed, scale })
    .map(({ seed: s, scale: sc }) => ({ shape, seed: s, scale: sc, ...(dist && { dist }) }));
}

/** A size, now and then 0 (empty tensors take other kernel paths). */
const dim = (max = 4, min = 1): fc.Arbitrary<number> =>
  fc.oneof({ arbitrary: fc.integer({ min, max }), weight: 24 }, { arbitrary: fc.constant(0), weight: 1 });
const size = (max: number, min = 1): fc.Arbitrary<number> => fc.integer({ min, max });
const shapeOf = (minRank: number, maxRank: number, maxDim = 4): fc.Arbitrary<number[]> =>
  fc.array(dim(maxDim), { minLength: minRank, maxLength: maxRank });
const gradFlag = fc.oneof({ arbitrary: fc.constant(true), weight: 3 }, { arbitrary: fc.constant(false), weight: 1 });
/** An axis of a rank-r tensor, negative half the time, and now and then out of range. */
const axisOf = (rank: number): fc.Arbitrary<number> =>
  fc.oneof(
    { arbitrary: fc.integer({ min: -Math.max(rank, 1), max: Math.max(rank - 1, 0) }), weight: 15 },
    { arbitrary: fc.constantFrom(rank, -rank - 1), weight: 1 },
  );

/** x of any shape, for unary ops. */
const unary = (dist?: TensorSpec['dist']) =>
  shapeOf(0, 4).chain((shape) =>
    fc.record({ inputs: fc.record({ x: tensor(shape, dist) }), args: fc.constant({}), grad: gradFlag }),
  );

/** Two shapes that broadcast to a common one (and, now and then, two that do not). */
const broadcastPair: fc.Arbitrary<[number[], number[]]> = shapeOf(0, 4).chain((out) =>
  fc
    .tuple(
      fc.array(fc.boolean(), { minLength: out.length, maxLength: out.length }),
      fc.array(fc.boolean(), { minLength: out.length, maxLength: out.length }),
      fc.integer({ min: 0, max: out.length }),
      fc.integer({ min: 0, max: out.length }),
      fc.oneof({ arbitrary: fc.constant(false), weight: 15 }, { arbitrary: fc.constant(true), weight: 1 }),
    )
    .map(([onesA, onesB, dropA, dropB, clash]): [number[], number[]] => {
      const a = out.map((d, i) => (onesA[i] ? 1 : d)).slice(Math.min(dropA, out.length));
      const b = out.map((d, i) => (onesB[i] ? 1 : d)).slice(Math.min(dropB, out.length));
      // half the time one side keeps the full shape (the native kernel's fast path)
      const full = dropA % 2 === 0 ? ([out, b] as [number[], number[]]) : ([a, out] as [number[], number[]]);
      if (clash && out.length > 0) return [full[0], full[0].map((d) => d + 1)];
      return dropB % 3 === 0 ? [a, b] : full;
    }),
);

const binary = (bDist?: TensorSpec['dist']) =>
  broadcastPair.chain(([sa, sb]) =>
    fc.record({ inputs: fc.record({ a: tensor(sa), b: tensor(sb, bDist) }), args: fc.constant({}), grad: gradFlag }),
  );

/** Scalars for the scalar forms: ordinary ones and a few special ones. */
const scalarValue = fc.constantFrom(2, -0.5, 0, 1, 3.25, -7, 1e-3, -0, Number.NaN, Number.POSITIVE_INFINITY, 1e30);

/** Reduction axes: all (undefined), one, several (now and then repeated or out of range). */
const axesOf = (rank: number): fc.Arbitrary<number | number[] | undefined> =>
  fc.oneof(
    fc.constant(undefined),
    axisOf(rank),
    fc.uniqueArray(fc.integer({ min: 0, max: Math.max(rank - 1, 0) }), { minLength: 1, maxLength: Math.max(rank, 1) }),
    fc.array(axisOf(rank), { minLength: 1, maxLength: 3 }),
  );

const reduceArb = shapeOf(0, 4).chain((shape) =>
  fc.record({
    inputs: fc.record({ x: tensor(shape) }),
    args: fc.record({ axes: axesOf(shape.length), keepDims: fc.boolean() }),
    grad: gradFlag,
  }),
);

/** Product of the sizes of the reduced axes (for the tolerance's k). */
function reducedCount(shape: readonly number[], axes: number | number[] | undefined): number {
  if (axes === undefined) return shape.reduce((n, d) => n * d, 1);
  const list = typeof axes === 'number' ? [axes] : axes;
  return list.reduce((n, a) => n * (shape[a < 0 ? a + shape.length : a] ?? 1), 1);
}

/** An image batch [N, C, H, W] (3-D [C, H, W] now and then). */
const image = (maxC = 4, maxHW = 7, minHW = 1): fc.Arbitrary<number[]> =>
  fc
    .tuple(fc.integer({ min: 1, max: 2 }), size(maxC), size(maxHW, minHW), size(maxHW, minHW), fc.nat(9))
    .map(([n, c, h, w, r]) => (r === 0 ? [c, h, w] : [n, c, h, w]));

const pairOf = (a: fc.Arbitrary<number>): fc.Arbitrary<number | [number, number]> => fc.oneof(a, fc.tuple(a, a));

// ---------------------------------------------------------------- the ops

type NoArgs = Record<string, never>;
type Unary = (x: Tensor) => Tensor;
const unaryOp = (name: string, f: Unary, dist?: TensorSpec['dist']): OpSpec =>
  def<NoArgs>({
    name,
    arb: () => unary(dist),
    call: (t) => f(t.x),
    grads: ['x'],
    // gradients like gy * (1 - y^2) lose digits to cancellation in float32: an error of about |gy| * EPS32
    dot: (m) => ({ k: 1, mag: Math.max(1, m.gy) }),
  });

type Binary = (a: Tensor, b: Tensor) => Tensor;
const binaryOp = (name: string, f: Binary, grads: readonly string[] = ['a', 'b'], bDist?: TensorSpec['dist']): OpSpec =>
  def<NoArgs>({
    name,
    arb: () => binary(bDist),
    call: (t) => f(t.a, t.b),
    grads,
    // the gradients of a broadcast operand are sums of gy * (1, b, 1/b or a/b^2) over the broadcast axes
    dot: (m, _a, s) => {
      const sizeA = s.a.reduce((n, d) => n * d, 1);
      const sizeB = s.b.reduce((n, d) => n * d, 1);
      const inv = name === 'div' ? 1 / Math.min(1, m['min:b']) : 1;
      return { k: Math.max(sizeA, sizeB), mag: m.gy * Math.max(1, m.a, m.b) * inv * inv };
    },
  });

interface ScalarArgs {
  value: number;
}
const scalarOp = (name: string, f: (x: Tensor, v: number) => Tensor): OpSpec =>
  def<ScalarArgs>({
    name,
    arb: () =>
      shapeOf(0, 4).chain((shape) =>
        fc.record({ inputs: fc.record({ x: tensor(shape) }), args: fc.record({ value: scalarValue }), grad: gradFlag }),
      ),
    call: (t, a) => f(t.x, a.value),
    grads: ['x'],
  });

interface ReduceArgs {
  axes?: number | number[];
  keepDims: boolean;
}
const reduceOp = (name: string, f: (x: Tensor, axes: number | number[] | undefined, keepDims: boolean) => Tensor) =>
  def<ReduceArgs>({
    name,
    arb: () => reduceArb,
    call: (t, a) => f(t.x, a.axes, a.keepDims),
    grads: ['x'],
    dot: (m, a, s) => ({ k: reducedCount(s.x, a.axes), mag: Math.max(m.x, m.gy) }),
  });

interface PoolArgs {
  kernelSize: number | [number, number];
  stride?: number | [number, number];
  padding?: number | [number, number];
  dilation?: number | [number, number];
  ceilMode?: boolean;
  countIncludePad?: boolean;
  divisorOverride?: number;
}
const poolArgs = (avg: boolean): fc.Arbitrary<PoolArgs> =>
  fc
    .record(
      {
        kernelSize: pairOf(fc.integer({ min: 1, max: 3 })),
        stride: pairOf(fc.integer({ min: 1, max: 3 })),
        padding: pairOf(fc.integer({ min: 0, max: 2 })),
        dilation: avg ? fc.constant(1) : pairOf(fc.constantFrom(1, 1, 1, 2)),
        ceilMode: fc.boolean(),
        countIncludePad: fc.boolean(),
        divisorOverride: fc.constantFrom(1, 2, 3, 5, -2, 0),
      },
      { requiredKeys: ['kernelSize'] },
    )
    .map((a) => {
      if (!avg) {
        const { countIncludePad: _c, divisorOverride: _d, ...rest } = a;
        return rest;
      }
      return a;
    });

interface ConvArgs {
  stride?: number | [number, number];
  padding?: number | [number, number] | [number, number, number, number] | 'same' | 'valid';
  dilation?: number | [number, number];
  groups?: number;
  relu?: boolean;
}

/** A convolution: x, w, optional b, with channels that split into the groups (mostly). */
/**
 * A convolution: x, w, optional b, with channels that split into the groups (mostly). `wide`
 * takes channel counts of 8 to 32 (oneDNN's blocked layouts and JIT kernels, depthwise convs).
 */
const convArb = (fused: boolean, wide = false): fc.Arbitrary<CaseBody<ConvArgs>> =>
  fc
    .record({
      n: fc.integer({ min: 1, max: 2 }),
      groups: wide ? fc.constantFrom(1, 1, 2, 8) : fc.constantFrom(1, 1, 1, 2, 3),
      cpg: wide ? fc.constantFrom(1, 4, 8, 16) : size(3),
      opg: wide ? fc.constantFrom(2, 8, 16, 3) : size(3),
      h: size(7),
      w: size(7),
      kh: size(3),
      kw: size(3),
      threeD: fc.nat(9),
      bias: fc.boolean(),
      mismatch: fc.nat(30),
      opts: fc.record(
        {
          stride: pairOf(fc.integer({ min: 1, max: 3 })),
          padding: fc.oneof(
            fc.integer({ min: 0, max: 2 }),
            fc.tuple(fc.nat(2), fc.nat(2)),
            fc.tuple(fc.nat(2), fc.nat(2), fc.nat(2), fc.nat(2)),
            fc.constantFrom('same' as const, 'valid' as const),
          ),
          dilation: pairOf(fc.constantFrom(1, 1, 2, 3)),
        },
        { requiredKeys: [] },
      ),
      relu: fc.boolean(),
      addend: fc.boolean(),
    })
    .chain((p) => {
      const c = p.cpg * p.groups + (p.mismatch === 0 ? 1 : 0);
      const o = p.opg * p.groups;
      const xShape = p.threeD === 0 && !fused ? [c, p.h, p.w] : [p.n, c, p.h, p.w];
      const wShape = [o, p.cpg, p.kh, p.kw];
      const args: ConvArgs = { ...p.opts, groups: p.groups, ...(fused && { relu: p.relu }) };
      const inputs: Record<string, fc.Arbitrary<TensorSpec>> = { x: tensor(xShape), w: tensor(wShape) };
      if (p.bias) inputs.b = tensor([o]);
      if (fused && p.addend) {
        let outShape = [1];
        try {
          const g = ops.conv2dGeometry(xShape, wShape, args);
          outShape = [g.batch, g.outChannels, g.outH, g.outW];
        } catch {}
        inputs.addend = tensor(outShape);
      }
      return fc.record({
        inputs: fc.record(inputs),
        args: fc.constant(args),
        grad: fused ? fc.constant(false) : gradFlag,
      });
    });

const convDot = (m: Record<string, number>, _a: ConvArgs, s: Record<string, readonly number[]>): DotScale => {
  const [o, cpg, kh, kw] = s.w;
  const x = s.x;
  const spatial = x.length === 4 ? x[0] * x[2] * x[3] : x[1] * x[2];
  // forward sums cpg*kh*kw terms; the data gradient up to (o/groups)*kh*kw; the weight gradient n*oh*ow
  return {
    k: Math.max(cpg * kh * kw, o * kh * kw, spatial),
    mag: Math.max(m.x * m.w, m.gy * m.w, m.gy * m.x, m.b ?? 0, m.addend ?? 0, m.gy),
  };
};

interface MatmulArgs {
  relu?: boolean;
}

interface BatchNormArgs {
  training: boolean;
  momentum: number;
  eps: number;
  relu: boolean;
}

interface LossArgs {
  target: number[];
  reduction: 'mean' | 'sum' | 'none';
  labelSmoothing: number;
}

const lossArb: fc.Arbitrary<CaseBody<LossArgs>> = fc.tuple(size(5, 0), size(6)).chain(([n, c]) =>
  fc.record({
    inputs: fc.record({ x: tensor([n, c]) }),
    args: fc.record({
      target: fc.array(
        fc.oneof(
          { arbitrary: fc.integer({ min: 0, max: c - 1 }), weight: 40 },
          { arbitrary: fc.constantFrom(-1, c, 0.5), weight: 1 },
        ),
        { minLength: n, maxLength: n },
      ),
      reduction: fc.constantFrom('mean' as const, 'sum' as const, 'none' as const),
      labelSmoothing: fc.constantFrom(0, 0, 0.1, 0.5, 1, 1.5),
    }),
    grad: gradFlag,
  }),
);

/** Every op the fuzzer knows, by name. */
export const OPS: readonly OpSpec[] = [
  // activations and unary math
  unaryOp('relu', ops.relu),
  unaryOp('sigmoid', ops.sigmoid),
  unaryOp('tanh', ops.tanh),
  unaryOp('neg', ops.neg),
  unaryOp('exp', ops.exp),
  unaryOp('log', ops.log, 'positive'),
  unaryOp('sqrt', ops.sqrt, 'positive'),
  unaryOp('square', ops.square),
  unaryOp('abs', ops.abs),
  def<{ exponent: number }>({
    name: 'pow',
    arb: () =>
      shapeOf(0, 4).chain((shape) =>
        fc.record({
          inputs: fc.record({ x: tensor(shape, 'positive') }),
          args: fc.record({ exponent: fc.constantFrom(2, 3, 0.5, -1, 0, 1.5, -2.5) }),
          grad: gradFlag,
        }),
      ),
    call: (t, a) => ops.pow(t.x, a.exponent),
    grads: ['x'],
  }),
  def<{ low?: number; high?: number }>({
    name: 'clamp',
    arb: () =>
      shapeOf(0, 4).chain((shape) =>
        fc.record({
          inputs: fc.record({ x: tensor(shape) }),
          args: fc.record(
            { low: fc.constantFrom(-1, 0, 0.5, -0.25, 2), high: fc.constantFrom(1, 0, 0.5, -0.5, 3) },
            { requiredKeys: [] },
          ),
          grad: gradFlag,
        }),
      ),
    call: (t, a) => ops.clamp(t.x, a.low, a.high),
    grads: ['x'],
  }),
  // binary with broadcasting, scalar forms, comparisons
  binaryOp('add', ops.add),
  binaryOp('sub', ops.sub),
  binaryOp('mul', ops.mul),
  binaryOp('div', ops.div),
  binaryOp('addRelu', ops.addRelu),
  binaryOp('maximum', ops.maximum),
  binaryOp('minimum', ops.minimum),
  binaryOp('eq', ops.eq, []),
  binaryOp('gt', ops.gt, []),
  binaryOp('lt', ops.lt, []),
  scalarOp('addScalar', ops.add),
  scalarOp('subScalar', ops.sub),
  scalarOp('mulScalar', ops.mul),
  scalarOp('divScalar', ops.div),
  scalarOp('rsub', (x, v) => ops.rsub(v, x)),
  // conversion and creation
  def<NoArgs>({
    name: 'cast',
    arb: () => unary(),
    call: (t) => ops.cast(ops.mul(ops.cast(t.x, 'float64'), 3), 'float32'),
    grads: ['x'],
  }),
  def<{ shape: number[]; value: number }>({
    name: 'full',
    arb: () =>
      fc.record({
        inputs: fc.constant({}),
        args: fc.record({ shape: shapeOf(0, 4), value: scalarValue }),
        grad: fc.constant(false),
      }),
    call: (_t, a, backend) => ops.full(a.shape, a.value, { backend }),
  }),
  def<{ start: number; end: number; step: number }>({
    name: 'arange',
    arb: () =>
      fc.record({
        inputs: fc.constant({}),
        args: fc.record({
          start: fc.integer({ min: -5, max: 5 }),
          end: fc.integer({ min: -5, max: 12 }),
          step: fc.constantFrom(1, 2, 0.5, -1, 0.3, 0),
        }),
        grad: fc.constant(false),
      }),
    call: (_t, a, backend) => ops.arange(a.start, a.end, a.step, { backend }),
  }),
  def<{ shape: number[]; seed: number; kind: 'randn' | 'uniform' }>({
    name: 'random',
    arb: () =>
      fc.record({
        inputs: fc.constant({}),
        args: fc.record({ shape: shapeOf(0, 4), seed, kind: fc.constantFrom('randn' as const, 'uniform' as const) }),
        grad: fc.constant(false),
      }),
    call: (_t, a, backend) =>
      a.kind === 'randn'
        ? ops.randn(a.shape, { backend, generator: new Generator(a.seed) })
        : ops.uniform(a.shape, -2, 3, { backend, generator: new Generator(a.seed) }),
  }),
  // layout
  def<{ shape: number[] }>({
    name: 'reshape',
    arb: () =>
      shapeOf(0, 4).chain((shape) =>
        fc.record({
          inputs: fc.record({ x: tensor(shape) }),
          args: fc.record({
            shape: fc.oneof<fc.Arbitrary<number[]>[]>(
              fc
                .shuffledSubarray(shape, { minLength: shape.length, maxLength: shape.length })
                .map((s) => [...s].reverse()),
              fc.constant<number[]>([-1]),
              fc.constant<number[]>([...shape, 1]),
              fc.constant<number[]>(shape.length > 0 ? [-1, shape[shape.length - 1]] : [1, -1]),
              fc.constant<number[]>([2, -1, 3]),
            ),
          }),
          grad: gradFlag,
        }),
      ),
    call: (t, a) => ops.mul(ops.reshape(t.x, a.shape), 2),
    grads: ['x'],
  }),
  def<{ start: number; end: number }>({
    name: 'flatten',
    arb: () =>
      shapeOf(0, 4).chain((shape) =>
        fc.record({
          inputs: fc.record({ x: tensor(shape) }),
          args: fc.record({ start: axisOf(shape.length), end: axisOf(shape.length) }),
          grad: gradFlag,
        }),
      ),
    call: (t, a) => ops.mul(ops.flatten(t.x, a.start, a.end), 2),
    grads: ['x'],
  }),
  def<{ axis: number; squeeze: boolean }>({
    name: 'squeeze',
    arb: () =>
      fc.array(fc.constantFrom(1, 1, 2, 3), { maxLength: 4 }).chain((shape) =>
        fc.record({
          inputs: fc.record({ x: tensor(shape) }),
          args: fc.record({ axis: axisOf(shape.length + 1), squeeze: fc.boolean() }),
          grad: gradFlag,
        }),
      ),
    call: (t, a) => ops.mul(a.squeeze ? ops.squeeze(t.x, a.axis) : ops.unsqueeze(t.x, a.axis), 2),
    grads: ['x'],
  }),
  def<{ perm: number[] }>({
    name: 'permute',
    arb: () =>
      shapeOf(0, 5).chain((shape) =>
        fc.record({
          inputs: fc.record({ x: tensor(shape) }),
          args: fc.record({
            perm: fc.oneof(
              {
                arbitrary: fc.shuffledSubarray([...shape.keys()], { minLength: shape.length, maxLength: shape.length }),
                weight: 10,
              },
              { arbitrary: fc.array(axisOf(shape.length), { maxLength: 5 }), weight: 1 },
            ),
          }),
          grad: gradFlag,
        }),
      ),
    call: (t, a) => ops.permute(t.x, a.perm),
    grads: ['x'],
  }),
  def<{ dim0: number; dim1: number }>({
    name: 'transpose',
    arb: () =>
      shapeOf(1, 4).chain((shape) =>
        fc.record({
          inputs: fc.record({ x: tensor(shape) }),
          args: fc.record({ dim0: axisOf(shape.length), dim1: axisOf(shape.length) }),
          grad: gradFlag,
        }),
      ),
    call: (t, a) => ops.transpose(t.x, a.dim0, a.dim1),
    grads: ['x'],
  }),
  def<{ axis: number; start: number; end?: number }>({
    name: 'slice',
    arb: () =>
      shapeOf(1, 4, 6).chain((shape) =>
        fc.record({
          inputs: fc.record({ x: tensor(shape) }),
          args: fc.record(
            {
              axis: axisOf(shape.length),
              start: fc.integer({ min: -7, max: 7 }),
              end: fc.integer({ min: -7, max: 8 }),
            },
            { requiredKeys: ['axis', 'start'] },
          ),
          grad: gradFlag,
        }),
      ),
    call: (t, a) => ops.slice(t.x, a.axis, a.start, a.end),
    grads: ['x'],
  }),
  def<{ axis: number }>({
    name: 'concat',
    arb: () =>
      fc
        .tuple(shapeOf(1, 4), fc.integer({ min: 1, max: 3 }), fc.nat(3), fc.nat(20))
        .chain(([shape, count, along, odd]) => {
          const axis = along % shape.length;
          const inputs: Record<string, fc.Arbitrary<TensorSpec>> = {};
          for (let i = 0; i < count; i++) {
            const s = [...shape];
            s[axis] = (shape[axis] + i) % 4;
            if (odd === 0 && i === 1) s[(axis + 1) % s.length] += 1;
            inputs[`x${i}`] = tensor(s);
          }
          return fc.record({
            inputs: fc.record(inputs),
            args: fc.record({ axis: fc.constantFrom(axis, axis - shape.length) }),
            grad: gradFlag,
          });
        }),
    call: (t, a) =>
      ops.concat(
        Object.keys(t)
          .sort()
          .map((k) => t[k]),
        a.axis,
      ),
    grads: ['x0', 'x1', 'x2'],
  }),
  // Inputs in several joins: each gradient is a sum of boxes of the joins' gradients (sumSlices).
  def<{ axis: number }>({
    name: 'concatRepeated',
    arb: () =>
      shapeOf(1, 4).chain((shape) =>
        fc.record({
          inputs: fc.record({ a: tensor(shape), b: tensor(shape) }),
          args: fc.record({ axis: axisOf(shape.length) }),
          grad: gradFlag,
        }),
      ),
    call: (t, a) => ops.concat([ops.concat([t.a, t.b, t.a], a.axis), ops.concat([t.b, t.a], a.axis)], a.axis),
    grads: ['a', 'b'],
  }),
  def<{ padding: number[]; value: number }>({
    name: 'pad',
    arb: () =>
      shapeOf(1, 4).chain((shape) =>
        fc.record({
          inputs: fc.record({ x: tensor(shape) }),
          args: fc.record({
            padding: fc.array(
              fc.oneof({ arbitrary: fc.nat(3), weight: 20 }, { arbitrary: fc.constant(-1), weight: 1 }),
              {
                maxLength: 2 * shape.length + 1,
              },
            ),
            value: fc.constantFrom(0, 0, 1.5, -2, Number.NaN, Number.NEGATIVE_INFINITY),
          }),
          grad: gradFlag,
        }),
      ),
    call: (t, a) => ops.pad(t.x, a.padding, a.value),
    grads: ['x'],
  }),
  def<{ shape: number[] }>({
    name: 'expand',
    arb: () =>
      broadcastPair.chain(([sa, sb]) =>
        fc.record({
          inputs: fc.record({ x: tensor(sa) }),
          args: fc.constant({ shape: sb.length >= sa.length ? sb : sa }),
          grad: gradFlag,
        }),
      ),
    call: (t, a) => ops.expand(t.x, a.shape),
    grads: ['x'],
  }),
  // products
  def<NoArgs>({
    name: 'matmul',
    arb: () =>
      fc
        .record({
          batch: fc.array(size(3), { maxLength: 2 }),
          dropA: fc.nat(2),
          dropB: fc.nat(2),
          onesA: fc.boolean(),
          m: dim(5),
          k: dim(6),
          n: dim(5),
          clash: fc.nat(30),
          rankOne: fc.nat(30),
        })
        .chain((p) => {
          const ba = p.batch.slice(Math.min(p.dropA, p.batch.length)).map((d, i) => (p.onesA && i === 0 ? 1 : d));
          const bb = p.batch.slice(Math.min(p.dropB, p.batch.length));
          const a = p.rankOne === 0 ? [p.k] : [...ba, p.m, p.k];
          const b = [...bb, p.k + (p.clash === 0 ? 1 : 0), p.n];
          return fc.record({
            inputs: fc.record({ a: tensor(a), b: tensor(b) }),
            args: fc.constant({}),
            grad: gradFlag,
          });
        }),
    call: (t) => ops.matmul(t.a, t.b),
    grads: ['a', 'b'],
    dot: (m, _a, s) => ({
      k:
        Math.max(s.a[s.a.length - 1], s.b[s.b.length - 1], s.a[s.a.length - 2] ?? 1) *
        Math.max(1, s.a.length > 2 ? s.a[0] : 1, s.b.length > 2 ? s.b[0] : 1),
      mag: Math.max(m.a * m.b, m.gy * m.a, m.gy * m.b),
    }),
  }),
  def<MatmulArgs>({
    name: 'linear',
    arb: () =>
      fc
        .record({
          lead: fc.array(size(3), { maxLength: 2 }),
          inF: dim(6),
          outF: dim(5),
          bias: fc.boolean(),
          relu: fc.nat(3),
          clash: fc.nat(30),
        })
        .chain((p) => {
          const inputs: Record<string, fc.Arbitrary<TensorSpec>> = {
            x: tensor([...p.lead, p.inF + (p.clash === 0 ? 1 : 0)]),
            w: tensor([p.outF, p.inF]),
          };
          if (p.bias) inputs.b = tensor([p.outF]);
          const relu = p.relu === 0;
          return fc.record({
            inputs: fc.record(inputs),
            args: fc.constant({ relu }),
            grad: relu ? fc.constant(false) : gradFlag,
          });
        }),
    call: (t, a) => ops.linear(t.x, t.w, t.b ?? null, { relu: a.relu }),
    grads: ['x', 'w', 'b'],
    dot: (m, _a, s) => ({
      k: Math.max(
        s.w[1],
        s.w[0],
        s.x.slice(0, -1).reduce((n, d) => n * d, 1),
      ),
      mag: Math.max(m.x * m.w, m.gy * m.w, m.gy * m.x, m.b ?? 0, m.gy),
    }),
  }),
  // reductions
  reduceOp('sum', (x, axes, keepDims) => ops.sum(x, axes, { keepDims })),
  reduceOp('mean', (x, axes, keepDims) => ops.mean(x, axes, { keepDims })),
  reduceOp('max', (x, axes, keepDims) => ops.max(x, axes, { keepDims })),
  reduceOp('min', (x, axes, keepDims) => ops.min(x, axes, { keepDims })),
  def<{ axis: number; keepDims: boolean }>({
    name: 'argmax',
    arb: () =>
      shapeOf(1, 4).chain((shape) =>
        fc.record({
          inputs: fc.record({ x: tensor(shape) }),
          args: fc.record({ axis: axisOf(shape.length), keepDims: fc.boolean() }),
          grad: fc.constant(false),
        }),
      ),
    call: (t, a) => ops.argmax(t.x, a.axis, { keepDims: a.keepDims }),
  }),
  ...(['variance', 'std'] as const).map((name) =>
    def<{ axes?: number | number[]; keepDims: boolean; correction: number }>({
      name,
      arb: () =>
        shapeOf(0, 4).chain((shape) =>
          fc.record({
            inputs: fc.record({ x: tensor(shape) }),
            args: fc.record(
              { axes: axesOf(shape.length), keepDims: fc.boolean(), correction: fc.constantFrom(1, 0, 2, 0.5, -1) },
              { requiredKeys: ['keepDims', 'correction'] },
            ),
            grad: gradFlag,
          }),
        ),
      call: (t, a) => (name === 'std' ? ops.std : ops.variance)(t.x, a.axes, a),
      grads: ['x'],
      dot: (m, a, s) => ({ k: reducedCount(s.x, a.axes), mag: Math.max(m.x * m.x, m.gy * m.x) }),
    }),
  ),
  // softmax
  ...(['softmax', 'logSoftmax'] as const).map((name) =>
    def<{ axis: number }>({
      name,
      arb: () =>
        shapeOf(1, 4, 6).chain((shape) =>
          fc.record({
            inputs: fc.record({ x: tensor(shape) }),
            args: fc.record({ axis: axisOf(shape.length) }),
            grad: gradFlag,
          }),
        ),
      call: (t, a) => (name === 'softmax' ? ops.softmax : ops.logSoftmax)(t.x, a.axis),
      grads: ['x'],
      dot: (m, a, s) => ({ k: s.x[a.axis < 0 ? a.axis + s.x.length : a.axis] ?? 1, mag: Math.max(1, m.gy) }),
    }),
  ),
  // convolution and pooling
  def<ConvArgs>({
    name: 'conv2d',
    arb: () => convArb(false),
    call: (t, a) => ops.conv2d(t.x, t.w, t.b ?? null, a),
    grads: ['x', 'w', 'b'],
    dot: convDot,
  }),
  def<ConvArgs>({
    name: 'conv2dWide',
    arb: () => convArb(false, true),
    call: (t, a) => ops.conv2d(t.x, t.w, t.b ?? null, a),
    grads: ['x', 'w', 'b'],
    dot: convDot,
  }),
  def<ConvArgs>({
    name: 'conv2dFused',
    arb: () => convArb(true),
    call: (t, a) => ops.conv2d(t.x, t.w, t.b ?? null, a, { addend: t.addend ?? null, relu: a.relu }),
    dot: convDot,
  }),
  def<ConvArgs>({
    name: 'conv2dFusedWide',
    arb: () => convArb(true, true),
    call: (t, a) => ops.conv2d(t.x, t.w, t.b ?? null, a, { addend: t.addend ?? null, relu: a.relu }),
    dot: convDot,
  }),
  def<PoolArgs>({
    name: 'maxPool2d',
    arb: () =>
      fc
        .tuple(image(), poolArgs(false))
        .chain(([shape, args]) =>
          fc.record({ inputs: fc.record({ x: tensor(shape) }), args: fc.constant(args), grad: gradFlag }),
        ),
    call: (t, a) => ops.maxPool2d(t.x, a),
    grads: ['x'],
    // the gradient sums gy over the overlapping windows that chose a pixel, in some order
    dot: (m, a) => {
      const [kh, kw] = typeof a.kernelSize === 'number' ? [a.kernelSize, a.kernelSize] : a.kernelSize;
      return { k: kh * kw, mag: m.gy };
    },
  }),
  def<PoolArgs>({
    name: 'avgPool2d',
    arb: () =>
      fc.tuple(image(), poolArgs(true), fc.nat(3)).chain(([shape, { divisorOverride, ...args }, useDivisor]) =>
        fc.record({
          inputs: fc.record({ x: tensor(shape) }),
          args: fc.constant(useDivisor === 0 ? { ...args, divisorOverride } : args),
          grad: gradFlag,
        }),
      ),
    call: (t, a) => ops.avgPool2d(t.x, a),
    grads: ['x'],
    dot: (m, a) => {
      const k = typeof a.kernelSize === 'number' ? a.kernelSize ** 2 : a.kernelSize[0] * a.kernelSize[1];
      return { k, mag: Math.max(m.x, m.gy) };
    },
  }),
  def<{ outputSize: number | [number, number] }>({
    name: 'adaptiveAvgPool2d',
    arb: () =>
      fc.tuple(image(3, 8), fc.nat(2), pairOf(fc.integer({ min: 1, max: 4 }))).chain(([shape, divisible, out]) => {
        // half the cases pick an output that divides the input (oneDNN's path)
        const [h, w] = shape.slice(-2);
        const divs = (n: number): number[] => [...Array(n).keys()].map((i) => i + 1).filter((d) => n % d === 0);
        const outputSize =
          divisible === 0 ? out : ([divs(h)[h % divs(h).length], divs(w)[w % divs(w).length]] as [number, number]);
        return fc.record({
          inputs: fc.record({ x: tensor(shape) }),
          args: fc.constant({ outputSize }),
          grad: gradFlag,
        });
      }),
    call: (t, a) => ops.adaptiveAvgPool2d(t.x, a.outputSize),
    grads: ['x'],
    dot: (m, _a, s) => ({ k: s.x[s.x.length - 1] * s.x[s.x.length - 2], mag: Math.max(m.x, m.gy) }),
  }),
  // normalisation
  def<BatchNormArgs>({
    name: 'batchNorm',
    arb: () =>
      fc
        .record({
          shape: fc.tuple(size(3), size(4), fc.array(size(4), { maxLength: 2 })).map(([n, c, sp]) => [n, c, ...sp]),
          affine: fc.boolean(),
          running: fc.nat(3),
          args: fc.record({
            training: fc.boolean(),
            momentum: fc.constantFrom(0.1, 0, 1, 0.5),
            eps: fc.constantFrom(1e-5, 1e-3, 0),
            relu: fc.boolean(),
          }),
        })
        .chain((p) => {
          const c = [p.shape[1]];
          const inputs: Record<string, fc.Arbitrary<TensorSpec>> = { x: tensor(p.shape) };
          if (p.affine) Object.assign(inputs, { weight: tensor(c), bias: tensor(c) });
          if (p.running > 0 || !p.args.training)
            Object.assign(inputs, { runningMean: tensor(c), runningVar: tensor(c, 'positive') });
          return fc.record({ inputs: fc.record(inputs), args: fc.constant(p.args), grad: gradFlag });
        }),
    call: (t, a) => {
      const y = ops.batchNorm(t.x, {
        ...a,
        weight: t.weight,
        bias: t.bias,
        runningMean: t.runningMean,
        runningVar: t.runningVar,
      });
      return t.runningMean ? { y, runningMean: t.runningMean, runningVar: t.runningVar } : y;
    },
    grads: ['x', 'weight', 'bias'],
    // the input gradient is w * invStd * (gy - mean(gy) - xhat * mean(gy * xhat)): cancellation scaled by w * invStd
    dot: (m, a, s, v) => {
      const count = s.x.reduce((n, d) => n * d, 1) / s.x[1];
      const inv = maxInvStd(v.x, s.x, a.training ? undefined : v.runningVar, a.eps);
      return {
        k: count,
        mag:
          Math.max(1, m.gy) * Math.max(1, m.weight ?? 1) * Math.max(1, inv) +
          (m.bias ?? 0) +
          (m.runningMean ?? 0) * inv,
        // the variance squares x; w * invStd may pass float32's range on its own
        range:
          Math.max(m.x, m.runningMean ?? 0) ** 2 * count + (m.weight ?? 1) * inv * Math.max(1, m.x, m.runningMean ?? 0),
      };
    },
  }),
  def<{ eps: number; relu: boolean }>({
    name: 'concatBatchNorm',
    arb: () =>
      fc
        .tuple(size(2), fc.array(size(4), { minLength: 1, maxLength: 3 }), size(4), size(4), fc.boolean())
        .chain(([n, cs, h, w, affine]) => {
          const c = [cs.reduce((a, b) => a + b, 0)];
          const inputs: Record<string, fc.Arbitrary<TensorSpec>> = {
            runningMean: tensor(c),
            runningVar: tensor(c, 'positive'),
          };
          cs.forEach((ci, i) => {
            inputs[`x${i}`] = tensor([n, ci, h, w]);
          });
          if (affine) Object.assign(inputs, { weight: tensor(c), bias: tensor(c) });
          return fc.record({
            inputs: fc.record(inputs),
            args: fc.record({ eps: fc.constantFrom(1e-5, 1e-3), relu: fc.boolean() }),
            grad: fc.constant(false),
          });
        }),
    dot: (m, a, _s, v) => {
      const inv = maxInvStd(null, [], v.runningVar, a.eps);
      const xs = Math.max(
        ...Object.keys(m)
          .filter((k) => /^x\d$/.test(k))
          .map((k) => m[k]),
      );
      return { k: 1, mag: (xs + m.runningMean) * inv * Math.max(1, m.weight ?? 1) + (m.bias ?? 0) };
    },
    call: (t, a) =>
      ops.concatBatchNorm(
        Object.keys(t)
          .filter((k) => /^x\d$/.test(k))
          .sort()
          .map((k) => t[k]),
        { ...a, weight: t.weight, bias: t.bias, runningMean: t.runningMean, runningVar: t.runningVar },
      ),
  }),
  def<{ eps: number }>({
    name: 'foldBatchNorm',
    arb: () =>
      fc
        .tuple(size(5), shapeOf(1, 3, 3), fc.boolean(), fc.boolean(), fc.boolean())
        .chain(([c, inner, withBias, withGamma, withBeta]) => {
          const inputs: Record<string, fc.Arbitrary<TensorSpec>> = {
            weight: tensor([c, ...inner]),
            runningMean: tensor([c]),
            runningVar: tensor([c], 'positive'),
          };
          if (withBias) inputs.bias = tensor([c]);
          if (withGamma) inputs.gamma = tensor([c]);
          if (withBeta) inputs.beta = tensor([c]);
          return fc.record({
            inputs: fc.record(inputs),
            args: fc.record({ eps: fc.constantFrom(1e-5, 1e-3, 0) }),
            grad: fc.constant(false),
          });
        }),
    // one rounding per step; the scale 1 / sqrt(var + eps) can be large where eps is 0
    dot: (m, a, _s, v) => {
      const inv = maxInvStd(null, [], v.runningVar, a.eps);
      const scale = inv * Math.max(1, m.gamma ?? 1);
      return { k: 1, mag: Math.max(m.weight, (m.bias ?? 0) + m.runningMean) * scale + (m.beta ?? 0) };
    },
    call: (t, a) => {
      const r = ops.foldBatchNorm(t.weight, t.bias ?? null, {
        weight: t.gamma ?? null,
        bias: t.beta ?? null,
        runningMean: t.runningMean,
        runningVar: t.runningVar,
        eps: a.eps,
      });
      return { y: r.weight, bias: r.bias };
    },
  }),
  def<{ size: number; alpha: number; beta: number; k: number }>({
    name: 'localResponseNorm',
    arb: () =>
      fc.tuple(size(2), size(7), fc.array(size(4), { minLength: 1, maxLength: 2 })).chain(([n, c, sp]) =>
        fc.record({
          inputs: fc.record({ x: tensor([n, c, ...sp]) }),
          args: fc.record({
            size: fc.constantFrom(1, 3, 5, 2, 4, 0),
            alpha: fc.constantFrom(1e-4, 1e-2, 1),
            beta: fc.constantFrom(0.75, 0.5, 1, 2),
            k: fc.constantFrom(1, 2, 0.5),
          }),
          grad: gradFlag,
        }),
      ),
    call: (t, a) => ops.localResponseNorm(t.x, a),
    grads: ['x'],
    dot: (m, a) => ({ k: a.size, mag: Math.max(1, m.gy), range: a.size * a.alpha * m.x * m.x + a.k }),
  }),
  def<{ p: number; training: boolean; seed: number }>({
    name: 'dropout',
    arb: () =>
      shapeOf(0, 4).chain((shape) =>
        fc.record({
          inputs: fc.record({ x: tensor(shape) }),
          args: fc.record({ p: fc.constantFrom(0.5, 0, 0.1, 0.9, 1, 1.5, -0.1), training: fc.boolean(), seed }),
          grad: gradFlag,
        }),
      ),
    // mul by 1 so that the identity case still returns a new tensor with a graph
    call: (t, a) => ops.mul(ops.dropout(t.x, { p: a.p, training: a.training, generator: new Generator(a.seed) }), 1),
    grads: ['x'],
  }),
  // losses
  def<LossArgs>({
    name: 'crossEntropy',
    arb: () => lossArb,
    call: (t, a) => ops.crossEntropy(t.x, a.target, a),
    grads: ['x'],
    dot: (m, _a, s) => ({ k: s.x[0] * s.x[1], mag: Math.max(1, m.x, m.gy) }),
  }),
  def<LossArgs>({
    name: 'nllLoss',
    arb: () => lossArb,
    call: (t, a) => ops.nllLoss(t.x, a.target, a),
    grads: ['x'],
    dot: (m, _a, s) => ({ k: s.x[0] * s.x[1], mag: Math.max(m.x, m.gy) }),
  }),
  // chains: a convolution's output is blocked on the native backend; the next op must read it right
  def<{ next: ChainNext }>({
    name: 'convChain',
    arb: () =>
      fc
        .tuple(
          size(2),
          fc.constantFrom(1, 3, 16),
          fc.constantFrom(3, 5, 16, 24),
          size(6, 3),
          fc.constantFrom(...CHAIN_NEXT),
        )
        .chain(([n, c, o, hw, next]) => {
          const y = [n, o, hw, hw];
          return fc.record({
            inputs: fc.record({
              x: tensor([n, c, hw, hw]),
              w: tensor([o, c, 3, 3]),
              other: tensor(y),
              mean: tensor([o]),
              var: tensor([o], 'positive'),
            }),
            args: fc.constant({ next }),
            grad: gradFlag,
          });
        }),
    call: (t, a) => chainNext(a.next, ops.conv2d(t.x, t.w, null, { padding: 1 }), t),
    grads: ['x', 'w', 'other'],
    dot: (m, _a, s) => ({
      k: s.w[1] * 9 * Math.max(1, s.x[0] * s.x[2] * s.x[3]),
      mag: Math.max(m.x * m.w, m.gy * m.w, m.gy * m.x, m.gy, m.other) * 4,
    }),
  }),
];

/**
 * Largest 1 / sqrt(var + eps) over the channels: of the running variance when given, else of the
 * batch variance of x ([N, C, ...]).
 */
function maxInvStd(
  x: Float32Array | Float64Array | null,
  shape: readonly number[],
  runningVar: Float32Array | Float64Array | undefined,
  eps: number,
): number {
  let lowest = Number.POSITIVE_INFINITY;
  if (runningVar) for (const v of runningVar) lowest = Math.min(lowest, Math.abs(v));
  else if (x) {
    const [n, c] = shape;
    const spatial = shape.slice(2).reduce((p, d) => p * d, 1);
    for (let ch = 0; ch < c; ch++) {
      let sum = 0;
      let sq = 0;
      for (let i = 0; i < n; i++)
        for (let j = 0; j < spatial; j++) {
          const v = x[(i * c + ch) * spatial + j];
          sum += v;
          sq += v * v;
        }
      const count = n * spatial;
      lowest = Math.min(lowest, Math.max(0, sq / count - (sum / count) ** 2));
    }
  }
  const inv = 1 / Math.sqrt(lowest + eps);
  return Number.isFinite(inv) ? inv : 1 / Math.sqrt(EPS32 * EPS32);
}

const CHAIN_NEXT = [
  'relu',
  'sigmoid',
  'add',
  'addSwapped',
  'addRelu',
  'mul',
  'batchNormTrain',
  'batchNormEval',
  'maxPool',
  'avgPool',
  'sliceChannels',
  'padChannels',
  'concat',
  'mean',
  'softmax',
  'lrn',
  'permute',
] as const;
type ChainNext = (typeof CHAIN_NEXT)[number];

function chainNext(next: ChainNext, y: Tensor, t: Record<string, Tensor>): Tensor {
  switch (next) {
    case 'relu':
      return ops.relu(y);
    case 'sigmoid':
      return ops.sigmoid(y);
    case 'add':
      return ops.add(y, t.other);
    case 'addSwapped':
      return ops.add(t.other, y);
    case 'addRelu':
      return ops.addRelu(t.other, y);
    case 'mul':
      return ops.mul(y, t.other);
    case 'batchNormTrain':
      return ops.batchNorm(y, { training: true });
    case 'batchNormEval':
      return ops.batchNorm(y, { training: false, runningMean: t.mean, runningVar: t.var });
    case 'maxPool':
      return ops.maxPool2d(y, { kernelSize: 2, stride: 2, ceilMode: true });
    case 'avgPool':
      return ops.avgPool2d(y, { kernelSize: 3, stride: 2, padding: 1 });
    case 'sliceChannels':
      return ops.slice(y, 1, 1);
    case 'padChannels':
      return ops.pad(y, [0, 0, 0, 0, 2, 3]);
    case 'concat':
      return ops.concat([y, t.other, y], 1);
    case 'mean':
      return ops.mean(y, [2, 3]);
    case 'softmax':
      return ops.softmax(y, 1);
    case 'lrn':
      return ops.localResponseNorm(y, { size: 3, alpha: 0.01 });
    case 'permute':
      return ops.permute(y, [0, 2, 3, 1]);
  }
}

export const OP_NAMES: readonly string[] = OPS.map((o) => o.name);

export function opSpec(name: string): OpSpec {
  const spec = OPS.find((o) => o.name === name);
  if (!spec) throw new Error(`unknown fuzz op '${name}'; known: ${OP_NAMES.join(', ')}`);
  return spec;
}
