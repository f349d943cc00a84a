/**
 * Native foldBatchNorm (float32): one queued C++ loop per norm (native/src/fold_batch_norm.cc),
 * bit-identical to the reference kernel. Its plans are plain loops, made without oneDNN's JIT.
 * Deferred (a fused conv's fold, `deferWeight`), the loop makes only the channels' scales and the
 * bias, and the weights are scaled where the conv converts them (runtime.makeScaled): a first pass
 * wrote each folded weight twice, plain and then in the conv's layout, both into fresh memory.
 */
import type { KernelSpecs, Kernels } from '../backend.js';
import { refFallback, type NativeRun } from './fallback.js';
import { isFloat32, NativeStorage, type NativeRuntime } from './runtime.js';

declare module './addon.js' {
  interface NativeAddon {
    // ---- fold_batch_norm.cc
    /**
     * buffers [weight, bias, gamma, beta, mean, variance, foldedWeight, foldedBias], plain; weight
     * and foldedWeight are [channels * inner] (`weight` desc), the rest [channels] (`channel`);
     * absent bias, gamma and beta are null.
     */
    foldBatchNormPlan(options: {
      channels: number;
      inner: number;
      hasBias: boolean;
      hasGamma: boolean;
      hasBeta: boolean;
      eps: number;
      /** No weight buffer, and `foldedWeight` [channels] gets each channel's scale. */
      scaleOnly: boolean;
    }): PlanResult<'weight' | 'channel'>;
  }
}

/** This file's rows of "What runs natively" in docs/native-backend.md. */
export const FOLD_BATCH_NORM_RUNS: readonly NativeRun[] = [
  {
    kernels: ['foldBatchNorm'],
    name: 'batch norm folded into the layer before it (inference)',
    native:
      "all, one loop per norm, bit-identical to the reference kernel; a fused conv's weights scaled in their conversion",
    fallback: 'float64, empty weights',
  },
];

export function nativeFoldBatchNormKernel(rt: NativeRuntime, ref: Kernels): Pick<Kernels, 'foldBatchNorm'> {
  return {
    foldBatchNorm(args: KernelSpecs['foldBatchNorm']['args']) {
      const { weight, bias, gamma, beta, mean, variance, channels, eps, deferWeight } = args;
      if (![weight, bias, gamma, beta, mean, variance].every((s) => s === null || isFloat32(s)))
        return refFallback(rt, ref, 'foldBatchNorm', 'not float32', args);
      if (weight.size === 0) return refFallback(rt, ref, 'foldBatchNorm', 'empty weight', args);
      const inner = weight.size / channels;
      const options = {
        channels,
        inner,
        hasBias: bias !== null,
        hasGamma: gamma !== null,
        hasBeta: beta !== null,
        eps,
        scaleOnly: deferWeight === true && weight instanceof NativeStorage,
      };
      const key = `foldBatchNorm:${channels}:${inner}:${+options.hasBias}${+options.hasGamma}${+options.hasBeta}${+options.scaleOnly}:${eps}`;
      const plan = rt.plan(key, () => rt.addon.foldBatchNormPlan(options));
      const plain = (s: typeof bias, size: number): Float32Array | null => (s ? rt.plainInput(s, [size]) : null);
      // scaleOnly: each channel's scale now, the weights scaled where the conv converts them
      // (runtime.makeScaled); else the folded weights, plain.
      const folded = options.scaleOnly ? rt.output(plan.channel, channels) : rt.output(plan.weight, weight.size, true);
      const foldedBias = rt.output(plan.channel, channels);
      const inputs = [options.scaleOnly ? null : weight, bias, gamma, beta, mean, variance].map((s, i) =>
        plain(s, i === 0 ? weight.size : channels),
      );
      rt.exec('foldBatchNorm', plan.plan, [...inputs, folded.buffer, foldedBias.buffer]);
      if (options.scaleOnly)
        return { weight: NativeStorage.scaledLater(rt, weight as NativeStorage, folded), bias: foldedBias };
      // The folded weights feed a conv, which converts them to its layout: that copy replaces them.
      folded.replacedByConversion = true;
      return { weight: folded, bias: foldedBias };
    },
  };
}
