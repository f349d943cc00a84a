/**
 * Slice and pad (window.cc).
 * OP_CASES run on both backends (native-conformance.test.ts); PLAN_ERRORS are bad arguments the
 * plan functions must refuse with an error naming the argument or field.
 */
import * as ops from '../../../src/ops/index.js';
import { type OpCase, type PlanErrorCase, conv3 } from '../native-case.js';

export const OP_CASES: OpCase[] = [
  // Slice and pad: channel windows of blocked maps stay blocked (by whole blocks, or lane by lane).
  {
    name: 'pad channels of a blocked conv output 16 -> 32 (ResNet option A)',
    inputs: [
      [2, 3, 6, 6],
      [16, 3, 3, 3],
    ],
    f: (x, w) => ops.pad(ops.avgPool2d(conv3(x, w), { kernelSize: 1, stride: 2 }), [0, 0, 0, 0, 0, 16]),
  },
  {
    name: 'pad channels of a blocked conv output by 3 on both sides (channels change lanes)',
    inputs: [
      [1, 3, 4, 5],
      [16, 3, 3, 3],
    ],
    f: (x, w) => ops.pad(conv3(x, w), [0, 0, 0, 0, 3, 3]),
  },
  {
    name: 'pad the last two axes of a plain tensor with 1.5',
    inputs: [[2, 3, 4, 5]],
    f: (x) => ops.pad(x, [1, 2, 0, 3], 1.5),
  },
  { name: 'pad all axes of a 3-D tensor', inputs: [[2, 3, 4]], f: (x) => ops.pad(x, [1, 0, 2, 1, 1, 1]) },
  {
    name: 'slice channels 8..24 of a blocked conv output',
    inputs: [
      [2, 3, 5, 5],
      [32, 3, 3, 3],
    ],
    f: (x, w) => ops.slice(conv3(x, w), 1, 8, 24),
  },
  {
    name: 'slice channels 3..10 of a blocked conv output (channels change lanes)',
    inputs: [
      [1, 3, 4, 4],
      [16, 3, 3, 3],
    ],
    f: (x, w) => ops.slice(conv3(x, w), 1, 3, 10),
  },
  { name: 'slice the middle of the last axis', inputs: [[3, 4, 9]], f: (x) => ops.slice(x, -1, 2, 7) },
  { name: 'slice axis 0 of a 2-D tensor', inputs: [[5, 6]], f: (x) => ops.slice(x, 0, 1, 4) },
];

/** The whole of a 2x3 source, copied as it is. */
const WHOLE = { srcBegin: [0, 0], dstBegin: [0, 0], outDims: [2, 3], value: 0 };

export const PLAN_ERRORS: PlanErrorCase[] = [
  {
    name: 'a source begin past the end',
    call: (a) => a.windowPlan(a.plainDesc([2, 3]), { ...WHOLE, srcBegin: [3, 0], outDims: [1, 3] }),
    error: /window: axis 0 has source 2 from 3, destination 1 from 0: out of range or empty/,
  },
  {
    name: 'an empty destination',
    call: (a) => a.windowPlan(a.plainDesc([2, 3]), { ...WHOLE, outDims: [2, 0] }),
    error: /window: axis 1 .* out of range or empty/,
  },
  {
    name: 'a begin of another rank',
    call: (a) => a.windowPlan(a.plainDesc([2, 3]), { ...WHOLE, srcBegin: [0] }),
    error: /window: argument 'window' field 'srcBegin' must be an array of 2 non-negative integers, got 1 entries/,
  },
  {
    name: 'a negative begin',
    call: (a) => a.windowPlan(a.plainDesc([2, 3]), { ...WHOLE, dstBegin: [0, -1] }),
    error: /window: argument 'window' field 'dstBegin' element 1 must be a non-negative integer, got -1/,
  },
  {
    name: 'an infinite value',
    call: (a) => a.windowPlan(a.plainDesc([2, 3]), { ...WHOLE, value: Number.POSITIVE_INFINITY }),
    error: /window: argument 'window' field 'value' must be a finite number, got Infinity/,
  },
  {
    name: 'positional arguments',
    call: (a) =>
      (a.windowPlan as unknown as (...args: unknown[]) => unknown)(a.plainDesc([2, 3]), [0, 0], [0, 0], [2, 3], 0),
    error: /window: argument 'window' must be an object with named fields, got an object/,
  },
];
