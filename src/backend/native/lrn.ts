/**
 * Native local response norm across channels, forward and backward, on the input's layout, for
 * float32 with an odd window size. oneDNN's alpha is PyTorch's (both divide it by the size); its
 * window matches PyTorch's only for odd sizes, so even sizes (and float64) run the reference kernels.
 *
 * The kernel contract returns a `scale` tensor for the backward pass. Natively that is an opaque
 * storage (sized like x, so the op can wrap it) holding oneDNN's workspace, kept only when the op
 * says a backward pass follows (`training`); the native backward takes it back. It is never read as values.
 */
import { BackendError } from '../../core/errors.js';
import type { ChannelLayout, KernelSpecs, Kernels } from '../backend.js';
import { channelDims } from './batch-norm.js';
import { refFallback, type NativeRun } from './fallback.js';
import { isFloat32, NativeStorage, PLAIN, type NativeRuntime } from './runtime.js';

declare module './addon.js' {
  interface NativeAddon {
    // ---- lrn.cc (odd sizes); buffers [src, dst, (workspace)] / [src, diffDst, (workspace), diffSrc]
    lrnPlan(
      src: number,
      options: { size: number; alpha: number; beta: number; k: number; training: boolean },
    ): PlanResult<'src' | 'dst'> & { readonly workspace?: number };
    lrnBackwardPlan(
      src: number,
      options: { size: number; alpha: number; beta: number; k: number },
    ): PlanResult<'src' | 'diffDst' | 'diffSrc'> & { readonly workspace?: number };
  }
}

const isEmpty = (l: ChannelLayout): boolean => l.batch * l.channels * l.spatial === 0;
/**
 * oneDNN 2.6 segfaults making the LRN backward primitive (in dnnl_primitive_create, its kernel
 * generator) for one channel of one element with size 1 (x of shape [N, 1, 1] or [N, 1, 1, 1]):
 * test/fuzz/found/localResponseNorm-crash-backward-one-element.json. The forward runs the
 * reference kernel there, so its scale is the reference's and the backward falls back too.
 */
const crashesOneDnn = (l: ChannelLayout, size: number): boolean => l.channels === 1 && l.spatial === 1 && size === 1;

/** This file's rows of "What runs natively" in docs/native-backend.md. */
export const LRN_RUNS: readonly NativeRun[] = [
  {
    kernels: ['localResponseNorm', 'localResponseNormBackward'],
    name: 'local response norm, forward and backward',
    native: 'odd sizes',
    fallback: "even sizes (oneDNN's window is PyTorch's mirrored)",
  },
];

export function nativeLrnKernels(
  rt: NativeRuntime,
  ref: Kernels,
): Pick<Kernels, 'localResponseNorm' | 'localResponseNormBackward'> {
  return {
    localResponseNorm(args: KernelSpecs['localResponseNorm']['args']) {
      const { layout: l, size, alpha, beta, k, x } = args;
      if (!isFloat32(x)) return refFallback(rt, ref, 'localResponseNorm', 'not float32', args);
      if (size % 2 === 0) return refFallback(rt, ref, 'localResponseNorm', 'even size', args);
      if (isEmpty(l)) return refFallback(rt, ref, 'localResponseNorm', 'empty tensor', args);
      if (crashesOneDnn(l, size))
        return refFallback(rt, ref, 'localResponseNorm', 'one channel of one element, size 1', args);
      const dims = channelDims(x, l, 3);
      const src = rt.descOf(x, dims);
      const training = args.training ?? false;
      const plan = rt.plan(`lrn:${src}:${size}:${alpha}:${beta}:${k}:${training}`, () =>
        rt.addon.lrnPlan(src, { size, alpha, beta, k, training }),
      );
      const input = rt.input(x, plan.src, dims);
      const y = rt.output(plan.dst, x.size);
      if (plan.workspace === undefined) {
        rt.exec('localResponseNorm', plan.plan, [input, y.buffer]);
        return { y, scale: new NativeStorage(rt, x.size, new Float32Array(0), PLAIN, null) };
      }
      const info = rt.descInfo(plan.workspace);
      // Not from the pool: the storage's size is x's (the contract), its buffer the workspace's.
      const scale = new NativeStorage(
        rt,
        x.size,
        new Float32Array(Math.ceil(info.bytes / 4)),
        plan.workspace,
        info.dims,
      );
      rt.exec('localResponseNorm', plan.plan, [input, y.buffer, scale.buffer]);
      return { y, scale };
    },
    localResponseNormBackward(args: KernelSpecs['localResponseNormBackward']['args']) {
      const { layout: l, size, alpha, beta, k, scale, gy, x } = args;
      // A forward pass that ran on the reference kernel left a real scale tensor.
      if (!(scale instanceof NativeStorage))
        return refFallback(rt, ref, 'localResponseNormBackward', 'the forward ran the reference kernel', args);
      if (crashesOneDnn(l, size))
        throw new BackendError('localResponseNorm', 'no native backward for one channel of one element with size 1');
      const dims = channelDims(x, l, 3);
      const src = rt.descOf(x, dims);
      const plan = rt.plan(`lrnBackward:${src}:${size}:${alpha}:${beta}:${k}`, () =>
        rt.addon.lrnBackwardPlan(src, { size, alpha, beta, k }),
      );
      // oneDNN may run a backward that recomputes what it needs (its reference kernel) after a
      // forward that wrote a workspace (its jit kernel, for plain inputs of 16 to 64 channels):
      // that backward takes none. One that takes a workspace must get the forward's own.
      if (plan.workspace !== undefined && plan.workspace !== scale.desc)
        throw new BackendError('localResponseNorm', 'the forward pass kept no matching workspace');
      const input = rt.input(x, plan.src, dims);
      const diffDst = rt.input(gy, plan.diffDst, dims);
      const gx = rt.output(plan.diffSrc, x.size);
      const workspace = plan.workspace === undefined ? [] : [scale.buffer];
      rt.exec('localResponseNormBackward', plan.plan, [input, diffDst, ...workspace, gx.buffer]);
      return gx;
    },
  };
}
