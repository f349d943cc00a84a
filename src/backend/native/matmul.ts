/**
 * Native batched matmul (dnnl::matmul) for float32 over plain buffers: transposes by strides, an
 * operand shared by every batch by oneDNN's batch broadcast. nn.Linear's forward is an inner
 * product with bias and ReLU fused and the weights in oneDNN's layout (converted once per weight
 * version; in training, where every step changes them, read as stored), or for a few rows
 * convkit's own loop where measured faster (linear-choice.ts). float64 and empty products use the
 * reference kernels.
 */
import type { KernelSpecs, Kernels } from '../backend.js';
import { refFallback, type NativeRun } from './fallback.js';
import { type LinearPlan, type LinearSizes, linearPlanFor } from './linear-choice.js';
import { isFloat32, type NativeRuntime } from './runtime.js';

declare module './addon.js' {
  interface NativeAddon {
    // ---- matmul.cc; sizes read by field name; buffers [a, b, c]
    matmulPlan(sizes: Omit<KernelSpecs['matmul']['args'], 'a' | 'b'>): PlanResult<'a' | 'b' | 'c'>;
    /** buffers [src, weights, (bias), dst]: dst = relu?(src W^T + bias), weights in oneDNN's layout or as stored */
    linearPlan(sizes: LinearSizes): LinearPlan;
  }
}

/** This file's rows of "What runs natively" in docs/native-backend.md. */
export const MATMUL_RUNS: readonly NativeRun[] = [
  {
    kernels: ['matmul'],
    name: 'matmul',
    native: 'all, plain (transposes by strides, a shared operand by batch broadcast)',
    fallback: 'float64, empty',
  },
  {
    kernels: ['linear'],
    name: "linear (nn.Linear's forward; backward runs matmuls)",
    native:
      "all: an inner product with the weights in oneDNN's blocked layout (converted once per weight version; a training forward reads them as stored), bias and an inference ReLU fused; for 1 to 16 rows convkit's own loop on the weights as stored where measured faster",
    fallback: 'float64, empty',
  },
];

export function nativeMatmulKernels(rt: NativeRuntime, ref: Kernels): Pick<Kernels, 'matmul' | 'linear'> {
  return {
    matmul(args: KernelSpecs['matmul']['args']) {
      const { batch, m, k, n, transA, transB, aBatched, bBatched } = args;
      if (!isFloat32(args.a) || !isFloat32(args.b)) return refFallback(rt, ref, 'matmul', 'float64 input', args);
      if (batch * m * k * n === 0) return refFallback(rt, ref, 'matmul', 'empty product', args);
      const sizes = { batch, m, k, n, transA, transB, aBatched, bBatched };
      const plan = rt.plan(`matmul:${Object.values(sizes).join(',')}`, () => rt.addon.matmulPlan(sizes));
      // Stored shapes (a transposed operand is stored [k, m]); plain row-major either way.
      const a = rt.plainInput(args.a, [aBatched ? batch : 1, transA ? k : m, transA ? m : k]);
      const b = rt.plainInput(args.b, [bBatched ? batch : 1, transB ? n : k, transB ? k : n]);
      const c = rt.output(plan.c, batch * m * n);
      rt.exec('matmul', plan.plan, [a, b, c.buffer]);
      return c;
    },

    linear(args: KernelSpecs['linear']['args']) {
      const { rows, inF, outF, bias } = args;
      const relu = args.relu ?? false;
      if (![args.x, args.weight, bias].every((s) => s === null || isFloat32(s)))
        return refFallback(rt, ref, 'linear', 'float64 input', args);
      if (rows * inF * outF === 0) return refFallback(rt, ref, 'linear', 'empty product', args);
      // In training the weight changes at every step: oneDNN reads it as stored rather than convert it each time.
      const plainWeights = args.training ?? false;
      const sizes = { rows, inFeatures: inF, outFeatures: outF, bias: bias !== null, relu, plainWeights };
      const plan = linearPlanFor(rt, sizes, args.weight);
      const buffers = [rt.plainInput(args.x, [rows, inF]), rt.input(args.weight, plan.weights, [outF, inF])];
      if (bias !== null) buffers.push(rt.plainInput(bias, [outF]));
      const y = rt.output(plan.dst, rows * outF);
      rt.exec('linear', plan.plan, [...buffers, y.buffer]);
      return y;
    },
  };
}
