/** Inverted dropout (torch.nn.functional.dropout). */
import { recordSaved } from '../core/autograd.js';
import { ArgumentError } from '../core/errors.js';
import { defaultGenerator, type Generator } from '../core/random.js';
import type { Tensor } from '../core/tensor.js';
import { common, wrap } from './util.js';

export interface DropoutOptions {
  /** Probability of zeroing an element; default 0.5. */
  p?: number;
  /** Default true; when false dropout is the identity. */
  training?: boolean;
  /** Source of the mask's seed; default `defaultGenerator`. */
  generator?: Generator;
}

/**
 * Zeroes each element with probability p and scales the kept ones by 1 / (1 - p), so the
 * expected value is unchanged. Returns x itself when not training or p = 0, as PyTorch does.
 */
export function dropout(x: Tensor, opts: DropoutOptions = {}): Tensor {
  const { p = 0.5, training = true, generator = defaultGenerator } = opts;
  common('dropout', x);
  if (!(p >= 0 && p <= 1)) throw new ArgumentError('dropout', `p must be a probability in [0, 1], got ${p}`);
  if (!training || p === 0) return x;
  const k = x.backend.kernels;
  // One 32-bit draw per call: the kernel expands the seed, so a seeded generator repeats the mask.
  const seed = generator.nextUint32();
  const shape = x.shape;
  const mask = wrap(k.dropoutMask({ size: x.size, p, seed, dtype: x.dtype }), shape, x.backend);
  const times = (t: Tensor): Tensor =>
    wrap(
      k.binary({ op: 'mul', a: t.storage, aShape: shape, b: mask.storage, bShape: shape, outShape: shape }),
      shape,
      x.backend,
    );
  const out = times(x);
  recordSaved([mask], out, 'dropout', [x], (gy) => [times(gy)]);
  // Without a graph nothing else will use the mask.
  if (out.gradFn === null) mask.dispose();
  return out;
}
