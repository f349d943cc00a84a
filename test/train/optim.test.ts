/**
 * Optimiser behaviour with hand-derived values: update rules, skipped parameters, zeroGrad,
 * argument checks, and checkpointing through the state dict. The exact agreement with PyTorch is
 * in optim-golden.test.ts.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { DType } from '../../src/core/dtype.js';
import { ArgumentError, DTypeError, ShapeError, WeightsError } from '../../src/core/errors.js';
import { scope } from '../../src/core/scope.js';
import type { Tensor } from '../../src/core/tensor.js';
import { mul } from '../../src/ops/arithmetic.js';
import { fromArray, tensor, zeros } from '../../src/ops/creation.js';
import {
  Adam,
  type AdamHyper,
  AdamW,
  type Optimizer,
  type OptimizerStateDict,
  SGD,
  warmupCosine,
} from '../../src/train/index.js';

const close = (a: ArrayLike<number>, b: ArrayLike<number>, tol = 1e-12): void => {
  assert.equal(a.length, b.length, 'length');
  for (let i = 0; i < a.length; i++) assert.ok(Math.abs(a[i] - b[i]) <= tol, `element ${i}: ${a[i]} vs ${b[i]}`);
};

const param = (values: number[], dtype: DType = 'float64'): Tensor =>
  fromArray(values, [values.length], { dtype, requiresGrad: true });
const grad = (p: Tensor, values: number[]): void => {
  p.grad = fromArray(values, p.shape, { dtype: p.dtype });
};

describe('SGD', () => {
  it('plain step: p -= lr * g', () => {
    const p = param([1, 2]);
    const opt = new SGD([p], { lr: 0.1 });
    grad(p, [0.5, -1]);
    opt.step();
    close(p.toArray(), [0.95, 2.1]);
  });

  it('momentum: the first step copies the gradient without dampening, later ones dampen', () => {
    const p = param([0]);
    const opt = new SGD([p], { lr: 1, momentum: 0.9, dampening: 0.5 });
    grad(p, [1]);
    opt.step(); // buf = 1
    close(p.toArray(), [-1]);
    opt.step(); // buf = 0.9 * 1 + 0.5 * 1 = 1.4
    close(p.toArray(), [-2.4]);
    close(opt.stateOf(p)?.buffers.get('momentumBuffer')?.toArray() ?? [], [1.4]);
  });

  it('nesterov uses g + momentum * buf; weight decay adds wd * p first; maximize ascends', () => {
    const p = param([2]);
    const opt = new SGD([p], { lr: 0.1, momentum: 0.5, nesterov: true, weightDecay: 0.25, maximize: true });
    grad(p, [1]);
    opt.step(); // d = -1 + 0.25 * 2 = -0.5; buf = -0.5; d = -0.5 + 0.5 * -0.5 = -0.75
    close(p.toArray(), [2.075]);
  });

  it('updates in place: the storage stays and views of the parameter see the new values', () => {
    const p = param([1, 2, 3, 4]);
    const storage = p.storage;
    const view = p.view([2, 2]);
    const opt = new SGD([p], { lr: 1 });
    grad(p, [1, 1, 1, 1]);
    opt.step();
    assert.equal(p.storage, storage);
    close(view.toArray(), [0, 1, 2, 3]);
  });

  it('lr is per group and writable', () => {
    const a = param([1]);
    const b = param([1]);
    const opt = new SGD([{ params: [a] }, { params: [b], lr: 0.5 }], { lr: 0.1 });
    assert.deepEqual(
      opt.paramGroups.map((g) => g.lr),
      [0.1, 0.5],
    );
    opt.paramGroups[0].lr = 0;
    grad(a, [1]);
    grad(b, [1]);
    opt.step();
    close(a.toArray(), [1]);
    close(b.toArray(), [0.5]);
  });
});

describe('Adam and AdamW', () => {
  it('the first Adam step moves each weight by lr * sign(g) (eps 0): bias correction undoes the averaging', () => {
    const p = param([1, -1, 0.5]);
    const opt = new Adam([p], { lr: 0.1, eps: 0 });
    grad(p, [2, -3, 0.25]);
    opt.step();
    close(p.toArray(), [0.9, -0.9, 0.4]);
    const s = opt.stateOf(p);
    assert.equal(s?.step, 1);
    close(s?.buffers.get('expAvg')?.toArray() ?? [], [0.2, -0.3, 0.025]);
    close(s?.buffers.get('expAvgSq')?.toArray() ?? [], [0.004, 0.009, 0.0000625]);
    assert.equal(s?.buffers.has('maxExpAvgSq'), false);
  });

  it('Adam adds weight decay to the gradient, AdamW shrinks the weight: they differ with g = 0', () => {
    // Adam: g = 0.5 * 4 = 2 and the step is lr * sign = 0.1. AdamW: m = v = 0, p *= 1 - 0.1 * 0.5.
    const a = param([4]);
    const w = param([4]);
    const adam = new Adam([a], { lr: 0.1, weightDecay: 0.5, eps: 0 });
    const adamw = new AdamW([w], { lr: 0.1, weightDecay: 0.5 });
    grad(a, [0]);
    grad(w, [0]);
    adam.step();
    adamw.step();
    close(a.toArray(), [3.9]);
    close(w.toArray(), [3.8]);
  });

  it("defaults are PyTorch 1.13's", () => {
    const pick = (o: Optimizer<AdamHyper>): AdamHyper => {
      const { params: _p, ...hyper } = o.paramGroups[0];
      return hyper;
    };
    const base = { lr: 1e-3, betas: [0.9, 0.999], eps: 1e-8, amsgrad: false, maximize: false };
    assert.deepEqual(pick(new Adam([param([0])])), { ...base, weightDecay: 0 });
    assert.deepEqual(pick(new AdamW([param([0])])), { ...base, weightDecay: 1e-2 });
    const { params: _p, ...sgd } = new SGD([param([0])], { lr: 0.1 }).paramGroups[0];
    assert.deepEqual(sgd, { lr: 0.1, momentum: 0, dampening: 0, weightDecay: 0, nesterov: false, maximize: false });
  });

  it('amsgrad normalises by the running maximum of exp_avg_sq', () => {
    // beta1 = 0 makes m = g. Step 1: v = 0.5 * 16 = 8, p = 0 - 4 / (sqrt(8) / sqrt(0.5)) = -1.
    // Step 2: v = 0.5 * 8 + 0.5 * 1 = 4.5 < 8, so the denominator is sqrt(8) / sqrt(0.75), not sqrt(4.5) / ...
    const p = param([0]);
    const opt = new Adam([p], { lr: 1, betas: [0, 0.5], eps: 0, amsgrad: true });
    grad(p, [4]);
    opt.step();
    close(p.toArray(), [-1]);
    grad(p, [1]);
    opt.step();
    close(p.toArray(), [-1 - Math.sqrt(0.75 / 8)]);
    const s = opt.stateOf(p);
    close(s?.buffers.get('expAvgSq')?.toArray() ?? [], [4.5]);
    close(s?.buffers.get('maxExpAvgSq')?.toArray() ?? [], [8]);
  });
});

describe('optimiser mechanics', () => {
  it('skips parameters without a gradient: no update, no state, no step count', () => {
    const a = param([1]);
    const b = param([1]);
    const opt = new Adam([a, b], { lr: 0.1 });
    grad(a, [1]);
    opt.step();
    opt.step();
    assert.equal(opt.stateOf(a)?.step, 2);
    assert.equal(opt.stateOf(b), undefined);
    close(b.toArray(), [1]);
  });

  it('zeroGrad disposes the gradients by default, or fills them with zeros in place', () => {
    const p = param([1, 2]);
    const opt = new SGD([p], { lr: 0.1 });
    grad(p, [3, 4]);
    const g = p.grad;
    opt.zeroGrad();
    assert.equal(p.grad, null);
    assert.equal(g?.disposed, true);
    // A function call, so that TypeScript does not keep p.grad narrowed to null.
    const gradOf = (t: Tensor): Tensor | null => t.grad;
    grad(p, [3, 4]);
    const kept = gradOf(p);
    opt.zeroGrad({ setToNone: false });
    assert.equal(gradOf(p), kept);
    close(kept?.toArray() ?? [], [0, 0]);
  });

  it("state tensors live on the parameter's dtype and survive the scope the step ran in", () => {
    const p = param([1, 2], 'float32');
    const opt = new Adam([p], { lr: 0.1 });
    grad(p, [1, 1]);
    scope(() => opt.step());
    const m = opt.stateOf(p)?.buffers.get('expAvg');
    assert.equal(m?.disposed, false);
    assert.equal(m?.dtype, 'float32');
    opt.step();
    assert.equal(opt.stateOf(p)?.step, 2);
  });

  it('runs on the shape-only meta backend (analysis dry runs): state is made there, nothing is read', () => {
    const p = fromArray([0, 0, 0], [3], { backend: 'meta', requiresGrad: true });
    const opt = new Adam([p], { amsgrad: true });
    p.grad = zeros([3], { backend: 'meta' });
    opt.step();
    assert.deepEqual([...(opt.stateOf(p)?.buffers.keys() ?? [])], ['expAvg', 'expAvgSq', 'maxExpAvgSq']);
    assert.equal(opt.stateOf(p)?.buffers.get('expAvg')?.backend.name, 'meta');
  });

  it('checks the gradient against the parameter', () => {
    const p = param([1, 2]);
    const opt = new SGD([p], { lr: 0.1 });
    p.grad = zeros([3], { dtype: 'float64' });
    assert.throws(
      () => opt.step(),
      (e: unknown) =>
        e instanceof ShapeError &&
        /^SGD: the gradient of parameter 0 has shape \[3\], the parameter \[2\]$/.test(e.message),
    );
    p.grad = zeros([2], { dtype: 'float32' });
    assert.throws(
      () => opt.step(),
      (e: unknown) =>
        e instanceof DTypeError && /SGD: the gradient of parameter 0 is float32, the parameter float64/.test(e.message),
    );
  });

  it('a bad gradient stops the step before any parameter changes', () => {
    const a = param([1]);
    const b = param([1, 2]);
    const opt = new SGD([a, b], { lr: 0.1 });
    grad(a, [1]);
    b.grad = zeros([1], { dtype: 'float64' });
    assert.throws(() => opt.step(), /SGD: the gradient of parameter 1 has shape \[1\], the parameter \[2\]/);
    close(a.toArray(), [1]);
  });
});

describe('argument checks name the optimiser and the argument', () => {
  const p = (): Tensor => param([1]);
  const argError =
    (re: RegExp) =>
    (e: unknown): boolean =>
      e instanceof ArgumentError && re.test(e.message);

  it('SGD', () => {
    assert.throws(() => new SGD([p()], { lr: -0.1 }), argError(/^SGD: lr must be >= 0, got -0.1$/));
    assert.throws(() => new SGD([p()]), argError(/^SGD: lr is required/));
    assert.throws(() => new SGD([p()], { lr: 0.1, momentum: -1 }), argError(/^SGD: momentum must be >= 0, got -1$/));
    assert.throws(
      () => new SGD([p()], { lr: 0.1, weightDecay: -1 }),
      argError(/^SGD: weightDecay must be >= 0, got -1$/),
    );
    assert.throws(
      () => new SGD([p()], { lr: 0.1, nesterov: true }),
      argError(/^SGD: nesterov momentum requires momentum > 0 and dampening = 0, got momentum 0 and dampening 0$/),
    );
    assert.throws(
      () => new SGD([p()], { lr: 0.1, momentum: 0.9, dampening: 0.1, nesterov: true }),
      argError(/dampening 0.1$/),
    );
    assert.throws(
      () => new SGD([{ params: [p()] }, { params: [p()], lr: Number.NaN }], { lr: 0.1 }),
      argError(/^SGD: parameter group 1: lr must be a number, got NaN$/),
    );
  });

  it('Adam and AdamW', () => {
    assert.throws(
      () => new Adam([p()], { betas: [1, 0.9] }),
      argError(/^Adam: betas\[0\] must be in \[0, 1\), got 1$/),
    );
    assert.throws(
      () => new AdamW([p()], { betas: [0.9, -0.1] }),
      argError(/^AdamW: betas\[1\] must be in \[0, 1\), got -0.1$/),
    );
    assert.throws(() => new Adam([p()], { eps: -1 }), argError(/^Adam: eps must be >= 0, got -1$/));
    assert.throws(() => new AdamW([p()], { lr: -1 }), argError(/^AdamW: lr must be >= 0, got -1$/));
  });

  it('parameters and options', () => {
    const shared = p();
    assert.throws(() => new SGD([], { lr: 0.1 }), argError(/^SGD: got an empty parameter list$/));
    assert.throws(
      () => new SGD([{ params: [shared] }, { params: [shared] }], { lr: 0.1 }),
      argError(/^SGD: parameter group 1: params\[0\] appears twice/),
    );
    assert.throws(
      () => new Adam([mul(p(), 2)]),
      argError(/^Adam: params\[0\] is not a leaf tensor \(it was made by mul\)/),
    );
    // A JavaScript caller's typo must not be ignored silently.
    const typo: Record<string, number> = { lr: 0.1, weight_decay: 0.1 };
    assert.throws(() => new SGD([p()], typo), argError(/^SGD: unknown option 'weight_decay' \(known: lr, momentum/));
  });
});

/** A checkpoint on disk: the state dict through JSON, tensors as plain number arrays. */
function throughJson(dict: OptimizerStateDict, dtype: DType): OptimizerStateDict {
  const tensors = Object.fromEntries(
    [...dict.tensors].map(([k, t]) => [k, { shape: [...t.shape], values: Array.from(t.toArray()) }]),
  );
  const text = JSON.stringify({ optimizer: dict.optimizer, groups: dict.groups, steps: dict.steps, tensors });
  for (const t of dict.tensors.values()) t.dispose();
  const back: {
    optimizer: string;
    groups: OptimizerStateDict['groups'];
    steps: Record<string, number>;
    tensors: Record<string, { shape: number[]; values: number[] }>;
  } = JSON.parse(text);
  return {
    ...back,
    tensors: new Map(Object.entries(back.tensors).map(([k, t]) => [k, fromArray(t.values, t.shape, { dtype })])),
  };
}

describe('state dict', () => {
  const gradients = (k: number, i: number): number[] => [Math.sin(k + i), Math.cos(3 * k - i), 0.1 * k - 0.2 * i];
  const makers: [string, (ps: Tensor[]) => Optimizer][] = [
    [
      'SGD nesterov',
      (ps) =>
        new SGD([{ params: ps.slice(0, 1), lr: 0.05 }, { params: ps.slice(1) }], {
          lr: 0.1,
          momentum: 0.9,
          nesterov: true,
          weightDecay: 0.01,
        }),
    ],
    ['Adam amsgrad', (ps) => new Adam(ps, { lr: 0.05, amsgrad: true, weightDecay: 0.1 })],
    ['AdamW', (ps) => new AdamW([{ params: ps.slice(0, 1) }, { params: ps.slice(1), weightDecay: 0 }], { lr: 0.05 })],
  ];
  for (const dtype of ['float64', 'float32'] as const) {
    for (const [name, make] of makers) {
      it(`${name} (${dtype}): save, restore into a fresh optimiser and continue = never stopping`, () => {
        const run = (stopAt: number | null, restore = true): number[] => {
          let ps = [param([1, 2, 3], dtype), param([-1, 0.5, 0], dtype)];
          let opt = make(ps);
          let sched = warmupCosine(opt, { warmupIters: 2, startFactor: 0.5, tMax: 4 });
          for (let k = 0; k < 6; k++) {
            if (k === stopAt) {
              // Only values cross over: new tensors, new optimiser, new schedule.
              const saved = throughJson(opt.stateDict(), dtype);
              const schedState = JSON.parse(JSON.stringify(sched.stateDict()));
              ps = ps.map((p) => param(Array.from(p.toArray()), dtype));
              opt = make(ps);
              sched = warmupCosine(opt, { warmupIters: 2, startFactor: 0.5, tMax: 4 });
              if (restore) {
                opt.loadStateDict(saved);
                sched.loadStateDict(schedState);
              }
              for (const t of saved.tensors.values()) t.dispose();
            }
            opt.zeroGrad();
            ps.forEach((p, i) => grad(p, gradients(k, i)));
            opt.step();
            sched.step();
          }
          return ps.flatMap((p) => Array.from(p.toArray()));
        };
        const straight = run(null);
        assert.deepEqual(run(3), straight);
        assert.notDeepEqual(run(3, false), straight, 'starting afresh must differ, or this test proves nothing');
      });
    }
  }

  it('holds hyper-parameters, initialLr, step counts and copies of the state tensors', () => {
    const p = param([1, 2]);
    const opt = new Adam([p], { lr: 0.01 });
    grad(p, [1, 1]);
    opt.step();
    opt.paramGroups[0].initialLr = 0.02;
    const dict = opt.stateDict();
    assert.deepEqual(dict.groups, [
      {
        params: [0],
        hyper: { lr: 0.01, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 0, amsgrad: false, maximize: false },
        initialLr: 0.02,
      },
    ]);
    assert.deepEqual(dict.steps, { 0: 1 });
    assert.deepEqual([...dict.tensors.keys()], ['0.expAvg', '0.expAvgSq']);
    const copy = dict.tensors.get('0.expAvg');
    opt.step();
    close(copy?.toArray() ?? [], [0.1, 0.1], 1e-15); // a snapshot: later steps do not change it
  });

  it('refuses a state dict that does not fit, and changes nothing when it refuses', () => {
    const p = param([1, 2]);
    const opt = new Adam([p], { lr: 0.01 });
    grad(p, [1, 1]);
    opt.step();
    const good = opt.stateDict();
    const load = (d: OptimizerStateDict) => () => opt.loadStateDict(d);
    const weightsError =
      (re: RegExp) =>
      (e: unknown): boolean =>
        e instanceof WeightsError && re.test(e.message);
    assert.throws(
      load({ ...good, optimizer: 'SGD' }),
      weightsError(/^Adam: cannot load state dict: it was written by SGD, this optimiser is Adam$/),
    );
    assert.throws(
      load({ ...good, tensors: new Map([['0.expAvg', tensor([1, 2, 3], { dtype: 'float64' })]]) }),
      weightsError(/state tensor '0.expAvg' has shape \[3\], parameter 0 has \[2\]/),
    );
    assert.throws(
      load({ ...good, tensors: new Map([['0.momentumBuffer', tensor([1, 2], { dtype: 'float64' })]]) }),
      weightsError(/Adam keeps no 'momentumBuffer'/),
    );
    assert.throws(
      load({ ...good, tensors: new Map() }),
      weightsError(/parameter 0 has taken 1 steps but its expAvg, expAvgSq are missing/),
    );
    assert.throws(
      load({ ...good, groups: [...good.groups, ...good.groups] }),
      weightsError(/it has 2 parameter groups, the optimiser 1/),
    );
    assert.throws(
      load({ ...good, groups: [{ ...good.groups[0], hyper: { ...good.groups[0].hyper, betas: [0.9, 1] } }] }),
      weightsError(/parameter group 0: betas\[1\] must be in \[0, 1\), got 1/),
    );
    assert.equal(opt.stateOf(p)?.step, 1);
    assert.equal(opt.stateOf(p)?.buffers.get('expAvg')?.disposed, false);
  });
});
