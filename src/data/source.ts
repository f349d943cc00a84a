/**
 * Data sets named on the command line: `fashion-mnist` (Debian's copy), `idx:DIR` (MNIST-style
 * gzipped or plain IDX files), `cifar10:DIR`, `cifar100:DIR` (the binary versions) and
 * `folder:DIR` (image files in class folders, image-folder.ts).
 */
import { ArgumentError } from '../core/errors.js';
import { loadCifar10, loadCifar100 } from './cifar.js';
import type { ArrayDataset } from './dataset.js';
import { FASHION_MNIST_CLASSES, FASHION_MNIST_DIR } from './fashion-mnist.js';
import { loadIdxDataset } from './idx.js';
import { decodeFileDataset, type FileDataset, listImageFolder } from './image-folder.js';
import type { ImageShape } from './transforms.js';

export type DataKind = 'idx' | 'cifar10' | 'cifar100' | 'folder';

export interface DataSource {
  /** As written: `fashion-mnist`, `idx:/data/mnist`. */
  spec: string;
  kind: DataKind;
  dir: string;
  /** Class names when the files carry none (Fashion-MNIST's). */
  classes?: readonly string[];
}

export const DATA_WORDS = 'fashion-mnist, idx:DIR, cifar10:DIR, cifar100:DIR or folder:DIR';

/** Parses a data spec; throws ArgumentError naming what is accepted. */
export function parseDataSource(spec: string): DataSource {
  if (spec === 'fashion-mnist') return { spec, kind: 'idx', dir: FASHION_MNIST_DIR, classes: FASHION_MNIST_CLASSES };
  const m = /^(idx|cifar10|cifar100|folder):(.+)$/.exec(spec);
  if (m === null) throw new ArgumentError('data', `expected ${DATA_WORDS}, got ${JSON.stringify(spec)}`);
  return { spec, kind: m[1] as DataKind, dir: m[2] };
}

/** One split of the binary formats, with its first `limit` samples only when given (folders: loadSplit). */
export function loadSource(source: DataSource, split: 'train' | 'test', limit?: number): ArrayDataset {
  if (source.kind === 'folder')
    throw new ArgumentError(
      'data',
      `${source.spec}: image folders are decoded asynchronously; this command reads only ${DATA_WORDS.replace(' or folder:DIR', '')}`,
    );
  const data =
    source.kind === 'idx'
      ? loadIdxDataset(source.dir, split, source.classes ? { classes: source.classes } : {})
      : source.kind === 'cifar10'
        ? loadCifar10(source.dir, split)
        : loadCifar100(source.dir, split);
  return limit === undefined ? data : takeFirst(data, limit);
}

export interface SplitOptions {
  limit?: number;
  /** Image folders: what every image is decoded to (channels and size); ignored by the other kinds. */
  shape?: ImageShape;
}

/**
 * One split of any kind of data in memory; an image folder is decoded (into `shape`) and, with a
 * limit, thinned to `limit` images spread evenly over its files (sorted by class), so every class keeps
 * some.
 */
export async function loadSplit(
  source: DataSource,
  split: 'train' | 'test',
  opts: SplitOptions = {},
): Promise<ArrayDataset> {
  if (source.kind !== 'folder') return loadSource(source, split, opts.limit);
  if (opts.shape === undefined)
    throw new ArgumentError('data', `${source.spec}: image folders need the shape to decode to`);
  const files = listImageFolder(source.dir, split, { shape: opts.shape });
  return decodeFileDataset(opts.limit === undefined ? files : spreadOut(files, opts.limit));
}

/** `n` files spread evenly over the list (all of them when there are fewer). */
function spreadOut(data: FileDataset, n: number): FileDataset {
  const total = data.files.length;
  if (n >= total) return data;
  const picks = Array.from({ length: n }, (_, i) => Math.floor((i * total) / n));
  return { ...data, files: picks.map((i) => data.files[i]), labels: Int32Array.from(picks, (i) => data.labels[i]) };
}

/** The first `n` samples (all of them when there are fewer). */
export function takeFirst(data: ArrayDataset, n: number): ArrayDataset {
  if (n >= data.labels.length) return data;
  const per = data.inputs.length / data.labels.length;
  return { ...data, inputs: data.inputs.subarray(0, n * per), labels: data.labels.subarray(0, n) };
}
