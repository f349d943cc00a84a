/**
 * The native runtime's pool of released buffers, by size. Disposed storages give their buffers
 * back and native kernels take from it, so a training step reuses the previous step's memory
 * instead of allocating and first-touching fresh arrays. Size classes are kept in the order they
 * were last used (a Map keeps insertion order), so a full pool gives up the sizes of a model that
 * is no longer run: without that, after a few large models a process allocated and first-touched
 * every buffer of the next one afresh (ResNet-20 training at the end of a bench run went from 197
 * to about 400 ms a step).
 */
export class BufferPool {
  private readonly lists = new Map<number, Float32Array[]>();
  private bytes = 0;
  /** Takes that found nothing (the caller allocated): flat over steady training steps. */
  misses = 0;
  /** The pooled buffer behind each view handed out by a take of a smaller size. */
  private readonly parents = new WeakMap<Float32Array, Float32Array>();

  /** `limitBytes`: the cap (CONVKIT_NATIVE_POOL_MB); the least recently used sizes go first when it is reached. */
  constructor(public limitBytes: number) {}

  /**
   * A pooled buffer of `floats` floats, or null: one of exactly that size, else a view of the
   * smallest pooled buffer of up to twice the size. A model's first pass asks for sizes it has
   * not freed yet (each of DenseNet's joins is wider than the last); without the views it
   * allocated, and first-touched, 90 MiB at batch 1 where 36 MiB of freed buffers would do.
   */
  take(floats: number): Float32Array | null {
    const exact = this.touch(floats).pop();
    const buffer = exact ?? this.smallestAbove(floats);
    if (buffer === undefined) {
      this.misses++;
      return null;
    }
    this.bytes -= buffer.byteLength;
    return this.viewOf(buffer, floats);
  }

  /**
   * `buffer` itself, or a view of its first `floats` floats that goes back to the pool whole (a
   * pooled buffer of up to twice the size, or a fresh one allocated in a larger size class:
   * runtime.output's `transient`).
   */
  viewOf(buffer: Float32Array, floats: number): Float32Array {
    if (buffer.length === floats) return buffer;
    const view = buffer.subarray(0, floats);
    this.parents.set(view, buffer);
    return view;
  }

  /** Keeps `buffer` (or the pooled buffer it is a view of) for a later take, evicting the least recently used sizes to stay under the cap. */
  recycle(view: Float32Array): void {
    const buffer = this.parents.get(view) ?? view;
    if (buffer.byteLength > this.limitBytes) return;
    const list = this.touch(buffer.length);
    for (const [size, stale] of this.lists) {
      if (this.bytes + buffer.byteLength <= this.limitBytes || size === buffer.length) break;
      while (stale.length > 0 && this.bytes + buffer.byteLength > this.limitBytes)
        this.bytes -= (stale.pop() as Float32Array).byteLength;
      if (stale.length === 0) this.lists.delete(size);
    }
    if (this.bytes + buffer.byteLength > this.limitBytes) return;
    list.push(buffer);
    this.bytes += buffer.byteLength;
  }

  /** Drops every buffer held (the garbage collector frees them). */
  clear(): void {
    this.lists.clear();
    this.bytes = 0;
  }

  /** Bytes held. */
  get pooledBytes(): number {
    return this.bytes;
  }

  /** Takes the smallest pooled buffer of more than `floats` and at most twice as many floats. */
  private smallestAbove(floats: number): Float32Array | undefined {
    let best = 0;
    for (const [size, list] of this.lists)
      if (size > floats && size <= 2 * floats && list.length > 0 && (best === 0 || size < best)) best = size;
    return best === 0 ? undefined : this.touch(best).pop();
  }

  /** The list of buffers of `floats` floats, moved to the most recently used end. */
  private touch(floats: number): Float32Array[] {
    const list = this.lists.get(floats) ?? [];
    this.lists.delete(floats);
    this.lists.set(floats, list);
    return list;
  }
}
