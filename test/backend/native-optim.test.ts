/**
 * The native optimiser kernels (sgdStep, adamStep) against the reference kernels: a few steps of
 * every rule, bit for bit (NaN and infinities in a gradient too), on sizes below and above the
 * OpenMP threshold. Also: a conv weight's
 * blocked gradient moves SGD into that layout (and Adam back to plain), bit for bit too, and
 * float64 falls back to the reference kernel.
 */
import { conv2dGeometry } from '../../src/ops/conv2d.js';
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { KernelSpecs } from '../../src/backend/backend.js';
import { loadNativeBackend, nativeCallCount } from '../../src/backend/native/index.js';
import { refBackend } from '../../src/backend/ref/index.js';
import { resetSettings } from '../../src/core/config.js';
import { Generator } from '../../src/core/random.js';
import { synchronize } from '../../src/backend/registry.js';
import * as ops from '../../src/ops/index.js';
import type { Storage } from '../../src/core/storage.js';
import type { Tensor } from '../../src/core/tensor.js';
import { type NativeRuntime, NativeStorage, PLAIN } from '../../src/backend/native/runtime.js';
import { failNativeMissing, nativeSkipReason } from './native-helpers.js';

const skip = nativeSkipReason('native-optim');
const native = loadNativeBackend();

function values(size: number, seed: number, scale = 1): Float32Array {
  const g = new Generator(seed);
  return Float32Array.from({ length: size }, () => (g.uniform() * 2 - 1) * scale);
}
/** A gradient with NaN and both infinities among its values (at the start and past the vector width). */
function gradient(size: number, seed: number, scale = 1): Float32Array {
  const g = values(size, seed, scale);
  [3, 17, 30].forEach((at, k) => {
    g[at] = [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY][k];
  });
  return g;
}

const SIZES = [37, 70_001]; // below and above the size where the loop goes parallel

type Sgd = Omit<KernelSpecs['sgdStep']['args'], 'param' | 'grad' | 'momentumBuffer' | 'firstStep'> & {
  withBuffer: boolean;
};
type Adam = Omit<KernelSpecs['adamStep']['args'], 'param' | 'grad' | 'expAvg' | 'expAvgSq' | 'maxExpAvgSq' | 'step'>;

// Every combination of the flags the native loops are compiled for (optim.cc), with uneven values.
const SGD_CASES: Sgd[] = [false, true].flatMap((maximize) =>
  [0, 5e-4].flatMap((weightDecay) => [
    { lr: 0.1, momentum: 0, dampening: 0, nesterov: false, weightDecay, maximize, withBuffer: false },
    // The training loop's and the bench's: momentum, no dampening.
    { lr: 0.05, momentum: 0.9, dampening: 0, nesterov: false, weightDecay, maximize, withBuffer: true },
    { lr: 0.03, momentum: 0.9, dampening: 0, nesterov: true, weightDecay, maximize, withBuffer: true },
    { lr: 0.2, momentum: 0.5, dampening: 0.3, nesterov: false, weightDecay, maximize, withBuffer: true },
  ]),
);
const ADAM_CASES: Adam[] = [false, true].flatMap((maximize) =>
  [false, true].flatMap((amsgrad) => [
    { lr: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0, decoupled: false, amsgrad, maximize },
    { lr: 3e-3, beta1: 0.8, beta2: 0.99, eps: 1e-6, weightDecay: 0.01, decoupled: false, amsgrad, maximize },
    { lr: 1e-2, beta1: 0.85, beta2: 0.995, eps: 1e-7, weightDecay: 0.05, decoupled: true, amsgrad, maximize },
  ]),
);

/** Both backends' storages of the same values; `read` gives them back as float32 arrays. */
function pair(values: Float32Array): { ref: Storage; nat: Storage } {
  if ('error' in native) return failNativeMissing(native);
  return { ref: refBackend.write(values, 'float32'), nat: native.write(values, 'float32') };
}

/** Bit for bit, except that any NaN matches any NaN (PyTorch does not fix a NaN's sign or payload). */
function same(what: string, a: Storage, b: Storage, size: number): void {
  if ('error' in native) failNativeMissing(native);
  const [u, v] = [Float32Array.from(refBackend.read(a, [size])), Float32Array.from(native.read(b, [size]))];
  const [x, y] = [new Uint32Array(u.buffer), new Uint32Array(v.buffer)];
  for (let i = 0; i < size; i++)
    if (x[i] !== y[i] && !(Number.isNaN(u[i]) && Number.isNaN(v[i])))
      assert.fail(`${what}: element ${i} differs (ref ${u[i]}, bits ${x[i]}; native ${v[i]}, bits ${y[i]})`);
}

describe('native optimiser kernels match the reference kernels bit for bit', () => {
  SGD_CASES.forEach((c, n) =>
    SIZES.forEach((size) => {
      it(`SGD case ${n} (${JSON.stringify(c)}), ${size} elements, 3 steps`, { skip }, () => {
        if ('error' in native) return failNativeMissing(native);
        const { withBuffer, ...hyper } = c;
        const p = pair(values(size, 1 + n));
        const b = withBuffer ? pair(new Float32Array(size)) : null;
        const before = nativeCallCount();
        for (let step = 0; step < 3; step++) {
          const g = pair(step === 1 ? gradient(size, 100 + step) : values(size, 100 + step));
          const common = { ...hyper, firstStep: step === 0 };
          refBackend.kernels.sgdStep({ ...common, param: p.ref, grad: g.ref, momentumBuffer: b?.ref ?? null });
          native.kernels.sgdStep({ ...common, param: p.nat, grad: g.nat, momentumBuffer: b?.nat ?? null });
        }
        assert.ok(nativeCallCount() > before, 'the native kernel did not run');
        same('param', p.ref, p.nat, size);
        if (b) same('momentum buffer', b.ref, b.nat, size);
      });
    }),
  );

  ADAM_CASES.forEach((c, n) =>
    SIZES.forEach((size) => {
      it(`Adam case ${n} (${JSON.stringify(c)}), ${size} elements, 4 steps`, { skip }, () => {
        if ('error' in native) return failNativeMissing(native);
        const p = pair(values(size, 7 + n));
        const [m, v] = [pair(new Float32Array(size)), pair(new Float32Array(size))];
        const vmax = c.amsgrad ? pair(new Float32Array(size)) : null;
        const before = nativeCallCount();
        for (let step = 1; step <= 4; step++) {
          // A small step (amsgrad's max keeps the old v), and non-finite values in the third.
          const g = pair((step === 3 ? gradient : values)(size, 200 + step, step === 2 ? 1e-3 : 1));
          refBackend.kernels.adamStep({
            ...c,
            step,
            param: p.ref,
            grad: g.ref,
            expAvg: m.ref,
            expAvgSq: v.ref,
            maxExpAvgSq: vmax?.ref ?? null,
          });
          native.kernels.adamStep({
            ...c,
            step,
            param: p.nat,
            grad: g.nat,
            expAvg: m.nat,
            expAvgSq: v.nat,
            maxExpAvgSq: vmax?.nat ?? null,
          });
        }
        // Four steps, four native calls: a fallback to the reference kernel would match bit for bit too.
        assert.ok(nativeCallCount() - before >= 4, 'the native kernel did not run on every step');
        same('param', p.ref, p.nat, size);
        same('exp_avg', m.ref, m.nat, size);
        same('exp_avg_sq', v.ref, v.nat, size);
        if (vmax) same('max_exp_avg_sq', vmax.ref, vmax.nat, size);
      });
    }),
  );

  it('float64 parameters run the reference kernel', { skip }, () => {
    if ('error' in native) return failNativeMissing(native);
    const p64 = native.write(Float64Array.of(1, 2, 3), 'float64');
    const g64 = native.write(Float64Array.of(1, 1, 1), 'float64');
    native.kernels.sgdStep({
      param: p64,
      grad: g64,
      momentumBuffer: null,
      lr: 0.5,
      momentum: 0,
      dampening: 0,
      nesterov: false,
      weightDecay: 0,
      maximize: false,
      firstStep: true,
    });
    assert.deepEqual([...native.read(p64, [3])], [0.5, 1.5, 2.5]);
  });

  // SGD steps over the whole padded buffer, so the zeros that pad channel blocks in a conv's
  // weight gradient must be zeros, whatever the pooled buffer held before (NaN here).
  it("a conv's blocked weight gradient pads its channel blocks with zeros, over a pool of NaNs", { skip }, async () => {
    if ('error' in native) return failNativeMissing(native);
    const rt = native.runtime;
    // Direct convs only: a tuned forward may run 'transposed', whose turned weights, in a layout
    // of the gradient's size, would take the NaN buffer from the pool first.
    const saved = process.env.CONVKIT_CONV_ALGORITHM;
    process.env.CONVKIT_CONV_ALGORITHM = 'direct';
    resetSettings();
    try {
      await blockedGradientPadding(rt);
    } finally {
      if (saved === undefined) delete process.env.CONVKIT_CONV_ALGORITHM;
      else process.env.CONVKIT_CONV_ALGORITHM = saved;
      resetSettings();
    }
  });

  async function blockedGradientPadding(rt: NativeRuntime): Promise<void> {
    for (const [c, o, k] of [
      [12, 12, 3],
      [12, 36, 1],
      [3, 12, 3],
    ]) {
      const x = ops.randn([4, c, 9, 9], { backend: 'native' });
      const w = ops.randn([o, c, k, k], { backend: 'native' }).detach();
      w.requiresGrad = true;
      const gradient = async (): Promise<NativeStorage> => {
        w.grad = null;
        ops.sum(ops.square(ops.conv2d(x, w, null, { padding: k >> 1 }))).backward();
        await synchronize();
        const g = (w.grad as Tensor | null)?.storage;
        assert.ok(g instanceof NativeStorage && g.desc !== PLAIN, `${o}x${c}x${k}x${k}: the gradient is blocked`);
        return g;
      };
      const floats = Math.ceil(rt.descInfo((await gradient()).desc).bytes / 4);
      assert.ok(floats > o * c * k * k, `${o}x${c}x${k}x${k}: the layout pads channels`);
      // Freed now, not by the collector later: its buffer, of the same size, would land on top of junk's.
      w.grad?.dispose();
      w.grad = null;
      // A buffer of that size, all NaN, given to the pool: the next gradient's buffer.
      const junk = rt.allocate(floats).fill(Number.NaN);
      rt.recycle(junk);
      const g = await gradient();
      assert.equal(g.buffer, junk, 'the gradient did not get the NaN buffer: the check would be moot');
      const raw = g.buffer.subarray(0, floats);
      const values = Array.from((w.grad as Tensor | null)?.toArray() ?? []);
      assert.equal(
        raw.filter((v) => v !== 0).length,
        values.filter((v) => v !== 0).length,
        `${o}x${c}x${k}x${k}: the padding is not all zeros`,
      );
    }
  }

  // A conv weight's gradient comes in oneDNN's blocked weights layout (OIhw16i16o on AVX-512,
  // 8i8o on AVX2): SGD moves the weight and its momentum into it and steps there, and keeps them
  // there for a gradient in another layout; Adam moves them back to plain. Both bit for bit as the reference kernels; 12 channels pad blocks with zeros.
  for (const channels of [32, 12]) {
    it(`SGD on a blocked conv-weight gradient (${channels} channels) steps in that layout; Adam after it, plain`, {
      skip,
    }, () => {
      if ('error' in native) return failNativeMissing(native);
      const rt = native.runtime;
      const dims = [channels, channels, 3, 3];
      const o = { bias: false, relu: false, sum: false, training: true };
      const geometry = conv2dGeometry([1, channels, 4, 4], dims, { padding: 1 });
      const desc = rt.addon.conv2dPlan(geometry, o).weights;
      assert.ok(!rt.addon.descInfo(desc).plain, 'oneDNN chose plain weights: the blocked step is untested');
      const size = dims.reduce((a, b) => a * b, 1);
      const blockedGrad = (v: Float32Array): Storage => {
        const plain = native.write(v, 'float32') as NativeStorage;
        rt.input(plain, desc, dims);
        const copy = plain.convertedTo(desc);
        assert.ok(copy !== undefined && copy.desc === desc);
        return copy;
      };
      const p = pair(values(size, 41));
      const b = pair(new Float32Array(size));
      const hyper = { lr: 0.05, momentum: 0.9, dampening: 0, nesterov: true, weightDecay: 1e-3, maximize: false };
      for (let step = 0; step < 3; step++) {
        const v = values(size, 300 + step);
        const common = { ...hyper, firstStep: step === 0 };
        refBackend.kernels.sgdStep({
          ...common,
          param: p.ref,
          grad: refBackend.write(v, 'float32'),
          momentumBuffer: b.ref,
        });
        native.kernels.sgdStep({ ...common, param: p.nat, grad: blockedGrad(v), momentumBuffer: b.nat });
      }
      assert.equal((p.nat as NativeStorage).desc, desc, 'the weight moved into its gradient layout');
      assert.equal((b.nat as NativeStorage).desc, desc, 'the momentum too');
      // A gradient in another layout (here plain) is converted: the weight stays where it is.
      const arrays = [(p.nat as NativeStorage).currentArray, (b.nat as NativeStorage).currentArray];
      const v = values(size, 350);
      refBackend.kernels.sgdStep({
        ...hyper,
        firstStep: false,
        param: p.ref,
        grad: refBackend.write(v, 'float32'),
        momentumBuffer: b.ref,
      });
      native.kernels.sgdStep({
        ...hyper,
        firstStep: false,
        param: p.nat,
        grad: native.write(v, 'float32'),
        momentumBuffer: b.nat,
      });
      assert.deepEqual(
        [(p.nat as NativeStorage).currentArray, (b.nat as NativeStorage).currentArray],
        arrays,
        'a plain gradient leaves the weight and momentum in their arrays',
      );
      same('param after SGD', p.ref, p.nat, size);
      same('momentum buffer', b.ref, b.nat, size);
      // The padding lanes stayed zero: every nonzero of the buffer is a value of the weight.
      rt.flushSync();
      const raw = (p.nat as NativeStorage).buffer.subarray(0, Math.ceil(rt.descInfo(desc).bytes / 4));
      assert.equal(
        raw.reduce((n, x) => n + (x !== 0 ? 1 : 0), 0),
        Array.from(native.read(p.nat, [size])).filter((x) => x !== 0).length,
      );
      const [m, v2] = [pair(new Float32Array(size)), pair(new Float32Array(size))];
      const g = values(size, 400);
      const adam = { ...ADAM_CASES[1], step: 1, maxExpAvgSq: null, amsgrad: false };
      refBackend.kernels.adamStep({
        ...adam,
        param: p.ref,
        grad: refBackend.write(g, 'float32'),
        expAvg: m.ref,
        expAvgSq: v2.ref,
      });
      native.kernels.adamStep({ ...adam, param: p.nat, grad: blockedGrad(g), expAvg: m.nat, expAvgSq: v2.nat });
      assert.equal((p.nat as NativeStorage).desc, PLAIN, 'Adam steps a plain weight');
      same('param after Adam', p.ref, p.nat, size);
      rt.flushSync();
    });
  }
});
