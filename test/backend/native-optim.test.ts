/**
 * The native optimiser kernels (sgdStep, adamStep) against the reference kernels: a few steps of
 * every rule, bit for bit, on sizes below and above the OpenMP threshold. Also: blocked
 * parameters are refused with a clear error, and float64 falls back to the reference kernel.
 */
import { conv2dGeometry } from '../../src/ops/conv2d.js';
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { KernelSpecs } from '../../src/backend/backend.js';
import { loadNativeBackend, nativeCallCount } from '../../src/backend/native/index.js';
import { refBackend } from '../../src/backend/ref/index.js';
import { Generator } from '../../src/core/random.js';
import type { Storage } from '../../src/core/storage.js';
import { PLAIN } from '../../src/backend/native/runtime.js';
import { failNativeMissing, nativeSkipReason } from './native-helpers.js';

const skip = nativeSkipReason('native-optim');
const native = loadNativeBackend();

function values(size: number, seed: number, scale = 1): Float32Array {
  const g = new Generator(seed);
  return Float32Array.from({ length: size }, () => (g.uniform() * 2 - 1) * scale);
}

const SIZES = [37, 70_001]; // below and above the size where the loop goes parallel

type Sgd = Omit<KernelSpecs['sgdStep']['args'], 'param' | 'grad' | 'momentumBuffer' | 'firstStep'> & {
  withBuffer: boolean;
};
type Adam = Omit<KernelSpecs['adamStep']['args'], 'param' | 'grad' | 'expAvg' | 'expAvgSq' | 'maxExpAvgSq' | 'step'>;

const SGD_CASES: Sgd[] = [
  { lr: 0.1, momentum: 0, dampening: 0, nesterov: false, weightDecay: 0, maximize: false, withBuffer: false },
  { lr: 0.05, momentum: 0.9, dampening: 0, nesterov: false, weightDecay: 1e-4, maximize: false, withBuffer: true },
  { lr: 0.03, momentum: 0.9, dampening: 0, nesterov: true, weightDecay: 5e-4, maximize: false, withBuffer: true },
  { lr: 0.2, momentum: 0.5, dampening: 0.3, nesterov: false, weightDecay: 0.01, maximize: true, withBuffer: true },
];
const ADAM_CASES: Adam[] = [
  { lr: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0, decoupled: false, amsgrad: false, maximize: false },
  { lr: 3e-3, beta1: 0.8, beta2: 0.99, eps: 1e-6, weightDecay: 0.01, decoupled: false, amsgrad: true, maximize: false },
  { lr: 1e-2, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.05, decoupled: true, amsgrad: false, maximize: true },
  { lr: 2e-3, beta1: 0.85, beta2: 0.995, eps: 1e-7, weightDecay: 0.1, decoupled: true, amsgrad: true, maximize: false },
];

/** Both backends' storages of the same values; `read` gives them back as float32 arrays. */
function pair(values: Float32Array): { ref: Storage; nat: Storage } {
  if ('error' in native) return failNativeMissing(native);
  return { ref: refBackend.write(values, 'float32'), nat: native.write(values, 'float32') };
}

function same(what: string, a: Storage, b: Storage, size: number): void {
  if ('error' in native) failNativeMissing(native);
  const x = new Uint32Array(Float32Array.from(refBackend.read(a, [size])).buffer);
  const y = new Uint32Array(Float32Array.from(native.read(b, [size])).buffer);
  for (let i = 0; i < size; i++)
    if (x[i] !== y[i]) assert.fail(`${what}: element ${i} differs (ref bits ${x[i]}, native ${y[i]})`);
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
          const g = pair(values(size, 100 + step));
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
          const g = pair(values(size, 200 + step, step === 2 ? 1e-3 : 1)); // a small step: amsgrad's max keeps the old v
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

  it('float64 parameters run the reference kernel; a blocked parameter is refused with a clear error', { skip }, () => {
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
    // A storage in a oneDNN blocked layout (a conv's weights or output layout, whichever oneDNN
    // blocks on this CPU: OIhw16i16o / nChw16c on AVX-512, 8i8o / 8c on AVX2) used as a parameter
    // must fail loudly. If oneDNN blocked neither, nothing would be refused: that fails too.
    const rt = native.runtime;
    const o = { bias: false, relu: false, sum: false, training: true };
    const plan = rt.addon.conv2dPlan(conv2dGeometry([1, 32, 4, 4], [32, 32, 3, 3], { padding: 1 }), o);
    const desc = [plan.weights, plan.dst].find((d) => !rt.addon.descInfo(d).plain);
    assert.ok(
      desc !== undefined,
      'oneDNN chose plain layouts for both: the refusal of a blocked parameter is untested',
    );
    const size = rt.addon.descInfo(desc).dims.reduce((a, b) => a * b, 1);
    const y = rt.output(desc, size);
    assert.notEqual(y.desc, PLAIN, 'the forced storage is blocked');
    const x = native.write(values(size, 3), 'float32');
    assert.throws(
      () =>
        native.kernels.adamStep({
          ...ADAM_CASES[0],
          step: 1,
          param: y,
          grad: x,
          expAvg: native.write(new Float32Array(size), 'float32'),
          expAvgSq: native.write(new Float32Array(size), 'float32'),
          maxExpAvgSq: null,
        }),
      /adamStep: param is in a blocked oneDNN layout and cannot be updated in place/,
    );
    assert.throws(
      () =>
        native.kernels.sgdStep({
          param: y,
          grad: x,
          momentumBuffer: null,
          lr: 0.1,
          momentum: 0,
          dampening: 0,
          nesterov: false,
          weightDecay: 0,
          maximize: false,
          firstStep: true,
        }),
      /sgdStep: param is in a blocked oneDNN layout and cannot be updated in place/,
    );
    rt.flushSync();
  });
});
