/**
 * CIFAR-10 and CIFAR-100 in their binary versions (`cifar-10-binary.tar.gz`,
 * `cifar-100-binary.tar.gz`, extracted). Each record is the label byte(s) then 3,072 pixel bytes:
 * the 1,024 red values of the 32x32 image row by row, then green, then blue, which is already the
 * [3, 32, 32] channel-first layout.
 *
 * - CIFAR-10: `data_batch_1.bin` ... `data_batch_5.bin` (train), `test_batch.bin` (test);
 *   3,073-byte records (label, pixels); names in `batches.meta.txt`.
 * - CIFAR-100: `train.bin`, `test.bin`; 3,074-byte records (coarse label, fine label, pixels);
 *   names in `fine_label_names.txt` and `coarse_label_names.txt`.
 *
 * Every file's size is checked (a whole number of records) before anything is allocated.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { DataFormatError } from '../core/errors.js';
import { findFile, formatError, readWholeFile } from './binary-files.js';
import { type ArrayDataset, checkDataset } from './dataset.js';

export type CifarSplit = 'train' | 'test';

const PIXELS = 3 * 32 * 32;

export const CIFAR10_CLASSES: readonly string[] = [
  'airplane',
  'automobile',
  'bird',
  'cat',
  'deer',
  'dog',
  'frog',
  'horse',
  'ship',
  'truck',
];

export const CIFAR100_COARSE_CLASSES: readonly string[] = [
  'aquatic_mammals',
  'fish',
  'flowers',
  'food_containers',
  'fruit_and_vegetables',
  'household_electrical_devices',
  'household_furniture',
  'insects',
  'large_carnivores',
  'large_man-made_outdoor_things',
  'large_natural_outdoor_scenes',
  'large_omnivores_and_herbivores',
  'medium_mammals',
  'non-insect_invertebrates',
  'people',
  'reptiles',
  'small_mammals',
  'trees',
  'vehicles_1',
  'vehicles_2',
];

export const CIFAR100_FINE_CLASSES: readonly string[] = (
  'apple aquarium_fish baby bear beaver bed bee beetle bicycle bottle bowl boy bridge bus butterfly camel can ' +
  'castle caterpillar cattle chair chimpanzee clock cloud cockroach couch crab crocodile cup dinosaur dolphin ' +
  'elephant flatfish forest fox girl hamster house kangaroo keyboard lamp lawn_mower leopard lion lizard lobster ' +
  'man maple_tree motorcycle mountain mouse mushroom oak_tree orange orchid otter palm_tree pear pickup_truck ' +
  'pine_tree plain plate poppy porcupine possum rabbit raccoon ray road rocket rose sea seal shark shrew skunk ' +
  'skyscraper snail snake spider squirrel streetcar sunflower sweet_pepper table tank telephone television tiger ' +
  'tractor train trout tulip turtle wardrobe whale willow_tree wolf woman worm'
).split(' ');

/** `dir`, or the folder the tarball extracts to inside it when `dir` does not hold `marker`. */
function resolveDir(dir: string, marker: string, subdir: string): string {
  if (!existsSync(join(dir, marker)) && existsSync(join(dir, subdir, marker))) return join(dir, subdir);
  return dir;
}

/** Class names from a names file (one per line, blank lines ignored), or the built-in list when absent. */
function classNames(dir: string, file: string, fallback: readonly string[]): readonly string[] {
  const path = join(dir, file);
  if (!existsSync(path)) return fallback;
  const names = readFileSync(path, 'utf8')
    .split(/\r?\n/)
    .map((s) => s.trim())
    .filter((s) => s !== '');
  if (names.length === 0) throw new DataFormatError(path, 'holds no class names');
  return names;
}

interface LabelField {
  /** Byte of the record holding this label. */
  at: number;
  classes: readonly string[];
  what: string;
}

/**
 * Reads whole records from `files` into one dataset. `label` is the field that becomes the
 * dataset's labels; every field in `check` is range-checked against its class list.
 */
function readRecords(
  files: readonly string[],
  recordSize: number,
  label: LabelField,
  check: readonly LabelField[],
): ArrayDataset {
  let total = 0;
  for (const file of files) {
    const size = statSync(file).size;
    if (size === 0) throw formatError(file, 0, `the file is empty (expected ${recordSize}-byte records)`);
    if (size % recordSize !== 0) {
      const whole = Math.floor(size / recordSize);
      throw formatError(
        file,
        whole * recordSize,
        `the size ${size} is not a multiple of the ${recordSize}-byte record: ${whole} whole record${whole === 1 ? '' : 's'}, ` +
          `then ${size - whole * recordSize} bytes (truncated or not a CIFAR binary file)`,
      );
    }
    total += size / recordSize;
  }
  const inputs = new Float32Array(total * PIXELS);
  const labels = new Int32Array(total);
  let n = 0;
  for (const file of files) {
    const bytes = readWholeFile(file);
    if (bytes.length % recordSize !== 0) throw formatError(file, 0, 'changed size while being read');
    for (let r = 0; r < bytes.length; r += recordSize, n++) {
      for (const f of check) {
        const v = bytes[r + f.at];
        if (v >= f.classes.length) {
          throw formatError(
            file,
            r + f.at,
            `${f.what} ${v} of record ${r / recordSize} is outside the ${f.classes.length} classes (0..${f.classes.length - 1})`,
          );
        }
      }
      labels[n] = bytes[r + label.at];
      const px = r + recordSize - PIXELS;
      const base = n * PIXELS;
      for (let i = 0; i < PIXELS; i++) inputs[base + i] = bytes[px + i] / 255;
    }
  }
  return { inputs, sampleShape: [3, 32, 32], labels, classes: label.classes };
}

function checkSplit(dir: string, split: CifarSplit): void {
  if (split !== 'train' && split !== 'test') {
    throw new DataFormatError(dir, `split must be 'train' or 'test', got '${String(split)}'`);
  }
}

/**
 * CIFAR-10 from the binary version's folder (or the folder that holds `cifar-10-batches-bin/`):
 * [3, 32, 32] float32 images in [0, 1], labels 0..9, names from `batches.meta.txt` (built in
 * when the file is absent).
 */
export function loadCifar10(dir: string, split: CifarSplit): ArrayDataset {
  checkSplit(dir, split);
  const root = resolveDir(dir, split === 'train' ? 'data_batch_1.bin' : 'test_batch.bin', 'cifar-10-batches-bin');
  const names = split === 'train' ? [1, 2, 3, 4, 5].map((i) => `data_batch_${i}.bin`) : ['test_batch.bin'];
  const files = names.map((name) => findFile(root, `CIFAR-10 ${split} batch`, [name]));
  const classes = classNames(root, 'batches.meta.txt', CIFAR10_CLASSES);
  const label: LabelField = { at: 0, classes, what: 'label' };
  const dataset = readRecords(files, 1 + PIXELS, label, [label]);
  checkDataset(join(root, split), dataset);
  return dataset;
}

export interface Cifar100Options {
  /** Which label becomes the dataset's: the 100 fine classes (default) or the 20 superclasses. */
  labels?: 'fine' | 'coarse';
}

/**
 * CIFAR-100 from the binary version's folder (or the folder that holds `cifar-100-binary/`):
 * [3, 32, 32] float32 images in [0, 1] with the fine (default) or coarse labels; names from
 * `fine_label_names.txt` / `coarse_label_names.txt` (built in when absent). Both label bytes of
 * every record are range-checked.
 */
export function loadCifar100(dir: string, split: CifarSplit, opts: Cifar100Options = {}): ArrayDataset {
  checkSplit(dir, split);
  const which = opts.labels ?? 'fine';
  if (which !== 'fine' && which !== 'coarse') {
    throw new DataFormatError(dir, `labels must be 'fine' or 'coarse', got '${String(which)}'`);
  }
  const file = `${split}.bin`;
  const root = resolveDir(dir, file, 'cifar-100-binary');
  const path = findFile(root, `CIFAR-100 ${split} file`, [file]);
  const coarse: LabelField = {
    at: 0,
    classes: classNames(root, 'coarse_label_names.txt', CIFAR100_COARSE_CLASSES),
    what: 'coarse label',
  };
  const fine: LabelField = {
    at: 1,
    classes: classNames(root, 'fine_label_names.txt', CIFAR100_FINE_CLASSES),
    what: 'fine label',
  };
  const dataset = readRecords([path], 2 + PIXELS, which === 'fine' ? fine : coarse, [coarse, fine]);
  checkDataset(join(root, split), dataset);
  return dataset;
}
