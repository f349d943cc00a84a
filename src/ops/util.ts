/** Small helpers every op file uses: wrapping storages, checking operands, reporting costs. */
import type { Backend, Conv2dGeometry, Pool2dGeometry } from '../backend/backend.js';
import { BackendError, DTypeError } from '../core/errors.js';
import { isGradEnabled } from '../core/grad-mode.js';
import type { Shape } from '../core/shape.js';
import type { Storage } from '../core/storage.js';
import type { SpatialWindow } from '../core/trace.js';
import { expectTensor, Tensor } from '../core/tensor.js';

export function wrap(storage: Storage, shape: Shape, backend: Backend): Tensor {
  return new Tensor(storage, shape, backend);
}

/**
 * Whether the op's result will be recorded for a backward pass (autograd's rule in record()):
 * what ops pass to kernels as `training`, so that kernels never read grad mode themselves.
 */
export function willRecord(...inputs: (Tensor | null | undefined)[]): boolean {
  return isGradEnabled() && inputs.some((t) => t?.requiresGrad === true);
}

/**
 * The check every op makes first: each operand is a Tensor (null only for an absent optional one:
 * a bias, an addend), all on one backend and of one dtype. Returns that backend.
 */
export function common(op: string, ...tensors: (Tensor | null | undefined)[]): Backend {
  tensors.forEach((t, i) => {
    if (t !== null || i === 0) expectTensor(op, t, tensors.length === 1 ? 'input' : `operand ${i + 1}`);
  });
  const present = tensors.filter((t): t is Tensor => t != null);
  const first = present[0];
  for (const t of present) {
    if (t.backend !== first.backend) {
      throw new BackendError(
        op,
        `operands live on different backends ('${first.backend.name}' and '${t.backend.name}'); move them with to()`,
      );
    }
    if (t.dtype !== first.dtype) {
      throw new DTypeError(op, `operands have different dtypes (${first.dtype} and ${t.dtype}); cast one with cast()`);
    }
  }
  return first.backend;
}

/** common() for ops whose operands are all required (a null one is an error too). */
export function commonRequired(op: string, ...tensors: Tensor[]): Backend {
  tensors.forEach((t, i) => expectTensor(op, t, tensors.length === 1 ? 'input' : `operand ${i + 1}`));
  return common(op, ...tensors);
}

/** The window of a convolution or pooling op, as tracing (receptive fields) needs it. */
export function windowOf(g: Conv2dGeometry | Pool2dGeometry): SpatialWindow {
  const top = 'padTop' in g ? g.padTop : g.padH;
  const left = 'padLeft' in g ? g.padLeft : g.padW;
  return {
    kernel: [g.kernelH, g.kernelW],
    stride: [g.strideH, g.strideW],
    padding: [top, left],
    dilation: [g.dilationH, g.dilationW],
  };
}
