/**
 * convkit's public API. Ops are functions (`conv2d(x, w)`), layers live under `nn`, optimisers
 * and schedules at the top level, as in `torch`, `torch.nn` and `torch.optim`.
 */
export * from './ops/index.js';
export * as nn from './nn/index.js';
export * from './train/index.js';
export { evaluate, trainEpoch, countCorrect, type EpochResult, type LoopOptions } from './train/loop.js';
export {
  recordTrainingStep,
  stepOpByOp,
  type RecordedTrainingStep,
  type RecordStepOptions,
  type StepResult,
} from './train/record-step.js';

export { Tensor, type NestedArray } from './core/tensor.js';
export type { DType, FloatArray } from './core/dtype.js';
export type { Shape } from './core/shape.js';
export { Generator, manualSeed, defaultGenerator } from './core/random.js';
export { noGrad, enableGrad, isGradEnabled } from './core/grad-mode.js';
export { scope, keep } from './core/scope.js';
export { traceOps, type OpAttributes, type OpEvent, type OpInfo, type SpatialWindow } from './core/trace.js';
export {
  ConvkitError,
  ShapeError,
  DTypeError,
  BackendError,
  WeightsError,
  DataFormatError,
  ArgumentError,
} from './core/errors.js';

export {
  getBackend,
  setBackend,
  withBackend,
  registerBackend,
  backendNames,
  setThreads,
  getThreads,
  synchronize,
  nativeUnavailable,
} from './backend/registry.js';
export { nativeFallbacks } from './backend/native/index.js';
export { ConfigError, settings, type Settings } from './core/config.js';
export type { Backend, Kernels, KernelSpecs, KernelName, Conv2dGeometry, Pool2dGeometry } from './backend/backend.js';

export { batches, batchCount, type ArrayDataset, type Batch, type BatchOptions } from './data/dataset.js';
export { syntheticBars, BAR_CLASSES, type BarsOptions } from './data/synthetic-bars.js';
export { tinyCnn, type TinyCnnOptions } from './models/tiny-cnn.js';

export {
  MODELS,
  getModel,
  buildModel,
  modelNames,
  type ModelEntry,
  type BuildOptions,
  type Family,
  type Layout,
  type PublishedNumbers,
} from './models/registry.js';
export { alexnet, alexnetPaper, AlexNet, type AlexNetOptions } from './models/alexnet.js';
export { vgg, VGG, VGG_CONFIGS, type VggOptions, type VggConfigName } from './models/vgg.js';
export {
  googlenet,
  googlenetPaper,
  GoogLeNet,
  type GoogLeNetOptions,
  type GoogLeNetOutputs,
} from './models/googlenet.js';
export { resnet, type ResNetOptions } from './models/resnet.js';
export { resnetCifar, type CifarResNetOptions } from './models/resnet-cifar.js';
export { densenet, densenetBcCifar, DenseNet, type DenseNetOptions } from './models/densenet.js';
export * as analysis from './analysis/index.js';

export { readIdx, parseIdx, loadIdxDataset, idxFileNames, MNIST_CLASSES } from './data/idx.js';
export type { IdxFile, IdxDType, IdxData, IdxSplit, IdxDatasetOptions } from './data/idx.js';
export { loadFashionMnist, FASHION_MNIST_CLASSES, FASHION_MNIST_DIR } from './data/fashion-mnist.js';
export {
  loadCifar10,
  loadCifar100,
  CIFAR10_CLASSES,
  CIFAR100_FINE_CLASSES,
  CIFAR100_COARSE_CLASSES,
  type CifarSplit,
  type Cifar100Options,
} from './data/cifar.js';
export {
  listImageFolder,
  loadImageFolder,
  decodeFileDataset,
  IMAGE_EXTENSIONS,
  type FileDataset,
  type ImageFolderOptions,
} from './data/image-folder.js';
export { decodeImage } from './data/image-file.js';
export { DataLoader, defaultWorkers, type LoaderOptions, type EpochOptions } from './data/loader.js';
export * as transforms from './data/transforms.js';
export { resize } from './data/resize.js';
export { pcaLighting, rgbPca, type RgbPca } from './data/pca-lighting.js';
export { transformFromSpec } from './data/transform-spec.js';
export * from './io/index.js';
