/**
 * The body of a DataLoader worker thread (started by worker-pool.ts): builds the transform from its
 * spec once, then answers each job (sample indices and a seed) with the prepared batch, whose
 * buffer is transferred, not copied; an error goes back as data (batch-prepare.ts: sendableError).
 */
import { parentPort, workerData } from 'node:worker_threads';
import { prepareBatch, type SampleSource, sendableError } from './batch-prepare.js';
import { transformFromSpec } from './transform-spec.js';
import type { TransformSpec } from './transforms.js';

export interface WorkerInit {
  source: SampleSource;
  transform: TransformSpec | null;
}

export interface WorkerJob {
  id: number;
  indices: Int32Array;
  seed: number;
}

const port = parentPort;
if (port === null) throw new Error('loader-worker.ts runs only as a worker thread');
const init = workerData as WorkerInit;
const transform = init.transform ? transformFromSpec(init.transform) : undefined;

port.on('message', (job: WorkerJob) => {
  prepareBatch(init.source, job.indices, job.seed, transform).then(
    (batch) =>
      port.postMessage({ id: job.id, values: batch.values, shape: batch.shape }, [batch.values.buffer as ArrayBuffer]),
    (err: unknown) => port.postMessage({ id: job.id, error: sendableError(err, job.indices) }),
  );
});
