/**
 * The reference backend: every kernel in plain TypeScript over typed arrays, float32 and float64.
 * It is the executable specification the other backends are tested against.
 */
import { allocFloat, type DType, type FloatArray } from '../../core/dtype.js';
import type { Shape } from '../../core/shape.js';
import type { Storage } from '../../core/storage.js';
import type { Backend, Kernels } from '../backend.js';
import { conv2d, conv2dBackwardData, conv2dBackwardWeight } from './conv.js';
import { activationBackward, binary, cast, dropoutMask, expand, fill, scalar, unary } from './elementwise.js';
import { concat, pad, permute, slice } from './layout.js';
import { nllLoss, nllLossBackward } from './loss.js';
import { linear, matmul } from './matmul.js';
import {
  batchNormBackward,
  batchNormInfer,
  batchNormTrain,
  concatBatchNormInfer,
  localResponseNorm,
  localResponseNormBackward,
} from './norm.js';
import { adamStep, sgdStep } from './optim.js';
import {
  adaptiveAvgPool2d,
  adaptiveAvgPool2dBackward,
  avgPool2d,
  avgPool2dBackward,
  maxPool2d,
  maxPool2dBackward,
} from './pool.js';
import { argmax, reduce, softmax, softmaxBackward } from './reduce.js';
import { data, RefStorage } from './storage.js';

const kernels: Kernels = {
  fill,
  cast,
  unary,
  scalar,
  binary,
  activationBackward,
  reduce,
  argmax,
  expand,
  permute,
  slice,
  pad,
  concat,
  matmul,
  linear,
  conv2d,
  conv2dBackwardData,
  conv2dBackwardWeight,
  maxPool2d,
  maxPool2dBackward,
  avgPool2d,
  avgPool2dBackward,
  adaptiveAvgPool2d,
  adaptiveAvgPool2dBackward,
  batchNormTrain,
  batchNormInfer,
  concatBatchNormInfer,
  batchNormBackward,
  localResponseNorm,
  localResponseNormBackward,
  dropoutMask,
  softmax,
  softmaxBackward,
  nllLoss,
  nllLossBackward,
  sgdStep,
  adamStep,
};

export const refBackend: Backend = {
  name: 'ref',
  hasData: true,
  write(values: FloatArray, dtype: DType): Storage {
    const copy = allocFloat(dtype, values.length);
    copy.set(values);
    return new RefStorage(copy);
  },
  read(storage: Storage, _shape: Shape): FloatArray {
    return data(storage).slice();
  },
  kernels,
};
