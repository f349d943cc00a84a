/** Optimisers and learning-rate schedules (the training loop, losses and checkpoints add theirs). */
export { HyperReader, type Fail, type HyperValue, type Range } from './hyper.js';
export {
  Optimizer,
  type BaseHyper,
  type ParamGroup,
  type ParamGroupInput,
  type ParamsInput,
  type ParamState,
  type ZeroGradOptions,
} from './optimizer.js';
export type { OptimizerStateDict, SavedParamGroup } from './optimizer-state.js';
export { SGD, type SgdHyper, type SgdOptions } from './sgd.js';
export { Adam, AdamW, type AdamHyper, type AdamOptions } from './adam.js';
export { LRScheduler, type LrCurve, type LrSchedulerStateDict, type LrTarget } from './lr-scheduler.js';
export {
  CosineAnnealingLR,
  LinearLR,
  MultiStepLR,
  StepLR,
  type CosineAnnealingLROptions,
  type LinearLROptions,
  type MultiStepLROptions,
  type StepLROptions,
} from './schedules.js';
export { SequentialLR, warmupCosine, type WarmupCosineOptions } from './sequential-lr.js';
