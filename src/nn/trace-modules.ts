/**
 * Module-call tracing: while a listener is attached, every `Module.call()` reports when it starts
 * (with its input) and when it returns (with its output), so analysis can rebuild the call tree in
 * pre-order, as torchinfo does, and attribute op events to the module that ran them. With no
 * listener `call()` costs one length check.
 */
import type { AnyModule } from './module.js';

export interface ModuleCallListener {
  /** Before forward() runs; calls nest, so enter/exit pairs form the call tree. */
  enter?(module: AnyModule, input: unknown): void;
  /** After forward() returned (not when it threw). */
  exit?(module: AnyModule, output: unknown): void;
}

const listeners: ModuleCallListener[] = [];

export function isTracingModules(): boolean {
  return listeners.length > 0;
}

/** Runs one module call with the listeners told before and after (Module.call uses it). */
export function tracedCall<T>(module: AnyModule, input: unknown, run: () => T): T {
  for (const l of listeners) l.enter?.(module, input);
  const output = run();
  for (const l of listeners) l.exit?.(module, output);
  return output;
}

/** Calls the listener for every module call made while fn runs. */
export function traceModules<T>(listener: ModuleCallListener, fn: () => T): T {
  listeners.push(listener);
  try {
    return fn();
  } finally {
    listeners.splice(listeners.indexOf(listener), 1);
  }
}
