/**
 * The native backend: oneDNN 2.6 through an N-API addon. Storage is a NativeStorage (float32,
 * plain or in a oneDNN blocked layout, see runtime.ts); work is queued and runs in order on the
 * addon's worker thread. float64 tensors and kernels without a native implementation run the
 * reference kernels on plain views (fallback.ts logs them with CONVKIT_DEBUG=native).
 */
import { ConfigError, setting } from '../../core/config.js';
import { BackendError } from '../../core/errors.js';
import type { DType, FloatArray } from '../../core/dtype.js';
import type { Shape } from '../../core/shape.js';
import type { Storage } from '../../core/storage.js';
import { refBackend } from '../ref/index.js';
import { RefStorage } from '../ref/storage.js';
import type { Backend, Kernels } from '../backend.js';
import { loadAddon, type NativeAddon } from './addon.js';
import { fallbackKernels, type NativeRun } from './fallback.js';
import { NativeRuntime } from './runtime.js';
import { ACTIVATION_RUNS, nativeActivationKernels } from './activation.js';
import { BATCH_NORM_RUNS, nativeBatchNormKernels } from './batch-norm.js';
import { BINARY_RUNS, nativeBinaryKernel } from './binary.js';
import { CAST_RUNS, nativeCastKernel } from './cast.js';
import { CONCAT_RUNS, nativeConcatBatchNormKernel, nativeConcatKernel } from './concat.js';
import { CONV_RUNS, nativeConv2dKernels } from './conv.js';
import { FOLD_BATCH_NORM_RUNS, nativeFoldBatchNormKernel } from './fold-batch-norm.js';
import { LRN_RUNS, nativeLrnKernels } from './lrn.js';
import { MATMUL_RUNS, nativeMatmulKernels } from './matmul.js';
import { nativeOptimKernels, OPTIM_RUNS } from './optim.js';
import { nativePoolKernels, POOL_RUNS } from './pool.js';
import { nativeReduceKernels, REDUCE_RUNS } from './reduce.js';
import { nativeSoftmaxKernels, SOFTMAX_RUNS } from './softmax.js';
import { nativeSumSlicesKernel, nativeWindowKernels, WINDOW_RUNS } from './window.js';

export { nativeCallCount } from './addon.js';
export { nativeFallbacks } from './fallback.js';

/** The native backend plus what the registry needs to flush and size it. */
export interface NativeBackend extends Backend {
  readonly runtime: NativeRuntime;
}

/** A native kernel file: its kernels over the reference fallbacks, and its rows of the docs' table. */
interface NativeKernelFile {
  readonly kernels: (rt: NativeRuntime, ref: Kernels) => Partial<Kernels>;
  readonly runs: readonly NativeRun[];
}

/** The native kernel files, in the order of "What runs natively" in docs/native-backend.md. */
const NATIVE_FILES: readonly NativeKernelFile[] = [
  { kernels: nativeConv2dKernels, runs: CONV_RUNS },
  { kernels: nativeMatmulKernels, runs: MATMUL_RUNS },
  { kernels: nativeActivationKernels, runs: ACTIVATION_RUNS },
  { kernels: nativeBinaryKernel, runs: BINARY_RUNS },
  { kernels: nativePoolKernels, runs: POOL_RUNS },
  { kernels: nativeBatchNormKernels, runs: BATCH_NORM_RUNS },
  { kernels: nativeFoldBatchNormKernel, runs: FOLD_BATCH_NORM_RUNS },
  { kernels: nativeLrnKernels, runs: LRN_RUNS },
  { kernels: nativeSoftmaxKernels, runs: SOFTMAX_RUNS },
  { kernels: nativeConcatKernel, runs: CONCAT_RUNS }, // concatBatchNormInfer is built below, from the others
  { kernels: nativeWindowKernels, runs: WINDOW_RUNS }, // sumSlices is built below, from the others
  { kernels: nativeOptimKernels, runs: OPTIM_RUNS },
  { kernels: nativeReduceKernels, runs: REDUCE_RUNS },
  { kernels: nativeCastKernel, runs: CAST_RUNS },
];

/** What runs natively, row by row: scripts/gen-native-docs.ts writes the docs' table from these. */
export const NATIVE_RUNS: readonly NativeRun[] = NATIVE_FILES.flatMap((file) => file.runs);

function createNativeBackend(addon: NativeAddon): NativeBackend {
  addon.setConvLayout(setting('convLayout'));
  const rt = new NativeRuntime(addon);
  const ref = refBackend.kernels;
  const base = fallbackKernels(rt, ref);
  // Each file's kernels override the fallbacks of the same names.
  const natives: Kernels = Object.assign({ ...base }, ...NATIVE_FILES.map((file) => file.kernels(rt, ref)));
  const all: Kernels = {
    ...natives,
    ...nativeConcatBatchNormKernel(rt, ref, natives),
    ...nativeSumSlicesKernel(rt, ref, natives),
  };
  // Each call runs inside rt.kernel(): the plans it uses stay cached until it has queued them.
  const kernels = Object.fromEntries(
    Object.entries(all).map(([name, run]) => [
      name,
      (args: never) => rt.kernel(() => (run as (a: never) => unknown)(args)),
    ]),
  ) as unknown as Kernels;
  const write = (values: FloatArray, dtype: DType): Storage =>
    dtype === 'float32'
      ? rt.fromValues(values instanceof Float32Array ? values : Float32Array.from(values))
      : refBackend.write(values, dtype);
  const adopt = (values: FloatArray): Storage =>
    values instanceof Float32Array ? rt.adopt(values) : refBackend.adopt(values);
  const read = (storage: Storage, shape: Shape): FloatArray => {
    if (storage instanceof RefStorage) {
      rt.flushSync();
      return refBackend.read(storage, shape);
    }
    return rt.readPlain(storage, shape);
  };
  const allocate = (dtype: DType, size: number): FloatArray =>
    dtype === 'float32' ? rt.allocate(size) : refBackend.allocate(dtype, size);
  return { name: 'native', hasData: true, write, adopt, allocate, read, kernels, runtime: rt };
}

let loaded: { backend: NativeBackend; addon: NativeAddon } | { error: string } | null = null;

function load(): { backend: NativeBackend; addon: NativeAddon } | { error: string } {
  if (loaded === null) {
    const addon = loadAddon();
    try {
      loaded = 'error' in addon ? addon : { backend: createNativeBackend(addon), addon };
    } catch (e) {
      // A bad CONVKIT_* variable is the user's to fix, not a reason to fall back to the reference backend.
      if (e instanceof ConfigError) throw e;
      loaded = { error: `the native backend failed to start: ${e instanceof Error ? e.message : String(e)}` };
    }
  }
  return loaded;
}

/** The native backend, or why it is unavailable (with how to fix it). Loads the addon once. */
export function loadNativeBackend(): NativeBackend | { error: string } {
  const r = load();
  return 'error' in r ? r : r.backend;
}

/** The raw addon (for tests of its argument checks and for benchmarks), or why it is unavailable. */
export function loadNativeAddon(): NativeAddon | { error: string } {
  const r = load();
  return 'error' in r ? r : r.addon;
}

/** The native runtime when the backend is loaded (flushing, pool statistics), else a BackendError. */
export function nativeRuntime(): NativeRuntime {
  const r = load();
  if ('error' in r) throw new BackendError('native', r.error);
  return r.backend.runtime;
}
