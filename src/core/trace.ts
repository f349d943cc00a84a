/**
 * Op tracing: while a listener is attached, every recorded op reports its inputs, output,
 * multiply-adds and, for windowed ops (convolution, pooling), how output pixels see input pixels.
 * Analysis builds parameter, cost, memory and receptive-field tables from these events on any
 * backend, the shape-only `meta` backend included. With no listener nothing is reported.
 */
import { currentLayer } from './layer-context.js';
import type { Tensor } from './tensor.js';

/** The sliding window of a convolution or pooling op, per spatial axis [height, width]. */
export interface SpatialWindow {
  kernel: readonly [number, number];
  stride: readonly [number, number];
  /** Padding before the first row and column (top, left). */
  padding: readonly [number, number];
  dilation: readonly [number, number];
}

/** What an op may add to its trace event. */
export interface OpInfo {
  /** Multiply-accumulates (one multiply plus one add); FLOPs = 2 x MACs. */
  macs?: number;
  window?: SpatialWindow;
  /**
   * The op's resolved arguments beyond its tensor inputs (a convolution's geometry, a pooling
   * flag, the scalar of `add(x, 2)`, the running statistics of eval batch norm), for exporters
   * that rebuild the computation from the trace (io/onnx-export.ts). Each op documents its keys
   * where it records; analysis ignores them.
   */
  attrs?: OpAttributes;
}

/** See OpInfo.attrs. */
export type OpAttributes = Readonly<Record<string, unknown>>;

export interface OpEvent extends OpInfo {
  op: string;
  inputs: readonly (Tensor | null)[];
  output: Tensor;
  macs: number;
  attrs: OpAttributes;
  /** The module path the op ran in, if any. */
  path: string | undefined;
}

type Listener = (event: OpEvent) => void;
const listeners: Listener[] = [];

export function isTracing(): boolean {
  return listeners.length > 0;
}

let muted = 0;

export function emitOp(op: string, inputs: readonly (Tensor | null)[], output: Tensor, info: OpInfo): void {
  if (muted > 0) return;
  const event: OpEvent = {
    op,
    inputs,
    output,
    macs: info.macs ?? 0,
    window: info.window,
    attrs: info.attrs ?? {},
    path: currentLayer(),
  };
  for (const l of listeners) l(event);
}

/** Calls `listener` for every op recorded while fn runs. */
export function traceOps<T>(listener: Listener, fn: () => T): T {
  listeners.push(listener);
  try {
    return fn();
  } finally {
    listeners.splice(listeners.indexOf(listener), 1);
  }
}

/** Runs fn without reporting its ops: bookkeeping (folding weights) is not part of the model. */
export function untraced<T>(fn: () => T): T {
  muted++;
  try {
    return fn();
  } finally {
    muted--;
  }
}
