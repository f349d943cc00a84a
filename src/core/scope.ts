/**
 * Scopes free the tensors a block of code made, except what it returns or `keep`s, so long loops
 * do not leak backend memory (tf.tidy's idea). Synchronous code only: pass a plain function.
 */
import type { Tensor } from './tensor.js';

const scopes: Set<Tensor>[] = [];

/** Called by the Tensor constructor. */
export function track(t: Tensor): void {
  if (scopes.length > 0) scopes[scopes.length - 1].add(t);
}

/** Exempts a tensor from every open scope (parameters, gradients, optimiser state). */
export function keep<T extends Tensor>(t: T): T {
  for (const s of scopes) s.delete(t);
  return t;
}

/** Runs fn; afterwards disposes every tensor it created except those reachable from its result. */
export function scope<T>(fn: () => T): T {
  const made = new Set<Tensor>();
  scopes.push(made);
  let result: T | undefined;
  try {
    result = fn();
  } finally {
    scopes.pop();
    const survivors = new Set<Tensor>();
    if (result !== undefined) collectTensors(result, survivors, 0);
    for (const t of made) {
      if (survivors.has(t)) track(t);
      else t.dispose();
    }
  }
  return result as T;
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

function isTensor(v: object): v is Tensor {
  return (v as { isTensor?: unknown }).isTensor === true;
}
