/** nn.MaxPool2d, nn.AvgPool2d and nn.AdaptiveAvgPool2d: no parameters, settings as PyTorch's. */
import type { IntOrPair } from '../core/shape.js';
import type { Tensor } from '../core/tensor.js';
import { adaptiveAvgPool2d } from '../ops/adaptive-avg-pool2d.js';
import { avgPool2d } from '../ops/avg-pool2d.js';
import { maxPool2d } from '../ops/max-pool2d.js';
import { Module } from './module.js';
import { pyBool, pyInts } from './repr.js';

export interface MaxPool2dOptions {
  /** Default: kernelSize (non-overlapping windows). */
  stride?: IntOrPair;
  /** Default 0. */
  padding?: IntOrPair;
  /** Default 1. */
  dilation?: IntOrPair;
  /** Default false: floor when counting windows; true: ceil (GoogLeNet). */
  ceilMode?: boolean;
}

export class MaxPool2d extends Module {
  readonly stride: IntOrPair;
  readonly padding: IntOrPair;
  readonly dilation: IntOrPair;
  readonly ceilMode: boolean;

  constructor(
    readonly kernelSize: IntOrPair,
    opts: MaxPool2dOptions = {},
  ) {
    super();
    this.stride = opts.stride ?? kernelSize;
    this.padding = opts.padding ?? 0;
    this.dilation = opts.dilation ?? 1;
    this.ceilMode = opts.ceilMode ?? false;
  }

  forward(x: Tensor): Tensor {
    return maxPool2d(x, {
      kernelSize: this.kernelSize,
      stride: this.stride,
      padding: this.padding,
      dilation: this.dilation,
      ceilMode: this.ceilMode,
    });
  }

  protected override extraRepr(): string {
    return `kernel_size=${pyInts(this.kernelSize)}, stride=${pyInts(this.stride)}, padding=${pyInts(this.padding)}, dilation=${pyInts(this.dilation)}, ceil_mode=${pyBool(this.ceilMode)}`;
  }
}

export interface AvgPool2dLayerOptions {
  /** Default: kernelSize. */
  stride?: IntOrPair;
  /** Default 0. */
  padding?: IntOrPair;
  /** Default false. */
  ceilMode?: boolean;
  /** Default true: padding zeros count in the divisor. */
  countIncludePad?: boolean;
  /** Default null: divide by the window size. */
  divisorOverride?: number | null;
}

export class AvgPool2d extends Module {
  readonly stride: IntOrPair;
  readonly padding: IntOrPair;
  readonly ceilMode: boolean;
  readonly countIncludePad: boolean;
  readonly divisorOverride: number | null;

  constructor(
    readonly kernelSize: IntOrPair,
    opts: AvgPool2dLayerOptions = {},
  ) {
    super();
    this.stride = opts.stride ?? kernelSize;
    this.padding = opts.padding ?? 0;
    this.ceilMode = opts.ceilMode ?? false;
    this.countIncludePad = opts.countIncludePad ?? true;
    this.divisorOverride = opts.divisorOverride ?? null;
  }

  forward(x: Tensor): Tensor {
    return avgPool2d(x, {
      kernelSize: this.kernelSize,
      stride: this.stride,
      padding: this.padding,
      ceilMode: this.ceilMode,
      countIncludePad: this.countIncludePad,
      divisorOverride: this.divisorOverride,
    });
  }

  /** PyTorch prints only these three. */
  protected override extraRepr(): string {
    return `kernel_size=${pyInts(this.kernelSize)}, stride=${pyInts(this.stride)}, padding=${pyInts(this.padding)}`;
  }
}

/** Averages to a fixed output size whatever the input size (torchvision's classifiers). */
export class AdaptiveAvgPool2d extends Module {
  constructor(readonly outputSize: IntOrPair) {
    super();
  }

  forward(x: Tensor): Tensor {
    return adaptiveAvgPool2d(x, this.outputSize);
  }

  protected override extraRepr(): string {
    return `output_size=${pyInts(this.outputSize)}`;
  }
}
