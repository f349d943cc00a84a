/**
 * The native runtime: queued execution (order, flushSync, flushAsync, pending, per-command timing), exact reorders
 * between plain and blocked layouts, reuse of pooled buffers, the thread count, and a process
 * that exits on its own while the worker is idle.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { loadNativeAddon, nativeRuntime } from '../../src/backend/native/index.js';
import { NativeRuntime } from '../../src/backend/native/runtime.js';
import { Generator } from '../../src/core/random.js';
import * as ops from '../../src/ops/index.js';
import { noGrad } from '../../src/core/grad-mode.js';
import { conv2dGeometry } from '../../src/ops/conv2d.js';
import { assertClose, failNativeMissing, nativeSkipReason } from './native-helpers.js';

const addon = loadNativeAddon();
const skip = nativeSkipReason('native-runtime');

function values(size: number, seed: number): Float32Array {
  const g = new Generator(seed);
  return Float32Array.from({ length: size }, () => g.uniform() * 2 - 1);
}

/** Bit patterns, so -0 and NaN payloads count too. */
const bits = (a: Float32Array, n = a.length): number[] => Array.from(new Uint32Array(a.buffer, a.byteOffset, n));

/** A conv geometry whose activations and weights oneDNN keeps blocked (16 channels). */
const GEOMETRY = conv2dGeometry([2, 16, 7, 6], [32, 16, 3, 3], { padding: 1 });
const GROUPED = conv2dGeometry([1, 16, 5, 5], [16, 4, 3, 3], { padding: 1, groups: 4 });

describe('native runtime', () => {
  it('runs queued commands in order: a chain of reorders and overwrites', { skip }, () => {
    if ('error' in addon) return failNativeMissing(addon);
    const dims = [4, 64, 32, 32];
    const size = dims.reduce((p, d) => p * d, 1);
    const plain = addon.plainDesc(dims);
    const copy = addon.reorderPlan(plain, plain);
    const [a, b, c] = [values(size, 1), values(size, 2), new Float32Array(size)];
    const d = new Float32Array(size);
    addon.exec(copy, [a, c]);
    addon.exec(copy, [c, d]); // reads c after the first copy wrote it
    addon.exec(copy, [b, c]); // then c is overwritten
    assert.ok(addon.pending() <= 3);
    addon.flushSync();
    assert.equal(addon.pending(), 0);
    assert.deepEqual(bits(d), bits(a));
    assert.deepEqual(bits(c), bits(b));
  });

  it('flushAsync resolves once everything queued before it has run (and at once when idle)', { skip }, async () => {
    if ('error' in addon) return failNativeMissing(addon);
    await addon.flushAsync();
    const dims = [8, 32, 56, 56];
    const size = dims.reduce((p, d) => p * d, 1);
    const plain = addon.plainDesc(dims);
    const conv = addon.conv2dPlan(conv2dGeometry([8, 32, 56, 56], [32, 32, 3, 3], { padding: 1 }), {
      bias: false,
      relu: false,
      sum: false,
      training: false,
    });
    const src = values(size, 3);
    const blocked = new Float32Array(addon.descInfo(conv.src).bytes / 4);
    const back = new Float32Array(size);
    addon.exec(addon.reorderPlan(plain, conv.src), [src, blocked]);
    addon.exec(addon.reorderPlan(conv.src, plain), [blocked, back]);
    const done = addon.flushAsync();
    const both = await Promise.all([done, addon.flushAsync()]);
    assert.equal(both.length, 2);
    assert.equal(addon.pending(), 0);
    assert.deepEqual(bits(back), bits(src));
  });

  // The worker wakes the main thread only for the command a promise waits for (not after every
  // command), so each waiter must still settle, in order, once its own commands have run.
  it('promises waiting at different points of the queue each settle, in order, after their own work', {
    skip,
    timeout: 60_000,
  }, async () => {
    if ('error' in addon) return failNativeMissing(addon);
    const dims = [4, 16, 28, 28];
    const size = dims.reduce((p, d) => p * d, 1);
    const conv = addon.conv2dPlan(conv2dGeometry(dims, [16, 16, 3, 3], { padding: 1 }), {
      bias: false,
      relu: false,
      sum: false,
      training: false,
    });
    const plain = addon.plainDesc(dims);
    const toBlocked = addon.reorderPlan(plain, conv.src);
    const toPlain = addon.reorderPlan(conv.dst, plain);
    const weights = new Float32Array(addon.descInfo(conv.weights).bytes / 4).fill(0.01);
    const stages = Array.from({ length: 6 }, (_, i) => ({
      src: values(size, 10 + i),
      blocked: new Float32Array(addon.descInfo(conv.src).bytes / 4),
      out: new Float32Array(addon.descInfo(conv.dst).bytes / 4),
      back: new Float32Array(size),
    }));
    const settled: number[] = [];
    const waits = stages.map((s, i) => {
      // stage i: a few commands (the last one copies its input back), then a promise
      addon.exec(toBlocked, [s.src, s.blocked]);
      for (let k = 0; k < 1 + i; k++) addon.exec(conv.plan, [s.blocked, weights, s.out]);
      addon.exec(toPlain, [s.out, s.back]);
      addon.exec(addon.reorderPlan(conv.src, plain), [s.blocked, s.back]);
      return addon.flushAsync().then(() => {
        settled.push(i);
        assert.deepEqual(bits(s.back), bits(s.src), `stage ${i}: its work had not run when its promise settled`);
      });
    });
    await Promise.all(waits);
    assert.deepEqual(settled, [0, 1, 2, 3, 4, 5]);
    assert.equal(addon.pending(), 0);
    await addon.flushAsync(); // and one more on an idle queue
  });

  it('times each command on the worker while timing is on (the profile), by sequence number', { skip }, () => {
    if ('error' in addon) return failNativeMissing(addon);
    addon.flushSync();
    const dims = [4, 64, 32, 32];
    const size = dims.reduce((p, d) => p * d, 1);
    const plain = addon.plainDesc(dims);
    const copy = addon.reorderPlan(plain, plain);
    const [a, b] = [values(size, 4), new Float32Array(size)];
    addon.exec(copy, [a, b]); // before timing: not recorded
    addon.flushSync();
    addon.setQueueTiming(true);
    const first = addon.submitted() + 1;
    for (let i = 0; i < 3; i++) addon.exec(copy, [a, b]);
    assert.equal(addon.submitted(), first + 2);
    addon.flushSync();
    const times = Array.from(addon.takeQueueTimes());
    assert.deepEqual(
      times.filter((_, i) => i % 2 === 0),
      [first, first + 1, first + 2],
    );
    for (const ms of times.filter((_, i) => i % 2 === 1)) assert.ok(ms > 0 && ms < 10_000, `${ms} ms`);
    assert.equal(addon.takeQueueTimes().length, 0, 'taken once');
    addon.setQueueTiming(false);
    addon.exec(copy, [a, b]);
    addon.flushSync();
    assert.equal(addon.takeQueueTimes().length, 0, 'off: nothing kept');
    assert.deepEqual(bits(b), bits(a));
    assert.throws(
      () => addon.setQueueTiming(1 as unknown as boolean),
      /setQueueTiming: argument 'on' must be a boolean/,
    );
  });

  it('evictFromCache keeps the values (it only drops cache lines) and names a bad argument', { skip }, () => {
    if ('error' in addon) return failNativeMissing(addon);
    const a = values(100_003, 5).subarray(3);
    const before = bits(a);
    assert.equal(addon.evictFromCache(a), process.arch === 'x64' || process.arch === 'ia32');
    assert.deepEqual(bits(a), before);
    assert.throws(
      () => addon.evictFromCache([1, 2] as unknown as Float32Array),
      /evictFromCache: argument 'array' must be a typed array/,
    );
  });

  it('reorders plain -> blocked -> plain exactly (activations, weights, grouped weights, -0 and NaN)', { skip }, () => {
    if ('error' in addon) return failNativeMissing(addon);
    const forward = addon.conv2dPlan(GEOMETRY, { bias: false, relu: false, sum: false, training: true });
    const grouped = addon.conv2dBackwardWeightsPlan(GROUPED, { bias: false });
    const cases: [number, number[]][] = [
      [forward.src, [2, 16, 7, 6]],
      [forward.dst, [2, 32, 7, 6]],
      [forward.weights, [32, 16, 3, 3]],
      [grouped.diffWeights, [4, 4, 4, 3, 3]],
    ];
    let blockedSeen = 0;
    for (const [desc, dims] of cases) {
      const info = addon.descInfo(desc);
      assert.deepEqual(info.dims, dims);
      if (!info.plain) blockedSeen++;
      const plain = addon.plainDesc(dims);
      const size = dims.reduce((p, d) => p * d, 1);
      const src = values(size, size);
      src[0] = -0;
      src[size - 1] = NaN;
      const blocked = new Float32Array(info.bytes / 4).fill(7);
      const back = new Float32Array(size);
      addon.exec(addon.reorderPlan(plain, desc), [src, blocked]);
      addon.exec(addon.reorderPlan(desc, plain), [blocked, back]);
      addon.flushSync();
      assert.deepEqual(bits(back), bits(src), `round trip through desc ${desc} (${dims.join('x')})`);
    }
    assert.ok(blockedSeen >= 2, 'oneDNN chose no blocked layouts: the round trip tested nothing');
  });

  it('zeros get their array only when first used: a model built to be loaded allocates no parameters', { skip }, () => {
    if ('error' in addon) return failNativeMissing(addon);
    const rt = nativeRuntime();
    const allocate = rt.allocate.bind(rt);
    let allocated = 0;
    rt.allocate = (floats: number) => {
      allocated += floats;
      return allocate(floats);
    };
    try {
      const w = ops.zeros([8, 3, 3, 3], { backend: 'native' });
      const b = ops.zeros([8], { backend: 'native' });
      assert.equal(allocated, 0, 'nothing allocated for zeros not yet used');
      w.assign(ops.fromArray(values(w.size, 3), w.shape, { backend: 'native' }));
      assert.equal(allocated, 0, 'a replaced storage never allocates');
      const x = ops.fromArray(values(2 * 3 * 5 * 5, 4), [2, 3, 5, 5], { backend: 'native' });
      const y = noGrad(() => ops.conv2d(x, w, b, { padding: 1 }));
      const ref = (t: typeof w) => ops.fromArray(t.toArray(), t.shape, { backend: 'ref' });
      assertClose('conv with a zero bias', y.toArray(), ops.conv2d(ref(x), ref(w), null, { padding: 1 }).toArray());
      assert.ok(allocated >= b.size, 'the bias got its array when the conv used it');
      assert.deepEqual(Array.from(b.toArray()), new Array(8).fill(0));
      const unused = ops.zeros([4], { backend: 'native' });
      const storage = unused.storage as unknown as { buffer: unknown };
      unused.dispose();
      assert.throws(() => storage.buffer, /used after it was freed/, 'freed before use: no array is made then');
    } finally {
      rt.allocate = allocate;
    }
  });

  it('reuses pooled buffers without corrupting values that queued work still reads', { skip }, () => {
    const rt = nativeRuntime();
    const run = (backend: string): Float32Array[] =>
      noGrad(() => {
        const x = ops.fromArray(values(2 * 16 * 9 * 9, 11), [2, 16, 9, 9], { backend });
        const w = ops.fromArray(values(16 * 16 * 9, 12), [16, 16, 3, 3], { backend });
        const out: Float32Array[] = [];
        let h = x;
        for (let i = 0; i < 6; i++) {
          const next = ops.relu(ops.add(ops.conv2d(h, w, null, { padding: 1 }), h));
          if (h !== x) h.dispose(); // its buffer goes back to the pool while queued work may read it
          h = ops.mul(next, 0.5);
          next.dispose();
          if (i % 2 === 1) out.push(Float32Array.from(h.toArray()));
        }
        return out;
      });
    const ref = run('ref');
    const native = run('native');
    assert.ok(rt.pooled > 0, 'nothing went back to the pool');
    // Unscaled weights (144-term sums of values up to 1) grow the maps to ~1100 by the sixth conv, so
    // rounding near zero after cancellation scales with the map's largest value: atol 2e-7 of it
    // (at most 4e-8 of it measured).
    native.forEach((v, i) => {
      const scale = ref[i].reduce((m, x) => Math.max(m, Math.abs(x)), 0);
      assertClose(`step ${i}`, v, ref[i], { rtol: 1e-4, atol: 2e-7 * scale });
    });
  });

  it('a full pool gives up the sizes used least recently, not the sizes in use', { skip }, () => {
    if ('error' in addon) return failNativeMissing(addon);
    const rt = new NativeRuntime(addon);
    rt.poolLimitBytes = 4 * 4096; // room for four buffers of 1,024 floats
    const taken = (floats: number): Float32Array => rt.output(rt.plainDesc([floats]), floats).buffer;
    for (let i = 0; i < 3; i++) rt.recycle(new Float32Array(1024)); // an earlier model's size
    const inUse = new Float32Array(1024);
    rt.recycle(new Float32Array(256)); // a size no longer used
    assert.equal(rt.pooled, 3 * 4096 + 1024);
    const recent = taken(1024); // the 1,024-float size is used again: now the most recent
    rt.recycle(recent);
    rt.recycle(inUse); // over the cap: the 256-float buffer goes, not a 1,024-float one
    assert.equal(rt.pooled, 4 * 4096);
    taken(256);
    assert.equal(rt.pooled, 4 * 4096, 'the 256-float buffer was evicted, so a fresh one was made');
    const fresh = new Float32Array(2048);
    rt.recycle(fresh); // a new size evicts old buffers until it fits
    assert.ok(rt.pooled <= rt.poolLimitBytes, `pool holds ${rt.pooled} bytes, cap ${rt.poolLimitBytes}`);
    assert.equal(taken(2048), fresh, 'the newly recycled buffer is handed out again');
    rt.recycle(new Float32Array(8192)); // larger than the whole cap: left to the GC
    assert.ok(rt.pooled <= rt.poolLimitBytes);
  });

  it('large arrays are zeroed and come in huge pages where the kernel offers them', { skip }, () => {
    if ('error' in addon) return failNativeMissing(addon);
    const rt = new NativeRuntime(addon);
    const hugeKb = (): number =>
      Number(readFileSync('/proc/self/smaps_rollup', 'utf8').match(/AnonHugePages:\s+(\d+)/)?.[1]);
    const before = hugeKb();
    const floats = 3 * 2 ** 20 + 5; // 12 MiB and a bit: five whole 2 MiB pages at least
    const a = rt.allocate(floats);
    assert.equal(a.length, floats);
    assert.ok(
      a.every((v) => v === 0),
      'zeroed',
    );
    a.fill(1);
    const thp = readFileSync('/sys/kernel/mm/transparent_hugepage/enabled', 'utf8');
    if (!thp.includes('[never]')) assert.ok(hugeKb() - before >= 5 * 2048, `huge pages used (THP: ${thp.trim()})`);
    assert.equal(rt.allocate(1000).length, 1000, 'small arrays as before');
    assert.throws(() => addon.hugeBuffer(0), /hugeBuffer: argument 'bytes' must be positive/);
  });

  it('mid-sized arrays come from the huge-page arena: zeroed, each its own, reused after GC, chunks unmapped', {
    skip,
  }, () => {
    if ('error' in addon) return failNativeMissing(addon);
    assert.throws(() => addon.arenaBuffer(65535), /arenaBuffer: argument 'bytes' must be at least 65536 and below/);
    assert.throws(() => addon.arenaBuffer(2 ** 21), /got 2097152/);
    // In a child with --expose-gc, so collection (and the finalizers that give regions back) can be forced.
    const script = `
      import { loadNativeAddon } from './src/backend/native/index.ts';
      import { NativeRuntime } from './src/backend/native/runtime.ts';
      const a = loadNativeAddon();
      const rt = new NativeRuntime(a);
      const check = (ok, what) => { if (!ok) { console.error(what, JSON.stringify(a.arenaStats())); process.exit(3); } };
      const settle = async () => { for (let i = 0; i < 4; i++) { gc(); await new Promise((r) => setImmediate(r)); } };
      const base = a.arenaStats();
      let arrays = Array.from({ length: 40 }, (_, i) => rt.allocate(20_000 + 1000 * i)); // 80-236 KiB each
      const buffers = new Set(arrays.map((x) => x.buffer));
      check(buffers.size === 40, 'not one ArrayBuffer per array');
      check(arrays.every((x, i) => x.length === 20_000 + 1000 * i && x.every((v) => v === 0)), 'not zeroed');
      check(arrays.every((x) => x.byteOffset % 64 === 0 && a.alignmentGap(x.buffer) === 0), 'not 64-byte aligned');
      arrays.forEach((x, i) => x.fill(i + 1));
      check(arrays.every((x, i) => x.every((v) => v === i + 1)), 'arrays overlap');
      const held = a.arenaStats();
      check(held.liveBytes - base.liveBytes >= 40 * 80_000 && held.chunks > base.chunks, 'not from the arena');
      arrays = null;
      buffers.clear();
      await settle();
      check(a.arenaStats().liveBytes === base.liveBytes, 'regions not given back after GC');
      const again = Array.from({ length: 40 }, (_, i) => rt.allocate(20_000 + 1000 * i));
      check(again.every((x) => x.every((v) => v === 0)), 'a reused region is not zeroed');
      check(a.arenaStats().chunks <= held.chunks, 'freed regions were not reused');
      again.length = 0;
      await settle();
      check(a.arenaStats().chunks <= base.chunks + 1, 'chunks whose regions are all free stay mapped');
    `;
    const child = spawnSync(process.execPath, ['--expose-gc', '--import', 'tsx', '--input-type=module', '-e', script], {
      cwd: process.cwd(),
      timeout: 60_000,
      encoding: 'utf8',
    });
    assert.equal(child.signal, null, 'the child hung until killed');
    assert.equal(child.status, 0, child.stderr);
  });

  it('a size the pool lacks gets a view of a buffer up to twice as large, which goes back whole', { skip }, () => {
    if ('error' in addon) return failNativeMissing(addon);
    const rt = new NativeRuntime(addon);
    const taken = (floats: number): Float32Array => rt.output(rt.plainDesc([floats]), floats).buffer;
    const [small, large] = [new Float32Array(1000), new Float32Array(1900)];
    rt.recycle(large);
    rt.recycle(small);
    const view = taken(950); // the 1,000-float buffer is the smallest that fits
    assert.equal(view.length, 950);
    assert.equal(view.buffer, small.buffer, 'a view of the smallest buffer that fits');
    assert.equal(rt.pooled, 1900 * 4);
    assert.notEqual(taken(600).buffer, large.buffer, 'more than twice the size: not used, a fresh array is made');
    rt.recycle(view);
    assert.equal(rt.pooled, (1000 + 1900) * 4, 'the whole buffer went back');
    assert.equal(taken(1000), small, 'to its own size');
  });

  it('hands a blocked map to a kernel that views it over merged spatial dims without a copy', { skip }, () => {
    // Batch norm sees [N, C, H*W, 1] where a conv wrote [N, C, H, W]: in nChw16c the same bytes.
    if ('error' in addon) return failNativeMissing(addon);
    const rt = nativeRuntime();
    const plan = addon.conv2dPlan(GEOMETRY, { bias: false, relu: false, sum: false, training: false });
    const { dims } = addon.descInfo(plan.dst);
    const [n, c, h, w] = dims;
    const flat = addon.reshapedDesc(plan.dst, [n, c, h * w, 1]);
    assert.ok(flat >= 0, 'a blocked map has a view over [N, C, H*W, 1]');
    assert.deepEqual(addon.descInfo(flat).dims, [n, c, h * w, 1]);
    assert.equal(addon.descInfo(flat).bytes, addon.descInfo(plan.dst).bytes);
    assert.equal(addon.reshapedDesc(plan.dst, [n * c, h, w, 1]), -1, 'merging the blocked channels is no view');
    const map = rt.output(plan.dst, n * c * h * w);
    assert.equal(rt.input(map, flat, [n, c, h * w, 1]), map.buffer, 'the same buffer, not a converted copy');
    assert.equal(rt.descOf(map, [n, c, h * w, 1]), flat);
    map.release();
  });

  it('setThreads changes the thread count of both addon threads and results stay the same', { skip }, () => {
    if ('error' in addon) return failNativeMissing(addon);
    const rt = nativeRuntime();
    const before = rt.getThreads();
    const conv = (): Float32Array =>
      noGrad(() => {
        const x = ops.fromArray(values(2 * 16 * 12 * 12, 21), [2, 16, 12, 12], { backend: 'native' });
        const w = ops.fromArray(values(32 * 16 * 9, 22), [32, 16, 3, 3], { backend: 'native' });
        return Float32Array.from(ops.conv2d(x, w, null, { padding: 1 }).toArray());
      });
    const many = conv();
    try {
      rt.setThreads(1);
      assert.equal(addon.getThreads(), 1);
      assertClose('conv on one thread', conv(), many);
      rt.setThreads(2);
      assert.equal(addon.getThreads(), 2);
      assertClose('conv on two threads', conv(), many);
    } finally {
      rt.setThreads(before);
    }
    assert.equal(addon.getThreads(), before);
  });

  it('fused conv post-ops (addend, relu) match the reference, and the addend is left unchanged', { skip }, () => {
    const run = (
      backend: string,
      blockedAddend: boolean,
      bias: boolean,
      relu: boolean,
    ): { y: Float32Array; before: Float32Array; after: Float32Array } =>
      noGrad(() => {
        const t = (shape: number[], seed: number) =>
          ops.fromArray(
            values(
              shape.reduce((p, d) => p * d, 1),
              seed,
            ),
            shape,
            { backend },
          );
        const x = t([2, 16, 6, 5], 31);
        const w = t([24, 16, 3, 3], 32);
        const b = bias ? t([24], 33) : null;
        // A conv output is blocked on native; a fromArray tensor is plain.
        const addend = blockedAddend ? ops.conv2d(t([2, 8, 6, 5], 34), t([24, 8, 1, 1], 35)) : t([2, 24, 6, 5], 36);
        const before = Float32Array.from(addend.toArray());
        const y = ops.conv2d(x, w, b, { padding: 1 }, { addend, relu });
        return { y: Float32Array.from(y.toArray()), before, after: Float32Array.from(addend.toArray()) };
      });
    for (const [blockedAddend, bias, relu] of [
      [false, true, true],
      [true, false, true],
      [true, true, false],
      [false, false, false],
    ]) {
      const what = `addend ${blockedAddend ? 'blocked' : 'plain'}, bias ${bias}, relu ${relu}`;
      const ref = run('ref', blockedAddend, bias, relu);
      const nat = run('native', blockedAddend, bias, relu);
      assertClose(`${what}: output`, nat.y, ref.y);
      assert.deepEqual(bits(nat.after), bits(nat.before), `${what}: the addend changed`);
    }
    const reluOnly = (backend: string) =>
      noGrad(() => {
        const x = ops.fromArray(values(3 * 4 * 4, 41), [1, 3, 4, 4], { backend });
        const w = ops.fromArray(values(5 * 3 * 4, 42), [5, 3, 2, 2], { backend });
        return Float32Array.from(ops.conv2d(x, w, null, { stride: 2 }, { relu: true }).toArray());
      });
    const r = reluOnly('native');
    assert.ok(r.every((v) => v >= 0));
    assertClose('relu only', r, reluOnly('ref'));
  });

  it('a process exits on its own while the worker is idle, and after queuing work without flushing', { skip }, () => {
    const script = `
      import { loadNativeAddon } from './src/backend/native/index.ts';
      const a = loadNativeAddon();
      const p = a.plainDesc([1 << 20]);
      const copy = a.reorderPlan(p, p);
      const x = new Float32Array(1 << 20).fill(1), y = new Float32Array(1 << 20);
      a.exec(copy, [x, y]);
      await a.flushAsync();
      if (y[5] !== 1) process.exit(3);
      for (let i = 0; i < 20; i++) a.exec(copy, [x, y]);
    `;
    const child = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      cwd: process.cwd(),
      timeout: 30_000,
      encoding: 'utf8',
    });
    assert.equal(child.signal, null, 'the process hung until killed');
    assert.equal(child.status, 0, child.stderr);
  });
});
