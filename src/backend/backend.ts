/**
 * The typed contract between ops and kernels. Ops (src/ops) check arguments, resolve shapes and
 * geometry once, and call `backend.kernels[name](args)`; kernels only compute. Each backend owns
 * its storage, so a fast backend may keep blocked layouts behind the handle and convert only in
 * `read`/`write`.
 *
 * Kernels never see gradients as such: backward passes are ordinary kernel calls made by the ops'
 * gradient functions.
 */
import type { DType, FloatArray } from '../core/dtype.js';
import type { Shape } from '../core/shape.js';
import type { Storage } from '../core/storage.js';
import type {
  ActivationOp,
  AxisLayout,
  BinaryOp,
  ChannelLayout,
  Conv2dGeometry,
  Pool2dGeometry,
  ReduceOp,
  Reduction,
  ScalarOp,
  UnaryOp,
} from './kernel-args.js';

// The resolved argument types are part of the contract: importers take them from here.
export type * from './kernel-args.js';

/** Argument and result types of every kernel, keyed by kernel name. */
export interface KernelSpecs {
  fill: { args: { size: number; value: number; dtype: DType }; out: Storage };
  /** Contiguous copy with a new dtype (float32 <-> float64). */
  cast: { args: { x: Storage; dtype: DType }; out: Storage };

  unary: { args: { op: UnaryOp; x: Storage }; out: Storage };
  scalar: { args: { op: ScalarOp; x: Storage; value: number }; out: Storage };
  /** Elementwise with broadcasting; shapes are given right-aligned and already checked. */
  binary: {
    args: { op: BinaryOp; a: Storage; aShape: Shape; b: Storage; bShape: Shape; outShape: Shape };
    out: Storage;
  };
  /** Gradient of an activation: relu takes the input as `saved`, sigmoid and tanh their output. */
  activationBackward: { args: { op: ActivationOp; gy: Storage; saved: Storage }; out: Storage };
  /**
   * relu's gradient of a gradient that came in parts: the sum of `gys` in order (each step rounded
   * to the dtype, as adding them one by one), 0 where `saved` (relu's input or output) is <= 0.
   */
  reluBackwardOfSum: { args: { gys: readonly Storage[]; saved: Storage }; out: Storage };
  /** relu(a + b) of two same-size operands in one pass (a residual block's end); NaN stays NaN, as relu keeps it. */
  addRelu: { args: { a: Storage; b: Storage; shape: Shape }; out: Storage };

  /** Reduces over `axes` of `shape`; the result has those axes kept with size 1. */
  reduce: { args: { op: ReduceOp; x: Storage; shape: Shape; axes: readonly number[] }; out: Storage };
  /** Index of the largest element along the middle axis, as floats. */
  argmax: { args: { x: Storage; layout: AxisLayout }; out: Storage };

  expand: { args: { x: Storage; shape: Shape; outShape: Shape }; out: Storage };
  permute: { args: { x: Storage; shape: Shape; perm: readonly number[] }; out: Storage };
  /** The box [begin, begin + size) of x. */
  slice: { args: { x: Storage; shape: Shape; begin: readonly number[]; size: readonly number[] }; out: Storage };
  /** Constant padding: `pads[i] = [before, after]` for axis i. */
  pad: {
    args: { x: Storage; shape: Shape; pads: readonly (readonly [number, number])[]; value: number };
    out: Storage;
  };
  concat: { args: { xs: readonly Storage[]; shapes: readonly Shape[]; axis: number }; out: Storage };
  /**
   * The sum, in the order given, of boxes of one size: box i is [begins[i], begins[i] + size) of
   * xs[i] (of shape shapes[i]). The gradients of concat's inputs gather this way, each read once.
   */
  sumSlices: {
    args: { xs: readonly Storage[]; shapes: readonly Shape[]; begins: readonly (readonly number[])[]; size: Shape };
    out: Storage;
  };

  /**
   * out[b] = op(a[b]) @ op(b[b]), a is batch x m x k (or k x m when transA), b is batch x k x n
   * (or n x k when transB). A side with `batched: false` is one matrix shared by every batch.
   */
  matmul: {
    args: {
      a: Storage;
      b: Storage;
      batch: number;
      m: number;
      k: number;
      n: number;
      transA: boolean;
      transB: boolean;
      aBatched: boolean;
      bBatched: boolean;
    };
    out: Storage;
  };
  /**
   * nn.Linear's forward: out = x W^T + bias for x of rows x inF and W of outF x inF, then ReLU
   * when `relu` is set (a fused inference post-op: no autograd).
   */
  linear: {
    args: {
      x: Storage;
      weight: Storage;
      bias: Storage | null;
      rows: number;
      inF: number;
      outF: number;
      relu?: boolean;
      /** Whether a backward pass will follow (as conv2d's): the weight will change before the next call. */
      training?: boolean;
    };
    out: Storage;
  };

  /**
   * Fused inference post-ops (no autograd): `addend` (same shape as the output) is added, then
   * ReLU applied when `relu` is set: y = relu(conv(x) + bias + addend).
   */
  conv2d: {
    args: {
      x: Storage;
      weight: Storage;
      bias: Storage | null;
      geometry: Conv2dGeometry;
      addend?: Storage | null;
      relu?: boolean;
      /**
       * Whether a backward pass will follow (the op decides, from grad mode and requiresGrad);
       * a backend may then keep what the backward needs. Default false. Kernels never read grad mode.
       */
      training?: boolean;
    };
    out: Storage;
  };
  conv2dBackwardData: { args: { gy: Storage; weight: Storage; geometry: Conv2dGeometry }; out: Storage };
  conv2dBackwardWeight: {
    args: { gy: Storage; x: Storage; geometry: Conv2dGeometry; withBias: boolean };
    out: { weight: Storage; bias: Storage | null };
  };

  /**
   * Returns the output and a workspace (argmax positions) for the backward pass. `training`: a
   * backward pass will follow (default false); a backend may keep no workspace without it.
   */
  maxPool2d: {
    args: { x: Storage; geometry: Pool2dGeometry; training?: boolean };
    out: { y: Storage; workspace: Storage };
  };
  maxPool2dBackward: { args: { gy: Storage; workspace: Storage; geometry: Pool2dGeometry }; out: Storage };
  avgPool2d: {
    args: { x: Storage; geometry: Pool2dGeometry; countIncludePad: boolean; divisorOverride: number | null };
    out: Storage;
  };
  avgPool2dBackward: {
    args: { gy: Storage; geometry: Pool2dGeometry; countIncludePad: boolean; divisorOverride: number | null };
    out: Storage;
  };
  adaptiveAvgPool2d: {
    args: { x: Storage; batch: number; channels: number; inH: number; inW: number; outH: number; outW: number };
    out: Storage;
  };
  adaptiveAvgPool2dBackward: {
    args: { gy: Storage; batch: number; channels: number; inH: number; inW: number; outH: number; outW: number };
    out: Storage;
  };

  /**
   * Training-mode batch norm: normalises with the batch's statistics (biased variance). `relu`
   * applies a ReLU in the same pass and returns `reluMask`, a backend-specific record of where
   * the output is positive, for batchNormBackward (null without relu). With `running`, it also
   * moves the running statistics towards this batch's, in place as PyTorch (in float64 before
   * rounding): (1 - momentum) * running + momentum * batch statistic, the variance unbiased
   * (times count / (count - 1), count = batch * spatial > 1); and adds 1 to `batches` (a
   * one-element counter, num_batches_tracked) where given.
   */
  batchNormTrain: {
    args: {
      x: Storage;
      weight: Storage | null;
      bias: Storage | null;
      layout: ChannelLayout;
      eps: number;
      relu?: boolean;
      running?: { mean: Storage; variance: Storage; momentum: number; batches?: Storage | null } | null;
    };
    out: {
      y: Storage;
      mean: Storage;
      invStd: Storage;
      variance: Storage;
      reluMask: Storage | null;
    };
  };
  /** Inference-mode batch norm with given statistics. */
  batchNormInfer: {
    /** `relu` fuses a ReLU after the normalisation (inference only). */
    args: {
      x: Storage;
      weight: Storage | null;
      bias: Storage | null;
      mean: Storage;
      variance: Storage;
      layout: ChannelLayout;
      eps: number;
      relu?: boolean;
    };
    out: Storage;
  };
  /**
   * batchNormInfer of the channel concatenation of the 4-D maps `xs` (DenseNet's inference join),
   * in one pass where the backend can: out is [N, sum of channels, H, W].
   */
  concatBatchNormInfer: {
    args: {
      xs: readonly Storage[];
      shapes: readonly Shape[];
      weight: Storage | null;
      bias: Storage | null;
      mean: Storage;
      variance: Storage;
      eps: number;
      relu?: boolean;
    };
    out: Storage;
  };
  /**
   * An eval-mode batch norm folded into the layer before it (a conv or linear layer with
   * `channels` output channels, `weight` holding `channels` rows): scale = gamma / sqrt(variance +
   * eps) (1 / sqrt(...) without gamma), weight' = weight * scale row by row, bias' = (bias - mean)
   * * scale + beta (a missing bias is 0, a missing beta adds nothing). Each step rounds to the
   * dtype, so backends agree bit for bit.
   */
  foldBatchNorm: {
    args: {
      weight: Storage;
      bias: Storage | null;
      gamma: Storage | null;
      beta: Storage | null;
      mean: Storage;
      variance: Storage;
      channels: number;
      eps: number;
      /**
       * The caller converts the folded weight before anything writes `weight` (fuse.ts's fused
       * conv): a backend may scale it where it is first converted instead of writing a plain copy.
       */
      deferWeight?: boolean;
    };
    out: { weight: Storage; bias: Storage };
  };
  /**
   * Gradients of batch norm. With `batchStats` the mean and invStd came from this batch and the
   * gradient flows through them too; without, they were constants (eval mode). With `reluMask`
   * (from batchNormTrain with relu) the output gradient first goes back through that ReLU.
   */
  batchNormBackward: {
    args: {
      gy: Storage;
      x: Storage;
      weight: Storage | null;
      mean: Storage;
      invStd: Storage;
      layout: ChannelLayout;
      batchStats: boolean;
      withAffine: boolean;
      reluMask?: Storage | null;
    };
    out: { x: Storage; weight: Storage | null; bias: Storage | null };
  };

  /** Local response norm across channels; `scale` is k + alpha/size * sum(x^2) over the window. */
  localResponseNorm: {
    /** `training`: a backward pass will follow (default false); a backend may keep no scale without it. */
    args: {
      x: Storage;
      layout: ChannelLayout;
      size: number;
      alpha: number;
      beta: number;
      k: number;
      training?: boolean;
    };
    out: { y: Storage; scale: Storage };
  };
  localResponseNormBackward: {
    args: {
      gy: Storage;
      x: Storage;
      y: Storage;
      scale: Storage;
      layout: ChannelLayout;
      size: number;
      alpha: number;
      beta: number;
      k: number;
    };
    out: Storage;
  };

  /** Keeps each element with probability 1 - p; the mask holds 0 or 1/(1-p). */
  dropoutMask: { args: { size: number; p: number; seed: number; dtype: DType }; out: Storage };

  softmax: { args: { x: Storage; layout: AxisLayout; log: boolean }; out: Storage };
  softmaxBackward: { args: { gy: Storage; y: Storage; layout: AxisLayout; log: boolean }; out: Storage };

  /**
   * Negative log-likelihood of log-probabilities [n, c] with integer targets, with label
   * smoothing as PyTorch's cross_entropy defines it. Returns [n] for 'none', else a scalar.
   */
  nllLoss: {
    args: { logp: Storage; target: Int32Array; n: number; c: number; reduction: Reduction; labelSmoothing: number };
    out: Storage;
  };
  nllLossBackward: {
    args: {
      gy: Storage;
      target: Int32Array;
      n: number;
      c: number;
      reduction: Reduction;
      labelSmoothing: number;
      dtype: DType;
    };
    out: Storage;
  };

  /** In-place SGD step with PyTorch's rule (torch.optim.SGD). */
  sgdStep: {
    args: {
      param: Storage;
      grad: Storage;
      momentumBuffer: Storage | null;
      lr: number;
      momentum: number;
      dampening: number;
      nesterov: boolean;
      weightDecay: number;
      maximize: boolean;
      firstStep: boolean;
    };
    // biome-ignore lint/suspicious/noConfusingVoidType: an in-place kernel's result type is void, as its function's is
    out: void;
  };
  /** In-place Adam/AdamW step with PyTorch's rule; `decoupled` selects AdamW's weight decay. */
  adamStep: {
    args: {
      param: Storage;
      grad: Storage;
      expAvg: Storage;
      expAvgSq: Storage;
      maxExpAvgSq: Storage | null;
      step: number;
      lr: number;
      beta1: number;
      beta2: number;
      eps: number;
      weightDecay: number;
      decoupled: boolean;
      amsgrad: boolean;
      maximize: boolean;
    };
    // biome-ignore lint/suspicious/noConfusingVoidType: an in-place kernel's result type is void, as its function's is
    out: void;
  };
}

export type KernelName = keyof KernelSpecs;
export type Kernels = { readonly [K in KernelName]: (args: KernelSpecs[K]['args']) => KernelSpecs[K]['out'] };

// The size and dtype of every kernel's results (the meta backend is built from them).
export * from './result-sizes.js';

export interface Backend {
  readonly name: string;
  /** Whether storages hold values (false for the shape-only meta backend). */
  readonly hasData: boolean;
  /** Copies plain row-major values into a new storage. */
  write(values: FloatArray, dtype: DType): Storage;
  /**
   * A new storage that takes `values` (plain row-major, dtype from the array's type) as its memory
   * without copying: for a fresh array that its maker hands over and never touches again (a weight
   * file's reader). Anything else still referring to the array would alias the storage.
   */
  adopt(values: FloatArray): Storage;
  /**
   * A fresh zeroed array for a reader to fill and hand to `adopt`: memory where the backend wants
   * it (the native backend's start on a 64-byte boundary, large ones in huge pages).
   */
  allocate(dtype: DType, size: number): FloatArray;
  /** Copies a storage out as plain row-major values (the boundary where blocked layouts end). */
  read(storage: Storage, shape: Shape): FloatArray;
  readonly kernels: Kernels;
}
