/**
 * `small-kernels`: VGG's argument. Two stacked 3x3 convolutions see as far as one 5x5 (three as far
 * as one 7x7) with fewer weights and multiply-adds and more ReLUs: counted exactly on layers built
 * on the meta backend, then tested by training: four small nets that differ only in that block
 * (2 x 3x3, 5x5, 3 x 3x3, 7x7) trained on a subset of Fashion-MNIST (or the --data given) with
 * the same seed, data order and optimiser, and their test accuracy compared.
 */
import { summarize } from '../analysis/summary.js';
import { getBackend, withBackend } from '../backend/registry.js';
import { ReLU } from '../nn/activation.js';
import { BatchNorm2d } from '../nn/batch-norm2d.js';
import { Sequential } from '../nn/containers.js';
import { Conv2d } from '../nn/conv2d.js';
import { Flatten } from '../nn/flatten.js';
import { Linear } from '../nn/linear.js';
import { MaxPool2d } from '../nn/pooling.js';
import { groupedBarsSpec } from './charts.js';
import { int, pct, table, times } from './format.js';
import { accuracyDifference, comparisonPlan, type TrainPlan, trainNets } from './train-nets.js';
import type { ClaimResult, Experiment, ExperimentResult, ExperimentSettings } from './types.js';

/** The compared block: `count` k x k conv-BN-ReLU layers at `width` channels. */
export interface Variant {
  name: string;
  kernel: number;
  count: number;
}

export const VARIANTS: readonly Variant[] = [
  { name: '2 x 3x3', kernel: 3, count: 2 },
  { name: '1 x 5x5', kernel: 5, count: 1 },
  { name: '3 x 3x3', kernel: 3, count: 3 },
  { name: '1 x 7x7', kernel: 7, count: 1 },
];

/** Pairs with the same receptive field: [stacked, single]. */
const PAIRS: readonly [string, string][] = [
  ['2 x 3x3', '1 x 5x5'],
  ['3 x 3x3', '1 x 7x7'],
];

/** Stem (3x3 conv-BN-ReLU, 2x2 max pool), the compared block, 2x2 max pool, flatten, linear (images of side `side`). */
export function variantNet(v: Variant, inChannels: number, classes: number, width: number, side = 28): Sequential {
  const block = Array.from({ length: v.count }, () => [
    new Conv2d(width, width, v.kernel, { padding: (v.kernel - 1) / 2, bias: false }),
    new BatchNorm2d(width),
    new ReLU(),
  ]).flat();
  return Sequential.named({
    stem: new Sequential(
      new Conv2d(inChannels, width, 3, { padding: 1, bias: false }),
      new BatchNorm2d(width),
      new ReLU(),
      new MaxPool2d(2),
    ),
    block: new Sequential(...block),
    head: new Sequential(new MaxPool2d(2), new Flatten(), new Linear(width * Math.floor(side / 4) ** 2, classes)),
  });
}

export interface VariantCost {
  variant: string;
  /** Receptive field of the block alone (measured). */
  field: number;
  blockParams: number;
  blockMacs: number;
  relus: number;
  netParams: number;
}

/** The block's exact costs at `width` channels on a side x side map, and the whole net's parameters. */
export function variantCosts(width: number, side: number, inChannels = 1, classes = 10): VariantCost[] {
  return VARIANTS.map((v) => {
    const net = withBackend('meta', () => variantNet(v, inChannels, classes, width));
    const block = net.get('block') as Sequential;
    const s = summarize(block, { input: [width, side, side] });
    const last = s.rows.filter((r) => r.type === 'Conv2d').at(-1);
    return {
      variant: v.name,
      field: last?.receptiveField?.size[0] ?? 0,
      blockParams: s.rows.filter((r) => r.type === 'Conv2d').reduce((n, r) => n + r.ownParams, 0),
      blockMacs: s.totals.macs,
      relus: v.count,
      netParams: net.numParameters(),
    };
  });
}

export interface TrainedVariant {
  variant: string;
  testAccuracy: number;
  testLoss: number;
  trainAccuracy: number;
  /** Standard error of the test accuracy, sqrt(p (1 - p) / n). */
  standardError: number;
  seconds: number;
}

export interface SmallKernelsPlan extends TrainPlan {
  width: number;
}

export function planFor(settings: ExperimentSettings): SmallKernelsPlan {
  return { ...comparisonPlan(settings), width: settings.mode === 'quick' ? 16 : 32 };
}

export async function trainVariants(settings: ExperimentSettings, plan: SmallKernelsPlan): Promise<TrainedVariant[]> {
  const nets = VARIANTS.map((v) => ({
    name: v.name,
    build: (c: number, classes: number, side: number) => variantNet(v, c, classes, plan.width, side),
  }));
  const trained = await trainNets(settings, plan, nets, 'small-kernels');
  return trained.map((t) => ({
    variant: t.name,
    testAccuracy: t.testAccuracy,
    testLoss: t.testLoss,
    trainAccuracy: t.epochs[t.epochs.length - 1].trainAccuracy,
    standardError: t.standardError,
    seconds: t.seconds,
  }));
}

export async function runSmallKernels(settings: ExperimentSettings): Promise<ExperimentResult> {
  const plan = planFor(settings);
  const costs = variantCosts(plan.width, 14);
  const by = new Map(costs.map((c) => [c.variant, c]));
  const exactHeld = PAIRS.every(([a, b]) => {
    const s = by.get(a) as VariantCost;
    const l = by.get(b) as VariantCost;
    return s.field === l.field && s.blockParams < l.blockParams && s.blockMacs < l.blockMacs && s.relus > l.relus;
  });
  const trained = await trainVariants(settings, plan);
  const acc = new Map(trained.map((t) => [t.variant, t]));
  const pairWords = PAIRS.map(([a, b]) => {
    const s = acc.get(a) as TrainedVariant;
    const l = acc.get(b) as TrainedVariant;
    const { diff, se, withinNoise } = accuracyDifference(s, l);
    return { a, b, diff, se, withinNoise, atLeast: s.testAccuracy >= l.testAccuracy };
  });
  const trainedHeld = pairWords.every((p) => p.atLeast);
  const claims: ClaimResult[] = [
    {
      id: 'same-field-fewer-weights',
      claim:
        'Two stacked 3x3 convolutions see a 5x5 field and three see 7x7, as one 5x5 or 7x7 kernel does, with fewer weights and multiply-adds and more non-linearities.',
      measured: `${PAIRS.map(([a, b]) => {
        const s = by.get(a) as VariantCost;
        const l = by.get(b) as VariantCost;
        return `${a}: field ${s.field}, ${int(s.blockParams)} weights, ${int(s.blockMacs)} MACs, ${s.relus} ReLUs; ${b}: field ${l.field}, ${int(l.blockParams)} weights, ${int(l.blockMacs)} MACs, ${l.relus} ReLU (${times(l.blockParams / s.blockParams)} the weights)`;
      }).join('. ')} (${plan.width} channels, 14x14 map).`,
      held: exactHeld,
    },
    {
      id: 'trained',
      claim: 'With fewer weights, the stacked small kernels learn at least as well as the single large kernel.',
      measured: `After ${plan.epochs} epoch(s) on ${int(plan.trainLimit)} ${settings.data} training images, test accuracy on ${int(plan.testLimit)}: ${trained.map((t) => `${t.variant} ${pct(t.testAccuracy)}`).join(', ')}. ${pairWords
        .map(
          (p) =>
            `${p.a} minus ${p.b}: ${(100 * p.diff).toFixed(2)} points (standard error of the difference ${(100 * p.se).toFixed(2)}; ${p.withinNoise ? 'within' : 'beyond'} two standard errors)`,
        )
        .join('; ')}.`,
      held: trainedHeld,
    },
  ];
  return {
    name: 'small-kernels',
    title: 'Small kernels: stacked 3x3 against one 5x5 or 7x7',
    mode: settings.mode,
    claims,
    sections: [
      {
        heading: `Exact costs of the compared block (${plan.width} channels in and out, 14x14 map)`,
        body: table(
          ['block', 'field', 'weights', 'MACs', 'ReLUs', 'whole net parameters'],
          costs.map((c) => [
            c.variant,
            `${c.field}x${c.field}`,
            int(c.blockParams),
            int(c.blockMacs),
            c.relus,
            int(c.netParams),
          ]),
        ),
      },
      {
        heading: 'Training',
        body: `${table(
          ['block', 'test accuracy', 'standard error', 'test loss', 'train accuracy (last epoch)', 'seconds'],
          trained.map((t) => [
            t.variant,
            pct(t.testAccuracy),
            pct(t.standardError),
            t.testLoss.toFixed(4),
            pct(t.trainAccuracy),
            t.seconds.toFixed(1),
          ]),
        )}\n\nEach net: 3x3 conv-BN-ReLU stem at ${plan.width} channels, 2x2 max pool, the compared block (conv-BN-ReLU per layer), 2x2 max pool, flatten, linear. Adam, lr ${plan.lr}, batch ${plan.batchSize}, no augmentation, inputs normalised by the training subset's mean and std; every net starts from seed ${settings.seed} and sees the batches in the same order. Backend ${getBackend().name}. One run per net on a small subset: differences within about two standard errors are noise.`,
      },
    ],
    charts: [
      {
        file: 'small-kernels.svg',
        caption: 'Weights of the compared block and test accuracy of each net',
        spec: groupedBarsSpec(
          'Stacked 3x3 against one large kernel',
          [
            {
              title: 'Weights of the block',
              yTitle: 'weights',
              rows: costs.map((c) => ({
                group: c.variant,
                series: c.relus > 1 ? 'stacked 3x3' : 'single kernel',
                value: c.blockParams,
              })),
            },
            {
              title: 'Test accuracy',
              yTitle: 'accuracy',
              format: '.0%',
              rows: trained.map((t) => ({
                group: t.variant,
                series: t.variant.startsWith('1 x') ? 'single kernel' : 'stacked 3x3',
                value: t.testAccuracy,
              })),
            },
          ],
          ['stacked 3x3', 'single kernel'],
          `${plan.epochs} epoch(s), ${int(plan.trainLimit)} training images`,
        ),
      },
    ],
    data: { plan, costs, trained, pairs: pairWords },
    notRun:
      settings.mode === 'quick'
        ? ['--full trains longer on more data (20,000 images, 4 epochs, width 32, all 10,000 test images)']
        : [],
  };
}

export const SMALL_KERNELS: Experiment = {
  name: 'small-kernels',
  title: 'Small kernels: stacked 3x3 against one 5x5 or 7x7',
  summary: 'two 3x3 vs one 5x5 and three 3x3 vs one 7x7: exact costs, and a quick training on Fashion-MNIST',
  lesson:
    "VGG's argument: two 3x3 see as far as one 5x5 and three as far as one 7x7 for fewer weights; four small nets are trained to compare.",
  trains: true,
  tiny: { trainLimit: 64, testLimit: 64, epochs: 1 },
  run: runSmallKernels,
};
