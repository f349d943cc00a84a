/**
 * The effective receptive field (Luo et al. 2016, "Understanding the Effective Receptive Field in
 * Deep CNNs") of a plain stack of 3x3 conv-BN-ReLU layers, untrained and after a short training on
 * the experiment's data: |d y / d x|, y the centre unit of the last map summed over its channels,
 * averaged over a batch of real test images and summed over the input channels; summarised by the
 * square around the centre that holds 95% of the gradient mass, set against the theoretical field,
 * and checked to be exactly zero outside that field.
 */
import { summarize } from '../analysis/summary.js';
import { getBackend, withBackend } from '../backend/registry.js';
import { withSetting } from '../core/config.js';
import { Generator, manualSeed } from '../core/random.js';
import type { Tensor } from '../core/tensor.js';
import { loadSource, parseDataSource } from '../data/source.js';
import { asImageShape, channelStats, normalize } from '../data/transforms.js';
import { ReLU } from '../nn/activation.js';
import { BatchNorm2d } from '../nn/batch-norm2d.js';
import { Sequential } from '../nn/containers.js';
import { Conv2d } from '../nn/conv2d.js';
import { Flatten } from '../nn/flatten.js';
import { Linear } from '../nn/linear.js';
import type { Module } from '../nn/module.js';
import { fromArray } from '../ops/creation.js';
import { slice } from '../ops/layout.js';
import { sum } from '../ops/reduce.js';
import { type LinePoint, linesSpec } from './charts.js';
import { type HeatmapOverlay, heatmapSpec } from './charts-panels.js';
import { pct } from './format.js';
import { comparisonPlan, type TrainedNet, type TrainPlan, trainNets } from './train-nets.js';
import type { ChartSpec, ExperimentSettings } from './types.js';

/**
 * The stack's depth (on images of 28 px and more) and width, its training sizes (--limit,
 * --test-limit and --epochs override them) and how many test images the gradient is averaged over.
 */
export const STACK_PLAN = {
  quick: { depth: 12, width: 16, trainLimit: 2000, testLimit: 1000, epochs: 2, images: 256 },
  full: { depth: 12, width: 32, trainLimit: 20000, testLimit: 10000, epochs: 4, images: 1000 },
} as const;

/** The training sizes of the stack: comparisonPlan's optimiser and batch, STACK_PLAN's sizes. */
export function stackTrainPlan(settings: ExperimentSettings): TrainPlan {
  const p = STACK_PLAN[settings.mode];
  return {
    ...comparisonPlan(settings),
    trainLimit: settings.trainLimit ?? p.trainLimit,
    testLimit: settings.testLimit ?? p.testLimit,
    epochs: settings.epochs ?? p.epochs,
  };
}

/** At most `depth` layers, fewer on small images: the field 2 depth + 1 keeps a ring of pixels outside it. */
export function stackDepth(depth: number, side: number): number {
  return Math.max(1, Math.min(depth, Math.floor((side - 1) / 2) - 1));
}

/**
 * `features`: depth x (3x3 conv, padding 1, BN, ReLU) at `width`; `head`: flatten, linear (it
 * learned far faster than global average pooling in a short run: 80% against 57% test accuracy
 * after 2 epochs on 2,000 Fashion-MNIST images).
 */
export function plainStack(
  inChannels: number,
  classes: number,
  depth: number,
  width: number,
  [h, w]: readonly [number, number],
): Sequential {
  const layers = Array.from({ length: depth }, (_, i) => [
    new Conv2d(i === 0 ? inChannels : width, width, 3, { padding: 1, bias: false }),
    new BatchNorm2d(width),
    new ReLU(),
  ]).flat();
  return Sequential.named({
    features: new Sequential(...layers),
    head: new Sequential(new Flatten(), new Linear(width * h * w, classes)),
  });
}

/** What a gradient map says about the field (every distance is Chebyshev, in pixels, from `centre`). */
export interface FieldMeasure {
  /** Side of the smallest square around the centre holding 95% of the gradient mass (odd). */
  side95: number;
  /** The same side interpolated between the squares either side of 95% (for comparing two maps). */
  side95Interpolated: number;
  /** (side95Interpolated / theoretical side in the image)^2. */
  areaFraction95: number;
  /** sqrt(sum m d^2 / sum m), d the Euclidean distance from the centre. */
  rmsRadius: number;
  /** Pixels outside the theoretical field, how many of them have a gradient that is not 0, and the largest there. */
  outsidePixels: number;
  outsideNonzero: number;
  outsideMax: number;
  /** Mean |gradient| per pixel at each Chebyshev distance 0, 1, ..., relative to the largest of them. */
  radial: number[];
  /** Share of the gradient mass in each pixel, row-major (sums to 1). */
  share: number[];
}

/** Side of a square field of side `field` centred on `centre`, clipped to an image of h x w (the shorter of its two sides). */
export function sideInImage(
  centre: readonly [number, number],
  field: number,
  [h, w]: readonly [number, number],
): number {
  const half = (field - 1) / 2;
  const clipped = (c: number, n: number) => Math.min(n - 1, c + half) - Math.max(0, c - half) + 1;
  return Math.min(clipped(centre[0], h), clipped(centre[1], w));
}

/** Measures a |gradient| map of side h x w against a theoretical field of side `field` centred on `centre`. */
export function measureField(
  heat: readonly number[],
  [h, w]: readonly [number, number],
  centre: readonly [number, number],
  field: number,
): FieldMeasure {
  const half = (field - 1) / 2;
  const total = heat.reduce((a, b) => a + b, 0);
  const maxDistance = Math.max(centre[0], h - 1 - centre[0], centre[1], w - 1 - centre[1]);
  const ring = new Array<number>(maxDistance + 1).fill(0);
  const ringCount = new Array<number>(maxDistance + 1).fill(0);
  let outsidePixels = 0;
  let outsideNonzero = 0;
  let outsideMax = 0;
  let second = 0;
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++) {
      const v = heat[y * w + x];
      const d = Math.max(Math.abs(y - centre[0]), Math.abs(x - centre[1]));
      ring[d] += v;
      ringCount[d]++;
      second += v * ((y - centre[0]) ** 2 + (x - centre[1]) ** 2);
      if (d > half) {
        outsidePixels++;
        if (v !== 0) outsideNonzero++;
        outsideMax = Math.max(outsideMax, v);
      }
    }
  let inside = 0;
  let side95 = 2 * maxDistance + 1;
  let side95Interpolated = side95;
  for (let d = 0; d <= maxDistance; d++) {
    const before = inside;
    inside += ring[d];
    if (inside >= 0.95 * total) {
      side95 = 2 * d + 1;
      // Between the square of side 2d - 1 (0 for d = 0) and that of side 2d + 1.
      side95Interpolated = Math.max(0, 2 * d - 1) + (d === 0 ? 1 : 2) * ((0.95 * total - before) / ring[d]);
      break;
    }
  }
  const perPixel = ring.map((m, d) => m / ringCount[d]);
  const peak = Math.max(...perPixel);
  return {
    side95,
    side95Interpolated,
    areaFraction95: (side95Interpolated / sideInImage(centre, field, [h, w])) ** 2,
    rmsRadius: Math.sqrt(second / total),
    outsidePixels,
    outsideNonzero,
    outsideMax,
    radial: perPixel.map((m) => m / peak),
    share: heat.map((v) => v / total),
  };
}

/** Mean over the batch of |x.grad| summed over the input channels, an h x w map (row-major). */
export function inputHeat(x: Tensor, [n, c, h, w]: readonly number[]): number[] {
  const g = x.grad?.toArray();
  if (!g) throw new Error('receptive-field: no gradient reached the input');
  const plane = h * w;
  const heat = new Array<number>(plane).fill(0);
  for (let b = 0; b < n * c; b++) for (let i = 0; i < plane; i++) heat[i] += Math.abs(g[b * plane + i]) / n;
  return heat;
}

/**
 * Mean over the batch of |d y / d x| summed over the input channels, y the unit at (uy, ux) of
 * the map `features` makes, summed over its channels. Eval mode, so no image affects another's
 * gradient and one backward pass of the batch's sum gives each image's. The convs run direct:
 * Winograd's transforms (which the native backend may pick by measuring) leave rounding residues
 * of about 1e-14 where the gradient is exactly 0, and the field's edge is what this measures.
 */
export function centreGradient(
  features: Module,
  inputs: Float32Array,
  shape: readonly number[],
  [uy, ux]: readonly [number, number],
): number[] {
  const [n, c, h, w] = shape;
  features.eval();
  return withSetting('convAlgorithm', 'direct', () => {
    const x = fromArray(inputs, [n, c, h, w]).requireGrad();
    const y = features.call(x);
    const picked = sum(slice(slice(y, 2, uy, uy + 1), 3, ux, ux + 1));
    picked.backward();
    const heat = inputHeat(x, shape);
    picked.dispose();
    y.dispose();
    x.dispose();
    return heat;
  });
}

export interface EffectiveFields {
  net: string;
  backend: string;
  depth: number;
  width: number;
  /** Images (CxHxW) the stack was trained and measured on; how many test images the gradient averages. */
  input: [number, number, number];
  images: number;
  trainImages: number;
  testImages: number;
  /** The unit taken (centre of the last map) and the input pixel its theoretical field is centred on. */
  unit: [number, number];
  centre: [number, number];
  /** Theoretical field (from the summary of the built stack) and its side clipped to the image. */
  theoretical: number;
  theoreticalInImage: number;
  untrained: FieldMeasure;
  trained: FieldMeasure;
  training: TrainedNet;
}

/**
 * Trains the plain stack with trainNets (the sizes of comparisonPlan) and measures the effective
 * field of the trained net and of the same net as initialised (rebuilt from the same seed) on the
 * first test images, normalised by the training subset's statistics as in training.
 */
export async function effectiveFields(settings: ExperimentSettings): Promise<EffectiveFields> {
  const stackPlan = STACK_PLAN[settings.mode];
  const plan = stackTrainPlan(settings);
  const source = parseDataSource(settings.data);
  const train = loadSource(source, 'train', plan.trainLimit);
  const test = loadSource(source, 'test', plan.testLimit);
  const shape = asImageShape(train.sampleShape);
  const [channels, h, w] = shape;
  const depth = stackDepth(stackPlan.depth, Math.min(h, w));
  const name = `plain stack of ${depth} 3x3 conv-BN-ReLU (width ${stackPlan.width})`;
  const build = (c: number, classes: number) => plainStack(c, classes, depth, stackPlan.width, [h, w]);
  let trainedNet: Sequential | undefined;
  const [training] = await trainNets(
    settings,
    plan,
    [
      {
        name,
        build: (c, classes) => {
          trainedNet = build(c, classes);
          return trainedNet;
        },
      },
    ],
    'receptive-field',
  );
  if (!trainedNet) throw new Error('receptive-field: trainNets built no net');
  // trainNets seeds with settings.seed before building, so this is the trained net as it started.
  manualSeed(settings.seed);
  const untrainedNet = build(channels, train.classes.length);

  const stats = channelStats(train);
  const n = Math.min(stackPlan.images, test.labels.length);
  const raw = test.inputs.slice(0, n * channels * h * w);
  const inputs = normalize(stats.mean, stats.std).apply(raw, n, shape, new Generator(settings.seed));
  const features = (net: Sequential): Module => net.get('features') as Module;
  const last = withBackend('meta', () =>
    summarize(features(build(channels, train.classes.length)), { input: [...shape] }),
  ).rows.at(-1);
  const theory = last?.receptiveField;
  const map = last?.outputShape;
  if (!theory || !map) throw new Error('receptive-field: the stack has no receptive field');
  const unit: [number, number] = [Math.floor(map[map.length - 2] / 2), Math.floor(map[map.length - 1] / 2)];
  const centre: [number, number] = [
    theory.start[0] + unit[0] * theory.jump[0],
    theory.start[1] + unit[1] * theory.jump[1],
  ];
  const field = theory.size[0];
  const measure = (net: Sequential): FieldMeasure =>
    measureField(centreGradient(features(net), inputs, [n, ...shape], unit), [h, w], centre, field);
  const untrained = measure(untrainedNet);
  const trained = measure(trainedNet);
  return {
    net: name,
    backend: getBackend().name,
    depth,
    width: stackPlan.width,
    input: [...shape],
    images: n,
    trainImages: train.labels.length,
    testImages: test.labels.length,
    unit,
    centre,
    theoretical: field,
    theoreticalInImage: sideInImage(centre, field, [h, w]),
    untrained,
    trained,
    training,
  };
}

/** The two heatmaps (share of the gradient mass per pixel, theoretical field and 95% square outlined) and the radial profile. */
export function effectiveFieldCharts(e: EffectiveFields): ChartSpec[] {
  const [, h, w] = e.input;
  const box = (side: number, label: string, color: string): HeatmapOverlay => {
    const half = (side - 1) / 2;
    const clip = (v: number, n: number) => Math.max(0, Math.min(n - 1, v));
    return {
      label,
      color,
      x0: clip(e.centre[1] - half, w),
      x1: clip(e.centre[1] + half, w),
      y0: clip(e.centre[0] - half, h),
      y1: clip(e.centre[0] + half, h),
    };
  };
  const heatmap = (which: 'untrained' | 'trained'): ChartSpec => {
    const m = e[which];
    const state = which === 'trained' ? `trained (test accuracy ${pct(e.training.testAccuracy)})` : 'untrained';
    return {
      file: `effective-field-${which}.svg`,
      caption: `Effective receptive field of the ${e.net}, ${state}: share of |d centre unit / d input| per pixel, mean over ${e.images} test images`,
      spec: heatmapSpec(
        `Effective receptive field, ${state}`,
        m.share,
        [h, w],
        [
          box(e.theoretical, `theoretical field ${e.theoretical} px`, '#ff7f0e'),
          box(m.side95, `95% of the gradient mass: ${m.side95} px`, '#e41a1c'),
        ],
        'share of |gradient|',
        `${e.net}, centre unit of the last map, ${h}x${w} images`,
      ),
    };
  };
  const edge = (e.theoretical - 1) / 2;
  const radial: LinePoint[] = [
    ...e.untrained.radial.map((y, x) => ({ series: 'untrained', x, y })),
    ...e.trained.radial.map((y, x) => ({ series: 'trained', x, y })),
    { series: `edge of the theoretical field (${edge} px)`, x: edge, y: 0 },
    { series: `edge of the theoretical field (${edge} px)`, x: edge, y: 1 },
  ];
  return [
    heatmap('untrained'),
    heatmap('trained'),
    {
      file: 'effective-field-radial.svg',
      caption: `Radial profile of the effective field: mean |gradient| per pixel at each distance from the centre, relative to its peak, untrained and trained (${e.net})`,
      spec: linesSpec(
        'Effective field: radial profile',
        radial,
        {
          x: 'distance from the centre pixel (Chebyshev, px)',
          y: 'mean |gradient| per pixel / peak',
          legend: 'net',
          xInteger: true,
        },
        `the gradient is exactly 0 beyond the theoretical edge; ${e.images} test images`,
      ),
    },
  ];
}
