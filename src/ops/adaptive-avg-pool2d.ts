/** Adaptive 2-D average pooling, as torch.nn.functional.adaptive_avg_pool2d. */
import { recordSaved } from '../core/autograd.js';
import { ArgumentError } from '../core/errors.js';
import { pair, type IntOrPair } from '../core/shape.js';
import type { Tensor } from '../core/tensor.js';
import { reshape } from './layout.js';
import { imageDims } from './pool2d-geometry.js';
import { common, wrap } from './util.js';

const OP = 'adaptiveAvgPool2d';

/**
 * Averages x [N, C, H, W] (or [C, H, W]) down (or up) to outputSize. Output row i averages input
 * rows floor(i * H / outH) up to ceil((i + 1) * H / outH), as PyTorch, so windows may overlap
 * when sizes do not divide. torchvision's classifiers use it to accept any image size.
 */
export function adaptiveAvgPool2d(x: Tensor, outputSize: IntOrPair): Tensor {
  common(OP, x);
  const [batch, channels, inH, inW] = imageDims(OP, x.shape);
  const [outH, outW] = pair(outputSize);
  if (!Number.isInteger(outH) || !Number.isInteger(outW) || outH < 1 || outW < 1) {
    throw new ArgumentError(
      OP,
      `outputSize must be positive integers, got ${typeof outputSize === 'number' ? outputSize : `[${outputSize.join(', ')}]`}`,
    );
  }
  if (x.ndim === 3) return reshape(adaptiveAvgPool2d(reshape(x, [1, ...x.shape]), outputSize), [channels, outH, outW]);
  const sizes = { batch, channels, inH, inW, outH, outW };
  const { backend } = x;
  const k = backend.kernels;
  const out = wrap(k.adaptiveAvgPool2d({ x: x.storage, ...sizes }), [batch, channels, outH, outW], backend);
  // For receptive fields: the widest bin, and bins that start floor(in/out) apart.
  const window = {
    kernel: [Math.ceil(inH / outH), Math.ceil(inW / outW)],
    stride: [Math.max(1, Math.floor(inH / outH)), Math.max(1, Math.floor(inW / outW))],
    padding: [0, 0],
    dilation: [1, 1],
  } as const;
  return recordSaved(
    [],
    out,
    OP,
    [x],
    (gy) => [wrap(k.adaptiveAvgPool2dBackward({ gy: gy.storage, ...sizes }), x.shape, backend)],
    { window },
  );
}
