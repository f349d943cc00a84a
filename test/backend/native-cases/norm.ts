/**
 * Batch norm and local response norm (batch_norm.cc, lrn.cc).
 * OP_CASES run on both backends (native-conformance.test.ts); PLAN_ERRORS are bad arguments the
 * plan functions must refuse with an error naming the argument or field.
 */
import { noGrad } from '../../../src/core/grad-mode.js';
import type { NativeAddon } from '../../../src/backend/native/addon.js';
import * as ops from '../../../src/ops/index.js';
import { type OpCase, type PlanErrorCase, constant, conv3, ramp } from '../native-case.js';

export const OP_CASES: OpCase[] = [
  // Normalisation.
  {
    name: 'batchNorm train, affine',
    inputs: [[4, 3, 5, 5], [3], [3]],
    f: (x, w, b) => ops.batchNorm(x, { weight: w, bias: b, training: true }),
  },
  {
    name: 'batchNorm train with running stats, no affine, [N, C]',
    inputs: [[6, 4]],
    f: (x) =>
      ops.batchNorm(x, {
        runningMean: constant(x, [0, 0.1, 0.2, 0.3]),
        runningVar: constant(x, [1, 2, 0.5, 1]),
        training: true,
      }),
  },
  {
    name: 'batchNorm eval, affine',
    inputs: [[2, 3, 4, 4], [3], [3]],
    f: (x, w, b) =>
      ops.batchNorm(x, {
        weight: w,
        bias: b,
        runningMean: constant(x, [0.1, -0.2, 0.3]),
        runningVar: constant(x, [0.5, 1.5, 2]),
        training: false,
        eps: 1e-3,
      }),
  },
  {
    name: 'batchNorm train of a blocked conv output (12 channels)',
    inputs: [[2, 3, 5, 5], [12, 3, 3, 3], [12], [12]],
    f: (x, w, g, b) => ops.batchNorm(conv3(x, w), { weight: g, bias: b, training: true }),
  },
  {
    name: 'batchNorm eval of a blocked conv output, weight only',
    inputs: [[2, 3, 5, 5], [12, 3, 3, 3], [12]],
    f: (x, w, g) =>
      ops.batchNorm(conv3(x, w), {
        weight: g,
        runningMean: ramp(x, 12, -0.3, 0.05),
        runningVar: ramp(x, 12, 0.5, 0.1),
        training: false,
      }),
  },
  {
    // The fused ReLU is inference only: the forward is compared, the gradient path is a zero product.
    name: 'batchNorm eval + fused relu (inference) of a blocked conv output',
    inputs: [
      [2, 3, 5, 5],
      [8, 3, 3, 3],
    ],
    f: (x, w) => {
      const c = 8;
      const y = noGrad(() =>
        ops.batchNorm(conv3(x, w), {
          weight: ramp(x, c, 0.5, 0.2),
          bias: ramp(x, c, -0.2, 0.05),
          runningMean: ramp(x, c, 0.1, -0.05),
          runningVar: ramp(x, c, 0.4, 0.3),
          training: false,
          relu: true,
        }),
      );
      return ops.add(y, ops.mul(conv3(x, w), 0));
    },
  },
  {
    name: 'batchNorm train + fused relu of a blocked conv output (12 channels)',
    inputs: [[2, 3, 5, 5], [12, 3, 3, 3], [12], [12]],
    f: (x, w, g, b) => ops.batchNorm(conv3(x, w), { weight: g, bias: b, training: true, relu: true }),
  },
  {
    name: 'batchNorm train + fused relu, plain [N, C, L], no affine',
    inputs: [[4, 3, 5]],
    f: (x) => ops.batchNorm(x, { training: true, relu: true }),
  },
  {
    name: 'batchNorm eval + relu with gradients (two ops)',
    inputs: [[2, 3, 4, 4], [3], [3]],
    f: (x, w, b) =>
      ops.batchNorm(x, {
        weight: w,
        bias: b,
        runningMean: constant(x, [0.1, -0.2, 0.3]),
        runningVar: constant(x, [0.5, 1.5, 2]),
        training: false,
        relu: true,
      }),
  },
  {
    name: 'batchNorm eval + fused relu, plain [N, C, L]',
    inputs: [[3, 4, 5]],
    f: (x) =>
      ops.add(
        noGrad(() =>
          ops.batchNorm(x, {
            runningMean: ramp(x, 4, 0, 0.1),
            runningVar: ramp(x, 4, 1, 0.5),
            training: false,
            relu: true,
          }),
        ),
        ops.mul(x, 0),
      ),
  },
  // Large alpha so the normaliser differs from k by a visible amount (the paper's 1e-4 barely does).
  {
    name: 'localResponseNorm size 5 (AlexNet paper form)',
    inputs: [[2, 7, 3, 3]],
    f: (x) => ops.localResponseNorm(x, { size: 5, alpha: 0.5, beta: 0.75, k: 2 }),
  },
  {
    name: 'localResponseNorm size 3 more channels than window, k 1',
    inputs: [[1, 6, 2, 4]],
    f: (x) => ops.localResponseNorm(ops.mul(x, 3), { size: 3, alpha: 1, beta: 0.5, k: 1 }),
  },
  {
    name: 'localResponseNorm size 5 of a blocked conv output',
    inputs: [
      [1, 3, 4, 4],
      [16, 3, 3, 3],
    ],
    f: (x, w) => ops.localResponseNorm(conv3(x, w), { size: 5, alpha: 0.5, beta: 0.75, k: 2 }),
  },
  {
    name: 'localResponseNorm size 4 (ref fallback)',
    refFallback: true,
    inputs: [[2, 7, 3, 3]],
    f: (x) => ops.localResponseNorm(x, { size: 4, alpha: 0.5, beta: 0.75, k: 2 }),
  },
];

export const LRN = { size: 3, alpha: 1e-4, beta: 0.75, k: 1, training: true };
const image = (a: NativeAddon): number => a.plainDesc([1, 4, 4, 4]);

export const PLAN_ERRORS: PlanErrorCase[] = [
  {
    name: 'no channels for the statistics',
    call: (a) => a.batchNormStatsPlan({ channels: 0, eps: 1e-5, toInvStd: true }),
    error: /batchNormStats: argument 'stats' field 'channels' must be an integer from 1 to \d+, got 0/,
  },
  {
    name: 'a statistics conversion without its direction',
    call: (a) =>
      a.batchNormStatsPlan({ channels: 4, eps: 1e-5 } as { channels: number; eps: number; toInvStd: boolean }),
    error: /batchNormStats: argument 'stats' field 'toInvStd' must be a boolean, got nothing/,
  },
  {
    name: 'an even LRN window',
    call: (a) => a.lrnPlan(image(a), { ...LRN, size: 4 }),
    error: /localResponseNorm: argument 'options' field 'size' must be odd, got 4/,
  },
  {
    name: 'a NaN alpha',
    call: (a) => a.lrnPlan(image(a), { ...LRN, alpha: Number.NaN }),
    error: /localResponseNorm: argument 'options' field 'alpha' must be a finite number, got NaN/,
  },
  {
    name: 'an LRN source of 2 dims',
    call: (a) => a.lrnBackwardPlan(a.plainDesc([4, 4]), LRN),
    error: /localResponseNormBackward: src must have 3 to 5 dims/,
  },
  {
    name: 'a fused ReLU without the training workspace',
    call: (a) => a.batchNormBackwardPlan(image(a), { affine: true, eps: 1e-5, globalStats: true, relu: true }),
    error: /batchNormBackward: a fused relu needs the training forward's workspace/,
  },
  {
    name: 'a negative eps',
    call: (a) => a.batchNormPlan(image(a), { training: true, affine: true, relu: false, eps: -1 }),
    error: /batchNorm: option 'eps' must be a finite number >= 0/,
  },
  {
    name: 'a string for a flag',
    call: (a) =>
      a.batchNormBackwardPlan(image(a), { affine: true, eps: 0, globalStats: 'no' as unknown as boolean, relu: false }),
    error: /batchNormBackward: option 'globalStats' must be a boolean/,
  },
];
