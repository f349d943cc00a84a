/**
 * The dataflow graph of one forward pass, for drawing a network: which module call's output feeds
 * which. Nodes are the calls that ran no other module (leaf layers) and the ops a container ran
 * itself (the sum of a residual block, the concatenation of an Inception module or a dense layer,
 * a flatten); each knows the call it ran in, so a viewer can fold any call into one node. Call
 * indices are those of `summarize`'s rows (the same pre-order of module calls).
 */
import type { Tensor } from '../core/tensor.js';
import type { OpEvent } from '../core/trace.js';
import { noGrad } from '../core/grad-mode.js';
import { scope } from '../core/scope.js';
import { traceOps } from '../core/trace.js';
import type { AnyModule, Module } from '../nn/module.js';
import { traceModules } from '../nn/trace-modules.js';
import { zeros } from '../ops/creation.js';
import { FieldTracker } from './field-tracker.js';
import { describeField, type ReceptiveField } from './receptive-field.js';
import { DTYPE_BYTES, tensorsIn } from './trace-model.js';
import { inMode } from './summary.js';

export interface FlowNode {
  /** 'input', 'output', 'c<call>' for a leaf call, 'o<n>' for an op a container ran itself. */
  id: string;
  kind: 'input' | 'output' | 'layer' | 'op';
  /** The leaf call (kind 'layer') or the call the op ran in (kind 'op'); null for input and output. */
  call: number | null;
  /** Op name for kind 'op' ('add', 'cat', ...). */
  op: string | null;
  outputShape: number[];
  /** Multiply-adds of the op (kind 'op'; layers take theirs from the summary row). */
  macs: number;
  outputBytes: number;
  receptiveField: ReceptiveField | null;
}

export interface FlowEdge {
  from: string;
  to: string;
  /** Shape of the tensor passed along. */
  shape: number[];
}

export interface Dataflow {
  nodes: FlowNode[];
  edges: FlowEdge[];
  /** parent[i]: the call that made call i (null for the analysed module), as in the summary rows. */
  parent: (number | null)[];
}

interface RawOp {
  call: number;
  event: OpEvent;
}

/** Traces model on zeros of [batch, ...input] in `mode` (default eval, as summarize) and returns its dataflow. */
export function traceDataflow(
  model: Module<Tensor, unknown>,
  input: readonly number[],
  opts: { batch?: number; mode?: 'eval' | 'train' } = {},
): Dataflow {
  const inputShape = [opts.batch ?? 1, ...input];
  const parent: (number | null)[] = [];
  const hasChildren: boolean[] = [];
  const stack: number[] = [];
  const ops: RawOp[] = [];
  let tracker: FieldTracker | null = null;
  let inputTensor: Tensor | null = null;
  let outputs: Tensor[] = [];
  const nodes: FlowNode[] = [];
  const edges: FlowEdge[] = [];

  const enter = (_m: AnyModule): void => {
    const index = parent.length;
    const up = stack[stack.length - 1] ?? null;
    parent.push(up);
    hasChildren.push(false);
    if (up !== null) hasChildren[up] = true;
    stack.push(index);
  };
  const exit = (): void => {
    stack.pop();
  };
  const onOp = (event: OpEvent): void => {
    tracker?.observe(event);
    const call = stack[stack.length - 1];
    if (call !== undefined) ops.push({ call, event });
  };

  inMode(model, opts.mode ?? 'eval', () =>
    noGrad(() =>
      scope(() => {
        const first = model.parameters()[0] ?? model.buffers()[0];
        const x = zeros(inputShape, first ? { backend: first.backend.name } : {});
        inputTensor = x;
        tracker = new FieldTracker(x);
        const out = traceModules({ enter, exit }, () => traceOps(onOp, () => model.call(x)));
        outputs = tensorsIn(out);
        // Resolved inside the scope: fields are looked up by tensor.
        resolve();
      }),
    ),
  );

  function resolve(): void {
    const image: [number, number] = [input[1] ?? 1, input[2] ?? 1];
    const fieldOf = (t: Tensor): ReceptiveField | null => {
      const f = tracker?.fieldOf(t);
      return f ? describeField(f, image) : null;
    };
    const bytes = (t: Tensor): number => t.size * DTYPE_BYTES[t.dtype];
    const producer = new Map<Tensor, string>();
    const byStorage = new Map<unknown, string>();
    const setProducer = (t: Tensor, id: string): void => {
      producer.set(t, id);
      byStorage.set(t.storage, id);
    };
    const producerOf = (t: Tensor): string | undefined => producer.get(t) ?? byStorage.get(t.storage);
    const x = inputTensor as unknown as Tensor;
    nodes.push(node('input', 'input', null, null, x, 0));
    setProducer(x, 'input');
    const byId = new Map<string, FlowNode>();
    const edgeKeys = new Set<string>();
    const addEdge = (from: string, to: string, shape: number[]): void => {
      const key = `${from}>${to}`;
      if (from === to || edgeKeys.has(key)) return;
      edgeKeys.add(key);
      edges.push({ from, to, shape });
    };
    let opCount = 0;
    for (const { call, event } of ops) {
      const leaf = !hasChildren[call];
      const id = leaf ? `c${call}` : `o${opCount++}`;
      const known = byId.get(id);
      if (known === undefined) {
        const n = node(id, leaf ? 'layer' : 'op', call, leaf ? null : event.op, event.output, event.macs);
        byId.set(id, n);
        nodes.push(n);
      } else {
        // A layer running several ops: the node shows what its last op made.
        known.outputShape = [...event.output.shape];
        known.outputBytes = bytes(event.output);
        known.receptiveField = fieldOf(event.output);
      }
      for (const t of event.inputs) {
        const from = t ? producerOf(t) : undefined;
        if (from !== undefined && t) addEdge(from, id, [...t.shape]);
      }
      setProducer(event.output, id);
    }
    const last = outputs[0];
    if (last) {
      nodes.push(node('output', 'output', null, null, last, 0));
      for (const t of outputs) {
        const from = producerOf(t);
        if (from !== undefined) addEdge(from, 'output', [...t.shape]);
      }
    }
    function node(
      id: string,
      kind: FlowNode['kind'],
      call: number | null,
      op: string | null,
      t: Tensor,
      macs: number,
    ): FlowNode {
      return { id, kind, call, op, outputShape: [...t.shape], macs, outputBytes: bytes(t), receptiveField: fieldOf(t) };
    }
  }
  return { nodes, edges, parent };
}
