/** 2-D average pooling, as torch.nn.functional.avg_pool2d. */
import { recordSaved } from '../core/autograd.js';
import { ArgumentError } from '../core/errors.js';
import { pair } from '../core/shape.js';
import type { Tensor } from '../core/tensor.js';
import { reshape } from './layout.js';
import { pool2dGeometry, type Pool2dOptions } from './pool2d-geometry.js';
import { common, windowOf, wrap } from './util.js';

export interface AvgPool2dOptions extends Pool2dOptions {
  /** Default true: padding zeros count in the divisor (PyTorch's default). */
  countIncludePad?: boolean;
  /** When set, every window is divided by this instead of its size. */
  divisorOverride?: number | null;
}

const OP = 'avgPool2d';

/**
 * Mean of each window of x [N, C, H, W] (or [C, H, W]). The divisor follows PyTorch: the window
 * clipped to the padded input with countIncludePad (so ceil-mode windows hanging past the padding
 * divide by less), the real pixels in it without, or divisorOverride when given.
 */
export function avgPool2d(x: Tensor, opts: AvgPool2dOptions): Tensor {
  common(OP, x);
  if (opts.dilation !== undefined && pair(opts.dilation).some((d) => d !== 1)) {
    throw new ArgumentError(
      OP,
      `average pooling has no dilation (as in PyTorch), got dilation ${String(opts.dilation)}`,
    );
  }
  const divisorOverride = opts.divisorOverride ?? null;
  if (divisorOverride !== null && (!Number.isInteger(divisorOverride) || divisorOverride === 0)) {
    throw new ArgumentError(OP, `divisorOverride must be a non-zero integer, got ${divisorOverride}`);
  }
  const g = pool2dGeometry(OP, x.shape, opts);
  if (x.ndim === 3) return reshape(avgPool2d(reshape(x, [1, ...x.shape]), opts), [g.channels, g.outH, g.outW]);
  const countIncludePad = opts.countIncludePad ?? true;
  const { backend } = x;
  const k = backend.kernels;
  const out = wrap(
    k.avgPool2d({ x: x.storage, geometry: g, countIncludePad, divisorOverride }),
    [g.batch, g.channels, g.outH, g.outW],
    backend,
  );
  return recordSaved(
    [],
    out,
    OP,
    [x],
    (gy) => [
      wrap(k.avgPool2dBackward({ gy: gy.storage, geometry: g, countIncludePad, divisorOverride }), x.shape, backend),
    ],
    { window: windowOf(g), attrs: { geometry: g, countIncludePad, divisorOverride } },
  );
}
