/**
 * Loading the oneDNN addon (native/build/Release/convkit_native.node) and its typed surface. The
 * addon works on caller-owned Float32Arrays (zero copy) and checks every buffer length itself, so
 * a wrong call throws a JS error instead of reading out of bounds.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BackendError } from '../../core/errors.js';

export type ActivationKind = 'relu' | 'sigmoid' | 'tanh';
export type NativeBinaryOp = 'add' | 'sub' | 'mul' | 'div';
export type PoolKind = 'max' | 'avg_include_padding' | 'avg_exclude_padding';

/** The functions the addon exports; integer geometry arrays follow the orders given in native/src. */
export interface NativeAddon {
  version(): string;
  conv2dForward(x: Float32Array, weight: Float32Array, bias: Float32Array | null, y: Float32Array, geometry: number[]): void;
  conv2dBackwardData(gy: Float32Array, weight: Float32Array, gx: Float32Array, geometry: number[]): void;
  conv2dBackwardWeights(gy: Float32Array, x: Float32Array, gw: Float32Array, gb: Float32Array | null, geometry: number[]): void;
  matmul(a: Float32Array, b: Float32Array, c: Float32Array, sizes: number[]): void;
  eltwiseForward(kind: ActivationKind, x: Float32Array, y: Float32Array, size: number): void;
  eltwiseBackward(kind: ActivationKind, gy: Float32Array, saved: Float32Array, gx: Float32Array, size: number): void;
  /** Returns the workspace for max pooling, undefined for average pooling. */
  poolForward(kind: PoolKind, x: Float32Array, y: Float32Array, geometry: number[]): Uint8Array | undefined;
  poolBackward(kind: PoolKind, gy: Float32Array, gx: Float32Array, workspace: Uint8Array | null, geometry: number[]): void;
  /** layout = [outer, dim, inner]; the softmax runs along dim. */
  softmaxForward(log: boolean, x: Float32Array, y: Float32Array, layout: number[]): void;
  softmaxBackward(log: boolean, gy: Float32Array, y: Float32Array, gx: Float32Array, layout: number[]): void;
  /** layout = [N, C, spatial]; training writes mean and variance, inference reads them. */
  batchNormForward(x: Float32Array, scale: Float32Array, shift: Float32Array, mean: Float32Array, variance: Float32Array, y: Float32Array, layout: number[], eps: number, training: boolean): void;
  batchNormBackward(
    gy: Float32Array, x: Float32Array, scale: Float32Array, mean: Float32Array, variance: Float32Array,
    gx: Float32Array, gscale: Float32Array, gshift: Float32Array, layout: number[], eps: number, globalStats: boolean,
  ): void;
  /** layout = [N, C, spatial]; odd sizes only. Returns oneDNN's workspace (possibly empty) for the backward pass. */
  lrnForward(x: Float32Array, y: Float32Array, layout: number[], size: number, alpha: number, beta: number, k: number): Uint8Array;
  /** c = a op b; a and c have outDims, b has bDims (same rank, each dimension 1 or equal). */
  binary(kind: NativeBinaryOp, a: Float32Array, b: Float32Array, c: Float32Array, outDims: number[], bDims: number[]): void;
  lrnBackward(gy: Float32Array, x: Float32Array, gx: Float32Array, workspace: Uint8Array, layout: number[], size: number, alpha: number, beta: number, k: number): void;
}

const FUNCTIONS = [
  'version', 'conv2dForward', 'conv2dBackwardData', 'conv2dBackwardWeights', 'matmul',
  'eltwiseForward', 'eltwiseBackward', 'poolForward', 'poolBackward', 'softmaxForward', 'softmaxBackward',
  'batchNormForward', 'batchNormBackward', 'lrnForward', 'lrnBackward', 'binary',
] as const satisfies readonly (keyof NativeAddon)[];

function isAddon(m: unknown): m is NativeAddon {
  if (typeof m !== 'object' || m === null) return false;
  return FUNCTIONS.every((name) => typeof Reflect.get(m, name) === 'function');
}

export const ADDON_FILE = join('native', 'build', 'Release', 'convkit_native.node');
export const BUILD_HINT = 'npm run build:native';
const INSTALL_HINT = 'sudo apt-get install libdnnl-dev, then npm run build:native';

/** The repository root: the nearest folder above this file that holds native/binding.gyp (src/ and dist/ alike). */
function packageRoot(): string | null {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    if (existsSync(join(dir, 'native', 'binding.gyp'))) return dir;
    dir = dirname(dir);
  }
  return null;
}

/** Loads the addon, or says in one sentence why it cannot and how to fix that. */
export function loadAddon(): NativeAddon | { error: string } {
  const root = packageRoot();
  if (root === null) return { error: 'the native addon sources (native/binding.gyp) are not part of this installation' };
  const file = join(root, ADDON_FILE);
  if (!existsSync(file)) {
    const hasOneDnn = existsSync('/usr/include/oneapi/dnnl/dnnl.hpp');
    return { error: hasOneDnn ? `the native addon is not built (${ADDON_FILE} is missing): run ${BUILD_HINT}` : `oneDNN is not installed: ${INSTALL_HINT}` };
  }
  let loaded: unknown;
  try {
    loaded = createRequire(import.meta.url)(file);
  } catch (e) {
    const why = e instanceof Error ? e.message.split('\n')[0] : String(e);
    const missingLib = why.includes('libdnnl');
    return { error: missingLib ? `oneDNN is not installed (${why}): ${INSTALL_HINT}` : `the native addon failed to load (${why}): run ${BUILD_HINT}` };
  }
  if (!isAddon(loaded)) return { error: `the native addon is out of date (missing functions): run ${BUILD_HINT}` };
  return loaded;
}

let calls = 0;

/** How many kernel calls have gone to oneDNN so far (tests use it to see what ran natively). */
export function nativeCallCount(): number {
  return calls;
}

/** Runs an addon call, turning its errors into a BackendError that names the op (and layer). */
export function callNative<T>(op: string, fn: () => T): T {
  calls++;
  try {
    return fn();
  } catch (e) {
    throw new BackendError(op, `native kernel failed: ${e instanceof Error ? e.message : String(e)}`);
  }
}
