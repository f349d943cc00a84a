/**
 * Follows receptive fields through a traced forward pass: every tensor an op produces gets the
 * field of its units, computed from the fields of the op's inputs (see receptive-field.ts for the
 * arithmetic). Parameters and constants have no field and are ignored.
 *
 * - Window ops (convolution, pooling, adaptive pooling) compose their window onto input 0's field.
 * - Any other op that keeps the spatial grid (activations, batch norm, LRN, dropout, add,
 *   concatenation along channels) gives each unit the union of its inputs' fields.
 * - An op whose output has no spatial grid (flatten, linear, a mean over H and W) or a 1x1 grid
 *   made from a larger one combines every position: the field of a window as large as the map.
 * - Pad, crop or broadcast between different grids (no window reported) keep the field and assume
 *   the grids align; no classic network does this on spatial axes.
 */
import type { Storage } from '../core/storage.js';
import type { Tensor } from '../core/tensor.js';
import type { OpEvent } from '../core/trace.js';
import { PIXEL, collapseAxis, composeWindow, unionAxis, type Field2d } from './receptive-field.js';

type Grid = readonly [number, number];

interface Tracked {
  field: Field2d;
  /** Units along [height, width] of a 4-D NCHW map; null once the spatial layout is gone. */
  grid: Grid | null;
}

const gridOf = (shape: readonly number[]): Grid | null => (shape.length === 4 ? [shape[2], shape[3]] : null);
const sameGrid = (a: Grid, b: Grid): boolean => a[0] === b[0] && a[1] === b[1];

function collapse(t: Tracked, grid: Grid): Field2d {
  return [collapseAxis(t.field[0], grid[0]), collapseAxis(t.field[1], grid[1])];
}

/** An input's field as seen from an output with the given grid. */
function adapt(t: Tracked, out: Grid | null): Tracked {
  if (t.grid === null) return t;
  if (out === null) return { field: collapse(t, t.grid), grid: null };
  if (sameGrid(t.grid, out)) return t;
  if (out[0] === 1 && out[1] === 1) return { field: collapse(t, t.grid), grid: out };
  return { field: t.field, grid: out };
}

export class FieldTracker {
  private readonly byTensor = new Map<Tensor, Tracked>();
  // Fallback for tensors made without a recorded op (a direct view() shares its source's storage).
  private readonly byStorage = new Map<Storage, Tracked>();

  /** Starts from the network input: each of its pixels sees itself. Only NCHW images have fields. */
  constructor(input: Tensor) {
    const grid = gridOf(input.shape);
    if (grid) this.set(input, { field: [PIXEL, PIXEL], grid });
  }

  observe(e: OpEvent): void {
    const inputs = e.inputs.flatMap((t) => {
      const tracked = t ? this.lookup(t) : undefined;
      return tracked ? [{ t, tracked }] : [];
    });
    if (inputs.length === 0) return;
    const outGrid = gridOf(e.output.shape);
    const first = inputs[0];
    if (e.window && outGrid && first.t === e.inputs[0] && first.tracked.grid) {
      this.set(e.output, { field: composeWindow(first.tracked.field, e.window), grid: outGrid });
      return;
    }
    const adapted = inputs.map(({ tracked }) => adapt(tracked, outGrid));
    const field: Field2d = [unionAxis(adapted.map((a) => a.field[0])), unionAxis(adapted.map((a) => a.field[1]))];
    this.set(e.output, { field, grid: adapted.some((a) => a.grid !== null) ? outGrid : null });
  }

  /** The field of a tensor's units, if it was computed from the input. */
  fieldOf(t: Tensor): Field2d | undefined {
    return this.lookup(t)?.field;
  }

  /** True while the tensor still has a spatial grid of more than one unit. */
  isSpatialMap(t: Tensor): boolean {
    const grid = this.lookup(t)?.grid;
    return grid !== null && grid !== undefined && grid[0] * grid[1] > 1;
  }

  private lookup(t: Tensor): Tracked | undefined {
    return this.byTensor.get(t) ?? this.byStorage.get(t.storage);
  }

  private set(t: Tensor, tracked: Tracked): void {
    this.byTensor.set(t, tracked);
    this.byStorage.set(t.storage, tracked);
  }
}
