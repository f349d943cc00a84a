/**
 * The size and dtype of every kernel's results, from its arguments: part of the kernel contract
 * (backend.ts re-exports it) and all the shape-only meta backend computes.
 */
import type { DType } from '../core/dtype.js';
import { BackendError } from '../core/errors.js';
import { sizeOf } from '../core/shape.js';
import { Storage } from '../core/storage.js';
import type { KernelName, KernelSpecs } from './backend.js';

/** A kernel's result with each storage replaced by its number of elements (`null` stays null). */
export type ResultSizes<Out> = Out extends Storage
  ? number
  : Out extends object
    ? { [F in keyof Out]: Out[F] extends Storage ? number : Out[F] extends Storage | null ? number | null : never }
    : Out;

/** An in-place kernel returns nothing. */
const inPlace = (): void => {};

/**
 * The size of every result of every kernel, from its arguments: part of the contract that each
 * backend's results follow, and all the shape-only meta backend computes (it is built from this
 * record). Their dtype is `resultDType`'s. State a forward keeps for its backward (max pooling's
 * `workspace`, batch norm's `reluMask`, LRN's `scale`) is opaque: each backend stores it as it
 * likes (oneDNN's workspaces, index arrays), and the rule gives what the meta backend allocates.
 */
export const RESULT_SIZES: {
  readonly [K in KernelName]: (args: KernelSpecs[K]['args']) => ResultSizes<KernelSpecs[K]['out']>;
} = {
  fill: ({ size }) => size,
  cast: ({ x }) => x.size,
  unary: ({ x }) => x.size,
  scalar: ({ x }) => x.size,
  binary: ({ outShape }) => sizeOf(outShape),
  activationBackward: ({ gy }) => gy.size,
  reluBackwardOfSum: ({ saved }) => saved.size,
  addRelu: ({ a }) => a.size,
  reduce: ({ shape, axes }) => sizeOf(shape.filter((_, i) => !axes.includes(i))),
  argmax: ({ layout }) => layout.outer * layout.inner,
  expand: ({ outShape }) => sizeOf(outShape),
  permute: ({ x }) => x.size,
  slice: ({ size }) => sizeOf(size),
  pad: ({ shape, pads }) => sizeOf(shape.map((d, i) => d + pads[i][0] + pads[i][1])),
  concat: ({ xs }) => xs.reduce((n, x) => n + x.size, 0),
  sumSlices: ({ size }) => sizeOf(size),
  matmul: ({ batch, m, n }) => batch * m * n,
  linear: ({ rows, outF }) => rows * outF,
  conv2d: ({ geometry: g }) => g.batch * g.outChannels * g.outH * g.outW,
  conv2dBackwardData: ({ geometry: g }) => g.batch * g.inChannels * g.inH * g.inW,
  conv2dBackwardWeight: ({ geometry: g, withBias }) => ({
    weight: g.outChannels * (g.inChannels / g.groups) * g.kernelH * g.kernelW,
    bias: withBias ? g.outChannels : null,
  }),
  maxPool2d: ({ geometry: g }) => {
    const size = g.batch * g.channels * g.outH * g.outW;
    return { y: size, workspace: size };
  },
  maxPool2dBackward: ({ geometry: g }) => g.batch * g.channels * g.inH * g.inW,
  avgPool2d: ({ geometry: g }) => g.batch * g.channels * g.outH * g.outW,
  avgPool2dBackward: ({ geometry: g }) => g.batch * g.channels * g.inH * g.inW,
  adaptiveAvgPool2d: ({ batch, channels, outH, outW }) => batch * channels * outH * outW,
  adaptiveAvgPool2dBackward: ({ batch, channels, inH, inW }) => batch * channels * inH * inW,
  batchNormTrain: ({ x, layout: { channels }, relu }) => ({
    y: x.size,
    mean: channels,
    invStd: channels,
    variance: channels,
    reluMask: relu ? x.size : null,
  }),
  batchNormInfer: ({ x }) => x.size,
  concatBatchNormInfer: ({ xs }) => xs.reduce((n, x) => n + x.size, 0),
  foldBatchNorm: ({ weight, channels }) => ({ weight: weight.size, bias: channels }),
  batchNormBackward: ({ gy, layout: { channels }, withAffine }) => ({
    x: gy.size,
    weight: withAffine ? channels : null,
    bias: withAffine ? channels : null,
  }),
  localResponseNorm: ({ x }) => ({ y: x.size, scale: x.size }),
  localResponseNormBackward: ({ gy }) => gy.size,
  dropoutMask: ({ size }) => size,
  softmax: ({ x }) => x.size,
  softmaxBackward: ({ gy }) => gy.size,
  nllLoss: ({ n, reduction }) => (reduction === 'none' ? n : 1),
  nllLossBackward: ({ n, c }) => n * c,
  sgdStep: inPlace,
  adamStep: inPlace,
};

/**
 * The dtype of a kernel's results: its `dtype` argument where it has one, else that of its storage
 * arguments (ops refuse operands of different dtypes, so the first one found speaks for all).
 */
export function resultDType(args: object): DType {
  if ('dtype' in args) return args.dtype as DType;
  for (const value of Object.values(args)) {
    const first: unknown = Array.isArray(value) ? value[0] : value;
    if (first instanceof Storage) return first.dtype;
  }
  throw new BackendError('resultDType', 'expected kernel arguments with a dtype or a storage, got neither');
}
