/** Tiny IDX data sets written by the tests, and the train command's options with their defaults. */
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Generator } from '../../src/core/random.js';
import type { TrainCliOptions } from '../../src/cli/train-config.js';

/** An IDX file: magic (0, 0, ubyte 0x08, dims), big-endian dims, then the bytes. */
function idx(dims: number[], data: Uint8Array): Uint8Array {
  const head = new Uint8Array(4 + 4 * dims.length);
  const view = new DataView(head.buffer);
  head[2] = 0x08;
  head[3] = dims.length;
  dims.forEach((d, i) => view.setUint32(4 + 4 * i, d));
  const out = new Uint8Array(head.length + data.length);
  out.set(head);
  out.set(data, head.length);
  return out;
}

/**
 * A learnable toy task in MNIST layout: 3 classes of `side`x`side` images, a bright row (0), a
 * bright column (1) or a bright diagonal (2) at a random place, with noise. Returns the folder.
 */
export function writeTinyIdx(opts: { train?: number; test?: number; side?: number; seed?: number } = {}): string {
  const { train = 48, test = 24, side = 8, seed = 7 } = opts;
  const dir = mkdtempSync(join(tmpdir(), 'convkit-train-data-'));
  mkdirSync(dir, { recursive: true });
  const g = new Generator(seed);
  const split = (count: number, prefix: string): void => {
    const pixels = new Uint8Array(count * side * side);
    const labels = new Uint8Array(count);
    for (let n = 0; n < count; n++) {
      const label = n % 3;
      labels[n] = label;
      const at = g.int(side);
      for (let y = 0; y < side; y++) {
        for (let x = 0; x < side; x++) {
          const on = label === 0 ? y === at : label === 1 ? x === at : x === y;
          pixels[(n * side + y) * side + x] = on ? 200 + g.int(55) : g.int(60);
        }
      }
    }
    writeFileSync(join(dir, `${prefix}-images-idx3-ubyte`), idx([count, side, side], pixels));
    writeFileSync(join(dir, `${prefix}-labels-idx1-ubyte`), idx([count], labels));
  };
  split(train, 'train');
  split(test, 't10k');
  return dir;
}

/** The train command's options as commander gives them with its defaults, for a tiny run. */
export function trainOptions(data: string, out: string, extra: Partial<TrainCliOptions> = {}): TrainCliOptions {
  return {
    data: `idx:${data}`,
    epochs: 2,
    batchSize: 16,
    optimizer: 'sgd',
    momentum: 0.9,
    schedule: 'cosine',
    warmup: 0,
    labelSmoothing: 0,
    seed: 0,
    augment: true,
    randomCrop: true,
    flip: true,
    // Batches on the main thread unless a test asks for workers (each worker costs a start-up).
    workers: 0,
    out,
    ...extra,
  };
}

export const tempDir = (prefix = 'convkit-train-'): string => mkdtempSync(join(tmpdir(), prefix));
