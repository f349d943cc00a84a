/**
 * Reading a training checkpoint (checkpoint.ts writes it and describes the layout), apart from the
 * writer so that the page can read one it fetched without node:fs.
 */
import { WeightsError } from '../core/errors.js';
import type { GeneratorState } from '../core/random.js';
import type { Tensor } from '../core/tensor.js';
import { readSafetensors, readSafetensorsHeader } from '../io/safetensors.js';
import type { CheckpointContents, TrainingProgress } from './checkpoint.js';
import type { LrSchedulerStateDict } from './lr-scheduler.js';
import type { OptimizerStateDict } from './optimizer-state.js';

export const CHECKPOINT_FORMAT = 'convkit-checkpoint/1';
/** A checkpoint names the model's tensors `model.<state-dict key>`; the rest is optimiser state. */
export const MODEL_KEY_PREFIX = 'model.';
/** The optimiser's state tensors are `optimizer.<parameter index>.<name>`. */
export const OPTIMIZER_KEY_PREFIX = 'optimizer.';

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

function requireFormat(path: string, metadata: Record<string, string>): void {
  if (metadata.format !== CHECKPOINT_FORMAT)
    throw new WeightsError(
      path,
      `not a convkit checkpoint (format ${JSON.stringify(metadata.format ?? null)}, expected ${CHECKPOINT_FORMAT})`,
    );
}

/** The configuration of a checkpoint, from its header alone (no tensor is read). */
export function checkpointConfig<C = unknown>(path: string): C {
  const { metadata } = readSafetensorsHeader(path);
  requireFormat(path, metadata);
  return parseJson(path, metadata, 'config') as C;
}

/**
 * Reads a checkpoint from a file or its bytes (the page fetches them; `name` then names it in
 * errors); throws WeightsError (or DataFormatError for a damaged file).
 */
export function loadCheckpoint<C = unknown>(source: string | Uint8Array, name?: string): LoadedCheckpoint<C> {
  const path = name ?? (typeof source === 'string' ? source : 'checkpoint');
  const { tensors, metadata } = readSafetensors(source, { name: path });
  const all = [...tensors.values()];
  const dispose = (): void => {
    for (const t of all) if (!t.disposed) t.dispose();
  };
  try {
    requireFormat(path, metadata);
    const model = new Map<string, Tensor>();
    const optimizerTensors = new Map<string, Tensor>();
    for (const [key, t] of tensors) {
      if (key.startsWith(MODEL_KEY_PREFIX)) model.set(key.slice(MODEL_KEY_PREFIX.length), t);
      else if (key.startsWith(OPTIMIZER_KEY_PREFIX)) optimizerTensors.set(key.slice(OPTIMIZER_KEY_PREFIX.length), t);
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
