/**
 * Loading the oneDNN addon (native/build/Release/convkit_native.node) and its typed surface. The
 * addon works on caller-owned Float32Arrays (zero copy) and checks every buffer length itself, so
 * a wrong call throws a JS error instead of reading out of bounds.
 */
import { existsSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setting } from '../../core/config.js';
import { BackendError } from '../../core/errors.js';
import { ADDON_EXPORTS, type AddonExportName } from './addon-exports.generated.js';

export type ActivationKind = 'relu' | 'sigmoid' | 'tanh';
export type NativeBinaryOp = 'add' | 'sub' | 'mul' | 'div';
export type PoolKind = 'max' | 'avg_include_padding' | 'avg_exclude_padding';

/**
 * What a plan function returns: the plan id and, by name, the interned memory descriptor id of
 * each argument, e.g. `{ plan: 7, src: 3, weights: 12, dst: 4 }`. `exec(plan, buffers)` takes
 * the buffers in the order each function's comment gives.
 */
export type PlanResult<K extends string> = { readonly plan: number } & { readonly [name in K]: number };

/** A memory descriptor as JavaScript sees it: logical dims, bytes to allocate, and whether it is row-major. */
export interface DescInfo {
  readonly dims: readonly number[];
  readonly bytes: number;
  readonly plain: boolean;
}

/** A buffer handed to exec: float data, or an opaque workspace (allocated as a Float32Array too). */
export type ExecBuffer = Float32Array | null;

/** The per-call values of a custom plan (an optimiser's lr, an affine map's coefficients), by the names its plan declares. */
export type ExecScalars = Readonly<Record<string, number | boolean>>;

/**
 * The functions the addon exports. Plan functions run on the main thread and are cached by the
 * JS side; `exec` only queues: work runs in order on the addon's worker thread, and JavaScript
 * must not read or write a buffer until `flushSync()` or the Promise of `flushAsync()` says
 * the queue is done. Geometry crosses as objects read by field name in C++ (plan.h's Fields),
 * which checks each field once and names it in its errors. The list of exports is
 * the CONVKIT_EXPORT lines of native/src/*.cc (addon-exports.generated.ts here).
 */
export interface NativeAddon {
  version(): string;
  /** Bytes from the start of `buffer` to its first 64-byte boundary (runtime.ts aligns its arrays there). */
  alignmentGap(buffer: ArrayBuffer): number;
  /** Drops the array's cache lines from every cache level (x86; false elsewhere): conv tuning's cold weights. */
  evictFromCache(array: Float32Array): boolean;
  /** Zip's CRC-32 of `bytes` continuing from `previous` (0 to start), as zlib's crc32 (crc32.cc). */
  crc32(bytes: Uint8Array, previous: number): number;
  /** Reads `bytes.length` bytes of the open file `fd` from `position` into `bytes`, in stretches on several threads (read_file.cc); the bytes read from the start (fewer where the file ends). */
  readInto(fd: number, position: number, bytes: Uint8Array): number;
  /** A zeroed ArrayBuffer of `bytes` on a 2 MiB boundary in transparent huge pages (memory.cc), or null off Linux. */
  hugeBuffer(bytes: number): ArrayBuffer | null;
  /** A zeroed ArrayBuffer of `bytes` (64 KiB up to 2 MiB) carved from huge-page chunks (memory.cc), or null off Linux. */
  arenaBuffer(bytes: number): ArrayBuffer | null;
  /** The arena's mapped 8 MiB chunks and the bytes of its buffers not yet collected. */
  arenaStats(): { chunks: number; liveBytes: number };
  /** Whether a new plan cuts libgomp's spin short until JavaScript next waits for the queue (spin_throttle.cc; CONVKIT_SPIN_THROTTLE). */
  setSpinThrottle(enabled: boolean): void;
  /** Whether the spin is cut short now, and how many times it was. */
  spinThrottle(): { on: boolean; periods: number };

  // ---- runtime (plan.cc, descs.cc, queue.cc)
  /** Id of the row-major float32 descriptor over dims. */
  plainDesc(dims: readonly number[]): number;
  descInfo(id: number): DescInfo;
  /** The same memory as desc `id` seen over `dims` (dims merged or split where nothing is blocked), or -1. */
  reshapedDesc(id: number, dims: readonly number[]): number;
  /** buffers [src, dst]; -1 where oneDNN has no reorder between the two layouts (reorders.ts goes through plain). */
  reorderPlan(src: number, dst: number): number;
  /** buffers [src, dst, scales]: dst = src * scales[i] along the first dim (descs.cc). */
  scaledReorderPlan(src: number, dst: number): number;
  /**
   * Checks every buffer against the plan's descriptors (type, byte size) and reads the scalars the
   * plan declares (by name: finite numbers, or booleans for flags), then queues the work.
   */
  exec(plan: number, buffers: readonly ExecBuffer[], scalars?: ExecScalars): void;
  flushSync(): void;
  flushAsync(): Promise<void>;
  /** Commands queued and not yet finished. */
  pending(): number;
  /** Commands queued so far: the sequence number of the latest (the first is 1). */
  submitted(): number;
  /** While on, the worker times every command it runs (profiling); off drops what was kept. */
  setQueueTiming(on: boolean): void;
  /** Pairs (sequence number, milliseconds) of the commands timed since the last call, in order. */
  takeQueueTimes(): Float64Array;
  setThreads(threads: number): void;
  getThreads(): number;

  /** Drops a plan (its primitive is freed once no queued command uses it); false for an unknown id. */
  releasePlan(plan: number): boolean;
  /** Registered plans, Plan objects alive (registered or held by queued work), interned descriptors. */
  planStats(): { plans: number; alive: number; descs: number };
  // The op-specific functions are declared beside their kernels (conv.ts, pool.ts ...), each in a
  // `declare module './addon.js'` block, so that an op's binding is written in one file.
}

// Every exported name has a typed declaration, and every declaration is exported.
type Undeclared = Exclude<AddonExportName, keyof NativeAddon>;
type Unexported = Exclude<keyof NativeAddon, AddonExportName>;
const surfaceMatches: [Undeclared, Unexported] extends [never, never] ? true : false = true;

function isAddon(m: unknown): m is NativeAddon {
  if (typeof m !== 'object' || m === null) return false;
  // (surfaceMatches only compiles while the C++ exports and the declarations agree.)
  return surfaceMatches && ADDON_EXPORTS.every((name) => typeof Reflect.get(m, name) === 'function');
}

const ADDON_FILE = join('native', 'build', 'Release', 'convkit_native.node');
const BUILD_HINT = 'npm run build:native';
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

/** The addon file: CONVKIT_NATIVE_ADDON's, else the build's under the repository root (null: no sources here). */
function addonFile(): string | null {
  const chosen = setting('nativeAddon');
  if (chosen !== null) return chosen;
  const root = packageRoot();
  return root === null ? null : join(root, ADDON_FILE);
}

/** Loads the addon, or says in one sentence why it cannot and how to fix that. */
export function loadAddon(): NativeAddon | { error: string } {
  const file = addonFile();
  if (file === null)
    return { error: 'the native addon sources (native/binding.gyp) are not part of this installation' };
  if (!existsSync(file)) {
    if (setting('nativeAddon') !== null) return { error: `CONVKIT_NATIVE_ADDON names ${file}, which does not exist` };
    const hasOneDnn = existsSync('/usr/include/oneapi/dnnl/dnnl.hpp');
    return {
      error: hasOneDnn
        ? `the native addon is not built (${ADDON_FILE} is missing): run ${BUILD_HINT}`
        : `oneDNN is not installed: ${INSTALL_HINT}`,
    };
  }
  let loaded: unknown;
  try {
    loaded = createRequire(import.meta.url)(file);
  } catch (e) {
    const why = e instanceof Error ? e.message.split('\n')[0] : String(e);
    const missingLib = why.includes('libdnnl');
    return {
      error: missingLib
        ? `oneDNN is not installed (${why}): ${INSTALL_HINT}`
        : `the native addon failed to load (${why}): run ${BUILD_HINT}`,
    };
  }
  if (!isAddon(loaded)) return { error: `the native addon is out of date (missing functions): run ${BUILD_HINT}` };
  return loaded;
}

/** Size and modification time of the addon file: changes with every rebuild (keys the conv tuning cache). */
export function addonBuildId(): string {
  const file = addonFile();
  if (file === null) return 'unknown';
  try {
    const { size, mtimeMs } = statSync(file);
    return `${size}-${Math.round(mtimeMs)}`;
  } catch {
    return 'unknown';
  }
}

let calls = 0;

/** How many kernel calls have gone to oneDNN so far (tests use it to see what ran natively). */
export function nativeCallCount(): number {
  return calls;
}

/**
 * Runs an addon call, turning its errors into a BackendError that names the op (and layer).
 * `counted`: false for a call that runs no kernel (a wait with nothing queued).
 */
export function callNative<T>(op: string, fn: () => T, counted = true): T {
  if (counted) calls++;
  try {
    return fn();
  } catch (e) {
    throw new BackendError(op, `native kernel failed: ${e instanceof Error ? e.message : String(e)}`);
  }
}
