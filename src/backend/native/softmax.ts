/** Native softmax and log-softmax (oneDNN softmax_v2) forward and backward for float32; float64 and empty tensors use the reference kernels. */
import type { AxisLayout, KernelSpecs, Kernels } from '../backend.js';
import { callNative, type NativeAddon } from './addon.js';
import { allocFloat32, float32Of } from './storage.js';

const layoutInts = (l: AxisLayout): number[] => [l.outer, l.dim, l.inner];
const isEmpty = (l: AxisLayout): boolean => l.outer * l.dim * l.inner === 0;

export function nativeSoftmaxKernels(addon: NativeAddon, ref: Kernels): Pick<Kernels, 'softmax' | 'softmaxBackward'> {
  return {
    softmax(args: KernelSpecs['softmax']['args']) {
      const x = float32Of(args.x);
      if (!x || isEmpty(args.layout)) return ref.softmax(args);
      const y = allocFloat32(x.length);
      callNative(args.log ? 'logSoftmax' : 'softmax', () => addon.softmaxForward(args.log, x, y.values, layoutInts(args.layout)));
      return y.storage;
    },
    softmaxBackward(args: KernelSpecs['softmaxBackward']['args']) {
      const gy = float32Of(args.gy);
      const y = float32Of(args.y);
      if (!gy || !y || isEmpty(args.layout)) return ref.softmaxBackward(args);
      const gx = allocFloat32(gy.length);
      callNative(args.log ? 'logSoftmax' : 'softmax', () => addon.softmaxBackward(args.log, gy, y, gx.values, layoutInts(args.layout)));
      return gx.storage;
    },
  };
}
