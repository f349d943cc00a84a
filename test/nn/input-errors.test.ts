/**
 * Messages for values that are not what a module or op expects (issue #15): each names the
 * layer or op, what was expected and what came, instead of a TypeError from inside a kernel.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ArgumentError, WeightsError } from '../../src/core/errors.js';
import { manualSeed } from '../../src/core/random.js';
import type { Tensor } from '../../src/core/tensor.js';
import * as nn from '../../src/nn/index.js';
import * as ops from '../../src/ops/index.js';

// Values a JavaScript caller (or JSON) can hand over where TypeScript would have said no.
// biome-ignore lint/suspicious/noExplicitAny: the point is to pass what the types forbid
const untyped = (v: unknown): any => v;

describe('loadStateDict with values that are not tensors', () => {
  it('names each key, the tensor it expected and what came, in one WeightsError', () => {
    const fc = new nn.Linear(3, 2);
    const before = fc.weight.toArray();
    assert.throws(
      () =>
        fc.loadStateDict(
          new Map(
            untyped([
              ['weight', 3],
              ['bias', [1, 2]],
            ]),
          ),
        ),
      (e: unknown) =>
        e instanceof WeightsError &&
        e.message ===
          'loadStateDict: 2 values that are not tensors (weight: expected a Tensor of shape [2, 3], got a number (3), bias: expected a Tensor of shape [2], got an array (length 2))',
    );
    assert.deepEqual(fc.weight.toArray(), before, 'a failed load changes nothing');
  });

  it('null and undefined values in a record, and a source that is not a state dict', () => {
    const fc = new nn.Linear(3, 2);
    assert.throws(
      () => fc.loadStateDict(untyped({ weight: null, bias: undefined })),
      /weight: expected a Tensor of shape \[2, 3\], got null, bias: expected a Tensor of shape \[2\], got undefined/,
    );
    assert.throws(
      () => fc.loadStateDict(untyped(undefined)),
      (e: unknown) =>
        e instanceof WeightsError &&
        /expected a state dict \(a Map or a record from keys to Tensors\), got undefined/.test(e.message),
    );
    assert.throws(() => fc.loadStateDict(untyped([1, 2])), /got an array \(length 2\)/);
  });

  it('a record of tensors still loads, and strict: false still ignores extra keys of any kind', () => {
    const fc = new nn.Linear(3, 2);
    const src = new nn.Linear(3, 2);
    fc.loadStateDict(untyped({ ...Object.fromEntries(src.stateDict()), extra: 5 }), { strict: false });
    assert.deepEqual(fc.weight.toArray(), src.weight.toArray());
  });
});

describe('Linear with zero input features (PyTorch: the bias, broadcast)', () => {
  it('Linear(0, 2) on a [2, 0] input gives [2, 2], like torch.nn.Linear(0, 2)(torch.zeros(2, 0))', () => {
    // PyTorch 1.13: tensor([[0., 0.], [0., 0.]]): with fan_in 0 the bias is initialised to 0.
    manualSeed(0);
    const fc = new nn.Linear(0, 2);
    const x = ops.zeros([2, 0], { requiresGrad: true });
    const y = fc.call(x);
    assert.deepEqual(y.shape, [2, 2]);
    assert.deepEqual(y.toNested(), [
      [0, 0],
      [0, 0],
    ]);
    ops.sum(y).backward();
    assert.deepEqual(fc.bias?.grad?.toNested(), [2, 2]);
    assert.deepEqual(fc.weight.grad?.shape, [2, 0]);
    assert.deepEqual(x.grad?.shape, [2, 0]);
  });

  it('leading axes and a set bias: [3, 4, 0] -> [3, 4, 2], every row the bias', () => {
    const fc = new nn.Linear(0, 2);
    const bias = fc.bias as Tensor;
    bias.assign(ops.tensor([1, -2]));
    const y = fc.call(ops.zeros([3, 4, 0]));
    assert.deepEqual(y.shape, [3, 4, 2]);
    assert.deepEqual([...y.toArray()], Array.from({ length: 12 }, () => [1, -2]).flat());
  });
});

describe('a module or op given something that is not a tensor', () => {
  it("Sequential.call([1, 2, 3]): an ArgumentError naming the module, not a TypeError about 'kernels'", () => {
    const net = new nn.Sequential(new nn.Linear(3, 2), new nn.ReLU());
    assert.throws(
      () => net.call(untyped([1, 2, 3])),
      (e: unknown) =>
        e instanceof ArgumentError && e.message === 'Sequential: expected a Tensor as input, got an array (length 3)',
    );
  });

  it('a child module names its path', () => {
    class Wrapper extends nn.Module {
      readonly body = this.registerModule('body', new nn.Sequential(new nn.ReLU()));
      forward(_x: Tensor): Tensor {
        return this.body.call(untyped(undefined));
      }
    }
    assert.throws(
      () => new Wrapper().call(ops.ones([2])),
      /^ArgumentError: Sequential \(body\): expected a Tensor as input, got undefined$/,
    );
  });

  it('modules taking lists of tensors still accept them', () => {
    class Sum extends nn.Module<readonly Tensor[], Tensor> {
      forward(xs: readonly Tensor[]): Tensor {
        return ops.add(xs[0], xs[1]);
      }
    }
    assert.deepEqual(new Sum().call([ops.ones([2]), ops.ones([2])]).toNested(), [2, 2]);
    assert.throws(() => new Sum().call(untyped([1, 2])), /Sum: expected a Tensor as input, got an array/);
  });

  it('ops check their operands at the entry', () => {
    const x = ops.ones([1, 1, 4, 4]);
    const cases: [() => unknown, RegExp][] = [
      [() => ops.relu(untyped([1, 2, 3])), /^relu: expected a Tensor as input, got an array \(length 3\)$/],
      [() => ops.add(x, untyped(undefined)), /^add: expected a Tensor as operand 2, got undefined$/],
      [() => ops.add(untyped(null), x), /^add: expected a Tensor as operand 1, got null$/],
      [() => ops.mul(untyped('2'), 3), /^mul: expected a Tensor as input, got a string \("2"\)$/],
      [() => ops.sum(untyped(5)), /^sum: expected a Tensor as input, got a number \(5\)$/],
      [() => ops.conv2d(x, untyped(null)), /^conv2d: expected a Tensor as operand 2, got null$/],
      [
        () => ops.linear(untyped({ shape: [2, 3] }), ops.ones([2, 3])),
        /^linear: expected a Tensor as operand 1, got an object$/,
      ],
      [
        () => ops.maxPool2d(untyped(new Float32Array(4)), { kernelSize: 2 }),
        /^maxPool2d: expected a Tensor as input, got a Float32Array$/,
      ],
      [() => ops.concat(untyped(x)), /^concat: expected an array of Tensors, got a Tensor$/],
      [() => ops.concat([x, untyped(1)], 1), /^concat: expected a Tensor as operand 2, got a number \(1\)$/],
      [() => ops.reshape(untyped([1, 2]), [2]), /^reshape: expected a Tensor as input, got an array/],
      [() => ops.batchNorm(untyped(undefined)), /^batchNorm: expected a Tensor as input, got undefined$/],
      [() => ops.crossEntropy(untyped([[1, 2]]), [0]), /^crossEntropy: expected a Tensor as input, got an array/],
      [() => ops.zerosLike(untyped(3)), /^zerosLike: expected a Tensor as input, got a number \(3\)$/],
    ];
    for (const [fn, message] of cases) {
      assert.throws(fn, (e: unknown) => e instanceof ArgumentError && message.test(e.message), String(message));
    }
  });
});
