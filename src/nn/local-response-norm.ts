/** nn.LocalResponseNorm (AlexNet 2012: size 5, alpha 1e-4, beta 0.75, k 2). */
import type { Tensor } from '../core/tensor.js';
import { localResponseNorm } from '../ops/local-response-norm.js';
import { Module } from './module.js';
import { pyFloat } from './repr.js';

export interface LocalResponseNormLayerOptions {
  /** Default 1e-4. */
  alpha?: number;
  /** Default 0.75. */
  beta?: number;
  /** Default 1. */
  k?: number;
}

export class LocalResponseNorm extends Module {
  readonly alpha: number;
  readonly beta: number;
  readonly k: number;

  /** `size`: the number of neighbouring channels (the paper's n). */
  constructor(
    readonly size: number,
    opts: LocalResponseNormLayerOptions = {},
  ) {
    super();
    this.alpha = opts.alpha ?? 1e-4;
    this.beta = opts.beta ?? 0.75;
    this.k = opts.k ?? 1;
  }

  forward(x: Tensor): Tensor {
    return localResponseNorm(x, { size: this.size, alpha: this.alpha, beta: this.beta, k: this.k });
  }

  /** Floats print as Python floats (k=2.0; PyTorch shows k=2 when given the int 2). */
  protected override extraRepr(): string {
    return `${this.size}, alpha=${pyFloat(this.alpha)}, beta=${pyFloat(this.beta)}, k=${pyFloat(this.k)}`;
  }
}
