/**
 * The native backend's runtime: buffers (a pool of released ones, huge pages for large ones) for its
 * storages (native-storage.ts), cached plans and descriptors, and queued execution.
 *
 * Invariant: JavaScript never touches a buffer's values while the addon's queue has work in it.
 * Everything that reads or writes values on the JS side (`read`, reference fallbacks, in-place
 * reference kernels) calls `flushSync()` first. Buffers from the pool only go to native
 * producers, whose work is queued after every earlier use of that buffer, so reuse is safe.
 */
import type { ConvTiming } from './inference-layout.js';
import { setting } from '../../core/config.js';
import { sizeOf } from '../../core/shape.js';
import type { Storage } from '../../core/storage.js';
import { RefStorage } from '../ref/storage.js';
import { BufferPool } from './buffer-pool.js';
import { NativeStorage, PLAIN } from './native-storage.js';
import { PlanCache } from './plan-cache.js';
import type { Recorder } from './recording.js';
import { type NativeInput, readableBack, reorderInto, reorderPlanOrNull, scaledReorderPlan } from './reorders.js';
import { callNative, type DescInfo, type ExecBuffer, type ExecScalars, type NativeAddon } from './addon.js';

export { NativeStorage, PLAIN } from './native-storage.js';

/** Blocks of at least this many bytes are allocated in huge pages (NativeRuntime.arrayBuffer)... */
const HUGE_PAGE_BYTES = 2 ** 21;
/** ...and from this size up, carved from the addon's huge-page arena. */
const ARENA_BYTES = 2 ** 16;

/** The most dims a oneDNN memory descriptor has (DNNL_MAX_NDIMS). */
export const MAX_RANK = 12;

/** What the plan cache holds (for tests, profiles and the memory bound). */
export interface PlanCacheStats {
  /** Plans cached on the JS side. */
  cached: number;
  /** The cap (CONVKIT_NATIVE_PLAN_CACHE, default 1024). */
  limit: number;
  /** Plans evicted (and released in C++) so far. */
  evicted: number;
  /** The addon's count: registered plans, Plan objects alive (registered or held by queued work), interned descs. */
  native: { plans: number; alive: number; descs: number };
}

export class NativeRuntime {
  private readonly descs = new Map<number, DescInfo>();
  private readonly plainDescs = new Map<string, number>();
  private readonly plans: PlanCache;
  private readonly pool: BufferPool;
  /**
   * Which strided convs run forward as their space-to-depth cut (conv.ts): 'auto' those oneDNN
   * would run as im2col + gemm (it depends on the CPU: AVX2 builds pick gemm for AlexNet's stem,
   * AVX-512 ones do not), 'always' every one the cut applies to (so tests check the cut anywhere).
   */
  spaceToDepth: 'auto' | 'always' = 'auto';
  /**
   * Inference convs whose output maps have at most this many pixels (H * W) pass them on in nhwc
   * (what oneDNN's brgemm kernels use, AVX-512 only); the others in the blocked nChw16c/8c of its
   * direct kernels. A conv that runs another algorithm converts to and from its layout, and is
   * timed so (conv.ts). 0: all blocked; Infinity: all nhwc. nn.recordInference picks it per pass
   * by measurement (docs/native-backend.md#activation-layout).
   */
  nhwcUpTo = 0;
  /** While not null, each tuned forward conv notes its output's pixels per map and its chosen time (ms). */
  convTimings: ConvTiming[] | null = null;
  /** How many convs ran as their space-to-depth cut (for tests and profiles). */
  spaceToDepthCuts = 0;

  constructor(readonly addon: NativeAddon) {
    // Read when the runtime starts (the first use of the native backend), never at import.
    this.pool = new BufferPool(setting('nativePoolMb') * 2 ** 20);
    this.plans = new PlanCache((id) => this.addon.releasePlan(id), setting('nativePlanCache'));
    this.addon.setSpinThrottle(setting('spinThrottle'));
  }

  // ---- descriptors and plans -----------------------------------------------------------

  descInfo(id: number): DescInfo {
    let info = this.descs.get(id);
    if (!info) {
      if (this.descs.size >= this.descCacheLimit()) this.descs.clear(); // a cache of the addon's answers
      info = this.addon.descInfo(id);
      this.descs.set(id, info);
    }
    return info;
  }

  plainDesc(dims: readonly number[]): number {
    const key = dims.join(',');
    let id = this.plainDescs.get(key);
    if (id === undefined) {
      if (this.plainDescs.size >= this.descCacheLimit()) this.plainDescs.clear();
      id = this.addon.plainDesc(dims);
      this.plainDescs.set(key, id);
    }
    return id;
  }

  private descCacheLimit(): number {
    return 4 * this.planLimit + 1024;
  }

  /** A plan made once per key, cached (plan-cache.ts). */
  plan<T>(key: string, make: () => T): T {
    return this.plans.get(key, make);
  }

  /** The plan cache's keys now, and the release of what was made since (plan-cache.ts). */
  planKeys(): Set<string> {
    return this.plans.keys();
  }
  dropPlansMadeSince(before: Set<string>, keep: Set<number>): number {
    return this.plans.dropMadeSince(before, keep);
  }

  /** Runs one kernel call: the plans it uses stay cached until it returns (plan-cache.ts). */
  kernel<T>(run: () => T): T {
    return this.plans.kernel(run);
  }

  /** How many plans are kept (CONVKIT_NATIVE_PLAN_CACHE, default 1024). */
  get planLimit(): number {
    return this.plans.limit;
  }
  set planLimit(limit: number) {
    this.plans.limit = limit;
  }

  /** The plan cache's size, limit and evictions, and the addon's own counts. */
  planStats(): PlanCacheStats {
    return {
      cached: this.plans.size,
      limit: this.plans.limit,
      evicted: this.plans.evicted,
      native: this.addon.planStats(),
    };
  }

  // ---- storage -------------------------------------------------------------------------

  /**
   * A storage for a native kernel's output in layout `desc` (from the pool when one fits).
   * `transient`: values that go back to the pool soon (a folded weight, once converted): a fresh
   * buffer is allocated in a power-of-two size class, so the next such output of that class finds
   * it in the pool (each of DenseNet's folded weights is a little larger than the last, and never
   * found the one before: 9 MiB of fresh memory in a first pass).
   */
  output(desc: number, size: number, transient = false): NativeStorage {
    const info = this.descInfo(desc);
    const floats = Math.ceil(info.bytes / 4);
    const buffer = transient ? this.takeTransient(floats) : this.take(floats);
    return info.plain
      ? new NativeStorage(this, size, buffer, PLAIN, null, true)
      : new NativeStorage(this, size, buffer, desc, info.dims, true);
  }

  /** A pooled storage for a primitive's workspace (max-pool indices), sized by its desc. */
  workspace(desc: number): NativeStorage {
    const info = this.descInfo(desc);
    return new NativeStorage(
      this,
      Math.ceil(info.bytes / 4),
      this.take(Math.ceil(info.bytes / 4)),
      desc,
      info.dims,
      true,
    );
  }

  /** A plain storage holding a copy of `values` (JS-side write: a fresh array, never pooled). */
  fromValues(values: Float32Array): NativeStorage {
    return this.adopt(values.slice());
  }

  /** A plain storage over `values` itself (a fresh array handed over: never pooled, left to the GC). */
  adopt(values: Float32Array): NativeStorage {
    return new NativeStorage(this, values.length, values, PLAIN, null);
  }

  /**
   * A plain storage of `size` copies of `value`, written here: a fresh array, so no queued work can
   * hold it. Zeros are not even allocated until a kernel or a read uses them: a model built with
   * `init: 'none'` and then loaded never makes its parameters' first arrays (DenseNet-121's 727
   * allocations took 15 ms of a 30 ms build; VGG16's are 528 MB).
   */
  filled(size: number, value: number): NativeStorage {
    if (Object.is(value, 0)) return NativeStorage.zeros(this, size);
    const values = this.allocate(size);
    values.fill(value); // -0 too: only +0 is a fresh array's value
    return new NativeStorage(this, size, values, PLAIN, null);
  }

  /**
   * The buffer of `s` in layout `desc` over `dims` (the kernel's view of the tensor), queuing a
   * reorder when the layouts differ. Conversions are cached on `s` (weights are converted once).
   */
  input(s: Storage, desc: number, dims: readonly number[]): Float32Array {
    if (s instanceof NativeStorage && s.scaled !== null && dims[0] === s.scaled.scales.size) {
      if (this.makeScaled(s, desc, dims)) return s.buffer; // else made plain, reordered below
    }
    const info = this.descInfo(desc);
    const plain = plainBufferIfCompatible(s);
    if (plain !== null && info.plain) return plain;
    if (s instanceof NativeStorage && s.desc === desc) return s.buffer;
    if (s instanceof NativeStorage && s.desc !== PLAIN && this.reshaped(s, dims) === desc) return s.buffer;
    if (s instanceof NativeStorage) {
      const cached = s.convertedTo(desc);
      if (cached) return cached.buffer;
    }
    const copy = this.output(desc, sizeOf(dims));
    reorderInto(this, this.sourceFor(s, dims), copy.buffer, desc, dims);
    // A ref storage's copy is not cached (nothing would free it) and not recycled either: the
    // kernel about to run reads it, so the garbage collector takes it afterwards.
    const buffer = copy.buffer;
    if (s instanceof NativeStorage) {
      s.rememberConverted(desc, copy);
      if (s.replacedByConversion) {
        // Only the first: a later conversion's source may be held by a program recorded since.
        s.replacedByConversion = false;
        if (readableBack(this, desc, dims)) s.adoptConverted(desc, true);
      }
    }
    return buffer;
  }

  /**
   * As `input`, on a 64-byte boundary. oneDNN's Winograd kernels need every buffer there (their
   * guard runs the direct kernel instead: native/src/winograd_guard.h), and a model's small
   * parameters (AlexNet's conv biases) sat 16 or 32 bytes off it. The copy is cached on `s`.
   */
  alignedInput(s: Storage, desc: number, dims: readonly number[]): Float32Array {
    const buffer = this.input(s, desc, dims);
    if ((buffer.byteOffset - this.addon.alignmentGap(buffer.buffer as ArrayBuffer)) % 64 === 0) return buffer;
    const cached = s instanceof NativeStorage ? s.convertedTo(desc) : undefined;
    if (cached) return cached.buffer;
    const copy = this.output(desc, sizeOf(dims));
    this.exec('reorder', this.reorderPlan(desc, desc), [buffer, copy.buffer]);
    if (s instanceof NativeStorage) s.rememberConverted(desc, copy);
    return copy.buffer;
  }

  /**
   * Makes the values of a `scaled` storage (native-storage.ts) in layout `desc` over `dims` (null:
   * plain), one scaled reorder from its source, and gives them to it. Where oneDNN has no scaled
   * reorder into `desc` (Winograd's weight layout) they are made plain: returns whether in `desc`.
   */
  makeScaled(s: NativeStorage, desc: number | null, dims: readonly number[]): boolean {
    const scaled = s.scaled;
    if (scaled === null) return false;
    const from = this.sourceFor(scaled.source, dims);
    const { plan, to } = scaledReorderPlan(this, from.desc, desc, dims);
    const values = this.output(to, sizeOf(dims));
    this.exec('reorder', plan, [from.buffer, values.buffer, scaled.scales.buffer]);
    s.takeScaled(values);
    return desc === null || to === desc;
  }

  /** A plain row-major buffer of s (queues a reorder if s is blocked). */
  plainInput(s: Storage, dims: readonly number[]): Float32Array {
    return this.input(s, this.plainDesc(dims), dims);
  }

  /** The current layout of `s` as a desc id usable in plans (plain storages get the plain desc over dims). */
  descOf(s: Storage, dims: readonly number[]): number {
    if (!(s instanceof NativeStorage) || s.desc === PLAIN) return this.plainDesc(dims);
    if (sameDims(s.dims, dims)) return s.desc;
    const view = this.reshaped(s, dims);
    return view >= 0 ? view : this.plainDesc(dims);
  }

  private readonly reshapes = new Map<string, number>();
  /**
   * The desc of blocked storage `s` seen over `dims` (the same bytes: batch norm views a map as
   * [N, C, H*W, 1], a conv as [N, C, H, W]), or -1; cached per desc and dims.
   */
  private reshaped(s: NativeStorage, dims: readonly number[]): number {
    if (s.dims === null || sameDims(s.dims, dims) || s.dims.length !== dims.length || sizeOf(s.dims) !== sizeOf(dims))
      return -1;
    const key = `${s.desc}:${dims}`;
    let id = this.reshapes.get(key);
    if (id === undefined) {
      id = this.addon.reshapedDesc(s.desc, dims);
      this.reshapes.set(key, id);
    }
    return id;
  }

  private sourceFor(s: Storage, dims: readonly number[]): NativeInput {
    const plain = plainBufferIfCompatible(s);
    if (plain !== null) return { buffer: plain, desc: this.plainDesc(dims) };
    if (!(s instanceof NativeStorage))
      throw new Error(`the native backend cannot read a storage of '${s.backendName}' (${s.dtype})`);
    if (sameDims(s.dims, dims)) return { buffer: s.buffer, desc: s.desc };
    // A reshaped blocked tensor: go through plain over its own dims, which is also row-major over `dims`.
    const ownDims = s.dims ?? dims;
    return { buffer: this.input(s, this.plainDesc(ownDims), ownDims), desc: this.plainDesc(dims) };
  }

  /** The plan of a reorder from layout `src` to layout `dst` (same dims); reorders.ts for where oneDNN has none. */
  reorderPlan(src: number, dst: number): number {
    const plan = reorderPlanOrNull(this, src, dst);
    if (plan === null) throw new Error(`reorder: oneDNN has no reorder from layout ${src} to layout ${dst}`);
    return plan;
  }

  // ---- execution -----------------------------------------------------------------------

  exec(op: string, plan: number, buffers: readonly ExecBuffer[], scalars?: ExecScalars): void {
    callNative(op, () => this.addon.exec(plan, buffers, scalars));
    this.recorder?.commands.push({ op, plan, buffers: [...buffers], scalars });
  }

  flushSync(): void {
    // JavaScript is about to read or write values: a recording cannot replay that (recording.ts).
    if (this.recorder) this.recorder.impure ??= 'the pass reads values in JavaScript midway (item(), toArray())';
    // With nothing queued it is still a wait: libgomp's spin comes back then (spin_throttle.cc).
    const queued = this.addon.pending() > 0;
    callNative('flush', () => this.addon.flushSync(), queued);
  }

  /** What the pass being recorded queued and took (recording.ts), or null. */
  recorder: Recorder | null = null;

  flushAsync(): Promise<void> {
    return this.addon.flushAsync();
  }

  /** Plans depend on the thread count (per-thread scratch), so they are made again after a change. */
  setThreads(threads: number): void {
    if (threads === this.addon.getThreads()) return;
    this.flushSync();
    callNative('setThreads', () => this.addon.setThreads(threads));
    this.plans.clear();
  }

  getThreads(): number {
    return this.addon.getThreads();
  }

  /** Plain row-major values of s as a fresh array (the boundary where blocked layouts end). */
  readPlain(s: Storage, dims: readonly number[]): Float32Array {
    const plain = plainBufferIfCompatible(s);
    // A scalar has dims []; its one value is row-major over [1] as well.
    const buffer = plain ?? this.plainInput(s, dims.length === 0 ? [1] : dims);
    this.flushSync();
    return buffer.slice(0, s.size);
  }

  /** A reference-backend view of s's values for a fallback kernel (flushes the queue first). */
  refView(s: Storage): Storage {
    if (!(s instanceof NativeStorage)) {
      // Reference storages (values, or a max-pool index workspace) are used as they are.
      this.flushSync();
      return s;
    }
    const buffer = s.desc === PLAIN ? s.buffer : this.plainInput(s, s.dims ?? [s.size]);
    this.flushSync();
    return new RefStorage(buffer.length === s.size ? buffer : buffer.subarray(0, s.size));
  }

  // ---- buffers ---------------------------------------------------------------------------

  private take(floats: number): Float32Array {
    const buffer = this.pool.take(floats) ?? this.allocate(floats);
    this.recorder?.noteTake(buffer);
    return buffer;
  }

  private takeTransient(floats: number): Float32Array {
    const buffer = this.pool.take(floats) ?? this.pool.viewOf(this.allocate(2 ** Math.ceil(Math.log2(floats))), floats);
    this.recorder?.noteTake(buffer);
    return buffer;
  }

  /**
   * A zeroed array of `floats` starting on a 64-byte boundary. oneDNN allocates its own memory so;
   * ours came from V8's allocator (glibc), 16 bytes off for large blocks, and AVX-512 kernels on
   * such buffers split every load across two cache lines: a 3x3 conv ran 4-24% slower here.
   */
  allocate(floats: number): Float32Array {
    const bytes = this.arrayBuffer(floats * 4 + 64);
    return new Float32Array(bytes, this.addon.alignmentGap(bytes), floats);
  }

  /**
   * Zeroed memory; blocks from 64 KiB come from the addon in huge pages (their own from 2 MiB,
   * else the arena's chunks): first-touching 4 KiB pages one fault at a time took 0.5-2.9 ms per
   * MiB under this project's hypervisors (memory.cc), and the kernels' TLB misses drop too.
   */
  arrayBuffer(bytes: number): ArrayBuffer {
    const huge =
      bytes >= HUGE_PAGE_BYTES
        ? this.addon.hugeBuffer(bytes)
        : bytes >= ARENA_BYTES
          ? this.addon.arenaBuffer(bytes)
          : null;
    return huge ?? new ArrayBuffer(bytes);
  }

  /** Gives a pool-born buffer back (buffer-pool.ts). */
  recycle(buffer: Float32Array): void {
    this.pool.recycle(buffer);
  }

  /** The pool's cap in bytes (CONVKIT_NATIVE_POOL_MB, default 4096 MiB). */
  get poolLimitBytes(): number {
    return this.pool.limitBytes;
  }
  set poolLimitBytes(bytes: number) {
    this.pool.limitBytes = bytes;
  }

  /**
   * Drops the pool's free buffers. A recorded pass or training step runs on slabs of its own, so
   * what the passes op by op before it left in the pool would sit idle beside them
   * (DenseNet-BC-100's training at batch 64: 2.8 GiB beside 2.4 GiB of slabs).
   */
  releasePooled(): void {
    this.pool.clear();
  }

  /** Bytes held by the pool (for the memory-flatness script and tests). */
  get pooled(): number {
    return this.pool.pooledBytes;
  }

  /** Buffers asked of the pool that it did not have (each one allocated instead). */
  get poolMisses(): number {
    return this.pool.misses;
  }
}

/** The values of a plain float32 storage (native plain or ref), or null. */
function plainBufferIfCompatible(s: Storage): Float32Array | null {
  if (s instanceof NativeStorage) return s.desc === PLAIN ? s.buffer : null;
  if (s instanceof RefStorage && s.data instanceof Float32Array) return s.data;
  return null;
}

/** Whether a storage can go to a native kernel at all (float32, native or ref). */
export function isFloat32(s: Storage): boolean {
  return s instanceof NativeStorage || (s instanceof RefStorage && s.data instanceof Float32Array);
}

function sameDims(a: readonly number[] | null, b: readonly number[]): boolean {
  return a !== null && a.length === b.length && a.every((d, i) => d === b[i]);
}
