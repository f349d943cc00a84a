/**
 * The 'transposed' conv algorithm (conv-transposed.ts): a stride-1 training forward run as the
 * backward data of its transposed conv, with the weights turned. Forward and both gradients
 * against the reference backend on the shapes it takes (asymmetric padding, dilation, 1x1,
 * channels that fill no 16-channel block), NaN and infinities exactly where the direct kernel
 * has them, the shapes it must leave to the direct kernel, and the tuner measuring it.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { type ConvKernel, takeConvAlgorithmNote } from '../../src/backend/native/conv-algorithm.js';
import { transposedGeometry } from '../../src/backend/native/conv-transposed.js';
import { DIRECT_MARGIN, SAME_ROUNDING_MARGIN, sameRoundingKernel } from '../../src/backend/native/conv-tuning.js';
import { nativeRuntime } from '../../src/backend/native/index.js';
import { resetSettings } from '../../src/core/config.js';
import { noGrad } from '../../src/core/grad-mode.js';
import type { Tensor } from '../../src/core/tensor.js';
import { conv2dGeometry } from '../../src/ops/conv2d.js';
import * as ops from '../../src/ops/index.js';
import {
  assertClose,
  assertGradientsAgree,
  assertNonFiniteAsDirect,
  nativeSkipReason,
  restoreEnvAfter,
  scaledTolerance,
  seededValues,
  withGradients,
} from './native-helpers.js';

const skip = nativeSkipReason('native-transposed');
const dir = mkdtempSync(join(tmpdir(), 'convkit-transposed-'));
restoreEnvAfter(['CONVKIT_CONV_ALGORITHM', 'CONVKIT_TUNING_CACHE']);
after(() => rmSync(dir, { recursive: true, force: true }));
function useAlgorithm(algorithm: string): void {
  process.env.CONVKIT_CONV_ALGORITHM = algorithm;
  resetSettings();
}

interface Case {
  name: string;
  inputs: number[][];
  f: (...xs: Tensor[]) => Tensor;
  /** What the forward must run with CONVKIT_CONV_ALGORITHM=transposed. */
  runs: 'transposed' | 'direct';
}

const CASES: Case[] = [
  {
    name: '3x3 pad 1, 16 -> 16 channels (CIFAR ResNet first stage)',
    inputs: [
      [2, 16, 8, 8],
      [16, 16, 3, 3],
    ],
    f: (x, w) => ops.conv2d(x, w, null, { padding: 1 }),
    runs: 'transposed',
  },
  {
    name: '3x3 pad 1, 48 -> 12 channels (DenseNet-BC growth 12)',
    inputs: [
      [2, 48, 6, 6],
      [12, 48, 3, 3],
    ],
    f: (x, w) => ops.conv2d(x, w, null, { padding: 1 }),
    runs: 'transposed',
  },
  {
    name: 'odd map 7x9, 17 -> 19 channels, batch 3',
    inputs: [
      [3, 17, 7, 9],
      [19, 17, 3, 3],
    ],
    f: (x, w) => ops.conv2d(x, w, null, { padding: 1 }),
    runs: 'transposed',
  },
  {
    name: '3x2 kernel, asymmetric padding, dilation 2x1',
    inputs: [
      [1, 3, 10, 9],
      [5, 3, 3, 2],
    ],
    f: (x, w) => ops.conv2d(x, w, null, { padding: [0, 2, 1, 0], dilation: [2, 1] }),
    runs: 'transposed',
  },
  {
    name: '1x1, 8 -> 24 channels',
    inputs: [
      [2, 8, 5, 5],
      [24, 8, 1, 1],
    ],
    f: (x, w) => ops.conv2d(x, w),
    runs: 'transposed',
  },
  {
    name: '4x4 kernel, no padding',
    inputs: [
      [2, 6, 9, 8],
      [7, 6, 4, 4],
    ],
    f: (x, w) => ops.conv2d(x, w),
    runs: 'transposed',
  },
  {
    name: 'with a bias (the backward-data primitive adds none)',
    inputs: [[2, 16, 8, 8], [16, 16, 3, 3], [16]],
    f: (x, w, b) => ops.conv2d(x, w, b, { padding: 1 }),
    runs: 'direct',
  },
  {
    name: 'stride 2',
    inputs: [
      [2, 16, 9, 9],
      [16, 16, 3, 3],
    ],
    f: (x, w) => ops.conv2d(x, w, null, { stride: 2, padding: 1 }),
    runs: 'direct',
  },
  {
    name: '2 groups',
    inputs: [
      [2, 8, 6, 6],
      [8, 4, 3, 3],
    ],
    f: (x, w) => ops.conv2d(x, w, null, { padding: 1, groups: 2 }),
    runs: 'direct',
  },
  {
    name: 'padding past the kernel reach (3x3, pad 3)',
    inputs: [
      [1, 4, 5, 5],
      [4, 4, 3, 3],
    ],
    f: (x, w) => ops.conv2d(x, w, null, { padding: 3 }),
    runs: 'direct',
  },
];

const KERNELS: readonly ConvKernel[] = ['conv2d', 'conv2dBackwardData', 'conv2dBackwardWeight'];

describe("the 'transposed' conv algorithm against the reference backend", () => {
  for (const c of CASES) {
    it(`${c.name}: forward and both gradients agree, on the ${c.runs} kernel`, { skip }, () => {
      useAlgorithm('transposed');
      const rt = nativeRuntime();
      assertGradientsAgree(c.name, c.inputs, c.f, () => {
        for (const k of KERNELS) takeConvAlgorithmNote(rt, k);
      });
      assert.equal(takeConvAlgorithmNote(rt)?.algorithm ?? 'direct', c.runs, 'the forward ran');
      // The backward kernels have no 'transposed': they run direct.
      assert.equal(takeConvAlgorithmNote(rt, 'conv2dBackwardData')?.algorithm ?? 'direct', 'direct');
    });
  }

  it('the transposed geometry maps the output back to the input', () => {
    const g = conv2dGeometry([2, 3, 10, 9], [5, 3, 3, 2], { padding: [0, 2, 1, 0], dilation: [2, 1] });
    const t = transposedGeometry(g);
    assert.deepEqual([t.inChannels, t.outChannels, t.inH, t.inW, t.outH, t.outW], [5, 3, g.outH, g.outW, 10, 9]);
    // Pads become dilation * (kernel - 1) - pad: 4 - 0, 4 - 2 rows; 1 - 1, 1 - 0 columns.
    assert.deepEqual([t.padTop, t.padBottom, t.padLeft, t.padRight], [4, 2, 0, 1]);
    // The transposed conv's forward takes its input back to g's input size.
    assert.equal(t.inH + t.padTop + t.padBottom - t.dilationH * (t.kernelH - 1), g.inH);
    assert.equal(t.inW + t.padLeft + t.padRight - t.dilationW * (t.kernelW - 1), g.inW);
  });

  it('gives non-finite outputs and gradients exactly where the direct kernel does', { skip }, () => {
    assert.equal(assertNonFiniteAsDirect('transposed'), 'transposed');
  });
});

describe('fixed algorithms a call cannot run', () => {
  it("'transposed' runs an inference conv direct, 'brgemm' the backward kernels", { skip }, () => {
    const rt = nativeRuntime();
    const x = ops.fromArray(seededValues(2 * 16 * 36, 31), [2, 16, 6, 6], { backend: 'native', requiresGrad: true });
    const w = ops.fromArray(seededValues(16 * 16 * 9, 32), [16, 16, 3, 3], { backend: 'native', requiresGrad: true });
    useAlgorithm('transposed');
    takeConvAlgorithmNote(rt);
    noGrad(() => ops.conv2d(x, w, null, { padding: 1 }).dispose());
    assert.equal(takeConvAlgorithmNote(rt)?.algorithm, 'direct', 'inference');
    // brgemm is a forward algorithm: forced in training, it once threw a RangeError out of the
    // backward-data plan.
    useAlgorithm('brgemm');
    takeConvAlgorithmNote(rt, 'conv2dBackwardData');
    ops.sum(ops.conv2d(x, w, null, { padding: 1 })).backward();
    assert.equal(takeConvAlgorithmNote(rt, 'conv2dBackwardData')?.algorithm, 'direct', 'backward data');
    assert.deepEqual(x.grad?.shape, [2, 16, 6, 6]);
  });
});

describe("'tune' measures 'transposed' for training convs", () => {
  it('times it beside direct (and Winograd where oneDNN has it) and runs the fastest', { skip }, () => {
    // This file's first tuned conv makes the runtime's tuning cache, so it reads this path.
    process.env.CONVKIT_TUNING_CACHE = join(dir, 'tuning.json');
    useAlgorithm('tune');
    const shapes = [
      [4, 16, 12, 12],
      [16, 16, 3, 3],
    ];
    const inputs = shapes.map((s, i) =>
      seededValues(
        s.reduce((a, b) => a * b, 1),
        41 + i,
      ),
    );
    const f = (a: Tensor, b: Tensor): Tensor => ops.conv2d(a, b, null, { padding: 1 });
    const expected = withGradients('ref', inputs, shapes, f, 43);
    const rt = nativeRuntime();
    const [x, w] = shapes.map((s, i) => ops.fromArray(inputs[i], s, { backend: 'native', requiresGrad: true }));
    takeConvAlgorithmNote(rt);
    f(x, w).dispose(); // a weight's first use runs direct, untimed
    assert.equal(takeConvAlgorithmNote(rt)?.tuned, false);
    const y = f(x, w);
    const note = takeConvAlgorithmNote(rt);
    assert.ok(note?.tuned && note.measured !== undefined, 'the second use measured');
    const { direct, transposed } = note.measured;
    assert.ok(direct !== undefined && transposed !== undefined && transposed > 0, JSON.stringify(note.measured));
    // The fastest of those that beat direct by their margins runs: a kernel that rounds as direct
    // does (convkit's 3x3 on AVX-512 builds) needs SAME_ROUNDING_MARGIN, the others DIRECT_MARGIN,
    // told by the kernel each runs here when forced.
    const margin = (algorithm: string): number => {
      useAlgorithm(algorithm);
      noGrad(() => f(x, w).dispose());
      const impl = takeConvAlgorithmNote(rt)?.impl ?? '';
      useAlgorithm('tune');
      return sameRoundingKernel(impl) ? SAME_ROUNDING_MARGIN : DIRECT_MARGIN;
    };
    const eligible = Object.entries(note.measured).filter(([a, ms]) => a === 'direct' || ms < direct * margin(a));
    const [best] = eligible.sort((a, b) => a[1] - b[1])[0];
    assert.equal(note.algorithm, best, JSON.stringify(note.measured));
    assertClose('tuned forward', Float32Array.from(y.toArray()), expected[0], scaledTolerance(expected[0]));
  });
});
