/**
 * One traced forward pass: the module call tree in pre-order (as torchinfo lists it) with each
 * call's shapes, multiply-adds, sliding window, output bytes and receptive field, plus what the
 * whole pass produced. Runs without gradients and frees what it made, so on the `meta` backend
 * nothing is allocated at all.
 */
import { getBackend } from '../backend/registry.js';
import type { DType } from '../core/dtype.js';
import { noGrad } from '../core/grad-mode.js';
import { scope } from '../core/scope.js';
import type { Storage } from '../core/storage.js';
import { Tensor } from '../core/tensor.js';
import { traceOps, type OpEvent, type SpatialWindow } from '../core/trace.js';
import type { AnyModule, Module } from '../nn/module.js';
import { traceModules } from '../nn/trace-modules.js';
import { zeros } from '../ops/creation.js';
import { FieldTracker } from './field-tracker.js';
import type { Field2d } from './receptive-field.js';

/** Bytes per element of each dtype. */
export const DTYPE_BYTES: Readonly<Record<DType, number>> = { float32: 4, float64: 8 };

export interface ConvWindow extends SpatialWindow {
  /** Channel groups of a convolution (1 for pooling). */
  groups: number;
}

export interface ModuleCall {
  module: AnyModule;
  /** 0 for the analysed module itself. */
  depth: number;
  parent: ModuleCall | null;
  children: ModuleCall[];
  inputShapes: number[][];
  outputShapes: number[][];
  /** Multiply-adds of ops run directly in this call, not in a child module. */
  ownMacs: number;
  /** Multiply-adds of this call and everything it called. */
  macs: number;
  /** The sliding window of the first window op run directly in this call (a conv or pool layer). */
  window: ConvWindow | null;
  outputBytes: number;
  /** Field of the (first) output tensor; undefined for outputs not computed from the input. */
  field: Field2d | undefined;
  /** True while the output is a map with more than one unit per channel. */
  spatialOutput: boolean;
}

export interface ForwardTrace {
  calls: ModuleCall[];
  inputShape: number[];
  outputShapes: number[][];
  /** Bytes of the input plus every distinct tensor the ops produced (views share storage, counted once). */
  forwardBytes: number;
  /** Multiply-adds of every op of the pass, including any run outside modules. */
  macs: number;
}

/** Tensors inside a module's input or output (a tensor, or arrays and records of them). */
export function tensorsIn(value: unknown, depth = 0): Tensor[] {
  if (value instanceof Tensor) return [value];
  if (value === null || typeof value !== 'object' || depth > 3) return [];
  const items = Array.isArray(value) ? value : Object.values(value);
  return items.flatMap((v) => tensorsIn(v, depth + 1));
}

const bytesOf = (t: Tensor): number => t.size * DTYPE_BYTES[t.dtype];

/** The backend a module's tensors live on (the current backend if it has none). */
function backendOf(model: AnyModule): string {
  const first = model.parameters()[0] ?? model.buffers()[0];
  return first ? first.backend.name : getBackend().name;
}

/** Runs model on zeros of `inputShape` (batch included) and records the call tree. */
export function traceForward(model: Module<Tensor, unknown>, inputShape: readonly number[]): ForwardTrace {
  const calls: ModuleCall[] = [];
  const stack: ModuleCall[] = [];
  const produced = new Set<Storage>();
  let forwardBytes = 0;
  let macs = 0;
  let tracker: FieldTracker | null = null;

  const onOp = (e: OpEvent): void => {
    tracker?.observe(e);
    macs += e.macs;
    if (!produced.has(e.output.storage)) {
      produced.add(e.output.storage);
      forwardBytes += bytesOf(e.output);
    }
    const call = stack[stack.length - 1];
    if (call === undefined) return;
    call.ownMacs += e.macs;
    if (e.window && call.window === null) {
      const [x, weight] = e.inputs;
      // A conv weight is [out, in / groups, kH, kW], so groups = input channels / weight's second axis.
      const groups = e.op === 'conv2d' && x && weight ? x.shape[1] / weight.shape[1] : 1;
      call.window = { ...e.window, groups };
    }
  };

  const onEnter = (module: AnyModule, input: unknown): void => {
    const parent = stack[stack.length - 1] ?? null;
    const call: ModuleCall = {
      module,
      depth: stack.length,
      parent,
      children: [],
      inputShapes: tensorsIn(input).map((t) => [...t.shape]),
      outputShapes: [],
      ownMacs: 0,
      macs: 0,
      window: null,
      outputBytes: 0,
      field: undefined,
      spatialOutput: false,
    };
    parent?.children.push(call);
    calls.push(call);
    stack.push(call);
  };

  const onExit = (_module: AnyModule, output: unknown): void => {
    const call = stack.pop();
    if (call === undefined) return;
    const outs = tensorsIn(output);
    call.outputShapes = outs.map((t) => [...t.shape]);
    call.outputBytes = outs.reduce((n, t) => n + bytesOf(t), 0);
    call.macs += call.ownMacs;
    if (call.parent) call.parent.macs += call.macs;
    if (outs.length > 0 && tracker) {
      call.field = tracker.fieldOf(outs[0]);
      call.spatialOutput = tracker.isSpatialMap(outs[0]);
    }
  };

  let outputShapes: number[][] = [];
  noGrad(() =>
    scope(() => {
      const x = zeros(inputShape, { backend: backendOf(model) });
      tracker = new FieldTracker(x);
      forwardBytes += bytesOf(x);
      produced.add(x.storage);
      const out = traceModules({ enter: onEnter, exit: onExit }, () => traceOps(onOp, () => model.call(x)));
      outputShapes = tensorsIn(out).map((t) => [...t.shape]);
    }),
  );
  return { calls, inputShape: [...inputShape], outputShapes, forwardBytes, macs };
}
