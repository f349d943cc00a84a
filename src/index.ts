/**
 * convkit's public API. Ops are functions (`conv2d(x, w)`), layers live under `nn`, optimisers
 * and schedules at the top level, as in `torch`, `torch.nn` and `torch.optim`.
 */
export * from './ops/index.js';
export * as nn from './nn/index.js';
export * from './train/index.js';
export { evaluate, trainEpoch, countCorrect, type EpochResult, type LoopOptions } from './train/loop.js';

export { Tensor, type NestedArray } from './core/tensor.js';
export type { DType, FloatArray } from './core/dtype.js';
export type { Shape } from './core/shape.js';
export { Generator, manualSeed, defaultGenerator } from './core/random.js';
export { noGrad, enableGrad, isGradEnabled } from './core/grad-mode.js';
export { scope, keep } from './core/scope.js';
export { traceOps, type OpEvent, type OpInfo, type SpatialWindow } from './core/trace.js';
export { ConvkitError, ShapeError, DTypeError, BackendError, WeightsError, DataFormatError, ArgumentError } from './core/errors.js';

export { getBackend, setBackend, withBackend, registerBackend, backendNames } from './backend/registry.js';
export type { Backend, Kernels, KernelSpecs, KernelName, Conv2dGeometry, Pool2dGeometry } from './backend/backend.js';

export { batches, batchCount, type ArrayDataset, type Batch, type BatchOptions } from './data/dataset.js';
export { syntheticBars, BAR_CLASSES, type BarsOptions } from './data/synthetic-bars.js';
export { tinyCnn, type TinyCnnOptions } from './models/tiny-cnn.js';
