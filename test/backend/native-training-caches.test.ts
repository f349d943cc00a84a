/**
 * The native runtime's default plan cache holds what the zoo's largest training step uses again
 * every step: DenseNet-BC-100's step (801 plans, at any batch size) used to evict and remake
 * its plans each step under a cap of 512 (oneDNN's JIT on the main thread; docs/benchmarks.md,
 * the ninth session). Once the convs are tuned (the second step, which measures 2-5 algorithms
 * per conv and keeps only the plans of the fastest), a step must make no plan and evict none.
 * And its buffer pool gets back every buffer a step takes, so later steps allocate nothing.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { nativeRuntime } from '../../src/backend/native/index.js';
import { synchronize } from '../../src/backend/registry.js';
import { DEFAULT_PLAN_CACHE } from '../../src/core/config.js';
import { scope } from '../../src/core/scope.js';
import { buildModel } from '../../src/models/registry.js';
import { randn } from '../../src/ops/creation.js';
import { crossEntropy } from '../../src/ops/cross-entropy.js';
import type { TensorModule } from '../../src/nn/module.js';
import { SGD } from '../../src/train/sgd.js';
import { nativeSkipReason } from './native-helpers.js';

const skip = nativeSkipReason('native-training-caches');
// Measured in this process whatever a tuning file holds: the measurement makes a plan per
// candidate and conversion, and those of the slower ones must not crowd out the model's own.
process.env.CONVKIT_TUNING_CACHE = 'off';

describe('native runtime caches over training steps', () => {
  it('DenseNet-BC-100: a training step after the first two makes and evicts no plan under the default cap', {
    skip,
  }, async () => {
    const rt = nativeRuntime();
    assert.equal(rt.planLimit, DEFAULT_PLAN_CACHE, 'the runtime runs with the default plan cache');
    const model = buildModel('densenet_bc_100_cifar', { backend: 'native', classes: 10 });
    model.train();
    const x = randn([2, 3, 32, 32], { backend: 'native' });
    const step = trainingStep(model, x);
    // The first step runs every conv direct; the tuned choice comes from a weight's second use.
    await step();
    await step();
    const first = rt.planStats();
    await step();
    const second = rt.planStats();
    assert.ok(first.cached > 512, `the step uses ${first.cached} plans: more than the old cap, as the test means`);
    assert.equal(second.evicted, first.evicted, `the third step evicted ${second.evicted - first.evicted} plans`);
    assert.equal(second.native.plans, first.native.plans, 'the third step made plans');
    x.dispose();
  });

  it('ResNet-18: a training step after the first two takes every buffer from the pool (its BN+ReLU masks and max-pool indices come back)', {
    skip,
  }, async () => {
    const rt = nativeRuntime();
    const model = buildModel('resnet18', { backend: 'native', classes: 10 });
    model.train();
    const x = randn([2, 3, 64, 64], { backend: 'native' });
    const step = trainingStep(model, x);
    await step();
    await step();
    const misses = rt.poolMisses;
    await step();
    assert.equal(
      rt.poolMisses - misses,
      0,
      `the third step allocated ${rt.poolMisses - misses} buffers the pool lacked`,
    );
    x.dispose();
  });
});

/** One SGD step of `model` on `x` (labels 3 and 7), awaited, as the training loop runs it. */
function trainingStep(model: TensorModule, x: ReturnType<typeof randn>): () => Promise<void> {
  const optimizer = new SGD(model.parameters(), { lr: 0.01, momentum: 0.9 });
  return async () => {
    const loss = scope(() => {
      optimizer.zeroGrad();
      const l = crossEntropy(model.call(x), Int32Array.from([3, 7]));
      l.backward();
      optimizer.step();
      return l.detach();
    });
    await synchronize();
    assert.ok(Number.isFinite(loss.item()));
    loss.dispose();
  };
}
