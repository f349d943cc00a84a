/**
 * DenseNet's blocks (Huang et al. 2017) with torchvision's names: a dense layer is the bottleneck
 * BN-ReLU-1x1(bnSize * k)-BN-ReLU-3x3(k) on the concatenation of every earlier feature map of its
 * block; a dense block keeps all of them and concatenates them at the end; a transition is
 * BN-ReLU-1x1-2x2 average pooling that compresses the channels.
 */
import { ArgumentError } from '../core/errors.js';
import type { Tensor } from '../core/tensor.js';
import { concat } from '../ops/layout.js';
import { dropout } from '../ops/dropout.js';
import { ReLU } from '../nn/activation.js';
import { BatchNorm2d } from '../nn/batch-norm2d.js';
import { Sequential } from '../nn/containers.js';
import { Conv2d } from '../nn/conv2d.js';
import type { Fusable, FusionPattern } from '../nn/fuse.js';
import { freeConsumed } from '../nn/intermediates.js';
import { Module } from '../nn/module.js';
import { AvgPool2d } from '../nn/pooling.js';

export interface DenseLayerOptions {
  /** k: channels each layer adds. */
  growthRate: number;
  /** Default 4: the 1x1 bottleneck has bnSize * k channels ("B" of DenseNet-BC). */
  bnSize?: number;
  /** Default 0: dropout after each layer's 3x3 in training mode. */
  dropRate?: number;
}

/** torchvision's _DenseLayer: takes the list of earlier features, returns k new channels. */
export class DenseLayer extends Module<readonly Tensor[], Tensor> implements Fusable {
  readonly norm1: BatchNorm2d;
  readonly relu1: ReLU;
  readonly conv1: Conv2d;
  readonly norm2: BatchNorm2d;
  readonly relu2: ReLU;
  readonly conv2: Conv2d;
  readonly dropRate: number;

  constructor(
    readonly inChannels: number,
    { growthRate, bnSize = 4, dropRate = 0 }: DenseLayerOptions,
  ) {
    super();
    const width = bnSize * growthRate;
    this.norm1 = this.registerModule('norm1', new BatchNorm2d(inChannels));
    this.relu1 = this.registerModule('relu1', new ReLU({ inplace: true }));
    this.conv1 = this.registerModule('conv1', new Conv2d(inChannels, width, 1, { bias: false }));
    this.norm2 = this.registerModule('norm2', new BatchNorm2d(width));
    this.relu2 = this.registerModule('relu2', new ReLU({ inplace: true }));
    this.conv2 = this.registerModule('conv2', new Conv2d(width, growthRate, 3, { padding: 1, bias: false }));
    this.dropRate = dropRate;
  }

  /** conv2(relu2(norm2(conv1(relu1(norm1(cat(features))))))), then dropout in training. */
  forward(features: readonly Tensor[]): Tensor {
    const joined = features.length === 1 ? features[0] : concat(features, 1);
    const bottleneck = this.conv1.call(this.relu1.call(this.norm1.call(joined)));
    return this.drop(this.conv2.call(this.relu2.call(this.norm2.call(bottleneck))));
  }

  /**
   * For nn.fuse(): the join, norm1 and relu1, then the rest as a chain. In inference the join is
   * one kernel (the joined map is never stored) and conv1 absorbs norm2 and relu2 (nn/fuse.ts).
   */
  fusionPattern(): FusionPattern {
    const drop = (y: Tensor): Tensor => this.drop(y);
    return {
      kind: 'join',
      norm: this.norm1,
      relu: this.relu1,
      rest: [this.conv1, this.norm2, this.relu2, this.conv2, drop],
    };
  }

  private drop(fresh: Tensor): Tensor {
    return this.dropRate > 0 ? dropout(fresh, { p: this.dropRate, training: this.training }) : fresh;
  }
}

export interface DenseBlockOptions extends DenseLayerOptions {
  layers: number;
}

/** torchvision's _DenseBlock: `denselayer1` ... `denselayerN`; output inChannels + N * k channels. */
export class DenseBlock extends Module {
  readonly layers: DenseLayer[] = [];
  readonly outChannels: number;

  constructor(
    readonly inChannels: number,
    opts: DenseBlockOptions,
  ) {
    super();
    if (!Number.isInteger(opts.layers) || opts.layers < 1)
      throw new ArgumentError('DenseBlock', `layers must be a positive integer, got ${opts.layers}`);
    for (let i = 0; i < opts.layers; i++) {
      this.layers.push(
        this.registerModule(`denselayer${i + 1}`, new DenseLayer(inChannels + i * opts.growthRate, opts)),
      );
    }
    this.outChannels = inChannels + opts.layers * opts.growthRate;
  }

  forward(x: Tensor): Tensor {
    const features = [x];
    for (const layer of this.layers) features.push(layer.call(features));
    const joined = concat(features, 1);
    for (const f of features) freeConsumed(f, x, joined);
    return joined;
  }
}

/** torchvision's _Transition: BN, ReLU, 1x1 conv to outChannels, 2x2/2 average pooling. */
export class Transition extends Sequential {
  readonly norm: BatchNorm2d;
  readonly relu: ReLU;
  readonly conv: Conv2d;
  readonly pool: AvgPool2d;

  constructor(
    readonly inChannels: number,
    readonly outChannels: number,
  ) {
    super();
    this.norm = this.add('norm', new BatchNorm2d(inChannels));
    this.relu = this.add('relu', new ReLU({ inplace: true }));
    this.conv = this.add('conv', new Conv2d(inChannels, outChannels, 1, { bias: false }));
    this.pool = this.add('pool', new AvgPool2d(2, { stride: 2 }));
  }
}
