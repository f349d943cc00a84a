/**
 * Native ReLU, sigmoid and tanh (oneDNN eltwise) forward and backward for float32. The other unary
 * ops (exp, log, ...), float64 and empty tensors use the reference kernels.
 */
import type { KernelSpecs, Kernels, UnaryOp } from '../backend.js';
import { callNative, type ActivationKind, type NativeAddon } from './addon.js';
import { allocFloat32, float32Of } from './storage.js';

const isActivation = (op: UnaryOp): op is ActivationKind => op === 'relu' || op === 'sigmoid' || op === 'tanh';

export function nativeActivationKernels(addon: NativeAddon, ref: Kernels): Pick<Kernels, 'unary' | 'activationBackward'> {
  return {
    unary(args: KernelSpecs['unary']['args']) {
      const { op } = args;
      const x = float32Of(args.x);
      if (!isActivation(op) || !x || x.length === 0) return ref.unary(args);
      const y = allocFloat32(x.length);
      callNative(op, () => addon.eltwiseForward(op, x, y.values, x.length));
      return y.storage;
    },
    activationBackward(args: KernelSpecs['activationBackward']['args']) {
      const gy = float32Of(args.gy);
      const saved = float32Of(args.saved);
      if (!gy || !saved || gy.length === 0) return ref.activationBackward(args);
      const gx = allocFloat32(gy.length);
      callNative(args.op, () => addon.eltwiseBackward(args.op, gy, saved, gx.values, gy.length));
      return gx.storage;
    },
  };
}
