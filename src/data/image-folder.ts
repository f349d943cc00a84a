/**
 * Image folders in torchvision's ImageFolder layout: one subfolder per class, named by the class,
 * holding PNG, JPEG and WebP files (in nested folders too). Two layouts:
 *
 * - `DIR/train/<class>/...` and `DIR/test/<class>/...`: the splits as given (a folder named
 *   `train` inside DIR selects this layout). The test split's classes must be among the training
 *   split's; labels follow the training split's classes.
 * - `DIR/<class>/...`: one folder split by a seeded holdout: of each class's files (sorted by
 *   path), a seeded shuffle puts `round(holdout * n)` into the test split (default 0.1), at least
 *   one file always stays in training.
 *
 * Classes are the subfolders' names sorted by code point (Python's `sorted`, as torchvision);
 * label i is the i-th class. Hidden entries (`.name`) and files of other extensions are skipped.
 * Listing is synchronous and reads no image; decoding happens when samples are loaded
 * (`decodeImage`, `loadImageFolder`, or a `DataLoader`'s workers).
 */
import { type Dirent, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { ArgumentError, DataFormatError } from '../core/errors.js';
import { Generator } from '../core/random.js';
import type { ArrayDataset } from './dataset.js';
import { checkImageChannels, decodeImage } from './image-file.js';
import type { ImageShape } from './transforms.js';

export const IMAGE_EXTENSIONS: readonly string[] = ['.png', '.jpg', '.jpeg', '.webp'];

/** Samples that are image files, decoded when loaded: what a DataLoader can read batch by batch. */
export interface FileDataset {
  files: readonly string[];
  labels: Int32Array;
  classes: readonly string[];
  /** What each file is decoded to: [1 or 3 channels, height, width]. */
  sampleShape: ImageShape;
}

export interface ImageFolderOptions {
  /** Channels (1: greyscale, 3: RGB) and the size every image is scaled to (cover, then centre crop). */
  shape: ImageShape;
  /** Single-folder layout: the fraction of each class that becomes the test split (default 0.1). */
  holdout?: number;
  /** Seed of the holdout's draw (default 0). */
  seed?: number;
}

export const DEFAULT_HOLDOUT = 0.1;

function entries(dir: string): Dirent[] {
  try {
    return readdirSync(dir, { withFileTypes: true }).filter((e) => !e.name.startsWith('.'));
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new DataFormatError(dir, 'folder does not exist');
    if (code === 'ENOTDIR') throw new DataFormatError(dir, 'is not a folder');
    throw new DataFormatError(dir, `folder cannot be read (${code ?? String(e)})`);
  }
}

const isDir = (dir: string, e: Dirent): boolean =>
  e.isDirectory() ||
  (e.isSymbolicLink() && statSync(join(dir, e.name), { throwIfNoEntry: false })?.isDirectory() === true);

const byCodePoint = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

/** Image files under `dir`, nested folders included, sorted by path. */
function imageFiles(dir: string): string[] {
  const out: string[] = [];
  for (const e of entries(dir)) {
    const path = join(dir, e.name);
    if (isDir(dir, e)) out.push(...imageFiles(path));
    else if (IMAGE_EXTENSIONS.some((ext) => e.name.toLowerCase().endsWith(ext))) out.push(path);
  }
  return out.sort(byCodePoint);
}

/** Class name -> its files, for a folder of class folders. */
function classFolders(root: string): Map<string, string[]> {
  const names = entries(root)
    .filter((e) => isDir(root, e))
    .map((e) => e.name)
    .sort(byCodePoint);
  if (names.length === 0)
    throw new DataFormatError(
      root,
      'holds no class folders: expected one folder per class (DIR/<class>/<image>, or DIR/train/<class>/... and DIR/test/<class>/...)',
    );
  const classes = new Map<string, string[]>();
  for (const name of names) {
    const files = imageFiles(join(root, name));
    if (files.length === 0)
      throw new DataFormatError(join(root, name), `class folder holds no ${IMAGE_EXTENSIONS.join(', ')} images`);
    classes.set(name, files);
  }
  return classes;
}

function isFolder(path: string): boolean {
  return statSync(path, { throwIfNoEntry: false })?.isDirectory() ?? false;
}

/** Whether DIR uses the `train/` + `test/` layout (else it is split by holdout). */
export function hasSplitFolders(dir: string): boolean {
  return isFolder(join(dir, 'train'));
}

/** The files and labels of one split of an image folder; nothing is decoded. */
export function listImageFolder(dir: string, split: 'train' | 'test', opts: ImageFolderOptions): FileDataset {
  checkImageChannels('imageFolder', opts.shape);
  const holdout = opts.holdout ?? DEFAULT_HOLDOUT;
  if (!(holdout >= 0 && holdout < 1))
    throw new ArgumentError('imageFolder', `holdout must be in [0, 1), got ${holdout}`);
  const files: string[] = [];
  const labels: number[] = [];
  let classes: string[];
  if (hasSplitFolders(dir)) {
    const train = classFolders(join(dir, 'train'));
    classes = [...train.keys()];
    const chosen = split === 'train' ? train : testFolders(dir, classes);
    for (const [name, list] of chosen) {
      files.push(...list);
      labels.push(...list.map(() => classes.indexOf(name)));
    }
  } else {
    const all = classFolders(dir);
    classes = [...all.keys()];
    const generator = new Generator(opts.seed ?? 0);
    classes.forEach((name, label) => {
      const list = all.get(name) ?? [];
      const order = list.map((_, i) => i);
      for (let i = order.length - 1; i > 0; i--) {
        const j = generator.int(i + 1);
        [order[i], order[j]] = [order[j], order[i]];
      }
      const held = Math.min(Math.round(holdout * list.length), list.length - 1);
      const test = new Set(order.slice(0, held));
      list.forEach((file, i) => {
        if (test.has(i) === (split === 'test')) {
          files.push(file);
          labels.push(label);
        }
      });
    });
  }
  if (files.length === 0)
    throw new DataFormatError(dir, `the ${split} split holds no images (holdout ${holdout} of the class folders)`);
  return { files, labels: Int32Array.from(labels), classes, sampleShape: opts.shape };
}

function testFolders(dir: string, classes: readonly string[]): Map<string, string[]> {
  const testDir = join(dir, 'test');
  if (!isFolder(testDir))
    throw new DataFormatError(
      testDir,
      'folder does not exist (DIR/train/ is there, so DIR/test/<class>/... is expected)',
    );
  const test = classFolders(testDir);
  const unknown = [...test.keys()].filter((name) => !classes.includes(name));
  if (unknown.length > 0)
    throw new DataFormatError(
      testDir,
      `class folder${unknown.length > 1 ? 's' : ''} ${unknown.join(', ')} not among the training classes (${classes.join(', ')})`,
    );
  return test;
}

/** Decodes every file of a file dataset into memory, `concurrency` images at a time (sharp decodes on libuv's threads). */
export async function decodeFileDataset(data: FileDataset, concurrency = 4): Promise<ArrayDataset> {
  const per = data.sampleShape[0] * data.sampleShape[1] * data.sampleShape[2];
  const inputs = new Float32Array(data.files.length * per);
  let next = 0;
  const work = async (): Promise<void> => {
    while (next < data.files.length) {
      const i = next++;
      inputs.set(await decodeImage(data.files[i], data.sampleShape), i * per);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, concurrency) }, work));
  return { inputs, sampleShape: [...data.sampleShape], labels: data.labels.slice(), classes: data.classes };
}

/** One split of an image folder, decoded into memory. */
export async function loadImageFolder(
  dir: string,
  split: 'train' | 'test',
  opts: ImageFolderOptions,
): Promise<ArrayDataset> {
  return decodeFileDataset(listImageFolder(dir, split, opts));
}
