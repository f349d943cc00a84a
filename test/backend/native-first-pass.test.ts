/**
 * What a loaded model's first pass runs natively instead of stopping the queue for a reference
 * kernel (docs/benchmarks.md#time-to-first-result): the cast loadStateDict makes of every loaded
 * tensor, sqrt (a batch-norm fold), a per-output-channel scale of conv weights on merged axes,
 * zero-filled storages that are never written, and folded weights made in their conv's layout with
 * no plain copy. Each is checked against the reference backend.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { getBackend } from '../../src/backend/registry.js';
import { mergedAxes } from '../../src/backend/native/binary.js';
import { nativeCallCount, nativeFallbacks, nativeRuntime } from '../../src/backend/native/index.js';
import { NativeStorage } from '../../src/backend/native/runtime.js';
import { RefStorage } from '../../src/backend/ref/storage.js';
import { resetSettings } from '../../src/core/config.js';
import { noGrad } from '../../src/core/grad-mode.js';
import { buildModel } from '../../src/models/registry.js';
import * as ops from '../../src/ops/index.js';
import { nativeSkipReason, seededValues } from './native-helpers.js';

const skip = nativeSkipReason('native-first-pass');

/** Element by element with Object.is, so -0 and NaN count too (NaN payloads may differ). */
function same(actual: ArrayLike<number>, expected: ArrayLike<number>): void {
  assert.equal(actual.length, expected.length);
  for (let i = 0; i < actual.length; i++)
    assert.ok(Object.is(actual[i], expected[i]), `element ${i}: ${actual[i]}, expected ${expected[i]}`);
}
const fallbacksOf = (kernel: string): number =>
  [...nativeFallbacks()].filter(([key]) => key.startsWith(`${kernel}:`)).reduce((n, [, c]) => n + c, 0);

describe('mergedAxes', () => {
  it('drops size-1 axes and merges neighbours that b broadcasts alike', () => {
    assert.deepEqual(mergedAxes([512, 64, 3, 3], [512, 1, 1, 1]), { out: [512, 576], b: [512, 1] });
    assert.deepEqual(mergedAxes([8, 64, 56, 56], [1, 64, 1, 1]), { out: [8, 64, 3136], b: [1, 64, 1] });
    assert.deepEqual(mergedAxes([2, 3, 4, 5], [2, 3, 4, 5]), { out: [120], b: [120] });
    assert.deepEqual(mergedAxes([1, 3, 1, 5], [1, 1, 1, 5]), { out: [3, 5], b: [1, 5] });
    assert.deepEqual(mergedAxes([2, 3, 4, 5], [1, 3, 1, 5]), { out: [2, 3, 4, 5], b: [1, 3, 1, 5] });
    assert.deepEqual(mergedAxes([1, 1], [1, 1]), { out: [1], b: [1] });
  });
});

describe('native first pass', () => {
  it('scales conv weights per output channel natively, bit for bit as the reference', { skip }, () => {
    // 1152 floats run as binary.cc's serial loop, 36864 as oneDNN's kernel on merged axes.
    for (const [o, i] of [
      [16, 8],
      [64, 64],
    ]) {
      const w = seededValues(o * i * 9, 1);
      const s = seededValues(o, 2);
      const on = (backend: string) =>
        ops.mul(ops.fromArray(w, [o, i, 3, 3], { backend }), ops.fromArray(s, [o, 1, 1, 1], { backend })).toArray();
      const calls = nativeCallCount();
      const before = fallbacksOf('binary');
      const native = on('native');
      assert.ok(nativeCallCount() > calls, 'the native binary kernel ran');
      assert.equal(fallbacksOf('binary'), before);
      same(native, on('ref'));
    }
  });

  it('takes sqrt natively on plain and blocked data, bit for bit as the reference', { skip }, () => {
    const values = [4, 2, 0, -0, -1, Number.NaN, Number.POSITIVE_INFINITY, 1e-30, ...seededValues(40, 3)];
    const on = (backend: string) => ops.sqrt(ops.fromArray(values, [values.length], { backend })).toArray();
    const before = fallbacksOf('unary');
    same(on('native'), on('ref'));
    // A blocked conv output (16 channels): sqrt keeps its layout.
    const x = seededValues(2 * 3 * 6 * 6, 4);
    const w = seededValues(16 * 3 * 3 * 3, 5);
    const blocked = (backend: string) =>
      noGrad(() =>
        ops
          .sqrt(
            ops.relu(
              ops.conv2d(ops.fromArray(x, [2, 3, 6, 6], { backend }), ops.fromArray(w, [16, 3, 3, 3], { backend })),
            ),
          )
          .toArray(),
      );
    const native = blocked('native');
    const ref = blocked('ref');
    native.forEach((v, i) => assert.ok(Math.abs(v - ref[i]) <= 1e-5 * (1 + Math.abs(ref[i])), `element ${i}`));
    assert.equal(fallbacksOf('unary'), before);
  });

  it('casts float32 storages to native copies in their own layout', { skip }, () => {
    const native = getBackend('native');
    const values = seededValues(2 * 16 * 5 * 5, 6);
    const before = fallbacksOf('cast');
    const plain = ops.fromArray(values, [2, 16, 5, 5], { backend: 'native' });
    const blocked = noGrad(() =>
      ops.conv2d(plain, ops.fromArray(seededValues(16 * 16, 7), [16, 16, 1, 1], { backend: 'native' })),
    );
    const fromRef = new RefStorage(values.slice());
    for (const [what, storage, shape] of [
      ['plain', plain.storage, plain.shape],
      ['blocked', blocked.storage, blocked.shape],
      ['reference', fromRef, plain.shape],
    ] as const) {
      const copy = native.kernels.cast({ x: storage, dtype: 'float32' });
      assert.ok(copy instanceof NativeStorage, `${what}: a native storage`);
      assert.notEqual(copy, storage);
      same(native.read(copy, shape), native.read(storage, shape));
    }
    assert.equal(fallbacksOf('cast'), before);
  });

  it('leaves a loaded model with native parameters', { skip }, () => {
    const source = buildModel('resnet20_cifar', { backend: 'native' });
    const model = buildModel('resnet20_cifar', { backend: 'native', init: 'none' });
    const weights = source.stateDict();
    model.loadStateDict(weights);
    for (const [name, p] of model.namedParameters()) {
      assert.ok(p.storage instanceof NativeStorage, `${name} holds a ${p.storage.constructor.name}`);
      assert.deepEqual(p.toArray(), weights.get(name)?.toArray());
    }
  });

  it('fills fresh storages with zeros without writing them, and writes -0', { skip }, () => {
    const rt = nativeRuntime();
    assert.ok(rt.filled(1000, 0).buffer.every((v) => Object.is(v, 0)));
    assert.ok(rt.filled(1000, -0).buffer.every((v) => Object.is(v, -0)));
    assert.ok(rt.filled(10, 2.5).buffer.every((v) => v === 2.5));
  });

  it('folded conv weights become their conv layout: the plain copy goes back to the pool, the values stay', {
    skip,
  }, () => {
    // 576 KiB of weights: blocked by the conv (OIhw8i8o or the like), from the pool's arena sizes.
    const [o, i] = [256, 64];
    const on = (backend: string) => {
      const t = (values: Float32Array, shape: number[]) => ops.fromArray(values, shape, { backend });
      const norm = {
        weight: t(seededValues(o, 3), [o]),
        bias: t(seededValues(o, 4), [o]),
        runningMean: t(seededValues(o, 5), [o]),
        runningVar: t(seededValues(o, 6).map(Math.abs), [o]),
        eps: 1e-5,
      };
      return noGrad(() => ops.foldBatchNorm(t(seededValues(o * i * 9, 7), [o, i, 3, 3]), null, norm));
    };
    const rt = nativeRuntime();
    const folded = on('native');
    const storage = folded.weight.storage as NativeStorage;
    const x = ops.fromArray(seededValues(2 * i * 8 * 8, 8), [2, i, 8, 8], { backend: 'native' });
    rt.flushSync();
    const pooledBefore = rt.pooled;
    const y = noGrad(() => ops.conv2d(x, folded.weight, folded.bias, { padding: [1, 1] }));
    const pooledAfter = rt.pooled;
    assert.notEqual(storage.desc, 0, "the folded weights are held in the conv's layout");
    const expected = on('ref');
    same(folded.weight.toArray(), expected.weight.toArray());
    same(folded.bias.toArray(), expected.bias.toArray());
    // The conv with the adopted weights computes what it computes from plain folded ones.
    const plain = ops.fromArray(expected.weight.toArray(), [o, i, 3, 3], { backend: 'native' });
    const again = noGrad(() => ops.conv2d(x, plain, folded.bias, { padding: [1, 1] }));
    same(y.toArray(), again.toArray());
    const weightBytes = o * i * 9 * 4;
    assert.ok(
      pooledAfter - pooledBefore >= weightBytes,
      `the pool grew by ${pooledAfter - pooledBefore} bytes, not by the plain copy's ${weightBytes}`,
    );
  });

  it("a folded weight held in one conv's layout feeds every other algorithm, as plain weights would", {
    skip,
  }, () => {
    // oneDNN reorders into its Winograd weight layout only from plain layouts, and without scales:
    // a folded weight adopted by a direct conv, then measured with Winograd (the tuner's second
    // pass), goes through plain (reorders.ts, reorderInto), and so does a deferred fold whose first
    // conv is a Winograd one (a tuning cached on disk). The same for the other algorithms' layouts.
    const [o, i] = [64, 64];
    const t = (values: Float32Array, shape: number[]) => ops.fromArray(values, shape, { backend: 'native' });
    const norm = {
      weight: t(seededValues(o, 31), [o]),
      bias: t(seededValues(o, 32), [o]),
      runningMean: t(seededValues(o, 33), [o]),
      runningVar: t(seededValues(o, 34).map(Math.abs), [o]),
      eps: 1e-5,
    };
    const weight = t(seededValues(o * i * 9, 35), [o, i, 3, 3]);
    const x = t(seededValues(2 * i * 12 * 12, 36), [2, i, 12, 12]);
    const saved = process.env.CONVKIT_CONV_ALGORITHM;
    const withAlgorithm = <T>(algorithm: string, run: () => T): T => {
      process.env.CONVKIT_CONV_ALGORITHM = algorithm;
      resetSettings();
      try {
        return run();
      } finally {
        if (saved === undefined) delete process.env.CONVKIT_CONV_ALGORITHM;
        else process.env.CONVKIT_CONV_ALGORITHM = saved;
        resetSettings();
      }
    };
    for (const deferWeight of [false, true]) {
      for (const algorithm of ['winograd', 'own', 'own4', 'brgemm']) {
        for (const first of ['direct', algorithm]) {
          const folded = noGrad(() => ops.foldBatchNorm(weight, null, norm, { deferWeight }));
          const conv = (w: typeof weight) => noGrad(() => ops.conv2d(x, w, folded.bias, { padding: [1, 1] }));
          const firstY = withAlgorithm(first, () => conv(folded.weight));
          if (first === 'direct') assert.notEqual((folded.weight.storage as NativeStorage).desc, 0, 'adopted');
          const plain = t(Float32Array.from(folded.weight.toArray()), [o, i, 3, 3]);
          const [adopted, fromPlain] = withAlgorithm(algorithm, () => [conv(folded.weight), conv(plain)]);
          same(adopted.toArray(), fromPlain.toArray());
          if (first === algorithm) same(firstY.toArray(), fromPlain.toArray());
        }
      }
    }
  });

  it("a folded weight's plain copy serves the next, larger fold of its power-of-two class", { skip }, () => {
    // 96 and 112 output channels of 64 x 3 x 3: 55296 and 64512 floats, both in the 65536 class.
    const fold = (o: number, seed: number) => {
      const t = (n: number, s: number, shape: number[], abs = false) =>
        ops.fromArray(abs ? seededValues(n, s).map(Math.abs) : seededValues(n, s), shape, { backend: 'native' });
      const norm = { weight: t(o, seed, [o]), bias: t(o, seed + 1, [o]), runningMean: t(o, seed + 2, [o]) };
      return noGrad(() =>
        ops.foldBatchNorm(t(o * 64 * 9, seed + 3, [o, 64, 3, 3]), null, {
          ...norm,
          runningVar: t(o, seed + 4, [o], true),
          eps: 1e-5,
        }),
      );
    };
    const x = ops.fromArray(seededValues(64 * 8 * 8, 9), [1, 64, 8, 8], { backend: 'native' });
    const first = fold(96, 10);
    const plain = (first.weight.storage as NativeStorage).currentArray as Float32Array;
    assert.equal(plain.buffer.byteLength >= 65536 * 4, true, 'allocated in its class');
    noGrad(() => ops.conv2d(x, first.weight, first.bias, { padding: [1, 1] }));
    const second = fold(112, 20);
    const reused = (second.weight.storage as NativeStorage).currentArray as Float32Array;
    assert.equal(reused.buffer, plain.buffer, "the second fold wrote into the first's plain copy");
    assert.equal(reused.length, 112 * 64 * 9);
  });

  it('a fold deferred to its conv scales the weights straight into its layout, bit for bit as folded plain', {
    skip,
  }, () => {
    // Non-finite and signed-zero weights, a zero gamma (scale 0) and a zero variance with eps 0 (scale inf).
    const [o, i] = [16, 8];
    const w = seededValues(o * i * 9, 11);
    w[0] = Number.NaN;
    w[5] = Number.POSITIVE_INFINITY;
    w[77] = -0;
    const gamma = seededValues(o, 12);
    gamma[3] = 0;
    const variance = seededValues(o, 13).map(Math.abs);
    variance[7] = 0;
    const t = (values: Float32Array, shape: number[]) => ops.fromArray(values, shape, { backend: 'native' });
    const norm = {
      weight: t(gamma, [o]),
      bias: t(seededValues(o, 14), [o]),
      runningMean: t(seededValues(o, 15), [o]),
      runningVar: t(variance, [o]),
      eps: 0,
    };
    const weight = t(w, [o, i, 3, 3]);
    const fold = (deferWeight: boolean) => noGrad(() => ops.foldBatchNorm(weight, null, norm, { deferWeight }));
    const x = t(seededValues(2 * i * 6 * 6, 16), [2, i, 6, 6]);
    const conv = (f: ReturnType<typeof fold>) => noGrad(() => ops.conv2d(x, f.weight, f.bias, { padding: [1, 1] }));
    const deferred = fold(true);
    const storage = deferred.weight.storage as NativeStorage;
    assert.notEqual(storage.scaled, null, 'nothing made before the conv');
    const y = conv(deferred);
    assert.equal(storage.scaled, null);
    assert.notEqual(storage.desc, 0, "the folded weights are made in the conv's layout");
    same(y.toArray(), conv(fold(false)).toArray());
    // Read back, and read before any conv (made plain): the reference fold's values.
    const expected = ops.foldBatchNorm(
      ops.fromArray(w, [o, i, 3, 3], { backend: 'ref' }),
      null,
      Object.fromEntries(
        Object.entries(norm).map(([k, v]) => [
          k,
          typeof v === 'number' ? v : ops.fromArray(v.toArray(), [o], { backend: 'ref' }),
        ]),
      ) as unknown as typeof norm,
    );
    same(deferred.weight.toArray(), expected.weight.toArray());
    same(fold(true).weight.toArray(), expected.weight.toArray());
    same(deferred.bias.toArray(), expected.bias.toArray());
    // Disposed before it is made, it lets its source go: the layer's weight stays readable.
    fold(true).weight.dispose();
    same(weight.toArray(), w);
  });
});
