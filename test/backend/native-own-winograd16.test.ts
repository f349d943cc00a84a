/**
 * convkit's Winograd F(4x4, 3x3) on 16-channel blocks for AVX-512 builds (native/src/own_winograd16.cc, ownConvPlan with
 * tile 4; own_winograd16_weights.cc, ownConv3x3BackwardWeightsPlan with tile 4), run through its plans, the forward with
 * each post-op (native-own-conv.test.ts runs them through the ops in training):
 * against the reference backend on odd map sizes (partial tiles), channels that fill no block, 1x1 and one-row maps, many
 * groups of tiles spanning images (its prefetches walk across them); padded output lanes written as zeros; NaN and
 * infinities exactly where the direct kernel has them, with an addend too; weights transformed once (inference) by the
 * transform plan of 16 lanes; and the shapes it leaves to the AVX2 kernel.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { nativeRuntime } from '../../src/backend/native/index.js';
import { sizeOf } from '../../src/core/shape.js';
import type { Tensor } from '../../src/core/tensor.js';
import * as ops from '../../src/ops/index.js';
import { conv2dGeometry } from '../../src/ops/conv2d.js';
import { assertClose, nativeSkipReason, seededValues } from './native-helpers.js';
import { assertPaddingZero, assertWeightPaddingZero, converted, sixPointTolerance } from './winograd-helpers.js';

const skip = nativeSkipReason('native-own-winograd16');
const IMPL = 'convkit:avx512_wino_4x3';

type PostOps = { bias: boolean; relu: boolean; sum: boolean; transformed?: boolean };

/** The tile-4 own plan of the 3x3 conv (padding 1) of x over w: what it ran, and its output plain and as written. */
function run(
  xShape: number[],
  wShape: number[],
  post: PostOps,
  [x, w, bias, addend]: Float32Array[],
): { impl: string; out: Float32Array; blocked: Float32Array } {
  const rt = nativeRuntime();
  const g = conv2dGeometry(xShape, wShape, { padding: 1 });
  const yShape = [g.batch, g.outChannels, g.outH, g.outW];
  const p = rt.addon.ownConvPlan(g, { ...post, tile: 4 });
  const blocked = new Float32Array(rt.descInfo(p.dst).bytes / 4).fill(Number.NaN); // every value must be written
  const buffers = [converted(rt, x, xShape, p.src)];
  if (post.transformed) {
    // The weights as inference keeps them: transformed once, by the transform plan of the plan's lanes.
    assert.ok(p.guardWeights !== undefined && p.lanes === 16, 'a transforming plan of 16 lanes');
    const transform = rt.addon.ownWinogradWeightsTransformPlan(g, { tile: 4, lanes: 16 });
    const transformed = new Float32Array(rt.descInfo(transform.transformed).bytes / 4);
    rt.exec('test', transform.plan, [converted(rt, w, wShape, transform.weights), transformed]);
    rt.addon.releasePlan(transform.plan);
    buffers.push(transformed);
  } else buffers.push(converted(rt, w, wShape, p.weights));
  if (post.bias) buffers.push(bias);
  buffers.push(blocked);
  if (post.sum) buffers.push(converted(rt, addend, yShape, p.dst));
  if (p.guardWeights !== undefined) buffers.push(converted(rt, w, wShape, p.guardWeights));
  rt.exec('test', p.plan, buffers);
  const out = new Float32Array(sizeOf(yShape));
  rt.exec('test', rt.reorderPlan(p.dst, rt.plainDesc(yShape)), [blocked, out]);
  rt.flushSync();
  rt.addon.releasePlan(p.plan);
  return { impl: p.impl, out, blocked };
}

/** The tile-4 backward-weights plan on x and the output gradient gy: what it ran, its gradient plain and as written. */
function runWeights(
  xShape: number[],
  wShape: number[],
  [x, gy]: Float32Array[],
  tile: 2 | 4 = 4,
): { impl: string; out: Float32Array; blocked: Float32Array } {
  const rt = nativeRuntime();
  const g = conv2dGeometry(xShape, wShape, { padding: 1 });
  const p = rt.addon.ownConv3x3BackwardWeightsPlan(g, { tile });
  const blocked = new Float32Array(rt.descInfo(p.diffWeights).bytes / 4).fill(Number.NaN);
  const yShape = [g.batch, g.outChannels, g.outH, g.outW];
  rt.exec('test', p.plan, [converted(rt, x, xShape, p.src), converted(rt, gy, yShape, p.diffDst), blocked]);
  const out = new Float32Array(sizeOf(wShape));
  rt.exec('test', rt.reorderPlan(p.diffWeights, rt.plainDesc(wShape)), [blocked, out]);
  rt.flushSync();
  rt.addon.releasePlan(p.plan);
  return { impl: p.impl, out, blocked };
}

/** The weight gradient of conv(x, w, padding 1) for the output gradient gy, on the reference backend. */
function expectedWeights(xShape: number[], wShape: number[], [x, gy]: Float32Array[]): Float32Array {
  const backend = 'ref';
  const w = ops.fromArray(new Float32Array(sizeOf(wShape)), wShape, { backend, requiresGrad: true });
  const y = ops.conv2d(ops.fromArray(x, xShape, { backend }), w, null, { padding: 1 });
  y.backward(ops.fromArray(gy, y.shape, { backend }));
  return Float32Array.from((w.grad as Tensor).toArray());
}

/** relu?(conv(x, w, padding 1) + bias + addend) on the reference backend. */
function expected(
  xShape: number[],
  wShape: number[],
  post: PostOps,
  [x, w, bias, addend]: Float32Array[],
): Float32Array {
  const backend = 'ref';
  let y = ops.conv2d(ops.fromArray(x, xShape, { backend }), ops.fromArray(w, wShape, { backend }), null, {
    padding: 1,
  });
  if (post.bias) y = ops.add(y, ops.fromArray(bias, [1, wShape[0], 1, 1], { backend }));
  if (post.sum) y = ops.add(y, ops.fromArray(addend, y.shape, { backend }));
  if (post.relu) y = ops.relu(y);
  return Float32Array.from(y.toArray());
}

/** Values for [x, w, bias, addend] of a conv. */
function inputs(xShape: number[], wShape: number[], seed: number): Float32Array[] {
  const [n, , h, w] = xShape;
  return [
    seededValues(sizeOf(xShape), seed),
    seededValues(sizeOf(wShape), seed + 1),
    seededValues(wShape[0], seed + 2),
    seededValues(n * wShape[0] * h * w, seed + 3),
  ];
}

/** Whether this build has the kernel (AVX-512): a 16 -> 16 conv's tile-4 plan runs it. */
function built(): boolean {
  return (
    run(
      [1, 16, 4, 4],
      [16, 16, 3, 3],
      { bias: false, relu: false, sum: false },
      inputs([1, 16, 4, 4], [16, 16, 3, 3], 1),
    ).impl === IMPL
  );
}

const SHAPES: [string, number[], number[]][] = [
  ['16 -> 16 channels, 8x8', [2, 16, 8, 8], [16, 16, 3, 3]],
  ['17 -> 19 channels, 7x9 (partial tiles; blocks not filled)', [3, 17, 7, 9], [19, 17, 3, 3]],
  ['48 -> 12 channels, 5x37 (three input blocks, one output block)', [2, 48, 5, 37], [12, 48, 3, 3]],
  ['4 -> 5 channels, 1x1 maps (one tile, three quarters outside)', [2, 4, 1, 1], [5, 4, 3, 3]],
  ['16 -> 40 channels, 1x17 (one row; two output blocks and an odd one)', [2, 16, 1, 17], [40, 16, 3, 3]],
  ['32 -> 32 channels, 13x11, batch 5 (60 tiles: groups across images)', [5, 32, 13, 11], [32, 32, 3, 3]],
];

const POST_OPS: PostOps[] = [
  { bias: false, relu: false, sum: false },
  { bias: true, relu: true, sum: true },
  { bias: true, relu: true, sum: true, transformed: true },
];
const labelOf = (post: PostOps): string =>
  !post.bias ? 'alone' : `with a bias, an addend and a ReLU${post.transformed ? ', weights transformed once' : ''}`;

describe("convkit's Winograd F(4x4, 3x3) on 16-channel blocks (AVX-512 builds)", () => {
  for (const [name, xShape, wShape] of SHAPES)
    for (const post of POST_OPS) {
      const label = labelOf(post);
      it(`${name}, ${label}: agrees with the reference, padding lanes zero`, { skip }, (t) => {
        if (!built()) return t.skip('this build has no AVX-512');
        const values = inputs(xShape, wShape, xShape[1] * 7 + wShape[0]);
        const got = run(xShape, wShape, post, values);
        assert.equal(got.impl, IMPL);
        const want = expected(xShape, wShape, post, values);
        assertClose(`${name} ${label}`, got.out, want, sixPointTolerance(want));
        assertPaddingZero(`${name} ${label}`, got.blocked, wShape[0], xShape[2] * xShape[3], 16);
      });
    }

  for (const [name, xShape, wShape] of SHAPES)
    it(`${name}: the weight gradient agrees with the reference, padding zero`, { skip }, (t) => {
      if (!built()) return t.skip('this build has no AVX-512');
      const [x, , , gy] = inputs(xShape, wShape, xShape[1] * 5 + wShape[0]);
      const got = runWeights(xShape, wShape, [x, gy]);
      assert.equal(got.impl, IMPL);
      const want = expectedWeights(xShape, wShape, [x, gy]);
      assertClose(`${name} weight gradient`, got.out, want, sixPointTolerance(want));
      assertWeightPaddingZero(`${name} weight gradient`, got.blocked, wShape[0], wShape[1], 16);
    });

  it("gives the direct kernel's weight gradient, to the bit, where the input or the gradient holds NaN or infinity", {
    skip,
  }, (t) => {
    if (!built()) return t.skip('this build has no AVX-512');
    const [xShape, wShape] = [
      [2, 16, 9, 10],
      [24, 16, 3, 3],
    ];
    const [x, , , gy] = inputs(xShape, wShape, 41);
    x[4 * 10 + 4] = Number.NaN;
    gy[90 + 9] = Number.POSITIVE_INFINITY;
    const got = runWeights(xShape, wShape, [x, gy]);
    const direct = runWeights(xShape, wShape, [x, gy], 2);
    assert.deepEqual([got.impl, direct.impl], [IMPL, 'convkit:avx512_3x3']);
    assert.ok(
      direct.out.some((v) => !Number.isFinite(v)),
      'the direct kernel has non-finite sums',
    );
    assert.deepEqual(got.blocked, direct.blocked);
  });

  it('gives NaN and infinities exactly where the direct kernel does, with and without an addend', { skip }, (t) => {
    if (!built()) return t.skip('this build has no AVX-512');
    const [xShape, wShape] = [
      [2, 16, 9, 10],
      [24, 16, 3, 3],
    ];
    for (const post of POST_OPS) {
      const values = inputs(xShape, wShape, 31);
      values[0][4 * 10 + 4] = Number.NaN;
      values[0][90 + 9] = Number.POSITIVE_INFINITY; // on the border
      values[1][3 * 9 + 8] = Number.NEGATIVE_INFINITY; // a corner tap: it meets the padding
      const got = run(xShape, wShape, post, values);
      const direct = expected(xShape, wShape, post, values);
      assert.equal(got.impl, IMPL);
      assert.ok(
        direct.some((v) => !Number.isFinite(v)),
        'the reference has non-finite outputs',
      );
      for (let i = 0; i < direct.length; i++) {
        const message = `output ${i} is ${got.out[i]}, reference ${direct[i]}`;
        // The reference multiplies the padding's zeros by the infinite weight (NaN) where the native kernels skip the
        // tap: only outputs the reference has finite or infinite must match.
        if (Number.isFinite(direct[i]))
          assert.ok(Math.abs(got.out[i] - direct[i]) <= 1e-4 * (1 + Math.abs(direct[i])), message);
        else if (!Number.isNaN(direct[i])) assert.ok(Object.is(got.out[i], direct[i]), message);
      }
      assertPaddingZero('non-finite', got.blocked, wShape[0], xShape[2] * xShape[3], 16);
    }
  });

  it('leaves weights past six L2 caches to the AVX2 kernel (its backward weights and 16-lane transform: to none)', {
    skip,
  }, (t) => {
    if (!built()) return t.skip('this build has no AVX-512');
    const { addon } = nativeRuntime();
    // 36 x 1024 x 1024 floats: 151 MiB of transformed weights.
    const large = conv2dGeometry([1, 1024, 4, 4], [1024, 1024, 3, 3], { padding: 1 });
    for (const transformed of [false, true]) {
      const big = addon.ownConvPlan(large, { bias: false, relu: false, sum: false, transformed, tile: 4 });
      assert.deepEqual([big.impl, big.lanes], ['convkit:avx2_wino_4x3', undefined]);
      addon.releasePlan(big.plan);
    }
    assert.throws(() => addon.ownConv3x3BackwardWeightsPlan(large, { tile: 4 }), /has no own4 implementation/);
    assert.throws(
      () => addon.ownWinogradWeightsTransformPlan(large, { tile: 4, lanes: 16 }),
      /has no own implementation/,
    );
    const small = conv2dGeometry([1, 16, 4, 4], [16, 16, 3, 3], { padding: 1 });
    assert.throws(
      () => addon.ownWinogradWeightsTransformPlan(small, { tile: 2, lanes: 16 }),
      /has no own implementation/,
    );
  });
});
