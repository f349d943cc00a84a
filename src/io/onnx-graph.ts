/**
 * The checked form of an ONNX file, before anything runs: the ModelProto decoded (a truncated or
 * foreign file is a DataFormatError naming the file), every node's op in the set convkit imports,
 * every value a node reads provided by an initializer, a graph input or exactly one node, the
 * nodes in topological order (a cycle is an error naming its nodes), and every initializer's
 * values decoded with its dims checked. Initializers get a role from where they are read:
 * `parameter` (a Conv, Gemm or BatchNormalization weight or bias, a MatMul + Add linear layer),
 * `buffer` (batch-norm running statistics) or `constant` (everything else); the roles decide
 * what becomes trainable in the imported module and what `convkit convert` writes.
 */
import { DataFormatError } from '../core/errors.js';
import { RUNNERS } from './onnx-nodes.js';
import { decodeOnnxModel, type OnnxModel, type OnnxNode } from './onnx-proto.js';
import { tensorValues, type OnnxValues } from './onnx-values.js';

/** The ONNX ops convkit imports: those io/onnx-nodes.ts runs, and Constant (evaluated once, on import). */
export const ONNX_IMPORT_OPS: readonly string[] = [...Object.keys(RUNNERS), 'Constant'].sort();

/** Opsets whose meaning of the ops above convkit implements. */
export const ONNX_IMPORT_OPSETS = { min: 11, max: 21 } as const;

export type InitializerRole = 'parameter' | 'buffer' | 'constant';

export interface OnnxGraphInput {
  name: string;
  /** Declared dims; null for a symbolic or missing one (the batch). */
  shape: (number | null)[] | null;
}

export interface OnnxGraph {
  file: string;
  opset: number;
  producer: string;
  /** Topologically sorted. */
  nodes: OnnxNode[];
  initializers: Map<string, OnnxValues>;
  /** Float initializers only. */
  roles: Map<string, InitializerRole>;
  inputs: OnnxGraphInput[];
  outputs: string[];
}

/** How errors name a node: `node 'layer1.0/Conv' (Conv)`, or its first output when it has no name. */
export function nodeLabel(node: OnnxNode): string {
  const name = node.name || (node.output?.[0] ? `producing ${node.output[0]}` : '(unnamed)');
  return `node '${name}' (${node.opType})`;
}

/** Decodes and checks `bytes`; `file` names the source in every error. */
export function parseOnnx(bytes: Uint8Array, file: string): OnnxGraph {
  const fail = (detail: string): never => {
    throw new DataFormatError(file, detail);
  };
  let model: OnnxModel;
  try {
    model = decodeOnnxModel(bytes);
  } catch (e) {
    return fail(`is not a readable ONNX model (protobuf: ${(e as Error).message}); truncated or not ONNX?`);
  }
  const graph = model.graph;
  if (!graph?.node || graph.node.length === 0)
    return fail('is not an ONNX model with a graph (no nodes were decoded); truncated or not ONNX?');
  const opset = (model.opsetImport ?? []).find((o) => !o.domain || o.domain === 'ai.onnx')?.version;
  if (opset === undefined) return fail('imports no opset of the default ONNX domain');
  if (opset < ONNX_IMPORT_OPSETS.min || opset > ONNX_IMPORT_OPSETS.max)
    fail(`uses opset ${opset}; convkit imports opsets ${ONNX_IMPORT_OPSETS.min} to ${ONNX_IMPORT_OPSETS.max}`);

  const nodes = graph.node.map((n) => ({
    ...n,
    input: n.input ?? [],
    output: n.output ?? [],
    attribute: n.attribute ?? [],
  }));
  const supported = new Set(ONNX_IMPORT_OPS);
  for (const n of nodes) {
    const domain = n.domain && n.domain !== 'ai.onnx' ? ` of domain '${n.domain}'` : '';
    if (domain || !supported.has(n.opType))
      fail(
        `${nodeLabel(n)}: op '${n.opType}'${domain} is not supported by convkit's ONNX import (it reads ${ONNX_IMPORT_OPS.join(', ')})`,
      );
  }

  const initializers = new Map<string, OnnxValues>();
  for (const t of graph.initializer ?? []) {
    if (!t.name) fail('has an initializer without a name');
    try {
      initializers.set(t.name, tensorValues(t, `initializer '${t.name}'`));
    } catch (e) {
      fail((e as Error).message);
    }
  }
  const inputs: OnnxGraphInput[] = (graph.input ?? [])
    .filter((v) => !initializers.has(v.name))
    .map((v) => {
      const dims = v.type?.tensorType?.shape?.dim;
      const shape = dims
        ? dims.map((d) => ('dimValue' in d && d.dimValue !== undefined ? Number(d.dimValue) : null))
        : null;
      return { name: v.name, shape };
    });
  if (inputs.length !== 1)
    fail(`has ${inputs.length} graph inputs besides initializers; convkit imports graphs of one input`);
  const outputs = (graph.output ?? []).map((v) => v.name);
  if (outputs.length !== 1) fail(`has ${outputs.length} graph outputs; convkit imports graphs of one output`);

  const producer = new Map<string, OnnxNode>();
  for (const n of nodes) {
    for (const o of n.output) {
      if (o === '') continue;
      const other = producer.get(o);
      if (other) fail(`value '${o}' is produced by both ${nodeLabel(other)} and ${nodeLabel(n)}`);
      if (initializers.has(o) || o === inputs[0].name)
        fail(`${nodeLabel(n)} overwrites the graph input or initializer '${o}'`);
      producer.set(o, n);
    }
  }
  for (const n of nodes) {
    for (const i of n.input) {
      if (i === '' || producer.has(i) || initializers.has(i) || i === inputs[0].name) continue;
      fail(
        `${nodeLabel(n)} reads '${i}', which is no initializer, graph input or node output (a missing initializer?)`,
      );
    }
  }
  if (!producer.has(outputs[0]) && !initializers.has(outputs[0]) && outputs[0] !== inputs[0].name)
    fail(`the graph output '${outputs[0]}' is produced by no node`);
  return {
    file,
    opset,
    producer: `${model.producerName ?? ''} ${model.producerVersion ?? ''}`.trim(),
    nodes: topologicalOrder(nodes, producer, fail),
    initializers,
    roles: initializerRoles(nodes, initializers),
    inputs,
    outputs,
  };
}

/** Kahn's algorithm, keeping the file's order among ready nodes; nodes left over lie on a cycle. */
function topologicalOrder(
  nodes: OnnxNode[],
  producer: ReadonlyMap<string, OnnxNode>,
  fail: (detail: string) => never,
): OnnxNode[] {
  const index = new Map(nodes.map((n, i) => [n, i]));
  const waiting = nodes.map((n) => new Set(n.input.map((i) => producer.get(i)).filter((p) => p !== undefined)));
  const consumers = nodes.map(() => [] as number[]);
  waiting.forEach((deps, i) => {
    for (const d of deps) consumers[index.get(d) as number].push(i);
  });
  const done = new Array<boolean>(nodes.length).fill(false);
  const order: OnnxNode[] = [];
  const ready = nodes.map((_, i) => i).filter((i) => waiting[i].size === 0);
  while (ready.length > 0) {
    ready.sort((a, b) => a - b);
    const i = ready.shift() as number;
    done[i] = true;
    order.push(nodes[i]);
    for (const c of consumers[i]) {
      waiting[c].delete(nodes[i]);
      if (waiting[c].size === 0) ready.push(c);
    }
  }
  if (order.length < nodes.length) {
    const left = nodes.filter((_, i) => !done[i]);
    const shown = left.slice(0, 6).map(nodeLabel).join(', ');
    fail(`the graph has a cycle: ${left.length} nodes wait on each other (${shown}${left.length > 6 ? ', ...' : ''})`);
  }
  return order;
}

/** The role of each float initializer (see the file comment); Identity copies pass the role on. */
function initializerRoles(
  nodes: readonly OnnxNode[],
  initializers: ReadonlyMap<string, OnnxValues>,
): Map<string, InitializerRole> {
  const alias = new Map<string, string>();
  for (const n of nodes) {
    if (n.opType !== 'Identity') continue;
    const source = alias.get(n.input[0]) ?? n.input[0];
    if (initializers.has(source)) alias.set(n.output[0], source);
  }
  const resolve = (name: string | undefined): string | undefined =>
    name === undefined ? undefined : (alias.get(name) ?? name);
  const roles = new Map<string, InitializerRole>();
  for (const [name, v] of initializers) if (v.kind === 'float') roles.set(name, 'constant');
  const mark = (name: string | undefined, role: InitializerRole): void => {
    const source = resolve(name);
    if (source === undefined || !roles.has(source) || roles.get(source) === 'parameter') return;
    roles.set(source, role);
  };
  const readers = new Map<string, OnnxNode[]>();
  for (const n of nodes) for (const i of n.input) readers.set(i, [...(readers.get(i) ?? []), n]);
  for (const n of nodes) {
    if (n.opType === 'Conv' || n.opType === 'Gemm') for (const i of n.input.slice(1)) mark(i, 'parameter');
    if (n.opType === 'BatchNormalization') {
      mark(n.input[1], 'parameter');
      mark(n.input[2], 'parameter');
      mark(n.input[3], 'buffer');
      mark(n.input[4], 'buffer');
    }
    // A linear layer as MatMul(x, W) + b (torch writes this for inputs of rank other than 2).
    if (n.opType === 'MatMul' && roles.has(resolve(n.input[1]) ?? '') && !roles.has(resolve(n.input[0]) ?? '')) {
      const next = readers.get(n.output[0]) ?? [];
      const bias =
        next.length === 1 && next[0].opType === 'Add' ? next[0].input.find((i) => i !== n.output[0]) : undefined;
      if (bias !== undefined && roles.has(resolve(bias) ?? '')) {
        mark(n.input[1], 'parameter');
        mark(bias, 'parameter');
      }
    }
  }
  return roles;
}
