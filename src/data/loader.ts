/**
 * DataLoader: seeded shuffling and batching that prepares the next batches (decode, augment,
 * normalise) ahead of time, in worker threads when asked, so a training step need not wait for
 * data. Batches are the same byte for byte for any number of workers:
 *
 * - the order of an epoch is drawn on the calling thread from `order` (the same Fisher-Yates
 *   draws as `batches()`), and one 32-bit augmentation seed from `augmentation`;
 * - batch b's transform draws from a generator seeded by (that seed, b) alone, so it does not
 *   matter which thread makes it or in what order batches finish; they are handed out in order.
 *
 * Samples in memory are shared with the workers through one SharedArrayBuffer (copied there once
 * when they are not in one already); image files are decoded where the batch is made.
 */
import { availableParallelism } from 'node:os';
import { ArgumentError } from '../core/errors.js';
import { defaultGenerator, type Generator } from '../core/random.js';
import { fromArray } from '../ops/creation.js';
import { batchSeed, type PreparedBatch, prepareBatch, type SampleSource } from './batch-prepare.js';
import { type ArrayDataset, type Batch, sampleOrder } from './dataset.js';
import type { FileDataset } from './image-folder.js';
import { specOf } from './transform-spec.js';
import { asImageShape, type Transform } from './transforms.js';
import { WorkerPool } from './worker-pool.js';

export interface LoaderOptions {
  batchSize: number;
  /** A fresh random order each epoch (default false). */
  shuffle?: boolean;
  /** Keep a last batch smaller than batchSize (default true). */
  keepLast?: boolean;
  /** Applied to each batch (augmentation, normalisation); it must carry a spec when workers > 0. */
  transform?: Transform;
  /** Worker threads preparing batches; 0 prepares them on the calling thread (default 0). */
  workers?: number;
  /** Batches prepared ahead of the one being used (default 2 per worker, at least 1). */
  prefetch?: number;
}

export interface EpochOptions {
  /** Draws the order when shuffling (default: the default generator). */
  order?: Generator;
  /** Gives the epoch's augmentation seed: one nextUint32() per epoch (default: the default generator). */
  augmentation?: Generator;
  /** Leave out the first `skip` batches (a resumed epoch); the order and seed are drawn all the same. */
  skip?: number;
}

/** Worker threads for a machine: one per core beyond the first, at least 1, at most 4 (1 on 2 cores). */
export function defaultWorkers(cores: number = availableParallelism()): number {
  return Math.max(1, Math.min(4, cores - 1));
}

function isFileDataset(d: ArrayDataset | FileDataset): d is FileDataset {
  return 'files' in d;
}

/** Samples in memory as a SharedArrayBuffer view (workers read them without a copy each). */
function shared(inputs: Float32Array): Float32Array {
  if (inputs.buffer instanceof SharedArrayBuffer) return inputs;
  const out = new Float32Array(new SharedArrayBuffer(inputs.byteLength));
  out.set(inputs);
  return out;
}

export class DataLoader {
  readonly batchSize: number;
  readonly shuffle: boolean;
  readonly keepLast: boolean;
  readonly workers: number;
  readonly transform: Transform | undefined;
  /** Samples per epoch. */
  readonly size: number;
  private readonly source: SampleSource;
  private readonly labels: Int32Array;
  private readonly prefetch: number;
  private pool: WorkerPool | null = null;

  constructor(data: ArrayDataset | FileDataset, opts: LoaderOptions) {
    const { batchSize, workers = 0 } = opts;
    if (!Number.isInteger(batchSize) || batchSize < 1)
      throw new ArgumentError('DataLoader', `batchSize must be a positive integer, got ${batchSize}`);
    if (!Number.isInteger(workers) || workers < 0 || workers > 256)
      throw new ArgumentError('DataLoader', `workers must be an integer in 0..256, got ${workers}`);
    const prefetch = opts.prefetch ?? Math.max(1, 2 * workers);
    if (!Number.isInteger(prefetch) || prefetch < 1)
      throw new ArgumentError('DataLoader', `prefetch must be a positive integer, got ${prefetch}`);
    this.batchSize = batchSize;
    this.shuffle = opts.shuffle ?? false;
    this.keepLast = opts.keepLast ?? true;
    this.workers = workers;
    this.prefetch = prefetch;
    this.transform = opts.transform;
    this.labels = data.labels;
    this.size = data.labels.length;
    const sampleShape = asImageShape(data.sampleShape);
    opts.transform?.outShape(sampleShape);
    if (isFileDataset(data)) {
      if (data.files.length !== data.labels.length)
        throw new ArgumentError('DataLoader', `${data.files.length} files but ${data.labels.length} labels`);
      this.source = { kind: 'files', files: data.files, sampleShape };
    } else {
      const per = sampleShape[0] * sampleShape[1] * sampleShape[2];
      if (data.inputs.length !== per * data.labels.length)
        throw new ArgumentError('DataLoader', `${data.inputs.length} values do not make ${data.labels.length} samples`);
      this.source = { kind: 'arrays', inputs: workers > 0 ? shared(data.inputs) : data.inputs, sampleShape };
    }
    if (workers > 0) {
      const transform = opts.transform ? specOf(opts.transform) : null;
      this.pool = new WorkerPool(workers, { source: this.source, transform });
    }
  }

  /** Batches per epoch. */
  get length(): number {
    return this.keepLast ? Math.ceil(this.size / this.batchSize) : Math.floor(this.size / this.batchSize);
  }

  /** The batches of one epoch, in order; breaking out of the loop drops the batches prepared ahead. */
  async *epoch(opts: EpochOptions = {}): AsyncGenerator<Batch, void, undefined> {
    const order = sampleOrder(this.size, this.shuffle, opts.order ?? defaultGenerator);
    const epochSeed = (opts.augmentation ?? defaultGenerator).nextUint32();
    const total = this.length;
    let next = opts.skip ?? 0;
    const ahead: { labels: Int32Array; batch: Promise<PreparedBatch> }[] = [];
    const fill = (): void => {
      while (ahead.length < this.prefetch && next < total) {
        const indices = order.slice(next * this.batchSize, Math.min((next + 1) * this.batchSize, this.size));
        const seed = batchSeed(epochSeed, next);
        const batch = this.pool
          ? this.pool.run(indices, seed)
          : prepareBatch(this.source, indices, seed, this.transform);
        ahead.push({ labels: indices.map((s) => this.labels[s]), batch });
        next++;
      }
    };
    try {
      fill();
      for (let item = ahead.shift(); item !== undefined; item = ahead.shift()) {
        const { values, shape } = await item.batch;
        // Ask for the following batches before handing this one out, so they are made during the step.
        fill();
        yield { inputs: fromArray(values, [item.labels.length, ...shape]), labels: item.labels };
      }
    } finally {
      // Batches prepared for nobody: their results (or errors) are dropped.
      for (const item of ahead) item.batch.catch(() => undefined);
    }
  }

  /** Ends the worker threads (idle workers never keep the process alive, but close frees them now). */
  async close(): Promise<void> {
    await this.pool?.close();
    this.pool = null;
  }
}
