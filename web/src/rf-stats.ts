/**
 * Where one unit's theoretical field lies on the input image, and numbers that compare the
 * effective field (a gradient map) with it. Coordinates are pixel centres 0, 1, ... as in
 * src/analysis/receptive-field.ts; nothing here touches the DOM.
 */
import type { ReceptiveField } from '../../src/analysis/receptive-field.js';

/** One unit's theoretical field per axis [y, x]: centre and the first and last pixel centre it sees, unclipped. */
export interface UnitField {
  centre: [number, number];
  lo: [number, number];
  hi: [number, number];
}

/** Unit (y, x) of a map whose field is `f` sees the pixels centre ± (size - 1) / 2 around centre = start + unit * jump. */
export function unitField(f: ReceptiveField, unit: readonly [number, number]): UnitField {
  const axis = (a: 0 | 1) => {
    const centre = f.start[a] + unit[a] * f.jump[a];
    return [centre, centre - (f.size[a] - 1) / 2, centre + (f.size[a] - 1) / 2] as const;
  };
  const [y, x] = [axis(0), axis(1)];
  return { centre: [y[0], x[0]], lo: [y[1], x[1]], hi: [y[2], x[2]] };
}

/** The pixel rows and columns of the field inside an image of [height, width]: [first, last] per axis, inclusive. */
export function clippedField(u: UnitField, image: readonly [number, number]): [[number, number], [number, number]] {
  const axis = (a: 0 | 1): [number, number] => [
    Math.max(0, Math.ceil(u.lo[a])),
    Math.min(image[a] - 1, Math.floor(u.hi[a])),
  ];
  return [axis(0), axis(1)];
}

/** The unit whose field is centred nearest to pixel `p` of the image, on a map of `grid` units. */
export function unitAt(
  f: ReceptiveField,
  p: readonly [number, number],
  grid: readonly [number, number],
): [number, number] {
  const axis = (a: 0 | 1): number => Math.max(0, Math.min(grid[a] - 1, Math.round((p[a] - f.start[a]) / f.jump[a])));
  return [axis(0), axis(1)];
}

export interface FieldNumbers {
  /** Sum of the gradient map. */
  total: number;
  /** Sum of the gradient outside the theoretical field (0 when the analysis and the engine agree). */
  outside: number;
  /** Pixels of the theoretical field inside the image. */
  fieldPixels: number;
  /** Smallest Euclidean distance from the unit's centre within which 95% of the gradient lies, in pixels. */
  radius95: number;
  /** Fewest pixels holding 95% of the gradient, as a share of fieldPixels. */
  share95: number;
  /** Pixels of the field where the gradient is not zero, as a share of fieldPixels. */
  nonZeroShare: number;
}

export const MASS = 0.95;

/** Index of the first entry of `order` at which the running sum of values reaches MASS of `total`. */
function massIndex(order: Int32Array, values: Float32Array, total: number): number {
  let sum = 0;
  for (let i = 0; i < order.length; i++) {
    sum += values[order[i]];
    if (sum >= MASS * total) return i;
  }
  return order.length - 1;
}

/** Compares a gradient map ([height, width], row-major, non-negative) with the unit's theoretical field. */
export function fieldNumbers(gradient: Float32Array, image: readonly [number, number], u: UnitField): FieldNumbers {
  const [height, width] = image;
  const [[y0, y1], [x0, x1]] = clippedField(u, image);
  let total = 0;
  let outside = 0;
  let nonZero = 0;
  for (let y = 0; y < height; y++)
    for (let x = 0; x < width; x++) {
      const g = gradient[y * width + x];
      total += g;
      if (y >= y0 && y <= y1 && x >= x0 && x <= x1) {
        if (g !== 0) nonZero++;
      } else outside += g;
    }
  const fieldPixels = Math.max(0, y1 - y0 + 1) * Math.max(0, x1 - x0 + 1);
  const all = Int32Array.from({ length: height * width }, (_, i) => i);
  const dist2 = (i: number): number => (Math.floor(i / width) - u.centre[0]) ** 2 + ((i % width) - u.centre[1]) ** 2;
  const byDistance = all.slice().sort((a, b) => dist2(a) - dist2(b));
  const byValue = all.slice().sort((a, b) => gradient[b] - gradient[a]);
  const share = (n: number): number => (fieldPixels > 0 ? n / fieldPixels : 0);
  return {
    total,
    outside,
    fieldPixels,
    radius95: total > 0 ? Math.sqrt(dist2(byDistance[massIndex(byDistance, gradient, total)])) : 0,
    share95: total > 0 ? share(massIndex(byValue, gradient, total) + 1) : 0,
    nonZeroShare: share(nonZero),
  };
}
