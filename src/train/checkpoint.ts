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
import type { GeneratorState } from '../core/random.js';
import type { Tensor } from '../core/tensor.js';
import { type WriteSafetensorsOptions, writeSafetensors } from '../io/safetensors-write.js';
import type { AnyModule } from '../nn/module.js';
import type { LRScheduler } from './lr-scheduler.js';
import type { Optimizer } from './optimizer.js';
import { CHECKPOINT_FORMAT, MODEL_KEY_PREFIX, OPTIMIZER_KEY_PREFIX } from './checkpoint-read.js';

export {
  CHECKPOINT_FORMAT,
  checkpointConfig,
  loadCheckpoint,
  type LoadedCheckpoint,
  MODEL_KEY_PREFIX,
} from './checkpoint-read.js';

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
  for (const [key, t] of optimizerState.tensors) tensors.set(`${OPTIMIZER_KEY_PREFIX}${key}`, t);
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
