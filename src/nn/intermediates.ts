/**
 * Frees a chain's intermediate as soon as the next call has made its result from it, where nothing
 * else can hold it: under noGrad (no graph saves it for a backward) and while nothing traces the
 * calls (analysis and export keep what modules return). The native backend's pool then hands its
 * memory to the next layers of the same pass; freed at the end of the pass instead, a model's
 * first pass wrote every activation into fresh memory (GoogLeNet at batch 1: 16 MiB), which
 * under a hypervisor cost about 1.3 ms per MiB (docs/benchmarks.md). A module of a chain that keeps
 * a tensor it was given or made, to read after the call, keeps a clone under noGrad (a freed one
 * says so when used: "used after dispose()").
 */
import { isGradEnabled } from '../core/grad-mode.js';
import type { Tensor } from '../core/tensor.js';
import { isTracing } from '../core/trace.js';
import { isTracingModules } from './trace-modules.js';

/**
 * Disposes `consumed` (made inside the caller from its `input`) now that `result` was made from
 * it; never the caller's input, nor a tensor passed through as the result.
 */
export function freeConsumed(consumed: Tensor, input: Tensor, result: Tensor): void {
  if (consumed === input || consumed === result) return;
  if (isGradEnabled() || isTracing() || isTracingModules()) return;
  consumed.dispose();
}
