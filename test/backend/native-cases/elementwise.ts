/**
 * Affine scalar ops, binary arithmetic and activations (eltwise.cc, binary.cc).
 * OP_CASES run on both backends (native-conformance.test.ts); PLAN_ERRORS are bad arguments the
 * plan functions must refuse with an error naming the argument or field.
 */
import * as ops from '../../../src/ops/index.js';
import { type OpCase, type PlanErrorCase, conv3 } from '../native-case.js';

export const OP_CASES: OpCase[] = [
  // Scalar ops that are affine maps (x + c, x * c, c - x) run natively on plain data.
  { name: 'scalar add, mul, rsub (plain)', inputs: [[3, 5, 4]], f: (x) => ops.rsub(2, ops.mul(ops.add(x, 0.5), -3)) },
  // Elementwise arithmetic (binary.ts): one-sided broadcasts are native, two-sided ones are not.
  {
    name: 'add, same shapes (residual sum)',
    inputs: [
      [2, 3, 4, 5],
      [2, 3, 4, 5],
    ],
    f: (a, b) => ops.add(a, b),
  },
  {
    name: 'sub, per-channel broadcast of the second operand',
    inputs: [
      [2, 3, 4, 5],
      [1, 3, 1, 1],
    ],
    f: (a, b) => ops.sub(a, b),
  },
  {
    name: 'mul, first operand broadcast (operands swapped)',
    inputs: [
      [3, 1, 1],
      [2, 3, 4, 5],
    ],
    f: (a, b) => ops.mul(a, b),
  },
  {
    name: 'div, lower-rank divisor',
    inputs: [
      [2, 3, 4],
      [3, 1],
    ],
    f: (a, b) => ops.div(a, ops.add(ops.mul(b, b), 0.5)),
  },
  {
    name: 'sub, both operands broadcast (forward on the reference kernel, backward reductions native)',
    inputs: [
      [3, 1],
      [1, 4],
    ],
    f: (a, b) => ops.sub(a, b),
  },
  {
    name: 'add of two blocked conv outputs',
    inputs: [
      [2, 3, 6, 6],
      [8, 3, 3, 3],
      [8, 3, 3, 3],
    ],
    f: (x, w1, w2) => ops.add(conv3(x, w1), conv3(x, w2)),
  },
  {
    name: 'add of a blocked conv output and a plain tensor',
    inputs: [
      [2, 3, 6, 6],
      [16, 3, 3, 3],
      [2, 16, 6, 6],
    ],
    f: (x, w, y) => ops.add(y, conv3(x, w)),
  },
  {
    name: 'sub of a plain tensor and a blocked conv output',
    inputs: [
      [2, 3, 6, 6],
      [8, 3, 3, 3],
      [2, 8, 6, 6],
    ],
    f: (x, w, y) => ops.sub(y, conv3(x, w)),
  },
  {
    name: 'mul of a blocked conv output by a per-channel scale',
    inputs: [
      [2, 3, 5, 5],
      [12, 3, 3, 3],
      [1, 12, 1, 1],
    ],
    f: (x, w, s) => ops.mul(conv3(x, w), s),
  },
  {
    name: 'mul, conv weights by a per-output-channel scale (a batch-norm fold, on merged axes)',
    inputs: [
      [12, 5, 3, 3],
      [12, 1, 1, 1],
    ],
    f: (w, s) => ops.mul(w, s),
  },
  {
    name: 'mul, a broadcast on alternate axes (no axes to merge)',
    inputs: [
      [2, 3, 4, 5],
      [3, 1, 5],
    ],
    f: (a, b) => ops.mul(a, b),
  },
  // Activations.
  { name: 'relu', inputs: [[3, 5, 4]], f: (x) => ops.relu(x) },
  { name: 'sqrt', inputs: [[3, 5, 4]], f: (x) => ops.sqrt(ops.add(ops.mul(x, x), 0.1)) },
  { name: 'sigmoid', inputs: [[3, 5, 4]], f: (x) => ops.mul(ops.sigmoid(x), 3) },
  { name: 'tanh', inputs: [[2, 7]], f: (x) => ops.tanh(ops.mul(x, 2)) },
  {
    name: 'relu and sigmoid of blocked conv outputs (residual-style sum in backward)',
    inputs: [
      [2, 3, 6, 6],
      [12, 3, 3, 3],
    ],
    f: (x, w) => {
      const h = conv3(x, w);
      return ops.add(ops.relu(h), ops.sigmoid(h));
    },
  },
  {
    name: 'tanh of a plain input whose gradient comes back blocked from a conv',
    inputs: [
      [2, 8, 6, 6],
      [16, 8, 3, 3],
    ],
    f: (x, w) => conv3(ops.tanh(x), w),
  },
  // relu(a + b) in one loop (a residual block's end in training): plain, both blocked (12 channels:
  // padded blocks), and a plain operand reordered to a blocked one's layout.
  {
    name: 'addRelu, plain',
    inputs: [
      [2, 3, 4, 5],
      [2, 3, 4, 5],
    ],
    f: (a, b) => ops.addRelu(a, b),
  },
  {
    name: 'addRelu of two blocked conv outputs (12 channels)',
    inputs: [
      [2, 3, 6, 6],
      [12, 3, 3, 3],
      [12, 3, 3, 3],
    ],
    f: (x, w1, w2) => ops.addRelu(conv3(x, w1), conv3(x, w2)),
  },
  {
    name: 'addRelu of a plain tensor and a blocked conv output',
    inputs: [
      [2, 3, 6, 6],
      [16, 3, 3, 3],
      [2, 16, 6, 6],
    ],
    f: (x, w, y) => ops.addRelu(y, conv3(x, w)),
  },
  // relu's gradient in parts (reluBackwardOfSum): a residual join's output feeding the next
  // block's conv and its shortcut (blocked, 12 channels: padded blocks), and a relu read by three
  // ops whose gradients come in different layouts (a conv's blocked, tanh's, the sum's).
  {
    name: "relu's gradient of two parts: a join feeding a conv and the next join (12 channels)",
    inputs: [
      [2, 3, 6, 6],
      [12, 3, 3, 3],
      [12, 3, 3, 3],
      [12, 12, 3, 3],
    ],
    f: (x, w1, w2, w3) => {
      const y = ops.addRelu(conv3(x, w1), conv3(x, w2));
      return ops.addRelu(conv3(y, w3), y);
    },
  },
  {
    name: "relu's gradient of three parts in different layouts",
    inputs: [
      [2, 3, 5, 5],
      [16, 3, 3, 3],
      [8, 16, 3, 3],
      [2, 8, 5, 5],
    ],
    f: (x, w1, w2, p) => {
      const y = ops.relu(conv3(x, w1));
      return ops.add(ops.mul(conv3(y, w2), p), ops.sum(ops.add(ops.tanh(y), y), [1], { keepDims: true }));
    },
  },
];

export const PLAN_ERRORS: PlanErrorCase[] = [
  {
    name: 'addRelu with an unknown desc',
    call: (a) => a.addReluPlan(987654),
    error: /addRelu: .*desc/,
  },
  {
    name: 'an unknown activation',
    call: (a) => a.eltwisePlan('gelu' as 'relu', a.plainDesc([1, 4, 4, 4])),
    error: /activation: unknown activation 'gelu'/,
  },
  {
    name: 'a broadcast of b that is not one-sided',
    call: (a) => a.binaryPlan('add', a.plainDesc([2, 3]), a.plainDesc([3, 3])),
    error: /binary: every dim of b must equal a's or be 1/,
  },
  {
    name: 'reluBackwardOfSum with more parts than a plan adds',
    call: (a) => a.reluBackwardOfSumPlan(5, a.plainDesc([4])),
    error: /reluBackwardOfSum: argument 'parts' must be from 1 to 4, got 5/,
  },
  {
    name: 'an unknown binary op',
    call: (a) => a.binaryPlan('max' as 'add', a.plainDesc([2, 3]), a.plainDesc([2, 3])),
    error: /binary: unknown op 'max'/,
  },
  {
    name: 'exec of an affine map without beta',
    call: (a) => a.exec(a.scalarPlan(2).plan, [new Float32Array(2), new Float32Array(2)], { alpha: 1 }),
    error: /scalar: argument 'scalars' field 'beta' must be a number, got nothing \(the field is missing\)/,
  },
];
