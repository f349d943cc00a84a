/**
 * The fusion pass (nn.fuse, src/nn/fuse.ts) against the plain forward of every zoo family: the
 * same model with its fused executors attached (as buildModel returns it) and detached
 * (nn.unfuse) must agree in inference (eval mode, noGrad: logits) and in one training step (loss,
 * every parameter gradient, every buffer after the step, BN running statistics included), on the
 * reference backend and on the native backend by name. Each check also counts the ops that ran,
 * so the fused form provably ran fused: one batch norm fewer per folded BN, one ReLU fewer per
 * fused ReLU, as fusedGroups() reports them.
 *
 * Inputs are the smallest the architectures allow on ref (about 1 GFLOP/s): the CIFAR nets at
 * 8x8 or 16x16, the ResNets and GoogLeNet at 16x16, DenseNet-121 at 32x32 (its transitions halve
 * three times after the 4x stem), VGG at 32x32 (five pools), AlexNet at 63x63; the paper layouts
 * of AlexNet and GoogLeNet need their full 227/224 input (see ZOO). On native: CIFAR nets at
 * 32x32 and ImageNet nets at 64x64, batch 2. Models have 10 classes (smaller classifiers).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { getThreads, setThreads, withBackend } from '../../src/backend/registry.js';
import { noGrad } from '../../src/core/grad-mode.js';
import { Generator, manualSeed } from '../../src/core/random.js';
import type { Tensor } from '../../src/core/tensor.js';
import { traceOps } from '../../src/core/trace.js';
import { buildModel } from '../../src/models/registry.js';
import * as nn from '../../src/nn/index.js';
import * as ops from '../../src/ops/index.js';
import { nativeSkipReason } from '../backend/native-helpers.js';

after(() => {
  nn.setInferenceFusion(true);
  nn.setTrainingFusion(true);
});

/**
 * |a - b| <= RTOL * |b| + ATOL * max|b| per element. Inference: folding BN into the conv weights
 * rounds w * gamma / sd once instead of the activations after each conv, and sums reassociate, so
 * the logits move by float32 rounding that grows with depth: measured at most 1.1e-6 of the
 * largest logit (resnet50 on native; 3e-7 on ref), 7 % of this bound, while a wrong fold (a
 * missing BN, a wrong epsilon, a dropped addend) is off by 1e-2 or more. Training: fused BN + ReLU
 * does the same float operations as the two ops; the loss, gradients and buffers were measured
 * identical on both backends, and the bound leaves room for a oneDNN version that reorders a sum.
 */
const RTOL = 1e-4;
const ATOL = 1e-5;

function assertClose(what: string, actual: ArrayLike<number>, expected: ArrayLike<number>): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  let scale = 0;
  for (let i = 0; i < expected.length; i++) scale = Math.max(scale, Math.abs(expected[i]));
  const atol = ATOL * scale;
  for (let i = 0; i < expected.length; i++) {
    const bound = RTOL * Math.abs(expected[i]) + atol;
    if (!(Math.abs(actual[i] - expected[i]) <= bound))
      assert.fail(`${what}: element ${i} is ${actual[i]} fused, ${expected[i]} unfused (bound ${bound})`);
  }
}

/** Random affine parameters and running statistics, so that folding has something to fold. */
function randomizeBatchNorms(model: nn.Module<never, unknown>, seed: number): void {
  const g = new Generator(seed);
  noGrad(() => {
    for (const m of model.modules()) {
      if (!(m instanceof nn.BatchNorm2d) || !m.runningMean || !m.runningVar) continue;
      const c = m.numFeatures;
      const opts = { generator: g, backend: m.runningMean.backend.name };
      m.runningMean.assign(ops.normal([c], 0, 0.2, opts));
      m.runningVar.assign(ops.uniform([c], 0.5, 1.5, opts));
      m.weight?.assign(ops.uniform([c], 0.5, 1.5, opts));
      m.bias?.assign(ops.normal([c], 0, 0.2, opts));
    }
  });
}

type Counts = Record<string, number>;

function countOps<T>(fn: () => T): { out: T; counts: Counts } {
  const counts: Counts = {};
  const out = traceOps((e) => {
    counts[e.op] = (counts[e.op] ?? 0) + 1;
  }, fn);
  return { out, counts };
}

const n = (c: Counts, op: string): number => c[op] ?? 0;

/** The ops that fusion removes, derived from what fusedGroups() reports for the mode. */
function assertFusedOps(model: nn.TensorModule, mode: nn.FusionMode, plain: Counts, fused: Counts): void {
  const groups = nn.fusedGroups(model, mode);
  const withRelu = groups.filter((g) => g.kind.endsWith('relu')).length;
  const folded = groups.filter((g) => g.kind.startsWith('conv+bn')).length;
  assert.ok(groups.length > 0, `${mode}: something is fused`);
  assert.equal(n(fused, 'relu'), n(plain, 'relu') - withRelu, `${mode}: one ReLU op fewer per fused ReLU`);
  assert.equal(
    n(fused, 'batchNorm') + n(fused, 'concatBatchNorm'),
    n(plain, 'batchNorm') - folded,
    `${mode}: one batch norm fewer per folded BN`,
  );
  assert.equal(n(fused, 'conv2d'), n(plain, 'conv2d'), `${mode}: every convolution still runs`);
}

interface Step {
  loss: number;
  /** Every parameter's gradient (the tensors themselves, taken off the parameters). */
  grads: [string, Tensor][];
  /** Every buffer after the step, copied. */
  buffers: [string, Float32Array][];
}

/**
 * One training step: forward, cross-entropy, backward. The step changes the buffers (running
 * statistics, batch counts) and nothing else (no optimiser), so `buffersBefore` puts it back.
 */
function trainingStep(
  model: nn.TensorModule,
  x: Tensor,
  buffersBefore: readonly Float32Array[],
): { step: Step; counts: Counts } {
  model.train();
  model.zeroGrad();
  const labels = Int32Array.from({ length: x.shape[0] }, (_, i) => (i * 3) % 10);
  manualSeed(99); // the same dropout masks in both forms
  const { out: logits, counts } = countOps(() => model.call(x));
  const loss = ops.crossEntropy(logits, labels);
  loss.backward();
  const step: Step = {
    loss: loss.item(),
    grads: model.namedParameters().map(([name, p]) => {
      const g = p.grad as Tensor;
      p.grad = null;
      return [name, g];
    }),
    buffers: model.namedBuffers().map(([name, b]) => [name, Float32Array.from(b.toArray())]),
  };
  model.buffers().forEach((b, i) => {
    const before = ops.fromArray(Float32Array.from(buffersBefore[i]), b.shape);
    b.assign(before);
    before.dispose();
  });
  return { step, counts };
}

function checkModel(name: string, backend: string, size: number, batch: number, training = true): void {
  withBackend(backend, () => {
    manualSeed(5);
    const model = buildModel(name, { classes: 10 });
    randomizeBatchNorms(model, 7);
    const x = ops.randn([batch, 3, size, size], { generator: new Generator(3) });

    // Inference: eval mode under noGrad.
    model.eval();
    const plainInf = countOps(() => noGrad(() => nn.unfuse(model).call(x)));
    const fusedInf = countOps(() => noGrad(() => nn.fuse(model).call(x)));
    assertClose(`${name} logits`, fusedInf.out.toArray(), plainInf.out.toArray());
    assertFusedOps(model, 'inference', plainInf.counts, fusedInf.counts);

    // One training step from the same state.
    if (!training) {
      assert.deepEqual(nn.fusedGroups(model, 'training'), [], `${name} has no training group`);
      model.dispose();
      return;
    }
    const buffersBefore = model.buffers().map((b) => Float32Array.from(b.toArray()));
    const plain = trainingStep(nn.unfuse(model), x, buffersBefore);
    const fused = trainingStep(nn.fuse(model), x, buffersBefore);
    assertClose(`${name} loss`, [fused.step.loss], [plain.step.loss]);
    assert.deepEqual(
      fused.step.grads.map(([k]) => k),
      plain.step.grads.map(([k]) => k),
    );
    fused.step.grads.forEach(([k, g], i) =>
      assertClose(`${name} gradient of ${k}`, g.toArray(), plain.step.grads[i][1].toArray()),
    );
    for (const [, g] of [...fused.step.grads, ...plain.step.grads]) g.dispose();
    fused.step.buffers.forEach(([k, b], i) => assertClose(`${name} buffer ${k}`, b, plain.step.buffers[i][1]));
    if (nn.fusedGroups(model, 'training').length > 0) assertFusedOps(model, 'training', plain.counts, fused.counts);
    else assert.deepEqual(fused.counts, plain.counts, 'no training group: the same ops run');
    model.dispose();
  });
}

/**
 * [model, input size on ref, batch on ref, input size on native]. The paper layouts of AlexNet and
 * GoogLeNet need their full 227x227 / 224x224 input (a fixed-size classifier, a 7x7 average pool),
 * 0.7 and 1.6 GMACs a pass; on ref (about 1 GFLOP/s) their training step would double this file's
 * time. They have no batch norm, so their training form has no fused group (asserted): fused
 * training runs the very same module calls in the same order, which the native test checks op by
 * op and value by value; the ref test checks their inference form.
 */
const ZOO: readonly (readonly [string, number, number, number])[] = [
  ['alexnet', 63, 1, 64],
  ['alexnet_paper', 227, 1, 227],
  ['vgg11_bn', 32, 1, 32],
  ['googlenet', 16, 2, 64],
  ['googlenet_paper', 224, 1, 224],
  ['resnet18', 16, 2, 64],
  ['resnet50', 16, 2, 64],
  ['resnet50_v1', 16, 2, 64],
  ['resnet20_cifar', 16, 2, 32],
  ['plain20_cifar', 16, 2, 32],
  ['densenet121', 32, 2, 64],
  ['densenet_bc_100_cifar', 8, 2, 32],
];
const FULL_SIZE_ON_REF = new Set(['alexnet_paper', 'googlenet_paper']);

describe('fused and unfused zoo models agree (reference backend)', () => {
  for (const [name, size, batch] of ZOO) {
    const training = !FULL_SIZE_ON_REF.has(name);
    it(`${name} at ${batch}x3x${size}x${size}: inference${training ? ' and one training step' : ''}`, () =>
      checkModel(name, 'ref', size, batch, training));
  }
});

describe('fused and unfused zoo models agree (native backend)', () => {
  const skip = nativeSkipReason('fusion-equivalence');
  // One thread: the comparison needs no parallelism, and OpenMP's waiting threads would spin on a
  // loaded machine (twice the CPU time of the whole file with 2 threads on a busy 2-core host).
  let threads = 1;
  before(() => {
    threads = getThreads();
    setThreads(1);
  });
  after(() => setThreads(threads));
  for (const [name, , , size] of ZOO) {
    it(`${name} at 2x3x${size}x${size}: inference and one training step`, { skip }, () =>
      checkModel(name, 'native', size, 2),
    );
  }
});
