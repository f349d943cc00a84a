/**
 * convkit's Winograd F(2x2, 3x3) kernel for AVX2 builds (native/src/own_winograd.cc), run through
 * its plan directly so that every host with AVX2 tests it (on AVX-512 builds 'own' runs the other
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
import { noGrad } from '../../src/core/grad-mode.js';
import { sizeOf } from '../../src/core/shape.js';
import * as ops from '../../src/ops/index.js';
import { conv2dGeometry } from '../../src/ops/conv2d.js';
import { assertClose, nativeSkipReason, restoreEnvAfter, scaledTolerance, seededValues } from './native-helpers.js';

const skip = nativeSkipReason('native-own-winograd');
restoreEnvAfter(['CONVKIT_CONV_ALGORITHM']);

/** The conv's output and the raw nChw8c output buffer, run on the Winograd plan (null: no such kernel here). */
function winograd(
  rt: NativeRuntime,
  xShape: number[],
  wShape: number[],
  x: Float32Array,
  w: Float32Array,
): { y: Float32Array; blocked: Float32Array } | null {
  const g = conv2dGeometry(xShape, wShape, { padding: 1 });
  let p: ReturnType<NativeRuntime['addon']['ownWinograd3x3Plan']>;
  try {
    p = rt.addon.ownWinograd3x3Plan(g);
  } catch (e) {
    if (e instanceof Error && e.message.includes('has no own implementation')) return null;
    throw e;
  }
  assert.equal(p.impl, 'convkit:avx2_wino_2x3');
  const yShape = [g.batch, g.outChannels, g.outH, g.outW];
  const converted = (values: Float32Array, dims: number[], to: number): Float32Array => {
    const out = new Float32Array(rt.descInfo(to).bytes / 4);
    rt.exec('test', rt.reorderPlan(rt.plainDesc(dims), to), [values, out]);
    return out;
  };
  const blocked = new Float32Array(rt.descInfo(p.dst).bytes / 4).fill(Number.NaN); // every value must be written
  rt.exec('test', p.plan, [converted(x, xShape, p.src), converted(w, wShape, p.weights), blocked]);
  const y = new Float32Array(sizeOf(yShape));
  rt.exec('test', rt.reorderPlan(p.dst, rt.plainDesc(yShape)), [blocked, y]);
  rt.flushSync();
  return { y, blocked };
}

/** The padding lanes of an nChw8c buffer of `channels` channels and `pixels` per map: each must be 0. */
function assertPaddingZero(what: string, blocked: Float32Array, channels: number, pixels: number): void {
  const blocks = Math.ceil(channels / 8);
  for (let i = 0; i < blocked.length; i += 8) {
    if (Math.floor(i / 8 / pixels) % blocks !== blocks - 1) continue;
    for (let lane = channels - 8 * (blocks - 1); lane < 8; lane++)
      assert.ok(Object.is(blocked[i + lane], 0), `${what}: padding lane ${lane} at ${i} is ${blocked[i + lane]}`);
  }
}

/** conv2d(x, w, padding 1) on the reference backend, or on native with CONVKIT_CONV_ALGORITHM=direct. */
function expected(backend: string, xShape: number[], wShape: number[], x: Float32Array, w: Float32Array): Float32Array {
  process.env.CONVKIT_CONV_ALGORITHM = 'direct';
  resetSettings();
  const xt = ops.fromArray(x, xShape, { backend });
  const wt = ops.fromArray(w, wShape, { backend });
  return Float32Array.from(noGrad(() => ops.conv2d(xt, wt, null, { padding: 1 })).toArray());
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

describe("convkit's Winograd kernel for AVX2 builds", () => {
  for (const [name, xShape, wShape] of SHAPES) {
    it(`${name}: agrees with the reference, padding lanes zero`, { skip }, (t) => {
      const rt = nativeRuntime();
      const x = seededValues(sizeOf(xShape), xShape[1] * 7 + 1);
      const w = seededValues(sizeOf(wShape), wShape[0] * 5 + 2);
      const ran = winograd(rt, xShape, wShape, x, w);
      if (ran === null) return t.skip('this build has no AVX2 and FMA');
      const want = expected('ref', xShape, wShape, x, w);
      assertClose(name, ran.y, want, scaledTolerance(want));
      assertPaddingZero(name, ran.blocked, wShape[0], xShape[2] * xShape[3]);
    });
  }

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
    const ran = winograd(rt, xShape, wShape, x, w);
    if (ran === null) return t.skip('this build has no AVX2 and FMA');
    const want = expected('native', xShape, wShape, x, w);
    assert.ok(want.some((v) => Number.isNaN(v)) && want.some((v) => Math.abs(v) === Number.POSITIVE_INFINITY));
    for (let i = 0; i < want.length; i++) {
      const message = `output ${i} is ${ran.y[i]}, direct ${want[i]}`;
      if (Number.isFinite(want[i])) assert.ok(Math.abs(ran.y[i] - want[i]) <= 1e-4 * (1 + Math.abs(want[i])), message);
      else assert.ok(Object.is(ran.y[i], want[i]), message);
    }
    assertPaddingZero('non-finite', ran.blocked, wShape[0], xShape[2] * xShape[3]);
  });

  it('refuses the convs it cannot run, naming them as conv-algorithm.ts expects', { skip }, () => {
    const rt = nativeRuntime();
    for (const [what, opts] of [
      ['stride 2', { padding: 1, stride: 2 }],
      ['padding 0', {}],
      ['dilation 2', { padding: 1, dilation: 2 }],
    ] as const)
      assert.throws(
        () => rt.addon.ownWinograd3x3Plan(conv2dGeometry([1, 8, 9, 9], [8, 8, 3, 3], opts)),
        /has no own implementation/,
        what,
      );
  });
});
