/**
 * Inference fusion: in eval mode without gradients, a convolution absorbs the batch norm after it
 * (w' = w * gamma / sqrt(var + eps), b' = beta + (b - mean) * gamma / sqrt(var + eps)) and runs
 * the ReLU and a residual sum as post-ops of the same kernel; a batch norm followed by a ReLU runs
 * as one kernel, and so does a linear layer followed by a ReLU. The result equals the unfused network up to float rounding; parameters and
 * state dicts are untouched (folded weights are a cache, rebuilt when a source tensor changes).
 *
 * Training fusion: a batch norm followed by a ReLU runs as one op (one kernel forward, one
 * backward through a mask of the positive outputs), exactly the two ops' values and gradients.
 *
 * `setInferenceFusion(false)` / `setTrainingFusion(false)` (or CONVKIT_FUSE=0 for both) turn
 * them off, e.g. to look at each layer. Module tracing (analysis) always sees every layer.
 */
import { isGradEnabled } from '../core/grad-mode.js';
import type { Storage } from '../core/storage.js';
import type { Tensor } from '../core/tensor.js';
import { keep, scope } from '../core/scope.js';
import { untraced } from '../core/trace.js';
import { add, div, mul, sqrt, sub } from '../ops/arithmetic.js';
import { conv2d, type Conv2dPostOps } from '../ops/conv2d.js';
import { reshape } from '../ops/layout.js';
import { linear } from '../ops/matmul.js';
import { ReLU } from './activation.js';
import { BatchNorm2d } from './batch-norm2d.js';
import { Conv2d } from './conv2d.js';
import { Linear } from './linear.js';
import type { TensorModule } from './module.js';
import { isTracingModules } from './trace-modules.js';

let inferenceFusion = process.env.CONVKIT_FUSE !== '0';
let trainingFusion = process.env.CONVKIT_FUSE !== '0';

export function setInferenceFusion(on: boolean): void {
  inferenceFusion = on;
}

export function inferenceFusionEnabled(): boolean {
  return inferenceFusion;
}

export function setTrainingFusion(on: boolean): void {
  trainingFusion = on;
}

export function trainingFusionEnabled(): boolean {
  return trainingFusion;
}

/** Whether `module` should run its fused inference path on x. */
export function fusing(module: { readonly training: boolean }, x: Tensor): boolean {
  return inferenceFusion && !module.training && !isGradEnabled() && x.backend.hasData && !isTracingModules();
}

/** Whether `module` (in training mode) should run its batch norm + ReLU pairs as one op each. */
export function fusingTraining(module: { readonly training: boolean }, x: Tensor): boolean {
  return trainingFusion && module.training && x.backend.hasData && !isTracingModules();
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

const sourcesOf = (ts: readonly (Tensor | null)[]): (readonly [Storage | null, number])[] =>
  ts.map((t) => [t?.storage ?? null, t?.storage.version ?? 0] as const);

/** The conv's weight and bias with `bn` folded in, cached until a source tensor changes. */
function foldedParams(conv: Conv2d, bn: BatchNorm2d): Folded {
  const sources = sourcesOf([conv.weight, conv.bias, bn.weight, bn.bias, bn.runningMean, bn.runningVar]);
  const hit = foldedCache.get(conv);
  if (hit?.sources.every(([s, v], i) => s === sources[i][0] && v === sources[i][1])) return hit;
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
  return conv2d(
    x,
    weight,
    bias,
    { stride: conv.stride, padding: conv.padding, dilation: conv.dilation, groups: conv.groups },
    post,
  );
}

/**
 * relu(bn(x)): one op when fusion is on for bn's mode (BatchNorm2d.callWithRelu), else the two
 * modules.
 */
export function batchNormRelu(bn: BatchNorm2d, relu: ReLU, x: Tensor): Tensor {
  return fusing(bn, x) || fusingTraining(bn, x) ? bn.callWithRelu(x) : relu.call(bn.call(x));
}

type Step = (x: Tensor) => Tensor;
type Mode = 'inference' | 'training';
const sequentialPlans = { inference: new WeakMap<object, Step[]>(), training: new WeakMap<object, Step[]>() };

/**
 * Groups a Sequential's children into steps: bn+relu, and for inference conv[+bn][+relu] and
 * linear+relu; every
 * other child is a step of its own.
 */
function planSequential(layers: readonly TensorModule[], mode: Mode): Step[] {
  const steps: Step[] = [];
  for (let i = 0; i < layers.length; i++) {
    const layer = layers[i];
    const next = layers[i + 1];
    if (mode === 'inference' && layer instanceof Conv2d) {
      const bn = foldable(next) ? (layers[++i] as BatchNorm2d) : null;
      const relu = layers[i + 1] instanceof ReLU;
      if (relu) i++;
      steps.push((x) => fusedConv(layer, bn, x, { relu }));
    } else if (mode === 'inference' && layer instanceof Linear && next instanceof ReLU) {
      i++;
      steps.push((x) => linear(x, layer.weight, layer.bias, { relu: true }));
    } else if (layer instanceof BatchNorm2d && next instanceof ReLU) {
      i++;
      steps.push((x) => batchNormRelu(layer, next, x));
    } else {
      steps.push((x) => layer.call(x));
    }
  }
  return steps;
}

/**
 * Runs a Sequential's children fused, for the owner's mode. In inference, intermediates made here
 * are disposed at once (nothing can hold them without a graph), so a backend with a buffer pool
 * reuses their memory within the pass; in training the graph keeps them.
 */
export function runFusedSequential(
  owner: { readonly training: boolean },
  layers: readonly TensorModule[],
  x: Tensor,
): Tensor {
  const mode: Mode = owner.training ? 'training' : 'inference';
  let steps = sequentialPlans[mode].get(owner);
  if (!steps) {
    steps = planSequential(layers, mode);
    sequentialPlans[mode].set(owner, steps);
  }
  let y = x;
  for (const step of steps) {
    const next = step(y);
    if (mode === 'inference' && y !== x && next !== y) y.dispose();
    y = next;
  }
  return y;
}

/** Forgets a Sequential's fused plans (its children changed). */
export function forgetFusedPlan(owner: object): void {
  sequentialPlans.inference.delete(owner);
  sequentialPlans.training.delete(owner);
}
