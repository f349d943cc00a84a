/**
 * Inference fusion: in eval mode without gradients, a convolution absorbs the batch norm after it
 * (w' = w * gamma / sqrt(var + eps), b' = beta + (b - mean) * gamma / sqrt(var + eps)) and runs
 * the ReLU and a residual sum as post-ops of the same kernel; a batch norm followed by a ReLU runs
 * as one kernel. The result equals the unfused network up to float rounding; parameters and
 * state dicts are untouched (folded weights are a cache, rebuilt when a source tensor changes).
 * `setInferenceFusion(false)` (or CONVKIT_FUSE=0) turns it off, e.g. to look at each layer.
 */
import { isGradEnabled } from '../core/grad-mode.js';
import type { Storage } from '../core/storage.js';
import type { Tensor } from '../core/tensor.js';
import { keep, scope } from '../core/scope.js';
import { untraced } from '../core/trace.js';
import { add, div, mul, sqrt, sub } from '../ops/arithmetic.js';
import { relu } from '../ops/activation.js';
import { batchNorm } from '../ops/batch-norm.js';
import { conv2d, type Conv2dPostOps } from '../ops/conv2d.js';
import { reshape } from '../ops/layout.js';
import { ReLU } from './activation.js';
import { BatchNorm2d } from './batch-norm2d.js';
import { Conv2d } from './conv2d.js';
import type { TensorModule } from './module.js';

let enabled = process.env.CONVKIT_FUSE !== '0';

export function setInferenceFusion(on: boolean): void {
  enabled = on;
}

export function inferenceFusionEnabled(): boolean {
  return enabled;
}

/** Whether `module` should run its fused inference path on x. */
export function fusing(module: { readonly training: boolean }, x: Tensor): boolean {
  return enabled && !module.training && !isGradEnabled() && x.backend.hasData;
}

/** A batch norm that can be folded: eval statistics exist. */
function foldable(bn: TensorModule | undefined): bn is BatchNorm2d {
  return bn instanceof BatchNorm2d && bn.runningMean !== null && bn.runningVar !== null;
}

interface Folded {
  weight: Tensor;
  bias: Tensor;
  sources: readonly (readonly [Storage | null, number])[];
}

const foldedCache = new WeakMap<Conv2d, Folded>();

const sourcesOf = (ts: readonly (Tensor | null)[]): (readonly [Storage | null, number])[] => ts.map((t) => [t?.storage ?? null, t?.storage.version ?? 0] as const);

/** The conv's weight and bias with `bn` folded in, cached until a source tensor changes. */
function foldedParams(conv: Conv2d, bn: BatchNorm2d): Folded {
  const sources = sourcesOf([conv.weight, conv.bias, bn.weight, bn.bias, bn.runningMean, bn.runningVar]);
  const hit = foldedCache.get(conv);
  if (hit && hit.sources.every(([s, v], i) => s === sources[i][0] && v === sources[i][1])) return hit;
  if (hit) {
    hit.weight.dispose();
    hit.bias.dispose();
  }
  // Its own scope frees the temporaries; keep() lets the result outlive any scope open around the call.
  const folded = untraced(() => scope(() => fold(conv, bn, sources)));
  keep(folded.weight);
  keep(folded.bias);
  foldedCache.set(conv, folded);
  return folded;
}

function fold(conv: Conv2d, bn: BatchNorm2d, sources: Folded['sources']): Folded {
  const mean = bn.runningMean as Tensor;
  const sd = sqrt(add(bn.runningVar as Tensor, bn.eps));
  const scale = bn.weight ? div(bn.weight, sd) : div(add(mul(sd, 0), 1), sd);
  const weight = mul(conv.weight, reshape(scale, [conv.outChannels, 1, 1, 1]));
  const shifted = mul(conv.bias ? sub(conv.bias, mean) : mul(mean, -1), scale);
  const bias = bn.bias ? add(shifted, bn.bias) : shifted;
  return { weight, bias, sources };
}

/** conv (+ folded bn) (+ addend) (+ relu) in one kernel call. */
export function fusedConv(conv: Conv2d, bn: BatchNorm2d | null, x: Tensor, post: Conv2dPostOps = {}): Tensor {
  const { weight, bias } = bn ? foldedParams(conv, bn) : { weight: conv.weight, bias: conv.bias };
  return conv2d(x, weight, bias, { stride: conv.stride, padding: conv.padding, dilation: conv.dilation, groups: conv.groups }, post);
}

/** bn then ReLU in one kernel (eval statistics), or the module when it cannot be fused. */
export function fusedBatchNormRelu(bn: BatchNorm2d, x: Tensor): Tensor {
  if (bn.runningMean === null || bn.runningVar === null) return relu(bn.call(x));
  return batchNorm(x, { weight: bn.weight, bias: bn.bias, runningMean: bn.runningMean, runningVar: bn.runningVar, training: false, eps: bn.eps, relu: true });
}

type Step = (x: Tensor) => Tensor;
const sequentialPlans = new WeakMap<object, Step[]>();

/** Groups a Sequential's children into fused steps: conv[+bn][+relu], bn+relu, or the child itself. */
function planSequential(layers: readonly TensorModule[]): Step[] {
  const steps: Step[] = [];
  for (let i = 0; i < layers.length; i++) {
    const layer = layers[i];
    if (layer instanceof Conv2d) {
      const bn = foldable(layers[i + 1]) ? (layers[++i] as BatchNorm2d) : null;
      const relu = layers[i + 1] instanceof ReLU;
      if (relu) i++;
      steps.push((x) => fusedConv(layer, bn, x, { relu }));
    } else if (foldable(layer) && layers[i + 1] instanceof ReLU) {
      i++;
      steps.push((x) => fusedBatchNormRelu(layer, x));
    } else {
      steps.push((x) => layer.call(x));
    }
  }
  return steps;
}

/**
 * Runs a Sequential's children fused. Intermediates made here are disposed at once (nothing can
 * hold them without a graph), so a backend with a buffer pool reuses their memory within the pass.
 */
export function runFusedSequential(owner: object, layers: readonly TensorModule[], x: Tensor): Tensor {
  let steps = sequentialPlans.get(owner);
  if (!steps) sequentialPlans.set(owner, (steps = planSequential(layers)));
  let y = x;
  for (const step of steps) {
    const next = step(y);
    if (y !== x && next !== y) y.dispose();
    y = next;
  }
  return y;
}

/** Forgets a Sequential's fused plan (its children changed). */
export function forgetFusedPlan(owner: object): void {
  sequentialPlans.delete(owner);
}
