/**
 * Bounded native memory (issue #15): thousands of distinct conv shapes keep the plan cache at its
 * limit, release the evicted oneDNN primitives in C++, and keep the resident memory within a
 * fixed bound; and a plan evicted while queued work still uses it is not freed under that work.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { nativeRuntime } from '../../src/backend/native/index.js';
import { noGrad } from '../../src/core/grad-mode.js';
import { Generator } from '../../src/core/random.js';
import * as ops from '../../src/ops/index.js';
import { assertClose, nativeSkipReason } from './native-helpers.js';

const skip = nativeSkipReason('native-memory');

interface Shape {
  c: number;
  o: number;
  h: number;
  w: number;
  k: number;
}

/** `count` distinct tiny conv problems. */
function shapes(count: number): Shape[] {
  const out: Shape[] = [];
  for (let h = 3; out.length < count; h++) {
    for (let w = 3; w <= 12 && out.length < count; w++) {
      for (const c of [1, 2, 3]) {
        for (const o of [1, 2]) {
          for (const k of [1, 3]) if (out.length < count && k <= Math.min(h, w)) out.push({ c, o, h, w, k });
        }
      }
    }
  }
  return out;
}

function values(size: number, seed: number): Float32Array {
  const g = new Generator(seed);
  return Float32Array.from({ length: size }, () => g.uniform() * 2 - 1);
}

/** Runs one conv of shape s on `backend` and returns its output values (this reads, so it flushes). */
function conv(s: Shape, backend: string, seed: number, read = true): Float32Array | null {
  const x = ops.fromArray(values(s.c * s.h * s.w, seed), [1, s.c, s.h, s.w], { backend });
  const weight = ops.fromArray(values(s.o * s.c * s.k * s.k, seed + 1), [s.o, s.c, s.k, s.k], { backend });
  const y = ops.conv2d(x, weight, null, { padding: s.k >> 1 });
  const out = read ? Float32Array.from(y.toArray()) : null;
  for (const t of [x, weight, y]) t.dispose();
  return out;
}

describe('native memory', () => {
  it('thousands of distinct conv shapes: plans stay at the limit and resident memory stays bounded', { skip }, () => {
    const rt = nativeRuntime();
    const all = shapes(2000);
    noGrad(() => {
      for (const s of all.slice(0, 200)) conv(s, 'native', 1);
    });
    global.gc?.();
    const before = process.memoryUsage().rss;
    let worst = rt.planStats();
    noGrad(() => {
      all.slice(200).forEach((s, i) => {
        conv(s, 'native', i);
        const stats = rt.planStats();
        if (stats.native.plans > worst.native.plans) worst = stats;
      });
    });
    global.gc?.();
    const growth = (process.memoryUsage().rss - before) / 2 ** 20;
    const stats = rt.planStats();
    console.log(
      `# ${all.length} conv shapes: rss +${growth.toFixed(0)} MiB after warm-up; plans cached ${stats.cached} (limit ${stats.limit}), ` +
        `evicted ${stats.evicted}; in C++ ${stats.native.plans} registered, ${stats.native.alive} alive, ${stats.native.descs} descs`,
    );
    assert.ok(stats.evicted > 0, 'nothing was evicted: the test did not reach the limit');
    assert.ok(stats.cached <= stats.limit, `${stats.cached} plans cached, limit ${stats.limit}`);
    // Between kernel calls the addon holds exactly the cached plans; a call may add a few over the limit.
    assert.ok(worst.native.plans <= stats.limit + 8, `${worst.native.plans} plans registered in C++`);
    assert.ok(stats.native.alive <= stats.native.plans, `${stats.native.alive} plans alive after a flush`);
    assert.ok(growth < 300, `resident memory grew by ${growth.toFixed(0)} MiB`);
  });

  it('a plan evicted while queued work uses it is freed only after that work has run', { skip }, () => {
    const rt = nativeRuntime();
    const limit = rt.planLimit;
    const some = shapes(3000).slice(2600, 2640);
    try {
      rt.planLimit = 1; // every new plan evicts the one before, while its commands are still queued
      const native = noGrad(() => {
        const queued = some.map((s, i) => {
          const x = ops.fromArray(values(s.c * s.h * s.w, i), [1, s.c, s.h, s.w], { backend: 'native' });
          const w = ops.fromArray(values(s.o * s.c * s.k * s.k, i + 1), [s.o, s.c, s.k, s.k], { backend: 'native' });
          return ops.relu(ops.conv2d(x, w, null, { padding: s.k >> 1 }));
        });
        const stats = rt.planStats();
        assert.ok(stats.native.plans <= 4, `${stats.native.plans} plans registered with a limit of 1`);
        return queued.map((y) => Float32Array.from(y.toArray()));
      });
      const ref = noGrad(() =>
        some.map((s, i) => conv(s, 'ref', i) as Float32Array).map((y) => y.map((v) => Math.max(v, 0))),
      );
      native.forEach((y, i) => assertClose(`conv ${i}`, y, ref[i]));
    } finally {
      rt.planLimit = limit;
    }
  });
});
