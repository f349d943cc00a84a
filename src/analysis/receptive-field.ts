/**
 * Receptive fields, the standard arithmetic (Dumoulin & Visin 2016; Araujo, Norris & Sim,
 * "Computing Receptive Fields of Convolutional Neural Networks", Distill 2019). Per spatial axis a
 * feature map carries three numbers about its first unit (index 0):
 *
 * - `size` r: how many input pixels one unit sees (padding included, so it may exceed the image);
 * - `jump` j: the distance in input pixels between neighbouring units (the product of strides);
 * - `start`: the input coordinate of the centre of unit 0's field (pixel centres at 0, 1, 2, ...).
 *
 * A window op with kernel k, dilation d (k_eff = d (k - 1) + 1), stride s and padding p before the
 * first element maps (r, j, start) to
 *   r' = r + (k_eff - 1) j,   j' = j s,   start' = start + ((k_eff - 1) / 2 - p) j.
 * Unit u of a map then sees input pixels [start + u j - (r - 1) / 2, start + u j + (r - 1) / 2];
 * the effective padding P = (r - 1) / 2 - start is how far unit 0's field reaches before pixel 0.
 * Where paths meet (residual add, concatenation, any elementwise op) a unit sees the union of what
 * its inputs see, so merging takes the interval that covers every input's field: exact through
 * branches and skips, and the largest path wins when the fields are centred alike.
 */
import type { SpatialWindow } from '../core/trace.js';

/** One spatial axis of a receptive field. */
export interface AxisField {
  size: number;
  jump: number;
  start: number;
}

/** A receptive field per spatial axis: [height, width]. */
export type Field2d = readonly [AxisField, AxisField];

/** What one input pixel sees of itself. */
export const PIXEL: AxisField = { size: 1, jump: 1, start: 0 };

/** The field after one sliding window along an axis. */
export function composeAxis(f: AxisField, kernel: number, stride: number, padding: number, dilation = 1): AxisField {
  const span = dilation * (kernel - 1) + 1;
  return {
    size: f.size + (span - 1) * f.jump,
    jump: f.jump * stride,
    start: f.start + ((span - 1) / 2 - padding) * f.jump,
  };
}

export function composeWindow(f: Field2d, w: SpatialWindow): Field2d {
  const axis = (a: 0 | 1): AxisField => composeAxis(f[a], w.kernel[a], w.stride[a], w.padding[a], w.dilation[a]);
  return [axis(0), axis(1)];
}

/** What a unit sees when it combines all `positions` units of a map along an axis (global pooling, flatten + linear). */
export function collapseAxis(f: AxisField, positions: number): AxisField {
  return composeAxis(f, positions, positions, 0);
}

/** The smallest field that covers every given one (a unit that depends on all of them). */
export function unionAxis(fields: readonly AxisField[]): AxisField {
  const lo = Math.min(...fields.map((f) => f.start - (f.size - 1) / 2));
  const hi = Math.max(...fields.map((f) => f.start + (f.size - 1) / 2));
  // Merged maps normally have equal jumps; if not, the coarser one describes the merged grid.
  return { size: hi - lo + 1, jump: Math.max(...fields.map((f) => f.jump)), start: (lo + hi) / 2 };
}

/** How far unit 0's field reaches before the first input pixel. */
export function effectivePadding(f: AxisField): number {
  return (f.size - 1) / 2 - f.start;
}

/** True when unit 0 sees every pixel of an axis of `length` pixels (and hence so does every unit of a 1-unit map). */
export function coversAxis(f: AxisField, length: number): boolean {
  return effectivePadding(f) >= 0 && f.start + (f.size - 1) / 2 >= length - 1;
}

/** A receptive field as analysis reports it, per axis [height, width]. */
export interface ReceptiveField {
  size: [number, number];
  /** Effective stride: input pixels between neighbouring units. */
  jump: [number, number];
  /** Centre of unit 0's field in input coordinates (pixel centres 0, 1, ...). */
  start: [number, number];
  /** Effective padding: how far unit 0's field reaches before pixel 0. */
  padding: [number, number];
  /** Every unit sees the whole input image (after global pooling or a fully connected layer, or a field that covers it). */
  global: boolean;
}

/** The reported form of a field, for an input image of `image` = [height, width] pixels. */
export function describeField(f: Field2d, image: readonly [number, number]): ReceptiveField {
  return {
    size: [f[0].size, f[1].size],
    jump: [f[0].jump, f[1].jump],
    start: [f[0].start, f[1].start],
    padding: [effectivePadding(f[0]), effectivePadding(f[1])],
    global: coversAxis(f[0], image[0]) && coversAxis(f[1], image[1]),
  };
}
