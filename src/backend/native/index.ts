/**
 * The native backend: oneDNN 2.6 through an N-API addon, run synchronously on the calling thread.
 * Storage is the reference backend's (plain Float32Array/Float64Array), so kernels without a
 * native implementation, and every float64 call, run the reference kernel on the same storage.
 *
 * Native in this slice (float32): conv2d (+ both backward passes), matmul, relu/sigmoid/tanh
 * forward and backward, max and average pooling forward and backward (see pool.ts for the cases),
 * softmax/log-softmax forward and backward, batch norm (train, eval, backward), LRN with odd
 * sizes (see lrn.ts), add/sub/mul/div with one-sided broadcasting (see binary.ts). Everything
 * else (adaptive pooling, other elementwise ops, reductions, layout, losses, optimisers) runs
 * the reference kernels on the same storage.
 */
import { refBackend } from '../ref/index.js';
import type { Backend, Kernels } from '../backend.js';
import { loadAddon, type NativeAddon } from './addon.js';

export { nativeCallCount } from './addon.js';
import { nativeActivationKernels } from './activation.js';
import { nativeConv2dKernels } from './conv.js';
import { nativeMatmulKernel } from './matmul.js';
import { nativePoolKernels } from './pool.js';
import { nativeSoftmaxKernels } from './softmax.js';
import { nativeBatchNormKernels } from './batch-norm.js';
import { nativeLrnKernels } from './lrn.js';
import { nativeBinaryKernel } from './binary.js';

export function createNativeBackend(addon: NativeAddon): Backend {
  const ref = refBackend.kernels;
  const kernels: Kernels = {
    ...ref,
    ...nativeConv2dKernels(addon, ref),
    ...nativeMatmulKernel(addon, ref),
    ...nativeActivationKernels(addon, ref),
    ...nativePoolKernels(addon, ref),
    ...nativeSoftmaxKernels(addon, ref),
    ...nativeBatchNormKernels(addon, ref),
    ...nativeLrnKernels(addon, ref),
    ...nativeBinaryKernel(addon, ref),
  };
  return { name: 'native', hasData: true, write: refBackend.write, read: refBackend.read, kernels };
}

let loaded: { backend: Backend; addon: NativeAddon } | { error: string } | null = null;

function load(): { backend: Backend; addon: NativeAddon } | { error: string } {
  if (loaded === null) {
    const addon = loadAddon();
    loaded = 'error' in addon ? addon : { backend: createNativeBackend(addon), addon };
  }
  return loaded;
}

/** The native backend, or why it is unavailable (with how to fix it). Loads the addon once. */
export function loadNativeBackend(): Backend | { error: string } {
  const r = load();
  return 'error' in r ? r : r.backend;
}

/** The raw addon (for tests of its argument checks and for benchmarks), or why it is unavailable. */
export function loadNativeAddon(): NativeAddon | { error: string } {
  const r = load();
  return 'error' in r ? r : r.addon;
}
