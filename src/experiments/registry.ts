/** The experiments by name, in the order the lecture reaches them. */
import { ArgumentError } from '../core/errors.js';
import { DEGRADATION } from './degradation.js';
import { DENSE_GROWTH } from './dense-growth.js';
import { EFFICIENCY } from './efficiency.js';
import { ONE_BY_ONE } from './one-by-one.js';
import { RECEPTIVE_FIELD } from './receptive-field.js';
import { SMALL_KERNELS } from './small-kernels.js';
import { VANISHING_GRADIENT } from './vanishing-gradient.js';
import type { Experiment } from './types.js';

export const EXPERIMENTS: readonly Experiment[] = [
  ONE_BY_ONE,
  EFFICIENCY,
  RECEPTIVE_FIELD,
  DENSE_GROWTH,
  SMALL_KERNELS,
  VANISHING_GRADIENT,
  DEGRADATION,
];

export function experimentNames(): string[] {
  return EXPERIMENTS.map((e) => e.name);
}

export function getExperiment(name: string): Experiment {
  const e = EXPERIMENTS.find((x) => x.name === name);
  if (e === undefined)
    throw new ArgumentError('experiment', `unknown experiment '${name}'; there are: ${experimentNames().join(', ')}`);
  return e;
}
