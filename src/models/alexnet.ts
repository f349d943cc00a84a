/**
 * AlexNet (Krizhevsky, Sutskever and Hinton, 2012): deep ReLU convnets trained on GPUs with dropout.
 *
 * Two layouts, both with torchvision's state-dict keys (`features.N`, `classifier.N`):
 * - `torchvision`: the single-tower 64-192-384-256-256 net of torchvision (after "One weird trick",
 *   Krizhevsky 2014), no LRN, adaptive 6x6 pooling so any input from 63x63 up works.
 * - `paper`: the 2012 net: 96-256-384-384-256 channels in two towers (groups=2 where the towers stay
 *   separate), LRN after the first two convolutions, 227x227 input, the paper's initialisation.
 */
import * as init from '../nn/init.js';
import { ReLU } from '../nn/activation.js';
import { Sequential } from '../nn/containers.js';
import { Conv2d } from '../nn/conv2d.js';
import { Dropout } from '../nn/dropout.js';
import { Flatten } from '../nn/flatten.js';
import { Linear } from '../nn/linear.js';
import { LocalResponseNorm } from '../nn/local-response-norm.js';
import { AdaptiveAvgPool2d, MaxPool2d } from '../nn/pooling.js';
import { buildWith, type ModelEntry } from './entry.js';

/** One convolution of the feature extractor, with what follows its ReLU. */
export interface AlexNetConv {
  channels: number;
  kernel: number;
  stride: number;
  padding: number;
  /** 2 where the paper's two GPU towers stay separate: each half of the outputs sees one half of the inputs. */
  groups: number;
  /** Local response normalisation after the ReLU (paper: conv1 and conv2 only). */
  lrn: boolean;
  /** Overlapping 3x3/2 max pooling after the ReLU (and the LRN). */
  pool: boolean;
  /** The paper's initial bias: 1 "to accelerate the early stages of learning", else 0. */
  paperBias: 0 | 1;
}

export interface AlexNetLayout {
  convs: readonly AlexNetConv[];
  /** torchvision pools adaptively to 6x6 (any input size); the paper's 227 input reaches 6x6 by itself. */
  adaptivePool: boolean;
  /** Width of the two hidden fully connected layers. */
  hidden: number;
  /**
   * Where dropout sits around the two hidden FC layers. torchvision drops their inputs
   * (Dropout, Linear, ReLU, ...: keys classifier.1/.4/.6); the paper drops "the output of each
   * hidden neuron" (Linear, ReLU, Dropout, ...: keys classifier.0/.3/.6, as Caffe's reference net).
   */
  dropout: 'beforeHiddenFc' | 'afterHiddenFc';
  /** 'pytorch': PyTorch's layer defaults, as torchvision; 'paper': N(0, 0.01) weights, the biases above. */
  init: 'pytorch' | 'paper';
}

const conv = (channels: number, kernel: number, more: Partial<AlexNetConv> = {}): AlexNetConv => ({
  channels,
  kernel,
  stride: 1,
  padding: Math.floor(kernel / 2),
  groups: 1,
  lrn: false,
  pool: false,
  paperBias: 0,
  ...more,
});

export const ALEXNET_LAYOUTS = {
  torchvision: {
    convs: [
      conv(64, 11, { stride: 4, padding: 2, pool: true }),
      conv(192, 5, { pool: true }),
      conv(384, 3),
      conv(256, 3),
      conv(256, 3, { pool: true }),
    ],
    adaptivePool: true,
    hidden: 4096,
    dropout: 'beforeHiddenFc',
    init: 'pytorch',
  },
  paper: {
    convs: [
      // No padding: (227 - 11) / 4 + 1 = 55, the paper's 55x55x96 (its text's "224" does not fit).
      conv(96, 11, { stride: 4, padding: 0, lrn: true, pool: true }),
      conv(256, 5, { groups: 2, lrn: true, pool: true, paperBias: 1 }),
      // conv3 is where the towers talk: every kernel sees all 256 channels of conv2.
      conv(384, 3),
      conv(384, 3, { groups: 2, paperBias: 1 }),
      conv(256, 3, { groups: 2, pool: true, paperBias: 1 }),
    ],
    adaptivePool: false,
    hidden: 4096,
    dropout: 'afterHiddenFc',
    init: 'paper',
  },
} as const satisfies Record<string, AlexNetLayout>;

/**
 * The paper's LRN: b = a / (k + alpha * sum of a^2 over n neighbours)^beta with k=2, n=5,
 * alpha=1e-4, beta=0.75. PyTorch's LocalResponseNorm (and convkit's) divides alpha by n, so the
 * layer gets n * alpha = 5e-4 to compute the paper's formula. (Caffe's reference AlexNet passes 1e-4
 * to the same alpha/n formula, i.e. an effective paper alpha of 2e-5.)
 */
export const ALEXNET_PAPER_LRN = { size: 5, alpha: 1e-4, beta: 0.75, k: 2 } as const;

const POOL = { kernel: 3, stride: 2 } as const;

export interface AlexNetOptions {
  /** Default 1000. */
  classes?: number;
  /** Dropout probability at the two hidden fully connected layers (placed as the layout says); default 0.5. */
  dropout?: number;
  /** Channels of the input images; default 3. */
  inChannels?: number;
}

/** AlexNet as torchvision's module tree: features, (avgpool), flatten, classifier. */
export class AlexNet extends Sequential {
  readonly features: Sequential;
  readonly avgpool: AdaptiveAvgPool2d | null;
  readonly classifier: Sequential;

  constructor(
    readonly layout: AlexNetLayout,
    opts: AlexNetOptions = {},
  ) {
    super();
    const { classes = 1000, dropout = 0.5 } = opts;
    this.features = this.add('features', alexnetFeatures(layout.convs, opts.inChannels ?? 3));
    this.avgpool = layout.adaptivePool ? this.add('avgpool', new AdaptiveAvgPool2d(6)) : null;
    this.add('flatten', new Flatten());
    this.classifier = this.add('classifier', alexnetClassifier(layout, classes, dropout));
    if (layout.init === 'paper') this.initPaper();
  }

  /** Section 5 of the paper: every weight N(0, 0.01); biases 1 where the table says and in the hidden FCs. */
  private initPaper(): void {
    const convs = [...this.features].filter((m): m is Conv2d => m instanceof Conv2d);
    convs.forEach((c, i) => {
      init.normal(c.weight, 0, 0.01);
      if (c.bias) init.constant(c.bias, this.layout.convs[i].paperBias);
    });
    const fcs = [...this.classifier].filter((m): m is Linear => m instanceof Linear);
    fcs.forEach((fc, i) => {
      init.normal(fc.weight, 0, 0.01);
      if (fc.bias) init.constant(fc.bias, i < fcs.length - 1 ? 1 : 0);
    });
  }
}

/** conv, ReLU, [LRN], [max pool] per table row, numbered as torchvision numbers its features. */
function alexnetFeatures(convs: readonly AlexNetConv[], imageChannels: number): Sequential {
  const features = new Sequential();
  let inChannels = imageChannels;
  for (const c of convs) {
    features.append(
      new Conv2d(inChannels, c.channels, c.kernel, { stride: c.stride, padding: c.padding, groups: c.groups }),
    );
    features.append(new ReLU());
    if (c.lrn) {
      const { size, alpha, beta, k } = ALEXNET_PAPER_LRN;
      features.append(new LocalResponseNorm(size, { alpha: size * alpha, beta, k }));
    }
    if (c.pool) features.append(new MaxPool2d(POOL.kernel, { stride: POOL.stride }));
    inChannels = c.channels;
  }
  return features;
}

/** Two hidden FC layers with ReLU and dropout, then the class scores; the features end at 6x6. */
function alexnetClassifier(layout: AlexNetLayout, classes: number, p: number): Sequential {
  const features = layout.convs[layout.convs.length - 1].channels * 6 * 6;
  const classifier = new Sequential();
  for (const inFeatures of [features, layout.hidden]) {
    if (layout.dropout === 'beforeHiddenFc') classifier.append(new Dropout({ p }));
    classifier.append(new Linear(inFeatures, layout.hidden));
    classifier.append(new ReLU());
    if (layout.dropout === 'afterHiddenFc') classifier.append(new Dropout({ p }));
  }
  classifier.append(new Linear(layout.hidden, classes));
  return classifier;
}

/** torchvision's `alexnet()`: 61,100,840 parameters, 0.714 GMACs at 224x224. */
export function alexnet(opts: AlexNetOptions = {}): AlexNet {
  return new AlexNet(ALEXNET_LAYOUTS.torchvision, opts);
}

/** The 2012 paper's two-tower net at 227x227: 60,965,224 parameters. */
export function alexnetPaper(opts: AlexNetOptions = {}): AlexNet {
  return new AlexNet(ALEXNET_LAYOUTS.paper, opts);
}

export const ALEXNET_MODELS: readonly ModelEntry[] = [
  {
    name: 'alexnet',
    family: 'alexnet',
    layout: 'torchvision',
    input: [3, 224, 224],
    classes: 1000,
    build: (opts = {}) => buildWith(opts, (classes, inChannels) => alexnet({ classes, inChannels })),
    published: { params: 61_100_840, gmacs: 0.714, top1: 56.522, source: 'torchvision AlexNet_Weights.IMAGENET1K_V1' },
    idea: 'Deep ReLU convnet trained on GPUs with dropout and data augmentation: the 2012 ImageNet breakthrough (torchvision single-tower layout).',
  },
  {
    name: 'alexnet_paper',
    family: 'alexnet',
    layout: 'paper',
    input: [3, 227, 227],
    classes: 1000,
    build: (opts = {}) => buildWith(opts, (classes, inChannels) => alexnetPaper({ classes, inChannels })),
    published: {
      params: 60_965_224,
      source: 'Krizhevsky et al. 2012 ("60 million parameters"); exact count of the layout in the paper',
    },
    idea: 'The 2012 paper as written: two GPU towers (grouped convolutions), LRN after conv1 and conv2, overlapping 3x3/2 pooling.',
  },
];
