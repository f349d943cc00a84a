/**
 * Parameters are plain tensors that a module owns: leaves with requiresGrad, exempt from scopes
 * (so a model built inside `scope()` survives it). There is no Parameter subclass: what makes a
 * tensor a parameter is that a module registered it with `registerParameter`.
 */
import type { DType } from '../core/dtype.js';
import { ArgumentError } from '../core/errors.js';
import type { Generator } from '../core/random.js';
import { keep } from '../core/scope.js';
import type { Shape } from '../core/shape.js';
import type { Tensor } from '../core/tensor.js';
import { zeros } from '../ops/creation.js';

/** Where a layer makes its tensors (PyTorch's factory kwargs) and what its initialisation draws from. */
export interface FactoryOptions {
  /** Default 'float32'. float64 layers are for gradient checks on the reference backend. */
  dtype?: DType;
  /** Backend name; default the current backend. 'meta' builds shape-only layers (no values, no random draws). */
  backend?: string;
  /** Source of the default initialisation; default `defaultGenerator`. */
  generator?: Generator;
}

/** Marks t as a parameter: checks it is a leaf, sets requiresGrad and exempts it from open scopes. */
export function asParameter(t: Tensor, requiresGrad = true, where = 'registerParameter'): Tensor {
  if (!t.isLeaf) {
    throw new ArgumentError(
      where,
      `a parameter must be a leaf tensor, this one was made by ${t.gradFn?.op}; pass t.detach()`,
    );
  }
  t.requireGrad(requiresGrad);
  return keep(t);
}

/** A zero tensor where a layer's options say; layers register it and fill it in resetParameters(). */
export function emptyTensor(shape: Shape, opts: FactoryOptions = {}): Tensor {
  return zeros(shape, { dtype: opts.dtype, backend: opts.backend });
}
