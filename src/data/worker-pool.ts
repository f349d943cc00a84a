/**
 * The worker threads of a DataLoader. Each runs loader-worker.ts; a job goes to the worker with the
 * fewest jobs waiting. A worker keeps the process alive only while it has jobs (ref/unref), so a
 * loader that is never closed cannot keep Node from exiting; `close()` ends them. An error inside
 * a worker comes back as the same convkit error class; a worker that dies fails its jobs with an
 * error naming their samples, and the pool refuses further work.
 */
import { Worker } from 'node:worker_threads';
import { ArgumentError, ConvkitError, DataFormatError, DTypeError, ShapeError } from '../core/errors.js';
import { describeSamples, type PreparedBatch, type SentError } from './batch-prepare.js';
import type { WorkerInit, WorkerJob } from './loader-worker.js';

interface Pending {
  indices: Int32Array;
  resolve: (batch: PreparedBatch) => void;
  reject: (err: Error) => void;
}

interface Slot {
  worker: Worker;
  pending: Map<number, Pending>;
}

type Reply = { id: number; values: Float32Array; shape: PreparedBatch['shape'] } | { id: number; error: SentError };

const CLASSES: Record<string, new (where: string, detail: string, path?: string) => ConvkitError> = {
  ArgumentError,
  DataFormatError,
  DTypeError,
  ShapeError,
};

function rebuild(e: SentError): ConvkitError {
  return new (CLASSES[e.name] ?? ConvkitError)(e.where, e.detail, undefined);
}

/**
 * Starts loader-worker.ts: the compiled .js next to this file, or the .ts source through tsx when
 * convkit runs from its sources (the worker registers tsx itself, so this works however the main
 * thread loaded tsx).
 */
function startWorker(init: WorkerInit): Worker {
  const fromSource = import.meta.url.endsWith('.ts');
  const url = new URL(`./loader-worker.${fromSource ? 'ts' : 'js'}`, import.meta.url);
  if (!fromSource) return new Worker(url, { workerData: init });
  const tsx = import.meta.resolve('tsx/esm/api');
  const boot = `import(${JSON.stringify(tsx)}).then((m) => { m.register(); return import(${JSON.stringify(url.href)}); })`;
  return new Worker(boot, { eval: true, workerData: init });
}

export class WorkerPool {
  private readonly slots: Slot[] = [];
  private nextId = 0;
  private broken: ConvkitError | null = null;
  private closed = false;

  constructor(count: number, init: WorkerInit) {
    for (let k = 0; k < count; k++) {
      const slot: Slot = { worker: startWorker(init), pending: new Map() };
      slot.worker.unref();
      slot.worker.on('message', (reply: Reply) => this.receive(slot, reply));
      slot.worker.on('error', (err) =>
        this.fail(slot, k, `failed: ${err instanceof Error ? err.message : String(err)}`),
      );
      slot.worker.on('exit', (code) => {
        if (!this.closed) this.fail(slot, k, `stopped (exit code ${code})`);
      });
      this.slots.push(slot);
    }
  }

  /** Prepares the batch of `indices` in a worker, with the transform's generator seeded by `seed`. */
  run(indices: Int32Array, seed: number): Promise<PreparedBatch> {
    if (this.closed) return Promise.reject(new ConvkitError('loader', 'the loader is closed'));
    if (this.broken) return Promise.reject(this.broken);
    const slot = this.slots.reduce((best, s) => (s.pending.size < best.pending.size ? s : best));
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      if (slot.pending.size === 0) slot.worker.ref();
      slot.pending.set(id, { indices, resolve, reject });
      const job: WorkerJob = { id, indices, seed };
      slot.worker.postMessage(job);
    });
  }

  private settle(slot: Slot, id: number): Pending | undefined {
    const p = slot.pending.get(id);
    slot.pending.delete(id);
    if (slot.pending.size === 0) slot.worker.unref();
    return p;
  }

  private receive(slot: Slot, reply: Reply): void {
    const p = this.settle(slot, reply.id);
    if (!p) return;
    if ('error' in reply) p.reject(rebuild(reply.error));
    else p.resolve({ values: reply.values, shape: reply.shape });
  }

  private fail(slot: Slot, index: number, what: string): void {
    const jobs = [...slot.pending.entries()];
    const samples = jobs.map(([, p]) => describeSamples(p.indices)).join('; ');
    this.broken ??= new ConvkitError('loader', `worker ${index + 1} of ${this.slots.length} ${what}`);
    for (const [id, p] of jobs) {
      this.settle(slot, id);
      p.reject(
        new ConvkitError('loader', `worker ${index + 1} of ${this.slots.length} ${what} while preparing ${samples}`),
      );
    }
  }

  /** Ends every worker; jobs still waiting are refused. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const slot of this.slots) {
      for (const [id, p] of [...slot.pending.entries()]) {
        this.settle(slot, id);
        p.reject(new ConvkitError('loader', 'the loader was closed'));
      }
    }
    // A timer holds the event loop until every worker has exited. Without it, Node 20 could end
    // the process with close() still pending: a worker stopped while it prepares a batch does not
    // keep the loop alive until its exit event, even after ref() (8 runs in 10 of a loader broken
    // out of after one batch).
    const hold = setInterval(() => {}, 60_000);
    try {
      await Promise.all(this.slots.map((s) => s.worker.terminate()));
    } finally {
      clearInterval(hold);
    }
  }
}
