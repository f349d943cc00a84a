/**
 * DenseNet (Huang et al. 2017, "Densely Connected Convolutional Networks"): DenseNet-BC-121/161/
 * 169/201 for ImageNet with torchvision's keys (`features.conv0`, `features.denseblock1.denselayer1
 * .norm1`, `features.transition1.conv`, `features.norm5`, `classifier`), and DenseNet-BC (L=100,
 * k=12) for CIFAR. B: the 1x1 bottleneck in every layer; C: transitions halve the channels.
 */
import { ArgumentError } from '../core/errors.js';
import type { Tensor } from '../core/tensor.js';
import { relu } from '../ops/activation.js';
import { adaptiveAvgPool2d } from '../ops/adaptive-avg-pool2d.js';
import { flatten } from '../ops/layout.js';
import { ReLU } from '../nn/activation.js';
import { BatchNorm2d } from '../nn/batch-norm2d.js';
import { Sequential } from '../nn/containers.js';
import { Conv2d } from '../nn/conv2d.js';
import * as init from '../nn/init.js';
import { Linear } from '../nn/linear.js';
import { Module, type TensorModule } from '../nn/module.js';
import { MaxPool2d } from '../nn/pooling.js';
import { DenseBlock, Transition } from './densenet-blocks.js';
import { buildWith, type BuildOptions, type ModelEntry } from './entry.js';

/** torchvision's configurations: growth rate k, layers per dense block, channels of the first conv. */
export const DENSENET_CONFIGS = {
  densenet121: { growthRate: 32, blockLayers: [6, 12, 24, 16], initFeatures: 64 },
  densenet161: { growthRate: 48, blockLayers: [6, 12, 36, 24], initFeatures: 96 },
  densenet169: { growthRate: 32, blockLayers: [6, 12, 32, 32], initFeatures: 64 },
  densenet201: { growthRate: 32, blockLayers: [6, 12, 48, 32], initFeatures: 64 },
} as const;

export type DenseNetName = keyof typeof DENSENET_CONFIGS;

export interface DenseNetOptions {
  growthRate: number;
  blockLayers: readonly number[];
  initFeatures: number;
  /** 'imagenet': 7x7/2 conv, BN, ReLU, 3x3/2 max pool (torchvision). 'cifar': one 3x3 conv (the paper's CIFAR nets). */
  stem?: 'imagenet' | 'cifar';
  /** Default 4 (bottleneck width bnSize * k). */
  bnSize?: number;
  /** Default 0.5: a transition keeps floor(compression * channels) channels. */
  compression?: number;
  /** Default 0. */
  dropRate?: number;
  /** Default 1000. */
  classes?: number;
  /** Default 3. */
  inChannels?: number;
}

export class DenseNet extends Module {
  readonly features: Sequential;
  readonly classifier: Linear;

  constructor(opts: DenseNetOptions) {
    super();
    const {
      growthRate,
      blockLayers,
      initFeatures,
      stem = 'imagenet',
      bnSize = 4,
      compression = 0.5,
      dropRate = 0,
      classes = 1000,
      inChannels = 3,
    } = opts;
    if (!(compression > 0 && compression <= 1))
      throw new ArgumentError('DenseNet', `compression must be in (0, 1], got ${compression}`);
    const features = new Sequential();
    if (stem === 'imagenet') {
      features.add('conv0', new Conv2d(inChannels, initFeatures, 7, { stride: 2, padding: 3, bias: false }));
      features.add('norm0', new BatchNorm2d(initFeatures));
      features.add('relu0', new ReLU({ inplace: true }));
      features.add('pool0', new MaxPool2d(3, { stride: 2, padding: 1 }));
    } else {
      features.add('conv0', new Conv2d(inChannels, initFeatures, 3, { padding: 1, bias: false }));
    }
    let channels = initFeatures;
    blockLayers.forEach((layers, i) => {
      channels = features.add(
        `denseblock${i + 1}`,
        new DenseBlock(channels, { layers, growthRate, bnSize, dropRate }),
      ).outChannels;
      if (i === blockLayers.length - 1) return;
      const kept = Math.floor(channels * compression);
      features.add(`transition${i + 1}`, new Transition(channels, kept));
      channels = kept;
    });
    // The last block ends with BN here and ReLU in forward(); torchvision names it norm5 whatever
    // the number of blocks, and so do we (the 3-block CIFAR net too).
    features.add('norm5', new BatchNorm2d(channels));
    this.features = this.registerModule('features', features);
    this.classifier = this.registerModule('classifier', new Linear(channels, classes));
    this.initialise();
  }

  /** torchvision: convs kaiming_normal_ (fan_in, gain sqrt 2), BN 1 and 0, linear bias 0 (weight PyTorch's default). */
  private initialise(): void {
    for (const m of this.modules()) {
      if (m instanceof Conv2d) init.kaimingNormal(m.weight);
      else if (m instanceof BatchNorm2d && m.weight && m.bias) {
        init.ones(m.weight);
        init.zeros(m.bias);
      } else if (m instanceof Linear && m.bias) init.zeros(m.bias);
    }
  }

  forward(x: Tensor): Tensor {
    const features = relu(this.features.call(x));
    return this.classifier.call(flatten(adaptiveAvgPool2d(features, [1, 1]), 1));
  }
}

/** One of torchvision's DenseNets. */
export function densenet(
  name: DenseNetName,
  opts: Pick<DenseNetOptions, 'classes' | 'dropRate' | 'inChannels'> = {},
): DenseNet {
  return new DenseNet({ ...DENSENET_CONFIGS[name], ...opts });
}

/**
 * DenseNet-BC for CIFAR (section 3 of the paper): depth L = 6n + 4 counts n bottleneck layers of
 * two convs in each of 3 blocks, the first conv, 2 transition convs and the fc; L=100 gives n=16.
 * The first conv has 2k channels.
 */
export function densenetBcCifar(
  opts: { depth?: number; growthRate?: number; classes?: number; dropRate?: number; inChannels?: number } = {},
): DenseNet {
  const { depth = 100, growthRate = 12, classes = 10, dropRate = 0, inChannels } = opts;
  const n = (depth - 4) / 6;
  if (!Number.isInteger(n) || n < 1)
    throw new ArgumentError(
      'densenetBcCifar',
      `depth must be 6n + 4 for a whole n >= 1 (10, 16, ..., 100, 190), got ${depth}`,
    );
  return new DenseNet({
    growthRate,
    blockLayers: [n, n, n],
    initFeatures: 2 * growthRate,
    stem: 'cifar',
    classes,
    dropRate,
    inChannels,
  });
}

/** torchvision 0.14's counts and IMAGENET1K_V1 top-1 accuracies. */
const TORCHVISION_NUMBERS = {
  densenet121: { params: 7_978_856, gmacs: 2.834, top1: 74.434 },
  densenet161: { params: 28_681_000, gmacs: 7.728, top1: 77.138 },
  densenet169: { params: 14_149_480, gmacs: 3.36, top1: 75.6 },
  densenet201: { params: 20_013_928, gmacs: 4.291, top1: 76.896 },
} as const satisfies Record<DenseNetName, object>;

const IDEAS: Record<DenseNetName, string> = {
  densenet121: 'Dense connectivity: every layer sees the concatenation of all earlier feature maps of its block',
  densenet161: 'Wider DenseNet (k=48, 96 initial channels): the most accurate and most expensive of the family',
  densenet169: 'DenseNet with deeper last blocks: features are reused, so parameters grow slowly with depth',
  densenet201: "The deepest torchvision DenseNet: 201 layers at a third of ResNet-152's parameters",
};

const imagenetEntry = (name: DenseNetName): ModelEntry => ({
  name,
  family: 'densenet',
  layout: 'torchvision',
  input: [3, 224, 224],
  classes: 1000,
  build: (opts: BuildOptions = {}): TensorModule =>
    buildWith(opts, (classes, inChannels) => densenet(name, { classes, inChannels })),
  published: {
    ...TORCHVISION_NUMBERS[name],
    source: 'torchvision 0.14 (parameters, GMACs at 224x224, IMAGENET1K_V1 top-1)',
  },
  idea: IDEAS[name],
});

export const DENSENET_MODELS: readonly ModelEntry[] = [
  ...(['densenet121', 'densenet161', 'densenet169', 'densenet201'] as const).map(imagenetEntry),
  {
    name: 'densenet_bc_100_cifar',
    family: 'densenet',
    layout: 'cifar',
    input: [3, 32, 32],
    classes: 10,
    build: (opts: BuildOptions = {}): TensorModule =>
      buildWith(opts, (classes, inChannels) => densenetBcCifar({ classes, inChannels })),
    published: {
      params: 800_000,
      cifar10Error: 4.51,
      source: 'Huang et al. 2017, Table 2 (0.8M parameters; error with standard augmentation)',
    },
    idea: 'DenseNet-BC on CIFAR (L=100, k=12): bottlenecks and compression reach 4.51 % error with 0.8M parameters',
  },
];
