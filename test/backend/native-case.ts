/**
 * The shape of the native conformance suite's test data: each file of native-cases/ holds one
 * family's OP_CASES (run forward and backward on the native and the reference backend) and
 * PLAN_ERRORS (bad arguments its addon functions must refuse), so an op's native test data is
 * written in one place. native-conformance.test.ts loads every file of the folder.
 */
import type { NativeAddon } from '../../src/backend/native/addon.js';
import type { Shape } from '../../src/core/shape.js';
import type { Tensor } from '../../src/core/tensor.js';
import * as ops from '../../src/ops/index.js';

export interface OpCase {
  name: string;
  /** Shapes of the differentiable inputs, filled with seeded uniform values in [-1, 1). */
  inputs: Shape[];
  f: (...xs: Tensor[]) => Tensor;
  /**
   * 'always': the test forces the native conv's space-to-depth cut (NativeRuntime.spaceToDepth)
   * and fails unless the cut ran; on AVX2 oneDNN would take it anyway, on AVX-512 it would not.
   */
  spaceToDepth?: 'always';
  /** The case must not reach oneDNN (the native backend falls back to the reference kernel). */
  refFallback?: true;
}

/** An addon call with a bad argument, and the error it must throw (before anything reaches oneDNN). */
export interface PlanErrorCase {
  /** What is wrong, for the assertion message. */
  name: string;
  call: (addon: NativeAddon) => unknown;
  error: RegExp;
}

/** What each file of native-cases/ exports. */
export interface NativeCaseFile {
  OP_CASES: OpCase[];
  PLAN_ERRORS: PlanErrorCase[];
}

/** Constant (non-trainable) values on the backend of `like`, e.g. running statistics. */
export const constant = (like: Tensor, values: number[]): Tensor =>
  ops.fromArray(values, [values.length], { backend: like.backend.name });

/** A 3x3 pad-1 convolution: on native its output is usually in a oneDNN blocked layout. */
export const conv3 = (x: Tensor, w: Tensor): Tensor => ops.conv2d(x, w, null, { padding: 1 });

/** C running-statistics-like constants: v0, v0 + step, ... */
export const ramp = (like: Tensor, c: number, v0: number, step: number): Tensor =>
  constant(
    like,
    Array.from({ length: c }, (_, i) => v0 + step * i),
  );
