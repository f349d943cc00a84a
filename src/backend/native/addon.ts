/**
 * Loading the oneDNN addon (native/build/Release/convkit_native.node) and its typed surface. The
 * addon works on caller-owned Float32Arrays (zero copy) and checks every buffer length itself, so
 * a wrong call throws a JS error instead of reading out of bounds.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BackendError } from '../../core/errors.js';
import type { ReduceOp, Reduction } from '../backend.js';

export type ActivationKind = 'relu' | 'sigmoid' | 'tanh';
export type NativeBinaryOp = 'add' | 'sub' | 'mul' | 'div';
export type PoolKind = 'max' | 'avg_include_padding' | 'avg_exclude_padding';

/**
 * What a plan function returns: the plan id and, by name, the interned memory descriptor id of
 * each argument, e.g. `{ plan: 7, src: 3, weights: 12, dst: 4 }`. `exec(plan, buffers)` takes
 * the buffers in the order each function's comment gives.
 */
export type PlanResult<K extends string> = { readonly plan: number } & { readonly [name in K]: number };

/** A memory descriptor as JavaScript sees it: logical dims, bytes to allocate, and whether it is row-major. */
export interface DescInfo {
  readonly dims: readonly number[];
  readonly bytes: number;
  readonly plain: boolean;
}

/** A buffer handed to exec: float data, or an opaque workspace (allocated as a Float32Array too). */
export type ExecBuffer = Float32Array | null;

/**
 * The functions the addon exports. Plan functions run on the main thread and are cached by the
 * JS side; `exec` only queues: work runs in order on the addon's worker thread, and JavaScript
 * must not read or write a buffer until `flushSync()` or the Promise of `flushAsync()` says
 * the queue is done. Integer geometry arrays follow the orders given in native/src.
 */
export interface NativeAddon {
  version(): string;

  // ---- runtime (plan.cc, queue.cc)
  /** Id of the row-major float32 descriptor over dims. */
  plainDesc(dims: readonly number[]): number;
  descInfo(id: number): DescInfo;
  /** buffers [src, dst] */
  reorderPlan(src: number, dst: number): number;
  /** Checks every buffer against the plan's descriptors (type, byte size), then queues the work. */
  exec(plan: number, buffers: readonly ExecBuffer[], scalars?: Float64Array): void;
  flushSync(): void;
  flushAsync(): Promise<void>;
  /** Commands queued and not yet finished. */
  pending(): number;
  setThreads(threads: number): void;
  getThreads(): number;

  // ---- conv.cc; geometry = the 18 integers of Conv2dGeometry in its field order
  /**
   * buffers [src, weights, (bias), dst, (addend)]; with sum, the addend is a buffer of its own when
   * the plan reports `addend`, else dst must already hold it. `gemm`: oneDNN runs it as im2col + gemm.
   * `impl`: oneDNN's name of the kernel it chose (`jit:avx512_core`, `ref:any`...).
   */
  conv2dPlan(
    geometry: readonly number[],
    options: { bias: boolean; relu: boolean; sum: boolean; training: boolean },
  ): PlanResult<'src' | 'weights' | 'dst'> & {
    readonly bias?: number;
    readonly addend?: number;
    readonly gemm: boolean;
    readonly impl: string;
  };
  /** buffers [diffDst, weights, diffSrc] */
  conv2dBackwardDataPlan(geometry: readonly number[]): PlanResult<'diffDst' | 'weights' | 'diffSrc'>;
  /** buffers [src, diffDst, diffWeights, (diffBias)] */
  conv2dBackwardWeightsPlan(
    geometry: readonly number[],
    bias: boolean,
  ): PlanResult<'src' | 'diffDst' | 'diffWeights'> & { readonly diffBias?: number };
  // ---- matmul.cc; sizes = [batch, m, k, n, transA, transB, aBatched, bBatched] (flags 0/1); buffers [a, b, c]
  matmulPlan(sizes: readonly number[]): PlanResult<'a' | 'b' | 'c'>;
  /** sizes [rows, in, out]; buffers [src, weights, (bias), dst]: dst = relu?(src W^T + bias), weights in oneDNN's layout */
  linearPlan(
    sizes: readonly number[],
    bias: boolean,
    relu: boolean,
  ): PlanResult<'src' | 'weights' | 'dst'> & { readonly bias?: number };
  // ---- optim.cc (in place, PyTorch 1.13's rules)
  /** buffers [param, grad, (momentumBuffer)]; scalars [lr, momentum, dampening, nesterov, weightDecay, maximize, firstStep] */
  sgdPlan(size: number, withMomentum: boolean): PlanResult<'param' | 'grad'>;
  /**
   * buffers [param, grad, expAvg, expAvgSq, (maxExpAvgSq)]; scalars [1 - beta1^step, 1 - beta2^step, lr, beta1, beta2, eps,
   * weightDecay, decoupled, maximize] (the bias corrections come from JS so that pow rounds as the reference kernel's).
   */
  adamPlan(size: number, amsgrad: boolean): PlanResult<'param' | 'grad'>;

  // ---- eltwise.cc: the layout of `desc` is kept; buffers [src, dst] / [diffDst, saved, diffSrc]
  eltwisePlan(kind: ActivationKind, desc: number): PlanResult<'src' | 'dst'>;
  /** Plain buffers [src, dst], scalars [alpha, beta]: dst = alpha * src + beta, in double as the ref kernel. */
  scalarPlan(size: number): PlanResult<'src' | 'dst'>;
  /** saved is the forward input for relu, the forward output for sigmoid and tanh. */
  eltwiseBackwardPlan(kind: ActivationKind, desc: number): PlanResult<'diffDst' | 'saved' | 'diffSrc'>;
  // ---- binary.cc: a has the output dims; b the same rank, each dim 1 or equal; buffers [a, b, dst]
  binaryPlan(kind: NativeBinaryOp, a: number, b: number): PlanResult<'a' | 'b' | 'dst'>;
  // ---- pool.cc; geometry = the 14 integers of Pool2dGeometry in its field order
  /** buffers [src, dst, (workspace)]; workspace only for max pooling in training. */
  poolPlan(
    kind: PoolKind,
    geometry: readonly number[],
    src: number,
    training: boolean,
  ): PlanResult<'src' | 'dst'> & { readonly workspace?: number };
  /** `src` is the forward's src desc; buffers [diffDst, (workspace), diffSrc] */
  poolBackwardPlan(
    kind: PoolKind,
    geometry: readonly number[],
    src: number,
  ): PlanResult<'diffDst' | 'diffSrc'> & { readonly workspace?: number };
  // ---- batch_norm.cc; src desc 4-D (any layout), mean/variance/scale/shift plain [C]
  /**
   * buffers [src, (scale), (shift), mean, variance, dst, (workspace)]: training writes mean and
   * variance, inference reads them. relu fuses a ReLU after; in training it writes the workspace.
   */
  batchNormPlan(
    src: number,
    options: { training: boolean; affine: boolean; relu: boolean; eps: number },
  ): PlanResult<'src' | 'mean' | 'variance' | 'dst'> & { readonly workspace?: number };
  /**
   * buffers [src, diffDst, mean, variance, (scale), (shift), diffSrc, (diffScale), (diffShift),
   * (workspace)]; shift is any [C] buffer (unread: oneDNN 2.6 only insists that one is bound).
   * relu: the gradient goes back through the training forward's fused ReLU (its workspace).
   */
  batchNormBackwardPlan(
    src: number,
    options: { affine: boolean; eps: number; globalStats: boolean; relu: boolean },
  ): PlanResult<'src' | 'diffDst' | 'mean' | 'variance' | 'diffSrc'> & { readonly workspace?: number };
  /** Plain [C] -> [C], queued: toInvStd: out = 1/sqrt(in + eps); else out = 1/in^2 - eps (invStd back to a variance). buffers [in, out] */
  batchNormStatsPlan(channels: number, eps: number, toInvStd: boolean): PlanResult<'in' | 'out'>;
  // ---- lrn.cc (odd sizes); buffers [src, dst, (workspace)] / [src, diffDst, (workspace), diffSrc]
  lrnPlan(
    src: number,
    options: { size: number; alpha: number; beta: number; k: number; training: boolean },
  ): PlanResult<'src' | 'dst'> & { readonly workspace?: number };
  lrnBackwardPlan(
    src: number,
    options: { size: number; alpha: number; beta: number; k: number },
  ): PlanResult<'src' | 'diffDst' | 'diffSrc'> & { readonly workspace?: number };
  // ---- softmax.cc (plain); layout = [outer, dim, inner]; buffers [src, dst] / [dst, diffDst, diffSrc]
  softmaxPlan(layout: readonly number[], log: boolean): PlanResult<'src' | 'dst'>;
  softmaxBackwardPlan(layout: readonly number[], log: boolean): PlanResult<'dst' | 'diffDst' | 'diffSrc'>;
  // ---- concat.cc; buffers [src0, ..., srcN-1, dst]
  concatPlan(axis: number, srcs: readonly number[]): PlanResult<'dst'>;
  /**
   * buffers [src0, ..., srcN-1, dst, (gamma, beta), mean, variance]: relu?(batch norm) of the channel
   * concatenation of 4-D maps in one pass; null when the sources are not in one chunked layout.
   */
  concatBatchNormPlan(srcs: readonly number[], affine: boolean, relu: boolean, eps: number): PlanResult<'dst'> | null;
  // ---- window.cc; buffers [src (in the plan's src desc), dst]: dst is `value` except src's
  // elements from srcBegin, placed from dstBegin (slice and pad)
  windowPlan(
    src: number,
    srcBegin: readonly number[],
    dstBegin: readonly number[],
    outDims: readonly number[],
    value: number,
  ): PlanResult<'src' | 'dst'>;
  // ---- reduce.cc; plain data
  /** buffers [src, dst]: sum/mean/max/min over `axes` (dst keeps the other dims, reduced ones are 1) */
  reducePlan(op: ReduceOp, dims: readonly number[], axes: readonly number[]): PlanResult<'dst'>;
  /** buffers [logp [n, c], target [n] (class indices as floats), out ([n] for 'none', else [1])] */
  nllLossPlan(n: number, c: number, reduction: Reduction, labelSmoothing: number): PlanResult<'out'>;
  /** buffers [gy ([n] for 'none', else [1]), target [n], dx [n, c]] */
  nllLossBackwardPlan(n: number, c: number, reduction: Reduction, labelSmoothing: number): PlanResult<'dx'>;
  // ---- space_to_depth.cc; plain data
  /** sizes [N, C, H, W, sH, sW, padTop, padLeft, outH, outW]; buffers [x, dst [N, C*sH*sW, outH, outW]] */
  spaceToDepthInputPlan(sizes: readonly number[]): PlanResult<'dst'>;
  /** sizes [O, C, KH, KW, sH, sW]; buffers [w, dst [O, C*sH*sW, ceil(KH/sH), ceil(KW/sW)]] */
  spaceToDepthWeightsPlan(sizes: readonly number[]): PlanResult<'dst'>;
}

const FUNCTIONS = [
  'version',
  'plainDesc',
  'descInfo',
  'reorderPlan',
  'exec',
  'flushSync',
  'flushAsync',
  'pending',
  'setThreads',
  'getThreads',
  'conv2dPlan',
  'conv2dBackwardDataPlan',
  'conv2dBackwardWeightsPlan',
  'matmulPlan',
  'linearPlan',
  'sgdPlan',
  'adamPlan',
  'eltwisePlan',
  'eltwiseBackwardPlan',
  'scalarPlan',
  'binaryPlan',
  'poolPlan',
  'poolBackwardPlan',
  'batchNormPlan',
  'batchNormBackwardPlan',
  'batchNormStatsPlan',
  'lrnPlan',
  'lrnBackwardPlan',
  'softmaxPlan',
  'softmaxBackwardPlan',
  'concatPlan',
  'concatBatchNormPlan',
  'windowPlan',
  'reducePlan',
  'nllLossPlan',
  'nllLossBackwardPlan',
  'spaceToDepthInputPlan',
  'spaceToDepthWeightsPlan',
] as const satisfies readonly (keyof NativeAddon)[];

function isAddon(m: unknown): m is NativeAddon {
  if (typeof m !== 'object' || m === null) return false;
  return FUNCTIONS.every((name) => typeof Reflect.get(m, name) === 'function');
}

export const ADDON_FILE = join('native', 'build', 'Release', 'convkit_native.node');
export const BUILD_HINT = 'npm run build:native';
const INSTALL_HINT = 'sudo apt-get install libdnnl-dev, then npm run build:native';

/** The repository root: the nearest folder above this file that holds native/binding.gyp (src/ and dist/ alike). */
function packageRoot(): string | null {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    if (existsSync(join(dir, 'native', 'binding.gyp'))) return dir;
    dir = dirname(dir);
  }
  return null;
}

/** Loads the addon, or says in one sentence why it cannot and how to fix that. */
export function loadAddon(): NativeAddon | { error: string } {
  const root = packageRoot();
  if (root === null)
    return { error: 'the native addon sources (native/binding.gyp) are not part of this installation' };
  const file = join(root, ADDON_FILE);
  if (!existsSync(file)) {
    const hasOneDnn = existsSync('/usr/include/oneapi/dnnl/dnnl.hpp');
    return {
      error: hasOneDnn
        ? `the native addon is not built (${ADDON_FILE} is missing): run ${BUILD_HINT}`
        : `oneDNN is not installed: ${INSTALL_HINT}`,
    };
  }
  let loaded: unknown;
  try {
    loaded = createRequire(import.meta.url)(file);
  } catch (e) {
    const why = e instanceof Error ? e.message.split('\n')[0] : String(e);
    const missingLib = why.includes('libdnnl');
    return {
      error: missingLib
        ? `oneDNN is not installed (${why}): ${INSTALL_HINT}`
        : `the native addon failed to load (${why}): run ${BUILD_HINT}`,
    };
  }
  if (!isAddon(loaded)) return { error: `the native addon is out of date (missing functions): run ${BUILD_HINT}` };
  return loaded;
}

let calls = 0;

/** How many kernel calls have gone to oneDNN so far (tests use it to see what ran natively). */
export function nativeCallCount(): number {
  return calls;
}

/** Runs an addon call, turning its errors into a BackendError that names the op (and layer). */
export function callNative<T>(op: string, fn: () => T): T {
  calls++;
  try {
    return fn();
  } catch (e) {
    throw new BackendError(op, `native kernel failed: ${e instanceof Error ? e.message : String(e)}`);
  }
}
