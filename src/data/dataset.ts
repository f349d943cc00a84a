/** In-memory datasets as plain arrays, and a loader that cuts them into shuffled batches. */
import { ArgumentError, ShapeError } from '../core/errors.js';
import { defaultGenerator, type Generator } from '../core/random.js';
import { formatShape, sizeOf, type Shape } from '../core/shape.js';
import type { Tensor } from '../core/tensor.js';
import { fromArray } from '../ops/creation.js';

/** Samples stored back to back: `inputs` holds count x sampleShape values, `labels` one class each. */
export interface ArrayDataset {
  inputs: Float32Array;
  sampleShape: Shape;
  labels: Int32Array;
  classes: readonly string[];
}

export function checkDataset(name: string, d: ArrayDataset): void {
  const per = sizeOf(d.sampleShape);
  if (per === 0 || d.inputs.length !== per * d.labels.length) {
    throw new ShapeError(
      name,
      `${d.inputs.length} input values do not make ${d.labels.length} samples of shape ${formatShape(d.sampleShape)}`,
    );
  }
  const bad = d.labels.findIndex((l) => l < 0 || l >= d.classes.length);
  if (bad >= 0)
    throw new ArgumentError(name, `label ${d.labels[bad]} of sample ${bad} is outside 0..${d.classes.length - 1}`);
}

export interface Batch {
  inputs: Tensor;
  labels: Int32Array;
}

export interface BatchOptions {
  batchSize: number;
  shuffle?: boolean;
  /** Keep a last batch smaller than batchSize (default true). */
  keepLast?: boolean;
  generator?: Generator;
  /** Leave out the first `skip` batches of the order (a resumed epoch); the order is drawn all the same. */
  skip?: number;
  /** Changes each batch's values before they become a tensor (augmentation, normalisation). */
  transform?: BatchTransform;
}

/** Takes `count` samples of shape `shape` back to back; returns the new values and sample shape. */
export type BatchTransform = (
  values: Float32Array,
  count: number,
  shape: Shape,
) => { values: Float32Array; shape: Shape };

/** 0..count-1, shuffled by Fisher-Yates with `generator` when asked (count - 1 draws). */
export function sampleOrder(count: number, shuffle: boolean, generator: Generator): Int32Array {
  const order = Int32Array.from({ length: count }, (_, i) => i);
  if (shuffle) {
    for (let i = count - 1; i > 0; i--) {
      const j = generator.int(i + 1);
      [order[i], order[j]] = [order[j], order[i]];
    }
  }
  return order;
}

/** Batches of a dataset for one epoch, in a fresh random order when shuffling. */
export function* batches(d: ArrayDataset, opts: BatchOptions): IterableIterator<Batch> {
  const { batchSize, shuffle = false, keepLast = true, generator = defaultGenerator } = opts;
  if (!Number.isInteger(batchSize) || batchSize < 1)
    throw new ArgumentError('batches', `batchSize must be a positive integer, got ${batchSize}`);
  const count = d.labels.length;
  const order = sampleOrder(count, shuffle, generator);
  const per = sizeOf(d.sampleShape);
  for (let start = (opts.skip ?? 0) * batchSize; start < count; start += batchSize) {
    const n = Math.min(batchSize, count - start);
    if (n < batchSize && !keepLast) return;
    const values = new Float32Array(n * per);
    const labels = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      const s = order[start + i];
      values.set(d.inputs.subarray(s * per, (s + 1) * per), i * per);
      labels[i] = d.labels[s];
    }
    if (opts.transform) {
      const t = opts.transform(values, n, d.sampleShape);
      yield { inputs: fromArray(t.values, [n, ...t.shape]), labels };
    } else {
      yield { inputs: fromArray(values, [n, ...d.sampleShape]), labels };
    }
  }
}

/** Number of batches in one epoch. */
export function batchCount(d: ArrayDataset, batchSize: number, keepLast = true): number {
  return keepLast ? Math.ceil(d.labels.length / batchSize) : Math.floor(d.labels.length / batchSize);
}
