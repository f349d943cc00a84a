/**
 * Matrix products and linear (matmul.cc).
 * OP_CASES run on both backends (native-conformance.test.ts); PLAN_ERRORS are bad arguments the
 * plan functions must refuse with an error naming the argument or field.
 */
import * as ops from '../../../src/ops/index.js';
import type { OpCase, PlanErrorCase } from '../native-case.js';

export const OP_CASES: OpCase[] = [
  // Matrix products (transposes appear in the backward passes and in linear).
  {
    name: 'matmul 2-D',
    inputs: [
      [5, 7],
      [7, 3],
    ],
    f: (a, b) => ops.matmul(a, b),
  },
  {
    name: 'matmul batched',
    inputs: [
      [3, 4, 5],
      [3, 5, 2],
    ],
    f: (a, b) => ops.matmul(a, b),
  },
  {
    name: 'matmul broadcast right',
    inputs: [
      [3, 4, 5],
      [5, 6],
    ],
    f: (a, b) => ops.matmul(a, b),
  },
  { name: 'linear + bias', inputs: [[6, 10], [4, 10], [4]], f: (x, w, b) => ops.linear(x, w, b) },
  {
    name: 'linear without bias, leading axes',
    inputs: [
      [2, 3, 17],
      [33, 17],
    ],
    f: (x, w) => ops.linear(x, w),
  },
];

const SIZES = { batch: 1, m: 2, k: 2, n: 2, transA: false, transB: false, aBatched: false, bBatched: false };

export const PLAN_ERRORS: PlanErrorCase[] = [
  {
    name: 'a number for a flag',
    call: (a) => a.matmulPlan({ ...SIZES, transB: 0 as unknown as boolean }),
    error: /matmul: argument 'sizes' field 'transB' must be a boolean, got 0/,
  },
  {
    name: 'an empty matrix',
    call: (a) => a.matmulPlan({ ...SIZES, m: 0 }),
    error: /matmul: argument 'sizes' field 'm' must be an integer from 1 to \d+, got 0/,
  },
  {
    name: 'a negative size',
    call: (a) =>
      a.linearPlan({ rows: 2, inFeatures: 3, outFeatures: -1, bias: false, relu: false, plainWeights: false }),
    error: /linear: argument 'sizes' field 'outFeatures' must be an integer from 1 to \d+, got -1/,
  },
];
