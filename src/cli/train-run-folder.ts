/**
 * The run folder of `convkit train`: its file names, metrics.jsonl, the training curves and the
 * checkpoint, each written atomically so that a run stopped at any moment leaves a folder to resume.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ConvkitError, DataFormatError } from '../core/errors.js';
import { type CheckpointContents, saveCheckpoint } from '../train/checkpoint.js';
import type { TensorModule } from '../train/evaluate.js';
import type { LRScheduler } from '../train/lr-scheduler.js';
import type { Optimizer } from '../train/optimizer.js';
import { shown } from './args.js';
import { fsReason, OutputError, trackedTemporary, writeFileAtomic } from './files.js';
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

/** The fields of a metrics.jsonl row, in the order they are written. */
const METRICS_FIELDS = [
  'epoch',
  'step',
  'lr',
  'train_loss',
  'train_acc',
  'test_loss',
  'test_acc',
  'images_per_s',
  'seconds',
] as const satisfies readonly (keyof MetricsRow)[];

/**
 * The rows of a metrics.jsonl, strictly: every non-blank line must be a JSON object with each field
 * of MetricsRow a finite number and the epochs increasing, else a DataFormatError naming the file
 * and the line (a torn or hand-edited file says where). The one reader of the file: `convkit train
 * --resume`, `convkit plot` (and whatever else reads a run folder) use it.
 */
export function readMetricsFile(path: string): MetricsRow[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new DataFormatError(path, `cannot be read: ${fsReason(err)}`);
  }
  const rows: MetricsRow[] = [];
  text.split('\n').forEach((line, i) => {
    if (line.trim() === '') return;
    const at = `line ${i + 1}`;
    let row: unknown;
    try {
      row = JSON.parse(line);
    } catch (err) {
      throw new DataFormatError(path, `${at}: not JSON (${(err as Error).message}): ${shown(line)}`);
    }
    if (row === null || typeof row !== 'object' || Array.isArray(row))
      throw new DataFormatError(path, `${at}: expected a JSON object (an epoch's metrics), got ${shown(line)}`);
    const r = row as Record<string, unknown>;
    for (const f of METRICS_FIELDS)
      if (typeof r[f] !== 'number' || !Number.isFinite(r[f]))
        throw new DataFormatError(
          path,
          `${at}: ${f} ${f in r ? `is ${shown(JSON.stringify(r[f]))}` : 'is missing'}; expected a finite number`,
        );
    const epoch = r.epoch as number;
    const previous = rows.at(-1)?.epoch ?? 0;
    if (!Number.isInteger(epoch) || epoch <= previous)
      throw new DataFormatError(path, `${at}: epoch ${epoch} after epoch ${previous}; expected ${previous + 1}`);
    rows.push(Object.fromEntries(METRICS_FIELDS.map((f) => [f, r[f]])) as unknown as MetricsRow);
  });
  return rows;
}

/**
 * The rows of the `epochs` finished epochs a checkpoint was saved after (later rows, of a run that
 * died between writing metrics.jsonl and its checkpoint, are dropped); a file that lacks some of
 * them is a DataFormatError.
 */
export function readResumedMetrics(path: string, epochs: number): MetricsRow[] {
  if (epochs === 0 && !existsSync(path)) return [];
  const rows = existsSync(path) ? readMetricsFile(path).filter((r) => r.epoch <= epochs) : [];
  // Epochs increase line by line (readMetricsFile), so `epochs` rows up to `epochs` are 1, 2, ... epochs.
  if (rows.length !== epochs)
    throw new DataFormatError(
      path,
      `expected a line for each of the ${epochs} epochs the checkpoint was saved after, found ${rows.length}`,
    );
  return rows;
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
