/**
 * Fashion-MNIST (Zalando's drop-in replacement for MNIST: 28x28 greyscale clothing, ten classes,
 * 60,000 training and 10,000 test images) in the IDX layout. Its default location is where
 * Debian's `dataset-fashion-mnist` package puts it (scripts/setup.sh installs it when root).
 */
import type { ArrayDataset } from './dataset.js';
import { type IdxSplit, loadIdxDataset } from './idx.js';

/** The class names in label order (label 0 is 'T-shirt/top'). */
export const FASHION_MNIST_CLASSES: readonly string[] = [
  'T-shirt/top',
  'Trouser',
  'Pullover',
  'Dress',
  'Coat',
  'Sandal',
  'Shirt',
  'Sneaker',
  'Bag',
  'Ankle boot',
];

/** Debian's `dataset-fashion-mnist` ships the four gzipped IDX files here. */
export const FASHION_MNIST_DIR = '/usr/share/datasets/fashion-mnist';

/** A Fashion-MNIST split: [1, 28, 28] float32 images in [0, 1] and their labels. */
export function loadFashionMnist(split: IdxSplit, dir: string = FASHION_MNIST_DIR): ArrayDataset {
  return loadIdxDataset(dir, split, { classes: FASHION_MNIST_CLASSES });
}
