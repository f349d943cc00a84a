/**
 * GoogLeNet / Inception v1 (Szegedy et al. 2014): Inception modules run 1x1, 3x3 and 5x5
 * convolutions and a pool side by side, with 1x1 reductions before the expensive ones, so a 22-layer
 * net costs 1.5G multiply-adds. Two auxiliary classifiers add gradient to the middle during training.
 *
 * Two layouts with torchvision's module names (`inception3a.branch2.1.conv.weight`, `aux1.fc1.*`):
 * - `torchvision`: BN after every conv, a 3x3 conv in the "5x5" branch (the upstream bug, see
 *   inception.ts), 2x2 pooling before inception5a, adaptive pooling in the heads.
 * - `paper`: the 2014 net as Caffe's BVLC reference model builds it: biased convs without BN, true
 *   5x5 convs, LRN in the stem, 3x3/2 pooling before inception5a, 7x7 average pool, dropout 0.4.
 *
 * Auxiliary heads: a GoogLeNet is a `Module<Tensor, Tensor>` whose `call()` gives the main logits in
 * every mode, so Sequential, the training loop and analysis treat it like any other net. The aux
 * logits come from `callWithAux()`, which returns a typed `GoogLeNetOutputs` record (torchvision's
 * namedtuple). Not a `lastAuxLogits` field: that would keep the aux graph alive after every call
 * and make a result depend on which call ran last. The paper weights each aux loss by 0.3.
 */
import { ArgumentError } from '../core/errors.js';
import { withLayer } from '../core/layer-context.js';
import type { Tensor } from '../core/tensor.js';
import { add, mul } from '../ops/arithmetic.js';
import { concat, flatten, slice } from '../ops/layout.js';
import * as init from '../nn/init.js';
import type { Sequential } from '../nn/containers.js';
import { Conv2d } from '../nn/conv2d.js';
import { Dropout } from '../nn/dropout.js';
import { Linear } from '../nn/linear.js';
import { LocalResponseNorm } from '../nn/local-response-norm.js';
import { freeConsumed } from '../nn/intermediates.js';
import { Module, type AnyModule, type TensorModule } from '../nn/module.js';
import { AdaptiveAvgPool2d, AvgPool2d, MaxPool2d } from '../nn/pooling.js';
import { buildWith, type ModelEntry } from './entry.js';
import {
  auxHead,
  convUnit,
  inception,
  inceptionOutChannels,
  type InceptionStyle,
  type InceptionWidths,
} from './inception.js';

/** Table 1 of the paper (and torchvision's arguments); each module's input is the previous output. */
export const INCEPTION_WIDTHS = {
  inception3a: { ch1x1: 64, ch3x3red: 96, ch3x3: 128, ch5x5red: 16, ch5x5: 32, poolProj: 32 },
  inception3b: { ch1x1: 128, ch3x3red: 128, ch3x3: 192, ch5x5red: 32, ch5x5: 96, poolProj: 64 },
  inception4a: { ch1x1: 192, ch3x3red: 96, ch3x3: 208, ch5x5red: 16, ch5x5: 48, poolProj: 64 },
  inception4b: { ch1x1: 160, ch3x3red: 112, ch3x3: 224, ch5x5red: 24, ch5x5: 64, poolProj: 64 },
  inception4c: { ch1x1: 128, ch3x3red: 128, ch3x3: 256, ch5x5red: 24, ch5x5: 64, poolProj: 64 },
  inception4d: { ch1x1: 112, ch3x3red: 144, ch3x3: 288, ch5x5red: 32, ch5x5: 64, poolProj: 64 },
  inception4e: { ch1x1: 256, ch3x3red: 160, ch3x3: 320, ch5x5red: 32, ch5x5: 128, poolProj: 128 },
  inception5a: { ch1x1: 256, ch3x3red: 160, ch3x3: 320, ch5x5red: 32, ch5x5: 128, poolProj: 128 },
  inception5b: { ch1x1: 384, ch3x3red: 192, ch3x3: 384, ch5x5red: 48, ch5x5: 128, poolProj: 128 },
} as const satisfies Record<string, Omit<InceptionWidths, 'inChannels'>>;

/** The auxiliary classifiers read the outputs of these modules (paper section 5). */
export const AUX_TAPS = { aux1: 'inception4a', aux2: 'inception4d' } as const;

export interface GoogLeNetLayout extends InceptionStyle {
  /** LRN (size 5, alpha 1e-4, beta 0.75, k 1, Caffe's) after the first pool and after conv3; torchvision has BN instead. */
  lrn: boolean;
  /** Pool before inception5a: torchvision 2x2/2, the paper 3x3/2 (both 14 -> 7 with ceil mode). */
  maxpool4Kernel: 2 | 3;
  /** torchvision pools adaptively to 1x1 (any input size); the paper averages a 7x7 window (224 input). */
  headPool: 'adaptive' | 'avg7x7';
  /** Dropout before the classifier: torchvision 0.2, the paper 0.4. */
  dropout: number;
  auxPool: 'adaptive4x4' | 'avg5x5s3';
  /** 'truncNormal': torchvision's N(0, 0.01) truncated to [-2, 2]; 'caffeXavier': the BVLC model's U(+-sqrt(3/fan_in)), biases 0.2 (0 in the classifiers). */
  init: 'truncNormal' | 'caffeXavier';
}

export const GOOGLENET_LAYOUTS = {
  torchvision: {
    batchNorm: true,
    branch3Kernel: 3,
    lrn: false,
    maxpool4Kernel: 2,
    headPool: 'adaptive',
    dropout: 0.2,
    auxPool: 'adaptive4x4',
    init: 'truncNormal',
  },
  paper: {
    batchNorm: false,
    branch3Kernel: 5,
    lrn: true,
    maxpool4Kernel: 3,
    headPool: 'avg7x7',
    dropout: 0.4,
    auxPool: 'avg5x5s3',
    init: 'caffeXavier',
  },
} as const satisfies Record<string, GoogLeNetLayout>;

export interface GoogLeNetOptions {
  /** Default 1000. */
  classes?: number;
  /** Channels of the input images; default 3 (transformInput needs 3). */
  inChannels?: number;
  /**
   * Build the auxiliary classifiers `aux1` and `aux2` (default false, so the net has torchvision's
   * published 6,624,904 parameters; torchvision's class defaults to true, its pretrained model drops them).
   */
  auxLogits?: boolean;
  /**
   * Default false. true: re-normalise inputs made with ImageNet's mean and std to the [-1, 1] range
   * the ported TensorFlow weights expect, as torchvision does when it loads its pretrained weights.
   */
  transformInput?: boolean;
  /** Dropout of the aux heads; default 0.7. */
  dropoutAux?: number;
}

/** What `callWithAux` returns; the aux logits are null in eval mode or without aux heads. */
export interface GoogLeNetOutputs {
  logits: Tensor;
  aux1: Tensor | null;
  aux2: Tensor | null;
}

const IMAGENET_MEAN = [0.485, 0.456, 0.406] as const;
const IMAGENET_STD = [0.229, 0.224, 0.225] as const;

/** torchvision's `_transform_input`: x_c * (std_c / 0.5) + (mean_c - 0.5) / 0.5 per RGB channel. */
export function torchvisionTransformInput(x: Tensor): Tensor {
  const channels = [0, 1, 2].map((c) =>
    add(mul(slice(x, 1, c, c + 1), IMAGENET_STD[c] / 0.5), (IMAGENET_MEAN[c] - 0.5) / 0.5),
  );
  return concat(channels, 1);
}

export class GoogLeNet extends Module {
  readonly auxLogits: boolean;
  readonly transformInput: boolean;
  /** conv1 ... inception5b in order, under torchvision's names. */
  private readonly trunk: [string, TensorModule][];
  readonly aux1: Sequential | null;
  readonly aux2: Sequential | null;
  readonly avgpool: TensorModule;
  readonly dropout: Dropout;
  readonly fc: Linear;

  constructor(
    readonly layout: GoogLeNetLayout,
    opts: GoogLeNetOptions = {},
  ) {
    super();
    const { classes = 1000, auxLogits = false, transformInput = false, dropoutAux = 0.7 } = opts;
    this.auxLogits = auxLogits;
    this.transformInput = transformInput;
    if (transformInput && (opts.inChannels ?? 3) !== 3)
      throw new ArgumentError(
        'GoogLeNet',
        `transformInput re-normalises 3 RGB channels; got inChannels ${opts.inChannels}`,
      );
    const { steps, tapChannels, outChannels } = trunkSteps(layout, opts.inChannels ?? 3);
    this.trunk = steps.map(([name, m]) => [name, this.registerModule(name, m)]);
    const head = (tap: keyof typeof AUX_TAPS): Sequential | null =>
      auxLogits
        ? this.registerModule(
            tap,
            auxHead({
              inChannels: tapChannels[tap],
              classes,
              dropout: dropoutAux,
              batchNorm: layout.batchNorm,
              pool: layout.auxPool,
            }),
          )
        : null;
    this.aux1 = head('aux1');
    this.aux2 = head('aux2');
    this.avgpool = this.registerModule(
      'avgpool',
      layout.headPool === 'adaptive' ? new AdaptiveAvgPool2d(1) : new AvgPool2d(7, { stride: 1 }),
    );
    this.dropout = this.registerModule('dropout', new Dropout({ p: layout.dropout }));
    this.fc = this.registerModule('fc', new Linear(outChannels, classes));
    if (layout.init === 'truncNormal') this.initTorchvision();
    else this.initCaffe();
  }

  /** The main logits, in every mode (see the file comment for the aux heads). */
  forward(x: Tensor): Tensor {
    return this.run(x, false).logits;
  }

  /** Main and aux logits: the aux heads run in training mode when the net has them (torchvision's GoogLeNetOutputs). */
  callWithAux(x: Tensor): GoogLeNetOutputs {
    return withLayer(this.path, () => this.run(x, this.training && this.auxLogits));
  }

  private run(x: Tensor, withAux: boolean): GoogLeNetOutputs {
    let y = this.transformInput ? torchvisionTransformInput(x) : x;
    let aux1: Tensor | null = null;
    let aux2: Tensor | null = null;
    for (const [name, m] of this.trunk) {
      const next = m.call(y);
      freeConsumed(y, x, next);
      y = next;
      if (withAux && this.aux1 && name === AUX_TAPS.aux1) aux1 = this.aux1.call(y);
      if (withAux && this.aux2 && name === AUX_TAPS.aux2) aux2 = this.aux2.call(y);
    }
    const logits = this.fc.call(this.dropout.call(flatten(this.avgpool.call(y), 1)));
    return { logits, aux1, aux2 };
  }

  /** torchvision: every conv and linear weight trunc_normal(0, 0.01, [-2, 2]); linear biases keep PyTorch's default; BN 1/0. */
  private initTorchvision(): void {
    for (const m of this.modules()) {
      if (m instanceof Conv2d || m instanceof Linear) init.truncNormal(m.weight, { std: 0.01, a: -2, b: 2 });
    }
  }

  /** The BVLC Caffe model's fillers: "xavier" U(+-sqrt(3 / fan_in)); biases 0.2, the three classifiers 0. */
  private initCaffe(): void {
    const classifiers = new Set<AnyModule>([this.fc]);
    for (const head of [this.aux1, this.aux2]) {
      const fc2 = head?.get('fc2');
      if (fc2) classifiers.add(fc2);
    }
    for (const m of this.modules()) {
      if (!(m instanceof Conv2d || m instanceof Linear)) continue;
      init.kaimingUniform(m.weight, { nonlinearity: 'linear' });
      if (m.bias) init.constant(m.bias, classifiers.has(m) ? 0 : 0.2);
    }
  }
}

interface Trunk {
  steps: [string, TensorModule][];
  tapChannels: Record<keyof typeof AUX_TAPS, number>;
  outChannels: number;
}

/** The stem and the nine Inception modules with their pools, named as torchvision (plus the paper's lrn1, lrn2). */
function trunkSteps(layout: GoogLeNetLayout, imageChannels: number): Trunk {
  const steps: [string, TensorModule][] = [];
  const tapChannels = { aux1: 0, aux2: 0 };
  let channels = imageChannels;
  const conv = (name: string, out: number, kernel: number, opts: { stride?: number; padding?: number } = {}): void => {
    steps.push([name, convUnit(channels, out, kernel, layout, opts)]);
    channels = out;
  };
  // Ceil mode everywhere, as Caffe (and so the paper's 112 -> 56 -> 28 -> 14 -> 7).
  const pool = (name: string, kernel: number): void =>
    void steps.push([name, new MaxPool2d(kernel, { stride: 2, ceilMode: true })]);
  const lrn = (name: string): void => {
    if (layout.lrn) steps.push([name, new LocalResponseNorm(5, { alpha: 1e-4, beta: 0.75, k: 1 })]);
  };
  const block = (name: keyof typeof INCEPTION_WIDTHS): void => {
    const widths = { inChannels: channels, ...INCEPTION_WIDTHS[name] };
    steps.push([name, inception(widths, layout)]);
    channels = inceptionOutChannels(widths);
    if (name === AUX_TAPS.aux1) tapChannels.aux1 = channels;
    if (name === AUX_TAPS.aux2) tapChannels.aux2 = channels;
  };
  conv('conv1', 64, 7, { stride: 2, padding: 3 });
  pool('maxpool1', 3);
  lrn('lrn1');
  conv('conv2', 64, 1);
  conv('conv3', 192, 3, { padding: 1 });
  lrn('lrn2');
  pool('maxpool2', 3);
  block('inception3a');
  block('inception3b');
  pool('maxpool3', 3);
  for (const name of ['inception4a', 'inception4b', 'inception4c', 'inception4d', 'inception4e'] as const) block(name);
  pool('maxpool4', layout.maxpool4Kernel);
  block('inception5a');
  block('inception5b');
  return { steps, tapChannels, outChannels: channels };
}

/**
 * torchvision's `googlenet(weights=None, aux_logits=False)`: 6,624,904 parameters, 1.498 GMACs.
 * `googlenet({ auxLogits: true })` adds the two auxiliary heads (13,004,888 parameters, as
 * torchvision's `GoogLeNet()` class default); train with `callWithAux()` to use them.
 */
export function googlenet(opts: GoogLeNetOptions = {}): GoogLeNet {
  return new GoogLeNet(GOOGLENET_LAYOUTS.torchvision, opts);
}

/** The paper's layout: true 5x5 convs, LRN, no BN. */
export function googlenetPaper(opts: GoogLeNetOptions = {}): GoogLeNet {
  return new GoogLeNet(GOOGLENET_LAYOUTS.paper, opts);
}

export const GOOGLENET_MODELS: readonly ModelEntry[] = [
  {
    name: 'googlenet',
    family: 'googlenet',
    layout: 'torchvision',
    input: [3, 224, 224],
    classes: 1000,
    build: (opts = {}) => buildWith(opts, (classes, inChannels) => googlenet({ classes, inChannels })),
    published: {
      params: 6_624_904,
      gmacs: 1.498,
      top1: 69.778,
      source: 'torchvision GoogLeNet_Weights.IMAGENET1K_V1 (aux heads off)',
    },
    idea: 'Inception modules: parallel 1x1, 3x3, 5x5 and pool branches with 1x1 reductions, so 22 layers cost 1.5G MACs (torchvision layout: BN, 3x3 in the "5x5" branch).',
  },
  {
    name: 'googlenet_paper',
    family: 'googlenet',
    layout: 'paper',
    input: [3, 224, 224],
    classes: 1000,
    build: (opts = {}) => buildWith(opts, (classes, inChannels) => googlenetPaper({ classes, inChannels })),
    published: { source: 'Szegedy et al. 2014, Table 1: about 6.8M parameters, 1.5G multiply-adds' },
    idea: 'GoogLeNet as the 2014 paper: true 5x5 convolutions, LRN, no batch norm; auxiliary classifiers weighted 0.3 in training.',
  },
];
