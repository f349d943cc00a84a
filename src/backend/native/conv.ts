/**
 * Native 2-D convolution: forward, backward data, backward weights (+ bias), for float32 with any
 * groups, stride, dilation and asymmetric padding. float64 and empty tensors go to the reference
 * kernels.
 */
import type { Conv2dGeometry, KernelSpecs, Kernels } from '../backend.js';
import { callNative, type NativeAddon } from './addon.js';
import { allocFloat32, float32Of } from './storage.js';

type Conv2dKernels = Pick<Kernels, 'conv2d' | 'conv2dBackwardData' | 'conv2dBackwardWeight'>;

/** The 18 integers the addon reads, in the order of Conv2dGeometry (see native/src/conv.cc). */
function geometryInts(g: Conv2dGeometry): number[] {
  return [
    g.batch, g.inChannels, g.inH, g.inW, g.outChannels, g.kernelH, g.kernelW, g.strideH, g.strideW,
    g.padTop, g.padBottom, g.padLeft, g.padRight, g.dilationH, g.dilationW, g.groups, g.outH, g.outW,
  ];
}

const isEmpty = (g: Conv2dGeometry): boolean => g.batch === 0 || g.inChannels === 0 || g.outChannels === 0;

export function nativeConv2dKernels(addon: NativeAddon, ref: Kernels): Conv2dKernels {
  return {
    conv2d(args: KernelSpecs['conv2d']['args']) {
      const { geometry: g } = args;
      const x = float32Of(args.x);
      const w = float32Of(args.weight);
      const b = args.bias === null ? null : float32Of(args.bias);
      if (!x || !w || (args.bias !== null && !b) || isEmpty(g)) return ref.conv2d(args);
      const y = allocFloat32(g.batch * g.outChannels * g.outH * g.outW);
      callNative('conv2d', () => addon.conv2dForward(x, w, b, y.values, geometryInts(g)));
      return y.storage;
    },
    conv2dBackwardData(args: KernelSpecs['conv2dBackwardData']['args']) {
      const { geometry: g } = args;
      const gy = float32Of(args.gy);
      const w = float32Of(args.weight);
      if (!gy || !w || isEmpty(g)) return ref.conv2dBackwardData(args);
      const gx = allocFloat32(g.batch * g.inChannels * g.inH * g.inW);
      callNative('conv2d', () => addon.conv2dBackwardData(gy, w, gx.values, geometryInts(g)));
      return gx.storage;
    },
    conv2dBackwardWeight(args: KernelSpecs['conv2dBackwardWeight']['args']) {
      const { geometry: g } = args;
      const gy = float32Of(args.gy);
      const x = float32Of(args.x);
      if (!gy || !x || isEmpty(g)) return ref.conv2dBackwardWeight(args);
      const gw = allocFloat32(g.outChannels * (g.inChannels / g.groups) * g.kernelH * g.kernelW);
      const gb = args.withBias ? allocFloat32(g.outChannels) : null;
      callNative('conv2d', () => addon.conv2dBackwardWeights(gy, x, gw.values, gb && gb.values, geometryInts(g)));
      return { weight: gw.storage, bias: gb && gb.storage };
    },
  };
}
