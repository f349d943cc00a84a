/**
 * ResNet's residual blocks (He et al. 2015) with torchvision's attribute names and order, so the
 * state-dict keys are `conv1`, `bn1`, `conv2`, `bn2`, (`conv3`, `bn3`), `downsample.0`,
 * `downsample.1`, and the shortcut options A, B and C of the paper (section 3.3).
 */
import { ArgumentError } from '../core/errors.js';
import type { Tensor } from '../core/tensor.js';
import { add } from '../ops/arithmetic.js';
import { avgPool2d } from '../ops/avg-pool2d.js';
import { pad } from '../ops/layout.js';
import { ReLU } from '../nn/activation.js';
import { BatchNorm2d } from '../nn/batch-norm2d.js';
import { Sequential } from '../nn/containers.js';
import { Conv2d } from '../nn/conv2d.js';
import type { Fusable, FusionPattern, FusionStep } from '../nn/fuse.js';
import { Module, type TensorModule } from '../nn/module.js';

/**
 * The paper's shortcut options (section 3.3, Table 3):
 * - 'A': identity; where the shape changes, subsample by the stride and pad the new channels with
 *   zeros (no parameters; the CIFAR nets use it).
 * - 'B': a projection (1x1 conv + BN) only where the shape changes, identity elsewhere (torchvision).
 * - 'C': a projection on every block (slightly better in the paper, many more parameters).
 */
export type ShortcutOption = 'A' | 'B' | 'C';

/**
 * Which conv of a bottleneck carries the stage's stride 2. 'conv1' is the paper's v1 layout: the
 * first 1x1 subsamples, so it and the 3x3 run at the lower resolution (cheaper, but that 1x1 never
 * sees 3 of every 4 input pixels). 'conv2' is torchvision's v1.5: the 3x3 subsamples, the 1x1 runs
 * at full resolution (about 0.5 % better top-1 per NVIDIA's v1.5 note, 0.23 GMACs more for every
 * depth, same parameters).
 */
export type BottleneckStride = 'conv1' | 'conv2';

export interface BlockOptions {
  inChannels: number;
  /** Width of the block's inner convs; the output has planes * expansion channels. */
  planes: number;
  /** Default 1; 2 in the first block of a downsampling stage. */
  stride?: number;
  /** Default 'B'. */
  shortcut?: ShortcutOption;
  /** Default true; false gives the paper's "plain" block (same layers, no shortcut, no sum). */
  residual?: boolean;
}

/** Option A's parameter-free shortcut: x[:, :, ::stride, ::stride] with zero channels appended. */
export class ZeroPadShortcut extends Module {
  constructor(
    readonly inChannels: number,
    readonly outChannels: number,
    readonly stride: number,
  ) {
    super();
    if (outChannels < inChannels) {
      throw new ArgumentError(
        'ZeroPadShortcut',
        `option A can only add channels, got ${inChannels} -> ${outChannels}; use shortcut 'B' or 'C'`,
      );
    }
  }

  forward(x: Tensor): Tensor {
    // A 1x1 window with stride s picks every s-th pixel, exactly x[:, :, ::s, ::s] (as fb.resnet.torch).
    const sub = this.stride > 1 ? avgPool2d(x, { kernelSize: 1, stride: this.stride }) : x;
    // Appended after the identity channels, as fb.resnet.torch; padding both sides (another common
    // choice) differs only by a permutation of the block's output filters.
    const extra = this.outChannels - this.inChannels;
    return extra > 0 ? pad(sub, [0, 0, 0, 0, 0, extra]) : sub;
  }

  protected override extraRepr(): string {
    return `${this.inChannels}, ${this.outChannels}, stride=${this.stride}`;
  }
}

/** The shortcut a block gets under an option, or null for the identity (and for plain blocks). */
export function makeShortcut(
  option: ShortcutOption,
  inChannels: number,
  outChannels: number,
  stride: number,
): TensorModule | null {
  const reshapes = stride !== 1 || inChannels !== outChannels;
  if (option === 'A') return reshapes ? new ZeroPadShortcut(inChannels, outChannels, stride) : null;
  if (option === 'B' && !reshapes) return null;
  return new Sequential(new Conv2d(inChannels, outChannels, 1, { stride, bias: false }), new BatchNorm2d(outChannels));
}

const conv3x3 = (inC: number, outC: number, stride = 1): Conv2d =>
  new Conv2d(inC, outC, 3, { stride, padding: 1, bias: false });
const conv1x1 = (inC: number, outC: number, stride = 1): Conv2d => new Conv2d(inC, outC, 1, { stride, bias: false });

/** Shared by both blocks: relu(main + shortcut(x)), or relu(main) for a plain block. */
abstract class ResidualBlock extends Module implements Fusable {
  abstract readonly downsample: TensorModule | null;
  abstract readonly relu: ReLU;
  /** The block's output BN, whose weight zero_init_residual sets to zero. */
  abstract get lastBn(): BatchNorm2d;

  constructor(readonly residual: boolean) {
    super();
  }

  /** Registered only when there is one: torchvision's `downsample = None` is no child at all. */
  protected registerShortcut(
    option: ShortcutOption,
    inChannels: number,
    outChannels: number,
    stride: number,
  ): TensorModule | null {
    const shortcut = this.residual ? makeShortcut(option, inChannels, outChannels, stride) : null;
    return shortcut ? this.registerModule('downsample', shortcut) : null;
  }

  /** The shortcut branch: the projection or option A's padding, else the identity. */
  protected shortcut(x: Tensor): Tensor {
    return this.downsample ? this.downsample.call(x) : x;
  }

  /** The main path up to the last BN, as forward() runs it (conv, bn, relu, ..., conv, bn). */
  protected abstract mainPath(): readonly FusionStep[];

  /**
   * For nn.fuse(): relu(main(x) + shortcut(x)), or the chain main, relu for a plain block. In
   * inference each conv absorbs its BN, the last one also the sum and the ReLU (nn/fuse.ts).
   */
  fusionPattern(): FusionPattern {
    const main = this.mainPath();
    return this.residual
      ? { kind: 'residual', main, shortcut: this.downsample, post: this.relu }
      : { kind: 'chain', steps: [...main, this.relu] };
  }
}

/** Two 3x3 convs (ResNet-18/34 and the CIFAR nets); expansion 1. */
export class BasicBlock extends ResidualBlock {
  static readonly expansion = 1;
  readonly conv1: Conv2d;
  readonly bn1: BatchNorm2d;
  readonly relu: ReLU;
  readonly conv2: Conv2d;
  readonly bn2: BatchNorm2d;
  readonly downsample: TensorModule | null;

  constructor({ inChannels, planes, stride = 1, shortcut = 'B', residual = true }: BlockOptions) {
    super(residual);
    // Registration order is torchvision's: conv1, bn1, relu, conv2, bn2, downsample.
    this.conv1 = this.registerModule('conv1', conv3x3(inChannels, planes, stride));
    this.bn1 = this.registerModule('bn1', new BatchNorm2d(planes));
    this.relu = this.registerModule('relu', new ReLU({ inplace: true }));
    this.conv2 = this.registerModule('conv2', conv3x3(planes, planes));
    this.bn2 = this.registerModule('bn2', new BatchNorm2d(planes));
    this.downsample = this.registerShortcut(shortcut, inChannels, planes, stride);
  }

  get lastBn(): BatchNorm2d {
    return this.bn2;
  }

  protected mainPath(): readonly FusionStep[] {
    return [this.conv1, this.bn1, this.relu, this.conv2, this.bn2];
  }

  /** relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x)); without the sum in a plain block. */
  forward(x: Tensor): Tensor {
    let out = this.relu.call(this.bn1.call(this.conv1.call(x)));
    out = this.bn2.call(this.conv2.call(out));
    return this.relu.call(this.residual ? add(out, this.shortcut(x)) : out);
  }
}

export interface BottleneckOptions extends BlockOptions {
  /** Default 'conv2' (torchvision's v1.5). */
  strideOn?: BottleneckStride;
}

/** 1x1 reduce, 3x3, 1x1 expand (ResNet-50/101/152); expansion 4. */
export class Bottleneck extends ResidualBlock {
  static readonly expansion = 4;
  readonly conv1: Conv2d;
  readonly bn1: BatchNorm2d;
  readonly conv2: Conv2d;
  readonly bn2: BatchNorm2d;
  readonly conv3: Conv2d;
  readonly bn3: BatchNorm2d;
  readonly relu: ReLU;
  readonly downsample: TensorModule | null;

  constructor({
    inChannels,
    planes,
    stride = 1,
    shortcut = 'B',
    residual = true,
    strideOn = 'conv2',
  }: BottleneckOptions) {
    super(residual);
    const outChannels = planes * Bottleneck.expansion;
    // Registration order is torchvision's: conv1, bn1, conv2, bn2, conv3, bn3, relu, downsample.
    this.conv1 = this.registerModule('conv1', conv1x1(inChannels, planes, strideOn === 'conv1' ? stride : 1));
    this.bn1 = this.registerModule('bn1', new BatchNorm2d(planes));
    this.conv2 = this.registerModule('conv2', conv3x3(planes, planes, strideOn === 'conv2' ? stride : 1));
    this.bn2 = this.registerModule('bn2', new BatchNorm2d(planes));
    this.conv3 = this.registerModule('conv3', conv1x1(planes, outChannels));
    this.bn3 = this.registerModule('bn3', new BatchNorm2d(outChannels));
    this.relu = this.registerModule('relu', new ReLU({ inplace: true }));
    this.downsample = this.registerShortcut(shortcut, inChannels, outChannels, stride);
  }

  get lastBn(): BatchNorm2d {
    return this.bn3;
  }

  protected mainPath(): readonly FusionStep[] {
    return [this.conv1, this.bn1, this.relu, this.conv2, this.bn2, this.relu, this.conv3, this.bn3];
  }

  /** relu(bn3(conv3(relu(bn2(conv2(relu(bn1(conv1(x)))))))) + shortcut(x)); without the sum in a plain block. */
  forward(x: Tensor): Tensor {
    let out = this.relu.call(this.bn1.call(this.conv1.call(x)));
    out = this.relu.call(this.bn2.call(this.conv2.call(out)));
    out = this.bn3.call(this.conv3.call(out));
    return this.relu.call(this.residual ? add(out, this.shortcut(x)) : out);
  }
}
