/**
 * The image options of `convkit train` (size, crop, flip, PCA lighting, --no-augment) and the
 * pipeline a fresh run records from them, checked against the training images once; a resumed run
 * and `convkit eval` rebuild the transforms from the recorded pipeline (train-config.ts).
 */
import { Option } from 'commander';
import type { ArrayDataset } from '../data/dataset.js';
import { rgbPca } from '../data/pca-lighting.js';
import { asImageShape, type ImageShape } from '../data/transforms.js';
import { intOption, numberOption, UsageError } from './args.js';
import { defaultCropPadding, type ImagePipeline, TRAIN_LIMITS, type TrainCliOptions } from './train-config.js';

/** AlexNet's standard deviation of the PCA lighting alphas (Krizhevsky et al. 2012, section 4.1). */
const ALEXNET_PCA_STD = 0.1;

/** The options, in the order `convkit train --help` lists them. */
export function imageOptions(): Option[] {
  const l = TRAIN_LIMITS;
  return [
    intOption(
      '--image-size <n>',
      "scale images to n x n first, bilinear (default: as the data has them; folder: data: the model's input size)",
      l.imageSize,
    ),
    intOption(
      '--crop-size <n>',
      'side of the square the network sees: cropped at random in training, from the centre in testing (default: the whole image)',
      l.cropSize,
    ),
    intOption(
      '--crop-padding <px>',
      'zero padding before the random crop (default: 1/8 of the side when cropping the whole image, else 0)',
      l.cropPadding,
    ),
    new Option('--no-random-crop', 'no random crop: training takes the centre (or the whole image) as testing does'),
    new Option('--no-flip', 'no random horizontal flip'),
    numberOption(
      '--pca-lighting <std>',
      `AlexNet's PCA colour augmentation, alphas of this std (the paper's ${ALEXNET_PCA_STD}); RGB data only; off by default`,
      l.pcaLighting,
    ),
    new Option(
      '--no-augment',
      'no random transforms at all: no random crop, flip or PCA lighting (normalisation stays)',
    ),
  ];
}

/** The side folder images are decoded at: --image-size, else the model's own input size. */
export function folderShape(modelInput: ImageShape, o: TrainCliOptions): ImageShape {
  const [c, h, w] = modelInput;
  return o.imageSize === undefined ? [c, h, w] : [c, o.imageSize, o.imageSize];
}

/**
 * The pipeline the options ask for, over the training images `train` (of data `data`); a usage error
 * naming the option for a choice the images or the other options rule out. The PCA of the RGB
 * values is computed here, on the training split as loaded, and stored with the run.
 */
export function imagePipeline(o: TrainCliOptions, train: ArrayDataset, data: string): ImagePipeline {
  const [c, h0, w0] = asImageShape(train.sampleShape);
  const size = o.imageSize ?? null;
  const [h, w] = size === null ? [h0, w0] : [size, size];
  if (!o.augment)
    for (const [given, flag] of [
      [o.cropPadding, '--crop-padding'],
      [o.pcaLighting, '--pca-lighting'],
    ] as const)
      if (given !== undefined)
        throw new UsageError(`${flag}: --no-augment turns off every random transform; leave out one of the two`);
  const random = o.augment && o.randomCrop !== false;
  if (o.cropPadding !== undefined && !random)
    throw new UsageError('--crop-padding: pads for the random crop, which --no-random-crop turns off');
  const side = Math.min(h, w);
  if (o.cropSize !== undefined && o.cropSize > side)
    throw new UsageError(
      `--crop-size: expected at most ${side}, the side of the images (${data}: ${c}x${h}x${w}${size === null ? '' : ` after --image-size ${size}`}), got ${o.cropSize}`,
    );
  if (o.pcaLighting !== undefined && c !== 3)
    throw new UsageError(
      `--pca-lighting: needs RGB images (3 channels); ${data} has ${c} channel${c === 1 ? '' : 's'}`,
    );
  const crop = o.cropSize ?? null;
  return {
    resize: size,
    crop,
    randomCrop: random,
    padding: random ? (o.cropPadding ?? defaultCropPadding(side, crop ?? side)) : 0,
    flip: o.augment && o.flip !== false,
    pcaLighting: o.augment && o.pcaLighting !== undefined ? { std: o.pcaLighting, ...rgbPca(train) } : null,
  };
}
