/**
 * The native runtime's plan cache: each plan made once per key, the least recently used released
 * (in C++ too) beyond a limit, never those the running kernel call uses.
 */

/** A cached plan and the kernel call (epoch) that last used it. */
interface CachedPlan {
  readonly value: unknown;
  epoch: number;
}

/** Plan ids inside what a plan function returned: a number (reorderPlan), `{ plan, ... }`, or null. */
function planIdsOf(value: unknown): number[] {
  if (typeof value === 'number') return [value];
  if (value !== null && typeof value === 'object') {
    const id = Reflect.get(value, 'plan');
    if (typeof id === 'number') return [id];
  }
  return [];
}

export class PlanCache {
  /** Least recently used first (a Map keeps insertion order; a hit moves its entry to the end). */
  private readonly plans = new Map<string, CachedPlan>();
  /** Plans evicted (and released in C++) so far. */
  evicted = 0;
  /** Counts outermost kernel calls; plans used in the running one are never evicted (see kernel()). */
  private epoch = 0;
  private depth = 0;

  constructor(
    /** Releases a plan in C++ (the addon's releasePlan). */
    private readonly release: (id: number) => void,
    /**
     * How many plans are kept (CONVKIT_NATIVE_PLAN_CACHE, default 1024). Beyond it the least
     * recently used are released: each holds a oneDNN primitive (about 170 KB for a conv), so an
     * unbounded cache grew without end on workloads of ever new shapes.
     */
    public limit: number,
  ) {}

  get size(): number {
    return this.plans.size;
  }

  /**
   * A plan made once per key (op, geometry, layouts, attributes), kept while it is among the
   * `limit` most recently used. Eviction releases the plan in C++ (releasePlan): commands
   * already queued hold their own reference to it, so queued work is never left without its plan.
   */
  get<T>(key: string, make: () => T): T {
    const hit = this.plans.get(key);
    if (hit !== undefined) {
      this.plans.delete(key);
      hit.epoch = this.epoch;
      this.plans.set(key, hit);
      return hit.value as T;
    }
    const value = make();
    this.plans.set(key, { value, epoch: this.epoch });
    this.evict();
    return value;
  }

  /**
   * Runs one kernel call. A kernel asks for its plans before it queues them, so the plans used in
   * the running call (its epoch) are not evicted until it returns: the cache may exceed its limit
   * by what one call uses, and shrinks back on the next miss.
   */
  kernel<T>(run: () => T): T {
    if (this.depth === 0) this.epoch++;
    this.depth++;
    try {
      return run();
    } finally {
      this.depth--;
    }
  }

  /** The keys cached now (to release, later, what was made since: dropMadeSince). */
  keys(): Set<string> {
    return new Set(this.plans.keys());
  }

  /**
   * Releases the plans made since `before` (a keys() snapshot) except those with a plan id in
   * `keep`: plans their maker knows will not run again (conv algorithms measured slower, and the
   * conversions timed with them). Queued runs hold their own reference. Returns how many.
   */
  dropMadeSince(before: Set<string>, keep: Set<number>): number {
    let dropped = 0;
    for (const [key, entry] of this.plans) {
      if (before.has(key) || planIdsOf(entry.value).some((id) => keep.has(id))) continue;
      this.plans.delete(key);
      for (const id of planIdsOf(entry.value)) this.release(id);
      dropped++;
    }
    return dropped;
  }

  /** Releases every cached plan (in C++ as well). */
  clear(): void {
    for (const entry of this.plans.values()) for (const id of planIdsOf(entry.value)) this.release(id);
    this.plans.clear();
  }

  private evict(): void {
    for (const [key, entry] of this.plans) {
      if (this.plans.size <= this.limit) return;
      if (this.depth > 0 && entry.epoch === this.epoch) return; // this entry and all after it are in use
      this.plans.delete(key);
      for (const id of planIdsOf(entry.value)) this.release(id);
      this.evicted++;
    }
  }
}
