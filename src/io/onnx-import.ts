/**
 * ONNX import: a checked graph (io/onnx-graph.ts) becomes an OnnxGraphModule, a convkit module
 * whose forward runs the nodes in topological order with convkit ops (io/onnx-nodes.ts), so it
 * runs on every backend and trains. Initializers become parameters and buffers under their own
 * names (`layer1.0.conv1.weight` through nested holder modules, so the state dict has the file's
 * keys); constants are non-persistent buffers. Before a module is returned, the graph is run once
 * on the meta backend at the declared input shape: every shape disagreement (a weight that does
 * not fit its input, a Reshape that does not add up) is found then, as a DataFormatError naming
 * the file and the node.
 *
 * For a file convkit exported, the initializers carry the zoo model's state-dict keys, so
 * `onnxWeights` (and `loadWeights(buildModel(name), file)`) give that model its weights back.
 * torch.onnx.export folds batch norm into the convolutions and renames what it folded
 * (`onnx::Conv_193`): for those files the graph module is the model.
 */
import { readFileSync } from 'node:fs';
import { withBackend } from '../backend/registry.js';
import { ConvkitError, DataFormatError } from '../core/errors.js';
import { noGrad } from '../core/grad-mode.js';
import { withLayer } from '../core/layer-context.js';
import { scope } from '../core/scope.js';
import type { Tensor } from '../core/tensor.js';
import { fromArray, zeros } from '../ops/creation.js';
import { Module } from '../nn/module.js';
import { type InitializerRole, nodeLabel, parseOnnx, type OnnxGraph } from './onnx-graph.js';
import { isInt, RUNNERS, type RuntimeValue } from './onnx-nodes.js';
import type { OnnxNode } from './onnx-proto.js';
import { NodeAttributes, type OnnxValues } from './onnx-values.js';

export interface ImportOnnxOptions {
  /** The backend of the parameters (default: the current one). */
  backend?: string;
}

/** Reads and checks an ONNX file; a DataFormatError naming the file when it cannot be read or checked. */
export function readOnnxGraph(path: string): OnnxGraph {
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(path);
  } catch (e) {
    throw new DataFormatError(path, `cannot be read (${(e as NodeJS.ErrnoException).code ?? String(e)})`);
  }
  return parseOnnx(bytes, path);
}

/** A module with no computation of its own: holds the parameters under one segment of a dotted name. */
class Holder extends Module {
  forward(): Tensor {
    throw new Error('a holder of imported parameters is not callable');
  }
}

/** The largest constant kept on the host as well (scalar arguments are one value). */
const HOST_VALUES = 16;

const isFree = (m: Module, name: string): boolean =>
  !m.ownModules.has(name) && !m.ownParameters.has(name) && !m.ownBuffers.has(name);

const valueTensor = (v: OnnxValues & { kind: 'float' }, backend?: string): Tensor =>
  fromArray(v.data, v.dims, { backend });

/** The imported graph as a module: input [batch, ...] -> the graph's output. Starts in eval mode. */
export class OnnxGraphModule extends Module<Tensor, Tensor> {
  readonly file: string;
  readonly opset: number;
  readonly producer: string;
  readonly inputName: string;
  readonly outputName: string;
  /** The declared input shape (null where symbolic), as in the file. */
  readonly inputShape: (number | null)[] | null;
  private readonly nodes: readonly OnnxNode[];
  private readonly attrs: readonly NodeAttributes[];
  /** Initializers and Constant outputs: tensors, or integer values for shape arithmetic. */
  private readonly fixed = new Map<string, RuntimeValue>();
  /** Small constants' values on the host, for scalar arguments (a Pad value) on any backend. */
  private readonly host = new Map<string, Float32Array>();
  /** Set by the import check: failures become DataFormatErrors listing the node's inputs. */
  checking = false;

  constructor(graph: OnnxGraph, opts: ImportOnnxOptions = {}) {
    super();
    this.file = graph.file;
    this.opset = graph.opset;
    this.producer = graph.producer;
    this.inputName = graph.inputs[0].name;
    this.inputShape = graph.inputs[0].shape;
    this.outputName = graph.outputs[0];
    this.nodes = graph.nodes;
    this.attrs = graph.nodes.map((n) => new NodeAttributes(n));
    for (const [name, v] of graph.initializers) {
      if (v.kind === 'int') {
        this.fixed.set(name, v);
        continue;
      }
      if (v.data.length <= HOST_VALUES) this.host.set(name, v.data);
      const role = graph.roles.get(name) ?? 'constant';
      this.fixed.set(name, this.register(name, valueTensor(v, opts.backend), role));
    }
    this.nodes.forEach((n, i) => {
      if (n.opType !== 'Constant') return;
      let v: OnnxValues;
      try {
        v = this.attrs[i].constantValue(nodeLabel(n));
      } catch (e) {
        throw new DataFormatError(this.file, (e as Error).message);
      }
      if (v.kind === 'int') this.fixed.set(n.output[0], v);
      else {
        if (v.data.length <= HOST_VALUES) this.host.set(n.output[0], v.data);
        this.fixed.set(n.output[0], this.register(n.output[0], valueTensor(v, opts.backend), 'constant'));
      }
    });
    this.eval();
  }

  /**
   * Registers `t` as a parameter or buffer named by the dotted `name` (holders for the segments);
   * a name that cannot be nested (an empty segment, a segment already used for another kind) and
   * every constant are registered at the top, dots as underscores.
   */
  private register(name: string, t: Tensor, role: InitializerRole): Tensor {
    const put = (owner: Module, leaf: string): void => {
      if (role === 'parameter') owner.registerParameter(leaf, t);
      else owner.registerBuffer(leaf, t, { persistent: role === 'buffer' });
    };
    const parts = name.split('.');
    const owner = role !== 'constant' && parts.every((p) => p !== '') ? this.nestedOwner(parts) : null;
    if (owner) {
      put(owner, parts[parts.length - 1]);
      return t;
    }
    const base = name.replace(/\./g, '_') || 'constant';
    let flat = base;
    for (let i = 1; !isFree(this, flat); i++) flat = `${base}_${i}`;
    put(this, flat);
    return t;
  }

  /** The holder that takes the last of `parts`, made as needed; null when a segment is taken. */
  private nestedOwner(parts: readonly string[]): Module | null {
    let owner: Module = this;
    for (const p of parts.slice(0, -1)) {
      const child = owner.ownModules.get(p);
      if (child instanceof Holder) owner = child;
      else if (isFree(owner, p)) owner = owner.registerModule(p, new Holder());
      else return null;
    }
    return isFree(owner, parts[parts.length - 1]) ? owner : null;
  }

  forward(x: Tensor): Tensor {
    const env = new Map<string, RuntimeValue>(this.fixed);
    env.set(this.inputName, x);
    this.nodes.forEach((node, i) => {
      if (node.opType === 'Constant') return;
      const inputs = node.input.map((name) => (name === '' ? null : (env.get(name) ?? null)));
      const constants = node.input.map((name) => this.host.get(name) ?? null);
      const label = node.name || node.output[0];
      const out = withLayer(label, () => {
        try {
          return RUNNERS[node.opType]({
            node,
            attrs: this.attrs[i],
            opset: this.opset,
            training: this.training,
            inputs,
            constants,
          });
        } catch (e) {
          if (e instanceof ConvkitError && !this.checking) throw e;
          const detail = (e as Error).message;
          // On import, say what the node read, so the disagreeing tensor is named with its shape.
          const read = this.checking ? ` reading ${describeInputs(node, inputs)}` : '';
          throw new DataFormatError(this.file, `${nodeLabel(node)}${read}: ${detail}`);
        }
      });
      env.set(node.output[0], out);
    });
    const y = env.get(this.outputName);
    if (y === undefined || isInt(y))
      throw new DataFormatError(this.file, `the graph output '${this.outputName}' is not a float tensor`);
    return y;
  }

  protected override extraRepr(): string {
    return `file=${this.file}, opset=${this.opset}, nodes=${this.nodes.length}`;
  }
}

/**
 * Runs the graph once on the meta backend at the declared input shape (a symbolic batch as 1), so
 * shape errors surface on import, naming the file and the node.
 */
function dryRun(graph: OnnxGraph): void {
  const shape = graph.inputs[0].shape;
  if (shape === null) return;
  withBackend('meta', () =>
    noGrad(() =>
      scope(() => {
        const module = new OnnxGraphModule(graph, { backend: 'meta' });
        module.checking = true;
        try {
          module.call(zeros(shape.map((d) => d ?? 1)));
        } catch (e) {
          if (e instanceof DataFormatError) throw e;
          throw new DataFormatError(graph.file, (e as Error).message);
        } finally {
          module.dispose();
        }
        return [];
      }),
    ),
  );
}

/** `x [1, 3, 8, 8], w [4, 5, 3, 3]`: a node's inputs with their shapes. */
function describeInputs(node: OnnxNode, values: readonly (RuntimeValue | null)[]): string {
  return node.input
    .map((name, i) => {
      const v = values[i];
      if (name === '' || v === null) return null;
      return `${name} [${(isInt(v) ? v.dims : v.shape).join(', ')}]`;
    })
    .filter((d) => d !== null)
    .join(', ');
}

/**
 * An ONNX model (a file's path or its bytes) as a runnable, trainable convkit module. Throws a
 * DataFormatError naming the file (`<bytes>` for bytes) for anything it cannot import: an op
 * outside ONNX_IMPORT_OPS (naming the op and the node), a cycle, a missing initializer, shapes
 * that disagree, a truncated file.
 */
export function importOnnx(source: string | Uint8Array, opts: ImportOnnxOptions = {}): OnnxGraphModule {
  const graph = typeof source === 'string' ? readOnnxGraph(source) : parseOnnx(source, '<bytes>');
  dryRun(graph);
  return new OnnxGraphModule(graph, opts);
}

/**
 * The graph's weights as a state dict: parameters and batch-norm statistics under the
 * initializers' names (constants left out), plus a zero `num_batches_tracked` beside each
 * `running_mean` (ONNX does not keep the counter), so a file convkit exported loads strictly into
 * the zoo model it came from.
 */
export function onnxWeights(graph: OnnxGraph, opts: ImportOnnxOptions = {}): Map<string, Tensor> {
  const out = new Map<string, Tensor>();
  for (const [name, role] of graph.roles) {
    const v = graph.initializers.get(name);
    if (role === 'constant' || v === undefined || v.kind !== 'float') continue;
    out.set(name, valueTensor(v, opts.backend));
    if (name === 'running_mean' || name.endsWith('.running_mean')) {
      const counter = `${name.slice(0, -'running_mean'.length)}num_batches_tracked`;
      if (!graph.initializers.has(counter)) out.set(counter, zeros([], { backend: opts.backend }));
    }
  }
  return out;
}
