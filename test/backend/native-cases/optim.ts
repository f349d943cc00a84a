/**
 * Optimiser steps (optim.cc); their values are checked in native-optim.test.ts.
 * OP_CASES run on both backends (native-conformance.test.ts); PLAN_ERRORS are bad arguments the
 * plan functions must refuse with an error naming the argument or field.
 */
import type { ExecScalars } from '../../../src/backend/native/addon.js';
import type { OpCase, PlanErrorCase } from '../native-case.js';

export const OP_CASES: OpCase[] = [];

const ADAM_SCALARS = {
  biasCorrection1: 0.1,
  biasCorrection2: 0.001,
  lr: 1e-3,
  beta1: 0.9,
  beta2: 0.999,
  eps: 1e-8,
  weightDecay: 0,
  decoupled: false,
  maximize: false,
};
const adamBuffers = () => Array.from({ length: 4 }, () => new Float32Array(2));

export const PLAN_ERRORS: PlanErrorCase[] = [
  {
    name: 'an empty parameter',
    call: (a) => a.sgdPlan({ size: 0, withMomentum: false }),
    error: /sgd: argument 'options' field 'size' must be an integer from 1 to \d+, got 0/,
  },
  {
    name: 'positional arguments',
    call: (a) => (a.sgdPlan as unknown as (size: number, momentum: boolean) => unknown)(4, false),
    error: /sgd: argument 'options' must be an object with named fields, got 4/,
  },
  {
    name: 'a string for a flag',
    call: (a) => a.adamPlan({ size: 4, amsgrad: 'yes' as unknown as boolean }),
    error: /adam: argument 'options' field 'amsgrad' must be a boolean, got 'yes'/,
  },
  {
    name: "exec without the plan's scalars",
    call: (a) => a.exec(a.sgdPlan({ size: 2, withMomentum: false }).plan, [new Float32Array(2), new Float32Array(2)]),
    error: /sgd: argument 'scalars' must be an object with named fields, got nothing/,
  },
  {
    name: 'exec with positional scalars',
    call: (a) =>
      a.exec(
        a.sgdPlan({ size: 2, withMomentum: false }).plan,
        [new Float32Array(2), new Float32Array(2)],
        Float64Array.of(0.1, 0, 0, 0, 0, 0, 1) as unknown as ExecScalars,
      ),
    error: /sgd: argument 'scalars' field 'lr' must be a number, got nothing \(the field is missing\)/,
  },
  {
    name: 'exec with a scalar missing',
    call: (a) => {
      const { eps: _, ...scalars } = ADAM_SCALARS;
      return a.exec(a.adamPlan({ size: 2, amsgrad: false }).plan, adamBuffers(), scalars);
    },
    error: /adam: argument 'scalars' field 'eps' must be a number, got nothing \(the field is missing\)/,
  },
  {
    name: 'exec with a string for a number',
    call: (a) =>
      a.exec(a.adamPlan({ size: 2, amsgrad: false }).plan, adamBuffers(), {
        ...ADAM_SCALARS,
        lr: '0.1' as unknown as number,
      }),
    error: /adam: argument 'scalars' field 'lr' must be a number, got '0.1'/,
  },
  {
    name: 'exec with a number for a flag',
    call: (a) => a.exec(a.adamPlan({ size: 2, amsgrad: false }).plan, adamBuffers(), { ...ADAM_SCALARS, maximize: 0 }),
    error: /adam: argument 'scalars' field 'maximize' must be a boolean, got 0/,
  },
];
