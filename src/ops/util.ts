/** Small helpers every op file uses: wrapping storages, checking operands, reporting costs. */
import type { Backend } from '../backend/backend.js';
import { reportCost } from '../core/cost.js';
import { BackendError, DTypeError } from '../core/errors.js';
import { currentLayer } from '../core/layer-context.js';
import type { Shape } from '../core/shape.js';
import type { Storage } from '../core/storage.js';
import { Tensor } from '../core/tensor.js';

export function wrap(storage: Storage, shape: Shape, backend: Backend): Tensor {
  return new Tensor(storage, shape, backend);
}

/** All operands on one backend and of one dtype; returns that backend. */
export function common(op: string, ...tensors: (Tensor | null | undefined)[]): Backend {
  const present = tensors.filter((t): t is Tensor => t != null);
  const first = present[0];
  for (const t of present) {
    if (t.backend !== first.backend) {
      throw new BackendError(op, `operands live on different backends ('${first.backend.name}' and '${t.backend.name}'); move them with to()`);
    }
    if (t.dtype !== first.dtype) {
      throw new DTypeError(op, `operands have different dtypes (${first.dtype} and ${t.dtype}); cast one with cast()`);
    }
  }
  return first.backend;
}

/** Tells cost listeners (analysis) what an op cost. */
export function reportOp(op: string, macs: number, out: Tensor): void {
  reportCost({ op, macs, outputElements: out.size, path: currentLayer() });
}
