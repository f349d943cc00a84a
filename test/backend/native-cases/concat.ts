/**
 * Concatenation (concat.cc).
 * OP_CASES run on both backends (native-conformance.test.ts); PLAN_ERRORS are bad arguments the
 * plan functions must refuse with an error naming the argument or field.
 */
import type { Tensor } from '../../../src/core/tensor.js';
import * as ops from '../../../src/ops/index.js';
import { type OpCase, type PlanErrorCase, conv3 } from '../native-case.js';

/**
 * Each layer a 3x3 conv of the join of everything before it (DenseNet without its norms); the
 * weights scaled to keep values near 1, so the convs' float32 rounding stays within tolerance.
 */
function denseBlock(x: Tensor, weights: readonly Tensor[]): Tensor {
  const features = [x];
  for (const w of weights) features.push(conv3(ops.concat(features, 1), ops.mul(w, 0.15)));
  return ops.concat(features, 1);
}

export const OP_CASES: OpCase[] = [
  // Concatenation: along channels of blocked conv outputs (DenseNet, Inception), and plain along other axes.
  {
    name: 'concat along channels of blocked conv outputs (8, 16, 24 channels)',
    inputs: [
      [2, 3, 5, 5],
      [8, 3, 3, 3],
      [16, 3, 3, 3],
      [24, 3, 3, 3],
    ],
    f: (x, w1, w2, w3) => ops.concat([conv3(x, w1), conv3(x, w2), conv3(x, w3)], 1),
  },
  {
    name: 'concat along channels, counts not a multiple of 8 (12, 5, 8)',
    inputs: [
      [2, 3, 5, 5],
      [12, 3, 3, 3],
      [5, 3, 3, 3],
      [8, 3, 3, 3],
    ],
    f: (x, w1, w2, w3) => ops.concat([conv3(x, w1), conv3(x, w2), conv3(x, w3)], 1),
  },
  {
    name: 'concat along channels of a blocked conv output and a plain tensor',
    inputs: [
      [2, 3, 5, 5],
      [16, 3, 3, 3],
      [2, 4, 5, 5],
    ],
    f: (x, w, y) => ops.concat([conv3(x, w), y, x], 1),
  },
  // Backward: an input in several joins gathers its boxes of their gradients (sumSlices), as in a
  // dense block. Ending in a conv, every gradient is blocked (lane by lane, 12-channel features in
  // padded blocks); ending in the join, the last one is plain (the plain path).
  {
    name: 'a dense block of 12-channel features, ending in a conv (blocked boxes summed)',
    inputs: [
      [2, 24, 5, 5],
      [12, 24, 3, 3],
      [12, 36, 3, 3],
      [12, 48, 3, 3],
      [8, 60, 3, 3],
    ],
    f: (x, w1, w2, w3, w4) => conv3(denseBlock(x, [w1, w2, w3]), w4),
  },
  {
    name: 'a dense block of 12-channel features, ending in the join (blocked and plain boxes)',
    inputs: [
      [2, 24, 5, 5],
      [12, 24, 3, 3],
      [12, 36, 3, 3],
      [12, 48, 3, 3],
    ],
    f: (x, w1, w2, w3) => denseBlock(x, [w1, w2, w3]),
  },
  {
    name: 'plain boxes summed: inputs in two joins along the last axis',
    inputs: [
      [2, 3, 4],
      [2, 3, 5],
    ],
    f: (a, b) => ops.concat([ops.concat([a, b], 2), ops.mul(ops.concat([b, a], 2), 2), ops.concat([a, b], 2)], 1),
  },
  {
    name: 'concat plain along the last axis',
    inputs: [
      [2, 3, 4],
      [2, 3, 2],
    ],
    f: (a, b) => ops.concat([a, b], 2),
  },
  {
    name: 'concat plain along axis 0 of 2-D',
    inputs: [
      [2, 5],
      [3, 5],
      [1, 5],
    ],
    f: (a, b, c) => ops.concat([a, b, c], 0),
  },
];

export const PLAN_ERRORS: PlanErrorCase[] = [
  {
    name: 'a negative eps of the fused batch norm',
    call: (a) => a.concatBatchNormPlan([a.plainDesc([1, 8, 2, 2])], { affine: true, relu: false, eps: -1 }),
    error: /concatBatchNorm: option 'eps' must be non-negative/,
  },
  {
    name: 'positional options of the fused batch norm',
    call: (a) =>
      (a.concatBatchNormPlan as unknown as (...args: unknown[]) => unknown)(
        [a.plainDesc([1, 8, 2, 2])],
        true,
        false,
        1e-5,
      ),
    error: /concatBatchNorm: argument 'options' must be an object with named fields, got true/,
  },
  {
    name: 'sources that differ outside the axis',
    call: (a) => a.concatPlan(1, [a.plainDesc([2, 3]), a.plainDesc([3, 3])]),
    error: /concat: sources differ outside the concatenation axis/,
  },
  {
    name: 'an axis out of range',
    call: (a) => a.concatPlan(2, [a.plainDesc([2, 3])]),
    error: /concat: axis is out of range/,
  },
  { name: 'no sources', call: (a) => a.concatPlan(0, []), error: /concat: argument 'srcs' must be a non-empty array/ },
  {
    name: 'sumSlices: begins of the wrong length',
    call: (a) => a.sumSlicesPlan([a.plainDesc([2, 3])], [0], [2, 3]),
    error: /sumSlices: argument 'begins' must have 2 entries \(rank x sources\), got 1/,
  },
  {
    name: 'sumSlices: a box outside its source',
    call: (a) => a.sumSlicesPlan([a.plainDesc([2, 3]), a.plainDesc([2, 5])], [0, 0, 0, 3], [2, 3]),
    error: /sumSlices: source 1's box \[3, \+3\) on axis 1 is empty, or outside the source or its rank/,
  },
  {
    name: 'sumSlices: no sources',
    call: (a) => a.sumSlicesPlan([], [], [2, 3]),
    error: /sumSlices: argument 'srcs' must be a non-empty array/,
  },
];
