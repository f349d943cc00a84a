/**
 * Learning-rate schedules with hand-derived values and their argument checks and state dicts.
 * Agreement with PyTorch's own values is in optim-golden.test.ts.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ArgumentError, WeightsError } from '../../src/core/errors.js';
import { fromArray } from '../../src/ops/creation.js';
import {
  CosineAnnealingLR,
  LinearLR,
  type LRScheduler,
  MultiStepLR,
  SequentialLR,
  SGD,
  StepLR,
  warmupCosine,
} from '../../src/train/index.js';

const optimizer = (...lrs: number[]): SGD =>
  new SGD(
    lrs.map((lr) => ({ params: [fromArray([0], [1])], lr })),
    { lr: 1 },
  );

/** getLastLr()[group] right after construction and after each of `epochs` steps. */
function trace(s: LRScheduler, epochs: number, group = 0): number[] {
  const lrs = [s.getLastLr()[group]];
  for (let e = 0; e < epochs; e++) {
    s.step();
    lrs.push(s.getLastLr()[group]);
  }
  return lrs;
}

const close = (a: readonly number[], b: readonly number[], tol = 1e-12): void => {
  assert.equal(a.length, b.length, `length of ${JSON.stringify(a)}`);
  a.forEach((v, i) => assert.ok(Math.abs(v - b[i]) <= tol, `epoch ${i}: ${v} vs ${b[i]}`));
};

const argError =
  (re: RegExp) =>
  (e: unknown): boolean =>
    e instanceof ArgumentError && re.test(e.message);

describe('schedules', () => {
  it('StepLR multiplies by gamma every stepSize epochs', () => {
    close(trace(new StepLR(optimizer(1), { stepSize: 2, gamma: 0.5 }), 5), [1, 1, 0.5, 0.5, 0.25, 0.25]);
  });

  it('MultiStepLR applies gamma once per milestone passed, twice for a repeated one', () => {
    close(trace(new MultiStepLR(optimizer(1), { milestones: [3, 1, 3], gamma: 0.1 }), 4), [1, 0.1, 0.1, 0.001, 0.001]);
  });

  it('CosineAnnealingLR: half-way at tMax / 2, etaMin at tMax, back up after (as PyTorch)', () => {
    close(trace(new CosineAnnealingLR(optimizer(1), { tMax: 4 }), 8), [
      1,
      (1 + Math.SQRT1_2) / 2,
      0.5,
      (1 - Math.SQRT1_2) / 2,
      0,
      (1 - Math.SQRT1_2) / 2,
      0.5,
      (1 + Math.SQRT1_2) / 2,
      1,
    ]);
    close(trace(new CosineAnnealingLR(optimizer(1), { tMax: 2, etaMin: 0.2 }), 2), [1, 0.6, 0.2]);
  });

  it('LinearLR ramps from startFactor to endFactor over totalIters, then holds', () => {
    close(trace(new LinearLR(optimizer(2), { startFactor: 0.5, totalIters: 2 }), 3), [1, 1.5, 2, 2]);
    // PyTorch 1.13's recursive form divides by zero here; the closed form does not.
    close(trace(new LinearLR(optimizer(1), { startFactor: 0, totalIters: 4 }), 4), [0, 0.25, 0.5, 0.75, 1]);
    close(trace(new LinearLR(optimizer(1), { startFactor: 1, endFactor: 0.5, totalIters: 1 }), 2), [1, 0.5, 0.5]);
  });

  it('warmupCosine: linear warm-up, then the cosine from the base lr (SequentialLR restarts it at the milestone)', () => {
    const opt = optimizer(1, 0.1);
    const s = warmupCosine(opt, { warmupIters: 2, startFactor: 0.5, tMax: 2 });
    close(trace(s, 4), [0.5, 0.75, 1, 0.5, 0]);
    assert.deepEqual(
      opt.paramGroups.map((g) => g.lr),
      s.getLastLr(),
    );
    close([s.getLastLr()[1]], [0]);
  });

  it('sets the lr of every group from its own initial lr', () => {
    const opt = optimizer(1, 0.1);
    const s = new StepLR(opt, { stepSize: 1, gamma: 0.5 });
    s.step();
    close(
      opt.paramGroups.map((g) => g.lr),
      [0.5, 0.05],
    );
    assert.deepEqual(
      opt.paramGroups.map((g) => g.initialLr),
      [1, 0.1],
    );
    // A later schedule starts from initialLr, not from the lr the first one left (PyTorch's setdefault).
    close(new StepLR(opt, { stepSize: 1, gamma: 0.5 }).getLastLr(), [1, 0.1]);
  });

  it('state dict: a restored schedule continues where the saved one was', () => {
    const make = (): SequentialLR => {
      const opt = optimizer(1);
      return new SequentialLR(
        opt,
        [
          new LinearLR(opt, { startFactor: 0.25, totalIters: 3 }),
          new MultiStepLR(opt, { milestones: [1], gamma: 0.5 }),
        ],
        [3],
      );
    };
    const straight = trace(make(), 6);
    const first = make();
    trace(first, 2);
    const resumed = make();
    resumed.loadStateDict(JSON.parse(JSON.stringify(first.stateDict())));
    assert.deepEqual(resumed.getLastLr(), first.getLastLr());
    close(trace(resumed, 4), straight.slice(2));
    assert.throws(
      () => new StepLR(optimizer(1), { stepSize: 1 }).loadStateDict(first.stateDict()),
      (e: unknown) =>
        e instanceof WeightsError &&
        /^StepLR: cannot load state dict: it was written by SequentialLR, this schedule is StepLR$/.test(e.message),
    );
  });

  it('argument checks name the schedule and the option', () => {
    const opt = optimizer(1);
    assert.throws(
      () => new StepLR(opt, { stepSize: 0 }),
      argError(/^StepLR: stepSize must be a positive integer, got 0$/),
    );
    assert.throws(
      () => new MultiStepLR(opt, { milestones: [1.5] }),
      argError(/^MultiStepLR: milestones must be non-negative integers, got \[1.5\]$/),
    );
    assert.throws(
      () => new CosineAnnealingLR(opt, { tMax: 0 }),
      argError(/^CosineAnnealingLR: tMax must be a positive number, got 0$/),
    );
    assert.throws(
      () => new LinearLR(opt, { startFactor: 1.5 }),
      argError(/^LinearLR: startFactor must be in \[0, 1\], got 1.5$/),
    );
    assert.throws(
      () => new LinearLR(opt, { totalIters: 0 }),
      argError(/^LinearLR: totalIters must be a positive integer, got 0$/),
    );
    const a = new StepLR(opt, { stepSize: 1 });
    assert.throws(
      () => new SequentialLR(opt, [a, a], []),
      argError(/^SequentialLR: expects one milestone fewer than schedulers, got 2 schedulers and 0 milestones$/),
    );
    assert.throws(
      () => new SequentialLR(opt, [a, a, a], [3, 2]),
      argError(/^SequentialLR: milestones must be increasing positive integers, got \[3,2\]$/),
    );
    assert.throws(
      () => new SequentialLR(optimizer(1), [a], []),
      argError(/^SequentialLR: scheduler 0 \(StepLR\) drives another optimiser/),
    );
  });
});
