/**
 * Ops report their cost here as they run (multiply-adds and memory traffic), so analysis can
 * count any network on any backend, the shape-only `meta` backend included. No listener, no cost.
 */
export interface OpCost {
  op: string;
  /** Multiply-accumulates (one multiply plus one add). FLOPs = 2 x MACs. */
  macs: number;
  /** Elements written to the output. */
  outputElements: number;
  /** The module path the op ran in, if any. */
  path: string | undefined;
}

type Listener = (cost: OpCost) => void;
const listeners: Listener[] = [];

export function reportCost(cost: OpCost): void {
  for (const l of listeners) l(cost);
}

/** Calls `listener` for every op that runs inside fn. */
export function collectCosts<T>(listener: Listener, fn: () => T): T {
  listeners.push(listener);
  try {
    return fn();
  } finally {
    listeners.splice(listeners.indexOf(listener), 1);
  }
}
