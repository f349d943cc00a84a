/**
 * `GET /api/runs/<run>/samples?count=8`: the first test images of a run's data, as the explorer's
 * "Run it" view feeds them to the model: pixels in [0, 1] (CHW, before the run's normalisation),
 * with their labels and class names. The data is the one config.json names (`convkit train
 * --data`), read as `convkit eval` reads it (an image folder decoded to the run's input shape and
 * thinned evenly over its classes).
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadSplit, parseDataSource } from '../data/source.js';
import { parseInteger } from './args.js';
import { HttpError } from './serve-http-error.js';
import type { TrainConfig } from './train-config.js';
import { RUN_FILES } from './train-run-folder.js';

/** How many samples a request may ask for (each is sent as JSON numbers). */
export const SAMPLE_COUNT = { min: 1, max: 64 } as const;
export const DEFAULT_SAMPLE_COUNT = 8;

export interface RunSample {
  /** Position in the test split as read. */
  index: number;
  label: number;
  class: string;
  /** CxHxW values in [0, 1]. */
  pixels: number[];
}

export interface RunSamples {
  run: string;
  data: string;
  input: [number, number, number];
  classes: string[];
  samples: RunSample[];
}

/** The first `count` test samples of the run in `dir` (named `run`). */
export async function runSamples(dir: string, run: string, query: URLSearchParams): Promise<RunSamples> {
  const text = query.get('count');
  const count = text === null ? DEFAULT_SAMPLE_COUNT : parseInteger('count', text, SAMPLE_COUNT);
  const configFile = join(dir, RUN_FILES.config);
  if (!existsSync(configFile)) throw new HttpError(404, `run '${run}' has no ${RUN_FILES.config}`);
  const config = JSON.parse(readFileSync(configFile, 'utf8')) as Pick<TrainConfig, 'data' | 'input' | 'classes'>;
  const data = await loadSplit(parseDataSource(config.data), 'test', { limit: count, shape: config.input });
  const per = data.inputs.length / data.labels.length;
  const expected = config.input[0] * config.input[1] * config.input[2];
  if (per !== expected)
    throw new HttpError(
      409,
      `the test images of ${config.data} have ${per} values each; run '${run}' takes ${config.input.join('x')}`,
    );
  return {
    run,
    data: config.data,
    input: config.input,
    classes: config.classes,
    samples: Array.from(data.labels.subarray(0, count), (label, index) => ({
      index,
      label,
      class: config.classes[label] ?? String(label),
      pixels: Array.from(data.inputs.subarray(index * per, (index + 1) * per)),
    })),
  };
}
