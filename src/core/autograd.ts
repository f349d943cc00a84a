/**
 * Define-by-run reverse-mode autodiff. Ops call `record()` with a backward function; `backward()`
 * walks the recorded graph in reverse topological order, summing gradients where a tensor feeds
 * several ops, and accumulates into `.grad` of leaves that require it.
 */
import { BackendError, ShapeError } from './errors.js';
import { isGradEnabled, noGrad } from './grad-mode.js';
import { currentLayer } from './layer-context.js';
import { keep } from './scope.js';
import { emitOp, isTracing, type OpInfo } from './trace.js';
import { formatShape, shapesEqual } from './shape.js';
import { Tensor } from './tensor.js';

/**
 * Given the gradient of the op's output, returns one gradient per input (null where the input
 * needs none). `needs[i]` says which inputs want one, so unneeded work can be skipped. Runs with
 * gradient recording off. It may return `gy` itself; every other tensor it returns must be new
 * (the engine disposes them), never a tensor saved from the forward pass.
 */
export type BackwardFn = (gy: Tensor, needs: readonly boolean[]) => readonly (Tensor | null)[];

export class GradNode {
  readonly path: string | undefined = currentLayer();
  constructor(
    readonly op: string,
    readonly inputs: readonly (Tensor | null)[],
    private fn: BackwardFn | null,
  ) {}

  apply(gy: Tensor, needs: readonly boolean[]): readonly (Tensor | null)[] {
    if (this.fn === null) {
      throw new BackendError(
        'backward',
        `the graph through ${this.op} was already freed; pass { retainGraph: true } to the first backward() to run it twice`,
        this.path,
      );
    }
    return this.fn(gy, needs);
  }

  /** Drops the closure (and the tensors it saved) once backward has used it. */
  release(): void {
    this.fn = null;
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
  info: OpInfo = {},
): Tensor {
  if (isTracing()) emitOp(op, inputs, out, info);
  if (!isGradEnabled() || !inputs.some((t) => t?.requiresGrad)) return out;
  out.requiresGrad = true;
  out.gradFn = new GradNode(op, inputs, fn);
  return out;
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
    const grads = new Map<GradNode, Tensor>([[root.gradFn, start]]);
    for (const node of topologicalOrder(root.gradFn)) {
      const gy = grads.get(node);
      if (gy === undefined) continue;
      grads.delete(node);
      const needs = node.inputs.map((t) => t?.requiresGrad === true);
      const inputGrads = node.apply(gy, needs);
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
        const shared = g.alias(g.shape);
        if (t.gradFn === null) accumulateLeaf(t, shared);
        else grads.set(t.gradFn, sum(grads.get(t.gradFn), shared));
      });
      for (const g of new Set([gy, ...inputGrads])) g?.dispose();
      if (!retainGraph) node.release();
    }
  });
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

function sum(a: Tensor | undefined, b: Tensor): Tensor {
  if (a === undefined) return b;
  const total = add(a, b);
  a.dispose();
  b.dispose();
  return total;
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
