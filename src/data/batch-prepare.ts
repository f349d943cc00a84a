/**
 * What a loader does to make one batch, the same on the main thread and in a worker thread: gather
 * (or decode) the samples, then apply the transform with a generator seeded for this batch alone.
 * The result depends only on the data, the sample indices and the seed, so batches are the same
 * byte for byte whichever thread makes them. Imports nothing that starts a backend (workers stay
 * light).
 */
import { ConvkitError } from '../core/errors.js';
import { Generator } from '../core/random.js';
import { decodeImage } from './image-file.js';
import type { ImageShape, Transform } from './transforms.js';

/** Where samples come from: values in memory (shared with workers), or image files to decode. */
export type SampleSource =
  | { kind: 'arrays'; inputs: Float32Array; sampleShape: ImageShape }
  | { kind: 'files'; files: readonly string[]; sampleShape: ImageShape };

export interface PreparedBatch {
  values: Float32Array;
  shape: ImageShape;
}

/** The seed of batch `index` of an epoch whose augmentation seed is `epochSeed` (Generator.seed mixes it). */
export function batchSeed(epochSeed: number, index: number): number {
  return (epochSeed + Math.imul(index, 0x9e3779b9)) >>> 0;
}

export async function prepareBatch(
  source: SampleSource,
  indices: Int32Array,
  seed: number,
  transform: Transform | undefined,
): Promise<PreparedBatch> {
  const shape = source.sampleShape;
  const per = shape[0] * shape[1] * shape[2];
  const values = new Float32Array(indices.length * per);
  if (source.kind === 'arrays') {
    indices.forEach((s, i) => {
      values.set(source.inputs.subarray(s * per, (s + 1) * per), i * per);
    });
  } else {
    const decoded = await Promise.all(Array.from(indices, (s) => decodeImage(source.files[s], shape)));
    decoded.forEach((d, i) => {
      values.set(d, i * per);
    });
  }
  if (!transform) return { values, shape };
  return {
    values: transform.apply(values, indices.length, shape, new Generator(seed)),
    shape: transform.outShape(shape),
  };
}

/** An error as a worker sends it: enough to throw the same convkit error class on the main thread. */
export interface SentError {
  name: string;
  where: string;
  detail: string;
}

const MAX_LISTED = 8;

/** The samples of a batch in words, for errors: `samples 3, 17, 5 (of 128)`. */
export function describeSamples(indices: Int32Array): string {
  const shown = Array.from(indices.subarray(0, MAX_LISTED)).join(', ');
  return `sample${indices.length > 1 ? 's' : ''} ${shown}${indices.length > MAX_LISTED ? `, ... (${indices.length} in the batch)` : ''}`;
}

/** A convkit error keeps its class, place and words; anything else becomes a loader error naming the samples. */
export function sendableError(err: unknown, indices: Int32Array): SentError {
  if (err instanceof ConvkitError) {
    const prefix = `${err.path ? `${err.where} (${err.path})` : err.where}: `;
    const detail = err.message.startsWith(prefix) ? err.message.slice(prefix.length) : err.message;
    return { name: err.name, where: err.where, detail };
  }
  const what = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
  return { name: 'ConvkitError', where: 'loader', detail: `preparing ${describeSamples(indices)} failed: ${what}` };
}
