/**
 * oneDNN's Winograd kernels in training (CONVKIT_CONV_ALGORITHM=winograd): the forward, backward
 * data and backward weights of 3x3 stride-1 convs against the reference backend, with NaN and
 * infinities where the reference has them, and the guard that keeps a misaligned buffer away from
 * the Winograd kernels (they crashed on one).
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { type ConvKernel, takeConvAlgorithmNote } from '../../src/backend/native/conv-algorithm.js';
import { nativeRuntime } from '../../src/backend/native/index.js';
import { resetSettings } from '../../src/core/config.js';
import type { Tensor } from '../../src/core/tensor.js';
import * as ops from '../../src/ops/index.js';
import { conv2dGeometry } from '../../src/ops/conv2d.js';
import { WINOGRAD_CASES } from './native-cases/conv.js';
import { assertClose, assertGradientsAgree, nativeSkipReason, seededValues, withGradients } from './native-helpers.js';

const skip = nativeSkipReason('native-winograd-training');
const saved = process.env.CONVKIT_CONV_ALGORITHM;
after(() => {
  if (saved === undefined) delete process.env.CONVKIT_CONV_ALGORITHM;
  else process.env.CONVKIT_CONV_ALGORITHM = saved;
  resetSettings();
});
function forceWinograd(): void {
  process.env.CONVKIT_CONV_ALGORITHM = 'winograd';
  resetSettings();
}

const KERNELS: readonly ConvKernel[] = ['conv2d', 'conv2dBackwardData', 'conv2dBackwardWeight'];

// Fused post-ops (ReLU, addend) are inference-only: they have no gradient.
const TRAINABLE = WINOGRAD_CASES.filter((c) => !c.name.includes('ReLU'));

describe('native Winograd convolution in training against the reference backend', () => {
  for (const c of TRAINABLE) {
    it(`${c.name}: forward and both backward kernels agree`, { skip }, (t) => {
      forceWinograd();
      const rt = nativeRuntime();
      assertGradientsAgree(c.name, c.inputs, c.f, () => {
        for (const k of KERNELS) takeConvAlgorithmNote(rt, k);
      });
      const ran = KERNELS.map((k) => takeConvAlgorithmNote(rt, k));
      const direct = KERNELS.filter((_, i) => ran[i]?.algorithm !== 'winograd');
      if (direct.length > 0) t.skip(`oneDNN has no Winograd kernel here for ${direct.join(', ')} (checked what ran)`);
    });
  }
});

describe('Winograd backward with NaN and infinity', () => {
  it('gives the reference non-finite gradients exactly where it does', { skip }, (t) => {
    // The backward transforms mix whole tiles too: the guard runs the direct kernel when the
    // upstream gradient, the weights or the input hold a non-finite value.
    forceWinograd();
    const shapes = [
      [2, 16, 12, 12],
      [16, 16, 3, 3],
    ];
    const x = seededValues(2 * 16 * 144, 11);
    x[5 * 12 + 5] = Number.NaN;
    x[144 + 3] = Number.POSITIVE_INFINITY;
    const w = seededValues(16 * 16 * 9, 12);
    const f = (a: Tensor, b: Tensor): Tensor => ops.conv2d(a, b, null, { padding: 1 });
    const expected = withGradients('ref', [x, w], shapes, f, 13);
    const rt = nativeRuntime();
    for (const k of KERNELS) takeConvAlgorithmNote(rt, k);
    const actual = withGradients('native', [x, w], shapes, f, 13);
    if (takeConvAlgorithmNote(rt, 'conv2dBackwardWeight')?.algorithm !== 'winograd')
      return t.skip('oneDNN has no Winograd backward kernel on this CPU');
    for (const [n, what] of ['output', 'input gradient', 'weight gradient'].entries()) {
      const nonFinite = expected[n].filter((v) => !Number.isFinite(v)).length;
      for (let i = 0; i < expected[n].length; i++) {
        if (Number.isFinite(expected[n][i]))
          assert.ok(Number.isFinite(actual[n][i]), `${what} ${i} is ${actual[n][i]}`);
        else
          assert.ok(Object.is(actual[n][i], expected[n][i]), `${what} ${i} is ${actual[n][i]}, ref ${expected[n][i]}`);
      }
      if (n === 2) assert.ok(nonFinite > 0, 'the reference made no non-finite weight gradient');
    }
  });
});

describe('Winograd plans and misaligned buffers', () => {
  it('runtime arrays start on 64-byte boundaries', { skip }, () => {
    const rt = nativeRuntime();
    for (const floats of [1, 17, 1000, 300_000]) {
      const a = rt.allocate(floats);
      assert.equal(a.length, floats);
      assert.equal((rt.addon.alignmentGap(a.buffer as ArrayBuffer) - a.byteOffset) % 64, 0, `${floats} floats`);
    }
  });

  it('a backward-weights plan given a buffer off the 64-byte grid runs its direct alternate, and agrees', {
    skip,
  }, (t) => {
    // oneDNN's Winograd kernel crashed in 7 of 10 runs of this conv on glibc-placed arrays (16 bytes
    // off the grid); conv.cc's guard sends such calls to the direct kernel.
    const rt = nativeRuntime();
    const g = conv2dGeometry([2, 16, 8, 8], [16, 16, 3, 3], { padding: 1 });
    let plan: ReturnType<typeof rt.addon.conv2dBackwardWeightsPlan>;
    try {
      plan = rt.addon.conv2dBackwardWeightsPlan(g, { bias: false, algorithm: 'winograd' });
    } catch {
      return t.skip('oneDNN has no Winograd backward-weights kernel on this CPU');
    }
    const floats = (desc: number): number => Math.ceil(rt.descInfo(desc).bytes / 4);
    const filled = (desc: number, seed: number, offset: number): Float32Array => {
      const a = rt.allocate(floats(desc) + offset).subarray(offset);
      a.set(seededValues(a.length, seed));
      return a;
    };
    const run = (offset: number): Float32Array => {
      const out = rt.allocate(floats(plan.diffWeights) + offset).subarray(offset);
      rt.addon.exec(plan.plan, [filled(plan.src, 1, offset), filled(plan.diffDst, 2, offset), out]);
      rt.flushSync();
      return out;
    };
    const aligned = run(0);
    const misaligned = run(4);
    for (let i = 0; i < 4; i++) assertClose(`misaligned run ${i}`, run(4), aligned, { rtol: 1e-4, atol: 4e-5 });
    // Winograd and the direct sum round differently: the aligned run (runtime arrays) ran Winograd,
    // the misaligned one the direct alternate. Were the runtime's arrays off the grid, both would.
    assert.ok(
      aligned.some((v, i) => v !== misaligned[i]),
      'the aligned and the misaligned runs agree to the bit: one of them did not run what it should',
    );
  });
});
