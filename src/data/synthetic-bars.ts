/**
 * A synthetic image task that needs convolution to solve: each image holds one bright line,
 * horizontal, vertical, diagonal or anti-diagonal, at a random place and length, over noise.
 * Made from a seed, so every run and every machine sees the same data.
 */
import { ArgumentError } from '../core/errors.js';
import { Generator } from '../core/random.js';
import type { ArrayDataset } from './dataset.js';

export const BAR_CLASSES = ['horizontal', 'vertical', 'diagonal', 'anti-diagonal'] as const;

export interface BarsOptions {
  count: number;
  /** Image side in pixels (default 16). */
  size?: number;
  /** Standard deviation of the background noise (default 0.25). */
  noise?: number;
  seed?: number;
}

export function syntheticBars({ count, size = 16, noise = 0.25, seed = 0 }: BarsOptions): ArrayDataset {
  if (!Number.isInteger(count) || count < 1)
    throw new ArgumentError('syntheticBars', `count must be a positive integer, got ${count}`);
  if (!Number.isInteger(size) || size < 6)
    throw new ArgumentError('syntheticBars', `size must be an integer of at least 6, got ${size}`);
  const rng = new Generator(seed);
  const pixels = size * size;
  const inputs = new Float32Array(count * pixels);
  const labels = new Int32Array(count);
  for (let n = 0; n < count; n++) {
    const img = inputs.subarray(n * pixels, (n + 1) * pixels);
    for (let i = 0; i < pixels; i++) img[i] = noise * rng.normal();
    const label = rng.int(BAR_CLASSES.length);
    labels[n] = label;
    const length = Math.floor(size / 2) + rng.int(Math.ceil(size / 2) - 1);
    const [dr, dc] = [
      [0, 1],
      [1, 0],
      [1, 1],
      [1, -1],
    ][label];
    // Choose a start so that the whole line stays inside the image.
    const r0 = dr === 0 ? rng.int(size) : rng.int(size - length + 1);
    const c0 = dc === 0 ? rng.int(size) : dc > 0 ? rng.int(size - length + 1) : length - 1 + rng.int(size - length + 1);
    for (let i = 0; i < length; i++) img[(r0 + i * dr) * size + (c0 + i * dc)] += 1;
  }
  return { inputs, sampleShape: [1, size, size], labels, classes: BAR_CLASSES };
}
