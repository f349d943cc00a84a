/**
 * Define-by-run reverse-mode autodiff. Ops call `record()` with a backward function; `backward()`
 * walks the recorded graph in reverse topological order, summing gradients where a tensor feeds
 * several ops, and accumulates into `.grad` of leaves that require it.
 *
 * Safety: each node knows the tensors its backward function reads (`saved`) and their versions
 * when it was recorded. Before the function runs, a saved tensor that was disposed, or changed in
 * place since (an optimiser step, assign(), a running-statistics update), is an error naming the
 * op, never a silently wrong gradient. See docs/autograd.md.
 */
import { BackendError, ShapeError } from './errors.js';
import { isGradEnabled, noGrad } from './grad-mode.js';
import { currentLayer } from './layer-context.js';
import { keep, nextNodeSeq, releaseSaved } from './scope.js';
import { emitOp, isTracing, type OpInfo } from './trace.js';
import { formatShape, type Shape, shapesEqual } from './shape.js';
import { Tensor } from './tensor.js';

/**
 * A gradient that is a box of a larger tensor: [begin, begin + shape) of `source` (concat's
 * backward hands each input its box of the output's gradient). The engine sums such boxes with
 * the input's other gradients in one kernel (sumSlices) instead of copying each out first.
 */
export class GradientSlice {
  constructor(
    readonly source: Tensor,
    readonly begin: readonly number[],
    readonly shape: Shape,
  ) {}
}

/**
 * Given the gradient of the op's output, returns one gradient per input (null where the input
 * needs none). `needs[i]` says which inputs want one, so unneeded work can be skipped. Runs with
 * gradient recording off. It may return `gy` itself; every other tensor it returns, and the source
 * of every GradientSlice, must be `gy` or new (the engine disposes them), never a tensor saved from
 * the forward pass.
 */
export type BackwardFn = (gy: Tensor, needs: readonly boolean[]) => readonly (Tensor | GradientSlice | null)[];

/**
 * A BackwardFn that takes the gradient of the op's output as the parts it arrived in (whole
 * tensors, two or more, to be summed in this order), so that the sum and the op's own rule run as
 * one kernel: a residual block's ReLU reads the two gradients of its output (the next block's
 * branch and its shortcut) and writes its input's gradient in one pass over memory instead of three.
 * It returns new tensors only (the engine disposes the parts).
 */
export type PartsBackwardFn = (
  parts: readonly Tensor[],
  needs: readonly boolean[],
) => readonly (Tensor | GradientSlice | null)[];

/** A gradient on its way to a node: a whole tensor or a box of one (holding its own reference). */
type GradientPart = Tensor | GradientSlice;

/**
 * A node's gradients are kept as parts until it runs, then summed in arrival order by one kernel,
 * which reads each box once. A part holds its whole source alive (a dense block's joined
 * gradient), so every few parts are summed early: that bounds the memory held.
 */
const PENDING_PARTS = 4;

/** What `record()` takes besides the backward function: tracing information and saved tensors. */
export interface RecordOptions extends OpInfo {
  /**
   * The tensors the backward function reads (inputs, the output, or tensors the op made for its
   * backward, such as a dropout mask). They are checked when backward runs (disposed, or changed
   * in place since the forward pass) and a scope keeps them alive for a graph it returns.
   * Default: the inputs and the output, which covers a closure that reads any of them. Pass []
   * when the backward reads only shapes (add, sum, reshape).
   */
  saved?: readonly (Tensor | null | undefined)[];
  /** The backward function again, for a gradient that arrives in whole parts (see PartsBackwardFn). */
  ofParts?: PartsBackwardFn;
}

export class GradNode {
  readonly path: string | undefined = currentLayer();
  /** Order of recording: nodes with a larger `seq` were recorded later. */
  readonly seq = nextNodeSeq();
  /** The tensors the backward function reads, and their versions when the op ran. */
  readonly saved: readonly Tensor[];
  private readonly savedVersions: readonly number[];
  constructor(
    readonly op: string,
    readonly inputs: readonly (Tensor | null)[],
    private fn: BackwardFn | null,
    saved: readonly (Tensor | null | undefined)[] = inputs,
    private ofParts: PartsBackwardFn | null = null,
  ) {
    this.saved = [...new Set(saved.filter((t): t is Tensor => t != null))];
    this.savedVersions = this.saved.map((t) => t.version);
  }

  /** False once backward has run through this node (without retainGraph). */
  get alive(): boolean {
    return this.fn !== null;
  }

  apply(gy: Tensor, needs: readonly boolean[]): readonly (Tensor | GradientSlice | null)[] {
    return this.checked(this.fn)(gy, needs);
  }

  /** Whether applyParts can take these parts (two or more whole tensors). */
  takesParts(parts: readonly GradientPart[]): parts is readonly Tensor[] {
    return this.ofParts !== null && parts.length > 1 && parts.every((p) => p instanceof Tensor);
  }

  /** As apply, with the gradient still in its parts (see PartsBackwardFn). */
  applyParts(parts: readonly Tensor[], needs: readonly boolean[]): readonly (Tensor | GradientSlice | null)[] {
    return this.checked(this.ofParts)(parts, needs);
  }

  private checked<F>(fn: F | null): F {
    if (this.fn === null || fn === null) {
      throw new BackendError(
        'backward',
        `the graph through ${this.op} was already freed; pass { retainGraph: true } to the first backward() to run it twice`,
        this.path,
      );
    }
    this.checkSaved();
    return fn;
  }

  /** PyTorch's saved-tensor checks: every tensor the backward reads is alive and unchanged. */
  private checkSaved(): void {
    const where = this.path ? `${this.op} (${this.path})` : this.op;
    this.saved.forEach((t, i) => {
      if (t.disposed) {
        throw new BackendError(
          'backward',
          `${where} saved a tensor of shape ${formatShape(t.shape)} for its gradient, and it was disposed before backward() ran (by dispose() or at the end of the scope() that made it); call backward() inside that scope, return the loss from it, or keep() the tensor`,
          '',
        );
      }
      const now = t.version;
      if (now !== this.savedVersions[i]) {
        throw new BackendError(
          'backward',
          `one of the variables needed for gradient computation has been modified by an inplace operation: ${where} saved a tensor of shape ${formatShape(t.shape)} at version ${this.savedVersions[i]}, it is now at version ${now}; run backward() before changing it (e.g. before optimizer.step()), or compute the forward pass again`,
          '',
        );
      }
    });
  }

  /** Drops the closure once backward has used it, and frees saved tensors a scope kept for it. */
  release(): void {
    if (this.fn === null) return;
    this.fn = null;
    this.ofParts = null;
    releaseSaved(this);
  }
}

/**
 * Every op's last step: reports it to tracing listeners (with its cost and window, if any), and
 * attaches a backward function to `out` when any input requires a gradient and recording is on.
 */
export function record(
  out: Tensor,
  op: string,
  inputs: readonly (Tensor | null)[],
  fn: BackwardFn,
  info: RecordOptions = {},
): Tensor {
  if (isTracing()) emitOp(op, inputs, out, info);
  if (!isGradEnabled() || !inputs.some((t) => t?.requiresGrad)) return out;
  out.requiresGrad = true;
  out.gradFn = new GradNode(op, inputs, fn, info.saved ?? [...inputs, out], info.ofParts);
  return out;
}

/**
 * record() with `saved` (the tensors the backward function reads, see RecordOptions) as the first
 * argument; [] when the backward reads only shapes and the incoming gradient.
 */
export function recordSaved(
  saved: readonly (Tensor | null | undefined)[],
  out: Tensor,
  op: string,
  inputs: readonly (Tensor | null)[],
  fn: BackwardFn,
  info: OpInfo = {},
): Tensor {
  return record(out, op, inputs, fn, { ...info, saved });
}

export function backward(root: Tensor, seed: Tensor | undefined, retainGraph: boolean): void {
  if (!root.requiresGrad) {
    throw new BackendError(
      'backward',
      'this tensor does not require grad and has no grad_fn: no input of the computation had requiresGrad set',
    );
  }
  if (seed === undefined && root.size !== 1) {
    throw new ShapeError(
      'backward',
      `a gradient can be created implicitly only for a one-element output, this one has shape ${formatShape(root.shape)}; pass the gradient`,
    );
  }
  if (seed !== undefined && !shapesEqual(seed.shape, root.shape)) {
    throw new ShapeError(
      'backward',
      `gradient has shape ${formatShape(seed.shape)}, output has ${formatShape(root.shape)}`,
    );
  }
  noGrad(() => {
    const start = seed ? seed.alias(root.shape) : ones(root);
    if (root.gradFn === null) {
      accumulateLeaf(root, start);
      return;
    }
    const grads = new Map<GradNode, GradientPart[]>([[root.gradFn, [start]]]);
    const order = topologicalOrder(root.gradFn);
    try {
      runNodes(order, grads, retainGraph);
    } finally {
      // After an error, the gradients still waiting for their nodes are freed.
      for (const parts of grads.values()) for (const part of parts) disposePart(part);
    }
  });
}

function runNodes(order: readonly GradNode[], grads: Map<GradNode, GradientPart[]>, retainGraph: boolean): void {
  for (const node of order) {
    const parts = grads.get(node);
    if (parts === undefined) {
      // No gradient reached it (the ops above returned none): nothing to run, but the graph is spent.
      if (!retainGraph) node.release();
      continue;
    }
    const needs = node.inputs.map((t) => t?.requiresGrad === true);
    let spent: readonly Tensor[];
    let inputGrads: readonly (Tensor | GradientSlice | null)[];
    if (node.takesParts(parts)) {
      spent = parts;
      inputGrads = node.applyParts(parts, needs); // the parts stay in grads: freed by backward() if it throws
    } else {
      const gy = sumParts(parts);
      spent = [gy];
      grads.set(node, [gy]); // freed by backward() if the node throws
      inputGrads = node.apply(gy, needs);
    }
    grads.delete(node);
    node.inputs.forEach((t, i) => {
      const g = inputGrads[i];
      if (t === null || !needs[i] || !g) return;
      if (!shapesEqual(g.shape, t.shape)) {
        throw new ShapeError(
          'backward',
          `${node.op} produced a gradient of shape ${formatShape(g.shape)} for an input of shape ${formatShape(t.shape)}`,
          node.path,
        );
      }
      const part =
        g instanceof GradientSlice
          ? new GradientSlice(g.source.alias(g.source.shape), g.begin, g.shape)
          : g.alias(g.shape);
      if (t.gradFn === null) accumulateLeaf(t, sumParts([part]));
      else grads.set(t.gradFn, withPart(grads.get(t.gradFn), part));
    });
    const owned = inputGrads.map((g) => (g instanceof GradientSlice ? g.source : g));
    for (const g of new Set([...spent, ...owned])) g?.dispose();
    if (!retainGraph) node.release();
  }
}

/** A node's parts with one more, summed into one once there are PENDING_PARTS of them. */
function withPart(parts: GradientPart[] | undefined, part: GradientPart): GradientPart[] {
  const all = [...(parts ?? []), part];
  return all.length < PENDING_PARTS ? all : [sumParts(all)];
}

/** The parts' sum in arrival order, as a new tensor (one whole tensor is itself); the parts are spent. */
function sumParts(parts: readonly GradientPart[]): Tensor {
  const [first] = parts;
  if (parts.length === 1 && first instanceof Tensor) return first;
  const sources = parts.map((p) => (p instanceof GradientSlice ? p.source : p));
  const { backend } = sources[0];
  const size = first.shape;
  const storage = backend.kernels.sumSlices({
    xs: sources.map((t) => t.storage),
    shapes: sources.map((t) => t.shape),
    begins: parts.map((p) => (p instanceof GradientSlice ? p.begin : size.map(() => 0))),
    size,
  });
  for (const part of parts) disposePart(part);
  return new Tensor(storage, size, backend);
}

function disposePart(part: GradientPart): void {
  if (part instanceof GradientSlice) part.source.dispose();
  else part.dispose();
}

/** Nodes reachable from root, each after every node that consumes its output. */
function topologicalOrder(root: GradNode): GradNode[] {
  const postOrder: GradNode[] = [];
  const visited = new Set<GradNode>([root]);
  const stack: [GradNode, number][] = [[root, 0]];
  while (stack.length > 0) {
    const top = stack[stack.length - 1];
    const [node, next] = top;
    if (next < node.inputs.length) {
      top[1]++;
      const child = node.inputs[next]?.gradFn;
      if (child && !visited.has(child)) {
        visited.add(child);
        stack.push([child, 0]);
      }
    } else {
      stack.pop();
      postOrder.push(node);
    }
  }
  return postOrder.reverse();
}

function accumulateLeaf(leaf: Tensor, g: Tensor): void {
  if (!leaf.requiresGrad) {
    g.dispose();
    return;
  }
  if (leaf.grad === null || leaf.grad.disposed) {
    leaf.grad = keep(g);
    return;
  }
  const total = add(leaf.grad, g);
  leaf.grad.assign(total);
  total.dispose();
  g.dispose();
}

function add(a: Tensor, b: Tensor): Tensor {
  const { shape, backend } = a;
  const storage = backend.kernels.binary({
    op: 'add',
    a: a.storage,
    aShape: shape,
    b: b.storage,
    bShape: shape,
    outShape: shape,
  });
  return new Tensor(storage, shape, backend);
}

function ones(like: Tensor): Tensor {
  const storage = like.backend.kernels.fill({ size: like.size, value: 1, dtype: like.dtype });
  return new Tensor(storage, like.shape, like.backend);
}
