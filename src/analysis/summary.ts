/**
 * The summary of a network for one input shape, as data: a row per module call (pre-order, with
 * depth, like torchinfo), and totals. Formatting (text, markdown, JSON) lives in src/cli/format.
 *
 * Counting conventions (also in docs/analysis.md):
 * - params: elements of parameters (`parameters()`, as torchvision counts them); buffers (BN
 *   running statistics and num_batches_tracked) are counted apart. A row counts its own tensors
 *   (`ownParams`) and everything below it (`params`); totals count each tensor once.
 * - MACs: multiply-accumulates of convolution, linear and matmul ops (bias additions, batch norm,
 *   activations and pooling excluded, as torchvision's published "GFLOPS"); FLOPs = 2 x MACs.
 * - Memory: output bytes per row; the forward pass holds the input plus every distinct tensor its
 *   ops produce (see memory.ts for the training estimate).
 */
import type { Tensor } from '../core/tensor.js';
import { describeFusion } from '../nn/fuse.js';
import type { AnyModule, Module } from '../nn/module.js';
import { estimateTrainingMemory, type OptimizerKind, type TrainingMemory } from './memory.js';
import { describeField, type ReceptiveField } from './receptive-field.js';
import { DTYPE_BYTES, traceForward, type ConvWindow, type ForwardTrace, type ModuleCall } from './trace-model.js';

export interface SummaryOptions {
  /** Input of one sample, e.g. [3, 224, 224]. */
  input: readonly number[];
  /** Samples per batch (default 1); shapes, MACs and memory are for the whole batch. */
  batch?: number;
  /** Name shown in the output (default: the module's class name). */
  name?: string;
  /** 'eval' (default: published numbers, GoogLeNet without auxiliary heads) or 'train'. The model's modes are restored afterwards. */
  mode?: 'eval' | 'train';
  /** Optimiser for the training-memory estimate (default 'sgd-momentum'). */
  optimizer?: OptimizerKind;
}

export interface LayerRow {
  /** Position in call order; parent refers to it. */
  index: number;
  parent: number | null;
  /** Dotted path below the analysed module ('' for itself). */
  path: string;
  type: string;
  depth: number;
  /** False when the call ran other modules. */
  isLeaf: boolean;
  /** The module was already called earlier (shared weights); its tensors count once. */
  repeated: boolean;
  window: ConvWindow | null;
  inputShape: number[] | null;
  outputShape: number[] | null;
  ownParams: number;
  params: number;
  trainableParams: number;
  ownBuffers: number;
  buffers: number;
  ownMacs: number;
  macs: number;
  flops: number;
  outputBytes: number;
  /** Field of the output units; null when the output does not depend on the input. */
  receptiveField: ReceptiveField | null;
}

export interface SummaryTotals {
  params: number;
  trainableParams: number;
  buffers: number;
  paramBytes: number;
  bufferBytes: number;
  macs: number;
  flops: number;
  /** The largest field of any feature map with more than one unit (what the head pools or flattens). */
  receptiveField: (ReceptiveField & { layer: string }) | null;
  outputShape: number[] | null;
  /** Input plus every distinct tensor the forward pass produced, in bytes. */
  forwardBytes: number;
}

/** A module the forward pass did not call (GoogLeNet's auxiliary heads in eval mode). */
export interface UnusedModule {
  path: string;
  type: string;
  params: number;
}

export interface ModelSummary {
  name: string;
  /** Input including the batch axis. */
  inputShape: number[];
  batch: number;
  mode: 'eval' | 'train';
  rows: LayerRow[];
  totals: SummaryTotals;
  memory: TrainingMemory;
  unused: UnusedModule[];
  /** What the fusion pass fused (nn.describeFusion), e.g. 'fused for inference: 16 conv+bn+relu; ...'. */
  fusion: string;
}

const sumSizes = (ts: readonly Tensor[]): number => ts.reduce((n, t) => n + t.size, 0);
const sumBytes = (ts: readonly Tensor[]): number => ts.reduce((n, t) => n + t.size * DTYPE_BYTES[t.dtype], 0);
const ownTensors = (slots: ReadonlyMap<string, Tensor | null>): Tensor[] =>
  [...slots.values()].filter((t): t is Tensor => t !== null);

/** Path of `module` relative to `root` (both may sit inside a larger model). */
function relativePath(root: AnyModule, module: AnyModule): string {
  const base = root.path;
  if (base === '') return module.path;
  return module === root ? '' : module.path.slice(base.length + 1);
}

/** Runs one forward pass of `model` on the input shape and returns rows and totals. */
export function summarize(model: Module<Tensor, unknown>, opts: SummaryOptions): ModelSummary {
  const batch = opts.batch ?? 1;
  const mode = opts.mode ?? 'eval';
  const inputShape = [batch, ...opts.input];
  const trace: ForwardTrace = inMode(model, mode, () => traceForward(model, inputShape));
  // Fields exist only for [C, H, W] inputs (see FieldTracker).
  const image: [number, number] = [opts.input[1] ?? 1, opts.input[2] ?? 1];
  const seen = new Set<AnyModule>();
  const indexOf = new Map(trace.calls.map((c, i) => [c, i]));
  const rows = trace.calls.map((call, index): LayerRow => {
    const repeated = seen.has(call.module);
    seen.add(call.module);
    const parent = call.parent ? (indexOf.get(call.parent) ?? null) : null;
    return toRow(call, index, parent, relativePath(model, call.module), repeated, image);
  });

  const params = model.parameters();
  const buffers = model.buffers();
  let widest: ModuleCall | undefined;
  for (const call of trace.calls) {
    if (call.field && call.spatialOutput && (!widest?.field || area(call) > area(widest))) widest = call;
  }
  const totals: SummaryTotals = {
    params: sumSizes(params),
    trainableParams: sumSizes(params.filter((p) => p.requiresGrad)),
    buffers: sumSizes(buffers),
    paramBytes: sumBytes(params),
    bufferBytes: sumBytes(buffers),
    macs: trace.macs,
    flops: 2 * trace.macs,
    receptiveField: widest?.field
      ? { ...describeField(widest.field, image), layer: relativePath(model, widest.module) }
      : null,
    outputShape: trace.outputShapes[0] ?? null,
    forwardBytes: trace.forwardBytes,
  };
  const called = new Set(trace.calls.map((c) => c.module));
  const unused = unusedModules(model, called);
  const memory = estimateTrainingMemory({
    params,
    activationBytes: trace.forwardBytes,
    bufferBytes: totals.bufferBytes,
    batch,
    optimizer: opts.optimizer ?? 'sgd-momentum',
  });
  const fusion = describeFusion(model);
  return { name: opts.name ?? model.typeName, inputShape, batch, mode, rows, totals, memory, unused, fusion };
}

/** Runs fn with every module of `model` in `mode`, then restores each module's own mode. */
export function inMode<T>(model: AnyModule, mode: 'eval' | 'train', fn: () => T): T {
  const modes = model.modules().map((m) => [m, m.training] as const);
  model.train(mode === 'train');
  try {
    return fn();
  } finally {
    for (const [m, training] of modes) m.training = training;
  }
}

const area = (c: ModuleCall): number => (c.field ? c.field[0].size * c.field[1].size : 0);

function toRow(
  call: ModuleCall,
  index: number,
  parent: number | null,
  path: string,
  repeated: boolean,
  image: readonly [number, number],
): LayerRow {
  const m = call.module;
  const params = m.parameters();
  const own = ownTensors(m.ownParameters);
  const ownBuffers = ownTensors(m.ownBuffers);
  return {
    index,
    parent,
    path,
    type: m.typeName,
    depth: call.depth,
    isLeaf: call.children.length === 0,
    repeated,
    window: call.window,
    inputShape: call.inputShapes[0] ?? null,
    outputShape: call.outputShapes[0] ?? null,
    ownParams: sumSizes(own),
    params: sumSizes(params),
    trainableParams: sumSizes(params.filter((p) => p.requiresGrad)),
    ownBuffers: sumSizes(ownBuffers),
    buffers: sumSizes(m.buffers()),
    ownMacs: call.ownMacs,
    macs: call.macs,
    flops: 2 * call.macs,
    outputBytes: call.outputBytes,
    receptiveField: call.field ? describeField(call.field, image) : null,
  };
}

/** The highest modules no call reached, with their parameters. */
function unusedModules(model: AnyModule, called: ReadonlySet<AnyModule>): UnusedModule[] {
  const out: UnusedModule[] = [];
  const visit = (m: AnyModule): void => {
    for (const child of m.children()) {
      if (called.has(child)) visit(child);
      else if (child.modules().every((d) => !called.has(d)))
        out.push({ path: relativePath(model, child), type: child.typeName, params: child.numParameters() });
      else visit(child);
    }
  };
  // Containers such as ModuleList are never called themselves but their items may be.
  visit(model);
  return out;
}

/** Rows down to `depth` (the analysed module is depth 0): deeper rows fold into their ancestor, whose counts already include them. */
export function rowsToDepth(rows: readonly LayerRow[], depth: number): LayerRow[] {
  return rows.filter((r) => r.depth <= depth);
}

/** True when a row's children are hidden or it has none: show its subtree totals rather than its own. */
export function showsSubtree(row: LayerRow, depth: number): boolean {
  return row.isLeaf || row.depth >= depth;
}
