/**
 * convkit's own 3x3 conv kernel ('own', native/src/own_conv.cc, AVX-512 builds): the forward and
 * the backward data (its forward on the transposed conv, weights turned) against the reference
 * backend with CONVKIT_CONV_ALGORITHM=own, on widths that end in a partial block of 16 pixels,
 * channels that fill no 16-channel block, 1x1 and 1-row maps, several input and output blocks;
 * non-finite values exactly where oneDNN's direct kernel has them; the convs it must leave to
 * oneDNN. A build without AVX-512 has no such kernel: the cases then check the direct kernel
 * they ran and say so.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { takeConvAlgorithmNote } from '../../src/backend/native/conv-algorithm.js';
import { nativeRuntime } from '../../src/backend/native/index.js';
import { resetSettings } from '../../src/core/config.js';
import { noGrad } from '../../src/core/grad-mode.js';
import type { Tensor } from '../../src/core/tensor.js';
import * as ops from '../../src/ops/index.js';
import {
  assertClose,
  nativeSkipReason,
  scaledTolerance,
  seededValues,
  seedOf,
  withGradients,
} from './native-helpers.js';

const skip = nativeSkipReason('native-own-conv');
const saved = process.env.CONVKIT_CONV_ALGORITHM;
after(() => {
  if (saved === undefined) delete process.env.CONVKIT_CONV_ALGORITHM;
  else process.env.CONVKIT_CONV_ALGORITHM = saved;
  resetSettings();
});
function useAlgorithm(algorithm: string): void {
  process.env.CONVKIT_CONV_ALGORITHM = algorithm;
  resetSettings();
}
const same = (x: Tensor, w: Tensor): Tensor => ops.conv2d(x, w, null, { padding: 1 });

/** [input shape, weight shape]: all 3x3 with padding 1, so all the own kernel's. */
const SHAPES: [string, number[], number[]][] = [
  ['16 -> 16 channels, 8x8 (CIFAR ResNet first stage)', [2, 16, 8, 8], [16, 16, 3, 3]],
  ['17 -> 19 channels, 7x9 (blocks not filled, one partial pixel block)', [3, 17, 7, 9], [19, 17, 3, 3]],
  ['48 -> 12 channels, 5x37 (three pixel blocks, the last of 5)', [2, 48, 5, 37], [12, 48, 3, 3]],
  ['32 -> 40 channels, 3x16 (one full pixel block, three output blocks)', [1, 32, 3, 16], [40, 32, 3, 3]],
  ['4 -> 5 channels, 1x1 maps (every tap but the centre in the padding)', [2, 4, 1, 1], [5, 4, 3, 3]],
  ['16 -> 16 channels, 1x17 (one row: a full block and one pixel)', [2, 16, 1, 17], [16, 16, 3, 3]],
];

describe("convkit's own 3x3 conv kernel against the reference backend", () => {
  for (const [name, xShape, wShape] of SHAPES) {
    it(`${name}: forward and both gradients agree`, { skip }, (t) => {
      useAlgorithm('own');
      const seed = seedOf(name);
      const shapes = [xShape, wShape];
      const inputs = shapes.map((s, i) =>
        seededValues(
          s.reduce((a, b) => a * b, 1),
          seed + i,
        ),
      );
      const expected = withGradients('ref', inputs, shapes, same, seed);
      const rt = nativeRuntime();
      takeConvAlgorithmNote(rt);
      takeConvAlgorithmNote(rt, 'conv2dBackwardData');
      const actual = withGradients('native', inputs, shapes, same, seed);
      const ran = [takeConvAlgorithmNote(rt), takeConvAlgorithmNote(rt, 'conv2dBackwardData')];
      for (const [i, what] of ['forward', 'input gradient', 'weight gradient'].entries())
        assertClose(`${name} ${what}`, actual[i], expected[i], scaledTolerance(expected[i]));
      if (ran.some((n) => n?.algorithm !== 'own')) return t.skip(`no own kernel in this build (ran ${ran[0]?.impl})`);
      assert.equal(ran[0]?.impl, 'convkit:avx512_3x3');
    });
  }

  it('gives non-finite outputs and gradients exactly where the direct kernel does', { skip }, (t) => {
    // The direct kernel, not the reference: an infinite weight on a tap in the padding gives NaN
    // on the reference (0 * inf); native kernels skip padding taps (docs/numerics.md).
    const shapes = [
      [2, 16, 10, 10],
      [16, 16, 3, 3],
    ];
    const x = seededValues(2 * 16 * 100, 51);
    x[4 * 10 + 4] = Number.NaN;
    x[100 + 9] = Number.POSITIVE_INFINITY;
    const w = seededValues(16 * 16 * 9, 52);
    w[3 * 9 + 8] = Number.NEGATIVE_INFINITY;
    useAlgorithm('direct');
    const expected = withGradients('native', [x, w], shapes, same, 53);
    useAlgorithm('own');
    const rt = nativeRuntime();
    takeConvAlgorithmNote(rt);
    const actual = withGradients('native', [x, w], shapes, same, 53);
    if (takeConvAlgorithmNote(rt)?.algorithm !== 'own') return t.skip('no own kernel in this build');
    for (const [n, what] of ['output', 'input gradient', 'weight gradient'].entries()) {
      const nonFinite = expected[n].filter((v) => !Number.isFinite(v)).length;
      assert.ok(nonFinite > 0, `the direct kernel made no non-finite ${what}`);
      for (let i = 0; i < expected[n].length; i++) {
        const message = `${what} ${i} is ${actual[n][i]}, direct ${expected[n][i]}`;
        if (Number.isFinite(expected[n][i]))
          assert.ok(Math.abs(actual[n][i] - expected[n][i]) <= 1e-3 * (1 + Math.abs(expected[n][i])), message);
        else assert.ok(Object.is(actual[n][i], expected[n][i]), message);
      }
    }
  });

  it('leaves a bias, a fused ReLU, stride 2, padding 0 and 5x5 kernels to oneDNN', { skip }, () => {
    useAlgorithm('own');
    const rt = nativeRuntime();
    const x = ops.fromArray(seededValues(2 * 16 * 81, 61), [2, 16, 9, 9], { backend: 'native' });
    const w3 = ops.fromArray(seededValues(16 * 16 * 9, 62), [16, 16, 3, 3], { backend: 'native' });
    const w5 = ops.fromArray(seededValues(16 * 16 * 25, 63), [16, 16, 5, 5], { backend: 'native' });
    const b = ops.fromArray(seededValues(16, 64), [16], { backend: 'native' });
    const convs: [string, () => Tensor][] = [
      ['bias', () => ops.conv2d(x, w3, b, { padding: 1 })],
      ['ReLU', () => ops.conv2d(x, w3, null, { padding: 1 }, { relu: true })],
      ['stride 2', () => ops.conv2d(x, w3, null, { padding: 1, stride: 2 })],
      ['padding 0', () => ops.conv2d(x, w3, null)],
      ['5x5', () => ops.conv2d(x, w5, null, { padding: 2 })],
    ];
    for (const [what, conv] of convs) {
      takeConvAlgorithmNote(rt);
      noGrad(() => conv().dispose());
      assert.equal(takeConvAlgorithmNote(rt)?.algorithm ?? 'direct', 'direct', what);
    }
  });
});
