/**
 * The shape-only backend: storages remember dtype and size but hold no values, so a whole network
 * can be traced (shapes, costs, memory) without allocating a byte of activations. Analysis runs
 * models here; reading values is an error.
 */
import type { DType } from '../../core/dtype.js';
import { BackendError } from '../../core/errors.js';
import { sizeOf } from '../../core/shape.js';
import { Storage } from '../../core/storage.js';
import type { Backend, Kernels } from '../backend.js';

export class MetaStorage extends Storage {
  readonly backendName = 'meta';
  constructor(
    readonly dtype: DType,
    readonly size: number,
  ) {
    super();
  }
  protected free(): void {}
}

const like = (s: Storage, size = s.size): MetaStorage => new MetaStorage(s.dtype, size);
const inPlace = (): void => {};

const kernels: Kernels = {
  fill: ({ size, dtype }) => new MetaStorage(dtype, size),
  cast: ({ x, dtype }) => new MetaStorage(dtype, x.size),
  unary: ({ x }) => like(x),
  scalar: ({ x }) => like(x),
  binary: ({ a, outShape }) => like(a, sizeOf(outShape)),
  activationBackward: ({ gy }) => like(gy),
  reduce: ({ x, shape, axes }) => like(x, sizeOf(shape.filter((_, i) => !axes.includes(i)))),
  argmax: ({ x, layout }) => like(x, layout.outer * layout.inner),
  expand: ({ x, outShape }) => like(x, sizeOf(outShape)),
  permute: ({ x }) => like(x),
  slice: ({ x, size }) => like(x, sizeOf(size)),
  pad: ({ x, shape, pads }) => like(x, sizeOf(shape.map((d, i) => d + pads[i][0] + pads[i][1]))),
  concat: ({ xs }) =>
    like(
      xs[0],
      xs.reduce((acc, s) => acc + s.size, 0),
    ),
  matmul: ({ a, batch, m, n }) => like(a, batch * m * n),
  linear: ({ x, rows, outF }) => like(x, rows * outF),
  conv2d: ({ x, geometry: g }) => like(x, g.batch * g.outChannels * g.outH * g.outW),
  conv2dBackwardData: ({ gy, geometry: g }) => like(gy, g.batch * g.inChannels * g.inH * g.inW),
  conv2dBackwardWeight: ({ gy, geometry: g, withBias }) => ({
    weight: like(gy, g.outChannels * (g.inChannels / g.groups) * g.kernelH * g.kernelW),
    bias: withBias ? like(gy, g.outChannels) : null,
  }),
  maxPool2d: ({ x, geometry: g }) => {
    const size = g.batch * g.channels * g.outH * g.outW;
    return { y: like(x, size), workspace: like(x, size) };
  },
  maxPool2dBackward: ({ gy, geometry: g }) => like(gy, g.batch * g.channels * g.inH * g.inW),
  avgPool2d: ({ x, geometry: g }) => like(x, g.batch * g.channels * g.outH * g.outW),
  avgPool2dBackward: ({ gy, geometry: g }) => like(gy, g.batch * g.channels * g.inH * g.inW),
  adaptiveAvgPool2d: ({ x, batch, channels, outH, outW }) => like(x, batch * channels * outH * outW),
  adaptiveAvgPool2dBackward: ({ gy, batch, channels, inH, inW }) => like(gy, batch * channels * inH * inW),
  batchNormTrain: ({ x, layout, relu }) => ({
    y: like(x),
    mean: like(x, layout.channels),
    invStd: like(x, layout.channels),
    variance: like(x, layout.channels),
    reluMask: relu ? like(x) : null,
  }),
  batchNormInfer: ({ x }) => like(x),
  concatBatchNormInfer: ({ xs }) =>
    like(
      xs[0],
      xs.reduce((n, x) => n + x.size, 0),
    ),
  batchNormBackward: ({ gy, layout, withAffine }) => ({
    x: like(gy),
    weight: withAffine ? like(gy, layout.channels) : null,
    bias: withAffine ? like(gy, layout.channels) : null,
  }),
  localResponseNorm: ({ x }) => ({ y: like(x), scale: like(x) }),
  localResponseNormBackward: ({ gy }) => like(gy),
  dropoutMask: ({ size, dtype }) => new MetaStorage(dtype, size),
  softmax: ({ x }) => like(x),
  softmaxBackward: ({ gy }) => like(gy),
  nllLoss: ({ logp, n, reduction }) => like(logp, reduction === 'none' ? n : 1),
  nllLossBackward: ({ n, c, dtype }) => new MetaStorage(dtype, n * c),
  sgdStep: inPlace,
  adamStep: inPlace,
};

export const metaBackend: Backend = {
  name: 'meta',
  hasData: false,
  write: (values, dtype) => new MetaStorage(dtype, values.length),
  read: () => {
    throw new BackendError(
      'meta',
      'meta tensors have shapes but no values; run on the ref or native backend to read them',
    );
  },
  kernels,
};
