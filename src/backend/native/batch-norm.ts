/**
 * Native batch norm for float32: training forward (batch statistics), inference forward (given
 * statistics) and backward (through the batch statistics, or with them constant in eval mode).
 * Missing affine parameters become ones and zeros. float64 and empty tensors use the reference
 * kernels.
 *
 * The backward kernel receives invStd, not the variance and eps; oneDNN wants a variance and an
 * eps, so it gets variance' = 1 / invStd^2 with eps = 0, which gives back the same invStd.
 */
import type { Storage } from '../../core/storage.js';
import type { ChannelLayout, KernelSpecs, Kernels } from '../backend.js';
import { callNative, type NativeAddon } from './addon.js';
import { allocFloat32, float32Of } from './storage.js';

const layoutInts = (l: ChannelLayout): number[] => [l.batch, l.channels, l.spatial];
const isEmpty = (l: ChannelLayout): boolean => l.batch * l.channels * l.spatial === 0;

/** The float32 values of an optional affine parameter, `fallback` when absent, null when not float32. */
function paramOr(s: Storage | null, fallback: number, channels: number): Float32Array | null {
  return s === null ? new Float32Array(channels).fill(fallback) : float32Of(s);
}

export function nativeBatchNormKernels(addon: NativeAddon, ref: Kernels): Pick<Kernels, 'batchNormTrain' | 'batchNormInfer' | 'batchNormBackward'> {
  return {
    batchNormTrain(args: KernelSpecs['batchNormTrain']['args']) {
      const { layout: l } = args;
      const x = float32Of(args.x);
      const scale = paramOr(args.weight, 1, l.channels);
      const shift = paramOr(args.bias, 0, l.channels);
      if (!x || !scale || !shift || isEmpty(l)) return ref.batchNormTrain(args);
      const y = allocFloat32(x.length);
      const mean = allocFloat32(l.channels);
      const variance = allocFloat32(l.channels);
      callNative('batchNorm', () => addon.batchNormForward(x, scale, shift, mean.values, variance.values, y.values, layoutInts(l), args.eps, true));
      const invStd = allocFloat32(l.channels);
      for (let c = 0; c < l.channels; c++) invStd.values[c] = 1 / Math.sqrt(variance.values[c] + args.eps);
      return { y: y.storage, mean: mean.storage, invStd: invStd.storage, variance: variance.storage };
    },
    batchNormInfer(args: KernelSpecs['batchNormInfer']['args']) {
      const { layout: l } = args;
      const x = float32Of(args.x);
      const mean = float32Of(args.mean);
      const variance = float32Of(args.variance);
      const scale = paramOr(args.weight, 1, l.channels);
      const shift = paramOr(args.bias, 0, l.channels);
      if (!x || !mean || !variance || !scale || !shift || isEmpty(l)) return ref.batchNormInfer(args);
      const y = allocFloat32(x.length);
      callNative('batchNorm', () => addon.batchNormForward(x, scale, shift, mean, variance, y.values, layoutInts(l), args.eps, false));
      return y.storage;
    },
    batchNormBackward(args: KernelSpecs['batchNormBackward']['args']) {
      const { layout: l } = args;
      const gy = float32Of(args.gy);
      const x = float32Of(args.x);
      const mean = float32Of(args.mean);
      const invStd = float32Of(args.invStd);
      const scale = paramOr(args.weight, 1, l.channels);
      if (!gy || !x || !mean || !invStd || !scale || isEmpty(l)) return ref.batchNormBackward(args);
      const variance = invStd.map((s) => 1 / (s * s));
      const gx = allocFloat32(x.length);
      const gscale = allocFloat32(l.channels);
      const gshift = allocFloat32(l.channels);
      callNative('batchNorm', () =>
        addon.batchNormBackward(gy, x, scale, mean, variance, gx.values, gscale.values, gshift.values, layoutInts(l), 0, !args.batchStats));
      if (!args.withAffine) {
        gscale.storage.release();
        gshift.storage.release();
        return { x: gx.storage, weight: null, bias: null };
      }
      return { x: gx.storage, weight: gscale.storage, bias: gshift.storage };
    },
  };
}
