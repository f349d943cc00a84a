/**
 * The native backend (oneDNN) against the reference backend: every case of OP_CASES forward and
 * backward, a zoo model forward and a training step, and bad input to the addon. When the addon
 * is not built, every test is registered as skipped with the reason.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { loadNativeAddon, nativeCallCount, nativeRuntime } from '../../src/backend/native/index.js';
import { PLAIN, type NativeStorage } from '../../src/backend/native/runtime.js';
import type { NativePoolGeometry } from '../../src/backend/native/pool.js';
import { noGrad } from '../../src/core/grad-mode.js';
import { Generator } from '../../src/core/random.js';
import type { Tensor } from '../../src/core/tensor.js';
import * as ops from '../../src/ops/index.js';
import { conv2dGeometry } from '../../src/ops/conv2d.js';
import { OP_CASES } from './native-conformance-cases.js';
import { assertClose, failNativeMissing, nativeSkipReason } from './native-helpers.js';

const addon = loadNativeAddon();
const skip = nativeSkipReason('native-conformance');

/** Seeded uniform values in [-1, 1). */
function values(size: number, seed: number): Float32Array {
  const g = new Generator(seed);
  return Float32Array.from({ length: size }, () => g.uniform() * 2 - 1);
}

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
    for (const c of OP_CASES) {
      assert.equal(c.spaceToDepth === 'always', c.name.includes('space-to-depth'), `${c.name}: spaceToDepth`);
      assert.equal(c.refFallback === true, c.name.includes('(ref fallback)'), `${c.name}: refFallback`);
    }
  });

  OP_CASES.forEach((c, n) => {
    it(`${c.name}: forward and backward agree`, { skip }, () => {
      const ref = run('ref', c.inputs, c.f, 1000 * (n + 1));
      const before = nativeCallCount();
      const rt = nativeRuntime();
      const cut = c.spaceToDepth === 'always';
      const cutsBefore = rt.spaceToDepthCuts;
      rt.spaceToDepth = cut ? 'always' : 'auto';
      let native: ReturnType<typeof run>;
      try {
        native = run('native', c.inputs, c.f, 1000 * (n + 1));
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
  });
});

/** A 2x2 stride-2 max pool of a 1x4x4x4 input. */
const POOL: NativePoolGeometry = {
  batch: 1,
  channels: 4,
  inH: 4,
  inW: 4,
  kernelH: 2,
  kernelW: 2,
  strideH: 2,
  strideW: 2,
  padTop: 0,
  padLeft: 0,
  padBottom: 0,
  padRight: 0,
  outH: 2,
  outW: 2,
};

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
      () => addon.exec(plan, [new Float32Array(4), y], new Float64Array(1)),
      /reorder: argument 'scalars' has 1 values, expected 0/,
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

  it('inconsistent geometry and wrong argument types throw instead of reaching oneDNN', { skip }, () => {
    if ('error' in addon) return failNativeMissing(addon);
    const bad = { ...geometry, outH: 3, outW: 3 }; // 4x4 with 3x3 gives 2x2, not 3x3
    assert.throws(
      () => addon.conv2dPlan(bad, options),
      /conv2d: argument 'geometry': output size 3x3 does not match the geometry \(2x2\)/,
    );
    const groups = { ...geometry, inChannels: 3, outChannels: 2, groups: 2 }; // 3 channels in 2 groups
    assert.throws(
      () => addon.conv2dBackwardDataPlan(groups),
      /conv2dBackwardData: argument 'geometry': inChannels \(3\) and outChannels \(2\) must be divisible by groups \(2\)/,
    );
    const { padTop: _, ...missing } = geometry;
    assert.throws(
      () => addon.conv2dBackwardWeightsPlan(missing as typeof geometry, { bias: false }),
      /conv2dBackwardWeight: argument 'geometry' field 'padTop' must be an integer from 0 to \d+, got nothing \(the field is missing\)/,
    );
    assert.throws(
      () => addon.conv2dPlan({ ...geometry, strideH: 1.5 }, options),
      /conv2d: argument 'geometry' field 'strideH' must be an integer from 1 to \d+, got 1.5/,
    );
    assert.throws(
      () => addon.conv2dPlan([1, 2, 3] as unknown as typeof geometry, options),
      /conv2d: argument 'geometry' must be an object with named fields/,
    );
    assert.throws(
      () => addon.conv2dPlan(geometry, { ...options, relu: 1 as unknown as boolean }),
      /conv2d: argument 'options' field 'relu' must be a boolean, got 1/,
    );
    const sizes = { batch: 1, m: 2, k: 2, n: 2, transA: false, transB: false, aBatched: false, bBatched: false };
    assert.throws(
      () => addon.matmulPlan({ ...sizes, transB: 0 as unknown as boolean }),
      /matmul: argument 'sizes' field 'transB' must be a boolean, got 0/,
    );
    assert.throws(
      () => addon.matmulPlan({ ...sizes, m: 0 }),
      /matmul: argument 'sizes' field 'm' must be an integer from 1 to \d+, got 0/,
    );
    assert.throws(
      () => addon.linearPlan({ rows: 2, inFeatures: 3, outFeatures: -1, bias: false, relu: false }),
      /linear: argument 'sizes' field 'outFeatures' must be an integer from 1 to \d+, got -1/,
    );
    assert.throws(() => addon.sgdPlan(-3, false), /sgd: argument 'size' must be a non-negative integer/);
    assert.throws(() => addon.adamPlan(4, 'yes' as unknown as boolean), /adam: argument 'amsgrad' must be a boolean/);
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

  it('pool, LRN, batch norm, eltwise, binary and concat plans check their arguments', { skip }, () => {
    if ('error' in addon) return failNativeMissing(addon);
    const image = addon.plainDesc([1, 4, 4, 4]);
    const pool = POOL;
    assert.throws(
      () => addon.poolPlan('max', { ...pool, outH: 3, outW: 3 }, image, { training: true }),
      /pool2d: argument 'geometry': output size 3x3 does not match the geometry \(2x2\)/,
    );
    assert.throws(
      () => addon.poolPlan('max', pool, image, { training: 'yes' as unknown as boolean }),
      /pool2d: argument 'options' field 'training' must be a boolean, got 'yes'/,
    );
    assert.throws(
      () => addon.poolPlan('max', pool, addon.plainDesc([1, 4, 5, 5]), { training: true }),
      /pool2d: src desc dims do not match the geometry/,
    );
    assert.throws(
      () => addon.poolBackwardPlan('median' as 'max', pool, image),
      /pool2dBackward: unknown pooling 'median'/,
    );
    const lrn = { size: 3, alpha: 1e-4, beta: 0.75, k: 1, training: true };
    assert.throws(
      () => addon.lrnPlan(image, { ...lrn, size: 4 }),
      /localResponseNorm: argument 'options' field 'size' must be odd, got 4/,
    );
    assert.throws(
      () => addon.lrnPlan(image, { ...lrn, alpha: Number.NaN }),
      /localResponseNorm: argument 'options' field 'alpha' must be a finite number, got NaN/,
    );
    assert.throws(
      () => addon.lrnBackwardPlan(addon.plainDesc([4, 4]), lrn),
      /localResponseNormBackward: src must have 3 to 5 dims/,
    );
    const l = addon.lrnPlan(image, lrn);
    if (l.workspace !== undefined && addon.descInfo(l.workspace).bytes > 0) {
      assert.throws(
        () => addon.exec(l.plan, [new Float32Array(64), new Float32Array(64), new Float32Array(0)]),
        /localResponseNorm: buffer 2 \(workspace\) has 0 bytes/,
      );
    }
    const bn = { training: true, affine: true, relu: false, eps: 1e-5 };
    assert.throws(
      () => addon.batchNormBackwardPlan(image, { affine: true, eps: 1e-5, globalStats: true, relu: true }),
      /batchNormBackward: a fused relu needs the training forward's workspace/,
    );
    assert.throws(
      () => addon.batchNormPlan(image, { ...bn, eps: -1 }),
      /batchNorm: option 'eps' must be a finite number >= 0/,
    );
    assert.throws(
      () =>
        addon.batchNormBackwardPlan(image, {
          affine: true,
          eps: 0,
          globalStats: 'no' as unknown as boolean,
          relu: false,
        }),
      /batchNormBackward: option 'globalStats' must be a boolean/,
    );
    assert.throws(() => addon.eltwisePlan('gelu' as 'relu', image), /activation: unknown activation 'gelu'/);
    assert.throws(
      () => addon.binaryPlan('add', addon.plainDesc([2, 3]), addon.plainDesc([3, 3])),
      /binary: every dim of b must equal a's or be 1/,
    );
    assert.throws(() => addon.binaryPlan('max' as 'add', image, image), /binary: unknown op 'max'/);
    assert.throws(
      () => addon.concatPlan(1, [addon.plainDesc([2, 3]), addon.plainDesc([3, 3])]),
      /concat: sources differ outside the concatenation axis/,
    );
    assert.throws(() => addon.concatPlan(2, [addon.plainDesc([2, 3])]), /concat: axis is out of range/);
    assert.throws(() => addon.concatPlan(0, []), /concat: argument 'srcs' must be a non-empty array/);
    const pair = addon.plainDesc([2, 3]);
    assert.throws(
      () => addon.windowPlan(pair, [3, 0], [0, 0], [1, 3], 0),
      /window: axis 0 has source 2 from 3, destination 1 from 0: out of range or empty/,
    );
    assert.throws(() => addon.windowPlan(pair, [0, 0], [0, 0], [2, 0], 0), /window: axis 1 .* out of range or empty/);
    assert.throws(
      () => addon.windowPlan(pair, [0], [0, 0], [2, 3], 0),
      /window: argument 'srcBegin' must be an array of 2 integers/,
    );
    assert.throws(
      () => addon.windowPlan(pair, [0, 0], [0, 0], [2, 3], Number.POSITIVE_INFINITY),
      /window: argument 'value' must be a finite number/,
    );
    assert.throws(() => addon.reducePlan('prod' as 'sum', [2, 3], [0]), /reduce: unknown op 'prod'/);
    assert.throws(() => addon.reducePlan('sum', [2, 3], [2]), /reduce: axis 2 is out of range/);
    assert.throws(() => addon.nllLossPlan(0, 3, 'mean', 0), /nllLoss: n and c must be positive/);
    assert.throws(
      () => addon.nllLossBackwardPlan(2, 3, 'avg' as 'mean', 0),
      /nllLossBackward: unknown reduction 'avg'/,
    );
    assert.throws(() => addon.nllLossPlan(2, 3, 'sum', 1.5), /nllLoss: labelSmoothing must be in \[0, 1\]/);
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
    assert.throws(
      () =>
        addon.spaceToDepthInputPlan({
          batch: 1,
          channels: 3,
          inH: 8,
          inW: 8,
          strideH: 0,
          strideW: 2,
          padTop: 0,
          padLeft: 0,
          outH: 4,
          outW: 4,
        }),
      /spaceToDepth: argument 'sizes' field 'strideH' must be an integer from 1 to \d+, got 0/,
    );
    assert.throws(
      () =>
        addon.spaceToDepthWeightsPlan({ outChannels: 4, inChannels: 3, kernelH: 3 } as Parameters<
          typeof addon.spaceToDepthWeightsPlan
        >[0]),
      /spaceToDepthWeights: argument 'sizes' field 'kernelW' must be an integer from 1 to \d+, got nothing/,
    );
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

  it('channel pads and slices by whole blocks keep the blocked layout; others go plain', { skip }, () => {
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
    assert.equal(desc(ops.slice(padded, 1, 3, 7)), PLAIN);
    const perChannel = (t: Tensor): number[] => [...ops.sum(t, [0, 2, 3]).toArray()];
    assert.deepEqual(perChannel(padded), [...perChannel(blocked), ...Array<number>(16).fill(0)]);
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
