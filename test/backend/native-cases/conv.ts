/**
 * Convolutions, forward and backward, and the space-to-depth cut of strided stems (conv.cc, space_to_depth.cc).
 * OP_CASES run on both backends (native-conformance.test.ts); PLAN_ERRORS are bad arguments the
 * plan functions must refuse with an error naming the argument or field.
 */
import * as ops from '../../../src/ops/index.js';
import { conv2dGeometry } from '../../../src/ops/conv2d.js';
import type { OpCase, PlanErrorCase } from '../native-case.js';

// 1x1x4x4 input, one 3x3 filter, no padding: a 2x2 output.
const GEOMETRY = conv2dGeometry([1, 1, 4, 4], [1, 1, 3, 3]);
const OPTIONS = { bias: false, relu: false, sum: false, training: false };

export const OP_CASES: OpCase[] = [
  // Convolutions: conv2d.ts of the native backend takes every float32 case.
  {
    name: 'conv2d 3x3 pad 1 + bias',
    inputs: [[2, 3, 8, 8], [4, 3, 3, 3], [4]],
    f: (x, w, b) => ops.conv2d(x, w, b, { padding: 1 }),
  },
  {
    name: 'conv2d groups=2 stride 2 odd sizes',
    inputs: [
      [2, 4, 9, 7],
      [6, 2, 3, 3],
    ],
    f: (x, w) => ops.conv2d(x, w, null, { stride: 2, padding: 1, groups: 2 }),
  },
  {
    name: 'conv2d asymmetric padding + dilation',
    inputs: [[1, 3, 10, 9], [5, 3, 3, 2], [5]],
    f: (x, w, b) => ops.conv2d(x, w, b, { padding: [0, 2, 1, 0], dilation: [2, 1] }),
  },
  { name: 'conv2d 1x1 on 1x1 maps', inputs: [[4, 8, 1, 1], [16, 8, 1, 1], [16]], f: (x, w, b) => ops.conv2d(x, w, b) },
  {
    name: 'conv2d 1x1 stride 2 (downsample)',
    inputs: [
      [2, 4, 7, 7],
      [8, 4, 1, 1],
    ],
    f: (x, w) => ops.conv2d(x, w, null, { stride: 2 }),
  },
  {
    name: 'conv2d 7x7 stride 2 pad 3 (stem)',
    inputs: [
      [1, 3, 17, 15],
      [4, 3, 7, 7],
    ],
    f: (x, w) => ops.conv2d(x, w, null, { stride: 2, padding: 3 }),
  },
  // oneDNN's AVX2 build has only im2col + gemm for these, so convkit runs their space-to-depth cut
  // (stride 1) instead; the conformance test forces the cut on CPUs where oneDNN runs them directly.
  {
    name: 'conv2d 11x11 stride 4 pad 2 + bias (AlexNet stem, space-to-depth)',
    spaceToDepth: 'always',
    inputs: [[2, 3, 31, 29], [8, 3, 11, 11], [8]],
    f: (x, w, b) => ops.conv2d(x, w, b, { stride: 4, padding: 2 }),
  },
  {
    name: 'conv2d 5x4 stride 3x2, asymmetric padding (space-to-depth)',
    spaceToDepth: 'always',
    inputs: [
      [1, 2, 13, 12],
      [4, 2, 5, 4],
    ],
    f: (x, w) => ops.conv2d(x, w, null, { stride: [3, 2], padding: [1, 2, 0, 1] }),
  },
  {
    name: 'conv2d depthwise (groups = channels)',
    inputs: [[2, 4, 6, 6], [4, 1, 3, 3], [4]],
    f: (x, w, b) => ops.conv2d(x, w, b, { padding: 1, groups: 4 }),
  },
  {
    name: 'conv2d 2 groups of 24 channels (groups do not fill 16-channel blocks)',
    inputs: [
      [2, 48, 5, 5],
      [32, 24, 3, 3],
    ],
    f: (x, w) => ops.conv2d(x, w, null, { padding: 1, groups: 2 }),
  },
  {
    name: 'conv2d depthwise with channel multiplier 2',
    inputs: [[1, 16, 6, 6], [32, 1, 3, 3], [32]],
    f: (x, w, b) => ops.conv2d(x, w, b, { padding: 1, groups: 16 }),
  },
  {
    name: 'conv2d same padding even kernel',
    inputs: [
      [1, 2, 5, 6],
      [3, 2, 4, 2],
    ],
    f: (x, w) => ops.conv2d(x, w, null, { padding: 'same' }),
  },
];

export const PLAN_ERRORS: PlanErrorCase[] = [
  {
    name: 'an output size the geometry does not give',
    call: (a) => a.conv2dPlan({ ...GEOMETRY, outH: 3, outW: 3 }, OPTIONS), // 4x4 with 3x3 gives 2x2
    error: /conv2d: argument 'geometry': output size 3x3 does not match the geometry \(2x2\)/,
  },
  {
    name: 'channels not divisible by groups',
    call: (a) => a.conv2dBackwardDataPlan({ ...GEOMETRY, inChannels: 3, outChannels: 2, groups: 2 }),
    error:
      /conv2dBackwardData: argument 'geometry': inChannels \(3\) and outChannels \(2\) must be divisible by groups \(2\)/,
  },
  {
    name: 'a missing field',
    call: (a) => {
      const { padTop: _, ...missing } = GEOMETRY;
      return a.conv2dBackwardWeightsPlan(missing as typeof GEOMETRY, { bias: false });
    },
    error:
      /conv2dBackwardWeight: argument 'geometry' field 'padTop' must be an integer from 0 to \d+, got nothing \(the field is missing\)/,
  },
  {
    name: 'a fractional stride',
    call: (a) => a.conv2dPlan({ ...GEOMETRY, strideH: 1.5 }, OPTIONS),
    error: /conv2d: argument 'geometry' field 'strideH' must be an integer from 1 to \d+, got 1.5/,
  },
  {
    name: 'positional geometry',
    call: (a) => a.conv2dPlan([1, 2, 3] as unknown as typeof GEOMETRY, OPTIONS),
    error: /conv2d: argument 'geometry' must be an object with named fields/,
  },
  {
    name: 'a number for a flag',
    call: (a) => a.conv2dPlan(GEOMETRY, { ...OPTIONS, relu: 1 as unknown as boolean }),
    error: /conv2d: argument 'options' field 'relu' must be a boolean, got 1/,
  },
  {
    name: 'a zero stride of the space-to-depth input',
    call: (a) =>
      a.spaceToDepthInputPlan({
        batch: 1,
        channels: 3,
        inH: 8,
        inW: 8,
        strideH: 0,
        strideW: 2,
        padTop: 0,
        padLeft: 0,
        outH: 4,
        outW: 4,
      }),
    error: /spaceToDepth: argument 'sizes' field 'strideH' must be an integer from 1 to \d+, got 0/,
  },
  {
    name: 'a missing kernel width of the space-to-depth weights',
    call: (a) =>
      a.spaceToDepthWeightsPlan({ outChannels: 4, inChannels: 3, kernelH: 3 } as Parameters<
        typeof a.spaceToDepthWeightsPlan
      >[0]),
    error: /spaceToDepthWeights: argument 'sizes' field 'kernelW' must be an integer from 1 to \d+, got nothing/,
  },
];
