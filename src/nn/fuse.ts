/**
 * Fusion as a pass over modules (as torchvision's quantization `fuse_model()`): a model's
 * `forward` is the plain arithmetic of its paper, and `fuse(model)` derives fused executors from
 * the patterns its modules declare, attaching each to its module (`Module.fusedForward`). The
 * module tree, parameters, buffers and state-dict keys are untouched; `unfuse(model)` detaches.
 *
 * A module takes part by declaring a `FusionPattern` (`fusionPattern()`; see `Fusable`):
 * - `chain`: steps run in order (Sequential, a ResNet's stem and head, a plain ResNet block);
 * - `residual`: post(main(x) + shortcut(x)) (ResNet's basic and bottleneck blocks);
 * - `join`: rest(relu(norm(concat(xs, 1)))) (DenseNet's dense layer).
 * Within the steps the pass groups, for inference (eval mode under noGrad, on a backend with
 * data): conv + BN (+ ReLU) as one convolution with the BN folded into its weights (w' = w * gamma /
 * sqrt(var + eps), b' = beta + (b - mean) * gamma / sqrt(var + eps); the ReLU a post-op), the
 * residual block's last conv + BN + sum + ReLU as one convolution (the shortcut a post-op addend),
 * BN + ReLU and linear + ReLU as one op each, and DenseNet's concat + norm1 + relu1 as one kernel;
 * the result equals the unfused network up to float rounding (folded weights are a cache, rebuilt
 * when a source tensor changes). For training it groups BN + ReLU as one op
 * (`BatchNorm2d.callWithRelu`: one kernel forward, one backward through a mask of the positive
 * outputs) and a residual block's sum + ReLU as one (`addRelu`), exactly the two ops' values and
 * gradients.
 *
 * `buildModel` (every zoo builder) applies the pass. `setInferenceFusion(false)` /
 * `setTrainingFusion(false)` (or CONVKIT_FUSE=0 for both) turn the fused executors off, so the
 * plain forward runs; module tracing (analysis) always runs the plain forward, so it sees every
 * layer. `fusedGroups(model)` lists what the pass fused, `describeFusion(model)` says it in a line.
 */
import { isGradEnabled } from '../core/grad-mode.js';
import { withLayer } from '../core/layer-context.js';
import type { Storage } from '../core/storage.js';
import type { Tensor } from '../core/tensor.js';
import { keep } from '../core/scope.js';
import { untraced } from '../core/trace.js';
import { addRelu } from '../ops/activation.js';
import { add } from '../ops/arithmetic.js';
import { conv2d, type Conv2dPostOps } from '../ops/conv2d.js';
import { foldBatchNorm } from '../ops/fold-batch-norm.js';
import { concat } from '../ops/layout.js';
import { linear } from '../ops/matmul.js';
import { setting } from '../core/config.js';
import { ReLU } from './activation.js';
import { BatchNorm2d } from './batch-norm2d.js';
import { Conv2d } from './conv2d.js';
import { Linear } from './linear.js';
import type { AnyModule, Module, TensorModule } from './module.js';
import { freeConsumed } from './intermediates.js';
import { isTracingModules } from './trace-modules.js';

// null: CONVKIT_FUSE decides (read when first needed, so importing convkit reads no environment).
let inferenceFusion: boolean | null = null;
let trainingFusion: boolean | null = null;

export function setInferenceFusion(on: boolean): void {
  inferenceFusion = on;
}

export function inferenceFusionEnabled(): boolean {
  return inferenceFusion ?? setting('fuse');
}

export function setTrainingFusion(on: boolean): void {
  trainingFusion = on;
}

export function trainingFusionEnabled(): boolean {
  return trainingFusion ?? setting('fuse');
}

/** A batch norm that can be folded: eval statistics exist. */
function foldable(bn: unknown): bn is BatchNorm2d {
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
  // Untraced: a model trace shows the conv, not the fold. keep() lets the result outlive any scope
  // open around the call.
  const { weight, bias, runningMean, runningVar, eps } = bn;
  const folded = untraced(() =>
    foldBatchNorm(
      conv.weight,
      conv.bias,
      { weight, bias, runningMean: runningMean as Tensor, runningVar: runningVar as Tensor, eps },
      // The conv below reads it first, before anything can write conv.weight.
      { deferWeight: true },
    ),
  );
  keep(folded.weight);
  keep(folded.bias);
  const entry = { ...folded, sources };
  foldedCache.set(conv, entry);
  return entry;
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

// ---- the pass ------------------------------------------------------------------------------------

/** A step of a declared pattern: a module (called with `call()`, so fusable itself) or a plain function. */
export type FusionStep = TensorModule | ((x: Tensor) => Tensor);

/** What a module computes, declared for the fusion pass; `forward` must compute the same. */
export type FusionPattern =
  /** The steps in order: y = steps[n-1](...steps[0](x)). */
  | { readonly kind: 'chain'; readonly steps: readonly FusionStep[] }
  /** post(main(x) + shortcut(x)); a null shortcut is the identity, a null post none. */
  | {
      readonly kind: 'residual';
      readonly main: readonly FusionStep[];
      readonly shortcut: TensorModule | null;
      readonly post: TensorModule | null;
    }
  /** rest(relu(norm(concat(xs, 1)))) on a list of feature maps (a single one is not concatenated). */
  | { readonly kind: 'join'; readonly norm: BatchNorm2d; readonly relu: ReLU; readonly rest: readonly FusionStep[] };

/** A module that declares its pattern for the pass. */
export interface Fusable {
  fusionPattern(): FusionPattern;
}

export function isFusable(m: unknown): m is Fusable {
  return typeof (m as Partial<Fusable>).fusionPattern === 'function';
}

export type FusionMode = 'inference' | 'training';

/** The kinds of groups the pass fuses. */
export type FusedKind =
  | 'conv+bn'
  | 'conv+bn+relu'
  | 'conv+relu'
  | 'conv+bn+add+relu'
  | 'conv+bn+add'
  | 'conv+add+relu'
  | 'conv+add'
  | 'bn+relu'
  | 'add+relu'
  | 'linear+relu'
  | 'concat+bn+relu';

/** One fused group: its kind and the paths of the modules it covers (the first is the anchor). */
export interface FusedGroup {
  mode: FusionMode;
  kind: FusedKind;
  /** The module whose declared pattern holds the group. */
  owner: string;
  modules: string[];
}

/** A compiled step: how it runs, and what it fused (null: a step run as it is). */
interface Unit {
  kind: FusedKind | null;
  members: AnyModule[];
  run: (x: Tensor) => Tensor;
  /** A conv group, kept so a residual pattern can give its last conv the shortcut as an addend. */
  conv?: { conv: Conv2d; bn: BatchNorm2d | null; relu: boolean };
}

/** How a module runs fused in one mode: the groups (for the report) and the runner. */
interface Plan {
  units: Unit[];
  run: (input: unknown) => Tensor;
}

const isModule = (s: FusionStep): s is TensorModule => typeof s !== 'function';

const convKind = (bn: boolean, add: boolean, relu: boolean): FusedKind | null => {
  const kind = ['conv', bn ? 'bn' : '', add ? 'add' : '', relu ? 'relu' : ''].filter(Boolean).join('+');
  return kind === 'conv' ? null : (kind as FusedKind);
};

function convUnit(conv: Conv2d, bn: BatchNorm2d | null, relu: ReLU | null): Unit {
  const on = relu !== null;
  return {
    kind: convKind(bn !== null, false, on),
    members: [conv, ...(bn ? [bn] : []), ...(relu ? [relu] : [])],
    run: (x) => withLayer(conv.path, () => fusedConv(conv, bn, x, { relu: on })),
    conv: { conv, bn, relu: on },
  };
}

/** Groups steps into units for a mode (see the file comment for the groups). */
function compileSteps(steps: readonly FusionStep[], mode: FusionMode): Unit[] {
  const units: Unit[] = [];
  for (let i = 0; i < steps.length; i++) {
    const step = steps[i];
    const next = steps[i + 1];
    if (!isModule(step)) {
      units.push({ kind: null, members: [], run: step });
    } else if (mode === 'inference' && step instanceof Conv2d) {
      const bn = foldable(next) ? next : null;
      if (bn) i++;
      const relu = steps[i + 1] instanceof ReLU ? (steps[++i] as ReLU) : null;
      units.push(convUnit(step, bn, relu));
    } else if (mode === 'inference' && step instanceof Linear && next instanceof ReLU) {
      i++;
      units.push({
        kind: 'linear+relu',
        members: [step, next],
        run: (x) => withLayer(step.path, () => linear(x, step.weight, step.bias, { relu: true })),
      });
    } else if (step instanceof BatchNorm2d && next instanceof ReLU) {
      i++;
      units.push({ kind: 'bn+relu', members: [step, next], run: (x) => step.callWithRelu(x) });
    } else {
      units.push({ kind: null, members: [step], run: (x) => step.call(x) });
    }
  }
  return units;
}

/** Runs units in order; in inference each intermediate is freed once the next unit has used it (intermediates.ts). */
function runUnits(units: readonly Unit[], x: Tensor, mode: FusionMode): Tensor {
  let y = x;
  for (const unit of units) {
    const next = unit.run(y);
    if (mode === 'inference') freeConsumed(y, x, next);
    y = next;
  }
  return y;
}

function compileChain(steps: readonly FusionStep[], mode: FusionMode): Plan {
  const units = compileSteps(steps, mode);
  return { units, run: (x) => runUnits(units, x as Tensor, mode) };
}

function compileResidual(p: Extract<FusionPattern, { kind: 'residual' }>, mode: FusionMode): Plan {
  const units = compileSteps(p.main, mode);
  const shortcut = (x: Tensor): Tensor => (p.shortcut ? p.shortcut.call(x) : x);
  const last = units[units.length - 1];
  const postRelu = p.post instanceof ReLU ? p.post : null;
  if (mode === 'inference' && last?.conv && !last.conv.relu && (p.post === null || postRelu)) {
    // The last conv absorbs its BN, the shortcut sum and the block's ReLU.
    const { conv, bn } = last.conv;
    const head = units.slice(0, -1);
    const fusedLast: Unit = {
      kind: convKind(bn !== null, true, postRelu !== null),
      members: [...last.members, ...(p.shortcut ? [p.shortcut] : []), ...(postRelu ? [postRelu] : [])],
      run: (x) => x,
    };
    const run = (input: unknown): Tensor => {
      const x = input as Tensor;
      const h = runUnits(head, x, mode);
      const identity = shortcut(x);
      const out = withLayer(conv.path, () => fusedConv(conv, bn, h, { relu: postRelu !== null, addend: identity }));
      if (h !== x) h.dispose();
      if (identity !== x) identity.dispose();
      return out;
    };
    return { units: [...head, fusedLast], run };
  }
  if (mode === 'training' && postRelu) {
    // The sum and the block's ReLU in one pass (inference puts both into the last conv instead).
    const sumUnit: Unit = { kind: 'add+relu', members: [postRelu], run: (x) => x };
    const run = (input: unknown): Tensor => {
      const x = input as Tensor;
      const main = runUnits(units, x, mode);
      return withLayer(postRelu.path, () => addRelu(main, shortcut(x)));
    };
    return { units: [...units, sumUnit], run };
  }
  const run = (input: unknown): Tensor => {
    const x = input as Tensor;
    const sum = add(runUnits(units, x, mode), shortcut(x));
    return p.post ? p.post.call(sum) : sum;
  };
  return { units, run };
}

function compileJoin(p: Extract<FusionPattern, { kind: 'join' }>, mode: FusionMode): Plan | null {
  // Inference needs running statistics (the join kernel is an eval-mode batch norm).
  if (mode === 'inference' && !foldable(p.norm)) return null;
  const units = compileSteps(p.rest, mode);
  // In training the concat runs on its own and the BN + ReLU as one op.
  const kind = mode === 'inference' ? 'concat+bn+relu' : 'bn+relu';
  const join: Unit = { kind, members: [p.norm, p.relu], run: (x) => x };
  const run = (input: unknown): Tensor => {
    const xs = input as readonly Tensor[];
    let normed: Tensor;
    if (mode === 'inference' && xs.length > 1) normed = p.norm.callJoinedWithRelu(xs);
    else normed = p.norm.callWithRelu(xs.length === 1 ? xs[0] : concat(xs, 1));
    const out = runUnits(units, normed, mode);
    if (mode === 'inference' && out !== normed) normed.dispose();
    return out;
  };
  return { units: [join, ...units], run };
}

function compile(pattern: FusionPattern, mode: FusionMode): Plan | null {
  if (pattern.kind === 'chain') return compileChain(pattern.steps, mode);
  if (pattern.kind === 'residual') return compileResidual(pattern, mode);
  return compileJoin(pattern, mode);
}

const plans = { inference: new WeakMap<object, Plan | null>(), training: new WeakMap<object, Plan | null>() };

/** The module's compiled plan for a mode (compiled on first use, dropped by forgetFusedPlan). */
function planOf(module: Fusable, mode: FusionMode): Plan | null {
  let plan = plans[mode].get(module);
  if (plan === undefined) {
    plan = compile(module.fusionPattern(), mode);
    plans[mode].set(module, plan);
  }
  return plan;
}

/** Forgets a module's compiled plans (e.g. a Sequential's children changed). */
export function forgetFusedPlan(owner: object): void {
  plans.inference.delete(owner);
  plans.training.delete(owner);
}

/** The mode a fused executor runs in for this call, or null: run the plain forward. */
function modeFor(
  module: { readonly training: boolean },
  x: Tensor | undefined,
  modes: ReadonlySet<FusionMode>,
): FusionMode | null {
  if (x === undefined || !x.backend.hasData || isTracingModules()) return null;
  if (module.training) return trainingFusionEnabled() && modes.has('training') ? 'training' : null;
  return inferenceFusionEnabled() && modes.has('inference') && !isGradEnabled() ? 'inference' : null;
}

export interface FuseOptions {
  /** Which forms to attach: 'inference', 'training', or both (the default). */
  mode?: FusionMode | 'both';
}

const attachedModes = new WeakMap<AnyModule, ReadonlySet<FusionMode>>();

/**
 * The pass: attaches a fused executor to every module of `model` that declares a pattern. Each
 * executor runs when its mode applies (inference: eval mode under noGrad; training: training
 * mode; both on a backend with data, with the switches on, and not while modules are traced) and
 * otherwise leaves the call to `forward`. Returns the model.
 */
export function fuse<M extends AnyModule>(model: M, opts: FuseOptions = {}): M {
  const want = opts.mode ?? 'both';
  const modes: ReadonlySet<FusionMode> = new Set<FusionMode>(want === 'both' ? ['inference', 'training'] : [want]);
  for (const m of model.modules()) {
    if (!isFusable(m)) continue;
    const module = m as unknown as Module<unknown, unknown> & Fusable;
    attachedModes.set(m, modes);
    module.fusedForward = (input: unknown): unknown => {
      const x = Array.isArray(input) ? (input[0] as Tensor | undefined) : (input as Tensor);
      const mode = modeFor(module, x, modes);
      const plan = mode ? planOf(module, mode) : null;
      return plan ? plan.run(input) : undefined;
    };
  }
  return model;
}

/** Detaches every fused executor below `model`: every module runs its plain forward. */
export function unfuse<M extends AnyModule>(model: M): M {
  for (const m of model.modules()) {
    (m as unknown as Module<unknown, unknown>).fusedForward = null;
    attachedModes.delete(m);
    forgetFusedPlan(m);
  }
  return model;
}

/** The groups the pass fused in `model` for a mode (default inference), in module order. */
export function fusedGroups(model: AnyModule, mode: FusionMode = 'inference'): FusedGroup[] {
  const paths = new Map(model.namedModules().map(([name, m]) => [m as AnyModule, name]));
  const groups: FusedGroup[] = [];
  for (const [owner, m] of model.namedModules()) {
    if (!isFusable(m) || !attachedModes.get(m)?.has(mode)) continue;
    for (const unit of planOf(m, mode)?.units ?? []) {
      if (unit.kind === null) continue;
      groups.push({ mode, kind: unit.kind, owner, modules: unit.members.map((u) => paths.get(u) ?? '?') });
    }
  }
  return groups;
}

/** Counts of fused groups by kind, e.g. { 'conv+bn+relu': 33, 'conv+bn+add+relu': 16 }. */
export function countFusedGroups(model: AnyModule, mode: FusionMode = 'inference'): Partial<Record<FusedKind, number>> {
  const counts: Partial<Record<FusedKind, number>> = {};
  for (const g of fusedGroups(model, mode)) counts[g.kind] = (counts[g.kind] ?? 0) + 1;
  return counts;
}

/**
 * What the pass fused, in one line: for resnet50 "fused for inference: 33 conv+bn+relu, 16
 * conv+bn+add+relu, 4 conv+bn; for training: 33 bn+relu, 16 add+relu"; "not fused" when it found nothing.
 */
export function describeFusion(model: AnyModule): string {
  const part = (mode: FusionMode): string | null => {
    const counts = Object.entries(countFusedGroups(model, mode));
    if (counts.length === 0) return null;
    return counts.map(([kind, n]) => `${n} ${kind}`).join(', ');
  };
  const inference = part('inference');
  const training = part('training');
  if (!inference && !training) return 'not fused';
  return [inference && `fused for inference: ${inference}`, training && `for training: ${training}`]
    .filter(Boolean)
    .join('; ');
}
