/**
 * Replays PyTorch's optimiser trajectories and lr schedules (test/golden/optim.json, written by
 * scripts/golden/optim.py with torch.optim of PyTorch 1.13). The recorded gradients are set as
 * `param.grad` before every step, so only the optimiser is under test.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import type { DType } from '../../src/core/dtype.js';
import type { Tensor } from '../../src/core/tensor.js';
import { fromArray } from '../../src/ops/creation.js';
import {
  Adam,
  AdamW,
  type AdamOptions,
  CosineAnnealingLR,
  LinearLR,
  type LRScheduler,
  MultiStepLR,
  type Optimizer,
  SequentialLR,
  SGD,
  type SgdOptions,
  StepLR,
} from '../../src/train/index.js';
import { assertMatchesGolden, type GoldenTensor, regenerateHint, type Tolerance } from '../helpers/golden.js';

const FIXTURE = new URL('../golden/optim.json', import.meta.url);
const REGENERATE = '/usr/bin/python3 scripts/golden/optim.py';
const NAMES = ['w1', 'b1', 'w2'] as const;
type Name = (typeof NAMES)[number];

/** Same rule, same order of operations: only the last bits may differ (FMA, libm's pow). */
const FLOAT64: Tolerance = { atol: 1e-14, rtol: 1e-12 };
/** The ref kernels round where PyTorch's float32 kernels do; FMA and libm may still differ by an ulp. */
const FLOAT32: Tolerance = { atol: 1e-9, rtol: 1e-6 };
const SCHEDULE: Tolerance = { atol: 1e-16, rtol: 1e-12 };

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type JsonObject = { [key: string]: Json };

const isObject = (v: Json | undefined): v is JsonObject => typeof v === 'object' && v !== null && !Array.isArray(v);

function fail(where: string, detail: string): never {
  throw new Error(`test/golden/optim.json: ${where}: ${detail}; ${regenerateHint(REGENERATE)}`);
}

function object(v: Json | undefined, where: string): JsonObject {
  return isObject(v) ? v : fail(where, 'expected an object');
}

function numbers(v: Json | undefined, where: string): number[] {
  return Array.isArray(v) && v.every((x): x is number => typeof x === 'number')
    ? v
    : fail(where, 'expected an array of numbers');
}

function golden(v: Json | undefined, where: string): GoldenTensor {
  const o = object(v, where);
  const t = { shape: numbers(o.shape, `${where}.shape`), values: numbers(o.values, `${where}.values`) };
  if (t.values.length !== t.shape.reduce((a, b) => a * b, 1)) fail(where, 'values do not fill the shape');
  return t;
}

function text(v: Json | undefined, where: string): string {
  return typeof v === 'string' ? v : fail(where, 'expected a string');
}

const raw: Json = JSON.parse(readFileSync(FIXTURE, 'utf8'));
const cases = (() => {
  const file = object(raw, 'top level');
  return Array.isArray(file.cases)
    ? file.cases.map((c, i) => object(c, `case ${i}`))
    : fail('top level', 'expected cases');
})();

function tensorOf(t: GoldenTensor, dtype: DType): Tensor {
  return fromArray(t.values, t.shape, { dtype, backend: 'ref' });
}

/** Options as the optimisers take them, from the fixture's JSON (written under convkit's names). */
function optionsOf(o: JsonObject, where: string): SgdOptions & AdamOptions {
  const known = ['lr', 'momentum', 'dampening', 'weightDecay', 'nesterov', 'maximize', 'betas', 'eps', 'amsgrad'];
  for (const key of Object.keys(o)) if (!known.includes(key)) fail(where, `unknown option ${key}`);
  const num = (key: string): number | undefined => (typeof o[key] === 'number' ? o[key] : undefined);
  const bool = (key: string): boolean | undefined => (typeof o[key] === 'boolean' ? o[key] : undefined);
  const betas = o.betas === undefined ? undefined : numbers(o.betas, `${where}.betas`);
  return {
    lr: num('lr'),
    momentum: num('momentum'),
    dampening: num('dampening'),
    weightDecay: num('weightDecay'),
    eps: num('eps'),
    nesterov: bool('nesterov'),
    maximize: bool('maximize'),
    amsgrad: bool('amsgrad'),
    betas: betas === undefined ? undefined : [betas[0], betas[1]],
  };
}

function makeOptimizer(c: JsonObject, params: Record<Name, Tensor>): Optimizer {
  const name = text(c.name, 'name');
  const kind = text(c.optimizer, `${name}: optimizer`);
  const options = optionsOf(object(c.options, `${name}: options`), `${name}: options`);
  const groups = Array.isArray(c.groups)
    ? c.groups.map((g, i) => {
        const { params: names, ...overrides } = object(g, `${name}: groups[${i}]`);
        if (!Array.isArray(names)) fail(`${name}: groups[${i}]`, 'expected params');
        const members = names.map(
          (n) => params[NAMES.find((k) => k === n) ?? fail(`${name}: groups[${i}]`, `unknown parameter ${String(n)}`)],
        );
        return { ...optionsOf(overrides, `${name}: groups[${i}]`), params: members };
      })
    : null;
  const list = NAMES.map((n) => params[n]);
  if (kind === 'SGD') return groups ? new SGD(groups, options) : new SGD(list, options);
  if (kind === 'Adam') return groups ? new Adam(groups, options) : new Adam(list, options);
  if (kind === 'AdamW') return groups ? new AdamW(groups, options) : new AdamW(list, options);
  return fail(name, `unknown optimizer ${kind}`);
}

function replay(c: JsonObject): void {
  const name = text(c.name, 'name');
  const dtype = text(c.dtype, 'dtype') === 'float64' ? 'float64' : 'float32';
  const tolerance = dtype === 'float64' ? FLOAT64 : FLOAT32;
  const initial = object(c.initial, `${name}: initial`);
  const start = (n: Name): Tensor => tensorOf(golden(initial[n], `${name}: initial.${n}`), dtype).requireGrad();
  const params: Record<Name, Tensor> = { w1: start('w1'), b1: start('b1'), w2: start('w2') };
  const optimizer = makeOptimizer(c, params);
  const steps = Array.isArray(c.steps) ? c.steps : fail(name, 'expected steps');
  steps.forEach((s, k) => {
    const step = object(s, `${name}: steps[${k}]`);
    const grads = object(step.grads, `${name}: steps[${k}].grads`);
    const after = object(step.params, `${name}: steps[${k}].params`);
    optimizer.zeroGrad();
    for (const n of NAMES)
      params[n].grad = grads[n] === null ? null : tensorOf(golden(grads[n], `${name}: grad ${n}`), dtype);
    optimizer.step();
    for (const n of NAMES) {
      assertMatchesGolden(params[n], golden(after[n], `${name}: params ${n}`), {
        caseName: name,
        quantity: `${n} after step ${k + 1}`,
        regenerate: REGENERATE,
        tolerance,
      });
    }
  });

  // The final state: PyTorch's momentum_buffer / exp_avg / ... and step counts, by parameter.
  const dict = optimizer.stateDict();
  const state = object(c.state, `${name}: state`);
  NAMES.forEach((n, index) => {
    const want = object(state[n], `${name}: state.${n}`);
    for (const [key, value] of Object.entries(want)) {
      if (key === 'step')
        assert.equal(dict.steps[index], value, `${name}: step count of ${n}; ${regenerateHint(REGENERATE)}`);
      else
        assertMatchesGolden(dict.tensors.get(`${index}.${key}`), golden(value, key), {
          caseName: name,
          quantity: `final ${key} of ${n}`,
          regenerate: REGENERATE,
          tolerance,
        });
    }
    const extra = [...dict.tensors.keys()].filter(
      (k) => k.startsWith(`${index}.`) && !(k.slice(String(index).length + 1) in want),
    );
    assert.deepEqual(extra, [], `${name}: convkit keeps state PyTorch does not have`);
  });
  for (const t of dict.tensors.values()) t.dispose();
}

function makeScheduler(spec: JsonObject, optimizer: SGD): LRScheduler {
  const kind = text(spec.schedule, 'schedule');
  const o = isObject(spec.options) ? spec.options : {};
  const num = (key: string): number | undefined => (typeof o[key] === 'number' ? o[key] : undefined);
  switch (kind) {
    case 'StepLR':
      return new StepLR(optimizer, { stepSize: num('stepSize') ?? fail(kind, 'stepSize'), gamma: num('gamma') });
    case 'MultiStepLR':
      return new MultiStepLR(optimizer, { milestones: numbers(o.milestones, 'milestones'), gamma: num('gamma') });
    case 'CosineAnnealingLR':
      return new CosineAnnealingLR(optimizer, { tMax: num('tMax') ?? fail(kind, 'tMax'), etaMin: num('etaMin') });
    case 'LinearLR':
      return new LinearLR(optimizer, {
        startFactor: num('startFactor'),
        endFactor: num('endFactor'),
        totalIters: num('totalIters'),
      });
    case 'SequentialLR': {
      const children = Array.isArray(spec.children)
        ? spec.children.map((ch, i) => makeScheduler(object(ch, `children[${i}]`), optimizer))
        : [];
      return new SequentialLR(optimizer, children, numbers(spec.milestones, 'milestones'));
    }
    default:
      return fail(kind, 'unknown schedule');
  }
}

function replaySchedule(c: JsonObject): void {
  const name = text(c.name, 'name');
  const lrs = numbers(c.lrs, `${name}: lrs`);
  const optimizer = new SGD(
    lrs.map((lr) => ({ params: [fromArray([0], [1])], lr })),
    { lr: lrs[0] },
  );
  const schedule = makeScheduler(c, optimizer);
  const values = Array.isArray(c.values) ? c.values : fail(name, 'expected values');
  values.forEach((v, epoch) => {
    if (epoch > 0) schedule.step();
    const want = numbers(v, `${name}: values[${epoch}]`);
    const ctx = { caseName: name, regenerate: REGENERATE, tolerance: SCHEDULE };
    assertMatchesGolden(
      schedule.getLastLr(),
      { shape: [want.length], values: want },
      { ...ctx, quantity: `getLastLr() at epoch ${epoch}` },
    );
    assertMatchesGolden(
      optimizer.paramGroups.map((g) => g.lr),
      { shape: [want.length], values: want },
      { ...ctx, quantity: `group lr at epoch ${epoch}` },
    );
  });
}

describe('optimisers replay PyTorch 1.13 trajectories', () => {
  const optimizerCases = cases.filter((c) => c.kind === 'optimizer');
  it('the fixture has every required configuration', () => {
    const names = optimizerCases.map((c) => text(c.name, 'name'));
    for (const part of [
      'SGD plain',
      'SGD momentum, dampening',
      'SGD nesterov',
      'Adam defaults',
      'Adam amsgrad',
      'AdamW',
      '(float32)',
    ]) {
      assert.ok(
        names.some((n) => n.includes(part)),
        `no case named like '${part}'; ${regenerateHint(REGENERATE)}`,
      );
    }
  });
  for (const c of optimizerCases) it(text(c.name, 'name'), () => replay(c));
});

describe('schedules agree with PyTorch 1.13', () => {
  for (const c of cases.filter((x) => x.kind === 'schedule')) it(text(c.name, 'name'), () => replaySchedule(c));
});
