/** 2-D max pooling, as torch.nn.functional.max_pool2d. */
import { recordSaved } from '../core/autograd.js';
import type { Tensor } from '../core/tensor.js';
import { reshape } from './layout.js';
import { pool2dGeometry, type Pool2dOptions } from './pool2d-geometry.js';
import { common, willRecord, windowOf, wrap } from './util.js';

// Re-exported so layers can import the options and geometry beside the op.
export { pool2dGeometry, type Pool2dOptions } from './pool2d-geometry.js';

const OP = 'maxPool2d';

/**
 * Largest value of each window of x [N, C, H, W] (or [C, H, W]); padding never wins (it counts as
 * -infinity) and ties go to the first maximum in row-major order, as in PyTorch. The gradient goes
 * to that one position per window, summed where overlapping windows chose the same pixel.
 */
export function maxPool2d(x: Tensor, opts: Pool2dOptions): Tensor {
  common(OP, x);
  const g = pool2dGeometry(OP, x.shape, opts);
  if (x.ndim === 3) return reshape(maxPool2d(reshape(x, [1, ...x.shape]), opts), [g.channels, g.outH, g.outW]);
  const { backend } = x;
  const k = backend.kernels;
  const r = k.maxPool2d({ x: x.storage, geometry: g, training: willRecord(x) });
  const out = wrap(r.y, [g.batch, g.channels, g.outH, g.outW], backend);
  // A tensor, saved, so that the graph's scope frees it (back to a native pool) once backward is done.
  const workspace = wrap(r.workspace, [r.workspace.size], backend);
  recordSaved(
    [workspace],
    out,
    OP,
    [x],
    (gy) => [
      wrap(k.maxPool2dBackward({ gy: gy.storage, workspace: workspace.storage, geometry: g }), x.shape, backend),
    ],
    { window: windowOf(g), attrs: { geometry: g } },
  );
  // Without a backward pass nobody will read the argmax positions.
  if (out.gradFn === null) workspace.dispose();
  return out;
}
