/** nn.Linear: y = x W^T + b with W [out, in], PyTorch's default init. */
import { ArgumentError } from '../core/errors.js';
import type { Tensor } from '../core/tensor.js';
import { linear } from '../ops/matmul.js';
import { defaultLayerInit } from './init.js';
import { Module } from './module.js';
import { emptyTensor, type FactoryOptions } from './parameter.js';
import { pyBool } from './repr.js';

export interface LinearOptions extends FactoryOptions {
  /** Default true. */
  bias?: boolean;
}

export class Linear extends Module {
  readonly weight: Tensor;
  readonly bias: Tensor | null;

  constructor(
    readonly inFeatures: number,
    readonly outFeatures: number,
    opts: LinearOptions = {},
  ) {
    super();
    for (const [name, v] of [
      ['inFeatures', inFeatures],
      ['outFeatures', outFeatures],
    ] as const) {
      if (!Number.isInteger(v) || v < 0)
        throw new ArgumentError('Linear', `${name} must be a non-negative integer, got ${v}`);
    }
    this.weight = this.registerParameter('weight', emptyTensor([outFeatures, inFeatures], opts));
    this.bias = this.registerParameter('bias', (opts.bias ?? true) ? emptyTensor([outFeatures], opts) : null);
    this.resetParameters(opts);
  }

  /** PyTorch's default: kaiming_uniform_(a=sqrt(5)) weight, U(+-1/sqrt(in)) bias. */
  resetParameters(opts: Pick<FactoryOptions, 'generator'> = {}): void {
    defaultLayerInit(this.weight, this.bias, opts.generator);
  }

  forward(x: Tensor): Tensor {
    return linear(x, this.weight, this.bias);
  }

  protected override extraRepr(): string {
    return `in_features=${this.inFeatures}, out_features=${this.outFeatures}, bias=${pyBool(this.bias !== null)}`;
  }
}
