/**
 * VGG (Simonyan and Zisserman, 2014): depth from stacks of 3x3 convolutions alone. Two 3x3 layers
 * see 5x5 and three see 7x7, with fewer parameters and more ReLUs than one large kernel.
 *
 * The paper's configurations A (11 weight layers), B (13), D (16) and E (19) as torchvision builds
 * them: each stage is `convs` 3x3/1 pad-1 convolutions (+ BN) + ReLU, then a 2x2/2 max pool; an
 * adaptive 7x7 average pool; two 4096-wide hidden FC layers with dropout. Keys `features.N`,
 * `classifier.0/.3/.6` as torchvision.
 */
import * as init from '../nn/init.js';
import { ReLU } from '../nn/activation.js';
import { BatchNorm2d } from '../nn/batch-norm2d.js';
import { Sequential } from '../nn/containers.js';
import { Conv2d } from '../nn/conv2d.js';
import { Dropout } from '../nn/dropout.js';
import { Flatten } from '../nn/flatten.js';
import { Linear } from '../nn/linear.js';
import { AdaptiveAvgPool2d, MaxPool2d } from '../nn/pooling.js';
import { buildWith, type ModelEntry, type PublishedNumbers } from './entry.js';

export interface VggStage {
  /** Output channels of every convolution in the stage. */
  channels: number;
  /** Number of 3x3 convolutions before the stage's max pool. */
  convs: number;
}

export interface VggConfig {
  /** Weight layers: convolutions plus the three fully connected layers. */
  depth: number;
  stages: readonly VggStage[];
}

const stages = (...convs: number[]): VggStage[] =>
  [64, 128, 256, 512, 512].map((channels, i) => ({ channels, convs: convs[i] }));

/** Table 1 of the paper (the LRN variant A-LRN and the 1x1 variant C are not in torchvision). */
export const VGG_CONFIGS = {
  A: { depth: 11, stages: stages(1, 1, 2, 2, 2) },
  B: { depth: 13, stages: stages(2, 2, 2, 2, 2) },
  D: { depth: 16, stages: stages(2, 2, 3, 3, 3) },
  E: { depth: 19, stages: stages(2, 2, 4, 4, 4) },
} as const satisfies Record<string, VggConfig>;

export type VggConfigName = keyof typeof VGG_CONFIGS;

export interface VggOptions {
  /** BatchNorm2d after every convolution (torchvision's `_bn` models; not in the paper). Default false. */
  batchNorm?: boolean;
  /** Default 1000. */
  classes?: number;
  /** Default 0.5. */
  dropout?: number;
  /** Channels of the input images; default 3. */
  inChannels?: number;
}

export class VGG extends Sequential {
  readonly features: Sequential;
  readonly avgpool: AdaptiveAvgPool2d;
  readonly classifier: Sequential;

  constructor(
    readonly config: VggConfig,
    opts: VggOptions = {},
  ) {
    super();
    const { batchNorm = false, classes = 1000, dropout = 0.5 } = opts;
    this.features = this.add('features', vggFeatures(config.stages, batchNorm, opts.inChannels ?? 3));
    this.avgpool = this.add('avgpool', new AdaptiveAvgPool2d(7));
    this.add('flatten', new Flatten());
    const last = config.stages[config.stages.length - 1].channels;
    this.classifier = this.add(
      'classifier',
      new Sequential(
        new Linear(last * 7 * 7, 4096),
        new ReLU(),
        new Dropout({ p: dropout }),
        new Linear(4096, 4096),
        new ReLU(),
        new Dropout({ p: dropout }),
        new Linear(4096, classes),
      ),
    );
    this.initTorchvision();
  }

  /** torchvision's VGG init: He normal (fan_out) convs, N(0, 0.01) linears, zero biases, BN 1/0. */
  private initTorchvision(): void {
    for (const m of this.modules()) {
      if (m instanceof Conv2d) {
        init.kaimingNormal(m.weight, { mode: 'fanOut', nonlinearity: 'relu' });
        if (m.bias) init.zeros(m.bias);
      } else if (m instanceof Linear) {
        init.normal(m.weight, 0, 0.01);
        if (m.bias) init.zeros(m.bias);
      }
      // BatchNorm2d already starts at weight 1, bias 0.
    }
  }
}

/** conv 3x3 pad 1, [BN], ReLU per convolution; a 2x2/2 max pool closes each stage. */
function vggFeatures(stageList: readonly VggStage[], batchNorm: boolean, imageChannels: number): Sequential {
  const features = new Sequential();
  let inChannels = imageChannels;
  for (const { channels, convs } of stageList) {
    for (let i = 0; i < convs; i++) {
      features.append(new Conv2d(inChannels, channels, 3, { padding: 1 }));
      if (batchNorm) features.append(new BatchNorm2d(channels));
      features.append(new ReLU());
      inChannels = channels;
    }
    features.append(new MaxPool2d(2, { stride: 2 }));
  }
  return features;
}

export function vgg(config: VggConfigName, opts: VggOptions = {}): VGG {
  return new VGG(VGG_CONFIGS[config], opts);
}

/** torchvision's counts and V1-weight accuracies (torchvision docs); GMACs at 224x224. */
const PUBLISHED: Record<string, Omit<PublishedNumbers, 'source'>> = {
  vgg11: { params: 132_863_336, gmacs: 7.609, top1: 69.02 },
  vgg11_bn: { params: 132_868_840, gmacs: 7.609, top1: 70.37 },
  vgg13: { params: 133_047_848, gmacs: 11.308, top1: 69.928 },
  vgg13_bn: { params: 133_053_736, gmacs: 11.308, top1: 71.586 },
  vgg16: { params: 138_357_544, gmacs: 15.47, top1: 71.592 },
  vgg16_bn: { params: 138_365_992, gmacs: 15.47, top1: 73.36 },
  vgg19: { params: 143_667_240, gmacs: 19.632, top1: 72.376 },
  vgg19_bn: { params: 143_678_248, gmacs: 19.632, top1: 74.218 },
};

function entry(config: VggConfigName, batchNorm: boolean): ModelEntry {
  const name = `vgg${VGG_CONFIGS[config].depth}${batchNorm ? '_bn' : ''}`;
  return {
    name,
    family: 'vgg',
    layout: 'torchvision',
    input: [3, 224, 224],
    classes: 1000,
    build: (opts = {}) => buildWith(opts, (classes, inChannels) => vgg(config, { batchNorm, classes, inChannels })),
    published: {
      ...PUBLISHED[name],
      source: `torchvision VGG${VGG_CONFIGS[config].depth}${batchNorm ? '_BN' : ''}_Weights.IMAGENET1K_V1`,
    },
    idea: batchNorm
      ? `VGG configuration ${config} with batch norm after every convolution (torchvision's variant, not in the paper).`
      : `Configuration ${config} of the paper: depth from stacks of small 3x3 convolutions (two see 5x5, three see 7x7, with fewer parameters).`,
  };
}

export const VGG_MODELS: readonly ModelEntry[] = (['A', 'B', 'D', 'E'] as const).flatMap((config) => [
  entry(config, false),
  entry(config, true),
]);
