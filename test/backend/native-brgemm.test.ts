/**
 * The 'brgemm' forward algorithm: oneDNN's direct algorithm on nhwc activations, which it runs
 * with its brgemm kernels on AVX-512 (a tuning candidate for forwards without an addend, timed
 * with the conversions in and out, conv-algorithm.ts). Forced here (CONVKIT_CONV_ALGORITHM=brgemm)
 * on awkward shapes against the reference backend, in inference and in training (the backward
 * kernels, which have no brgemm, run direct on the forward's input as it came); its output goes
 * back to the direct kernel's layout, and NaN passes its fused ReLU as PyTorch has it. A CPU
 * without brgemm kernels (AVX2) runs direct, which is checked instead and reported as skipped.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { takeConvAlgorithmNote } from '../../src/backend/native/conv-algorithm.js';
import { nativeRuntime } from '../../src/backend/native/index.js';
import { resetSettings } from '../../src/core/config.js';
import { noGrad } from '../../src/core/grad-mode.js';
import type { Tensor } from '../../src/core/tensor.js';
import * as ops from '../../src/ops/index.js';
import type { ForwardCase } from './native-case.js';
import { assertClose, assertGradientsAgree, nativeSkipReason, seededValues, seedOf } from './native-helpers.js';

const skip = nativeSkipReason('native-brgemm');
const saved = process.env.CONVKIT_CONV_ALGORITHM;
after(() => {
  if (saved === undefined) delete process.env.CONVKIT_CONV_ALGORITHM;
  else process.env.CONVKIT_CONV_ALGORITHM = saved;
  resetSettings();
});

const CASES: ForwardCase[] = [
  {
    name: '3x3 stride 2 + bias + ReLU (a ResNet-50 downsampling 3x3)',
    inputs: [[2, 32, 14, 14], [32, 32, 3, 3], [32]],
    f: (x, w, b) => ops.conv2d(x, w, b, { padding: 1, stride: 2 }, { relu: true }),
  },
  {
    name: '5x5 pad 2, 17 -> 19 channels, batch 3 (blocks not filled)',
    inputs: [[3, 17, 9, 7], [19, 17, 5, 5], [19]],
    f: (x, w, b) => ops.conv2d(x, w, b, { padding: 2 }),
  },
  {
    name: '1x1, 64 -> 16 channels',
    inputs: [
      [1, 64, 6, 6],
      [16, 64, 1, 1],
    ],
    f: (x, w) => ops.conv2d(x, w, null),
  },
  {
    name: '3x3 asymmetric padding, dilation 2',
    inputs: [[2, 16, 11, 13], [16, 16, 3, 3], [16]],
    f: (x, w, b) => ops.conv2d(x, w, b, { padding: [0, 2, 1, 0], dilation: 2 }),
  },
];

function forward(backend: string, c: ForwardCase, edit?: (values: Float32Array, input: number) => void): Float32Array {
  const seed = seedOf(c.name);
  return noGrad(() => {
    const inputs: Tensor[] = c.inputs.map((s, i) => {
      const values = seededValues(
        s.reduce((a, b) => a * b, 1),
        seed + i,
      );
      edit?.(values, i);
      return ops.fromArray(values, s, { backend });
    });
    // A ReLU after the conv reads its output in the layout the kernel left it in.
    return Float32Array.from(ops.relu(c.f(...inputs)).toArray());
  });
}

describe("the 'brgemm' conv algorithm (nhwc) against the reference backend", () => {
  for (const c of CASES) {
    it(`${c.name}: forward agrees`, { skip }, (t) => {
      process.env.CONVKIT_CONV_ALGORITHM = 'brgemm';
      resetSettings();
      const expected = forward('ref', c);
      const rt = nativeRuntime();
      takeConvAlgorithmNote(rt);
      const actual = forward('native', c);
      const note = takeConvAlgorithmNote(rt);
      assert.ok(note !== null, 'no native conv ran');
      assertClose(`${c.name} forward`, actual, expected);
      if (note.algorithm !== 'brgemm')
        t.skip(`oneDNN has no brgemm kernel here (ran ${note.impl}; checked that instead)`);
      else assert.match(note.impl, /^brg/, 'the kernel oneDNN ran is not a brgemm one');
    });
  }

  // Fused ReLU post-ops are inference-only: they have no gradient.
  for (const c of CASES.filter((k) => !k.name.includes('ReLU'))) {
    it(`${c.name}: in training, forward and gradients agree`, { skip }, (t) => {
      process.env.CONVKIT_CONV_ALGORITHM = 'brgemm';
      resetSettings();
      const rt = nativeRuntime();
      assertGradientsAgree(c.name, c.inputs, c.f, () => {
        takeConvAlgorithmNote(rt);
        takeConvAlgorithmNote(rt, 'conv2dBackwardData');
      });
      const note = takeConvAlgorithmNote(rt);
      assert.equal(takeConvAlgorithmNote(rt, 'conv2dBackwardData')?.algorithm ?? 'direct', 'direct');
      if (note?.algorithm !== 'brgemm')
        t.skip(`oneDNN has no brgemm kernel here (ran ${note?.impl}; checked that instead)`);
    });
  }

  it('keeps a NaN through its fused ReLU and puts it where the reference does', { skip }, (t) => {
    process.env.CONVKIT_CONV_ALGORITHM = 'brgemm';
    resetSettings();
    const c = CASES[0];
    const poison = (values: Float32Array, input: number): void => {
      if (input === 0) values[3 * 14 + 5] = Number.NaN;
    };
    const expected = forward('ref', c, poison);
    const rt = nativeRuntime();
    takeConvAlgorithmNote(rt);
    const actual = forward('native', c, poison);
    if (takeConvAlgorithmNote(rt)?.algorithm !== 'brgemm') return t.skip('oneDNN has no brgemm kernel here');
    const nans = expected.filter(Number.isNaN).length;
    assert.ok(nans > 0);
    assert.equal(actual.filter(Number.isNaN).length, nans);
    expected.forEach((e, i) => {
      if (Number.isNaN(e)) assert.ok(Number.isNaN(actual[i]), `element ${i}`);
    });
    const finite = (v: Float32Array): Float32Array => v.map((e, i) => (Number.isNaN(expected[i]) ? 0 : e));
    assertClose('finite outputs', finite(actual), finite(expected));
  });
});
