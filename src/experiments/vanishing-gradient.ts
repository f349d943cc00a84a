/**
 * `vanishing-gradient`: how much gradient reaches each layer of a deep net at initialisation, with
 * and without shortcuts. One batch of real images (Fashion-MNIST unless --data says otherwise)
 * through the CIFAR ResNets and their plain twins in training mode, cross-entropy, one backward
 * pass; the root-mean-square of each convolution's weight gradient, layer by layer.
 */
import { getBackend } from '../backend/registry.js';
import { Generator, manualSeed } from '../core/random.js';
import type { Tensor } from '../core/tensor.js';
import { fromArray } from '../ops/creation.js';
import { asImageShape, channelStats, normalize } from '../data/transforms.js';
import { loadSource, parseDataSource } from '../data/source.js';
import { getModel } from '../models/registry.js';
import { Conv2d } from '../nn/conv2d.js';
import { crossEntropy } from '../ops/cross-entropy.js';
import { linesSpec, type LinePoint } from './charts.js';
import { table } from './format.js';
import type { ClaimResult, Experiment, ExperimentResult, ExperimentSettings } from './types.js';

export interface GradientProfile {
  model: string;
  /** RMS of each convolution's weight gradient, in forward order. */
  rms: number[];
  /** First convolution's RMS over the last one's. */
  firstOverLast: number;
  loss: number;
}

/** One backward pass of `model` (a zoo name) on the batch; the gradient RMS of every conv weight. */
export function gradientProfile(
  name: string,
  inputs: Tensor,
  labels: Int32Array,
  classes: number,
  seed: number,
): GradientProfile {
  manualSeed(seed);
  const net = getModel(name).build({ inChannels: inputs.shape[1], classes });
  net.train();
  const loss = crossEntropy(net.call(inputs), labels);
  loss.backward();
  const rms = net
    .modules()
    .filter((m): m is Conv2d => m instanceof Conv2d)
    .map((c) => {
      const g = c.weight.grad?.toArray() ?? [];
      let s = 0;
      for (const v of g) s += v * v;
      return Math.sqrt(s / Math.max(1, g.length));
    });
  const value = loss.item();
  loss.dispose();
  return { model: name, rms, firstOverLast: rms[0] / rms[rms.length - 1], loss: value };
}

export async function runVanishingGradient(settings: ExperimentSettings): Promise<ExperimentResult> {
  const depths = settings.mode === 'full' ? [20, 56, 110] : [20, 56];
  const batch = settings.trainLimit ?? (settings.mode === 'full' ? 128 : 32);
  const source = parseDataSource(settings.data);
  const data = loadSource(source, 'train', batch);
  const shape = asImageShape(data.sampleShape);
  const stats = channelStats(data);
  const values = normalize(stats.mean, stats.std).apply(
    data.inputs.slice(),
    data.labels.length,
    shape,
    new Generator(settings.seed),
  );
  const inputs = fromArray(values, [data.labels.length, ...shape]);
  const profiles: GradientProfile[] = [];
  for (const d of depths)
    for (const kind of ['plain', 'resnet']) {
      const p = gradientProfile(`${kind}${d}_cifar`, inputs, data.labels, data.classes.length, settings.seed);
      profiles.push(p);
      settings.log?.(
        `vanishing-gradient: ${p.model}: first/last conv gradient RMS ${p.firstOverLast.toExponential(2)}`,
      );
    }
  inputs.dispose();
  const by = new Map(profiles.map((p) => [p.model, p]));
  const deep = depths[depths.length - 1];
  const plainDeep = by.get(`plain${deep}_cifar`) as GradientProfile;
  const resDeep = by.get(`resnet${deep}_cifar`) as GradientProfile;
  const plainShallow = by.get('plain20_cifar') as GradientProfile;
  const fmt = (x: number): string => x.toPrecision(3);
  const claims: ClaimResult[] = [
    {
      id: 'plain-vanishes-with-depth',
      claim: 'In a plain network the gradient that reaches the first layers shrinks as the network gets deeper.',
      measured: `First-layer over last-layer gradient RMS at initialisation: plain20 ${fmt(plainShallow.firstOverLast)}, plain${deep} ${fmt(plainDeep.firstOverLast)}.`,
      held: plainDeep.firstOverLast < plainShallow.firstOverLast,
    },
    {
      id: 'shortcuts-carry-gradient',
      claim:
        "Shortcuts carry the gradient back: at the same depth a ResNet's first layers get relatively more gradient than the plain net's.",
      measured: `At depth ${deep}: resnet ${fmt(resDeep.firstOverLast)} against plain ${fmt(plainDeep.firstOverLast)} (first over last conv gradient RMS).`,
      held: resDeep.firstOverLast > plainDeep.firstOverLast,
    },
  ];
  const points: LinePoint[] = profiles.flatMap((p) => p.rms.map((y, i) => ({ series: p.model, x: i + 1, y })));
  return {
    name: 'vanishing-gradient',
    title: 'Vanishing gradients: plain nets against ResNets at initialisation',
    mode: settings.mode,
    claims,
    sections: [
      {
        heading: 'Gradient per layer',
        body: `${table(
          ['model', 'convolutions', 'loss', 'first conv RMS', 'last conv RMS', 'first / last'],
          profiles.map((p) => [
            p.model,
            p.rms.length,
            p.loss.toFixed(4),
            p.rms[0].toExponential(3),
            p.rms[p.rms.length - 1].toExponential(3),
            fmt(p.firstOverLast),
          ]),
        )}\n\nOne batch of ${data.labels.length} ${settings.data} training images (normalised), each net freshly initialised from seed ${settings.seed} (torchvision-style), training mode (batch statistics), cross-entropy, one backward pass on the ${getBackend().name} backend. RMS = sqrt(mean of the squared gradient of a convolution's weights). The CIFAR nets' shortcuts (option A) have no convolution, so every net lists the same convolutions.`,
      },
    ],
    charts: [
      {
        file: 'gradient-by-layer.svg',
        caption: 'Weight-gradient RMS of every convolution, input side on the left',
        spec: linesSpec('Gradient reaching each convolution at initialisation', points, {
          x: 'convolution (forward order)',
          y: 'gradient RMS (log scale)',
          yLog: true,
          legend: 'model',
          xInteger: true,
        }),
      },
    ],
    data: { batch: data.labels.length, profiles },
    notRun: settings.mode === 'quick' ? ['depth 110 (--full)'] : [],
  };
}

export const VANISHING_GRADIENT: Experiment = {
  name: 'vanishing-gradient',
  title: 'Vanishing gradients: plain nets against ResNets at initialisation',
  summary: 'gradient reaching every conv of plain and residual CIFAR nets (20, 56 layers) after one backward pass',
  lesson:
    'Without shortcuts the gradient should vanish in deep nets: the gradient reaching every layer of plain and residual nets at initialisation.',
  trains: false,
  tiny: { trainLimit: 4 },
  run: runVanishingGradient,
};
