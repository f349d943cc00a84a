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

  /** `limitBytes`: the cap (CONVKIT_NATIVE_POOL_MB); the least recently used sizes go first when it is reached. */
  constructor(public limitBytes: number) {}

  /** A pooled buffer of exactly `floats` floats, or null. */
  take(floats: number): Float32Array | null {
    const buffer = this.touch(floats).pop();
    if (buffer === undefined) return null;
    this.bytes -= buffer.byteLength;
    return buffer;
  }

  /** Keeps `buffer` for a later take, evicting the least recently used sizes to stay under the cap. */
  recycle(buffer: Float32Array): void {
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

  /** Bytes held. */
  get pooledBytes(): number {
    return this.bytes;
  }

  /** The list of buffers of `floats` floats, moved to the most recently used end. */
  private touch(floats: number): Float32Array[] {
    const list = this.lists.get(floats) ?? [];
    this.lists.delete(floats);
    this.lists.set(floats, list);
    return list;
  }
}
