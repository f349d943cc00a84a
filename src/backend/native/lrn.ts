/**
 * Native local response norm across channels, forward and backward, for float32 with an odd
 * window size. oneDNN's alpha is PyTorch's (both divide it by the size); its window matches
 * PyTorch's only for odd sizes, so even sizes (and float64) run the reference kernels.
 *
 * The kernel contract returns a `scale` tensor for the backward pass. Natively that is an opaque
 * handle (sized like x, so the op can wrap it) holding oneDNN's workspace; the native backward
 * takes it back. It is never read as values.
 */
import type { ChannelLayout, KernelSpecs, Kernels } from '../backend.js';
import { callNative, type NativeAddon } from './addon.js';
import { allocFloat32, float32Of, NativeWorkspace } from './storage.js';

const layoutInts = (l: ChannelLayout): number[] => [l.batch, l.channels, l.spatial];
const takes = (l: ChannelLayout, size: number): boolean => size % 2 === 1 && l.batch * l.channels * l.spatial > 0;

export function nativeLrnKernels(addon: NativeAddon, ref: Kernels): Pick<Kernels, 'localResponseNorm' | 'localResponseNormBackward'> {
  return {
    localResponseNorm(args: KernelSpecs['localResponseNorm']['args']) {
      const { layout: l, size, alpha, beta, k } = args;
      const x = float32Of(args.x);
      if (!x || !takes(l, size)) return ref.localResponseNorm(args);
      const y = allocFloat32(x.length);
      const ws = callNative('localResponseNorm', () => addon.lrnForward(x, y.values, layoutInts(l), size, alpha, beta, k));
      return { y: y.storage, scale: new NativeWorkspace(x.length, ws) };
    },
    localResponseNormBackward(args: KernelSpecs['localResponseNormBackward']['args']) {
      const { layout: l, size, alpha, beta, k, scale } = args;
      const gy = float32Of(args.gy);
      const x = float32Of(args.x);
      // A forward pass that ran on the reference kernel left a real scale tensor.
      if (!gy || !x || !(scale instanceof NativeWorkspace)) return ref.localResponseNormBackward(args);
      const gx = allocFloat32(x.length);
      callNative('localResponseNorm', () => addon.lrnBackward(gy, x, gx.values, scale.bytes, layoutInts(l), size, alpha, beta, k));
      return gx.storage;
    },
  };
}
