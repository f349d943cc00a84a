/**
 * Native optimiser steps (custom C++ loops, see native/src/optim.cc): SGD and Adam/AdamW in
 * place, bit-identical to the reference kernels. Parameters and state buffers must be plain
 * float32 (gradients are read through a plain view); float64 and empty tensors use the reference
 * kernels. Cached layout conversions of the changed storages are dropped.
 */
import type { Storage } from '../../core/storage.js';
import type { KernelSpecs, Kernels } from '../backend.js';
import { refFallback, type NativeRun } from './fallback.js';
import { inPlace } from './in-place.js';
import { isFloat32, NativeStorage, PLAIN, type NativeRuntime } from './runtime.js';

declare module './addon.js' {
  interface NativeAddon {
    // ---- optim.cc (in place, PyTorch 1.13's rules)
    /** buffers [param, grad, (momentumBuffer)]; exec's scalars: SgdScalars */
    sgdPlan(options: { size: number; withMomentum: boolean }): PlanResult<'param' | 'grad'>;
    /** buffers [param, grad, expAvg, expAvgSq, (maxExpAvgSq)]; exec's scalars: AdamScalars */
    adamPlan(options: { size: number; amsgrad: boolean }): PlanResult<'param' | 'grad'>;
  }
}

/** What an SGD plan reads on each exec (optim.cc's kSgdScalars). */
type SgdScalars = Pick<
  KernelSpecs['sgdStep']['args'],
  'lr' | 'momentum' | 'dampening' | 'nesterov' | 'weightDecay' | 'maximize' | 'firstStep'
>;

/**
 * What an Adam plan reads on each exec (optim.cc's kAdamScalars). The bias corrections 1 - beta^step
 * come from here so that pow rounds as in the reference kernel.
 */
type AdamScalars = Pick<
  KernelSpecs['adamStep']['args'],
  'lr' | 'beta1' | 'beta2' | 'eps' | 'weightDecay' | 'decoupled' | 'maximize'
> & { biasCorrection1: number; biasCorrection2: number };

/** The scalars an SGD plan reads, from the kernel's arguments (a recorded step's replays pass them too). */
export function sgdExecScalars(
  args: Omit<KernelSpecs['sgdStep']['args'], 'param' | 'grad' | 'momentumBuffer'>,
): SgdScalars {
  const { lr, momentum, dampening, nesterov, weightDecay, maximize, firstStep } = args;
  return { lr, momentum, dampening, nesterov, weightDecay, maximize, firstStep };
}

/** The scalars an Adam plan reads, from the kernel's arguments (a recorded step's replays pass them too). */
export function adamExecScalars(
  args: Omit<KernelSpecs['adamStep']['args'], 'param' | 'grad' | 'expAvg' | 'expAvgSq' | 'maxExpAvgSq'>,
): AdamScalars {
  const { step, lr, beta1, beta2, eps, weightDecay, decoupled, maximize } = args;
  return {
    biasCorrection1: 1 - beta1 ** step,
    biasCorrection2: 1 - beta2 ** step,
    lr,
    beta1,
    beta2,
    eps,
    weightDecay,
    decoupled,
    maximize,
  };
}

/**
 * The layout an SGD step runs in: a conv weight's gradient comes in oneDNN's blocked layout, the
 * one the forward reads its weights in, so the weight and its momentum move into it too (once)
 * and no step reorders them again (docs/native-backend.md#how-it-runs). A weight already blocked
 * stays in its layout and the gradient is converted to it: a batch of another size may tune its
 * convs to another layout, and a weight that moved would leave a recorded step
 * (step-recording.ts) updating its old buffer. Else plain.
 */
function stepLayout(
  param: Storage,
  grad: Storage,
  buffer: Storage | null,
): { desc: number; dims: readonly number[] } | null {
  const native = (s: Storage | null): boolean => s === null || s instanceof NativeStorage;
  if (!(param instanceof NativeStorage) || !(grad instanceof NativeStorage) || !native(buffer)) return null;
  if (param.desc !== PLAIN && param.dims !== null) return { desc: param.desc, dims: param.dims };
  if (grad.desc === PLAIN || grad.dims === null) return null;
  return { desc: grad.desc, dims: grad.dims };
}

/** This file's rows of "What runs natively" in docs/native-backend.md. */
export const OPTIM_RUNS: readonly NativeRun[] = [
  {
    kernels: ['sgdStep', 'adamStep'],
    name: 'SGD, Adam/AdamW steps',
    native: "all, in place (SGD in a conv weight gradient's blocked layout), bit-identical to the reference kernels",
    fallback: 'float64',
  },
];

export function nativeOptimKernels(rt: NativeRuntime, ref: Kernels): Pick<Kernels, 'sgdStep' | 'adamStep'> {
  return {
    sgdStep(args: KernelSpecs['sgdStep']['args']) {
      const { param, grad, momentumBuffer: buf } = args;
      if (![param, grad, buf].every((s) => s === null || isFloat32(s)))
        return refFallback(rt, ref, 'sgdStep', 'float64 tensor', args);
      const n = param.size;
      if (n === 0) return refFallback(rt, ref, 'sgdStep', 'empty tensor', args);
      const withMomentum = buf !== null;
      const blocked = stepLayout(param, grad, buf);
      // Elementwise, so any layout does; a blocked one pads channels with zeros, which stay zero.
      const floats = blocked === null ? n : Math.ceil(rt.descInfo(blocked.desc).bytes / 4);
      const plan = rt.plan(`sgd:${floats}:${+withMomentum}`, () => rt.addon.sgdPlan({ size: floats, withMomentum }));
      const [desc, dims] = blocked === null ? [PLAIN, [n]] : [blocked.desc, blocked.dims];
      const g = blocked === null ? rt.plainInput(grad, [n]) : rt.input(grad, blocked.desc, blocked.dims);
      const buffers = [inPlace('sgdStep', 'param', param, rt, desc, dims), g];
      if (buf !== null) buffers.push(inPlace('sgdStep', 'momentum buffer', buf, rt, desc, dims));
      rt.exec('sgdStep', plan.plan, buffers, sgdExecScalars(args));
    },
    adamStep(args: KernelSpecs['adamStep']['args']) {
      const { param, grad, expAvg, expAvgSq } = args;
      const vmax = args.amsgrad ? args.maxExpAvgSq : null;
      if (![param, grad, expAvg, expAvgSq, vmax].every((s) => s === null || isFloat32(s)))
        return refFallback(rt, ref, 'adamStep', 'float64 tensor', args);
      const n = param.size;
      if (n === 0) return refFallback(rt, ref, 'adamStep', 'empty tensor', args);
      const amsgrad = vmax !== null;
      const plan = rt.plan(`adam:${n}:${+amsgrad}`, () => rt.addon.adamPlan({ size: n, amsgrad }));
      const g = rt.plainInput(grad, [n]);
      const buffers = [
        inPlace('adamStep', 'param', param, rt),
        g,
        inPlace('adamStep', 'exp_avg', expAvg, rt),
        inPlace('adamStep', 'exp_avg_sq', expAvgSq, rt),
      ];
      if (vmax !== null) buffers.push(inPlace('adamStep', 'max_exp_avg_sq', vmax, rt));
      rt.exec('adamStep', plan.plan, buffers, adamExecScalars(args));
    },
  };
}
