/**
 * The run folder of `convkit train`: its file names, metrics.jsonl, the training curves and the
 * checkpoint, each written atomically so that a run stopped at any moment leaves a folder to resume.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ConvkitError } from '../core/errors.js';
import { type CheckpointContents, saveCheckpoint } from '../train/checkpoint.js';
import type { TensorModule } from '../train/evaluate.js';
import type { LRScheduler } from '../train/lr-scheduler.js';
import type { Optimizer } from '../train/optimizer.js';
import { OutputError, trackedTemporary, writeFileAtomic } from './files.js';
import type { TrainConfig } from './train-config.js';
import { trainingChartSvg } from './training-chart.js';

export const RUN_FILES = {
  config: 'config.json',
  metrics: 'metrics.jsonl',
  checkpoint: 'checkpoint.safetensors',
  chart: 'curves.svg',
} as const;

export interface MetricsRow {
  epoch: number;
  step: number;
  lr: number;
  train_loss: number;
  train_acc: number;
  test_loss: number;
  test_acc: number;
  images_per_s: number;
  seconds: number;
}

/** Reads metrics.jsonl, keeping the rows of finished epochs up to `epochs`. */
export function readMetrics(path: string, epochs: number): MetricsRow[] {
  if (!existsSync(path)) return [];
  return readFileSync(path, 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as MetricsRow)
    .filter((r) => r.epoch <= epochs);
}

/** Rewrites metrics.jsonl with a line per finished epoch. */
export function writeMetrics(dir: string, rows: readonly MetricsRow[]): void {
  writeFileAtomic(
    join(dir, RUN_FILES.metrics),
    rows.map((r) => JSON.stringify(r)).join('\n') + (rows.length ? '\n' : ''),
  );
}

/** Rewrites curves.svg (nothing before the first epoch ends). */
export async function writeChart(dir: string, config: TrainConfig, rows: readonly MetricsRow[]): Promise<void> {
  if (rows.length === 0) return;
  const svg = await trainingChartSvg(rows, `${config.model} on ${config.data}`, config.epochs);
  writeFileAtomic(join(dir, RUN_FILES.chart), svg);
}
/** Saves the checkpoint atomically; a failure to write is an output error naming the file. */
export function saveRunCheckpoint(
  path: string,
  net: TensorModule,
  optimizer: Optimizer,
  schedule: LRScheduler,
  contents: CheckpointContents<TrainConfig>,
): void {
  const temporary = trackedTemporary(path);
  try {
    saveCheckpoint(path, net, optimizer, schedule, contents, { temporary: temporary.path });
  } catch (err) {
    if (err instanceof ConvkitError) throw err;
    throw new OutputError(path, `cannot write: ${(err as Error).message}`);
  } finally {
    temporary.release();
  }
}
