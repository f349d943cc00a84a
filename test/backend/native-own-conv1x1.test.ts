/**
 * convkit's own 1x1 conv (native/src/own_conv1x1.cc; 16-channel blocks on AVX-512 builds, 8 on
 * AVX2 ones, which `npm run check:avx2` runs): forward with a bias, an
 * addend and a fused ReLU against the reference backend, on channels that fill no 16-channel
 * block, maps whose pixels end in a partial block of 16, one pixel, several images, stride 2 on
 * odd and even sides; non-finite
 * values where the reference has them; the first inference use of a 1x1 conv runs it under 'tune'
 * (no oneDNN kernel compiled), a second use measures it against oneDNN's, and CONVKIT_CONV_ALGORITHM=
 * direct and training forwards leave it. A build without AVX2 has no such kernel: the cases check that 1x1 convs run
 * oneDNN's direct kernel there and say so.
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
import { conv2dGeometry } from '../../src/ops/conv2d.js';
import { assertClose, nativeSkipReason, restoreEnvAfter, scaledTolerance, seededValues } from './native-helpers.js';

const skip = nativeSkipReason('native-own-conv1x1');
restoreEnvAfter(['CONVKIT_CONV_ALGORITHM', 'CONVKIT_TUNING_CACHE']);
function useAlgorithm(algorithm: string): void {
  process.env.CONVKIT_CONV_ALGORITHM = algorithm;
  process.env.CONVKIT_TUNING_CACHE = 'off'; // each process measures: no choice from another run
  resetSettings();
}

/** This build's own 1x1 kernel (AVX-512 builds: 16-channel blocks, AVX2 ones: 8), or null. */
function ownImpl(): string | null {
  const g = conv2dGeometry([1, 16, 4, 4], [16, 16, 1, 1]);
  const { addon } = nativeRuntime();
  try {
    const p = addon.ownConvPlan(g, { bias: true, relu: true, sum: false });
    addon.releasePlan(p.plan);
    return ['convkit:avx512_1x1', 'convkit:avx2_1x1'].includes(p.impl) ? p.impl : null;
  } catch {
    return null;
  }
}
const ownBuild = (): boolean => ownImpl() !== null;

/** [name, input shape, output channels, stride]. */
const SHAPES: [string, number[], number, number][] = [
  ['17 -> 19 channels, 7x9 (blocks not filled, 63 pixels: a partial pixel block)', [3, 17, 7, 9], 19, 1],
  ['64 -> 128 channels, 7x7 (DenseNet-121 block 4)', [1, 64, 7, 7], 128, 1],
  ['48 -> 12 channels, 1x1 map (one pixel)', [2, 48, 1, 1], 12, 1],
  ['32 -> 40 channels, 4x8 (two full pixel blocks, three output blocks)', [2, 32, 4, 8], 40, 1],
  ['stride 2, 20 -> 36 channels, 13x11 (odd sides: 7x6 out)', [2, 20, 13, 11], 36, 2],
  ['stride 2, 32 -> 48 channels, 30x30 (rows of 15 out, in two or three chunks)', [1, 32, 30, 30], 48, 2],
];

interface Inputs {
  x: Tensor;
  w: Tensor;
  b: Tensor;
  addend: Tensor;
}
function inputs(xShape: number[], out: number, seed: number, backend: 'native' | 'ref', stride = 1): Inputs {
  const side = (n: number): number => Math.floor((n - 1) / stride) + 1;
  const shapes = [xShape, [out, xShape[1], 1, 1], [out], [xShape[0], out, side(xShape[2]), side(xShape[3])]];
  const [x, w, b, addend] = shapes.map((s, i) => ops.fromArray(seededValues(sizeOf(s), seed + i), s, { backend }));
  return { x, w, b, addend };
}
/** The fused forward: relu(conv(x, w) + b + addend). */
const fused = (t: Inputs, options: { bias: boolean; addend: boolean; relu: boolean }, stride = 1): Tensor =>
  ops.conv2d(
    t.x,
    t.w,
    options.bias ? t.b : null,
    { stride },
    { addend: options.addend ? t.addend : undefined, relu: options.relu },
  );

describe("convkit's own 1x1 conv against the reference backend", () => {
  for (const [name, xShape, out, stride] of SHAPES)
    it(`${name}: plain, with a bias, and with a bias, an addend and a ReLU`, { skip }, (t) => {
      useAlgorithm('own');
      const rt = nativeRuntime();
      for (const options of [
        { bias: false, addend: false, relu: false },
        { bias: true, addend: false, relu: true },
        { bias: true, addend: true, relu: true },
      ]) {
        const want = Float32Array.from(fused(inputs(xShape, out, 80, 'ref', stride), options, stride).toArray());
        takeConvAlgorithmNote(rt);
        const got = noGrad(() => fused(inputs(xShape, out, 80, 'native', stride), options, stride));
        const note = takeConvAlgorithmNote(rt);
        if (!ownBuild()) {
          assert.equal(note?.algorithm, 'direct');
          return t.skip(`no own 1x1 kernel in this build (ran ${note?.impl})`);
        }
        assert.deepEqual([note?.algorithm, note?.impl], ['own', ownImpl()], JSON.stringify(options));
        assert.ok(sameRoundingKernel(note?.impl ?? ''), 'a direct kernel: the tuner keeps it at SAME_ROUNDING_MARGIN');
        if (options.relu) assert.ok(want.some((v) => v === 0) && want.some((v) => v > 0), 'the ReLU clips some');
        assertClose(`${name} ${JSON.stringify(options)}`, got.toArray(), want, scaledTolerance(want));
      }
    });

  it('gives NaN and infinities where the reference does (an infinite weight times zero, a NaN input, an infinite bias; stride 1 and 2)', {
    skip,
  }, (t) => {
    if (!ownBuild()) return t.skip('no own 1x1 kernel in this build');
    useAlgorithm('own');
    const make = (backend: 'native' | 'ref', stride: number): Inputs => {
      const t = inputs([2, 20, 3, 6], 18, 90, backend, stride);
      const x = Float32Array.from(t.x.toArray());
      // Image 0, channel 3: a NaN at pixel (0, 5), which stride 2 skips, and one at (0, 4), which it reads.
      x[3 * 18 + 5] = Number.NaN;
      x[3 * 18 + 4] = Number.NaN;
      // Image 1, channel 0: zeros at (1, 1), which stride 2 skips, and (2, 2): times an infinite weight below.
      x[20 * 18 + 7] = 0;
      x[20 * 18 + 14] = 0;
      const w = Float32Array.from(t.w.toArray());
      w[2 * 20 + 0] = Number.POSITIVE_INFINITY; // output 2, input 0
      const b = Float32Array.from(t.b.toArray());
      b[17] = Number.NEGATIVE_INFINITY;
      return {
        ...t,
        x: ops.fromArray(x, t.x.shape, { backend }),
        w: ops.fromArray(w, t.w.shape, { backend }),
        b: ops.fromArray(b, t.b.shape, { backend }),
      };
    };
    for (const [relu, stride] of [
      [false, 1],
      [true, 1],
      [true, 2],
    ] as const) {
      const options = { bias: true, addend: false, relu };
      const want = Float32Array.from(fused(make('ref', stride), options, stride).toArray());
      const got = noGrad(() => fused(make('native', stride), options, stride)).toArray();
      assert.ok(want.some(Number.isNaN) && want.some((v) => v === Number.POSITIVE_INFINITY), 'the case has both');
      for (let i = 0; i < want.length; i++)
        if (!Number.isFinite(want[i]) || !Number.isFinite(got[i]))
          assert.ok(Object.is(got[i], want[i]), `at ${i}: ${got[i]} vs ${want[i]}`);
      assertClose(
        `non-finite, relu ${relu}, stride ${stride}`,
        got.map((v, i) => (Number.isFinite(want[i]) ? v : 0)),
        want.map((v) => (Number.isFinite(v) ? v : 0)),
      );
    }
  });

  it("runs a weight's first inference use under 'tune', measures it against oneDNN's at the second, and stays off under direct and in training", {
    skip,
  }, (t) => {
    const rt = nativeRuntime();
    const run = (x: Tensor, w: Tensor): ReturnType<typeof takeConvAlgorithmNote> => {
      takeConvAlgorithmNote(rt);
      noGrad(() => ops.conv2d(x, w, null).dispose());
      return takeConvAlgorithmNote(rt);
    };
    const x = ops.fromArray(seededValues(2 * 24 * 36, 100), [2, 24, 6, 6], { backend: 'native' });
    useAlgorithm('tune');
    const w = ops.fromArray(seededValues(40 * 24, 101), [40, 24, 1, 1], { backend: 'native' });
    const [first, second] = [run(x, w), run(x, w)];
    // A forward that a backward pass follows keeps oneDNN's kernels (docs/native-backend.md#algorithm-choice).
    takeConvAlgorithmNote(rt);
    const trained = ops.fromArray(seededValues(40 * 24, 103), [40, 24, 1, 1], {
      backend: 'native',
      requiresGrad: true,
    });
    ops.sum(ops.conv2d(x, trained, null)).backward();
    assert.equal(takeConvAlgorithmNote(rt)?.algorithm, 'direct', 'a training forward');
    useAlgorithm('direct');
    const forced = run(x, ops.fromArray(seededValues(40 * 24, 102), [40, 24, 1, 1], { backend: 'native' }));
    assert.equal(forced?.algorithm, 'direct');
    assert.equal(second?.tuned, true);
    assert.ok(second?.measured?.direct !== undefined, 'the second use measures direct');
    if (!ownBuild()) {
      assert.equal(first?.algorithm, 'direct');
      return t.skip('no own 1x1 kernel in this build: first uses run direct');
    }
    assert.deepEqual([first?.algorithm, first?.impl, first?.tuned], ['own', ownImpl(), false]);
    assert.ok(second?.measured?.own !== undefined, 'and the own kernel');
  });
});
