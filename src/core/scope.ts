/**
 * Scopes free the tensors a block of code made, except what it returns or `keep`s, so long loops
 * do not leak backend memory (tf.tidy's idea). Synchronous code only: pass a plain function.
 *
 * A returned tensor with a gradient graph (a loss) keeps what its backward needs: the tensors the
 * graph's ops saved (activations, masks, statistics) survive the scope, owned by the graph, and
 * are freed when backward() runs through their ops (without retainGraph) or when every tensor the
 * scope returned with that graph is disposed. Intermediates the backward does not read are freed
 * at the end of the scope as before; the graph runs through them. See docs/autograd.md.
 */
import type { GradNode } from './autograd.js';
import type { Tensor } from './tensor.js';

const scopes: Set<Tensor>[] = [];
/** For each open scope, the `seq` of the first graph node recorded inside it. */
const firstNodes: number[] = [];

/** Called by the Tensor constructor. */
export function track(t: Tensor): void {
  if (scopes.length > 0) scopes[scopes.length - 1].add(t);
}

/**
 * Exempts a tensor from every open scope (parameters, gradients, optimiser state). A tensor with
 * a gradient graph also keeps what that graph saved for backward, as a returned one does.
 */
export function keep<T extends Tensor>(t: T): T {
  for (const s of scopes) s.delete(t);
  if (scopes.length > 0 && t.gradFn?.alive && !t.disposed) {
    const inScope = (o: Tensor): boolean => scopes.some((s) => s.has(o));
    for (const o of keepGraphs([t], inScope, firstNodes[0])) for (const s of scopes) s.delete(o);
  }
  return t;
}

/**
 * The saved tensors one scope kept alive for the graphs of the tensors it returned (its roots).
 * They are freed when their last node is released by backward, or when every root is disposed.
 */
class KeptGraph {
  readonly roots = new Set<Tensor>();
  readonly owned = new Set<Tensor>();
}

/** The kept graph a returned tensor is a root of. */
const graphOfRoot = new WeakMap<Tensor, KeptGraph>();
/** The kept graph that owns a kept tensor. */
const ownerOf = new WeakMap<Tensor, KeptGraph>();
/** For each kept tensor, the nodes not yet released that read it in their backward. */
const readers = new WeakMap<Tensor, Set<GradNode>>();

/** Runs fn; afterwards disposes every tensor it created except those reachable from its result. */
export function scope<T>(fn: () => T): T {
  const made = new Set<Tensor>();
  const firstNode = nodesRecorded;
  scopes.push(made);
  firstNodes.push(firstNode);
  let result: T | undefined;
  try {
    result = fn();
  } finally {
    scopes.pop();
    firstNodes.pop();
    const survivors = new Set<Tensor>();
    if (result !== undefined) collectTensors(result, survivors, 0);
    const roots = [...survivors].filter((t) => made.has(t));
    const needed = keepGraphs(roots, (t) => made.has(t) && !survivors.has(t), firstNode);
    for (const t of made) {
      if (survivors.has(t) || needed.has(t)) track(t);
      else t.dispose();
    }
  }
  return result as T;
}

/**
 * Walks the graphs of `candidates` (returned or kept tensors) through the nodes recorded since
 * `firstNode`, and keeps the tensors those nodes saved for backward that a scope would free
 * (`freeable`): they become owned by one KeptGraph whose roots are the candidates with a graph.
 */
function keepGraphs(candidates: readonly Tensor[], freeable: (t: Tensor) => boolean, firstNode: number): Set<Tensor> {
  const needed = new Set<Tensor>();
  const roots = candidates.filter((t) => !t.disposed && t.gradFn?.alive === true);
  if (roots.length === 0) return needed;
  const graph = new KeptGraph();
  for (const r of roots) {
    graphOfRoot.get(r)?.roots.delete(r);
    graphOfRoot.set(r, graph);
    graph.roots.add(r);
  }
  const seen = new Set<GradNode>();
  const stack = roots.map((r) => r.gradFn as GradNode);
  while (stack.length > 0) {
    const node = stack.pop() as GradNode;
    if (seen.has(node)) continue;
    seen.add(node);
    for (const t of node.saved) {
      if (t.disposed || !freeable(t)) continue;
      needed.add(t);
      ownerOf.get(t)?.owned.delete(t);
      ownerOf.set(t, graph);
      graph.owned.add(t);
      const nodes = readers.get(t) ?? new Set<GradNode>();
      nodes.add(node);
      readers.set(t, nodes);
    }
    for (const t of node.inputs) {
      const next = t?.gradFn;
      if (next?.alive && next.seq >= firstNode && !seen.has(next)) stack.push(next);
    }
  }
  return needed;
}

/** Called by GradNode.release(): frees the kept tensors no other live node reads. */
export function releaseSaved(node: GradNode): void {
  for (const t of node.saved) {
    const nodes = readers.get(t);
    if (nodes === undefined || !nodes.delete(node) || nodes.size > 0) continue;
    readers.delete(t);
    t.dispose();
  }
}

/** Called by Tensor.dispose(): the last disposed root of a kept graph frees what it kept. */
export function disposed(t: Tensor): void {
  ownerOf.get(t)?.owned.delete(t);
  ownerOf.delete(t);
  const graph = graphOfRoot.get(t);
  if (graph === undefined) return;
  graphOfRoot.delete(t);
  graph.roots.delete(t);
  if (graph.roots.size > 0) return;
  const owned = [...graph.owned];
  graph.owned.clear();
  for (const o of owned) o.dispose();
}

let nodesRecorded = 0;

/** Numbers graph nodes in recording order (GradNode.seq), so a scope can tell the ones made during it. */
export function nextNodeSeq(): number {
  return nodesRecorded++;
}

function collectTensors(value: unknown, into: Set<Tensor>, depth: number): void {
  if (value === null || typeof value !== 'object' || depth > 4) return;
  if (isTensor(value)) {
    into.add(value);
    return;
  }
  const items = Array.isArray(value) ? value : value instanceof Map ? [...value.values()] : Object.values(value);
  for (const v of items) collectTensors(v, into, depth + 1);
}

export function isTensor(v: unknown): v is Tensor {
  return typeof v === 'object' && v !== null && (v as { isTensor?: unknown }).isTensor === true;
}
