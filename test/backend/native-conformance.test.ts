/**
 * The native backend (oneDNN) against the reference backend: every OP_CASES entry of native-cases/
 * forward and backward, every PLAN_ERRORS entry refused, and bad input to exec. When the addon is
 * not built, every test is registered as skipped with the reason.
 */
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { loadNativeAddon, nativeCallCount, nativeRuntime } from '../../src/backend/native/index.js';
import { PLAIN, type NativeStorage } from '../../src/backend/native/runtime.js';
import { noGrad } from '../../src/core/grad-mode.js';
import type { Tensor } from '../../src/core/tensor.js';
import * as ops from '../../src/ops/index.js';
import { conv2dGeometry } from '../../src/ops/conv2d.js';
import type { NativeCaseFile } from './native-case.js';
import { POOL } from './native-cases/pool.js';
import { LRN } from './native-cases/norm.js';
import { assertClose, failNativeMissing, nativeSkipReason, seededValues as values, seedOf } from './native-helpers.js';

const addon = loadNativeAddon();
const skip = nativeSkipReason('native-conformance');

// Every file of native-cases/ is one family's test data (as binding.gyp compiles every .cc file),
// so a new op's cases need no registration.
const CASE_DIR = join(dirname(fileURLToPath(import.meta.url)), 'native-cases');
const FAMILIES: [string, NativeCaseFile][] = await Promise.all(
  readdirSync(CASE_DIR)
    .filter((f) => f.endsWith('.ts'))
    .sort()
    .map(
      async (f): Promise<[string, NativeCaseFile]> => [
        f.replace(/\.ts$/, ''),
        (await import(pathToFileURL(join(CASE_DIR, f)).href)) as NativeCaseFile,
      ],
    ),
);
const OP_CASES = FAMILIES.flatMap(([, file]) => file.OP_CASES);

/** Output and input gradients of f on one backend, for the upstream gradient R. */
function run(
  backend: string,
  shapes: readonly (readonly number[])[],
  f: (...xs: Tensor[]) => Tensor,
  seed: number,
): { y: Float32Array; grads: Float32Array[] } {
  const inputs = shapes.map((s, i) =>
    ops.fromArray(
      values(
        s.reduce((a, b) => a * b, 1),
        seed + i,
      ),
      s,
      { backend, requiresGrad: true },
    ),
  );
  const y = f(...inputs);
  // The upstream gradient R directly (no extra ops, so native-call counting sees only f's kernels).
  y.backward(ops.fromArray(values(y.size, seed + 100), y.shape, { backend }));
  const grads = inputs.map((x, i) => {
    assert.ok(x.grad, `input ${i} got no gradient on ${backend}`);
    return Float32Array.from(x.grad.toArray());
  });
  return { y: Float32Array.from(y.toArray()), grads };
}

describe('native backend conformance with the reference backend', () => {
  it('case flags agree with the case names (space-to-depth cases force the cut, fallbacks are marked)', () => {
    assert.ok(OP_CASES.length > 0, `no cases found in ${CASE_DIR}`);
    assert.equal(new Set(OP_CASES.map((c) => c.name)).size, OP_CASES.length, 'case names must be unique');
    for (const c of OP_CASES) {
      assert.equal(c.spaceToDepth === 'always', c.name.includes('space-to-depth'), `${c.name}: spaceToDepth`);
      assert.equal(c.refFallback === true, c.name.includes('(ref fallback)'), `${c.name}: refFallback`);
    }
  });

  for (const c of OP_CASES) {
    it(`${c.name}: forward and backward agree`, { skip }, () => {
      const ref = run('ref', c.inputs, c.f, seedOf(c.name));
      const before = nativeCallCount();
      const rt = nativeRuntime();
      const cut = c.spaceToDepth === 'always';
      const cutsBefore = rt.spaceToDepthCuts;
      rt.spaceToDepth = cut ? 'always' : 'auto';
      let native: ReturnType<typeof run>;
      try {
        native = run('native', c.inputs, c.f, seedOf(c.name));
      } finally {
        rt.spaceToDepth = 'auto';
      }
      // The counter counts cut convs: forced cases must cut; the others may (auto) on AVX2 only.
      if (cut) assert.ok(rt.spaceToDepthCuts > cutsBefore, 'the space-to-depth cut did not run');
      // Cases marked refFallback must not reach oneDNN; all others must.
      const fallback = c.refFallback === true;
      assert.equal(
        nativeCallCount() > before,
        !fallback,
        fallback ? 'a fallback case ran a native kernel' : 'no native kernel ran',
      );
      assertClose(`${c.name} forward`, native.y, ref.y);
      native.grads.forEach((g, i) => assertClose(`${c.name} gradient of input ${i}`, g, ref.grads[i]));
    });
  }
});

describe('native addon plan functions refuse bad arguments, naming them', () => {
  for (const [family, file] of FAMILIES) {
    if (file.PLAN_ERRORS.length === 0) continue;
    it(`${family}: ${file.PLAN_ERRORS.map((e) => e.name).join('; ')}`, { skip }, () => {
      if ('error' in addon) return failNativeMissing(addon);
      for (const e of file.PLAN_ERRORS) assert.throws(() => e.call(addon), e.error, `${family}: ${e.name}`);
      assert.equal(addon.pending(), 0, 'a refused call queued work');
    });
  }
});

describe('native addon argument checks', () => {
  // 1x1x4x4 input, one 3x3 filter, no padding: a 2x2 output.
  const geometry = conv2dGeometry([1, 1, 4, 4], [1, 1, 3, 3]);
  const options = { bias: false, relu: false, sum: false, training: false };

  it('exec with a buffer of the wrong size or type throws a JS error naming the op and buffer, and queues nothing', {
    skip,
  }, () => {
    if ('error' in addon) return failNativeMissing(addon);
    const plain = addon.plainDesc([1, 1, 2, 2]);
    const plan = addon.reorderPlan(plain, plain);
    const y = new Float32Array(4);
    assert.throws(
      () => addon.exec(plan, [new Float32Array(3), y]),
      /reorder: buffer 0 \(src\) has 12 bytes, expected at least 16/,
    );
    assert.throws(
      () => addon.exec(plan, [new Float64Array(4) as unknown as Float32Array, y]),
      /reorder: buffer 0 \(src\) must be a Float32Array/,
    );
    assert.throws(() => addon.exec(plan, [null, y]), /reorder: buffer 0 \(src\) is null but needs 16 bytes/);
    assert.throws(
      () => addon.exec(plan, [new Float32Array(4)]),
      /reorder: argument 'buffers' must be an array of 2 buffers/,
    );
    assert.throws(
      () => addon.exec(plan, [new Float32Array(4), y], { lr: 1 }),
      /reorder: argument 'scalars' is not taken by this plan/,
    );
    const conv = addon.conv2dPlan(geometry, options);
    const dstBytes = addon.descInfo(conv.dst).bytes;
    const buffers = [conv.src, conv.weights].map((d) => new Float32Array(addon.descInfo(d).bytes / 4));
    assert.throws(
      () => addon.exec(conv.plan, [...buffers, new Float32Array(dstBytes / 4 - 1)]),
      new RegExp(`conv2d: buffer 2 \\(dst\\) has ${dstBytes - 4} bytes, expected at least ${dstBytes}`),
    );
    assert.equal(addon.pending(), 0);
    addon.flushSync();
    assert.deepEqual([...y], [0, 0, 0, 0]);
  });

  it('unknown plan and desc ids throw instead of reaching oneDNN', { skip }, () => {
    if ('error' in addon) return failNativeMissing(addon);
    assert.throws(() => addon.exec(123456, []), /exec: argument 'plan' is an unknown plan id \(123456\)/);
    assert.throws(() => addon.exec(-1, []), /exec: argument 'plan' must be a non-negative integer/);
    assert.throws(() => addon.descInfo(987654), /descInfo: argument 'id' is an unknown desc id \(987654\)/);
    assert.throws(
      () => addon.reorderPlan(addon.plainDesc([2]), 987654),
      /reorderPlan: argument 'dst' is an unknown desc id/,
    );
    assert.throws(
      () => addon.reorderPlan(addon.plainDesc([2]), addon.plainDesc([3])),
      /reorderPlan: src and dst descs have different dims/,
    );
  });

  it('plainDesc and setThreads check their arguments', { skip }, () => {
    if ('error' in addon) return failNativeMissing(addon);
    assert.throws(
      () => addon.plainDesc([2, 1.5]),
      /plainDesc: argument 'dims' element 1 must be a non-negative integer/,
    );
    assert.throws(() => addon.setThreads(0), /setThreads: argument 'threads' must be between 1 and 4096/);
  });

  it('a max-pool workspace of the wrong size throws', { skip }, () => {
    if ('error' in addon) return failNativeMissing(addon);
    const pool = { ...POOL, channels: 1, padBottom: 1, padRight: 1 };
    const p = addon.poolPlan('max', pool, addon.plainDesc([1, 1, 4, 4]), { training: true });
    assert.ok(p.workspace !== undefined && addon.descInfo(p.workspace).bytes > 0);
    // The plan may ask for another src layout than the one given (plain is pooled blocked): size by its descs.
    const floats = (desc: number): Float32Array => new Float32Array(addon.descInfo(desc).bytes / 4);
    assert.throws(
      () => addon.exec(p.plan, [floats(p.src), floats(p.dst), new Float32Array(0)]),
      // A blocked input runs convkit's own max-pool loop (a custom plan: buffers are unnamed).
      /pool2d: buffer 2 (\(workspace\) )?has 0 bytes, expected at least/,
    );
  });

  it('an LRN workspace of the wrong size throws', { skip }, (t) => {
    if ('error' in addon) return failNativeMissing(addon);
    const l = addon.lrnPlan(addon.plainDesc([1, 4, 4, 4]), LRN);
    if (l.workspace === undefined || addon.descInfo(l.workspace).bytes === 0)
      return t.skip('oneDNN keeps no LRN workspace on this CPU');
    assert.throws(
      () => addon.exec(l.plan, [new Float32Array(64), new Float32Array(64), new Float32Array(0)]),
      /localResponseNorm: buffer 2 \(workspace\) has 0 bytes/,
    );
  });

  it("the space-to-depth cut of AlexNet's stem is a direct JIT conv, and the stem itself runs as the CPU's oneDNN chooses", {
    skip,
  }, () => {
    if ('error' in addon) return failNativeMissing(addon);
    // The premise of the cut (see space_to_depth.cc): oneDNN 2.6 runs the stem as im2col + gemm on
    // AVX2 and directly on AVX-512; its cut (48 channels, 3x3, stride 1) is direct on both.
    const o = { bias: true, relu: true, sum: false, training: false };
    const stem = addon.conv2dPlan(conv2dGeometry([8, 3, 224, 224], [64, 3, 11, 11], { stride: 4, padding: 2 }), o).gemm;
    console.log(
      `# AlexNet's stem on this CPU: ${stem ? 'im2col + gemm, so convkit runs its space-to-depth cut' : 'a direct conv, so convkit runs it as it is'}`,
    );
    assert.equal(addon.conv2dPlan(conv2dGeometry([8, 48, 57, 57], [64, 48, 3, 3]), o).gemm, false);
  });

  it('grouped convs whose groups do not fill channel blocks still get a JIT kernel, not the reference one', {
    skip,
  }, () => {
    if ('error' in addon) return failNativeMissing(addon);
    // On AVX-512 convs ask for nChw16c; for 2 groups of 24 channels or a depthwise conv with a channel
    // multiplier that lands on oneDNN's reference kernel (ref:any, 100x slower), so the plan asks again with `any`.
    for (const training of [false, true]) {
      const o = { bias: false, relu: false, sum: false, training };
      for (const geometry of [
        conv2dGeometry([2, 48, 13, 13], [64, 24, 3, 3], { padding: 1, groups: 2 }),
        conv2dGeometry([2, 32, 13, 13], [64, 1, 3, 3], { padding: 1, groups: 32 }),
      ]) {
        const { impl } = addon.conv2dPlan(geometry, o);
        const what = `${geometry.inChannels} -> ${geometry.outChannels} in ${geometry.groups} groups`;
        assert.ok(!impl.startsWith('ref'), `conv ${what} (training ${training}) runs on ${impl}`);
      }
    }
  });

  it('channel pads and slices keep the blocked layout, by whole blocks or lane by lane', { skip }, () => {
    if ('error' in addon) return failNativeMissing(addon);
    const blocked = ops.conv2d(
      ops.ones([2, 3, 5, 5], { backend: 'native' }),
      ops.ones([16, 3, 3, 3], { backend: 'native' }),
      null,
      { padding: 1 },
    );
    const desc = (t: { storage: unknown }): number => (t.storage as NativeStorage).desc;
    assert.notEqual(desc(blocked), PLAIN, 'a conv output is blocked');
    const padded = ops.pad(blocked, [0, 0, 0, 0, 0, 16]);
    assert.notEqual(desc(padded), PLAIN, 'a pad by 16 channels stays blocked');
    assert.notEqual(desc(ops.slice(padded, 1, 16, 32)), PLAIN, 'a slice of whole blocks stays blocked');
    const perChannel = (t: Tensor): number[] => [...ops.sum(t, [0, 2, 3]).toArray()];
    assert.deepEqual(perChannel(padded), [...perChannel(blocked), ...Array<number>(16).fill(0)]);
    const lanes = ops.slice(padded, 1, 3, 7);
    assert.notEqual(desc(lanes), PLAIN, 'a slice within a block stays blocked');
    assert.deepEqual(perChannel(lanes), perChannel(blocked).slice(3, 7));
  });

  it('joins and slices of padded blocked maps (DenseNet-BC: 24 + 12 + 12 channels) stay blocked, exactly', {
    skip,
  }, () => {
    if ('error' in addon) return failNativeMissing(addon);
    const rt = nativeRuntime();
    const bytesOf = (t: Tensor): number => rt.descInfo((t.storage as NativeStorage).desc).bytes;
    /** Blocked with its last block padded: more bytes than its values (nChw8c or nChw16c). */
    const paddedBlocked = (t: Tensor): boolean => bytesOf(t) > t.size * 4;
    const make = (shape: number[], seed: number, backend = 'native', requiresGrad = false): Tensor =>
      ops.fromArray(
        values(
          shape.reduce((a, b) => a * b, 1),
          seed,
        ),
        shape,
        { backend, requiresGrad },
      );
    // Conv outputs recorded for training, as a DenseNet-BC layer makes them.
    const maps = [24, 12, 12].map((c, i) =>
      ops.conv2d(make([2, 5, 6, 7], 500 + i), make([c, 5, 3, 3], 510 + i, 'native', true), null, { padding: 1 }),
    );
    // 12 channels pad their last block both in nChw8c (AVX2) and nChw16c (AVX-512); 24 only in the latter.
    for (const m of maps) {
      const padded = m.shape[1] % 8 !== 0 ? paddedBlocked(m) : !rt.descInfo((m.storage as NativeStorage).desc).plain;
      assert.ok(padded, `the test needs padded blocked maps (${m.shape}: ${bytesOf(m)} bytes)`);
    }
    const cases = (xs: Tensor[], backend: string): [string, Tensor][] => {
      const joined = ops.concat(xs, 1);
      return [
        ['concat', joined],
        ['slice 24..36 (across a block boundary)', ops.slice(joined, 1, 24, 36)],
        ['slice 3..43', ops.slice(joined, 1, 3, 43)],
        ['pad 8 + 8 (ResNet option A)', ops.pad(xs[1], [0, 0, 0, 0, 8, 8])],
        ['pad 5 + 2 with 0.5', ops.pad(xs[2], [0, 0, 0, 0, 5, 2], 0.5)],
        [
          'a 1x1 conv over the join (the padding lanes hold zeros)',
          ops.conv2d(joined, make([8, 48, 1, 1], 520, backend)),
        ],
      ];
    };
    const actual = cases(maps, 'native');
    const onRef = maps.map((m) => ops.fromArray(Float32Array.from(m.toArray()), [...m.shape], { backend: 'ref' }));
    const expected = cases(onRef, 'ref');
    const bits = (t: Tensor): number[] => Array.from(new Uint32Array(Float32Array.from(t.toArray()).buffer));
    actual.forEach(([name, y], i) => {
      const want = expected[i][1];
      if (name.includes('conv'))
        return assertClose(name, Float32Array.from(y.toArray()), Float32Array.from(want.toArray()));
      assert.ok(!rt.descInfo((y.storage as NativeStorage).desc).plain, `${name} stays blocked`);
      assert.deepEqual(bits(y), bits(want), name);
    });
  });

  it('ops on native tensors report errors from the ops layer as usual', { skip }, () => {
    const x = ops.zeros([1, 3, 4, 4], { backend: 'native' });
    const w = ops.zeros([2, 4, 3, 3], { backend: 'native' });
    assert.throws(() => ops.conv2d(x, w), /conv2d: input has 3 channels, weight expects 4/);
  });
});

describe('inference-only fused ops agree with the reference backend', () => {
  /**
   * concatBatchNorm of maps made on `backend`: plain, or a 1x1 conv's output (native keeps the
   * conv's layout: nChw8c on AVX2; on AVX-512 nChw16c for whole blocks of 16, else nhwc).
   */
  function join(
    backend: string,
    channels: readonly number[],
    made: readonly ('plain' | 'conv')[],
    seed: number,
  ): Float32Array {
    const t = (shape: number[], s: number): Tensor =>
      ops.fromArray(
        values(
          shape.reduce((a, b) => a * b, 1),
          s,
        ),
        shape,
        { backend },
      );
    const xs = channels.map((c, i) =>
      made[i] === 'conv'
        ? ops.conv2d(t([2, 4, 5, 3], seed + i), t([c, 4, 1, 1], seed + 50 + i))
        : t([2, c, 5, 3], seed + i),
    );
    const total = channels.reduce((a, b) => a + b, 0);
    const positive = ops.add(ops.abs(t([total], seed + 90)), 0.5);
    const y = ops.concatBatchNorm(xs, {
      weight: t([total], seed + 91),
      bias: t([total], seed + 92),
      runningMean: t([total], seed + 93),
      runningVar: positive,
      eps: 1e-3,
      relu: true,
    });
    return Float32Array.from(y.toArray());
  }

  const cases = [
    ['conv outputs of whole channel blocks (one pass)', [32, 16, 32], ['conv', 'conv', 'conv']],
    ['plain maps (one pass)', [3, 5, 2], ['plain', 'plain', 'plain']],
    ['conv outputs of odd channel counts (one pass on nhwc, else concat then batch norm)', [12, 7], ['conv', 'conv']],
    ['maps in different layouts (concat, then batch norm)', [16, 5], ['conv', 'plain']],
  ] as const;
  cases.forEach(([name, channels, made], n) => {
    it(`concatBatchNorm (+ ReLU) of ${name}`, { skip }, () => {
      const expected = noGrad(() => join('ref', channels, made, 300 + 10 * n));
      const before = nativeCallCount();
      const actual = noGrad(() => join('native', channels, made, 300 + 10 * n));
      assert.ok(nativeCallCount() > before, 'no native kernel ran');
      assertClose(`concatBatchNorm of ${name}`, actual, expected);
    });
  });

  it('linear + ReLU in one inner product', { skip }, () => {
    const run1 = (backend: string): Float32Array => {
      const t = (shape: number[], s: number): Tensor =>
        ops.fromArray(
          values(
            shape.reduce((a, b) => a * b, 1),
            s,
          ),
          shape,
          { backend },
        );
      return Float32Array.from(
        noGrad(() => ops.linear(t([3, 40], 1), t([24, 40], 2), t([24], 3), { relu: true })).toArray(),
      );
    };
    const expected = run1('ref');
    assert.ok(
      expected.some((v) => v === 0) && expected.some((v) => v > 0),
      'the ReLU clips some outputs and passes others',
    );
    assertClose('linear + ReLU', run1('native'), expected);
  });
});
