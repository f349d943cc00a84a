/**
 * `one-by-one`: GoogLeNet's 1x1 reductions and ResNet's bottleneck, block by block. For every
 * Inception module of both GoogLeNet layouts and every bottleneck of ResNet-50, the convolution
 * weights and multiply-adds with the 1x1 reduction and without it, at the block's real input
 * (channels and feature-map size read from the built model's summary on the meta backend). The
 * counts with the reduction are checked against the built model's own multiply-adds. Then a small
 * pair of nets with and without the reduction is trained (one-by-one-trained.ts): what the saving
 * costs in accuracy.
 */
import { compareReduction, convParams } from '../analysis/calculators.js';
import { summarizeEntry } from '../analysis/zoo.js';
import type { LayerRow } from '../analysis/summary.js';
import { withBackend } from '../backend/registry.js';
import { INCEPTION_WIDTHS } from '../models/googlenet.js';
import { getModel } from '../models/registry.js';
import { Conv2d } from '../nn/conv2d.js';
import { groupedBarsSpec, type BarRow } from './charts.js';
import { int, table, times } from './format.js';
import { REDUCTION_SERIES, trainPair } from './one-by-one-trained.js';
import type { ChartSpec, ClaimResult, Experiment, ExperimentResult, ExperimentSettings } from './types.js';

export interface BlockCount {
  model: string;
  block: string;
  inChannels: number;
  outChannels: number;
  /** Output feature map [height, width]. */
  size: [number, number];
  with: { params: number; macs: number };
  without: { params: number; macs: number; outChannels: number };
  /** Multiply-adds of the block in the built model's summary (the check of `with.macs`). */
  modelMacs: number;
}

const SERIES = REDUCTION_SERIES;

/** Weights of a k x k conv built on meta (bias off): an independent count of k k in out. */
function builtConvParams(inC: number, outC: number, k: number): number {
  return withBackend('meta', () => new Conv2d(inC, outC, k, { bias: false }).numParameters());
}

/** Every Inception module of a GoogLeNet layout, with and without its reductions. */
export function inceptionCounts(model: 'googlenet' | 'googlenet_paper'): BlockCount[] {
  const summary = summarizeEntry(getModel(model));
  const k5 = model === 'googlenet' ? 3 : 5;
  return Object.entries(INCEPTION_WIDTHS).map(([block, w]) => {
    const row = summary.rows.find((r) => r.path === block);
    if (!row?.inputShape || !row.outputShape) throw new Error(`${model}: no summary row for ${block}`);
    const inC = row.inputShape[1];
    const hw = row.outputShape[2] * row.outputShape[3];
    const p = (i: number, o: number, k: number): number => convParams(i, o, k);
    const withParams =
      p(inC, w.ch1x1, 1) +
      p(inC, w.ch3x3red, 1) +
      p(w.ch3x3red, w.ch3x3, 3) +
      p(inC, w.ch5x5red, 1) +
      p(w.ch5x5red, w.ch5x5, k5) +
      p(inC, w.poolProj, 1);
    // The naive module: 3x3 and 5x5 straight from the input, the pool passing every channel on.
    const withoutParams = p(inC, w.ch1x1, 1) + p(inC, w.ch3x3, 3) + p(inC, w.ch5x5, k5);
    return {
      model,
      block,
      inChannels: inC,
      outChannels: row.outputShape[1],
      size: [row.outputShape[2], row.outputShape[3]],
      with: { params: withParams, macs: withParams * hw },
      without: { params: withoutParams, macs: withoutParams * hw, outChannels: w.ch1x1 + w.ch3x3 + w.ch5x5 + inC },
      modelMacs: row.macs,
    };
  });
}

/** Every bottleneck of ResNet-50: 1x1-3x3-1x1 against two 3x3 convolutions at the block's width. */
export function bottleneckCounts(model = 'resnet50'): BlockCount[] {
  const summary = summarizeEntry(getModel(model));
  const convsUnder = (path: string): LayerRow[] =>
    summary.rows.filter(
      (r) => r.type === 'Conv2d' && /^conv[123]$/.test(r.path.slice(path.length + 1)) && r.path.startsWith(`${path}.`),
    );
  return summary.rows
    .filter((r) => r.type === 'Bottleneck')
    .map((row) => {
      if (!row.inputShape || !row.outputShape) throw new Error(`${model}: no shapes for ${row.path}`);
      const inC = row.inputShape[1];
      const outC = row.outputShape[1];
      const hw = row.outputShape[2] * row.outputShape[3];
      const convs = convsUnder(row.path);
      const withParams = convs.reduce((n, r) => n + r.ownParams, 0);
      const withMacs = convs.reduce((n, r) => n + r.macs, 0);
      const withoutParams = convParams(inC, outC, 3) + convParams(outC, outC, 3);
      const downsample = summary.rows.filter((r) => r.path.startsWith(`${row.path}.downsample`) && r.type === 'Conv2d');
      return {
        model,
        block: row.path,
        inChannels: inC,
        outChannels: outC,
        size: [row.outputShape[2], row.outputShape[3]],
        with: { params: withParams, macs: withMacs },
        without: { params: withoutParams, macs: withoutParams * hw, outChannels: outC },
        // The main path only: the projection shortcut is the same in both and left out.
        modelMacs: row.macs - downsample.reduce((n, r) => n + r.macs, 0),
      };
    });
}

function chart(file: string, title: string, rows: readonly BlockCount[], subtitle: string): ChartSpec {
  const bars = (key: 'params' | 'macs'): BarRow[] =>
    rows.flatMap((b) => [
      { group: b.block, series: SERIES[0], value: b.with[key] },
      { group: b.block, series: SERIES[1], value: b.without[key] },
    ]);
  return {
    file,
    caption: title,
    spec: groupedBarsSpec(
      title,
      [
        { title: 'Convolution weights', yTitle: 'parameters', rows: bars('params') },
        { title: 'Multiply-adds', yTitle: 'MACs', rows: bars('macs') },
      ],
      SERIES,
      subtitle,
    ),
  };
}

function blockTable(rows: readonly BlockCount[]): string {
  return table(
    [
      'block',
      'in',
      'map',
      'weights with',
      'weights without',
      'ratio',
      'MACs with',
      'MACs without',
      'ratio',
      'model MACs',
    ],
    rows.map((b) => [
      b.block,
      b.inChannels,
      `${b.size[0]}x${b.size[1]}`,
      int(b.with.params),
      int(b.without.params),
      times(b.without.params / b.with.params),
      int(b.with.macs),
      int(b.without.macs),
      times(b.without.macs / b.with.macs),
      int(b.modelMacs),
    ]),
  );
}

const ratioRange = (rows: readonly BlockCount[], key: 'params' | 'macs'): [number, number] => {
  const r = rows.map((b) => b.without[key] / b.with[key]);
  return [Math.min(...r), Math.max(...r)];
};

export async function runOneByOne(settings: ExperimentSettings): Promise<ExperimentResult> {
  const example = compareReduction({ inChannels: 128, reduced: 32, outChannels: 128, kernel: 3 });
  const built = {
    direct: builtConvParams(128, 128, 3),
    reduced: builtConvParams(128, 32, 1) + builtConvParams(32, 128, 3),
  };
  const tv = inceptionCounts('googlenet');
  const paper = inceptionCounts('googlenet_paper');
  const bottlenecks = bottleneckCounts('resnet50');
  const inceptions = [...tv, ...paper];

  const cheaper = (b: BlockCount): boolean => b.with.params < b.without.params && b.with.macs < b.without.macs;
  const matchesModel = (b: BlockCount): boolean => b.with.macs === b.modelMacs;

  const exampleHeld =
    built.direct === 147_456 &&
    built.reduced === 40_960 &&
    example.direct.params === built.direct &&
    example.withReduction.params === built.reduced;
  const [ip0, ip1] = ratioRange(inceptions, 'params');
  const [im0, im1] = ratioRange(inceptions, 'macs');
  const [bp0, bp1] = ratioRange(bottlenecks, 'params');
  const [bm0, bm1] = ratioRange(bottlenecks, 'macs');
  const inceptionCheaper = inceptions.filter(cheaper).length;
  const bottleneckCheaper = bottlenecks.filter(cheaper).length;

  const claims: ClaimResult[] = [
    {
      id: 'lecture-example',
      claim:
        'A 3x3 convolution from 128 to 128 channels has 147,456 weights; a 1x1 reduction to 32 channels before it brings that down to 40,960.',
      measured: `Conv2d layers built on the meta backend: 3x3 128->128 has ${int(built.direct)} weights; 1x1 128->32 plus 3x3 32->128 have ${int(built.reduced)} (${times(built.direct / built.reduced)} fewer).`,
      held: exampleHeld,
    },
    {
      id: 'inception',
      claim:
        "GoogLeNet's 1x1 reductions make every Inception module cheaper than the same module without them (3x3 and 5x5 straight from the input).",
      measured: `${inceptionCheaper} of ${inceptions.length} Inception modules (9 in each layout) have fewer weights and multiply-adds with the reductions: ${times(ip0)} to ${times(ip1)} fewer weights, ${times(im0)} to ${times(im1)} fewer MACs. The counts with reductions equal the built models' MACs in ${inceptions.filter(matchesModel).length} of ${inceptions.length} modules.`,
      held: inceptionCheaper === inceptions.length,
    },
    {
      id: 'bottleneck',
      claim:
        "ResNet's bottleneck (1x1 down to a quarter of the width, 3x3, 1x1 back up) is cheaper than 3x3 convolutions at the block's full width.",
      measured: `${bottleneckCheaper} of ${bottlenecks.length} ResNet-50 bottlenecks have fewer weights and MACs than two 3x3 convolutions at their width: ${times(bp0)} to ${times(bp1)} fewer weights, ${times(bm0)} to ${times(bm1)} fewer MACs. The counts equal the built model's main-path MACs in ${bottlenecks.filter(matchesModel).length} of ${bottlenecks.length} blocks.`,
      held: bottleneckCheaper === bottlenecks.length,
    },
  ];
  settings.log?.(`one-by-one: ${inceptions.length} Inception modules, ${bottlenecks.length} bottlenecks counted`);
  const pair = await trainPair(settings);
  claims.push(pair.claim);

  return {
    name: 'one-by-one',
    title: '1x1 convolutions: GoogLeNet reductions and ResNet bottlenecks',
    mode: settings.mode,
    claims,
    sections: [
      {
        heading: 'Counting',
        body: 'Convolution weights only (k x k x in x out; biases and batch norm left out, as the lecture counts), multiply-adds at the block\'s output feature map. "Without" is the naive Inception module (1x1, 3x3 and 5x5 convolutions straight from the input, the pooling branch passing all input channels on, so it also outputs more channels) and, for ResNet, two 3x3 convolutions at the block\'s output width (a basic block as wide as the bottleneck). Each block keeps its real input in both columns. "model MACs" is what the summary of the built model counts for the block (for ResNet, the main path without the projection shortcut); it should equal "MACs with".',
      },
      {
        heading: 'The worked example',
        body: table(
          ['layers', 'weights'],
          [
            ['3x3, 128 -> 128', int(built.direct)],
            ['1x1, 128 -> 32, then 3x3, 32 -> 128', int(built.reduced)],
            ['ratio', times(built.direct / built.reduced)],
          ],
        ),
      },
      { heading: 'Inception modules, torchvision GoogLeNet ("5x5" branch is 3x3)', body: blockTable(tv) },
      { heading: "Inception modules, the paper's GoogLeNet (true 5x5)", body: blockTable(paper) },
      { heading: 'ResNet-50 bottlenecks', body: blockTable(bottlenecks) },
      pair.section,
    ],
    charts: [
      chart(
        'inception-googlenet.svg',
        'Inception modules of googlenet (torchvision)',
        tv,
        'with and without the 1x1 reductions',
      ),
      chart(
        'inception-googlenet-paper.svg',
        'Inception modules of googlenet_paper',
        paper,
        'with and without the 1x1 reductions',
      ),
      chart(
        'bottlenecks-resnet50.svg',
        'Bottlenecks of resnet50',
        bottlenecks,
        "with the 1x1 reduction vs two 3x3 at the block's width",
      ),
      pair.chart,
    ],
    data: {
      lectureExample: { direct: built.direct, withReduction: built.reduced, calculator: example },
      inception: { googlenet: tv, googlenet_paper: paper },
      bottleneck: { resnet50: bottlenecks },
      trainedPair: { plan: pair.plan, costs: pair.costs, trained: pair.trained, difference: pair.difference },
    },
    notRun:
      settings.mode === 'quick'
        ? ['--full trains the pair longer on more data (20,000 images, 4 epochs, width 64, all 10,000 test images)']
        : [],
  };
}

export const ONE_BY_ONE: Experiment = {
  name: 'one-by-one',
  title: '1x1 convolutions: GoogLeNet reductions and ResNet bottlenecks',
  summary:
    'parameters and MACs of every Inception module and ResNet-50 bottleneck with and without the 1x1 reduction, and a small pair trained on Fashion-MNIST',
  lesson:
    'A 1x1 convolution that first reduces the channels makes Inception modules and ResNet bottlenecks several times cheaper; a small trained pair shows what the saving costs in accuracy.',
  trains: true,
  tiny: { trainLimit: 64, testLimit: 64, epochs: 1 },
  run: runOneByOne,
};
