/**
 * A recorded program's NaN/Inf guards share what they found (native/src/finite_memo.h): a range
 * scanned finite is not scanned again in the run until a command writes it, and the arrays the
 * program is told are steady keep their verdict from run to run. Each program here must give, bit
 * for bit, what its commands give queued one by one (no memo); a guard that trusted a stale
 * verdict would let oneDNN's fused ReLU turn a NaN into 0.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ExecBuffer } from '../../src/backend/native/addon.js';
import { loadNativeAddon } from '../../src/backend/native/index.js';
import '../../src/backend/native/activation.js'; // eltwisePlan's declaration
import '../../src/backend/native/concat.js'; // concatBatchNormPlan's declaration
import '../../src/backend/native/recording.js'; // programCreate's declaration
import { Generator } from '../../src/core/random.js';
import { conv2dGeometry } from '../../src/ops/conv2d.js';
import { failNativeMissing, nativeSkipReason } from './native-helpers.js';

const addon = loadNativeAddon();
const skip = nativeSkipReason('native-finite-memo');

const random = (size: number, seed: number): Float32Array => {
  const g = new Generator(seed);
  return Float32Array.from({ length: size }, () => g.uniform() * 2 - 1);
};
const withNaN = (a: Float32Array, at: number): Float32Array => {
  const b = a.slice();
  b[at] = Number.NaN;
  return b;
};
const bits = (a: Float32Array): number[] => Array.from(new Uint32Array(a.buffer, a.byteOffset, a.length));
const nanCount = (a: Float32Array): number => a.filter(Number.isNaN).length;

type Commands = (readonly [number, ExecBuffer[]])[];

/** A conv whose weights outweigh its activations, with what the programs below feed it. */
function fixture(a: Exclude<typeof addon, { error: string }>) {
  // Op by op this conv runs unfused with the ReLU as a pass (a scan of its weights would cost
  // more); in a program whose weights are steady, it scans its src and runs the fused primitive.
  const dims = [1, 16, 6, 6];
  const conv = a.conv2dPlan(conv2dGeometry(dims, [16, 16, 3, 3], { padding: 1 }), {
    bias: false,
    relu: true,
    sum: false,
    training: false,
  });
  const floats = (desc: number): number => a.descInfo(desc).bytes / 4;
  const plain = a.plainDesc(dims);
  const weights = random(floats(conv.weights), 3);
  return {
    conv,
    toSrc: a.reorderPlan(plain, conv.src),
    toWeights: a.reorderPlan(a.plainDesc([16, 16, 3, 3]), conv.weights),
    finite: random(floats(plain), 1),
    poisoned: withNaN(random(floats(plain), 2), 40),
    weights,
    src: (): Float32Array => new Float32Array(floats(conv.src)),
    dst: (): Float32Array => new Float32Array(floats(conv.dst)),
  };
}

/**
 * Runs the commands `make()` gives as a program, twice (the second run starts from the verdicts
 * of the first), and one by one on a fresh set; returns each run's outputs and the reference.
 */
function compare(
  a: Exclude<typeof addon, { error: string }>,
  make: () => { commands: Commands; outputs: Float32Array[]; steady: Float32Array[] },
) {
  const recorded = make();
  const program = a.programCreate(recorded.commands, recorded.steady);
  const runs: number[][][] = [];
  for (let run = 0; run < 2; run++) {
    for (const o of recorded.outputs) o.fill(7);
    a.programRun(program);
    a.flushSync();
    runs.push(recorded.outputs.map(bits));
  }
  a.programRelease(program);
  const alone = make();
  for (const [plan, buffers] of alone.commands) a.exec(plan, buffers);
  a.flushSync();
  return { runs, outputs: recorded.outputs, reference: alone.outputs.map(bits) };
}

describe('the NaN/Inf memo of recorded programs', { skip }, () => {
  it('scans a range again once a oneDNN command (a reorder) has written a NaN into it', () => {
    if ('error' in addon) return failNativeMissing(addon);
    const { conv, toSrc, finite, poisoned, weights, src, dst } = fixture(addon);
    const { runs, outputs, reference } = compare(addon, () => {
      const [s, before, after, w] = [src(), dst(), dst(), weights.slice()];
      const commands: Commands = [
        [toSrc, [finite, s]],
        [conv.plan, [s, w, before]], // s found finite
        [toSrc, [poisoned, s]],
        [conv.plan, [s, w, after]], // s written since: scanned again
      ];
      return { commands, outputs: [before, after], steady: [w] };
    });
    assert.equal(nanCount(outputs[0]), 0);
    assert.ok(nanCount(outputs[1]) > 0, 'the NaN reaches the second conv as PyTorch has it (its ReLU keeps NaN)');
    for (const run of runs) assert.deepEqual(run, reference);
  });

  it('scans a range again once a loop of its own (sqrt) has written a NaN into it', () => {
    if ('error' in addon) return failNativeMissing(addon);
    const { conv, toSrc, finite, weights, src, dst } = fixture(addon);
    const sqrt = addon.eltwisePlan('sqrt', conv.src).plan;
    const { runs, outputs, reference } = compare(addon, () => {
      const [s, squares, before, after, w] = [src(), src(), dst(), dst(), weights.slice()];
      const commands: Commands = [
        [toSrc, [finite, s]],
        [toSrc, [finite, squares]], // the square roots of its negative values are NaN
        [conv.plan, [s, w, before]],
        [sqrt, [squares, s]],
        [conv.plan, [s, w, after]],
      ];
      return { commands, outputs: [before, after], steady: [w] };
    });
    assert.ok(nanCount(outputs[1]) > 0, 'sqrt of a negative value reaches the second conv');
    for (const run of runs) assert.deepEqual(run, reference);
  });

  it('keeps a steady array that holds a NaN as non-finite on every run', () => {
    if ('error' in addon) return failNativeMissing(addon);
    const { conv, toSrc, finite, weights, src, dst } = fixture(addon);
    const { runs, outputs, reference } = compare(addon, () => {
      const [s, out, w] = [src(), dst(), withNaN(weights, 5)];
      return {
        commands: [
          [toSrc, [finite, s]],
          [conv.plan, [s, w, out]],
        ],
        outputs: [out],
        steady: [w],
      };
    });
    assert.ok(nanCount(outputs[0]) > 0);
    for (const run of runs) assert.deepEqual(run, reference);
  });

  it('does not treat as steady an array that a command of the program writes', () => {
    if ('error' in addon) return failNativeMissing(addon);
    const { conv, toSrc, toWeights, finite, weights, src, dst } = fixture(addon);
    const plainWeights = random(16 * 16 * 9, 4);
    const nanWeights = withNaN(plainWeights, 7);
    const { runs, outputs, reference } = compare(addon, () => {
      const [s, before, after, w] = [src(), dst(), dst(), weights.slice()];
      const commands: Commands = [
        [toWeights, [plainWeights, w]],
        [toSrc, [finite, s]],
        [conv.plan, [s, w, before]],
        [toWeights, [nanWeights, w]], // the "steady" weights change midway
        [conv.plan, [s, w, after]],
      ];
      return { commands, outputs: [before, after], steady: [w] };
    });
    assert.equal(nanCount(outputs[0]), 0);
    assert.ok(nanCount(outputs[1]) > 0);
    for (const run of runs) assert.deepEqual(run, reference);
  });

  it("notes a join that saw every value it wrote finite (the next conv's scan is spared), never one that wrote a NaN", () => {
    if ('error' in addon) return failNativeMissing(addon);
    const { conv, toSrc, finite, poisoned, src } = fixture(addon);
    // DenseNet's join: two 16-channel maps batch normalised with a ReLU, read by a 1x1 conv + ReLU.
    const join = addon.concatBatchNormPlan([conv.src, conv.src], { affine: false, relu: true, eps: 1e-5 });
    assert.ok(join !== null, 'blocked 16-channel maps join chunk by chunk');
    const reduce = addon.conv2dPlan(conv2dGeometry([1, 32, 6, 6], [16, 32, 1, 1]), {
      bias: false,
      relu: true,
      sum: false,
      training: false,
    });
    const [mean, variance] = [random(32, 5), random(32, 6).map(Math.abs)];
    const w = random(addon.descInfo(reduce.weights).bytes / 4, 7);
    for (const second of [finite, poisoned]) {
      const { runs, outputs, reference } = compare(addon, () => {
        const [a, b, joined] = [src(), src(), new Float32Array(addon.descInfo(join.dst).bytes / 4)];
        const out = new Float32Array(addon.descInfo(reduce.dst).bytes / 4);
        const commands: Commands = [
          [toSrc, [finite, a]],
          [toSrc, [second, b]],
          [join.plan, [a, b, joined, mean, variance]],
          [reduce.plan, [joined, w, out]],
        ];
        return { commands, outputs: [out], steady: [w, mean, variance] };
      });
      assert.equal(nanCount(outputs[0]) > 0, second === poisoned);
      for (const run of runs) assert.deepEqual(run, reference);
    }
  });

  it("checks the steady list's type and names the argument", () => {
    if ('error' in addon) return failNativeMissing(addon);
    assert.throws(
      () => addon.programCreate([], [new Float64Array(2) as unknown as Float32Array]),
      /programCreate: argument 'steady' must be an array of Float32Arrays \(element 0 is not\)/,
    );
  });
});
