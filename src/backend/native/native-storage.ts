/**
 * The native backend's storage: a float32 buffer, plain or in a oneDNN blocked layout, with its
 * copies in other layouts cached (a weight converted for a conv); zeros get their buffer on first
 * use. The runtime (runtime.ts) allocates, pools and converts.
 */
import type { DType } from '../../core/dtype.js';
import { Storage } from '../../core/storage.js';
import type { NativeRuntime } from './runtime.js';

/** Desc id 0: plain row-major, whatever the logical shape (a reshape keeps it valid). */
export const PLAIN = 0;

/**
 * float32 storage of the native backend. `desc` is PLAIN or an interned oneDNN descriptor id
 * whose dims are `dims`; `buffer` may be longer than `size` (blocked layouts pad channels).
 */
export class NativeStorage extends Storage {
  readonly backendName = 'native';
  readonly dtype: DType = 'float32';
  /** Copies of this storage in other layouts (a weight in a conv's blocked layout), made once. */
  private converted: Map<number, NativeStorage> | null = null;

  constructor(
    private readonly runtime: NativeRuntime,
    readonly size: number,
    private buf: Float32Array | null,
    private layout: number,
    private layoutDims: readonly number[] | null,
    /** Whether the buffer came from the pool and goes back to it (others are left to the GC). */
    private pooled = false,
  ) {
    super();
  }

  /** The layout: PLAIN, or an interned oneDNN descriptor id over `dims`. */
  get desc(): number {
    return this.layout;
  }

  get dims(): readonly number[] | null {
    return this.layoutDims;
  }

  /** Zeros not yet allocated (NativeRuntime.filled): the buffer is made on first use. */
  private unallocatedZeros = false;

  /**
   * Values not yet made: `source` ([scales.length, ...], in its own layout) times scales[i] along
   * its first dim, made where first needed (runtime.input: straight into a conv's layout; else
   * plain). A batch norm folded into conv weights (fold-batch-norm.ts) writes no plain copy of them.
   */
  scaled: { source: NativeStorage; scales: NativeStorage } | null = null;

  /** A storage of `source` scaled along its first dim by `scales`, made when first used (`scaled`). */
  static scaledLater(runtime: NativeRuntime, source: NativeStorage, scales: NativeStorage): NativeStorage {
    const s = new NativeStorage(runtime, source.size, null, PLAIN, null);
    source.retain();
    s.scaled = { source, scales };
    return s;
  }

  /** A plain storage of `size` zeros whose buffer is allocated when first used. */
  static zeros(runtime: NativeRuntime, size: number): NativeStorage {
    const s = new NativeStorage(runtime, size, null, PLAIN, null);
    s.unallocatedZeros = true;
    return s;
  }

  get buffer(): Float32Array {
    if (this.scaled !== null)
      this.runtime.makeScaled(this, null, [this.scaled.scales.size, this.size / this.scaled.scales.size]);
    if (this.buf === null && this.unallocatedZeros) {
      this.buf = this.runtime.allocate(this.size);
      this.unallocatedZeros = false;
    }
    if (this.buf === null) throw new Error('native storage used after it was freed');
    return this.buf;
  }

  /**
   * The array holding the values now, without allocating (null before a zeros storage's first
   * use): adoptConverted moves a storage to another array, which a recorded program must notice.
   */
  get currentArray(): Float32Array | null {
    return this.buf;
  }

  convertedTo(desc: number): NativeStorage | undefined {
    return this.converted?.get(desc);
  }

  rememberConverted(desc: number, copy: NativeStorage): void {
    this.converted ??= new Map();
    this.converted.set(desc, copy);
  }

  /**
   * Set on a storage whose plain values only feed conversions (conv weights with a batch norm
   * folded in, fold-batch-norm.ts): its first conversion becomes its own values and the plain
   * array goes back to the pool (runtime.input). A first pass then first-touches one fresh copy of
   * such weights instead of two, which under a hypervisor cost about 1 ms per MiB: a model's
   * folded weights are as large as the model.
   */
  replacedByConversion = false;

  /**
   * Makes the cached copy in `desc` this storage's own values and layout (native/optim.ts keeps a
   * parameter in its gradient's layout). The old buffer is left to the GC, not the pool: queued
   * work may still read it, and a recorded program may hold it. `recycle`: the pool takes it (for
   * a buffer no program holds: queued commands run in order, so the reads queued before its next
   * writer still see its values). False when no such copy is cached.
   */
  adoptConverted(desc: number, recycle = false): boolean {
    const copy = this.converted?.get(desc);
    if (copy === undefined || copy.buf === null) return false;
    this.converted?.delete(desc);
    if (recycle && this.buf && this.pooled) this.runtime.recycle(this.buf);
    this.takeValuesOf(copy);
    return true;
  }

  /** Takes `values` (made from `scaled`, in its layout) as this storage's values. */
  takeScaled(values: NativeStorage): void {
    this.dropScaled();
    this.takeValuesOf(values);
  }

  private takeValuesOf(other: NativeStorage): void {
    this.buf = other.buf;
    this.pooled = other.pooled;
    this.unallocatedZeros = false;
    this.layout = other.layout;
    this.layoutDims = other.layoutDims;
    other.buf = null; // its release must not recycle what this storage now owns
    other.pooled = false;
  }

  private dropScaled(): void {
    if (this.scaled === null) return;
    this.scaled.source.release();
    this.scaled.scales.release();
    this.scaled = null;
  }

  /** Drops cached conversions: the values were changed in place (an optimiser step). */
  invalidate(): void {
    if (this.converted) for (const c of this.converted.values()) c.release();
    this.converted = null;
  }

  protected free(): void {
    this.invalidate();
    this.dropScaled();
    // Only pool-born buffers return: recycling every freed buffer (input batches, say) would grow
    // the pool by sizes no native kernel asks for.
    if (this.buf && this.pooled) this.runtime.recycle(this.buf);
    this.buf = null;
    this.unallocatedZeros = false;
  }
}
