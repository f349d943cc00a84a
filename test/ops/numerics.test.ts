/**
 * The numerical contract of docs/numerics.md, on each backend by name: float32 reductions are
 * accurate to the rounding of the true sum, NaN propagates as in PyTorch (relu, clamp,
 * maximum/minimum, pooling, softmax, fused ReLU post-ops, whole networks, a training loss), a
 * one-class log-softmax is exactly 0, and the native LRN backward works for every channel count.
 * Each case was a silent wrong answer before (issue #15).
 */
import { nativeRequired } from '../backend/native-helpers.js';
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as ck from '../../src/index.js';

const BACKENDS = ['ref', 'native'].filter((b) => b !== 'native' || ck.nativeUnavailable() === null || nativeRequired());

/** Element by element: NaN only where the other has NaN, infinities equal, finite values within tol. */
function same(actual: ArrayLike<number>, expected: ArrayLike<number>, tol = 1e-5): void {
  assert.equal(actual.length, expected.length, 'length');
  for (let i = 0; i < actual.length; i++) {
    const [a, e] = [actual[i], expected[i]];
    const ok = Number.isNaN(e)
      ? Number.isNaN(a)
      : Number.isFinite(e)
        ? Math.abs(a - e) <= tol * (1 + Math.abs(e))
        : a === e;
    assert.ok(ok, `element ${i}: ${a} vs ${e}`);
  }
}

const countNaN = (v: ArrayLike<number>): number => Array.from(v).filter(Number.isNaN).length;

for (const backend of BACKENDS) {
  const on = <T>(fn: () => T): T => ck.withBackend(backend, fn);

  describe(`numerics on the ${backend} backend`, () => {
    it('sums and means of float32 are the float32 rounding of the true sum', () => {
      on(() => {
        // float32(0.1) * 1e6 = 100000.0014901161..., which rounds to 100000 (a float32 running sum gave 100958).
        assert.equal(ck.sum(ck.full([1e6], 0.1)).item(), 100000);
        assert.equal(ck.mean(ck.full([1e6], 0.1)).item(), Math.fround(0.1));
        // A float32 running sum stops at 2^24: the mean of 2e7 ones was 0.8389.
        assert.equal(ck.mean(ck.ones([2e7])).item(), 1);
        assert.equal(
          ck
            .sum(ck.ones([3, 1 << 23]), 1)
            .toArray()
            .join(),
          [8388608, 8388608, 8388608].join(),
        );
        // The batch statistics go through the same sums: variance of a large constant-offset vector.
        const x = ck.add(ck.full([1 << 20], 1000), ck.tensor([0.5]));
        assert.equal(ck.variance(x).item(), 0);
      });
    });

    it('relu and clamp keep NaN; maximum and minimum give NaN from either side', () => {
      on(() => {
        same(ck.relu(ck.tensor([Number.NaN, -1, 2, Number.POSITIVE_INFINITY])).toArray(), [Number.NaN, 0, 2, Infinity]);
        same(ck.clamp(ck.tensor([Number.NaN, -1, 2]), 0, 1).toArray(), [Number.NaN, 0, 1]);
        same(ck.clamp(ck.tensor([Number.NaN, -1, 2]), 0).toArray(), [Number.NaN, 0, 2]);
        const [nan, one] = [ck.tensor([Number.NaN]), ck.tensor([1])];
        for (const f of [ck.maximum, ck.minimum]) {
          assert.ok(Number.isNaN(f(nan, one).item()), `${f.name}(NaN, 1)`);
          assert.ok(Number.isNaN(f(one, nan).item()), `${f.name}(1, NaN)`);
        }
        // A large tensor (the native relu's threaded loop) and a blocked one (a conv output).
        const big = ck.randn([1 << 16]);
        const withNaN = ck.add(big, ck.fromArray([Number.NaN, ...new Array<number>((1 << 16) - 1).fill(0)], [1 << 16]));
        assert.equal(countNaN(ck.relu(withNaN).toArray()), 1);
        const conv = ck.conv2d(ck.full([1, 16, 4, 4], Number.NaN), ck.randn([16, 16, 1, 1]));
        assert.equal(countNaN(ck.relu(conv).toArray()), 256);
      });
    });

    it('relu passes the gradient at a NaN input (PyTorch threshold_backward)', () => {
      on(() => {
        const x = ck.tensor([Number.NaN, -1, 2], { requiresGrad: true });
        ck.sum(ck.relu(x)).backward();
        same(x.grad?.toArray() ?? [], [1, 0, 1]);
      });
    });

    it('max pooling keeps a NaN in its window, and sends the gradient to it', () => {
      on(() => {
        const x = ck.fromArray([1, Number.NaN, 3, 4], [1, 1, 2, 2], { requiresGrad: true });
        const y = ck.maxPool2d(x, { kernelSize: 2 });
        same(y.toArray(), [Number.NaN]);
        y.backward(ck.ones([1, 1, 1, 1]));
        same(x.grad?.toArray() ?? [], [0, 1, 0, 0]);
        // 16 channels (blocked natively), padding, one NaN: only the windows that see it.
        const values = Array.from(ck.randn([1, 16, 5, 5]).toArray());
        values[7 * 25 + 6] = Number.NaN; // channel 7, row 1, col 1
        const pooled = ck.maxPool2d(ck.fromArray(values, [1, 16, 5, 5]), { kernelSize: 3, stride: 2, padding: 1 });
        const out = pooled.toArray();
        assert.equal(countNaN(out), 4); // windows (0..1, 0..1) of channel 7 all cover (1, 1)
        for (let i = 7 * 9; i < 7 * 9 + 9; i++) assert.equal(Number.isNaN(out[i]), [0, 1, 3, 4].includes(i - 63));
      });
    });

    it('softmax and log-softmax of a row with NaN are NaN; other rows are untouched', () => {
      on(() => {
        const x = ck.tensor([
          [1, Number.NaN, 3],
          [1, 2, 3],
        ]);
        const p = ck.softmax(x, 1).toArray();
        assert.equal(countNaN(p.slice(0, 3)), 3);
        same(p.slice(3), [0.09003057, 0.24472847, 0.66524096]);
        assert.equal(countNaN(ck.logSoftmax(x, 1).toArray().slice(0, 3)), 3);
        // PyTorch: log_softmax([inf, 0, 0]) = [nan, nan, nan]; [-inf, 0, 0] = [-inf, -log 2, -log 2].
        same(ck.logSoftmax(ck.tensor([[Number.POSITIVE_INFINITY, 0, 0]]), 1).toArray(), [
          Number.NaN,
          Number.NaN,
          Number.NaN,
        ]);
        same(ck.logSoftmax(ck.tensor([[Number.NEGATIVE_INFINITY, 0, 0]]), 1).toArray(), [
          -Infinity,
          -Math.LN2,
          -Math.LN2,
        ]);
      });
    });

    it('a one-class log-softmax is exactly 0, so a one-class cross-entropy is exactly 0', () => {
      on(() => {
        const logits = ck.tensor([[3], [-7.5], [0.25]]);
        assert.deepEqual(Array.from(ck.logSoftmax(logits, 1).toArray()), [0, 0, 0]);
        assert.deepEqual(Array.from(ck.softmax(logits, 1).toArray()), [1, 1, 1]);
        assert.equal(ck.crossEntropy(logits, Int32Array.of(0, 0, 0)).item(), 0);
      });
    });

    it('crossEntropy with an infinite logit is NaN, as PyTorch (log_softmax([inf, 0, 0]) is all NaN)', () => {
      on(() => {
        const logits = ck.tensor([[Number.POSITIVE_INFINITY, 0, 0]]);
        assert.ok(Number.isNaN(ck.crossEntropy(logits, Int32Array.of(1)).item()));
        assert.ok(Number.isNaN(ck.crossEntropy(logits, Int32Array.of(0)).item()));
        // -inf at the target: PyTorch's loss is +inf.
        const low = ck.tensor([[Number.NEGATIVE_INFINITY, 0, 0]]);
        assert.equal(ck.crossEntropy(low, Int32Array.of(0)).item(), Number.POSITIVE_INFINITY);
      });
    });

    it('fused ReLU post-ops (conv, conv + residual, linear, batch norm, concat + batch norm) keep NaN like the unfused ops', () => {
      on(() => {
        ck.manualSeed(3);
        const values = Array.from(ck.randn([1, 16, 6, 6]).toArray());
        values[3 * 36 + 14] = Number.NaN;
        values[9 * 36 + 30] = Number.POSITIVE_INFINITY;
        const x = ck.fromArray(values, [1, 16, 6, 6]);
        const w = ck.randn([16, 16, 3, 3]);
        const b = ck.randn([16]);
        const plain = ck.conv2d(x, w, b, { padding: 1 });
        const addend = ck.randn([1, 16, 6, 6]);
        ck.noGrad(() => {
          const fused = ck.conv2d(x, w, b, { padding: 1 }, { relu: true });
          assert.ok(countNaN(fused.toArray()) > 0);
          same(fused.toArray(), ck.relu(plain).toArray(), 1e-4);
          const residual = ck.conv2d(x, w, b, { padding: 1 }, { relu: true, addend });
          same(residual.toArray(), ck.relu(ck.add(plain, addend)).toArray(), 1e-4);
          // Layers whose activations outweigh their weights take the scan path (the others run
          // unfused with the ReLU as a pass): a 1x1 conv, and one widening 4 -> 32 channels with a residual.
          const w1 = ck.randn([16, 16, 1, 1]);
          same(ck.conv2d(x, w1, b, {}, { relu: true }).toArray(), ck.relu(ck.conv2d(x, w1, b)).toArray(), 1e-4);
          const narrow = ck.fromArray([Number.NaN, ...Array.from(ck.randn([4 * 36 - 1]).toArray())], [1, 4, 6, 6]);
          const wide = ck.randn([32, 4, 1, 1]);
          const shortcut = ck.randn([1, 32, 6, 6]);
          const widened = ck.conv2d(narrow, wide, null, {}, { relu: true, addend: shortcut }).toArray();
          assert.equal(countNaN(widened), 32);
          same(widened, ck.relu(ck.add(ck.conv2d(narrow, wide), shortcut)).toArray(), 1e-4);
          // NaN weights (a diverged model in eval mode) with finite inputs.
          const wNaN = ck.mul(w, ck.full([1], Number.NaN));
          assert.equal(
            countNaN(ck.conv2d(ck.randn([1, 16, 6, 6]), wNaN, b, { padding: 1 }, { relu: true }).toArray()),
            576,
          );
          const lx = ck.fromArray([Number.NaN, 1, 2, 3, 4, 5, 6, 7], [2, 4]);
          const lw = ck.randn([3, 4]);
          same(ck.linear(lx, lw, null, { relu: true }).toArray(), ck.relu(ck.linear(lx, lw)).toArray());
        });
        // Batch norm + ReLU, training (the NaN channel's statistics are NaN) and eval.
        const stats = { runningMean: ck.zeros([16]), runningVar: ck.ones([16]) };
        const train = ck.batchNorm(x, { ...stats, relu: true }).toArray();
        for (let c = 0; c < 16; c++) {
          const nans = countNaN(train.slice(c * 36, c * 36 + 36));
          assert.equal(nans, c === 3 || c === 9 ? 36 : 0, `channel ${c}`);
        }
        const evalOpts = { runningMean: ck.zeros([16]), runningVar: ck.ones([16]), training: false };
        ck.noGrad(() => {
          const fused = ck.batchNorm(x, { ...evalOpts, relu: true });
          same(fused.toArray(), ck.relu(ck.batchNorm(x, evalOpts)).toArray());
          assert.equal(countNaN(fused.toArray()), 1);
          // DenseNet's join: the concatenation batch normalised, with its ReLU, in one pass.
          const other = ck.randn([1, 16, 6, 6]);
          const stats32 = { runningMean: ck.zeros([32]), runningVar: ck.ones([32]), relu: true };
          const joined = ck.concatBatchNorm([x, other], stats32).toArray();
          same(
            joined,
            ck.relu(ck.batchNorm(ck.concat([x, other], 1), { ...stats32, relu: false, training: false })).toArray(),
          );
          assert.equal(countNaN(joined), 1);
          // The join of conv outputs (blocked on the native backend), where NaN and the infinity spread.
          const convs = [plain, ck.conv2d(other, w, b, { padding: 1 })];
          const joinedConvs = ck.concatBatchNorm(convs, stats32).toArray();
          const unfused = ck.batchNorm(ck.concat(convs, 1), { ...stats32, relu: false, training: false });
          same(joinedConvs, ck.relu(unfused).toArray(), 1e-4);
          assert.ok(countNaN(joinedConvs) > 0);
        });
      });
    });

    it('ResNet-18 in eval mode gives NaN logits for an all-NaN input', () => {
      on(() => {
        const model = ck.buildModel('resnet18', { classes: 10 });
        model.eval();
        const logits = ck.noGrad(() => model.forward(ck.full([1, 3, 32, 32], Number.NaN)));
        assert.equal(countNaN(logits.toArray()), 10);
      });
    });

    it('a small CNN trained on an all-NaN batch reports a NaN loss, and NaN after the step', () => {
      on(() => {
        ck.manualSeed(1);
        const model = ck.tinyCnn();
        const opt = new ck.SGD(model.parameters(), { lr: 0.1 });
        const x = ck.full([4, 1, 8, 8], Number.NaN);
        const target = Int32Array.of(0, 1, 2, 3);
        const loss = ck.crossEntropy(model.forward(x), target);
        assert.ok(Number.isNaN(loss.item()), `loss ${loss.item()}`);
        opt.zeroGrad();
        loss.backward();
        opt.step();
        // The parameters took NaN gradients: a finite batch now gives a NaN loss too.
        const after = ck.crossEntropy(model.forward(ck.randn([4, 1, 8, 8])), target);
        assert.ok(Number.isNaN(after.item()), `loss after the step ${after.item()}`);
        model.eval();
        assert.ok(Number.isNaN(ck.noGrad(() => ck.crossEntropy(model.forward(ck.randn([4, 1, 8, 8])), target)).item()));
      });
    });

    it('the LRN backward works for plain inputs of 8 to 64 channels (size 5)', () => {
      for (const channels of [8, 16, 24, 32, 40, 48, 64]) {
        const grads = ['ref', backend].map((b) =>
          ck.withBackend(b, () => {
            ck.manualSeed(channels);
            const x = ck.randn([1, channels, 2, 2], { requiresGrad: true });
            const g = ck.randn([1, channels, 2, 2]);
            ck.sum(ck.mul(ck.localResponseNorm(x, { size: 5, alpha: 0.5 }), g)).backward();
            return Array.from(x.grad?.toArray() ?? []);
          }),
        );
        same(grads[1], grads[0], 1e-5);
      }
    });
  });
}
