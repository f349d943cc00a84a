/**
 * recordTrainingStep: replayed steps must give the bits the same steps give op by op (parameters,
 * momentum, running statistics, num_batches_tracked, losses and logits, and the eval passes
 * after them), record again when the learning rate, a parameter's storage or the batch shape
 * changes, and run op by op, saying why, where a replay would be wrong.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { nativeRuntime } from '../../src/backend/native/index.js';
import { synchronize } from '../../src/backend/registry.js';
import { resetSettings } from '../../src/core/config.js';
import { ArgumentError } from '../../src/core/errors.js';
import { noGrad } from '../../src/core/grad-mode.js';
import { scope } from '../../src/core/scope.js';
import { manualSeed } from '../../src/core/random.js';
import type { Tensor } from '../../src/core/tensor.js';
import { buildModel } from '../../src/models/registry.js';
import * as nn from '../../src/nn/index.js';
import type { TensorModule } from '../../src/nn/module.js';
import * as ops from '../../src/ops/index.js';
import { Adam, AdamW } from '../../src/train/adam.js';
import { type BaseHyper, Optimizer, type ParamGroup, type StepScalars } from '../../src/train/optimizer.js';
import { recordTrainingStep, type StepResult } from '../../src/train/record-step.js';
import { SGD } from '../../src/train/sgd.js';
import { nativeSkipReason } from '../backend/native-helpers.js';

const skip = nativeSkipReason('record-step');

/** A small CIFAR ResNet (batch norms with fused ReLUs, residual joins, option-A shortcuts). */
function resnet(backend = 'native'): TensorModule {
  manualSeed(5);
  const model = buildModel('resnet20_cifar', { backend, classes: 10 });
  model.train();
  return model;
}

const sgd = (model: TensorModule): SGD =>
  new SGD(model.parameters(), { lr: 0.05, momentum: 0.9, weightDecay: 1e-4, nesterov: true });

/** The step op by op, as the training loop ran it before recordings. */
function opByOp(model: TensorModule, optimizer: Optimizer, x: Tensor, labels: Int32Array): StepResult {
  return scope(() => {
    optimizer.zeroGrad();
    const logits = model.call(x);
    const loss = ops.crossEntropy(logits, labels);
    loss.backward();
    optimizer.step();
    return { loss: loss.detach(), logits: logits.detach() };
  });
}

function batch(step: number, n = 4): { x: Tensor; labels: Int32Array } {
  manualSeed(100 + step);
  return {
    x: ops.randn([n, 3, 16, 16], { backend: 'native' }),
    labels: Int32Array.from({ length: n }, (_, i) => (i * 3 + step) % 10),
  };
}

/** Every value of a and b the same bits (NaN equal to NaN). */
function sameBits(what: string, a: ArrayLike<number>, b: ArrayLike<number>): void {
  assert.equal(a.length, b.length, `${what}: length`);
  for (let i = 0; i < a.length; i++) assert.ok(Object.is(a[i], b[i]), `${what}[${i}]: ${a[i]} vs ${b[i]}`);
}

function sameState(a: TensorModule, b: TensorModule): void {
  const bs = b.stateDict();
  for (const [key, t] of a.stateDict()) sameBits(key, t.toArray(), bs.get(key)?.toArray() ?? []);
}

/** The same step counts and momentum, parameter by parameter (an optimizer's state dict as saved). */
function sameOptimizerState(a: Optimizer, b: Optimizer): void {
  const [sa, sb] = [a.stateDict(), b.stateDict()];
  assert.deepEqual(sa.steps, sb.steps, 'step counts');
  assert.deepEqual([...sa.tensors.keys()], [...sb.tensors.keys()], 'state tensors');
  for (const [key, t] of sa.tensors) sameBits(key, t.toArray(), sb.tensors.get(key)?.toArray() ?? []);
}

function take(result: StepResult): { loss: number; logits: number[] } {
  const out = { loss: result.loss.item(), logits: [...result.logits.toArray()] };
  result.loss.dispose();
  result.logits.dispose();
  return out;
}

/** An optimiser of the user's own: its update could do anything, so its steps are not recorded. */
class OwnSgd extends Optimizer<BaseHyper> {
  readonly stateNames = [];
  constructor(params: Iterable<Tensor>) {
    super('OwnSgd', params, { lr: 0.01, weightDecay: 0, maximize: false }, {});
  }
  protected parseHyper(record: Readonly<Record<string, unknown>>): BaseHyper {
    return { lr: Number(record.lr), weightDecay: 0, maximize: false };
  }
  requiredState(): readonly string[] {
    return [];
  }
  protected update(param: Tensor, grad: Tensor, group: ParamGroup<BaseHyper>): void {
    noGrad(() => param.assign(ops.sub(param, ops.mul(grad, group.lr))));
  }
  protected stepScalars(group: ParamGroup<BaseHyper>): StepScalars {
    const { lr } = group;
    const args = { lr, momentum: 0, dampening: 0, nesterov: false, weightDecay: 0, maximize: false, firstStep: false };
    return { kernel: 'sgdStep', args };
  }
  protected recordedShape(): unknown {
    return null;
  }
}

describe('recordTrainingStep', () => {
  it('replays give the bits of the steps op by op: state, losses, logits, the eval pass after', { skip }, async () => {
    const [recordedModel, plainModel] = [resnet(), resnet()];
    const [o1, o2] = [sgd(recordedModel), sgd(plainModel)];
    const steps = recordTrainingStep(recordedModel, o1);
    const modes: (true | string)[] = [];
    for (let i = 0; i < 7; i++) {
      const { x, labels } = batch(i);
      const pooled = nativeRuntime().pooled;
      const result = steps.step(x, labels);
      if (steps.replaying === true && modes.at(-1) !== true)
        assert.ok(
          pooled > 0 && nativeRuntime().pooled === 0,
          `the recording step gave back the pool's ${pooled} bytes (left ${nativeRuntime().pooled})`,
        );
      const recorded = take(result);
      modes.push(steps.replaying);
      const plain = take(opByOp(plainModel, o2, x, labels));
      assert.ok(Object.is(recorded.loss, plain.loss), `step ${i}: loss ${recorded.loss} vs ${plain.loss}`);
      sameBits(`step ${i} logits`, recorded.logits, plain.logits);
      x.dispose();
    }
    assert.equal(modes.at(-1), true, `the last steps replay: ${modes.join(', ')}`);
    assert.ok(modes.filter((m) => m === true).length >= 3, `steps replayed: ${modes.join(', ')}`);
    await synchronize();
    sameState(recordedModel, plainModel);
    sameOptimizerState(o1, o2);
    assert.ok(
      recordedModel.parameters().every((p) => p.grad === null),
      'a replay leaves no gradients',
    );
    // An eval pass reads the weights the replays moved, not layouts converted before them.
    const { x } = batch(99);
    const evalOut = (m: TensorModule) => {
      m.eval();
      const y = noGrad(() => m.call(x).toArray());
      m.train();
      return y;
    };
    sameBits('eval logits', evalOut(recordedModel), evalOut(plainModel));
    const [weight, runningMean] = [recordedModel.parameters()[0], recordedModel.buffers()[0]];
    const versions = [weight.version, runningMean.version];
    for (let i = 7; i < 9; i++) {
      const b = batch(i);
      take(steps.step(b.x, b.labels));
      take(opByOp(plainModel, o2, b.x, b.labels));
    }
    assert.equal(steps.replaying, true, 'an eval pass between steps keeps the recording');
    assert.ok(
      weight.version > versions[0] && runningMean.version > versions[1],
      'replays count up versions, as the steps op by op do',
    );
    sameBits('eval logits after more steps', evalOut(recordedModel), evalOut(plainModel));
    steps.dispose();
  });

  it('records again when momentum is switched off, for a new storage, and per batch shape', { skip }, () => {
    const [recordedModel, plainModel] = [resnet(), resnet()];
    const [o1, o2] = [sgd(recordedModel), sgd(plainModel)];
    const steps = recordTrainingStep(recordedModel, o1);
    const both = (i: number, n = 4): void => {
      const { x, labels } = batch(i, n);
      const a = take(steps.step(x, labels));
      const b = take(opByOp(plainModel, o2, x, labels));
      assert.ok(Object.is(a.loss, b.loss), `step ${i} (batch ${n}): loss ${a.loss} vs ${b.loss}`);
    };
    for (let i = 0; i < 5; i++) both(i);
    assert.equal(steps.replaying, true);
    // No momentum: the update has no buffer and another plan, which the recording does not have.
    for (const o of [o1, o2]) Object.assign(o.paramGroups[0], { momentum: 0, nesterov: false });
    both(5);
    assert.notEqual(steps.replaying, true, 'a step without momentum is not replayed with it');
    for (let i = 6; i < 9; i++) both(i);
    assert.equal(steps.replaying, true, 'recorded again without momentum');
    // A smaller last batch records its own step; the full batch's recording stays.
    for (let i = 9; i < 12; i++) both(i, 3);
    assert.equal(steps.replaying, true, 'the batch of 3 replays its own recording');
    both(12);
    assert.equal(steps.replaying, true, 'the batch of 4 still replays');
    // assign() gives a parameter a new storage: the recording read the old one.
    for (const m of [recordedModel, plainModel]) {
      const w = m.parameters()[0];
      noGrad(() => w.assign(ops.mul(w, 0.5)));
    }
    both(13);
    assert.notEqual(steps.replaying, true, 'a replaced storage is not replayed');
    for (let i = 14; i < 17; i++) both(i);
    assert.equal(steps.replaying, true);
    sameState(recordedModel, plainModel);
    steps.dispose();
  });

  it("keeps two batch shapes' recordings right when their convs keep weights in different layouts", { skip }, () => {
    // Tuning picks per batch shape: here direct for batches of 4 and Winograd for batches of 3,
    // whose weight gradients come in different blocked layouts. A parameter must stay where the
    // recordings of both shapes read and write it.
    const [recordedModel, plainModel] = [resnet(), resnet()];
    const [o1, o2] = [sgd(recordedModel), sgd(plainModel)];
    const steps = recordTrainingStep(recordedModel, o1);
    const algorithm = (name: string) => {
      process.env.CONVKIT_CONV_ALGORITHM = name;
      resetSettings();
    };
    const before = process.env.CONVKIT_CONV_ALGORITHM;
    try {
      for (let i = 0; i < 16; i++) {
        const n = i % 4 === 3 ? 3 : 4;
        algorithm(n === 3 ? 'winograd' : 'direct');
        const { x, labels } = batch(i, n);
        const a = take(steps.step(x, labels));
        const b = take(opByOp(plainModel, o2, x, labels));
        assert.ok(Object.is(a.loss, b.loss), `step ${i} (batch ${n}): loss ${a.loss} vs ${b.loss}`);
        sameBits(`step ${i} (batch ${n}): logits`, a.logits, b.logits);
      }
      assert.equal(steps.replaying, true, 'both shapes replay their recordings');
    } finally {
      if (before === undefined) delete process.env.CONVKIT_CONV_ALGORITHM;
      else process.env.CONVKIT_CONV_ALGORITHM = before;
      resetSettings();
    }
    sameState(recordedModel, plainModel);
    sameOptimizerState(o1, o2);
    steps.dispose();
  });

  // The learning rate (a schedule's) and Adam's bias corrections change from step to step: replays
  // pass them anew instead of recording again.
  const trainers: [string, (m: TensorModule) => Optimizer][] = [
    ['SGD', sgd],
    ['Adam', (m) => new Adam(m.parameters(), { lr: 1e-3, weightDecay: 1e-4 })],
    ['AdamW with amsgrad', (m) => new AdamW(m.parameters(), { lr: 1e-3, amsgrad: true })],
  ];
  for (const [name, optimizerOf] of trainers)
    it(`${name}: a learning rate changed at every step replays with the steps op by op's bits`, { skip }, () => {
      const [recordedModel, plainModel] = [resnet(), resnet()];
      const [o1, o2] = [optimizerOf(recordedModel), optimizerOf(plainModel)];
      const steps = recordTrainingStep(recordedModel, o1);
      const modes: (true | string)[] = [];
      for (let i = 0; i < 8; i++) {
        for (const o of [o1, o2]) o.paramGroups[0].lr *= 0.9;
        const { x, labels } = batch(i);
        const a = take(steps.step(x, labels));
        modes.push(steps.replaying);
        const b = take(opByOp(plainModel, o2, x, labels));
        assert.ok(Object.is(a.loss, b.loss), `step ${i}: loss ${a.loss} vs ${b.loss}`);
        sameBits(`step ${i}: logits`, a.logits, b.logits);
      }
      assert.deepEqual(modes.slice(-4), [true, true, true, true], `replayed: ${modes.join(', ')}`);
      sameState(recordedModel, plainModel);
      sameOptimizerState(o1, o2);
      steps.dispose();
    });

  it('checks the labels of a replay as the loss would', { skip }, () => {
    const model = resnet();
    const steps = recordTrainingStep(model, sgd(model));
    for (let i = 0; i < 4; i++) take(steps.step(batch(i).x, batch(i).labels));
    assert.equal(steps.replaying, true);
    const { x } = batch(4);
    assert.throws(() => steps.step(x, Int32Array.from([1, 2, 3])), ArgumentError);
    assert.throws(() => steps.step(x, Int32Array.from([1, 2, 3, 10])), /label 10 is out of range for 10 classes/);
    assert.throws(() => steps.step(x, Int32Array.from([1, -1, 3, 4])), /label -1 is out of range/);
    steps.dispose();
  });

  it('runs op by op, saying why, where a replay would be wrong', { skip }, () => {
    const reasons = (model: TensorModule, optimizer: Optimizer, backend = 'native'): string | true => {
      const steps = recordTrainingStep(model, optimizer);
      for (let i = 0; i < 5; i++) {
        const { x, labels } = batch(i);
        take(steps.step(backend === 'native' ? x : ops.to(x, backend), labels));
      }
      const r = steps.replaying;
      steps.dispose();
      return r;
    };
    const model = resnet();
    assert.match(
      String(reasons(model, new OwnSgd(model.parameters()))),
      /only SGD, Adam and AdamW steps .* not OwnSgd's/,
    );
    const native = { backend: 'native' };
    const dropout = new nn.Sequential(new nn.Flatten(), new nn.Dropout({ p: 0.5 }), new nn.Linear(768, 10, native));
    assert.match(
      String(reasons(dropout, new SGD(dropout.parameters(), { lr: 0.1 }))),
      /dropoutMask runs the reference kernel/,
    );
    const cumulative = new nn.Sequential(
      new nn.Conv2d(3, 8, 3, native),
      new nn.BatchNorm2d(8, { momentum: null, ...native }),
      new nn.Flatten(),
      new nn.Linear(8 * 14 * 14, 10, native),
    );
    assert.match(
      String(reasons(cumulative, new SGD(cumulative.parameters(), { lr: 0.1 }))),
      /each step gives 1.num_batches_tracked a new storage/,
    );
    const ref = resnet('ref');
    assert.match(String(reasons(ref, sgd(ref), 'ref')), /the 'ref' backend runs steps op by op/);
  });
});
