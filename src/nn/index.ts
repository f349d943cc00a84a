/** Layers and modules, after torch.nn. */
export * from './activation.js';
export * from './batch-norm2d.js';
export * from './blocks.js';
export * from './containers.js';
export * from './conv2d.js';
export * from './dropout.js';
export * from './flatten.js';
export {
  countFusedGroups,
  describeFusion,
  fuse,
  fusedGroups,
  inferenceFusionEnabled,
  setInferenceFusion,
  setTrainingFusion,
  trainingFusionEnabled,
  unfuse,
  type Fusable,
  type FusedGroup,
  type FusedKind,
  type FuseOptions,
  type FusionMode,
  type FusionPattern,
  type FusionStep,
} from './fuse.js';
export * as init from './init.js';
export * from './linear.js';
export * from './local-response-norm.js';
export * from './module.js';
export * from './parameter.js';
export * from './pooling.js';
export { prepare } from './prepare.js';
export { type RecordedInference, type RecordOptions, recordInference } from './record.js';
export * from './state-dict.js';
