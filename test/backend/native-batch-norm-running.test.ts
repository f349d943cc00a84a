/**
 * The running statistics a native training batch norm moves in the same queued command as its
 * invStd (batch_norm.cc's batchNormRunningPlan), against the reference backend and PyTorch's
 * rule: (1 - momentum) * running + momentum * batch statistic, the variance unbiased. Blocked
 * conv outputs and plain maps, with and without the fused ReLU, a fixed momentum and
 * BatchNorm2d's cumulative average (momentum null); updated in place, as PyTorch's: a tensor that
 * shares the running buffers sees the new values, and num_batches_tracked counts in the same command.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { nativeCallCount } from '../../src/backend/native/index.js';
import { noGrad } from '../../src/core/grad-mode.js';
import type { Tensor } from '../../src/core/tensor.js';
import { BatchNorm2d } from '../../src/nn/batch-norm2d.js';
import * as ops from '../../src/ops/index.js';
import { assertClose, nativeSkipReason, seededValues } from './native-helpers.js';

const skip = nativeSkipReason('native-batch-norm-running');

const tensor = (shape: number[], seed: number, backend: string, shift = 0): Tensor =>
  ops.add(
    ops.fromArray(
      seededValues(
        shape.reduce((a, b) => a * b, 1),
        seed,
      ),
      shape,
      { backend },
    ),
    shift,
  );

/** Two training batch norms of one input, the running statistics read after each. */
function twoSteps(backend: string, conv: boolean, relu: boolean, momentum: number): Float32Array[] {
  return noGrad(() => {
    const raw = tensor([3, 4, 6, 5], 11, backend, 0.3);
    const x = conv ? ops.conv2d(raw, tensor([16, 4, 3, 3], 12, backend), null, { padding: 1 }) : raw;
    const c = x.shape[1];
    const runningMean = tensor([c], 13, backend);
    const runningVar = ops.add(ops.abs(tensor([c], 14, backend)), 0.5);
    const seen: Float32Array[] = [];
    for (let step = 0; step < 2; step++) {
      const input = step === 0 ? x : ops.mul(x, 1.5);
      ops.batchNorm(input, { runningMean, runningVar, momentum, relu, training: true });
      seen.push(Float32Array.from(runningMean.toArray()), Float32Array.from(runningVar.toArray()));
    }
    return seen;
  });
}

describe('native batch norm: running statistics in the training forward', () => {
  const cases = [
    ['a blocked conv output (16 channels), fused ReLU', true, true, 0.1],
    ['a blocked conv output, no ReLU, momentum 0.7', true, false, 0.7],
    ['plain maps (4 channels)', false, false, 0.1],
  ] as const;
  for (const [name, conv, relu, momentum] of cases) {
    it(`${name}: as the reference backend`, { skip }, () => {
      const expected = twoSteps('ref', conv, relu, momentum);
      const before = nativeCallCount();
      const actual = twoSteps('native', conv, relu, momentum);
      assert.ok(nativeCallCount() > before, 'no native kernel ran');
      expected.forEach((e, i) =>
        assertClose(`${name}: ${i % 2 ? 'running var' : 'running mean'}, step ${i >> 1}`, actual[i], e),
      );
    });
  }

  for (const backend of ['native', 'ref']) {
    it(`${backend}: follows the rule with the unbiased variance, in place (as PyTorch), counting the batch`, {
      skip: backend === 'native' ? skip : false,
    }, () => {
      noGrad(() => {
        const x = ops.fromArray([0, 2, 4, 6, 1, 3, 5, 9], [2, 2, 2, 1], { backend });
        const runningMean = ops.fromArray([1, -1], [2], { backend });
        const runningVar = ops.fromArray([2, 3], [2], { backend });
        const numBatchesTracked = ops.fromArray([7], [], { backend });
        const sharedMean = runningMean.detach();
        const [meanVersion, countVersion] = [runningMean.version, numBatchesTracked.version];
        ops.batchNorm(x, { runningMean, runningVar, momentum: 0.25, numBatchesTracked });
        // Channel 0 holds 0, 2, 1, 3 (mean 1.5, unbiased variance 5/3); channel 1 holds 4, 6, 5, 9.
        const mean = [0.75 * 1 + 0.25 * 1.5, 0.75 * -1 + 0.25 * 6];
        assertClose('running mean', runningMean.toArray(), mean);
        assertClose('running var', runningVar.toArray(), [0.75 * 2 + 0.25 * (5 / 3), 0.75 * 3 + 0.25 * (14 / 3)]);
        assertClose('a tensor sharing the running mean sees the new values', sharedMean.toArray(), mean);
        assert.equal(numBatchesTracked.item(), 8, 'num_batches_tracked counts the batch');
        assert.ok(runningMean.version > meanVersion && numBatchesTracked.version > countVersion, 'versions count up');
      });
    });
  }

  it("BatchNorm2d's cumulative average (momentum null) over three batches", { skip }, () => {
    const run = (backend: string): number[] =>
      noGrad(() => {
        const bn = new BatchNorm2d(16, { momentum: null, backend });
        const raw = tensor([2, 4, 5, 5], 21, backend);
        const x = ops.conv2d(raw, tensor([16, 4, 3, 3], 22, backend), null, { padding: 1 });
        for (let i = 0; i < 3; i++) bn.call(ops.add(x, i));
        return [...(bn.runningMean?.toArray() ?? []), ...(bn.runningVar?.toArray() ?? [])];
      });
    assertClose('BatchNorm2d running statistics', run('native'), run('ref'));
  });
});
