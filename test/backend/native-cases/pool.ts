/**
 * Max, average and adaptive average pooling (pool.cc).
 * OP_CASES run on both backends (native-conformance.test.ts); PLAN_ERRORS are bad arguments the
 * plan functions must refuse with an error naming the argument or field.
 */
import type { NativeAddon } from '../../../src/backend/native/addon.js';
import type { NativePoolGeometry } from '../../../src/backend/native/pool.js';
import * as ops from '../../../src/ops/index.js';
import { type OpCase, type PlanErrorCase, conv3 } from '../native-case.js';

export const OP_CASES: OpCase[] = [
  // Max pooling (random values: no ties).
  {
    name: 'maxPool2d 3x3/2 ceil mode, odd sizes',
    inputs: [[2, 3, 9, 8]],
    f: (x) => ops.maxPool2d(x, { kernelSize: 3, stride: 2, ceilMode: true }),
  },
  {
    name: 'maxPool2d 3x3/2 pad 1 (ResNet stem)',
    inputs: [[2, 2, 11, 11]],
    f: (x) => ops.maxPool2d(x, { kernelSize: 3, stride: 2, padding: 1 }),
  },
  {
    name: 'maxPool2d 2x2/2 floor drops the last row',
    inputs: [[1, 3, 7, 6]],
    f: (x) => ops.maxPool2d(x, { kernelSize: 2 }),
  },
  {
    name: 'maxPool2d 3x3/1 pad 1 ceil (GoogLeNet branch)',
    inputs: [[1, 4, 5, 5]],
    f: (x) => ops.maxPool2d(x, { kernelSize: 3, stride: 1, padding: 1, ceilMode: true }),
  },
  {
    name: 'maxPool2d dilation 2 (ref fallback)',
    refFallback: true,
    inputs: [[1, 2, 9, 9]],
    f: (x) => ops.maxPool2d(x, { kernelSize: 2, dilation: 2 }),
  },
  {
    name: 'maxPool2d 3x3/2 pad 1 of a blocked conv output (12 channels)',
    inputs: [
      [2, 3, 9, 9],
      [12, 3, 3, 3],
    ],
    f: (x, w) => ops.maxPool2d(conv3(x, w), { kernelSize: 3, stride: 2, padding: 1 }),
  },
  // Average pooling.
  {
    name: 'avgPool2d pad 1 stride 2 count_include_pad',
    inputs: [[2, 3, 7, 8]],
    f: (x) => ops.avgPool2d(x, { kernelSize: 3, stride: 2, padding: 1, countIncludePad: true }),
  },
  {
    name: 'avgPool2d pad 1 stride 2 exclude pad',
    inputs: [[2, 3, 7, 8]],
    f: (x) => ops.avgPool2d(x, { kernelSize: 3, stride: 2, padding: 1, countIncludePad: false }),
  },
  {
    name: 'avgPool2d ceil mode exclude pad',
    inputs: [[1, 2, 8, 7]],
    f: (x) => ops.avgPool2d(x, { kernelSize: 3, stride: 2, padding: 1, ceilMode: true, countIncludePad: false }),
  },
  {
    name: 'avgPool2d ceil mode include pad (ref fallback)',
    refFallback: true,
    inputs: [[1, 2, 8, 7]],
    f: (x) => ops.avgPool2d(x, { kernelSize: 3, stride: 2, padding: 1, ceilMode: true }),
  },
  {
    name: 'avgPool2d 2x2/2 (DenseNet transition)',
    inputs: [[2, 4, 6, 6]],
    f: (x) => ops.avgPool2d(x, { kernelSize: 2, stride: 2 }),
  },
  {
    name: 'avgPool2d 2x2/2 of a blocked conv output',
    inputs: [
      [2, 3, 6, 6],
      [16, 3, 3, 3],
    ],
    f: (x, w) => ops.avgPool2d(conv3(x, w), { kernelSize: 2, stride: 2 }),
  },
  {
    name: 'avgPool2d divisorOverride (ref fallback)',
    refFallback: true,
    inputs: [[1, 2, 6, 6]],
    f: (x) => ops.avgPool2d(x, { kernelSize: 2, divisorOverride: 3 }),
  },
  {
    name: 'adaptiveAvgPool2d (ref fallback)',
    refFallback: true,
    inputs: [[2, 3, 7, 5]],
    f: (x) => ops.adaptiveAvgPool2d(x, [3, 2]),
  },
  {
    name: 'adaptiveAvgPool2d to 1x1 of a blocked conv output',
    inputs: [
      [2, 3, 7, 7],
      [16, 3, 3, 3],
    ],
    f: (x, w) => ops.adaptiveAvgPool2d(conv3(x, w), 1),
  },
  {
    name: 'adaptiveAvgPool2d evenly dividing (8x6 to 4x3)',
    inputs: [[2, 3, 8, 6]],
    f: (x) => ops.adaptiveAvgPool2d(x, [4, 3]),
  },
];

/** A 2x2 stride-2 max pool of a 1x4x4x4 input. */
export const POOL: NativePoolGeometry = {
  batch: 1,
  channels: 4,
  inH: 4,
  inW: 4,
  kernelH: 2,
  kernelW: 2,
  strideH: 2,
  strideW: 2,
  padTop: 0,
  padLeft: 0,
  padBottom: 0,
  padRight: 0,
  outH: 2,
  outW: 2,
};
const image = (a: NativeAddon): number => a.plainDesc([1, 4, 4, 4]);

export const PLAN_ERRORS: PlanErrorCase[] = [
  {
    name: 'an output size the geometry does not give',
    call: (a) => a.poolPlan('max', { ...POOL, outH: 3, outW: 3 }, image(a), { training: true }),
    error: /pool2d: argument 'geometry': output size 3x3 does not match the geometry \(2x2\)/,
  },
  {
    name: 'a string for a flag',
    call: (a) => a.poolPlan('max', POOL, image(a), { training: 'yes' as unknown as boolean }),
    error: /pool2d: argument 'options' field 'training' must be a boolean, got 'yes'/,
  },
  {
    name: 'a source of other dims',
    call: (a) => a.poolPlan('max', POOL, a.plainDesc([1, 4, 5, 5]), { training: true }),
    error: /pool2d: src desc dims do not match the geometry/,
  },
  {
    name: 'an unknown pooling',
    call: (a) => a.poolBackwardPlan('median' as 'max', POOL, image(a)),
    error: /pool2dBackward: unknown pooling 'median'/,
  },
];
