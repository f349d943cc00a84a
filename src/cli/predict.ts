/**
 * `convkit predict <run-dir | model --weights FILE> <image...>`: the top classes of each image.
 * Images (PNG, JPEG, WebP, GIF, TIFF, AVIF, SVG: whatever sharp/libvips reads) are turned into
 * the model's input as training made it: greyscale or RGB by the model's channels, scaled to cover
 * its height and width and centre-cropped, pixels in [0, 1], then the run's normalisation.
 */
import type { Command } from 'commander';
import { Generator } from '../core/random.js';
import { decodeImage } from '../data/image-file.js';
import { DATA_WORDS, parseDataSource } from '../data/source.js';
import { classProbabilities } from '../train/evaluate.js';
import { formatOption, intOption, pathOption, shown, toJson, UsageError, type Format } from './args.js';
import { print } from './boundary.js';
import { loadTrained } from './eval.js';
import { TINY_CNN, trainTransforms } from './train-config.js';
import { Option } from 'commander';

export interface PredictCliOptions {
  weights?: string;
  data?: string;
  top: number;
  invert: boolean;
  format: Format;
}

export interface Prediction {
  image: string;
  /** The best classes, most probable first. */
  top: { label: number; class: string; probability: number }[];
}

export function registerPredict(program: Command, out: (text: string) => void = print): void {
  program
    .command('predict')
    .description('the most probable classes of image files, by a trained run or a model with --weights')
    .argument('<run-or-model>', `a run folder of convkit train, or a zoo model (or ${TINY_CNN}) with --weights`)
    .argument('<image...>', 'image files (PNG, JPEG, WebP, ...)')
    .addOption(pathOption('--weights <file>', 'a safetensors file: a checkpoint or plain weights'))
    .addOption(
      pathOption('--data <spec>', `with plain weights: the data they were trained on (${DATA_WORDS})`).argParser(
        (v: string) => {
          try {
            return parseDataSource(v).spec;
          } catch {
            throw new UsageError(`--data: expected ${DATA_WORDS}, got ${shown(v)}`);
          }
        },
      ),
    )
    .addOption(intOption('--top <k>', 'classes shown per image', { min: 1, max: 1000 }, 3))
    .addOption(
      new Option('--invert', "invert the pixels first (Fashion-MNIST's clothes are light on black; photos are not)"),
    )
    .addOption(formatOption(['text', 'json']))
    .addHelpText(
      'after',
      '\nExamples:\n  convkit predict runs/resnet20_cifar-fashion-mnist shirt.png --invert\n  convkit predict resnet20_cifar --weights model.safetensors --data fashion-mnist a.png b.jpg --format json',
    )
    .action(async (target: string, images: string[], opts: PredictCliOptions) => {
      const predictions = await runPredict(target, images, { ...opts, invert: opts.invert ?? false });
      out(opts.format === 'json' ? toJson(predictions) : predictText(predictions));
    });
}

/** An image (a file path, or its encoded bytes named `name`) as a CHW float32 sample in [0, 1] of the given shape (the model's input). */
export async function readImage(
  source: string | Buffer,
  shape: readonly [number, number, number],
  name?: string,
): Promise<Float32Array> {
  if (shape[0] !== 1 && shape[0] !== 3)
    throw new UsageError(
      `predict: the model takes ${shape[0]}-channel images; only greyscale (1) and RGB (3) are read`,
    );
  return decodeImage(source, shape, name);
}

/** A trained model ready to rank an image's classes; `convkit serve` keeps one per run. */
export interface Predictor {
  /** The model's input [c, h, w] that images are scaled to. */
  input: [number, number, number];
  /** The `k` most probable classes of an image given as `readImage` reads it. */
  top(pixels: Float32Array, k: number, invert?: boolean): Promise<Prediction['top']>;
}

/** Loads a run folder or a model with --weights (as `loadTrained`) into a Predictor. */
export function loadPredictor(target: string, opts: { weights?: string; data?: string }): Predictor {
  const { model, config } = loadTrained(target, opts, 'predict');
  // Testing's transforms (resize, centre crop, normalisation), as the run evaluated its test split.
  const transform = trainTransforms(config).test;
  const shape = transform.outShape(config.input);
  model.eval();
  return {
    input: config.input,
    async top(pixels, k, invert = false) {
      const shown = invert ? pixels.map((v) => 1 - v) : pixels;
      const input = transform.apply(shown, 1, config.input, new Generator(0));
      const p = await classProbabilities(model, input, shape);
      const order = Array.from(p.keys()).sort((a, b) => p[b] - p[a] || a - b);
      return order
        .slice(0, k)
        .map((label) => ({ label, class: config.classes[label] ?? String(label), probability: p[label] }));
    },
  };
}

export async function runPredict(
  target: string,
  images: readonly string[],
  opts: PredictCliOptions,
): Promise<Prediction[]> {
  const predictor = loadPredictor(target, opts);
  const predictions: Prediction[] = [];
  for (const path of images) {
    const pixels = await readImage(path, predictor.input);
    predictions.push({ image: path, top: await predictor.top(pixels, opts.top, opts.invert) });
  }
  return predictions;
}

export function predictText(predictions: readonly Prediction[]): string {
  return predictions
    .map((p) => `${p.image}: ${p.top.map((t) => `${t.class} ${(100 * t.probability).toFixed(1)}%`).join(', ')}`)
    .join('\n');
}
