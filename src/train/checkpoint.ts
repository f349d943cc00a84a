/**
 * Training checkpoints as one safetensors file: the model's parameters and buffers under
 * `model.<key>`, the optimiser's state tensors under `optimizer.<parameter index>.<name>`, and in
 * `__metadata__` (strings of JSON) the format tag, the run's configuration, the progress (epoch,
 * step, where an interrupted epoch stands), the generators' states, the optimiser's hyper-parameters
 * and step counts, and the schedule's position. docs/training.md describes the layout.
 *
 * Writing is atomic and durable (a temporary file in the same folder, fsync, rename, fsync of the
 * folder): the path holds the previous checkpoint or the new one, whole, whatever stops the writer.
 */
import { WeightsError } from '../core/errors.js';
import type { GeneratorState } from '../core/random.js';
import type { Tensor } from '../core/tensor.js';
import { readSafetensors, readSafetensorsHeader } from '../io/safetensors.js';
import { type WriteSafetensorsOptions, writeSafetensors } from '../io/safetensors-write.js';
import type { AnyModule } from '../nn/module.js';
import type { LRScheduler, LrSchedulerStateDict } from './lr-scheduler.js';
import type { Optimizer } from './optimizer.js';
import { MODEL_KEY_PREFIX } from './checkpoint-keys.js';
import type { OptimizerStateDict } from './optimizer-state.js';

export { MODEL_KEY_PREFIX };
export const CHECKPOINT_FORMAT = 'convkit-checkpoint/1';

/** Where training stands. */
export interface TrainingProgress {
  /** Epochs finished. */
  epoch: number;
  /** Optimiser steps taken in all. */
  step: number;
  /**
   * Set when the run stopped inside epoch `epoch + 1`: the batches it had done, their sums, and
   * the data-order and augmentation generators' states at that epoch's start (the order and the
   * epoch's augmentation seed are drawn again from them; checkpoints from before the loader have
   * no augmentationState).
   */
  partial?: {
    batches: number;
    lossSum: number;
    correct: number;
    samples: number;
    seconds: number;
    orderState: GeneratorState;
    augmentationState?: GeneratorState;
  };
}

export interface CheckpointContents<C = unknown> {
  config: C;
  progress: TrainingProgress;
  /** Named generator states (data order, augmentation, the default generator). */
  generators: Record<string, GeneratorState>;
}

export interface SaveCheckpointOptions extends WriteSafetensorsOptions {}

/** Writes model, optimiser, schedule and `contents` to `path` atomically and durably. */
export function saveCheckpoint<C>(
  path: string,
  model: AnyModule,
  optimizer: Optimizer,
  schedule: LRScheduler,
  contents: CheckpointContents<C>,
  opts: SaveCheckpointOptions = {},
): void {
  const tensors = new Map<string, Tensor>();
  for (const [key, t] of model.stateDict()) tensors.set(`${MODEL_KEY_PREFIX}${key}`, t);
  const optimizerState = optimizer.stateDict();
  for (const [key, t] of optimizerState.tensors) tensors.set(`optimizer.${key}`, t);
  const { tensors: _copies, ...optimizerJson } = optimizerState;
  const metadata = {
    format: CHECKPOINT_FORMAT,
    config: JSON.stringify(contents.config),
    progress: JSON.stringify(contents.progress),
    generators: JSON.stringify(contents.generators),
    optimizer: JSON.stringify(optimizerJson),
    schedule: JSON.stringify(schedule.stateDict()),
  };
  try {
    writeSafetensors(path, tensors, metadata, { durable: true, ...opts });
  } finally {
    for (const t of optimizerState.tensors.values()) t.dispose();
  }
}

export interface LoadedCheckpoint<C = unknown> extends CheckpointContents<C> {
  /** The model's state dict (keys without the `model.` prefix). */
  model: Map<string, Tensor>;
  optimizer: OptimizerStateDict;
  schedule: LrSchedulerStateDict;
  /** Frees the tensors read (after they were loaded into a model and optimiser). */
  dispose(): void;
}

function parseJson(path: string, metadata: Record<string, string>, key: string): unknown {
  const text = metadata[key];
  if (text === undefined) throw new WeightsError(path, `not a convkit checkpoint: its metadata has no '${key}'`);
  try {
    return JSON.parse(text);
  } catch {
    throw new WeightsError(path, `the checkpoint's '${key}' metadata is not JSON`);
  }
}

/** The configuration of a checkpoint, from its header alone (no tensor is read). */
export function checkpointConfig<C = unknown>(path: string): C {
  const { metadata } = readSafetensorsHeader(path);
  if (metadata.format !== CHECKPOINT_FORMAT)
    throw new WeightsError(
      path,
      `not a convkit checkpoint (format ${JSON.stringify(metadata.format ?? null)}, expected ${CHECKPOINT_FORMAT})`,
    );
  return parseJson(path, metadata, 'config') as C;
}

/** Reads a checkpoint; throws WeightsError (or DataFormatError for a damaged file). */
export function loadCheckpoint<C = unknown>(path: string): LoadedCheckpoint<C> {
  const { tensors, metadata } = readSafetensors(path);
  const all = [...tensors.values()];
  const dispose = (): void => {
    for (const t of all) if (!t.disposed) t.dispose();
  };
  try {
    if (metadata.format !== CHECKPOINT_FORMAT)
      throw new WeightsError(
        path,
        `not a convkit checkpoint (format ${JSON.stringify(metadata.format ?? null)}, expected ${CHECKPOINT_FORMAT})`,
      );
    const model = new Map<string, Tensor>();
    const optimizerTensors = new Map<string, Tensor>();
    for (const [key, t] of tensors) {
      if (key.startsWith(MODEL_KEY_PREFIX)) model.set(key.slice(MODEL_KEY_PREFIX.length), t);
      else if (key.startsWith('optimizer.')) optimizerTensors.set(key.slice('optimizer.'.length), t);
      else throw new WeightsError(path, `unexpected tensor '${key}' (expected model.* and optimizer.*)`);
    }
    const optimizer = parseJson(path, metadata, 'optimizer') as Omit<OptimizerStateDict, 'tensors'>;
    return {
      config: parseJson(path, metadata, 'config') as C,
      progress: parseJson(path, metadata, 'progress') as TrainingProgress,
      generators: parseJson(path, metadata, 'generators') as Record<string, GeneratorState>,
      schedule: parseJson(path, metadata, 'schedule') as LrSchedulerStateDict,
      optimizer: { ...optimizer, tensors: optimizerTensors },
      model,
      dispose,
    };
  } catch (err) {
    dispose();
    throw err;
  }
}
