/** nn.Conv2d: weight [out, in/groups, kH, kW], optional bias [out], PyTorch's default init. */
import { ArgumentError } from '../core/errors.js';
import { pair, type IntOrPair } from '../core/shape.js';
import type { Tensor } from '../core/tensor.js';
import { conv2d, type Conv2dOptions } from '../ops/conv2d.js';
import { defaultLayerInit } from './init.js';
import { Module } from './module.js';
import { emptyTensor, type FactoryOptions } from './parameter.js';
import { pyInts } from './repr.js';

export type Conv2dPadding = NonNullable<Conv2dOptions['padding']>;

export interface Conv2dLayerOptions extends FactoryOptions {
  /** Default 1. */
  stride?: IntOrPair;
  /** Default 0; see the conv2d op for [h, w], [top, bottom, left, right], 'same' and 'valid'. */
  padding?: Conv2dPadding;
  /** Default 1. */
  dilation?: IntOrPair;
  /** Default 1. in and out channels must both divide by it. */
  groups?: number;
  /** Default true. */
  bias?: boolean;
}

export class Conv2d extends Module {
  readonly kernelSize: [number, number];
  readonly stride: [number, number];
  readonly padding: Conv2dPadding;
  readonly dilation: [number, number];
  readonly groups: number;
  readonly weight: Tensor;
  readonly bias: Tensor | null;

  constructor(
    readonly inChannels: number,
    readonly outChannels: number,
    kernelSize: IntOrPair,
    opts: Conv2dLayerOptions = {},
  ) {
    super();
    this.kernelSize = pair(kernelSize);
    this.stride = pair(opts.stride ?? 1);
    this.padding = opts.padding ?? 0;
    this.dilation = pair(opts.dilation ?? 1);
    this.groups = opts.groups ?? 1;
    const counts: [string, number][] = [
      ['inChannels', inChannels],
      ['outChannels', outChannels],
      ['groups', this.groups],
      ['kernelSize', this.kernelSize[0]],
      ['kernelSize', this.kernelSize[1]],
    ];
    for (const [name, v] of counts) {
      if (!Number.isInteger(v) || v < 1)
        throw new ArgumentError('Conv2d', `${name} must be a positive integer, got ${v}`);
    }
    if (inChannels % this.groups !== 0)
      throw new ArgumentError('Conv2d', `inChannels (${inChannels}) must be divisible by groups (${this.groups})`);
    if (outChannels % this.groups !== 0)
      throw new ArgumentError('Conv2d', `outChannels (${outChannels}) must be divisible by groups (${this.groups})`);
    if (this.padding === 'same' && (this.stride[0] !== 1 || this.stride[1] !== 1)) {
      throw new ArgumentError(
        'Conv2d',
        `padding 'same' is not supported for strided convolutions (stride ${pyInts(this.stride)})`,
      );
    }
    const shape = [outChannels, inChannels / this.groups, ...this.kernelSize];
    this.weight = this.registerParameter('weight', emptyTensor(shape, opts));
    this.bias = this.registerParameter('bias', (opts.bias ?? true) ? emptyTensor([outChannels], opts) : null);
    this.resetParameters(opts);
  }

  /** PyTorch's default: kaiming_uniform_(a=sqrt(5)) weight, U(+-1/sqrt(fan_in)) bias. */
  resetParameters(opts: Pick<FactoryOptions, 'generator'> = {}): void {
    defaultLayerInit(this.weight, this.bias, opts.generator);
  }

  forward(x: Tensor): Tensor {
    return conv2d(x, this.weight, this.bias, {
      stride: this.stride,
      padding: this.padding,
      dilation: this.dilation,
      groups: this.groups,
    });
  }

  protected override extraRepr(): string {
    let s = `${this.inChannels}, ${this.outChannels}, kernel_size=${pyInts(this.kernelSize)}, stride=${pyInts(this.stride)}`;
    const p = this.padding;
    // PyTorch prints a string padding always, a numeric one unless it is all zeros.
    if (typeof p === 'string') s += `, padding=${p}`;
    else if ((typeof p === 'number' ? [p] : p).some((v) => v !== 0))
      s += `, padding=${pyInts(typeof p === 'number' ? [p, p] : p)}`;
    if (this.dilation.some((v) => v !== 1)) s += `, dilation=${pyInts(this.dilation)}`;
    if (this.groups !== 1) s += `, groups=${this.groups}`;
    if (this.bias === null) s += ', bias=False';
    return s;
  }
}
