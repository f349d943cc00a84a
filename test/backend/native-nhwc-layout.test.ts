/**
 * The nhwc inference layout (NativeRuntime.inferenceLayout, docs/native-backend.md#activation-layout):
 * convs hand their maps on in nhwc, max pooling runs its own NaN-aware loop on them, and
 * nn.recordInference keeps maps up to some size in nhwc where that measured faster. Checked
 * against the reference backend and against the pass op by op; the sizes proposed, as a pure
 * function. A CPU without brgemm convs (AVX2) keeps maps blocked; there the tests check that
 * recordInference measures nothing.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { nhwcConvsAvailable } from '../../src/backend/native/conv.js';
import { type ConvTiming, nhwcCandidates } from '../../src/backend/native/inference-layout.js';
import { nativeRuntime } from '../../src/backend/native/index.js';
import type { NativeStorage } from '../../src/backend/native/runtime.js';
import { noGrad } from '../../src/core/grad-mode.js';
import { Generator } from '../../src/core/random.js';
import type { Tensor } from '../../src/core/tensor.js';
import { recordInference } from '../../src/nn/record.js';
import * as ops from '../../src/ops/index.js';
import { Net } from '../nn/small-net.js';

/** The kernels a pass op by op runs. */
const BLOCKED = { layout: 'blocked' } as const;
import { assertClose, largestAbs, nativeSkipReason, seededValues } from './native-helpers.js';

const skip = nativeSkipReason('native-nhwc-layout');
const layoutBefore = skip ? 0 : nativeRuntime().nhwcUpTo;
after(() => {
  if (!skip) nativeRuntime().nhwcUpTo = layoutBefore;
});

/** A 1x1 conv with identity weights (so its output is its input, NaN spreading over a pixel's channels), then a max pool. */
function convThenPool(backend: string, x: Float32Array, shape: number[], pool: ops.Pool2dOptions): Tensor {
  const channels = shape[1];
  const identity = new Float32Array(channels * channels);
  for (let c = 0; c < channels; c++) identity[c * channels + c] = 1;
  return noGrad(() => {
    const conv = ops.conv2d(
      ops.fromArray(x, shape, { backend }),
      ops.fromArray(identity, [channels, channels, 1, 1], { backend }),
      null,
    );
    if (backend === 'native') {
      const info = nativeRuntime().descInfo((conv.storage as NativeStorage).desc);
      // nhwc holds exactly N*C*H*W floats and is not plain; nChw16c pads 40 or 80 channels to 48 or 80.
      assert.ok(!info.plain && info.bytes === 4 * conv.size, `conv output in nhwc (desc of ${info.bytes} bytes)`);
    }
    return ops.maxPool2d(conv, pool);
  });
}

const POOLS: [string, ops.Pool2dOptions][] = [
  ['3x3 stride 1 pad 1 ceil (an inception branch)', { kernelSize: 3, stride: 1, padding: 1, ceilMode: true }],
  ['3x3 stride 2 ceil (GoogLeNet between stages)', { kernelSize: 3, stride: 2, ceilMode: true }],
  ['2x2 stride 2', { kernelSize: 2, stride: 2 }],
];

describe('max pooling of nhwc maps against the reference backend', { skip }, () => {
  for (const channels of [40, 80]) {
    for (const [name, pool] of POOLS) {
      it(`${channels} channels (${channels === 40 ? 'a tail of 8 lanes' : 'two chunks'}), ${name}, NaN included`, (t) => {
        const rt = nativeRuntime();
        if (!nhwcConvsAvailable(rt)) return t.skip('no brgemm convs on this CPU: maps stay blocked');
        const shape = [2, channels, 9, 9];
        const x = seededValues(2 * channels * 81, channels + name.length);
        x[5 * channels * 81 + 3] = Number.NaN; // batch 0, one pixel of the map
        x[channels * 81 + 40] = Number.NaN; // batch 0, the next channel's plane: another pixel
        const expected = Array.from(convThenPool('ref', x, shape, pool).toArray());
        rt.nhwcUpTo = Number.POSITIVE_INFINITY;
        let actual: number[];
        try {
          actual = Array.from(convThenPool('native', x, shape, pool).toArray());
        } finally {
          rt.nhwcUpTo = layoutBefore;
        }
        assert.ok(expected.some(Number.isNaN), 'the case has NaN windows');
        assert.deepEqual(actual, expected);
      });
    }
  }
});

describe('nn.recordInference and the nhwc layout', { skip }, () => {
  const input = (seed: number): Tensor =>
    ops.randn([2, 3, 16, 16], { backend: 'native', generator: new Generator(seed) });
  const opByOp = (net: Net, x: Tensor): number[] => noGrad(() => Array.from(net.eval().call(x).toArray()));

  it("'nhwc' agrees with the pass op by op within float32 rounding, and a NaN input answers NaN as it does", (t) => {
    const rt = nativeRuntime();
    if (!nhwcConvsAvailable(rt)) return t.skip('no brgemm convs on this CPU');
    const net = new Net({ backend: 'native', generator: new Generator(11) });
    const recorded = recordInference(net, [2, 3, 16, 16], { layout: 'nhwc' });
    assert.equal(recorded.replaying, true);
    assert.equal(rt.nhwcUpTo, layoutBefore, 'the runtime keeps its layout for other passes');
    const x = input(12);
    const expected = opByOp(net, x);
    const actual = Array.from(recorded.run(x).toArray());
    assertClose('recorded in nhwc', actual, expected, { rtol: 1e-4, atol: 1e-5 * largestAbs(expected) });
    const values = Float32Array.from(x.toArray());
    values[7] = Number.NaN;
    const poisoned = ops.fromArray(values, x.shape, { backend: 'native' });
    assert.deepEqual(
      Array.from(recorded.run(poisoned).toArray()).map(Number.isNaN),
      opByOp(net, poisoned).map(Number.isNaN),
    );
    recorded.dispose();
  });

  it("'measure' (the default) times the map sizes the convs' times propose, each against the one kept so far", () => {
    const rt = nativeRuntime();
    const net = new Net({ backend: 'native', generator: new Generator(13) });
    const recorded = recordInference(net, [2, 3, 16, 16]);
    assert.equal(recorded.replaying, true);
    const layout = recorded.layout;
    if (!nhwcConvsAvailable(rt)) {
      assert.equal(layout, null, 'no brgemm convs: nothing measured');
    } else {
      assert.ok(layout !== null);
      let kept = 0;
      for (const trial of layout.trials) {
        // The net's convs write 16x16 maps (its stem) and 4x4 ones (its block, stride 2 after a pool).
        assert.ok([16, 256].includes(trial.nhwcUpTo), JSON.stringify(layout));
        assert.equal(trial.against.nhwcUpTo, kept, 'each trial against the one kept before it');
        assert.ok(trial.ms > 0 && trial.against.ms > 0);
        if (trial.kept) {
          assert.ok(!trial.contended && trial.ms < 0.98 * trial.against.ms, JSON.stringify(trial));
          kept = trial.nhwcUpTo;
        }
      }
      assert.equal(layout.nhwcUpTo, kept);
    }
    const x = input(14);
    const expected = opByOp(net, x);
    assertClose('recorded, measured layout', Array.from(recorded.run(x).toArray()), expected, {
      rtol: 1e-4,
      atol: 1e-5 * largestAbs(expected),
    });
    recorded.dispose();
  });

  it("{ nhwcUpTo } records the pass with that size fixed (the block's 4x4 maps in nhwc) and measures nothing", (t) => {
    const rt = nativeRuntime();
    if (!nhwcConvsAvailable(rt)) return t.skip('no brgemm convs on this CPU');
    const net = new Net({ backend: 'native', generator: new Generator(15) });
    const x = input(16);
    const expected = opByOp(net, x);
    const recorded = recordInference(net, [2, 3, 16, 16], { nhwcUpTo: 16 });
    assert.equal(recorded.layout, null, 'a size asked for: nothing measured');
    const actual = Array.from(recorded.run(x).toArray());
    assertClose('recorded, 4x4 maps in nhwc', actual, expected, { rtol: 1e-4, atol: 1e-5 * largestAbs(expected) });
    const blocked = recordInference(net, [2, 3, 16, 16], BLOCKED);
    // Against a pass op by op now that the weights were used before, as the recording's were:
    // each conv then runs its tuned algorithm, the first pass ran direct (bias-free convs like
    // these may tune to convkit's own kernel, which rounds otherwise).
    const tuned = opByOp(net, x);
    assert.deepEqual(Array.from(blocked.run(x).toArray()), tuned, "'blocked' is the pass op by op, bit for bit");
    recorded.dispose();
    blocked.dispose();
  });

  it('names a bad layout option', () => {
    const net = new Net({ backend: 'native' });
    assert.throws(
      () => recordInference(net, [2, 3, 16, 16], { layout: 'nchw' as 'nhwc' }),
      /options\.layout must be 'measure', 'blocked' or 'nhwc', got 'nchw'/,
    );
    assert.throws(() => recordInference(net, [2, 3, 16, 16], { nhwcUpTo: -1 }), /options\.nhwcUpTo must be .* got -1/);
  });
});

describe("nhwcCandidates: the map sizes the convs' tuned times propose", () => {
  const t = (mapArea: number, ms: number): ConvTiming => ({ mapArea, ms });
  it('sums the convs of each size from the smallest up and proposes the sizes that saved, most saving first', () => {
    assert.deepEqual(nhwcCandidates([t(49, 1), t(196, 2), t(784, 3)], [t(49, 0.9), t(196, 1.5), t(784, 4)]), [196, 49]);
    const blocked = [t(49, 1), t(49, 1), t(196, 2), t(784, 3), t(3136, 4)];
    const nhwc = [t(49, 0.9), t(49, 0.9), t(196, 1.9), t(784, 3.5), t(3136, 1)];
    assert.deepEqual(nhwcCandidates(blocked, nhwc), [3136, 196, 49], 'a loss at 784 outweighed by the win at 3136');
    assert.deepEqual(nhwcCandidates(blocked, nhwc, 1), [3136]);
    assert.deepEqual(
      nhwcCandidates(
        blocked,
        blocked.map((b) => t(b.mapArea, b.ms * 1.1)),
      ),
      [],
      'nhwc slower everywhere',
    );
  });
  it('a size timed in one layout only ends the sums', () => {
    assert.deepEqual(nhwcCandidates([t(49, 1), t(196, 1)], [t(49, 0.5), t(784, 0.5)]), [49]);
    assert.deepEqual(nhwcCandidates([], []), []);
  });
});
