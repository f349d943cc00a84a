/**
 * Data sets named on the command line: `fashion-mnist` (Debian's copy), `idx:DIR` (MNIST-style
 * gzipped or plain IDX files), `cifar10:DIR`, `cifar100:DIR` (the binary versions).
 */
import { ArgumentError } from '../core/errors.js';
import { loadCifar10, loadCifar100 } from './cifar.js';
import type { ArrayDataset } from './dataset.js';
import { FASHION_MNIST_CLASSES, FASHION_MNIST_DIR } from './fashion-mnist.js';
import { loadIdxDataset } from './idx.js';

export type DataKind = 'idx' | 'cifar10' | 'cifar100';

export interface DataSource {
  /** As written: `fashion-mnist`, `idx:/data/mnist`. */
  spec: string;
  kind: DataKind;
  dir: string;
  /** Class names when the files carry none (Fashion-MNIST's). */
  classes?: readonly string[];
}

export const DATA_WORDS = 'fashion-mnist, idx:DIR, cifar10:DIR or cifar100:DIR';

/** Parses a data spec; throws ArgumentError naming what is accepted. */
export function parseDataSource(spec: string): DataSource {
  if (spec === 'fashion-mnist') return { spec, kind: 'idx', dir: FASHION_MNIST_DIR, classes: FASHION_MNIST_CLASSES };
  const m = /^(idx|cifar10|cifar100):(.+)$/.exec(spec);
  if (m === null) throw new ArgumentError('data', `expected ${DATA_WORDS}, got ${JSON.stringify(spec)}`);
  return { spec, kind: m[1] as DataKind, dir: m[2] };
}

/** One split, with its first `limit` samples only when given. */
export function loadSource(source: DataSource, split: 'train' | 'test', limit?: number): ArrayDataset {
  const data =
    source.kind === 'idx'
      ? loadIdxDataset(source.dir, split, source.classes ? { classes: source.classes } : {})
      : source.kind === 'cifar10'
        ? loadCifar10(source.dir, split)
        : loadCifar100(source.dir, split);
  return limit === undefined ? data : takeFirst(data, limit);
}

/** The first `n` samples (all of them when there are fewer). */
export function takeFirst(data: ArrayDataset, n: number): ArrayDataset {
  if (n >= data.labels.length) return data;
  const per = data.inputs.length / data.labels.length;
  return { ...data, inputs: data.inputs.subarray(0, n * per), labels: data.labels.subarray(0, n) };
}
