import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { withBackend } from '../../src/backend/registry.js';
import { noGrad } from '../../src/core/grad-mode.js';
import { Generator, manualSeed } from '../../src/core/random.js';
import { keep, scope } from '../../src/core/scope.js';
import * as ops from '../../src/ops/index.js';

describe('tensor creation', () => {
  it('nested arrays, shapes, strides and values', () => {
    const t = ops.tensor([
      [1, 2, 3],
      [4, 5, 6],
    ]);
    assert.deepEqual(t.shape, [2, 3]);
    assert.deepEqual(t.strides, [3, 1]);
    assert.equal(t.dtype, 'float32');
    assert.deepEqual(t.toNested(), [
      [1, 2, 3],
      [4, 5, 6],
    ]);
    assert.equal(ops.tensor(7).item(), 7);
    assert.deepEqual(ops.arange(1, 2, 0.25).toNested(), [1, 1.25, 1.5, 1.75]);
    assert.deepEqual(ops.full([2], 3, { dtype: 'float64' }).toArray(), Float64Array.from([3, 3]));
  });

  it('rejects ragged arrays and mismatched sizes with the position', () => {
    assert.throws(() => ops.tensor([[1, 2], [3]]), /tensor: ragged nested array: expected 2 items at \[1\], got 1/);
    assert.throws(
      () => ops.fromArray([1, 2, 3], [2, 2]),
      /fromArray: 3 values cannot fill shape \[2, 2\] \(4 elements\)/,
    );
    assert.throws(() => ops.zeros([2, -1]), /shape \[2, -1\] must hold non-negative integers/);
  });

  it('seeded random draws repeat and have the right moments', () => {
    manualSeed(3);
    const a = [...ops.randn([10000]).toArray()];
    manualSeed(3);
    const b = [...ops.randn([10000]).toArray()];
    assert.deepEqual(a, b);
    const mean = a.reduce((s, v) => s + v, 0) / a.length;
    const variance = a.reduce((s, v) => s + (v - mean) ** 2, 0) / a.length;
    assert.ok(Math.abs(mean) < 0.03 && Math.abs(variance - 1) < 0.05, `mean ${mean}, variance ${variance}`);
    const u = ops.uniform([10000], -2, 2, { generator: new Generator(9) }).toArray();
    assert.ok(u.every((v) => v >= -2 && v < 2));
  });
});

describe('autograd', () => {
  it('accumulates gradients over uses and over backward calls', () => {
    const x = ops.tensor([1, 2, 3], { requiresGrad: true });
    const y = ops.sum(ops.add(ops.mul(x, x), x)); // d/dx = 2x + 1
    y.backward();
    assert.deepEqual([...x.grad!.toArray()], [3, 5, 7]);
    ops.sum(ops.mul(x, 2)).backward();
    assert.deepEqual([...x.grad!.toArray()], [5, 7, 9]);
  });

  it('retainGraph allows a second backward; without it the graph is freed', () => {
    const x = ops.tensor([2], { requiresGrad: true });
    const y = ops.mul(ops.exp(x), 1);
    y.backward(undefined, { retainGraph: true });
    y.backward();
    assert.ok(Math.abs(x.grad!.item() - 2 * Math.exp(2)) < 1e-4);
    assert.throws(() => y.backward(), /already freed; pass \{ retainGraph: true \}/);
  });

  it('explains backward on tensors that need no grad or are not scalars', () => {
    assert.throws(() => ops.tensor([1]).backward(), /does not require grad/);
    const x = ops.tensor([1, 2], { requiresGrad: true });
    assert.throws(() => ops.mul(x, 2).backward(), /only for a one-element output, this one has shape \[2\]/);
    ops.mul(x, 2).backward(ops.tensor([1, 10]));
    assert.deepEqual([...x.grad!.toArray()], [2, 20]);
  });

  it('view is differentiable, as in PyTorch (it is reshape on contiguous tensors)', () => {
    const w = ops.tensor([1, 2, 3, 4, 5, 6]).requireGrad();
    const y = ops.mul(
      w.view([2, -1]),
      ops.tensor([
        [1, 1, 1],
        [10, 10, 10],
      ]),
    );
    ops.sum(y).backward();
    assert.deepEqual([...(w.grad?.toArray() ?? [])], [1, 1, 1, 10, 10, 10]);
    assert.throws(() => w.view([4, -1]), /view: cannot reshape \[6\] \(6 elements\) into \[4, -1\]/);
    assert.throws(() => w.view([-1, -1]), /view: shape \[-1, -1\] is invalid/);
  });

  it('noGrad and detach cut the graph', () => {
    const x = ops.tensor([1], { requiresGrad: true });
    assert.equal(noGrad(() => ops.mul(x, 2)).requiresGrad, false);
    assert.equal(ops.mul(x.detach(), 2).requiresGrad, false);
    assert.equal(ops.mul(x, 2).requiresGrad, true);
  });

  it('a deep chain does not overflow the stack', () => {
    let y = ops.tensor([1], { requiresGrad: true });
    const x = y;
    for (let i = 0; i < 20000; i++) y = ops.add(y, 0);
    y.backward();
    assert.equal(x.grad!.item(), 1);
  });
});

describe('memory: dispose and scope', () => {
  it('scope frees what it made except results and kept tensors', () => {
    const outside = ops.ones([2]);
    let inner: ReturnType<typeof ops.ones> | undefined;
    let kept: ReturnType<typeof ops.ones> | undefined;
    const result = scope(() => {
      inner = ops.add(outside, 1);
      kept = keep(ops.ones([1]));
      return { value: ops.mul(inner, 2) };
    });
    assert.equal(inner!.disposed, true);
    assert.equal(kept!.disposed, false);
    assert.equal(outside.disposed, false);
    assert.deepEqual([...result.value.toArray()], [4, 4]);
  });

  it('using a disposed tensor names its shape and maker', () => {
    const x = ops.tensor([1, 2], { requiresGrad: true });
    const y = ops.exp(x);
    y.dispose();
    assert.throws(() => y.toArray(), /a tensor of shape \[2\] \(made by exp\) was used after dispose\(\)/);
  });

  it('reshape views share storage until the last one is disposed', () => {
    const x = ops.tensor([1, 2, 3, 4]);
    const v = ops.reshape(x, [2, 2]);
    x.dispose();
    assert.deepEqual(v.toNested(), [
      [1, 2],
      [3, 4],
    ]);
  });
});

describe('meta backend', () => {
  it('propagates shapes without values', () => {
    withBackend('meta', () => {
      const x = ops.zeros([8, 3, 10, 10]);
      const y = ops.matmul(ops.reshape(x, [8, 300]), ops.zeros([300, 5]));
      assert.deepEqual(y.shape, [8, 5]);
      assert.equal(y.backend.name, 'meta');
      assert.throws(() => y.toArray(), /meta tensors have shapes but no values/);
    });
  });

  it('refuses to mix backends, saying how to fix it', () => {
    const a = ops.zeros([2], { backend: 'ref' });
    const b = ops.zeros([2], { backend: 'meta' });
    assert.throws(
      () => ops.add(a, b),
      /add: operands live on different backends \('ref' and 'meta'\); move them with to\(\)/,
    );
  });
});

describe('moving between dtypes and backends', () => {
  it('cast and to keep the graph, also when nothing changes', () => {
    const x = ops.tensor([1, 2], { requiresGrad: true });
    ops.sum(ops.mul(ops.cast(ops.cast(x, 'float64'), 'float32'), ops.cast(x, 'float32'))).backward();
    assert.deepEqual([...x.grad!.toArray()], [2, 4]);
    const y = ops.tensor([3], { requiresGrad: true });
    ops.mul(ops.to(y, 'ref'), 2).backward();
    assert.equal(y.grad!.item(), 2);
    assert.equal(ops.cast(x, 'float64').dtype, 'float64');
  });
});
