/**
 * An autograd that refuses what it cannot do (issue #15): a loss returned from scope() can be
 * backpropagated (the scope keeps what its graph saved, and frees it afterwards); backward never
 * stops silently at a disposed tensor; a tensor changed in place after an op saved it is an error,
 * PyTorch's "modified by an inplace operation".
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { backendNames, withBackend } from '../../src/backend/registry.js';
import { BackendError } from '../../src/core/errors.js';
import { noGrad } from '../../src/core/grad-mode.js';
import { manualSeed } from '../../src/core/random.js';
import { keep, scope } from '../../src/core/scope.js';
import type { Tensor } from '../../src/core/tensor.js';
import { traceOps } from '../../src/core/trace.js';
import * as nn from '../../src/nn/index.js';
import * as ops from '../../src/ops/index.js';
import { Adam } from '../../src/train/adam.js';
import { SGD } from '../../src/train/sgd.js';

const backends = ['ref', 'native'].filter((b) => backendNames().includes(b));

/** Every tensor the ops in fn produce (inputs and outputs), to see which were freed. */
function tensorsOf<T>(fn: () => T): { result: T; made: Set<Tensor> } {
  const made = new Set<Tensor>();
  const result = traceOps((e) => made.add(e.output), fn);
  return { result, made };
}

function mlp(): nn.Sequential {
  manualSeed(0);
  return new nn.Sequential(new nn.Linear(3, 4), new nn.ReLU(), new nn.Linear(4, 2));
}

const x = (): Tensor =>
  ops.tensor([
    [1, 2, 3],
    [-1, 0.5, 2],
  ]);
const t = (): Tensor =>
  ops.tensor([
    [0.5, -1],
    [2, 0],
  ]);
const mse = (net: nn.Sequential, input: Tensor, target: Tensor): Tensor =>
  ops.mean(ops.square(ops.sub(net.call(input), target)));

for (const backend of backends) {
  describe(`scope() keeps what a returned graph needs (${backend})`, () => {
    it('a loss returned from scope backpropagates like one made outside, and the step changes the weights', () =>
      withBackend(backend, () => {
        const reference = mlp();
        mse(reference, x(), t()).backward();
        const expected = reference.parameters().map((p) => p.grad?.toArray());

        const net = mlp();
        const opt = new SGD(net.parameters(), { lr: 0.1 });
        const before = net.parameters().map((p) => p.toArray());
        const loss = scope(() => mse(net, x(), t()));
        loss.backward();
        net.parameters().forEach((p, i) => {
          assert.ok(p.grad, `parameter ${i} got no gradient`);
          assert.deepEqual(p.grad.toArray(), expected[i]);
        });
        opt.step();
        net.parameters().forEach((p, i) => assert.notDeepEqual(p.toArray(), before[i]));
      }));

    it('frees the kept tensors when backward runs through them', () =>
      withBackend(backend, () => {
        const net = mlp();
        const { result: loss, made } = tensorsOf(() => scope(() => mse(net, x(), t())));
        const kept = [...made].filter((m) => m !== loss && !m.disposed);
        assert.ok(kept.length > 0, 'the scope kept nothing for the graph');
        loss.backward();
        assert.deepEqual(
          [...made].filter((m) => m !== loss && !m.disposed).map((m) => m.gradFn?.op),
          [],
          'tensors kept for backward are freed by it',
        );
        loss.dispose();
      }));

    it('frees them when the returned tensor is disposed without backward', () =>
      withBackend(backend, () => {
        const net = mlp();
        const { result: out, made } = tensorsOf(() => scope(() => net.call(x())));
        assert.ok([...made].some((m) => m !== out && !m.disposed));
        out.dispose();
        assert.ok([...made].every((m) => m.disposed));
      }));

    it('keeps the graph until every tensor returned with it is disposed ([loss, logits])', () =>
      withBackend(backend, () => {
        const net = mlp();
        const [loss, logits] = scope(() => {
          const out = net.call(x());
          return [ops.mean(ops.square(ops.sub(out, t()))), out] as const;
        });
        logits.dispose();
        loss.backward();
        assert.ok(net.parameters().every((p) => p.grad !== null));
        loss.dispose();
      }));

    it('nested scopes: an inner scope returns logits, the outer one the loss', () =>
      withBackend(backend, () => {
        const net = mlp();
        const { result: loss, made } = tensorsOf(() =>
          scope(() => {
            const logits = scope(() => net.call(x()));
            return ops.mean(ops.square(ops.sub(logits, t())));
          }),
        );
        loss.backward();
        assert.ok(net.parameters().every((p) => p.grad !== null));
        assert.ok([...made].every((m) => m === loss || m.disposed));
      }));

    it('keep() of a loss inside a scope keeps what its graph saved, and backward frees it', () =>
      withBackend(backend, () => {
        const net = mlp();
        let loss: Tensor | null = null;
        const { made } = tensorsOf(() =>
          scope(() => {
            loss = keep(scope(() => mse(net, x(), t())));
            keep(mse(net, x(), t())).dispose();
          }),
        );
        const kept = loss as unknown as Tensor;
        kept.backward();
        assert.ok(net.parameters().every((p) => p.grad !== null));
        kept.dispose();
        assert.ok([...made].every((m) => m.disposed));
      }));

    it('backward twice with retainGraph, then dispose frees', () =>
      withBackend(backend, () => {
        const net = mlp();
        const { result: loss, made } = tensorsOf(() => scope(() => mse(net, x(), t())));
        loss.backward(undefined, { retainGraph: true });
        const once = net.parameters().map((p) => p.grad?.toArray() ?? []);
        loss.backward();
        net.parameters().forEach((p, i) => {
          const twice = p.grad?.toArray() ?? [];
          twice.forEach((v, j) => assert.ok(Math.abs(v - 2 * once[i][j]) < 1e-5));
        });
        loss.dispose();
        assert.ok([...made].every((m) => m.disposed));
      }));

    it('the usual loop (backward inside the scope) leaves nothing behind', () =>
      withBackend(backend, () => {
        const net = mlp();
        const opt = new SGD(net.parameters(), { lr: 0.1 });
        const made = new Set<Tensor>();
        for (let step = 0; step < 3; step++) {
          traceOps(
            (e) => made.add(e.output),
            () =>
              scope(() => {
                opt.zeroGrad();
                const loss = mse(net, x(), t());
                loss.backward();
                opt.step();
                return loss.item();
              }),
          );
        }
        assert.ok([...made].every((m) => m.disposed));
      }));

    it('a training batch norm, dropout and max pooling survive the scope too', () =>
      withBackend(backend, () => {
        manualSeed(1);
        const net = new nn.Sequential(
          new nn.Conv2d(2, 3, 3, { padding: 1 }),
          new nn.BatchNorm2d(3),
          new nn.ReLU(),
          new nn.MaxPool2d(2),
          new nn.Flatten(),
          new nn.Dropout({ p: 0.5 }),
          new nn.Linear(12, 2),
        );
        const input = ops.randn([2, 2, 4, 4]);
        const loss = scope(() => ops.crossEntropy(net.call(input), [0, 1]));
        loss.backward();
        assert.ok(net.parameters().every((p) => p.grad !== null));
        loss.dispose();
      }));
  });
}

describe('backward never stops silently at a disposed tensor', () => {
  it('an intermediate disposed by hand that its op saved: an error naming the op', () => {
    const w = ops.tensor([1, 2, 3], { requiresGrad: true });
    const h = ops.exp(w);
    const loss = ops.sum(h);
    h.dispose();
    assert.throws(
      () => loss.backward(),
      (e: unknown) =>
        e instanceof BackendError &&
        /exp saved a tensor of shape \[3\] for its gradient, and it was disposed before backward\(\) ran/.test(
          e.message,
        ) &&
        /call backward\(\) inside that scope/.test(e.message),
    );
  });

  it('names the layer path of the op', () => {
    const net = mlp();
    const h = net.call(x());
    const loss = ops.sum(ops.square(h));
    h.dispose();
    assert.throws(() => loss.backward(), /square saved a tensor of shape \[2, 2\]/);
    const inner = new nn.Sequential(new nn.Linear(3, 2), new nn.Sigmoid());
    const y = inner.call(x());
    const l2 = ops.sum(y);
    y.dispose();
    assert.throws(() => l2.backward(), /sigmoid \(1\) saved a tensor of shape \[2, 2\]/);
  });

  it('a disposed intermediate that no op saved: the gradient still flows through it', () => {
    const w = ops.tensor([1, 2, 3], { requiresGrad: true });
    const h = ops.add(w, w);
    const loss = ops.sum(h);
    h.dispose();
    loss.backward();
    assert.deepEqual(w.grad?.toNested(), [2, 2, 2]);
  });

  it('a kept intermediate inside a scope stays usable', () => {
    const w = ops.tensor([1, 2, 3], { requiresGrad: true });
    const loss = scope(() => {
      const h = keep(ops.exp(w));
      return ops.sum(ops.mul(h, h));
    });
    loss.backward();
    assert.ok(w.grad !== null);
  });
});

describe('a tensor changed in place after an op saved it', () => {
  it("PyTorch's error: sum(mul(w, w)), optimizer.step(), backward()", () => {
    const w = ops.tensor([1, 2, 3], { requiresGrad: true });
    const opt = new SGD([w], { lr: 0.1 });
    const loss = ops.sum(ops.mul(w, w));
    w.grad = keep(ops.ones([3]));
    opt.step();
    w.grad = null;
    assert.throws(
      () => loss.backward(),
      (e: unknown) =>
        e instanceof BackendError &&
        e.message.includes(
          'one of the variables needed for gradient computation has been modified by an inplace operation: mul saved a tensor of shape [3] at version 0, it is now at version 1',
        ),
    );
  });

  it('names the layer path, and counts every change', () => {
    const net = mlp();
    const opt = new Adam(net.parameters(), { lr: 0.01 });
    mse(net, x(), t()).backward();
    const loss = mse(net, x(), t());
    // Initialisation already counted (assign), so compare with the version the op saw.
    const saved = net.parameters()[2].version;
    opt.step();
    opt.step();
    assert.throws(
      () => loss.backward(),
      new RegExp(
        `linear \\(2\\) saved a tensor of shape \\[2, 4\\] at version ${saved}, it is now at version ${saved + 2}`,
      ),
    );
  });

  it('assign() (init, loadStateDict) counts as a change', () => {
    const w = ops.tensor([1, 2, 3], { requiresGrad: true });
    const loss = ops.sum(ops.square(w));
    noGrad(() => {
      const next = ops.tensor([0, 0, 0]);
      w.assign(next);
      next.dispose();
    });
    assert.throws(() => loss.backward(), /square saved a tensor of shape \[3\] at version 0, it is now at version 1/);
  });

  it('an op whose backward reads its output checks the output (sigmoid)', () => {
    const w = ops.tensor([1, 2, 3], { requiresGrad: true });
    const y = ops.sigmoid(w);
    const loss = ops.sum(y);
    noGrad(() => y.assign(ops.zerosLike(y)));
    assert.throws(() => loss.backward(), /sigmoid saved a tensor of shape \[3\] at version 0, it is now at version 1/);
  });

  it('ops that save nothing do not complain: add(w, x), then a step, then backward (as in PyTorch)', () => {
    const w = ops.tensor([1, 2, 3], { requiresGrad: true });
    const opt = new SGD([w], { lr: 0.1 });
    const loss = ops.sum(ops.add(w, ops.tensor([1, 1, 1])));
    w.grad = keep(ops.ones([3]));
    opt.step();
    w.grad = null;
    loss.backward();
    assert.deepEqual((w.grad as Tensor | null)?.toNested(), [1, 1, 1]);
  });

  for (const backend of backends) {
    it(`the ordinary loop (zeroGrad, forward, backward, step) trains (${backend})`, () =>
      withBackend(backend, () => {
        const net = mlp();
        const opt = new SGD(net.parameters(), { lr: 0.05, momentum: 0.9 });
        const losses: number[] = [];
        for (let i = 0; i < 20; i++) {
          losses.push(
            scope(() => {
              opt.zeroGrad();
              const loss = mse(net, x(), t());
              loss.backward();
              opt.step();
              return loss.item();
            }),
          );
        }
        assert.ok(losses[19] < losses[0]);
      }));

    it(`batch norm: a training forward updating the running statistics does not break an eval graph (${backend})`, () =>
      withBackend(backend, () => {
        const bn = new nn.BatchNorm2d(2);
        const input = ops.randn([2, 2, 3, 3], { requiresGrad: true });
        bn.eval();
        const evalLoss = ops.sum(bn.call(input));
        bn.train();
        const trainLoss = ops.sum(ops.square(bn.call(input)));
        trainLoss.backward();
        input.grad = null;
        evalLoss.backward();
        // The eval graph keeps the statistics it ran with (running var 1), though the training
        // forward moved the buffers in place: d sum(bn(x)) / dx = 1 / sqrt(1 + eps).
        const expected = 1 / Math.sqrt(1 + 1e-5);
        const grad = input.grad as Tensor | null;
        for (const g of grad?.toArray() ?? [Number.NaN]) assert.ok(Math.abs(g - expected) < 1e-6, `${g}`);
        assert.ok(Math.abs((bn.runningVar?.toArray()[0] ?? 1) - 1) > 1e-3, 'the buffers did move');
      }));
  }

  it('versions: optimiser steps and assign() count up, aliases share the storage count', () => {
    const w = ops.tensor([1, 2], { requiresGrad: true });
    const alias = w.detach();
    assert.equal(w.version, 0);
    w.grad = keep(ops.ones([2]));
    new SGD([w], { lr: 1 }).step();
    assert.equal(w.version, 1);
    assert.equal(alias.version, 1);
    noGrad(() => w.assign(ops.zeros([2])));
    assert.equal(w.version, 2);
    assert.equal(alias.version, 1);
  });
});
