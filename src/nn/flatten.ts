/** nn.Flatten: merges axes startDim..endDim (default 1..-1, keeping the batch axis). */
import type { Tensor } from '../core/tensor.js';
import { flatten } from '../ops/layout.js';
import { Module } from './module.js';

export interface FlattenOptions {
  /** Default 1. */
  startDim?: number;
  /** Default -1. */
  endDim?: number;
}

export class Flatten extends Module {
  readonly startDim: number;
  readonly endDim: number;

  constructor(opts: FlattenOptions = {}) {
    super();
    this.startDim = opts.startDim ?? 1;
    this.endDim = opts.endDim ?? -1;
  }

  forward(x: Tensor): Tensor {
    return flatten(x, this.startDim, this.endDim);
  }

  protected override extraRepr(): string {
    return `start_dim=${this.startDim}, end_dim=${this.endDim}`;
  }
}
