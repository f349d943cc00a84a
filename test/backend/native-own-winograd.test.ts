/**
 * convkit's Winograd F(2x2, 3x3) kernel for AVX2 builds (native/src/own_winograd.cc), its F(4x4,
 * 3x3) forward and backward weights and its F(2x2, 5x5) forward (own_winograd_6pt.h), run
 * through their plans directly so that every host with AVX2 tests them (on AVX-512 builds 'own' runs the other
 * kernel; native-own-conv.test.ts runs this one through the ops on AVX2 builds, `npm run
 * check:avx2`): against the reference backend on maps with odd sizes (partial tiles), channels
 * that fill no 8-channel block or 16-output group, 1x1 and one-row maps, a conv whose transformed
 * weights outgrow the L2 cache (the shared schedule) and many tile groups; padded output lanes
 * written as zeros; NaN and infinities exactly where oneDNN's direct kernel has them.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { nativeRuntime } from '../../src/backend/native/index.js';
import type { NativeRuntime } from '../../src/backend/native/runtime.js';
import { resetSettings } from '../../src/core/config.js';
import { sizeOf } from '../../src/core/shape.js';
import * as ops from '../../src/ops/index.js';
import { conv2dGeometry } from '../../src/ops/conv2d.js';
import type { Tensor } from '../../src/core/tensor.js';
import { assertClose, nativeSkipReason, restoreEnvAfter, scaledTolerance, seededValues } from './native-helpers.js';
import { assertPaddingZero, assertWeightPaddingZero, converted, sixPointTolerance } from './winograd-helpers.js';

const skip = nativeSkipReason('native-own-winograd');
restoreEnvAfter(['CONVKIT_CONV_ALGORITHM']);

type Kernel = 'forward' | 'backward weights';

/**
 * The Winograd plan of `kernel` run on plain inputs [x, w] (forward) or [x, gy] (backward
 * weights): its result in plain layout and as the plan wrote it (null: no such kernel here).
 */
function winograd(
  rt: NativeRuntime,
  kernel: Kernel,
  xShape: number[],
  wShape: number[],
  [x, second]: [Float32Array, Float32Array],
  tile: 2 | 4 = 2,
): { out: Float32Array; blocked: Float32Array } | null {
  const g = conv2dGeometry(xShape, wShape, { padding: (wShape[2] - 1) / 2 });
  const yShape = [g.batch, g.outChannels, g.outH, g.outW];
  let plan: { plan: number; impl: string; descs: [number, number, number] };
  try {
    if (kernel === 'forward') {
      const p = rt.addon.ownWinogradPlan(g, { bias: false, relu: false, sum: false, tile });
      plan = { plan: p.plan, impl: p.impl, descs: [p.src, p.weights, p.dst] };
    } else {
      const p = rt.addon.ownWinograd3x3BackwardWeightsPlan(g, { tile });
      plan = { plan: p.plan, impl: p.impl, descs: [p.src, p.diffDst, p.diffWeights] };
    }
  } catch (e) {
    if (e instanceof Error && e.message.includes('has no own implementation')) return null;
    throw e;
  }
  const impl =
    wShape[2] === 5 ? 'convkit:avx2_wino_2x5' : tile === 4 ? 'convkit:avx2_wino_4x3' : 'convkit:avx2_wino_2x3';
  assert.equal(plan.impl, impl);
  const [secondShape, outShape] = kernel === 'forward' ? [wShape, yShape] : [yShape, wShape];
  const [src, other, result] = plan.descs;
  const blocked = new Float32Array(rt.descInfo(result).bytes / 4).fill(Number.NaN); // every value must be written
  rt.exec('test', plan.plan, [converted(rt, x, xShape, src), converted(rt, second, secondShape, other), blocked]);
  const out = new Float32Array(sizeOf(outShape));
  rt.exec('test', rt.reorderPlan(result, rt.plainDesc(outShape)), [blocked, out]);
  rt.flushSync();
  return { out, blocked };
}

/**
 * conv2d(x, w, padding 1) and its weight gradient for the upstream gradient `gy`, on the reference
 * backend or on native with CONVKIT_CONV_ALGORITHM=direct.
 */
function expected(
  backend: string,
  xShape: number[],
  wShape: number[],
  [x, w, gy]: Float32Array[],
): { y: Float32Array; gw: Float32Array } {
  process.env.CONVKIT_CONV_ALGORITHM = 'direct';
  resetSettings();
  const xt = ops.fromArray(x, xShape, { backend });
  const wt = ops.fromArray(w, wShape, { backend, requiresGrad: true });
  const y = ops.conv2d(xt, wt, null, { padding: (wShape[2] - 1) / 2 });
  y.backward(ops.fromArray(gy, y.shape, { backend }));
  return { y: Float32Array.from(y.toArray()), gw: Float32Array.from((wt.grad as Tensor).toArray()) };
}

/** [name, input shape, weight shape] */
const SHAPES: [string, number[], number[]][] = [
  ['16 -> 16 channels, 8x8', [2, 16, 8, 8], [16, 16, 3, 3]],
  ['17 -> 19 channels, 7x9 (odd sizes: partial tiles; blocks not filled)', [3, 17, 7, 9], [19, 17, 3, 3]],
  ['48 -> 12 channels, 5x37 (half a 16-output group)', [2, 48, 5, 37], [12, 48, 3, 3]],
  ['4 -> 5 channels, 1x1 maps (one tile, three quarters outside)', [2, 4, 1, 1], [5, 4, 3, 3]],
  ['16 -> 24 channels, 1x17 (one row)', [2, 16, 1, 17], [24, 16, 3, 3]],
  ['8 -> 8 channels, 13x11, batch 2 (84 tiles: several groups)', [2, 8, 13, 11], [8, 8, 3, 3]],
  ['256 -> 264 channels, 6x5 (4.4 MB of transformed weights: the shared schedule)', [1, 256, 6, 5], [264, 256, 3, 3]],
];

/** 5x5 convs, padded by 2: F(2x2, 5x5) forwards (the backward weights stays oneDNN's). */
const SHAPES_5X5: [string, number[], number[]][] = [
  ['17 -> 19 channels, 7x9 (partial tiles; blocks not filled)', [3, 17, 7, 9], [19, 17, 5, 5]],
  ['64 -> 48 channels, 13x13 (an AlexNet-like map)', [2, 64, 13, 13], [48, 64, 5, 5]],
  ['4 -> 5 channels, 1x1 maps (every tap but the centre in the padding)', [2, 4, 1, 1], [5, 4, 5, 5]],
  ['8 -> 8 channels, 2x3 maps (taps past both borders)', [1, 8, 2, 3], [8, 8, 5, 5]],
];

/** `got` holds NaN and infinities exactly where `direct` does, and close values elsewhere. */
function assertNonFiniteWhereDirect(what: string, got: Float32Array, direct: Float32Array): void {
  for (let i = 0; i < direct.length; i++) {
    const message = `${what} ${i} is ${got[i]}, direct ${direct[i]}`;
    if (Number.isFinite(direct[i]))
      assert.ok(Math.abs(got[i] - direct[i]) <= 1e-4 * (1 + Math.abs(direct[i])), message);
    else assert.ok(Object.is(got[i], direct[i]), message);
  }
}

describe("convkit's Winograd kernel for AVX2 builds", () => {
  for (const [name, xShape, wShape] of SHAPES_5X5)
    it(`5x5, ${name}: the F(2x2, 5x5) forward agrees with the reference, padding lanes zero`, { skip }, (t) => {
      const rt = nativeRuntime();
      const x = seededValues(sizeOf(xShape), xShape[1] * 7 + 4);
      const w = seededValues(sizeOf(wShape), wShape[0] * 5 + 5);
      const gy = seededValues(xShape[0] * wShape[0] * xShape[2] * xShape[3], 6);
      const forward = winograd(rt, 'forward', xShape, wShape, [x, w]);
      if (forward === null) return t.skip('this build has no AVX2 and FMA');
      const want = expected('ref', xShape, wShape, [x, w, gy]);
      assertClose(`${name} forward`, forward.out, want.y, sixPointTolerance(want.y));
      assertPaddingZero(`${name} forward`, forward.blocked, wShape[0], xShape[2] * xShape[3], 8);
    });

  for (const [name, xShape, wShape] of SHAPES) {
    it(`${name}: forward and weight gradient agree with the reference, padding lanes zero`, { skip }, (t) => {
      const rt = nativeRuntime();
      const g = conv2dGeometry(xShape, wShape, { padding: 1 });
      const x = seededValues(sizeOf(xShape), xShape[1] * 7 + 1);
      const w = seededValues(sizeOf(wShape), wShape[0] * 5 + 2);
      const gy = seededValues(g.batch * g.outChannels * g.outH * g.outW, wShape[0] * 3 + 3);
      const forward = winograd(rt, 'forward', xShape, wShape, [x, w]);
      const forward4 = winograd(rt, 'forward', xShape, wShape, [x, w], 4);
      const weights = winograd(rt, 'backward weights', xShape, wShape, [x, gy]);
      const weights4 = winograd(rt, 'backward weights', xShape, wShape, [x, gy], 4);
      if (forward === null || forward4 === null || weights === null || weights4 === null)
        return t.skip('this build has no AVX2 and FMA');
      const want = expected('ref', xShape, wShape, [x, w, gy]);
      assertClose(`${name} forward`, forward.out, want.y, scaledTolerance(want.y));
      assertClose(`${name} F(4x4, 3x3) forward`, forward4.out, want.y, sixPointTolerance(want.y));
      assertClose(`${name} weight gradient`, weights.out, want.gw, scaledTolerance(want.gw));
      assertClose(`${name} F(4x4, 3x3) weight gradient`, weights4.out, want.gw, sixPointTolerance(want.gw));
      assertWeightPaddingZero(`${name} F(4x4, 3x3) weight gradient`, weights4.blocked, wShape[0], wShape[1], 8);
      assertPaddingZero(`${name} forward`, forward.blocked, wShape[0], xShape[2] * xShape[3], 8);
      assertPaddingZero(`${name} F(4x4, 3x3) forward`, forward4.blocked, wShape[0], xShape[2] * xShape[3], 8);
      assertWeightPaddingZero(`${name} weight gradient`, weights.blocked, wShape[0], wShape[1], 8);
    });
  }

  it('gives NaN and infinities exactly where the direct kernel does in a 5x5 forward', { skip }, (t) => {
    const rt = nativeRuntime();
    const [xShape, wShape] = [
      [1, 8, 9, 9],
      [6, 8, 5, 5],
    ];
    const x = seededValues(sizeOf(xShape), 41);
    x[4 * 9 + 4] = Number.NaN;
    const w = seededValues(sizeOf(wShape), 42);
    w[25 * 8 + 24] = Number.POSITIVE_INFINITY; // output 1's last tap of input 0: it meets the padding
    const forward = winograd(rt, 'forward', xShape, wShape, [x, w]);
    if (forward === null) return t.skip('this build has no AVX2 and FMA');
    const direct = expected('native', xShape, wShape, [x, w, seededValues(6 * 81, 43)]).y;
    assert.ok(direct.some((v) => Number.isNaN(v)) && direct.some((v) => Number.isFinite(v)));
    assertNonFiniteWhereDirect('output', forward.out, direct);
    assertPaddingZero('non-finite 5x5 output', forward.blocked, 6, 81, 8);
  });

  it('gives NaN and infinities exactly where the direct kernel does, padding lanes still zero', { skip }, (t) => {
    const rt = nativeRuntime();
    const [xShape, wShape] = [
      [2, 16, 10, 10],
      [13, 16, 3, 3],
    ];
    const x = seededValues(sizeOf(xShape), 31);
    x[4 * 10 + 4] = Number.NaN;
    x[100 + 9] = Number.POSITIVE_INFINITY; // on the border
    const w = seededValues(sizeOf(wShape), 32);
    w[3 * 9 + 8] = Number.NEGATIVE_INFINITY; // a corner tap: it meets the padding, which direct skips
    const gy = seededValues(2 * 13 * 100, 33);
    gy[13 * 100 + 5 * 10 + 5] = Number.NEGATIVE_INFINITY;
    const forward = winograd(rt, 'forward', xShape, wShape, [x, w]);
    const forward4 = winograd(rt, 'forward', xShape, wShape, [x, w], 4);
    const weights = winograd(rt, 'backward weights', xShape, wShape, [x, gy]);
    const weights4 = winograd(rt, 'backward weights', xShape, wShape, [x, gy], 4);
    if (forward === null || forward4 === null || weights === null || weights4 === null)
      return t.skip('this build has no AVX2 and FMA');
    const want = expected('native', xShape, wShape, [x, w, gy]);
    for (const [what, got, direct] of [
      ['output', forward.out, want.y],
      ['F(4x4, 3x3) output', forward4.out, want.y],
      ['weight gradient', weights.out, want.gw],
      ['F(4x4, 3x3) weight gradient', weights4.out, want.gw],
    ] as const) {
      assert.ok(direct.some((v) => Number.isNaN(v)) && direct.some((v) => Math.abs(v) === Number.POSITIVE_INFINITY));
      assertNonFiniteWhereDirect(what, got, direct);
    }
    assertPaddingZero('non-finite output', forward.blocked, wShape[0], xShape[2] * xShape[3], 8);
    assertPaddingZero('non-finite F(4x4, 3x3) output', forward4.blocked, wShape[0], xShape[2] * xShape[3], 8);
    assertWeightPaddingZero('non-finite weight gradient', weights.blocked, wShape[0], wShape[1], 8);
    assertWeightPaddingZero('non-finite F(4x4, 3x3) weight gradient', weights4.blocked, wShape[0], wShape[1], 8);
  });

  for (const tile of [2, 4] as const)
    for (const transformed of [false, true])
      it(`adds a bias and a residual addend and applies a ReLU that keeps NaN, as conv2d with post-ops (F(${tile}x${tile}, 3x3)${
        transformed ? ', weights transformed beforehand, as inference keeps them' : ''
      })`, { skip }, (t) => {
        const rt = nativeRuntime();
        const shapes = [[2, 17, 7, 9], [19, 17, 3, 3], [19], [2, 19, 7, 9]];
        const g = conv2dGeometry(shapes[0], shapes[1], { padding: 1 });
        let p: ReturnType<NativeRuntime['addon']['ownWinogradPlan']>;
        try {
          p = rt.addon.ownWinogradPlan(g, { bias: true, relu: true, sum: true, transformed, tile });
        } catch {
          return t.skip('this build has no AVX2 and FMA');
        }
        assert.equal(
          p.guardWeights !== undefined,
          transformed,
          'guardWeights: the weights as given, with transformed ones',
        );
        const transform = rt.addon.ownWinogradWeightsTransformPlan(g, { tile });
        const run = (values: Float32Array[]): Float32Array => {
          const [x, w, b, addend] = values;
          const blockedWeights = converted(rt, w, shapes[1], transformed ? transform.weights : p.weights);
          let weights = blockedWeights;
          if (transformed) {
            weights = new Float32Array(rt.descInfo(transform.transformed).bytes / 4);
            rt.exec('test', transform.plan, [blockedWeights, weights]);
          }
          const y = new Float32Array(rt.descInfo(p.dst).bytes / 4).fill(Number.NaN);
          const buffers = [
            converted(rt, x, shapes[0], p.src),
            weights,
            b,
            y,
            converted(rt, addend, shapes[3], p.addend as number),
          ];
          rt.exec('test', p.plan, transformed ? [...buffers, blockedWeights] : buffers);
          const out = new Float32Array(sizeOf(shapes[3]));
          rt.exec('test', rt.reorderPlan(p.dst, rt.plainDesc(shapes[3])), [y, out]);
          rt.flushSync();
          assertPaddingZero('post-ops', y, 19, 63, 8);
          return out;
        };
        const reference = (backend: string, values: Float32Array[]): Float32Array => {
          process.env.CONVKIT_CONV_ALGORITHM = 'direct';
          resetSettings();
          const [x, w, b, addend] = shapes.map((shape, i) => ops.fromArray(values[i], shape, { backend }));
          return Float32Array.from(ops.conv2d(x, w, b, { padding: 1 }, { addend, relu: true }).toArray());
        };
        const values = shapes.map((shape, i) => seededValues(sizeOf(shape), 80 + i));
        const want = reference('ref', values);
        assert.ok(want.some((v) => v === 0) && want.some((v) => v > 0), 'the ReLU clips some, not all');
        assertClose('post-ops', run(values), want, tile === 4 ? sixPointTolerance(want) : scaledTolerance(want));
        // A NaN in the addend, an infinity in the bias and one in a weight: the direct loop, as oneDNN's direct kernel.
        values[3][5] = Number.NaN;
        values[2][4] = Number.POSITIVE_INFINITY;
        values[1][9 * 17 * 2 + 4] = Number.NEGATIVE_INFINITY; // output 2's centre tap of input 0
        const direct = reference('native', values);
        const got = run(values);
        assertNonFiniteWhereDirect('post-ops output', got, direct);
        assert.ok(Number.isNaN(got[5]) && got[4 * 63] === Number.POSITIVE_INFINITY);
      });

  it('refuses the convs it cannot run, naming them as conv-algorithm.ts expects', { skip }, () => {
    const rt = nativeRuntime();
    for (const [what, opts] of [
      ['stride 2', { padding: 1, stride: 2 }],
      ['padding 0', {}],
      ['dilation 2', { padding: 1, dilation: 2 }],
    ] as const)
      assert.throws(
        () => rt.addon.ownWinogradPlan(conv2dGeometry([1, 8, 9, 9], [8, 8, 3, 3], opts)),
        /has no own implementation/,
        what,
      );
    assert.throws(
      () => rt.addon.ownWinogradPlan(conv2dGeometry([1, 8, 9, 9], [8, 8, 5, 5], { padding: 1 })),
      /has no own implementation/,
      '5x5 padded by 1',
    );
    const g = conv2dGeometry([1, 8, 9, 9], [8, 8, 3, 3], { padding: 1 });
    const options = { bias: false, relu: false, sum: false, tile: 3 as 2 };
    assert.throws(() => rt.addon.ownWinogradPlan(g, options), /'tile' must be 2 or 4, got 3/);
    assert.throws(() => rt.addon.ownWinogradWeightsTransformPlan(g, options), /'tile' must be 2 or 4, got 3/);
    assert.throws(
      () => rt.addon.ownWinogradWeightsTransformPlan(g, { tile: 4, lanes: 12 as 16 }),
      /'lanes' must be 8 or 16, got 12/,
    );
    // 5x5: F(2x2, 5x5) alone, and no backward weights.
    const g5 = conv2dGeometry([1, 8, 9, 9], [8, 8, 5, 5], { padding: 2 });
    assert.throws(() => rt.addon.ownWinogradPlan(g5, { ...options, tile: 4 }), /has no own4 implementation/);
    assert.throws(() => rt.addon.ownWinograd3x3BackwardWeightsPlan(g5), /has no own implementation/);
  });
});
