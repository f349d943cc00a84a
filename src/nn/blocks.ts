/**
 * Composition blocks: Identity, Residual (post(body(x) + shortcut(x)), ResNet) and Concat
 * (branch outputs joined along the channel axis, GoogLeNet and DenseNet).
 */
import { ShapeError } from '../core/errors.js';
import { formatShape, shapesEqual } from '../core/shape.js';
import type { Tensor } from '../core/tensor.js';
import { add } from '../ops/arithmetic.js';
import { concat } from '../ops/layout.js';
import { entriesOf, type NamedModules } from './containers.js';
import { freeConsumed } from './intermediates.js';
import { Module, type TensorModule } from './module.js';

/** Returns its input (nn.Identity); a placeholder where a layer is optional. */
export class Identity extends Module {
  forward(x: Tensor): Tensor {
    return x;
  }
}

export interface ResidualOptions {
  /** Default: the identity (no parameters, no state-dict keys). ResNet's downsample goes here. */
  shortcut?: TensorModule | null;
  /** Applied after the sum, e.g. the ReLU of a ResNet block. */
  post?: TensorModule | null;
}

/** post(body(x) + shortcut(x)); children 'body', then 'shortcut' and 'post' when given. */
export class Residual extends Module {
  readonly body: TensorModule;
  readonly shortcut: TensorModule | null;
  readonly post: TensorModule | null;

  constructor(body: TensorModule, opts: ResidualOptions = {}) {
    super();
    this.body = this.registerModule('body', body);
    this.shortcut = opts.shortcut ? this.registerModule('shortcut', opts.shortcut) : null;
    this.post = opts.post ? this.registerModule('post', opts.post) : null;
  }

  forward(x: Tensor): Tensor {
    const main = this.body.call(x);
    const skip = this.shortcut ? this.shortcut.call(x) : x;
    // add() would broadcast [N, C, 1, 1] against [N, C, H, W]; a residual sum must not.
    if (!shapesEqual(main.shape, skip.shape)) {
      throw new ShapeError(
        'Residual',
        `body gives ${formatShape(main.shape)} but the shortcut gives ${formatShape(skip.shape)}; they must match (a strided or widening body needs a shortcut that does the same)`,
      );
    }
    const sum = add(main, skip);
    return this.post ? this.post.call(sum) : sum;
  }
}

export interface ConcatOptions {
  /** Default 1, the channel axis of NCHW. */
  axis?: number;
}

/** Runs every branch on the same input and concatenates the outputs (an Inception module). */
export class Concat extends Module {
  readonly axis: number;
  private readonly branches: TensorModule[];

  constructor(branches: NamedModules<TensorModule>, opts: ConcatOptions = {}) {
    super();
    this.axis = opts.axis ?? 1;
    this.branches = entriesOf(branches).map(([name, branch]) => this.registerModule(name, branch));
  }

  forward(x: Tensor): Tensor {
    const outputs = this.branches.map((b) => b.call(x));
    const joined = concat(outputs, this.axis);
    for (const y of outputs) freeConsumed(y, x, joined);
    return joined;
  }
}
