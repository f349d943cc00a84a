import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setBackend } from '../../src/backend/registry.js';
import { Generator } from '../../src/core/random.js';
import * as nn from '../../src/nn/index.js';
import * as ops from '../../src/ops/index.js';
import { gradCheck, rand64 } from '../helpers/gradcheck.js';

// float64 checks against hand computations: the reference backend is their home, whatever the default.
setBackend('ref');

const close = (a: ArrayLike<number>, b: ArrayLike<number>, tol = 1e-6): void => {
  assert.equal(a.length, b.length, 'length');
  for (let i = 0; i < a.length; i++) assert.ok(Math.abs(a[i] - b[i]) <= tol, `element ${i}: ${a[i]} vs ${b[i]}`);
};

/** float64 layers on the reference backend, for gradient checks. */
const f64 = (seed: number): nn.FactoryOptions => ({ dtype: 'float64', backend: 'ref', generator: new Generator(seed) });

describe('Residual', () => {
  const body = (): nn.Linear => {
    const fc = new nn.Linear(2, 2);
    fc.loadStateDict({
      weight: ops.tensor([
        [1, 2],
        [3, 4],
      ]),
      bias: ops.tensor([0.5, -10]),
    });
    return fc;
  };

  it('computes post(body(x) + x) with the identity shortcut', () => {
    // body([1, 1]) = [1 + 2 + 0.5, 3 + 4 - 10] = [3.5, -3]; plus x: [4.5, -2]; ReLU: [4.5, 0].
    const block = new nn.Residual(body(), { post: new nn.ReLU() });
    close(block.call(ops.tensor([[1, 1]])).toArray(), [4.5, 0]);
    assert.deepEqual([...block.stateDict().keys()], ['body.weight', 'body.bias']);
  });

  it('computes post(body(x) + shortcut(x)) with a projection shortcut', () => {
    const shortcut = new nn.Linear(2, 2, { bias: false });
    shortcut.loadStateDict({
      weight: ops.tensor([
        [2, 0],
        [0, 2],
      ]),
    });
    // [3.5, -3] + [2, 2] = [5.5, -1]; ReLU: [5.5, 0]. Without post: [5.5, -1].
    close(new nn.Residual(body(), { shortcut, post: new nn.ReLU() }).call(ops.tensor([[1, 1]])).toArray(), [5.5, 0]);
    close(new nn.Residual(body(), { shortcut }).call(ops.tensor([[1, 1]])).toArray(), [5.5, -1]);
  });

  it('refuses body and shortcut shapes that differ, even when add() could broadcast them', () => {
    const model = new nn.Sequential(new nn.Residual(new nn.Linear(2, 1)));
    assert.throws(
      () => model.call(ops.zeros([1, 2])),
      /^ShapeError: Residual \(0\): body gives \[1, 1\] but the shortcut gives \[1, 2\]/,
    );
  });

  it('a ResNet basic block (conv-BN-ReLU-conv-BN + downsampling shortcut) passes a float64 gradient check', () => {
    const f = f64(1);
    const block = new nn.Residual(
      new nn.Sequential(
        new nn.Conv2d(2, 3, 3, { stride: 2, padding: 1, bias: false, ...f }),
        new nn.BatchNorm2d(3, f),
        new nn.ReLU({ inplace: true }),
        new nn.Conv2d(3, 3, 3, { padding: 1, bias: false, ...f }),
        new nn.BatchNorm2d(3, f),
      ),
      {
        shortcut: new nn.Sequential(new nn.Conv2d(2, 3, 1, { stride: 2, bias: false, ...f }), new nn.BatchNorm2d(3, f)),
        post: new nn.ReLU(),
      },
    );
    const params = block.parameters();
    assert.equal(params.length, 9);
    // The parameters are inputs of the check too: it perturbs them in place, and the block reads them.
    gradCheck((x) => block.call(x), [rand64([2, 2, 5, 5], 3), ...params]);
  });
});

describe('Concat', () => {
  it('concatenates branch outputs along the channel axis, children named by position', () => {
    const sum = new nn.Linear(2, 1);
    sum.loadStateDict({ weight: ops.tensor([[1, 1]]), bias: ops.tensor([0]) });
    const block = new nn.Concat([new nn.Identity(), sum]);
    close(
      block
        .call(
          ops.tensor([
            [1, 2],
            [3, 4],
          ]),
        )
        .toArray(),
      [1, 2, 3, 3, 4, 7],
    );
    assert.deepEqual([...block.stateDict().keys()], ['1.weight', '1.bias']);
  });

  it('takes named branches (torchvision Inception style) and another axis', () => {
    const block = new nn.Concat({ branch1: new nn.Identity(), branch2: new nn.ReLU() }, { axis: 0 });
    assert.deepEqual(
      block.namedChildren().map(([n]) => n),
      ['branch1', 'branch2'],
    );
    close(block.call(ops.tensor([[-1, 2]])).toArray(), [-1, 2, 0, 2]);
  });

  it('an Inception-like block passes a float64 gradient check', () => {
    const f = f64(2);
    const block = new nn.Concat([
      new nn.Conv2d(3, 2, 1, f),
      new nn.Sequential(new nn.Conv2d(3, 2, 1, f), new nn.Tanh(), new nn.Conv2d(2, 2, 3, { padding: 1, ...f })),
      new nn.Sequential(new nn.MaxPool2d(3, { stride: 1, padding: 1 }), new nn.Conv2d(3, 1, 1, f)),
    ]);
    assert.deepEqual(block.call(ops.zeros([1, 3, 4, 4], { dtype: 'float64' })).shape, [1, 5, 4, 4]);
    gradCheck((x) => block.call(x), [rand64([2, 3, 4, 4], 4), ...block.parameters()]);
  });
});
