/**
 * Bilinear resize of CHW samples, as PyTorch's `interpolate(mode='bilinear', align_corners=False)`
 * and torchvision's `resize(..., antialias=False)` on tensors compute it: output pixel centres map
 * to `(dst + 0.5) * in / out - 0.5` in the input (clamped at 0), and the two nearest rows and
 * columns are mixed by their distance. Without antialiasing a large downscale skips pixels, as in
 * torchvision; images from files are scaled by sharp when they are decoded (image-file.ts).
 */
import { ArgumentError } from '../core/errors.js';
import type { ImageShape, Transform } from './transforms.js';

/** For each output index: the two input indices and the weight of the second. */
interface Taps {
  lo: Int32Array;
  hi: Int32Array;
  frac: Float64Array;
}

function taps(inSize: number, outSize: number): Taps {
  const scale = inSize / outSize;
  const lo = new Int32Array(outSize);
  const hi = new Int32Array(outSize);
  const frac = new Float64Array(outSize);
  for (let d = 0; d < outSize; d++) {
    const src = Math.max((d + 0.5) * scale - 0.5, 0);
    const i = Math.min(Math.floor(src), inSize - 1);
    lo[d] = i;
    hi[d] = i < inSize - 1 ? i + 1 : i;
    frac[d] = src - i;
  }
  return { lo, hi, frac };
}

/** Resizes every sample to `height` x `width` (default square) by bilinear interpolation. */
export function resize(height: number, width: number = height): Transform {
  for (const [key, v] of [
    ['height', height],
    ['width', width],
  ] as const) {
    if (!Number.isInteger(v) || v < 1) throw new ArgumentError('resize', `${key} must be an integer >= 1, got ${v}`);
  }
  return {
    name: height === width ? `resize(${height})` : `resize(${height}, ${width})`,
    spec: { op: 'resize', height, width },
    outShape: ([c]: ImageShape) => [c, height, width],
    apply(values, count, [c, h, w]) {
      const rows = taps(h, height);
      const cols = taps(w, width);
      const out = new Float32Array(count * c * height * width);
      for (let p = 0; p < count * c; p++) {
        const src = p * h * w;
        const dst = p * height * width;
        for (let y = 0; y < height; y++) {
          const r0 = src + rows.lo[y] * w;
          const r1 = src + rows.hi[y] * w;
          const fy = rows.frac[y];
          for (let x = 0; x < width; x++) {
            const x0 = cols.lo[x];
            const x1 = cols.hi[x];
            const fx = cols.frac[x];
            const top = values[r0 + x0] * (1 - fx) + values[r0 + x1] * fx;
            const bottom = values[r1 + x0] * (1 - fx) + values[r1 + x1] * fx;
            out[dst + y * width + x] = top * (1 - fy) + bottom * fy;
          }
        }
      }
      return out;
    },
  };
}
