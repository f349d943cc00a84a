/** Local response normalisation across channels (torch.nn.functional.local_response_norm). */
import type { ChannelLayout } from '../backend/backend.js';
import { recordSaved } from '../core/autograd.js';
import { ArgumentError, ShapeError } from '../core/errors.js';
import { formatShape, sizeOf } from '../core/shape.js';
import type { Tensor } from '../core/tensor.js';
import { common, willRecord, wrap } from './util.js';

export interface LocalResponseNormOptions {
  /** Number of neighbouring channels summed over (the paper's n). */
  size: number;
  /** Default 1e-4. */
  alpha?: number;
  /** Default 0.75. */
  beta?: number;
  /** Default 1. */
  k?: number;
}

const OP = 'localResponseNorm';

/**
 * b_c = a_c / (k + alpha / size * sum of a_c'^2 for c' from c - floor(size/2) to c + floor((size-1)/2))^beta,
 * channels outside [0, C) counting as zero. Input [N, C, ...] with at least one spatial axis.
 */
export function localResponseNorm(x: Tensor, opts: LocalResponseNormOptions): Tensor {
  common(OP, x);
  const { size, alpha = 1e-4, beta = 0.75, k = 1 } = opts;
  if (x.ndim < 3)
    throw new ShapeError(OP, `expected an input of rank >= 3 ([N, C, ...spatial]), got ${formatShape(x.shape)}`);
  if (!Number.isInteger(size) || size < 1) throw new ArgumentError(OP, `size must be a positive integer, got ${size}`);
  for (const [name, value] of [
    ['alpha', alpha],
    ['beta', beta],
    ['k', k],
  ] as const) {
    if (!Number.isFinite(value)) throw new ArgumentError(OP, `${name} must be a finite number, got ${value}`);
  }
  const layout: ChannelLayout = { batch: x.shape[0], channels: x.shape[1], spatial: sizeOf(x.shape.slice(2)) };
  const kernels = x.backend.kernels;
  const r = kernels.localResponseNorm({ x: x.storage, layout, size, alpha, beta, k, training: willRecord(x) });
  const out = wrap(r.y, x.shape, x.backend);
  const scale = wrap(r.scale, x.shape, x.backend);
  recordSaved(
    [x, out, scale],
    out,
    OP,
    [x],
    (gy) => [
      wrap(
        kernels.localResponseNormBackward({
          gy: gy.storage,
          x: x.storage,
          y: out.storage,
          scale: scale.storage,
          layout,
          size,
          alpha,
          beta,
          k,
        }),
        x.shape,
        x.backend,
      ),
    ],
    { attrs: { size, alpha, beta, k } },
  );
  if (out.gradFn === null) scale.dispose();
  return out;
}
