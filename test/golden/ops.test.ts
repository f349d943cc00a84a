/**
 * Every op against PyTorch 1.13: forward values, the gradients of sum(output * upstream) for every
 * differentiable input, and batch norm's updated running statistics. The numbers come from
 * test/golden/ops.json, written by scripts/golden/ops.py (see test/golden/README.md); this test
 * only maps each case onto convkit's call, and runs each on the ref and on the native backend by
 * name (native cases are skipped when the addon does not load, and fail with CONVKIT_REQUIRE_NATIVE=1).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { withBackend } from '../../src/backend/registry.js';
import type { Tensor } from '../../src/core/tensor.js';
import * as ops from '../../src/ops/index.js';
import {
  assertMatchesGolden,
  GoldenArgs,
  type GoldenCase,
  goldenToInts,
  goldenToTensor,
  loadGolden,
} from '../helpers/golden.js';
import { nativeSkipReason } from '../backend/native-helpers.js';

const golden = loadGolden('ops');
const nativeSkip = nativeSkipReason('golden ops');

/** A case's inputs on the convkit side: float tensors (leaves) and integer targets. */
class CaseInputs {
  readonly tensors = new Map<string, Tensor>();
  readonly ints = new Map<string, Int32Array>();

  constructor(readonly c: GoldenCase) {
    for (const [name, t] of Object.entries(c.inputs)) {
      if (t.dtype === 'int') this.ints.set(name, goldenToInts(t));
      else this.tensors.set(name, goldenToTensor(t, name in c.grads));
    }
  }

  get(name: string): Tensor {
    return this.tensors.get(name) ?? assert.fail(`golden case "${this.c.name}" has no input '${name}'`);
  }

  /** null where the case leaves the input out (a conv without bias). */
  optional(name: string): Tensor | null {
    return this.tensors.get(name) ?? null;
  }

  target(name: string): Int32Array {
    return this.ints.get(name) ?? assert.fail(`golden case "${this.c.name}" has no integer input '${name}'`);
  }

  /** x0, x1, ... in order (the operands of concat). */
  numbered(prefix: string): Tensor[] {
    const pattern = new RegExp(`^${prefix}\\d+$`);
    return [...this.tensors.entries()].filter(([name]) => pattern.test(name)).map(([, t]) => t);
  }
}

type ConvPadding = NonNullable<ops.Conv2dOptions['padding']>;

function convPadding(a: GoldenArgs): ConvPadding | undefined {
  const p = a.raw('padding');
  if (p === 'same' || p === 'valid') return p;
  const n = a.numberOrNumbers('padding');
  if (n === undefined || typeof n === 'number') return n;
  if (n.length === 2) return [n[0], n[1]];
  if (n.length === 4) return [n[0], n[1], n[2], n[3]];
  return assert.fail(`padding ${JSON.stringify(p)} is not a conv2d padding`);
}

function reduction(a: GoldenArgs): 'mean' | 'sum' | 'none' | undefined {
  const r = a.string('reduction');
  if (r === undefined || r === 'mean' || r === 'sum' || r === 'none') return r;
  return assert.fail(`unknown reduction '${r}'`);
}

function poolOptions(a: GoldenArgs): ops.Pool2dOptions {
  const kernelSize = a.intOrPair('kernelSize') ?? assert.fail('pooling cases need args.kernelSize');
  return {
    kernelSize,
    stride: a.intOrPair('stride'),
    padding: a.intOrPair('padding'),
    dilation: a.intOrPair('dilation'),
    ceilMode: a.boolean('ceilMode'),
  };
}

const reduceOptions = (a: GoldenArgs): { keepDims?: boolean } => ({ keepDims: a.boolean('keepDims') });

/** Each fixture op name -> the convkit call it stands for. */
const RUNNERS: Record<string, (x: CaseInputs, a: GoldenArgs) => Tensor> = {
  conv2d: (x, a) =>
    ops.conv2d(x.get('x'), x.get('weight'), x.optional('bias'), {
      stride: a.intOrPair('stride'),
      padding: convPadding(a),
      dilation: a.intOrPair('dilation'),
      groups: a.number('groups'),
    }),
  maxPool2d: (x, a) => ops.maxPool2d(x.get('x'), poolOptions(a)),
  avgPool2d: (x, a) =>
    ops.avgPool2d(x.get('x'), {
      ...poolOptions(a),
      countIncludePad: a.boolean('countIncludePad'),
      divisorOverride: a.number('divisorOverride'),
    }),
  adaptiveAvgPool2d: (x, a) =>
    ops.adaptiveAvgPool2d(x.get('x'), a.intOrPair('outputSize') ?? assert.fail('needs args.outputSize')),
  batchNorm: (x, a) =>
    ops.batchNorm(x.get('x'), {
      weight: x.optional('weight'),
      bias: x.optional('bias'),
      runningMean: x.optional('runningMean'),
      runningVar: x.optional('runningVar'),
      training: a.boolean('training'),
      momentum: a.number('momentum'),
      eps: a.number('eps'),
    }),
  localResponseNorm: (x, a) =>
    ops.localResponseNorm(x.get('x'), {
      size: a.requiredNumber('size'),
      alpha: a.number('alpha'),
      beta: a.number('beta'),
      k: a.number('k'),
    }),
  relu: (x) => ops.relu(x.get('x')),
  clamp: (x, a) => ops.clamp(x.get('x'), a.number('low'), a.number('high')),
  maximum: (x) => ops.maximum(x.get('a'), x.get('b')),
  minimum: (x) => ops.minimum(x.get('a'), x.get('b')),
  sigmoid: (x) => ops.sigmoid(x.get('x')),
  tanh: (x) => ops.tanh(x.get('x')),
  softmax: (x, a) => ops.softmax(x.get('x'), a.requiredNumber('axis')),
  logSoftmax: (x, a) => ops.logSoftmax(x.get('x'), a.requiredNumber('axis')),
  linear: (x) => ops.linear(x.get('x'), x.get('weight'), x.optional('bias')),
  matmul: (x) => ops.matmul(x.get('a'), x.get('b')),
  add: (x) => ops.add(x.get('a'), x.get('b')),
  mul: (x) => ops.mul(x.get('a'), x.get('b')),
  flatten: (x, a) => ops.flatten(x.get('x'), a.number('startDim'), a.number('endDim')),
  concat: (x, a) => ops.concat(x.numbered('x'), a.requiredNumber('axis')),
  pad: (x, a) => ops.pad(x.get('x'), a.numbers('padding') ?? assert.fail('needs args.padding'), a.number('value')),
  permute: (x, a) => ops.permute(x.get('x'), a.numbers('perm') ?? assert.fail('needs args.perm')),
  sum: (x, a) => ops.sum(x.get('x'), a.numberOrNumbers('axes'), reduceOptions(a)),
  mean: (x, a) => ops.mean(x.get('x'), a.numberOrNumbers('axes'), reduceOptions(a)),
  max: (x, a) => ops.max(x.get('x'), a.numberOrNumbers('axes'), reduceOptions(a)),
  crossEntropy: (x, a) =>
    ops.crossEntropy(x.get('logits'), x.target('target'), {
      reduction: reduction(a),
      labelSmoothing: a.number('labelSmoothing'),
    }),
  nllLoss: (x, a) => ops.nllLoss(x.get('logProbs'), x.target('target'), { reduction: reduction(a) }),
};

/**
 * The call for a fixture op without an entry in RUNNERS: convkit's function of that name on the
 * case's inputs in the fixture's order, then its args as the options object when it has any. That
 * is the form of an op that takes tensors and then options, so such an op's golden case is its
 * golden() call in scripts/golden/ops.py alone; an op of another form needs a runner above.
 */
function defaultRunner(op: string): ((x: CaseInputs) => Tensor) | undefined {
  const fn: unknown = Reflect.get(ops, op);
  if (typeof fn !== 'function') return undefined;
  return (x) => {
    const inputs = Object.keys(x.c.inputs).map((name) => x.tensors.get(name) ?? x.target(name));
    const options = Object.keys(x.c.args).length > 0 ? [x.c.args] : [];
    return fn(...inputs, ...options) as Tensor;
  };
}

/** The primitives the fixture must cover. Dropout is absent on purpose (see scripts/golden/ops.py). */
const REQUIRED_OPS = Object.keys(RUNNERS);

/** Runs a case with every tensor on `backend` (its inputs are made there, so its ops run there). */
function runCase(c: GoldenCase, backend: string): void {
  withBackend(backend, () => runCaseHere(c, backend));
}

function runCaseHere(c: GoldenCase, backend: string): void {
  const run =
    RUNNERS[c.op] ?? defaultRunner(c.op) ?? assert.fail(`golden case "${c.name}": no convkit runner for op '${c.op}'`);
  const inputs = new CaseInputs(c);
  const ctx = (quantity: string) => ({
    caseName: `${c.name} (on ${backend})`,
    quantity,
    regenerate: golden.regenerate,
  });
  const out = run(inputs, new GoldenArgs(c.args, c.name));
  assert.equal(out.backend.name, backend, `golden case "${c.name}": the output is on '${out.backend.name}'`);
  assertMatchesGolden(out, c.output, ctx('output'));
  for (const [name, after] of Object.entries(c.state ?? {}))
    assertMatchesGolden(inputs.get(name), after, ctx(`${name} after the call`));
  if (Object.keys(c.grads).length === 0) return;
  out.backward(goldenToTensor(c.upstream));
  for (const [name, grad] of Object.entries(c.grads))
    assertMatchesGolden(inputs.get(name).grad, grad, ctx(`gradient of ${name}`));
}

describe('golden values from PyTorch: ops', () => {
  it('the fixture covers every primitive, and every case has a runner', () => {
    const covered = new Set(golden.cases.map((c) => c.op));
    assert.deepEqual(
      REQUIRED_OPS.filter((op) => !covered.has(op)),
      [],
      `ops without golden cases; regenerate with \`npm run golden\``,
    );
    assert.deepEqual(
      [...covered].filter((op) => !(op in RUNNERS) && defaultRunner(op) === undefined),
      [],
      'fixture ops that are neither a convkit function nor in RUNNERS',
    );
    assert.equal(new Set(golden.cases.map((c) => c.name)).size, golden.cases.length, 'case names must be unique');
  });

  it('a disagreement names the case, the element, both values and the regeneration command', () => {
    const expected = { shape: [2, 2], values: [1, 2, 3, 4] };
    const ctx = { caseName: 'demo', quantity: 'gradient of weight', regenerate: golden.regenerate };
    assertMatchesGolden(
      ops.tensor([
        [1, 2],
        [3, 4.00001],
      ]),
      expected,
      ctx,
    );
    assert.throws(
      () =>
        assertMatchesGolden(
          ops.tensor([
            [1, 2],
            [3.01, 4],
          ]),
          expected,
          ctx,
        ),
      (e: Error) =>
        /golden case "demo": gradient of weight differs from PyTorch in 1 of 4 elements; first at \[1, 0\] \(flat 2\): convkit 3\.0\d* vs PyTorch 3 /.test(
          e.message,
        ) &&
        e.message.includes('npm run golden') &&
        e.message.includes('/usr/bin/python3 scripts/golden/ops.py'),
    );
    assert.throws(
      () => assertMatchesGolden(ops.zeros([4]), expected, ctx),
      /has shape \[4\] in convkit, \[2, 2\] in PyTorch/,
    );
    assert.throws(() => assertMatchesGolden(null, expected, ctx), /gradient of weight is missing in convkit/);
  });

  it('an op without a runner is called as op(...inputs, args)', () => {
    const t = (values: number[]) => ({ shape: [2], values });
    // sub(a, b) by hand: out = a - b, d(sum(out * g))/da = g, /db = -g.
    const c: GoldenCase = {
      name: 'sub without a runner',
      op: 'sub',
      args: {},
      inputs: { a: t([3, 5]), b: t([1, 1]) },
      output: t([2, 4]),
      upstream: t([1, 2]),
      grads: { a: t([1, 2]), b: t([-1, -2]) },
    };
    assert.equal(RUNNERS.sub, undefined, 'the case must take the default path');
    runCase(c, 'ref');
    assert.throws(
      () => runCase({ ...c, output: t([2, 5]) }, 'ref'),
      /"sub without a runner \(on ref\)": output differs/,
    );
  });

  it('NaN matches only NaN, an infinity only the same infinity', () => {
    const expected = { shape: [3], values: [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY] };
    const ctx = { caseName: 'demo', quantity: 'output', regenerate: golden.regenerate };
    assertMatchesGolden([Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY], expected, ctx);
    for (const wrong of [
      [0, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY],
      [Number.NaN, Number.NEGATIVE_INFINITY, Number.NEGATIVE_INFINITY],
      [Number.NaN, Number.POSITIVE_INFINITY, Number.NaN],
      [Number.NaN, 3e38, Number.NEGATIVE_INFINITY],
    ])
      assert.throws(() => assertMatchesGolden(wrong, expected, ctx), /differs from PyTorch in 1 of 3 elements/);
    assert.throws(() => assertMatchesGolden([Number.NaN, 1, 2], { shape: [3], values: [0, 1, 2] }, ctx), /convkit NaN/);
  });

  // Each case on both backends by name, not on whichever is the default on this machine.
  for (const backend of ['ref', 'native']) {
    const skip = backend === 'native' ? nativeSkip : false;
    describe(`on the ${backend} backend`, () => {
      for (const op of new Set(golden.cases.map((c) => c.op))) {
        describe(op, () => {
          for (const c of golden.cases.filter((k) => k.op === op)) it(c.name, { skip }, () => runCase(c, backend));
        });
      }
    });
  }
});
