/** nn.Dropout: zeroes elements with probability p in training mode, the identity in eval mode. */
import { ArgumentError } from '../core/errors.js';
import type { Generator } from '../core/random.js';
import type { Tensor } from '../core/tensor.js';
import { dropout } from '../ops/dropout.js';
import { Module } from './module.js';
import { pyBool, pyFloat } from './repr.js';

export interface DropoutLayerOptions {
  /** Default 0.5. */
  p?: number;
  /** Accepted for PyTorch compatibility and ignored: convkit ops never overwrite their input. */
  inplace?: boolean;
  /** Source of the masks; default `defaultGenerator`. */
  generator?: Generator;
}

export class Dropout extends Module {
  readonly p: number;
  readonly inplace: boolean;
  private readonly generator: Generator | undefined;

  constructor(opts: DropoutLayerOptions = {}) {
    super();
    this.p = opts.p ?? 0.5;
    if (!(this.p >= 0 && this.p <= 1))
      throw new ArgumentError('Dropout', `p must be a probability in [0, 1], got ${this.p}`);
    this.inplace = opts.inplace ?? false;
    this.generator = opts.generator;
  }

  forward(x: Tensor): Tensor {
    return dropout(x, { p: this.p, training: this.training, generator: this.generator });
  }

  protected override extraRepr(): string {
    return `p=${pyFloat(this.p)}, inplace=${pyBool(this.inplace)}`;
  }
}
