/**
 * GoogLeNet's building blocks (Szegedy et al. 2014): the conv unit, the Inception module (four
 * parallel branches joined along the channels) and the auxiliary classifier. Module names follow
 * torchvision (`branch2.1.conv.weight`, `aux1.fc1.weight`) in both layouts.
 */
import { ReLU } from '../nn/activation.js';
import { BatchNorm2d } from '../nn/batch-norm2d.js';
import { Concat } from '../nn/blocks.js';
import { Sequential } from '../nn/containers.js';
import { Conv2d } from '../nn/conv2d.js';
import { Dropout } from '../nn/dropout.js';
import { Flatten } from '../nn/flatten.js';
import { Linear } from '../nn/linear.js';
import { AdaptiveAvgPool2d, AvgPool2d, MaxPool2d } from '../nn/pooling.js';

/** Channel widths of one Inception module, named as in torchvision and the paper's Table 1. */
export interface InceptionWidths {
  inChannels: number;
  /** Branch 1: 1x1 convolution. */
  ch1x1: number;
  /** Branch 2: 1x1 reduction, then 3x3. */
  ch3x3red: number;
  ch3x3: number;
  /** Branch 3: 1x1 reduction, then the "5x5" convolution. */
  ch5x5red: number;
  ch5x5: number;
  /** Branch 4: 3x3/1 max pool, then a 1x1 projection. */
  poolProj: number;
}

/** The settings that differ between torchvision's GoogLeNet and the paper's, per block. */
export interface InceptionStyle {
  /** torchvision: conv without bias + BatchNorm2d(eps 1e-3) + ReLU; the paper: conv with bias + ReLU. */
  batchNorm: boolean;
  /**
   * Kernel of the "5x5" branch. torchvision has 3 (a known upstream bug kept for its pretrained
   * weights, pytorch/vision#906); the paper has 5.
   */
  branch3Kernel: 3 | 5;
}

export interface ConvUnitOptions {
  stride?: number;
  padding?: number;
}

/** torchvision's BasicConv2d: children `conv` (and `bn`), then ReLU. */
export function convUnit(
  inC: number,
  outC: number,
  kernel: number,
  style: Pick<InceptionStyle, 'batchNorm'>,
  opts: ConvUnitOptions = {},
): Sequential {
  const { stride = 1, padding = 0 } = opts;
  const conv = new Conv2d(inC, outC, kernel, { stride, padding, bias: !style.batchNorm });
  return style.batchNorm
    ? Sequential.named({ conv, bn: new BatchNorm2d(outC, { eps: 1e-3 }), relu: new ReLU() })
    : Sequential.named({ conv, relu: new ReLU() });
}

/** Output channels: the four branches concatenated. */
export function inceptionOutChannels(w: InceptionWidths): number {
  return w.ch1x1 + w.ch3x3 + w.ch5x5 + w.poolProj;
}

/** An Inception module: branches `branch1` ... `branch4`, concatenated along the channels. */
export function inception(w: InceptionWidths, style: InceptionStyle): Concat {
  const k = style.branch3Kernel;
  return new Concat({
    branch1: convUnit(w.inChannels, w.ch1x1, 1, style),
    branch2: new Sequential(
      convUnit(w.inChannels, w.ch3x3red, 1, style),
      convUnit(w.ch3x3red, w.ch3x3, 3, style, { padding: 1 }),
    ),
    branch3: new Sequential(
      convUnit(w.inChannels, w.ch5x5red, 1, style),
      convUnit(w.ch5x5red, w.ch5x5, k, style, { padding: Math.floor(k / 2) }),
    ),
    branch4: new Sequential(
      new MaxPool2d(3, { stride: 1, padding: 1, ceilMode: true }),
      convUnit(w.inChannels, w.poolProj, 1, style),
    ),
  });
}

export interface AuxHeadOptions {
  inChannels: number;
  classes: number;
  /** Default 0.7, as both torchvision and the paper. */
  dropout?: number;
  batchNorm: boolean;
  /** torchvision: adaptive average pool to 4x4; the paper: 5x5/3 average pool (4x4 from 14x14). */
  pool: 'adaptive4x4' | 'avg5x5s3';
}

/**
 * The auxiliary classifier on an intermediate feature map: pool to 4x4, 1x1 conv to 128, FC 2048 ->
 * 1024 + ReLU, dropout, FC to the classes. Keys `conv.conv.weight`, `fc1.*`, `fc2.*` as torchvision
 * (whose InceptionAux registers conv, fc1, fc2, dropout; only the first three have keys).
 */
export function auxHead(opts: AuxHeadOptions): Sequential {
  const pool = opts.pool === 'adaptive4x4' ? new AdaptiveAvgPool2d(4) : new AvgPool2d(5, { stride: 3 });
  return Sequential.named({
    pool,
    conv: convUnit(opts.inChannels, 128, 1, opts),
    flatten: new Flatten(),
    fc1: new Linear(128 * 4 * 4, 1024),
    relu: new ReLU(),
    dropout: new Dropout({ p: opts.dropout ?? 0.7 }),
    fc2: new Linear(1024, opts.classes),
  });
}
