/**
 * ONNX export: runs the model once in eval mode on a zero image while listening to the op trace
 * (core/trace.ts) and emits ONNX nodes for every recorded op, so any module whose forward() is
 * made of convkit ops exports, whatever TypeScript it runs in between (GoogLeNet's input
 * transform, ResNet's zero-padding shortcut, DenseNet's growing concatenations). Parameters and
 * buffers become initializers under their state-dict names (float32, raw little-endian); any
 * other tensor an op reads that no earlier op produced (a constant made inside forward()) becomes
 * an initializer too, with the values it had during the trace.
 *
 * Inference fusion is off while tracing (as in module tracing), so batch norm stays a
 * BatchNormalization node after its Conv (ONNX Runtime folds it when it loads the model). The
 * batch axis is symbolic (`batch`) unless `dynamicBatch: false`: a Reshape keeps it with a 0 in
 * its target shape; an op that would mix the batch with other axes is refused. See
 * docs/formats.md ("ONNX export") for the op mapping.
 */
import { writeFileSync, renameSync, rmSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { ArgumentError } from '../core/errors.js';
import { noGrad } from '../core/grad-mode.js';
import { scope } from '../core/scope.js';
import { formatShape, type Shape } from '../core/shape.js';
import type { Tensor } from '../core/tensor.js';
import { traceOps } from '../core/trace.js';
import type { AnyModule, TensorModule } from '../nn/module.js';
import { traceModules } from '../nn/trace-modules.js';
import { zeros } from '../ops/creation.js';
import { emit, GraphBuilder } from './onnx-export-nodes.js';
import { encodeOnnxModel, ONNX_FLOAT, type OnnxNode, type OnnxTensor, type OnnxValueInfo } from './onnx-proto.js';

export interface OnnxExportOptions {
  /** One image's shape [channels, height, width]. */
  input: readonly [number, number, number];
  /** Default 13; 11 to 21 are accepted (the ops used here mean the same in all of them). */
  opset?: number;
  /** Default true: the batch axis is the symbolic dimension `batch`; false fixes it to `batchSize`. */
  dynamicBatch?: boolean;
  /** With dynamicBatch false, the fixed batch size (default 1). */
  batchSize?: number;
  /** The graph's name; default the model's type name. */
  name?: string;
  /** Stored as the model's doc_string. */
  docString?: string;
}

/** The opsets accepted, and the IR version each needs (the ONNX versioning table of IR and opsets). */
const IR_FOR_OPSET: Readonly<Record<number, number>> = {
  11: 6,
  12: 7,
  13: 7,
  14: 7,
  15: 8,
  16: 8,
  17: 8,
  18: 8,
  19: 9,
  20: 9,
  21: 10,
};

export const ONNX_INPUT = 'input';
export const ONNX_OUTPUT = 'logits';

const OP = 'exportOnnx';

/** Keeps only nodes and initializers the output depends on (ops of discarded branches drop out). */
function prune(nodes: OnnxNode[], initializers: Map<string, OnnxTensor>, output: string): OnnxNode[] {
  const needed = new Set([output]);
  const kept: OnnxNode[] = [];
  for (let i = nodes.length - 1; i >= 0; i--) {
    const n = nodes[i];
    if (!n.output.some((o) => needed.has(o))) continue;
    kept.push(n);
    for (const name of n.input) needed.add(name);
  }
  for (const name of [...initializers.keys()]) if (!needed.has(name)) initializers.delete(name);
  return kept.reverse();
}

function valueInfo(name: string, shape: readonly number[], batch: string | null): OnnxValueInfo {
  return {
    name,
    type: {
      tensorType: {
        elemType: ONNX_FLOAT,
        shape: { dim: shape.map((d, i) => (i === 0 && batch !== null ? { dimParam: batch } : { dimValue: d })) },
      },
    },
  };
}

/**
 * The ONNX model (ModelProto bytes) of `model`'s eval-mode forward pass on images of shape
 * `opts.input`: input `input` [batch, C, H, W], output `logits`. The model's training flags are
 * restored afterwards. Throws ArgumentError naming the op and layer for anything ONNX cannot
 * express exactly.
 */
export function exportOnnx(model: TensorModule, opts: OnnxExportOptions): Uint8Array {
  const { input, opset = 13, dynamicBatch = true, batchSize = 1 } = opts;
  const ir = IR_FOR_OPSET[opset];
  if (ir === undefined) throw new ArgumentError(OP, `opset must be an integer from 11 to 21, got ${opset}`);
  if (input.length !== 3 || !input.every((d) => Number.isInteger(d) && d >= 1))
    throw new ArgumentError(
      OP,
      `input must be [channels, height, width] of positive integers, got [${input.join(', ')}]`,
    );
  if (!Number.isInteger(batchSize) || batchSize < 1)
    throw new ArgumentError(OP, `batchSize must be a positive integer, got ${batchSize}`);

  const params = new Map<Tensor, string>();
  for (const [name, t] of model.namedParameters()) params.set(t, name);
  for (const [name, t] of model.namedBuffers()) params.set(t, name);
  const backend = params.keys().next().value?.backend;
  const builder = new GraphBuilder(params, dynamicBatch);
  builder.unique(ONNX_INPUT);
  builder.unique(ONNX_OUTPUT);
  for (const name of params.values()) builder.unique(name);

  const modes = new Map<AnyModule, boolean>(model.modules().map((m) => [m, m.training]));
  let outShape: Shape = [];
  let outName = '';
  model.eval();
  try {
    noGrad(() =>
      scope(() => {
        const x = zeros([dynamicBatch ? 1 : batchSize, ...input], backend ? { backend: backend.name } : {});
        builder.bind(x, ONNX_INPUT, true);
        // A module-call listener turns inference fusion off (nn/fuse.ts): every layer is its own op.
        const y = traceModules({}, () =>
          traceOps(
            (e) => {
              const name = emit(builder, e);
              const batched = e.inputs.some((t) => {
                const n = t && builder.nameOf(t);
                return n !== undefined && n !== null && builder.batched.has(n);
              });
              builder.bind(e.output, name, batched);
            },
            () => model.call(x),
          ),
        );
        outShape = y.shape;
        const name = builder.nameOf(y);
        if (name === undefined || name === ONNX_INPUT)
          throw new ArgumentError(OP, 'the model returned its input or a tensor no traced op made');
        if (dynamicBatch && !builder.batched.has(name))
          throw new ArgumentError(OP, `the output ${formatShape(y.shape)} does not keep the batch axis`);
        outName = name;
        return [];
      }),
    );
  } finally {
    for (const [m, training] of modes) m.training = training;
  }

  const nodes = prune(builder.nodes, builder.initializers, outName);
  for (const n of nodes) n.output = n.output.map((o) => (o === outName ? ONNX_OUTPUT : o));
  for (const n of nodes) n.input = n.input.map((i) => (i === outName ? ONNX_OUTPUT : i));
  if (!nodes.some((n) => n.output.includes(ONNX_OUTPUT)))
    nodes.push({
      input: [outName],
      output: [ONNX_OUTPUT],
      name: ONNX_OUTPUT,
      opType: 'Identity',
      attribute: [],
    });
  const batch = dynamicBatch ? 'batch' : null;
  return encodeOnnxModel({
    irVersion: ir,
    opsetImport: [{ domain: '', version: opset }],
    producerName: 'convkit',
    producerVersion: '0.1.0',
    docString: opts.docString,
    graph: {
      node: nodes,
      name: opts.name ?? model.typeName,
      initializer: [...builder.initializers.values()],
      input: [valueInfo(ONNX_INPUT, [batchSize, ...input], batch)],
      output: [
        valueInfo(
          ONNX_OUTPUT,
          outShape.map((d, i) => (i === 0 ? batchSize : d)),
          batch,
        ),
      ],
    },
  });
}

/** exportOnnx() written to `path` atomically (a temporary file beside it, then a rename). */
export function writeOnnx(path: string, model: TensorModule, opts: OnnxExportOptions): number {
  const bytes = exportOnnx(model, opts);
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.tmp`);
  let renamed = false;
  try {
    writeFileSync(tmp, bytes);
    renameSync(tmp, path);
    renamed = true;
  } finally {
    if (!renamed) rmSync(tmp, { force: true });
  }
  return bytes.length;
}
