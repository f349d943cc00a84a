/**
 * Reductions, the loss and softmax (reduce.cc, softmax.cc).
 * OP_CASES run on both backends (native-conformance.test.ts); PLAN_ERRORS are bad arguments the
 * plan functions must refuse with an error naming the argument or field.
 */
import * as ops from '../../../src/ops/index.js';
import { type OpCase, type PlanErrorCase, conv3 } from '../native-case.js';

export const OP_CASES: OpCase[] = [
  // Reductions and the loss: queued loops on plain data.
  { name: 'sum over axes 0 and 2 of a 3-D tensor', inputs: [[3, 4, 5]], f: (x) => ops.sum(x, [0, 2]) },
  { name: 'mean over the last axis, kept', inputs: [[2, 3, 7]], f: (x) => ops.mean(x, -1, { keepDims: true }) },
  {
    name: 'sum over batch and space of a blocked conv output',
    inputs: [
      [2, 3, 5, 5],
      [12, 3, 3, 3],
    ],
    f: (x, w) => ops.sum(conv3(x, w), [0, 2, 3]),
  },
  { name: 'max over axis 1', inputs: [[4, 6, 3]], f: (x) => ops.max(x, 1) },
  { name: 'min over everything', inputs: [[3, 5]], f: (x) => ops.min(x) },
  {
    name: 'crossEntropy mean',
    inputs: [[5, 7]],
    f: (x) => ops.crossEntropy(ops.mul(x, 3), Int32Array.of(0, 6, 3, 3, 1)),
  },
  {
    name: 'crossEntropy sum with label smoothing 0.1',
    inputs: [[4, 3]],
    f: (x) => ops.crossEntropy(x, Int32Array.of(2, 0, 1, 2), { reduction: 'sum', labelSmoothing: 0.1 }),
  },
  {
    name: 'nllLoss none',
    inputs: [[3, 4]],
    f: (x) => ops.nllLoss(ops.logSoftmax(x), Int32Array.of(3, 0, 1), { reduction: 'none' }),
  },
  // Softmax.
  { name: 'softmax over axis 1 of a 3-D tensor', inputs: [[3, 5, 4]], f: (x) => ops.softmax(ops.mul(x, 4), 1) },
  { name: 'logSoftmax over the last axis', inputs: [[4, 10]], f: (x) => ops.logSoftmax(ops.mul(x, 4)) },
  {
    name: 'softmax over the channels of a blocked conv output',
    inputs: [
      [2, 3, 4, 4],
      [16, 3, 3, 3],
    ],
    f: (x, w) => ops.softmax(conv3(x, w), 1),
  },
];

const LOSS = { n: 2, c: 3, reduction: 'sum', labelSmoothing: 0 } as const;

export const PLAN_ERRORS: PlanErrorCase[] = [
  {
    name: 'positional arguments',
    call: (a) => (a.nllLossPlan as unknown as (...args: unknown[]) => unknown)(2, 3, 'mean', 0),
    error: /nllLoss: argument 'loss' must be an object with named fields, got 2/,
  },
  {
    name: 'a number for the reduction',
    call: (a) => a.nllLossPlan({ ...LOSS, reduction: 1 as unknown as 'sum' }),
    error: /nllLoss: argument 'loss' field 'reduction' must be a string, got 1/,
  },
  {
    name: 'an unknown reduction',
    call: (a) => a.reducePlan('prod' as 'sum', [2, 3], [0]),
    error: /reduce: unknown op 'prod'/,
  },
  {
    name: 'an axis out of range',
    call: (a) => a.reducePlan('sum', [2, 3], [2]),
    error: /reduce: axis 2 is out of range/,
  },
  {
    name: 'no rows',
    call: (a) => a.nllLossPlan({ ...LOSS, n: 0 }),
    error: /nllLoss: argument 'loss' field 'n' must be an integer from 1 to \d+, got 0/,
  },
  {
    name: 'an unknown loss reduction',
    call: (a) => a.nllLossBackwardPlan({ ...LOSS, reduction: 'avg' as 'mean' }),
    error: /nllLossBackward: unknown reduction 'avg'/,
  },
  {
    name: 'label smoothing above 1',
    call: (a) => a.nllLossPlan({ ...LOSS, labelSmoothing: 1.5 }),
    error: /nllLoss: labelSmoothing must be in \[0, 1\]/,
  },
];
