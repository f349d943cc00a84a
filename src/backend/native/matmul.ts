/** Native batched matmul (dnnl::matmul) for float32; float64 and empty products use the reference kernel. */
import type { KernelSpecs, Kernels } from '../backend.js';
import { callNative, type NativeAddon } from './addon.js';
import { allocFloat32, float32Of } from './storage.js';

export function nativeMatmulKernel(addon: NativeAddon, ref: Kernels): Pick<Kernels, 'matmul'> {
  return {
    matmul(args: KernelSpecs['matmul']['args']) {
      const { batch, m, k, n } = args;
      const a = float32Of(args.a);
      const b = float32Of(args.b);
      if (!a || !b || batch * m * k * n === 0) return ref.matmul(args);
      const c = allocFloat32(batch * m * n);
      const sizes = [batch, m, k, n, +args.transA, +args.transB, +args.aBatched, +args.bBatched];
      callNative('matmul', () => addon.matmul(a, b, c.values, sizes));
      return c.storage;
    },
  };
}
