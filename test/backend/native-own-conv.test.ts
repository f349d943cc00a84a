/**
 * convkit's own 3x3 conv kernels ('own'): on AVX-512 builds native/src/own_conv.cc and
 * own_conv_weights.cc, on AVX2 builds the Winograd kernels of own_winograd.cc and
 * own_winograd_weights.cc (`npm run check:avx2` runs these cases there); and ('own4', every build
 * with AVX2) the Winograd F(4x4, 3x3) forward, backward data and backward weights (AVX-512 builds:
 * own_winograd16.cc and own_winograd16_weights.cc, on 16-channel blocks). The forward, the backward data
 * (its forward on the transposed conv, weights turned) and the backward weights against the
 * reference backend with CONVKIT_CONV_ALGORITHM=own or own4, on widths
 * that end in a partial block of 16 pixels, channels that fill no 16-channel block, 1x1 and 1-row
 * maps, several input and output blocks; non-finite values exactly where oneDNN's direct kernel
 * has them; the convs it must leave to oneDNN. A build with neither has no such kernel: the
 * cases then check the direct kernel they ran and say so.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { takeConvAlgorithmNote } from '../../src/backend/native/conv-algorithm.js';
import { sameRoundingKernel } from '../../src/backend/native/conv-tuning.js';
import { nativeRuntime } from '../../src/backend/native/index.js';
import { resetSettings } from '../../src/core/config.js';
import { noGrad } from '../../src/core/grad-mode.js';
import { sizeOf } from '../../src/core/shape.js';
import type { Tensor } from '../../src/core/tensor.js';
import * as ops from '../../src/ops/index.js';
import { SGD } from '../../src/train/sgd.js';
import { conv2dGeometry } from '../../src/ops/conv2d.js';
import {
  assertClose,
  assertGradientsAgree,
  assertNonFiniteAsDirect,
  nativeSkipReason,
  restoreEnvAfter,
  scaledTolerance,
  seededValues,
} from './native-helpers.js';

const skip = nativeSkipReason('native-own-conv');
restoreEnvAfter(['CONVKIT_CONV_ALGORITHM']);
function useAlgorithm(algorithm: string): void {
  process.env.CONVKIT_CONV_ALGORITHM = algorithm;
  resetSettings();
}
const same = (x: Tensor, w: Tensor): Tensor => ops.conv2d(x, w, null, { padding: 1 });
/**
 * Whether this build's inference `algorithm` ('own': tile 2, 'own4': tile 4; weights transformed once) is a Winograd
 * kernel (AVX2, or the AVX-512 build's 16-lane F(4x4, 3x3)), which takes a bias and post-ops.
 */
function winogradBuild(algorithm: 'own' | 'own4' = 'own'): boolean {
  const g = conv2dGeometry([1, 8, 4, 4], [8, 8, 3, 3], { padding: 1 });
  const { addon } = nativeRuntime();
  const tile = algorithm === 'own4' ? 4 : 2;
  try {
    const p = addon.ownConvPlan(g, { bias: false, relu: false, sum: false, transformed: true, tile });
    addon.releasePlan(p.plan);
    return [`convkit:avx2_wino_${tile}x3`, 'convkit:avx512_wino_4x3'].includes(p.impl);
  } catch {
    return false;
  }
}

/** [input shape, weight shape]: all 3x3 with padding 1, so all the own kernel's. */
const SHAPES: [string, number[], number[]][] = [
  ['16 -> 16 channels, 8x8 (CIFAR ResNet first stage)', [2, 16, 8, 8], [16, 16, 3, 3]],
  ['17 -> 19 channels, 7x9 (blocks not filled, one partial pixel block)', [3, 17, 7, 9], [19, 17, 3, 3]],
  ['48 -> 12 channels, 5x37 (three pixel blocks, the last of 5)', [2, 48, 5, 37], [12, 48, 3, 3]],
  ['32 -> 40 channels, 3x16 (one full pixel block, three output blocks)', [1, 32, 3, 16], [40, 32, 3, 3]],
  ['4 -> 5 channels, 1x1 maps (every tap but the centre in the padding)', [2, 4, 1, 1], [5, 4, 3, 3]],
  ['16 -> 16 channels, 1x17 (one row: a full block and one pixel)', [2, 16, 1, 17], [16, 16, 3, 3]],
];

describe("convkit's own conv kernels against the reference backend", () => {
  for (const [name, xShape, wShape] of SHAPES)
    for (const algorithm of ['own', 'own4'] as const)
      it(`${name}: forward and both gradients agree (${algorithm})`, { skip }, (t) => {
        useAlgorithm(algorithm);
        const rt = nativeRuntime();
        const kernels = ['conv2d', 'conv2dBackwardData', 'conv2dBackwardWeight'] as const;
        assertGradientsAgree(name, [xShape, wShape], same, () => {
          for (const kernel of kernels) takeConvAlgorithmNote(rt, kernel);
        });
        const [forward, data, weights] = kernels.map((kernel) => takeConvAlgorithmNote(rt, kernel));
        if (forward?.algorithm !== algorithm)
          return t.skip(`no ${algorithm} kernel in this build (ran ${forward?.impl})`);
        if (algorithm === 'own4') {
          // F(4x4, 3x3) forward, backward data and backward weights (AVX-512 builds: on 16-channel blocks).
          assert.equal(forward.impl, winogradBuild() ? 'convkit:avx2_wino_4x3' : 'convkit:avx512_wino_4x3');
          assert.equal(sameRoundingKernel(forward.impl), false, 'Winograd changes the rounding: DIRECT_MARGIN');
          for (const note of [data, weights]) assert.deepEqual([note?.algorithm, note?.impl], ['own4', forward.impl]);
          return;
        }
        // AVX-512 builds: the direct kernel; AVX2 builds: the Winograd one. Each runs all three.
        assert.ok(['convkit:avx512_3x3', 'convkit:avx2_wino_2x3'].includes(forward.impl), forward.impl);
        for (const note of [data, weights]) assert.deepEqual([note?.algorithm, note?.impl], ['own', forward.impl]);
        // The tuner's margin: the direct kernel rounds as oneDNN's direct one does, Winograd does not.
        assert.equal(sameRoundingKernel(forward.impl), !winogradBuild());
      });

  it('runs 5x5 convs padded by 2 on AVX2 builds (F(2x2, 5x5), forward and backward data), as the reference', {
    skip,
  }, (t) => {
    if (!winogradBuild()) return t.skip('the AVX-512 own kernel is 3x3 only');
    useAlgorithm('own');
    const rt = nativeRuntime();
    const conv5 = (x: Tensor, w: Tensor): Tensor => ops.conv2d(x, w, null, { padding: 2 });
    const kernels = ['conv2d', 'conv2dBackwardData', 'conv2dBackwardWeight'] as const;
    assertGradientsAgree(
      '5x5, 17 -> 19 channels, 7x9',
      [
        [2, 17, 7, 9],
        [19, 17, 5, 5],
      ],
      conv5,
      () => {
        for (const kernel of kernels) takeConvAlgorithmNote(rt, kernel);
      },
    );
    const [forward, data, weights] = kernels.map((kernel) => takeConvAlgorithmNote(rt, kernel));
    assert.deepEqual([forward?.algorithm, forward?.impl], ['own', 'convkit:avx2_wino_2x5']);
    assert.deepEqual([data?.algorithm, data?.impl], ['own', 'convkit:avx2_wino_2x5']);
    assert.equal(weights?.algorithm, 'direct', "the backward weights stays oneDNN's");
  });

  for (const algorithm of ['own', 'own4'])
    it(`gives non-finite outputs and gradients exactly where the direct kernel does (${algorithm})`, { skip }, (t) => {
      if (assertNonFiniteAsDirect(algorithm) === null) t.skip(`no ${algorithm} kernel in this build`);
    });

  it('leaves stride 3, padding 0, 5x5 kernels padded by 1 and a bias gradient to oneDNN; on AVX-512 5x5 ones and an addend too', {
    skip,
  }, () => {
    useAlgorithm('own');
    const rt = nativeRuntime();
    const x = ops.fromArray(seededValues(2 * 16 * 81, 61), [2, 16, 9, 9], { backend: 'native' });
    const w3 = ops.fromArray(seededValues(16 * 16 * 9, 62), [16, 16, 3, 3], { backend: 'native' });
    const w5 = ops.fromArray(seededValues(16 * 16 * 25, 63), [16, 16, 5, 5], { backend: 'native' });
    const b = ops.fromArray(seededValues(16, 64), [16], { backend: 'native' });
    const convs: [string, () => Tensor][] = [
      ['stride 3', () => ops.conv2d(x, w3, null, { padding: 1, stride: 3 })],
      ['padding 0', () => ops.conv2d(x, w3, null)],
      ['5x5 padded by 1', () => ops.conv2d(x, w5, null, { padding: 1 })],
    ];
    if (!winogradBuild())
      convs.push(
        ['5x5 padded by 2', () => ops.conv2d(x, w5, null, { padding: 2 })],
        ['addend', () => ops.conv2d(x, w3, b, { padding: 1 }, { addend: ops.conv2d(x, w3, null, { padding: 1 }) })],
      );
    for (const [what, conv] of convs) {
      takeConvAlgorithmNote(rt);
      noGrad(() => conv().dispose());
      assert.equal(takeConvAlgorithmNote(rt)?.algorithm ?? 'direct', 'direct', what);
    }
    // The backward weights of a conv with a bias (the own kernel sums no bias gradient).
    const [xg, wg, bg] = [x, w3, b].map((t) =>
      ops.fromArray(t.toArray(), t.shape, { backend: 'native', requiresGrad: true }),
    );
    takeConvAlgorithmNote(rt, 'conv2dBackwardWeight');
    ops.sum(ops.conv2d(xg, wg, bg, { padding: 1 })).backward();
    assert.equal(takeConvAlgorithmNote(rt, 'conv2dBackwardWeight')?.algorithm ?? 'direct', 'direct', 'bias gradient');
  });

  it('runs a bias and a fused ReLU on the AVX-512 kernel, two output blocks a task on maps up to 8 wide, stride 1 and 2, as the reference', {
    skip,
  }, (t) => {
    if (winogradBuild()) return t.skip('builds without AVX-512 run the Winograd kernel (below)');
    useAlgorithm('own');
    const rt = nativeRuntime();
    const cases: [string, number[], number, number][] = [
      ['7x7, 40 outputs: a pair of blocks, then a partial one alone', [1, 24, 7, 7], 40, 1],
      ['3x5, 19 outputs: one pair, its second block partial', [2, 17, 3, 5], 19, 1],
      ['4x9, 33 outputs: one block a task (9 wide)', [1, 16, 4, 9], 33, 1],
      ['1x1 maps, 48 outputs', [2, 32, 1, 1], 48, 1],
      ['stride 2, 14x14 -> 7x7 (even: no right padding tap), 40 outputs', [1, 24, 14, 14], 40, 2],
      ['stride 2, 9x19 -> 5x10 (odd: the last pixel skips the right padding tap), 19 outputs', [2, 17, 9, 19], 19, 2],
      ['stride 2, 5x40 -> 3x20 (a full pixel block and 4), 16 outputs', [1, 16, 5, 40], 16, 2],
    ];
    for (const [name, xShape, outputs, stride] of cases) {
      const shapes = [xShape, [outputs, xShape[1], 3, 3], [outputs]];
      const values = shapes.map((shape, i) => seededValues(sizeOf(shape), 80 + i));
      values[0][xShape[3] + 1] = Number.NaN; // spreads through its windows; the ReLU keeps it
      const [x, w, b] = shapes.map((shape, i) => ops.fromArray(values[i], shape, { backend: 'native' }));
      const onRef = shapes.map((shape, i) => ops.fromArray(values[i], shape, { backend: 'ref' }));
      const options = { padding: 1, stride };
      const want = Float32Array.from(ops.conv2d(onRef[0], onRef[1], onRef[2], options, { relu: true }).toArray());
      takeConvAlgorithmNote(rt);
      const got = Float32Array.from(noGrad(() => ops.conv2d(x, w, b, options, { relu: true })).toArray());
      const note = takeConvAlgorithmNote(rt);
      assert.deepEqual([note?.algorithm, note?.impl], ['own', 'convkit:avx512_3x3'], name);
      const nan = want.map((v) => +Number.isNaN(v));
      assert.ok(nan.some((v) => v === 1) && want.some((v) => v === 0), `${name}: NaN and ReLU'd zeros expected`);
      assert.deepEqual(
        got.map((v) => +Number.isNaN(v)),
        nan,
        `${name}: NaN where the reference has it`,
      );
      const [finiteGot, finiteWant] = [got, want].map((a) => a.map((v) => (Number.isNaN(v) ? 0 : v)));
      assertClose(name, finiteGot, finiteWant, scaledTolerance(finiteWant));
    }
  });

  for (const algorithm of ['own', 'own4'] as const)
    it(`runs a bias, a residual addend and a fused ReLU on the Winograd kernel (${algorithm}), as the reference, before and after an SGD step`, {
      skip,
    }, (t) => {
      if (!winogradBuild(algorithm)) return t.skip('the AVX-512 own kernel takes no addend (checked above)');
      useAlgorithm(algorithm);
      const rt = nativeRuntime();
      const shapes = [[2, 17, 7, 9], [19, 17, 3, 3], [19], [2, 19, 7, 9]];
      const values = shapes.map((shape, i) => seededValues(sizeOf(shape), 70 + i));
      const [x, w, b, addend] = shapes.map((shape, i) => ops.fromArray(values[i], shape, { backend: 'native' }));
      w.requiresGrad = true;
      // An inference pass on the reference and here (the Winograd plan reads the weights transformed, kept on w).
      const pass = (): void => {
        const onRef = [x, w, b, addend].map((v) => ops.fromArray(v.toArray(), v.shape, { backend: 'ref' }));
        const want = Float32Array.from(
          ops.conv2d(onRef[0], onRef[1], onRef[2], { padding: 1 }, { addend: onRef[3], relu: true }).toArray(),
        );
        takeConvAlgorithmNote(rt);
        const got = noGrad(() => ops.conv2d(x, w, b, { padding: 1 }, { addend, relu: true }));
        assert.deepEqual([takeConvAlgorithmNote(rt)?.algorithm, want.some((v) => v === 0)], [algorithm, true]);
        assertClose('bias + addend + ReLU', got.toArray(), want, scaledTolerance(want));
      };
      pass();
      pass(); // the kept transform
      // An SGD step writes w in place: the next pass must transform it again.
      ops.sum(ops.conv2d(x, w, b, { padding: 1 })).backward();
      new SGD([w], { lr: 0.5 }).step();
      pass();
    });
});
