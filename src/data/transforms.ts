/**
 * Image transforms on float32 CHW samples stored back to back (one sample is a batch of one):
 * pad, random crop, centre crop, horizontal flip and per-channel normalisation, composable and
 * seeded. A random transform draws from the generator it is given, sample by sample in order, so
 * the same generator state gives the same batch. Bilinear resize is in resize.ts, AlexNet's PCA
 * colour augmentation in pca-lighting.ts. Every transform built here carries its `spec`, plain
 * data from which transform-spec.ts builds it again (in a loader's worker thread).
 */
import { ArgumentError } from '../core/errors.js';
import type { Generator } from '../core/random.js';
import type { Shape } from '../core/shape.js';
import type { ArrayDataset, BatchTransform } from './dataset.js';

export type ImageShape = readonly [number, number, number];

export interface Transform {
  /** One line for logs and config.json: `randomCrop(28, padding=2)`. */
  readonly name: string;
  /** The sample shape out for a sample shape in (throws ArgumentError when it cannot take it). */
  outShape(shape: ImageShape): ImageShape;
  /** `count` samples of shape `shape` back to back -> the transformed samples. */
  apply(values: Float32Array, count: number, shape: ImageShape, generator: Generator): Float32Array;
  /** The transform as plain data (absent for a hand-written transform, which then cannot go to a worker). */
  readonly spec?: TransformSpec;
}

/** A transform as structured-cloneable data: what a loader sends to its worker threads. */
export type TransformSpec =
  | { op: 'pad'; padding: number; fill: number }
  | { op: 'centerCrop'; size: number }
  | { op: 'randomCrop'; size: number; padding: number }
  | { op: 'horizontalFlip'; p: number }
  | { op: 'normalize'; mean: number[]; std: number[] }
  | { op: 'resize'; height: number; width: number }
  | { op: 'pcaLighting'; eigenvalues: number[]; eigenvectors: number[][]; std: number }
  | { op: 'compose'; transforms: TransformSpec[] };

function checkInt(op: string, key: string, v: number, min: number): number {
  if (!Number.isInteger(v) || v < min) throw new ArgumentError(op, `${key} must be an integer >= ${min}, got ${v}`);
  return v;
}

/** Adds `padding` pixels of `fill` on every side. */
export function pad(padding: number, fill = 0): Transform {
  checkInt('pad', 'padding', padding, 0);
  return {
    name: `pad(${padding})`,
    spec: { op: 'pad', padding, fill },
    outShape: ([c, h, w]) => [c, h + 2 * padding, w + 2 * padding],
    apply(values, count, [c, h, w]) {
      const oh = h + 2 * padding;
      const ow = w + 2 * padding;
      const out = new Float32Array(count * c * oh * ow).fill(fill);
      for (let p = 0; p < count * c; p++) {
        for (let y = 0; y < h; y++) {
          const src = (p * h + y) * w;
          out.set(values.subarray(src, src + w), (p * oh + y + padding) * ow + padding);
        }
      }
      return out;
    },
  };
}

/** Copies the window [top, top + oh) x [left, left + ow) of every channel of sample `n`. */
function cropInto(
  out: Float32Array,
  values: Float32Array,
  n: number,
  [c, h, w]: ImageShape,
  top: number,
  left: number,
  oh: number,
  ow: number,
): void {
  for (let ch = 0; ch < c; ch++) {
    for (let y = 0; y < oh; y++) {
      const src = ((n * c + ch) * h + top + y) * w + left;
      out.set(values.subarray(src, src + ow), ((n * c + ch) * oh + y) * ow);
    }
  }
}

function cropShape(op: string, size: number, [c, h, w]: ImageShape): ImageShape {
  if (size > h || size > w) throw new ArgumentError(op, `crop ${size}x${size} is larger than the image ${h}x${w}`);
  return [c, size, size];
}

/** The centre `size` x `size` window (torchvision's CenterCrop, rounding the offset as it does). */
export function centerCrop(size: number): Transform {
  checkInt('centerCrop', 'size', size, 1);
  return {
    name: `centerCrop(${size})`,
    spec: { op: 'centerCrop', size },
    outShape: (shape) => cropShape('centerCrop', size, shape),
    apply(values, count, shape) {
      const [c, h, w] = shape;
      cropShape('centerCrop', size, shape);
      const top = Math.round((h - size) / 2);
      const left = Math.round((w - size) / 2);
      const out = new Float32Array(count * c * size * size);
      for (let n = 0; n < count; n++) cropInto(out, values, n, shape, top, left, size, size);
      return out;
    },
  };
}

/** A random `size` x `size` window, after zero padding by `padding` (torchvision's RandomCrop(size, padding)). */
export function randomCrop(size: number, padding = 0): Transform {
  checkInt('randomCrop', 'size', size, 1);
  const padder = pad(padding);
  return {
    name: padding > 0 ? `randomCrop(${size}, padding=${padding})` : `randomCrop(${size})`,
    spec: { op: 'randomCrop', size, padding },
    outShape: (shape) => cropShape('randomCrop', size, padder.outShape(shape)),
    apply(values, count, shape, generator) {
      const padded = padding > 0 ? padder.apply(values, count, shape, generator) : values;
      const ps = padder.outShape(shape);
      cropShape('randomCrop', size, ps);
      const [c, h, w] = ps;
      const out = new Float32Array(count * c * size * size);
      for (let n = 0; n < count; n++) {
        const top = generator.int(h - size + 1);
        const left = generator.int(w - size + 1);
        cropInto(out, padded, n, ps, top, left, size, size);
      }
      return out;
    },
  };
}

/** Mirrors each sample left-right with probability `p` (one draw per sample). */
export function horizontalFlip(p = 0.5): Transform {
  if (!(p >= 0 && p <= 1)) throw new ArgumentError('horizontalFlip', `p must be in [0, 1], got ${p}`);
  return {
    name: `horizontalFlip(${p})`,
    spec: { op: 'horizontalFlip', p },
    outShape: (shape) => shape,
    apply(values, count, [c, h, w], generator) {
      const out = values.slice();
      for (let n = 0; n < count; n++) {
        if (!(generator.uniform() < p)) continue;
        for (let row = n * c * h; row < (n + 1) * c * h; row++) {
          const base = row * w;
          for (let x = 0; x < w; x++) out[base + x] = values[base + w - 1 - x];
        }
      }
      return out;
    },
  };
}

/** (x - mean_c) / std_c per channel. */
export function normalize(mean: readonly number[], std: readonly number[]): Transform {
  if (mean.length !== std.length || mean.length === 0)
    throw new ArgumentError(
      'normalize',
      `mean and std need one value per channel, got ${mean.length} and ${std.length}`,
    );
  if (!mean.every(Number.isFinite) || !std.every((s) => Number.isFinite(s) && s > 0))
    throw new ArgumentError('normalize', `mean must be finite and std positive, got ${mean} and ${std}`);
  const fmt = (xs: readonly number[]): string => `[${xs.map((x) => Number(x.toPrecision(4))).join(', ')}]`;
  return {
    name: `normalize(mean=${fmt(mean)}, std=${fmt(std)})`,
    spec: { op: 'normalize', mean: [...mean], std: [...std] },
    outShape(shape) {
      if (shape[0] !== mean.length)
        throw new ArgumentError('normalize', `has ${mean.length} channels of statistics, the images ${shape[0]}`);
      return shape;
    },
    apply(values, count, [c, h, w]) {
      const out = new Float32Array(values.length);
      const plane = h * w;
      for (let n = 0; n < count; n++) {
        for (let ch = 0; ch < c; ch++) {
          const m = mean[ch];
          const s = std[ch];
          const base = (n * c + ch) * plane;
          for (let i = base; i < base + plane; i++) out[i] = (values[i] - m) / s;
        }
      }
      return out;
    },
  };
}

/** The transforms one after another. */
export function compose(transforms: readonly Transform[]): Transform {
  const specs = transforms.map((t) => t.spec);
  return {
    name: transforms.map((t) => t.name).join(' -> ') || 'identity',
    spec: specs.every((s): s is TransformSpec => s !== undefined) ? { op: 'compose', transforms: specs } : undefined,
    outShape: (shape) => transforms.reduce((s, t) => t.outShape(s), shape),
    apply(values, count, shape, generator) {
      let v = values;
      let s = shape;
      for (const t of transforms) {
        v = t.apply(v, count, s, generator);
        s = t.outShape(s);
      }
      return v;
    },
  };
}

/** Per-channel mean and (population) standard deviation over every sample, accumulated in float64. */
export function channelStats(data: ArrayDataset): { mean: number[]; std: number[] } {
  const [c, h, w] = asImageShape(data.sampleShape);
  const plane = h * w;
  const count = data.labels.length;
  const sum = new Float64Array(c);
  const sq = new Float64Array(c);
  for (let n = 0; n < count; n++) {
    for (let ch = 0; ch < c; ch++) {
      const base = (n * c + ch) * plane;
      let s = 0;
      let q = 0;
      for (let i = base; i < base + plane; i++) {
        const v = data.inputs[i];
        s += v;
        q += v * v;
      }
      sum[ch] += s;
      sq[ch] += q;
    }
  }
  const total = count * plane;
  const mean = Array.from(sum, (s) => s / total);
  const std = Array.from(sq, (q, ch) => Math.sqrt(Math.max(q / total - mean[ch] ** 2, 0)) || 1);
  return { mean, std };
}

export function asImageShape(shape: Shape): ImageShape {
  if (shape.length !== 3) throw new ArgumentError('transforms', `expected CxHxW samples, got ${shape.length} dims`);
  return [shape[0], shape[1], shape[2]];
}

/** A transform as the batch loader takes it, drawing from `generator`. */
export function batchTransform(t: Transform, generator: Generator): BatchTransform {
  return (values, count, shape) => {
    const s = asImageShape(shape);
    return { values: t.apply(values, count, s, generator), shape: t.outShape(s) };
  };
}
