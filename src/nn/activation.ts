/** nn.ReLU, nn.Sigmoid, nn.Tanh. */
import type { Tensor } from '../core/tensor.js';
import { relu, sigmoid, tanh } from '../ops/activation.js';
import { Module } from './module.js';

export interface ReLUOptions {
  /**
   * Accepted for PyTorch compatibility (torchvision writes ReLU(inplace=True)) and ignored:
   * convkit ops never overwrite their input. It is shown by toString(), as PyTorch does.
   */
  inplace?: boolean;
}

export class ReLU extends Module {
  readonly inplace: boolean;

  constructor(opts: ReLUOptions = {}) {
    super();
    this.inplace = opts.inplace ?? false;
  }

  forward(x: Tensor): Tensor {
    return relu(x);
  }

  protected override extraRepr(): string {
    return this.inplace ? 'inplace=True' : '';
  }
}

export class Sigmoid extends Module {
  forward(x: Tensor): Tensor {
    return sigmoid(x);
  }
}

export class Tanh extends Module {
  forward(x: Tensor): Tensor {
    return tanh(x);
  }
}
