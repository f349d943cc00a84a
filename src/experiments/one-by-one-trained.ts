/**
 * The trained half of `one-by-one`: two small nets that differ only in their middle block, trained
 * the same way (train-nets.ts), to show what the 1x1 reduction's saving costs in accuracy. The
 * block is the lecture's worked example at a small width: a 3x3 convolution from C to C channels,
 * against a 1x1 down to C/4 and then the 3x3 back up to C; each net has two such blocks.
 */
import { summarize } from '../analysis/summary.js';
import { withBackend } from '../backend/registry.js';
import { ReLU } from '../nn/activation.js';
import { BatchNorm2d } from '../nn/batch-norm2d.js';
import { Sequential } from '../nn/containers.js';
import { Conv2d } from '../nn/conv2d.js';
import { Flatten } from '../nn/flatten.js';
import { Linear } from '../nn/linear.js';
import type { Module } from '../nn/module.js';
import { MaxPool2d } from '../nn/pooling.js';
import { groupedBarsSpec } from './charts.js';
import { int, pct, table, times } from './format.js';
import { accuracyDifference, comparisonPlan, type TrainedNet, type TrainPlan, trainNets } from './train-nets.js';
import type { ChartSpec, ClaimResult, ExperimentSettings } from './types.js';

/** The two sides of every comparison in `one-by-one`. */
export const REDUCTION_SERIES = ['with 1x1 reduction', 'without'] as const;

/** Blocks in each net. */
const BLOCKS = 2;

const convBnRelu = (inC: number, outC: number, k: number): Module[] => [
  new Conv2d(inC, outC, k, { padding: (k - 1) / 2, bias: false }),
  new BatchNorm2d(outC),
  new ReLU(),
];

/**
 * Stem (3x3 conv-BN-ReLU to `width`, 2x2 max pool), two blocks at `width` channels (3x3, or 1x1 to
 * width / 4 then 3x3, each conv with BN and ReLU), 2x2 max pool, flatten, linear.
 */
export function pairNet(reduce: boolean, inChannels: number, classes: number, width: number, side: number): Sequential {
  const block = (): Module[] =>
    reduce ? [...convBnRelu(width, width / 4, 1), ...convBnRelu(width / 4, width, 3)] : convBnRelu(width, width, 3);
  return Sequential.named({
    stem: new Sequential(...convBnRelu(inChannels, width, 3), new MaxPool2d(2)),
    blocks: new Sequential(...Array.from({ length: BLOCKS }, block).flat()),
    head: new Sequential(new MaxPool2d(2), new Flatten(), new Linear(width * Math.floor(side / 4) ** 2, classes)),
  });
}

export interface PairPlan extends TrainPlan {
  width: number;
}

/** The sizes of small-kernels (comparisonPlan) at width 32 (quick) or 64 (full). */
export function pairPlan(settings: ExperimentSettings): PairPlan {
  return { ...comparisonPlan(settings), width: settings.mode === 'quick' ? 32 : 64 };
}

export interface PairCost {
  net: string;
  /** Convolution weights and multiply-adds of the blocks, at the map they see (side / 2). */
  blockParams: number;
  blockMacs: number;
  netParams: number;
}

/** Exact costs of the two nets for images of `input` (CxHxW), counted on the meta backend. */
export function pairCosts(width: number, input: readonly [number, number, number], classes: number): PairCost[] {
  return REDUCTION_SERIES.map((net, i) => {
    const model = withBackend('meta', () => pairNet(i === 0, input[0], classes, width, input[1]));
    const blocks = model.get('blocks') as Sequential;
    const half = Math.floor(input[1] / 2);
    const s = summarize(blocks, { input: [width, half, half] });
    const convs = s.rows.filter((r) => r.type === 'Conv2d');
    return {
      net,
      blockParams: convs.reduce((n, r) => n + r.ownParams, 0),
      blockMacs: convs.reduce((n, r) => n + r.macs, 0),
      netParams: model.numParameters(),
    };
  });
}

export interface TrainedPair {
  plan: PairPlan;
  costs: PairCost[];
  trained: TrainedNet[];
  /** Test accuracy with the reduction minus without, its standard error, and whether it is noise. */
  difference: { diff: number; se: number; withinNoise: boolean };
  claim: ClaimResult;
  section: { heading: string; body: string };
  chart: ChartSpec;
}

/** Trains the pair and decides the claim from their test accuracies. */
export async function trainPair(settings: ExperimentSettings): Promise<TrainedPair> {
  const plan = pairPlan(settings);
  const trained = await trainNets(
    settings,
    plan,
    REDUCTION_SERIES.map((name, i) => ({
      name,
      build: (c: number, classes: number, side: number) => pairNet(i === 0, c, classes, plan.width, side),
    })),
    'one-by-one',
  );
  const [withR, without] = trained;
  const costs = pairCosts(plan.width, withR.input, withR.classes);
  const [cw, co] = costs;
  const difference = accuracyDifference(withR, without);
  const cost = -difference.diff;
  const weightRatio = co.blockParams / cw.blockParams;
  const macRatio = co.blockMacs / cw.blockMacs;
  const verdict = difference.withinNoise
    ? 'within two standard errors: no accuracy cost this run can see'
    : cost > 0
      ? 'beyond two standard errors: the saving cost accuracy'
      : 'beyond two standard errors in favour of the reduction';
  const claim: ClaimResult = {
    id: 'trained-pair',
    claim:
      'A network with 1x1 reductions trains to about the same accuracy as the one without, at a fraction of the cost.',
    measured: `Two nets with ${BLOCKS} blocks at width ${plan.width}, trained ${plan.epochs} epoch(s) on ${int(plan.trainLimit)} ${settings.data} training images: with the reduction ${int(cw.blockParams)} block weights and ${int(cw.blockMacs)} MACs, test accuracy ${pct(withR.testAccuracy)}; without ${int(co.blockParams)} weights and ${int(co.blockMacs)} MACs, ${pct(without.testAccuracy)}. The saving: ${times(weightRatio)} fewer weights, ${times(macRatio)} fewer MACs; its cost: ${(100 * cost).toFixed(2)} points of test accuracy on ${int(plan.testLimit)} images (standard error of the difference ${(100 * difference.se).toFixed(2)}; ${verdict}).`,
    // Held unless the net without the reduction is better by more than the noise.
    held: difference.withinNoise || cost <= 0,
  };
  const section = {
    heading: 'The trained pair',
    body: `${table(
      [
        'net',
        'block weights',
        'block MACs',
        'net parameters',
        'test accuracy',
        'standard error',
        'test loss',
        'seconds',
      ],
      trained.map((t, i) => [
        t.name,
        int(costs[i].blockParams),
        int(costs[i].blockMacs),
        int(costs[i].netParams),
        pct(t.testAccuracy),
        pct(t.standardError),
        t.testLoss.toFixed(4),
        t.seconds.toFixed(1),
      ]),
    )}\n\nEach net: 3x3 conv-BN-ReLU stem at ${plan.width} channels, 2x2 max pool, ${BLOCKS} blocks (without: 3x3 conv ${plan.width} -> ${plan.width}; with: 1x1 conv ${plan.width} -> ${plan.width / 4}, then 3x3 conv ${plan.width / 4} -> ${plan.width}; each conv with BN and ReLU), 2x2 max pool, flatten, linear. Adam, lr ${plan.lr}, batch ${plan.batchSize}, no augmentation; both nets start from seed ${settings.seed} and see the same batches. Verdict: the reduction saved ${times(weightRatio)} of the block weights and cost ${(100 * cost).toFixed(2)} points of test accuracy, ${verdict}. One run per net on a small subset: \`--full\` trains longer on more data.`,
  };
  const bars = (value: (i: number) => number) =>
    REDUCTION_SERIES.map((net, i) => ({ group: net, series: net, value: value(i) }));
  const chart: ChartSpec = {
    file: 'trained-pair.svg',
    caption: 'The trained pair: block weights and multiply-adds against test accuracy',
    spec: groupedBarsSpec(
      'What the 1x1 reduction saves and what it costs',
      [
        { title: 'Weights of the blocks', yTitle: 'weights', rows: bars((i) => costs[i].blockParams) },
        { title: 'Multiply-adds of the blocks', yTitle: 'MACs', rows: bars((i) => costs[i].blockMacs) },
        { title: 'Test accuracy', yTitle: 'accuracy', format: '.0%', rows: bars((i) => trained[i].testAccuracy) },
      ],
      REDUCTION_SERIES,
      `${plan.epochs} epoch(s), ${int(plan.trainLimit)} training images, width ${plan.width}`,
    ),
  };
  return { plan, costs, trained, difference, claim, section, chart };
}
