/**
 * The ResNet network, shared by the ImageNet nets (resnet.ts) and the CIFAR nets (resnet-cifar.ts):
 * a stem, stages of residual blocks, global average pooling and a linear classifier. Children and
 * their order are torchvision's (`conv1`, `bn1`, `relu`, `maxpool`, `layer1`..., `avgpool`, `fc`),
 * and so is the initialisation.
 */
import { ArgumentError } from '../core/errors.js';
import type { Tensor } from '../core/tensor.js';
import { flatten } from '../ops/layout.js';
import { ReLU } from '../nn/activation.js';
import { BatchNorm2d } from '../nn/batch-norm2d.js';
import { Sequential } from '../nn/containers.js';
import { Conv2d } from '../nn/conv2d.js';
import * as init from '../nn/init.js';
import { Linear } from '../nn/linear.js';
import type { Fusable, FusionPattern } from '../nn/fuse.js';
import { Module } from '../nn/module.js';
import { AdaptiveAvgPool2d, MaxPool2d } from '../nn/pooling.js';
import { BasicBlock, Bottleneck, type BottleneckStride, type ShortcutOption } from './resnet-blocks.js';

export type BlockKind = 'basic' | 'bottleneck';

export interface StemSpec {
  /** Channels of the first conv (64 on ImageNet, 16 on CIFAR). */
  channels: number;
  kernel: number;
  stride: number;
  padding: number;
  /** ImageNet's 3x3/2 max pooling after the first conv; the CIFAR nets have none. */
  maxPool: boolean;
}

export interface StageSpec {
  /** Inner width of the stage's blocks (output: planes * expansion). */
  planes: number;
  blocks: number;
  /** Stride of the stage's first block. */
  stride: number;
}

export interface ResNetSpec {
  block: BlockKind;
  stem: StemSpec;
  stages: readonly StageSpec[];
  classes: number;
  shortcut: ShortcutOption;
  /** Bottleneck nets only: which conv strides (see BottleneckStride). */
  strideOn: BottleneckStride;
  /** false: the paper's plain net (no shortcuts at all). */
  residual: boolean;
  /** Zero the last BN weight of every block, so each block starts as the identity (Goyal et al. 2017). */
  zeroInitResidual: boolean;
  inChannels: number;
}

export class ResNet extends Module implements Fusable {
  readonly conv1: Conv2d;
  readonly bn1: BatchNorm2d;
  readonly relu: ReLU;
  readonly maxpool: MaxPool2d | null;
  readonly layers: Sequential[] = [];
  readonly avgpool: AdaptiveAvgPool2d;
  readonly fc: Linear;

  constructor(readonly spec: ResNetSpec) {
    super();
    const { stem, stages, block } = spec;
    if (block === 'basic' && spec.strideOn !== 'conv2') {
      throw new ArgumentError(
        'ResNet',
        `strideOn '${spec.strideOn}' applies to bottleneck blocks only; a basic block strides on its first 3x3`,
      );
    }
    this.conv1 = this.registerModule(
      'conv1',
      new Conv2d(spec.inChannels, stem.channels, stem.kernel, {
        stride: stem.stride,
        padding: stem.padding,
        bias: false,
      }),
    );
    this.bn1 = this.registerModule('bn1', new BatchNorm2d(stem.channels));
    this.relu = this.registerModule('relu', new ReLU({ inplace: true }));
    this.maxpool = stem.maxPool ? this.registerModule('maxpool', new MaxPool2d(3, { stride: 2, padding: 1 })) : null;
    const expansion = block === 'basic' ? BasicBlock.expansion : Bottleneck.expansion;
    let channels = stem.channels;
    stages.forEach((stage, i) => {
      const layer = new Sequential();
      for (let b = 0; b < stage.blocks; b++) {
        const opts = {
          inChannels: channels,
          planes: stage.planes,
          stride: b === 0 ? stage.stride : 1,
          shortcut: spec.shortcut,
          residual: spec.residual,
        };
        layer.append(block === 'basic' ? new BasicBlock(opts) : new Bottleneck({ ...opts, strideOn: spec.strideOn }));
        channels = stage.planes * expansion;
      }
      this.layers.push(this.registerModule(`layer${i + 1}`, layer));
    });
    this.avgpool = this.registerModule('avgpool', new AdaptiveAvgPool2d([1, 1]));
    this.fc = this.registerModule('fc', new Linear(channels, spec.classes));
    this.initialise();
  }

  /** torchvision: convs kaiming_normal_(fan_out, relu), BN weight 1 and bias 0, fc PyTorch's default. */
  private initialise(): void {
    for (const m of this.modules()) {
      if (m instanceof Conv2d) init.kaimingNormal(m.weight, { mode: 'fanOut', nonlinearity: 'relu' });
      else if (m instanceof BatchNorm2d && m.weight && m.bias) {
        init.ones(m.weight);
        init.zeros(m.bias);
      }
    }
    if (!this.spec.zeroInitResidual) return;
    for (const m of this.modules()) {
      if ((m instanceof BasicBlock || m instanceof Bottleneck) && m.lastBn.weight) init.zeros(m.lastBn.weight);
    }
  }

  forward(x: Tensor): Tensor {
    let y = this.relu.call(this.bn1.call(this.conv1.call(x)));
    if (this.maxpool) y = this.maxpool.call(y);
    for (const layer of this.layers) y = layer.call(y);
    return this.fc.call(flatten(this.avgpool.call(y), 1));
  }

  /** For nn.fuse(): forward() as a chain (the stem's conv, BN and ReLU fuse; see nn/fuse.ts). */
  fusionPattern(): FusionPattern {
    const pool = this.maxpool ? [this.maxpool] : [];
    const flat = (y: Tensor): Tensor => flatten(y, 1);
    return {
      kind: 'chain',
      steps: [this.conv1, this.bn1, this.relu, ...pool, ...this.layers, this.avgpool, flat, this.fc],
    };
  }
}
