/**
 * The native runtime's plan cache (src/backend/native/plan-cache.ts), without the addon: plans
 * made once per key, the least recently used released beyond the limit but never those of the
 * running kernel call, and the release of what a conv measurement made for the algorithms it
 * did not keep.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PlanCache } from '../../src/backend/native/plan-cache.js';

function cacheOf(limit: number): { cache: PlanCache; released: number[] } {
  const released: number[] = [];
  return { cache: new PlanCache((id) => released.push(id), limit), released };
}

describe('PlanCache', () => {
  it('makes a plan once per key and releases the least recently used beyond the limit', () => {
    const { cache, released } = cacheOf(2);
    let made = 0;
    const plan = (id: number) => cache.get(`k${id}`, () => ({ plan: id, made: ++made }));
    plan(1);
    plan(2);
    assert.equal(plan(1).made, 1, 'a hit does not make it again');
    plan(3); // k2 is now the least recently used
    assert.deepEqual(released, [2]);
    assert.equal(cache.size, 2);
    assert.equal(cache.evicted, 1);
  });

  it('keeps the plans of the running kernel call past the limit', () => {
    const { cache, released } = cacheOf(1);
    cache.kernel(() => {
      cache.get('a', () => 1);
      cache.get('b', () => 2);
      assert.equal(cache.size, 2, 'both are in use');
    });
    cache.get('c', () => 3);
    assert.deepEqual(released, [1, 2]);
  });

  it('releases what was made since a snapshot, except the plans kept', () => {
    const { cache, released } = cacheOf(100);
    cache.get('old', () => 1);
    const before = cache.keys();
    cache.kernel(() => {
      cache.get('conv:direct', () => ({ plan: 2 }));
      cache.get('conv:winograd', () => ({ plan: 3 }));
      cache.get('reorder:a:b', () => 4); // a conversion timed with winograd
      cache.get('flip', () => ({ plan: 5, dst: 9 })); // a weight turn timed with the winner
      cache.get('conv:transposed', () => ({ plan: 6 }));
      assert.equal(cache.dropMadeSince(before, new Set([2, 5, 6])), 2);
    });
    assert.deepEqual(released.sort(), [3, 4]);
    assert.deepEqual([...cache.keys()].sort(), ['conv:direct', 'conv:transposed', 'flip', 'old']);
    assert.equal(cache.evicted, 0, 'a release on request is not an eviction');
  });
});
