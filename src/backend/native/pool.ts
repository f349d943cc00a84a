/**
 * Native max and average pooling, forward and backward, float32 only. Ceil mode becomes extra
 * bottom/right padding (as PyTorch hands it to oneDNN). Taken natively:
 * - max pooling without dilation (with dilation a window may see no pixel; the ref kernel handles that);
 * - average pooling without divisorOverride, excluding padding always, and including padding when
 *   no window hangs past the padded input (oneDNN then divides by the whole kernel, PyTorch by the
 *   window clipped to the padded input).
 * Everything else (and float64) runs the reference kernels. Adaptive pooling is always ref.
 */
import type { KernelSpecs, Kernels, Pool2dGeometry } from '../backend.js';
import { callNative, type NativeAddon, type PoolKind } from './addon.js';
import { allocFloat32, float32Of, NativeWorkspace } from './storage.js';

const workspaceOf = (bytes: Uint8Array | null | undefined): NativeWorkspace => {
  const b = bytes ?? new Uint8Array(0);
  return new NativeWorkspace(b.length, b);
};

/** Bottom/right padding that makes oneDNN produce outH x outW: at least the symmetric padding. */
function extraPadding(g: Pool2dGeometry): { bottom: number; right: number } {
  const bottom = Math.max(g.padH, (g.outH - 1) * g.strideH + g.kernelH - g.inH - g.padH);
  const right = Math.max(g.padW, (g.outW - 1) * g.strideW + g.kernelW - g.inW - g.padW);
  return { bottom, right };
}

/** The 14 integers the addon reads (see native/src/pool.cc). */
function geometryInts(g: Pool2dGeometry): number[] {
  const { bottom, right } = extraPadding(g);
  return [g.batch, g.channels, g.inH, g.inW, g.kernelH, g.kernelW, g.strideH, g.strideW, g.padH, g.padW, bottom, right, g.outH, g.outW];
}

const isEmpty = (g: Pool2dGeometry): boolean => g.batch === 0 || g.channels === 0;

function avgKind(g: Pool2dGeometry, countIncludePad: boolean, divisorOverride: number | null): PoolKind | null {
  if (divisorOverride !== null || isEmpty(g)) return null;
  if (!countIncludePad) return 'avg_exclude_padding';
  const { bottom, right } = extraPadding(g);
  return bottom === g.padH && right === g.padW ? 'avg_include_padding' : null;
}

export function nativePoolKernels(addon: NativeAddon, ref: Kernels): Pick<Kernels, 'maxPool2d' | 'maxPool2dBackward' | 'avgPool2d' | 'avgPool2dBackward'> {
  return {
    maxPool2d(args: KernelSpecs['maxPool2d']['args']) {
      const { geometry: g } = args;
      const x = float32Of(args.x);
      if (!x || isEmpty(g) || g.dilationH !== 1 || g.dilationW !== 1) return ref.maxPool2d(args);
      const y = allocFloat32(g.batch * g.channels * g.outH * g.outW);
      const ws = callNative('maxPool2d', () => addon.poolForward('max', x, y.values, geometryInts(g)));
      return { y: y.storage, workspace: workspaceOf(ws) };
    },
    maxPool2dBackward(args: KernelSpecs['maxPool2dBackward']['args']) {
      const { geometry: g, workspace } = args;
      const gy = float32Of(args.gy);
      // A forward pass that ran on the reference kernel left a reference workspace.
      if (!gy || !(workspace instanceof NativeWorkspace)) return ref.maxPool2dBackward(args);
      const gx = allocFloat32(g.batch * g.channels * g.inH * g.inW);
      callNative('maxPool2d', () => addon.poolBackward('max', gy, gx.values, workspace.bytes, geometryInts(g)));
      return gx.storage;
    },
    avgPool2d(args: KernelSpecs['avgPool2d']['args']) {
      const { geometry: g } = args;
      const x = float32Of(args.x);
      const kind = avgKind(g, args.countIncludePad, args.divisorOverride);
      if (!x || kind === null) return ref.avgPool2d(args);
      const y = allocFloat32(g.batch * g.channels * g.outH * g.outW);
      callNative('avgPool2d', () => addon.poolForward(kind, x, y.values, geometryInts(g)));
      return y.storage;
    },
    avgPool2dBackward(args: KernelSpecs['avgPool2dBackward']['args']) {
      const { geometry: g } = args;
      const gy = float32Of(args.gy);
      const kind = avgKind(g, args.countIncludePad, args.divisorOverride);
      if (!gy || kind === null) return ref.avgPool2dBackward(args);
      const gx = allocFloat32(g.batch * g.channels * g.inH * g.inW);
      callNative('avgPool2d', () => addon.poolBackward(kind, gy, gx.values, null, geometryInts(g)));
      return gx.storage;
    },
  };
}
