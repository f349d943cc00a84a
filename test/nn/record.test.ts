/**
 * nn.recordInference: a recorded pass gives, bit for bit, what the model gives op by op (the same
 * kernels run), for new inputs and after the weights change (it records again); outputs of
 * earlier runs are not overwritten; bad shapes are named. Passes it cannot replay (another
 * backend, values read in JavaScript midway) run op by op and say why. The addon's programs
 * are checked for their arguments and for keeping a plan the JS cache has released.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { loadNativeAddon, nativeRuntime } from '../../src/backend/native/index.js';
import { privateMemories } from '../../src/backend/native/recording.js';
import { resetSettings } from '../../src/core/config.js';
import { ArgumentError } from '../../src/core/errors.js';
import { isGradEnabled, noGrad } from '../../src/core/grad-mode.js';
import { Generator } from '../../src/core/random.js';
import { scope } from '../../src/core/scope.js';
import type { Tensor } from '../../src/core/tensor.js';
import { ReLU } from '../../src/nn/activation.js';
import { Concat } from '../../src/nn/blocks.js';
import { Sequential } from '../../src/nn/containers.js';
import { Conv2d } from '../../src/nn/conv2d.js';
import { Linear } from '../../src/nn/linear.js';
import { Module } from '../../src/nn/module.js';
import { MaxPool2d } from '../../src/nn/pooling.js';
import { recordInference } from '../../src/nn/record.js';
import { fromArray, randn } from '../../src/ops/creation.js';
import { add } from '../../src/ops/arithmetic.js';
import { concat, flatten, pad, slice } from '../../src/ops/layout.js';
import { mean } from '../../src/ops/reduce.js';
import { failNativeMissing, nativeSkipReason, restoreEnvAfter } from '../backend/native-helpers.js';
import { type Block, Net } from './small-net.js';

const skip = nativeSkipReason('test/nn/record.test.ts');
// oneDNN's direct kernels only: a weight's first forward runs them untimed and the later ones the
// tuned choice, which on some hosts is another kernel (the own linear loop won on an AVX2 build)
// with other roundings, and these tests compare passes bit for bit across weight changes.
restoreEnvAfter(['CONVKIT_CONV_ALGORITHM']);
process.env.CONVKIT_CONV_ALGORITHM = 'direct';
resetSettings();
/** The kernels a pass op by op runs, so replays agree bit for bit (nhwc-layout.test.ts checks the others). */
const BLOCKED = { layout: 'blocked' } as const;
const values = (t: Tensor): number[] => Array.from(t.toArray());
const input = (seed: number, backend = 'native'): Tensor =>
  randn([2, 3, 16, 16], { backend, generator: new Generator(seed) });
const opByOp = (net: Module, x: Tensor): number[] => noGrad(() => values(net.eval().call(x)));

describe('nn.recordInference on the native backend', { skip }, () => {
  it('replays the pass bit for bit, for new inputs, without overwriting earlier outputs', () => {
    const net = new Net({ backend: 'native', generator: new Generator(3) });
    const recorded = recordInference(net, [2, 3, 16, 16], BLOCKED);
    assert.equal(recorded.replaying, true);
    assert.equal(net.training, true, 'training mode restored');
    assert.equal(isGradEnabled(), true, 'grad mode still on');
    const [x1, x2] = [input(1), input(2)];
    const y1 = recorded.run(x1);
    const y2 = recorded.run(x2);
    assert.deepEqual(y1.shape, [2, 10]);
    assert.deepEqual(values(y1), opByOp(net, x1));
    assert.deepEqual(values(y2), opByOp(net, x2));
    assert.notDeepEqual(values(y1), values(y2));
    recorded.dispose();
    assert.equal(recorded.replaying, 'disposed');
  });

  it('writes a join of whole blocks at batch 1 in place, not one whose source is read after it, and answers bit for bit', () => {
    const f = { backend: 'native', generator: new Generator(12) } as const;
    const conv = (cin: number, cout: number, k: number) =>
      new Sequential(new Conv2d(cin, cout, k, { padding: k >> 1, ...f }), new ReLU());
    class Joins extends Module {
      readonly stem = this.registerModule('stem', conv(3, 16, 3));
      readonly inception = this.registerModule(
        'inception',
        new Concat({
          a: conv(16, 16, 1),
          b: new Sequential(conv(16, 16, 1), conv(16, 32, 3)),
          c: new Sequential(new MaxPool2d(3, { stride: 1, padding: 1 }), conv(16, 16, 1)),
        }),
      );
      readonly left = this.registerModule('left', conv(64, 16, 1));
      readonly right = this.registerModule('right', conv(64, 16, 3));
      readonly mix = this.registerModule('mix', conv(32, 16, 1));
      readonly fc = this.registerModule('fc', new Linear(16, 10, f));
      forward(x: Tensor): Tensor {
        const j = this.inception.call(this.stem.call(x));
        const left = this.left.call(j);
        const joined = concat([left, this.right.call(j)], 1); // stays: left is read after it
        return this.fc.call(flatten(mean(add(this.mix.call(joined), left), [2, 3], { keepDims: true }), 1));
      }
    }
    const net = new Joins();
    const { addon } = nativeRuntime();
    const commandsOf = (batch: number): number => {
      const recorded = recordInference(net, [batch, 3, 12, 12], BLOCKED);
      assert.equal(recorded.replaying, true);
      const x = randn([batch, 3, 12, 12], { backend: 'native', generator: new Generator(batch) });
      nativeRuntime().flushSync();
      const before = addon.submitted();
      const y = recorded.run(x);
      const queued = addon.submitted() - before;
      assert.deepEqual(values(y), opByOp(net, x));
      recorded.dispose();
      return queued;
    };
    // The same pass at batch 2 joins with copies (each image's channels apart); at batch 1 the inception's join goes.
    assert.equal(commandsOf(2) - commandsOf(1), 1);
  });

  it('records again when a parameter or a running statistic changes', () => {
    const net = new Net({ backend: 'native', generator: new Generator(4) });
    const recorded = recordInference(net, [2, 3, 16, 16], BLOCKED);
    const x = input(5);
    const before = values(recorded.run(x));
    const twin = new Net({ backend: 'native', generator: new Generator(9) });
    net.fc.weight.assign(twin.fc.weight); // the head
    assert.deepEqual(values(recorded.run(x)), opByOp(net, x));
    const runningVar = (n: Net): Tensor => {
      const v = (n.layer1.get('0') as Block).bn1.runningVar;
      assert.ok(v !== null);
      return v;
    };
    runningVar(net).assign(runningVar(twin)); // folded into a conv
    const after = values(recorded.run(x));
    assert.deepEqual(after, opByOp(net, x));
    assert.notDeepEqual(after, before);
    assert.equal(recorded.replaying, true);
  });

  it('records again after setThreads (plans are sized for the thread count they were made with)', () => {
    const net = new Net({ backend: 'native', generator: new Generator(8) });
    const rt = nativeRuntime();
    const threads = rt.getThreads();
    const x = input(11);
    try {
      rt.setThreads(1);
      const recorded = recordInference(net, [2, 3, 16, 16], BLOCKED);
      assert.deepEqual(values(recorded.run(x)), opByOp(net, x));
      rt.setThreads(Math.max(2, threads)); // more threads than the recorded plans were made for
      assert.deepEqual(values(recorded.run(x)), opByOp(net, x));
      assert.equal(recorded.replaying, true);
    } finally {
      rt.setThreads(threads);
    }
  });

  it('a replay with a NaN in its input takes the guarded path and answers as op by op, and finite replays after it too', () => {
    // The replay keeps each command's oneDNN arguments from its first run; a conv whose fused ReLU
    // would drop a NaN runs its unfused primitive under other argument ids (plan.h's guard).
    const net = new Net({ backend: 'native', generator: new Generator(12) });
    const recorded = recordInference(net, [2, 3, 16, 16], BLOCKED);
    const finite = input(13);
    const first = values(recorded.run(finite));
    const withNaN = input(14);
    const poisoned = withNaN.toArray().slice();
    poisoned[5] = Number.NaN;
    const nanInput = fromArray(poisoned, [2, 3, 16, 16], { backend: 'native' });
    const y = values(recorded.run(nanInput));
    assert.ok(y.slice(0, 10).every(Number.isNaN), 'the first image is NaN throughout, as in PyTorch');
    assert.deepEqual(y, opByOp(net, nanInput));
    // A larger pass op by op in between (other plans, which may need a larger scratchpad), then the same replay.
    opByOp(net, randn([8, 3, 32, 32], { backend: 'native', generator: new Generator(15) }));
    assert.deepEqual(values(recorded.run(finite)), first);
  });

  it("a program's commands are counted and timed one by one, in order, around single commands", () => {
    const addon = loadNativeAddon();
    if ('error' in addon) return failNativeMissing(addon);
    const plain = addon.plainDesc([4, 8]);
    const copy = addon.reorderPlan(plain, plain);
    const [a, b, c] = [Float32Array.from({ length: 32 }, (_, i) => i), new Float32Array(32), new Float32Array(32)];
    const program = addon.programCreate([
      [copy, [a, b]],
      [copy, [b, c]],
      [copy, [c, a]],
    ]);
    addon.flushSync();
    const before = addon.submitted();
    addon.setQueueTiming(true);
    addon.programRun(program);
    addon.exec(copy, [a, b]);
    addon.programRun(program);
    assert.equal(addon.submitted() - before, 7);
    addon.flushSync();
    const times = Array.from(addon.takeQueueTimes());
    addon.setQueueTiming(false);
    assert.deepEqual(
      times.filter((_, i) => i % 2 === 0),
      [1, 2, 3, 4, 5, 6, 7].map((k) => before + k),
    );
    assert.ok(times.filter((_, i) => i % 2 === 1).every((ms) => ms >= 0));
    assert.equal(addon.pending(), 0);
    assert.deepEqual(
      Array.from(a),
      Array.from({ length: 32 }, (_, i) => i),
    );
    assert.equal(addon.programRelease(program), true);
    assert.equal(addon.releasePlan(copy), true);
  });

  it("gives the warm passes' buffers back: the pool holds nothing once the pass is recorded", () => {
    const net = new Net({ backend: 'native', generator: new Generator(9) });
    scope(() => opByOp(net, randn([8, 3, 32, 32], { backend: 'native', generator: new Generator(10) })));
    assert.ok(nativeRuntime().pooled > 0, 'a pass op by op leaves buffers in the pool');
    const recorded = recordInference(net, [2, 3, 16, 16], BLOCKED);
    assert.equal(recorded.replaying, true);
    assert.equal(nativeRuntime().pooled, 0);
    const x = input(11);
    assert.deepEqual(values(recorded.run(x)), opByOp(net, x));
  });

  it('names an input of another shape', () => {
    const recorded = recordInference(new Net({ backend: 'native', generator: new Generator(3) }), [2, 3, 16, 16]);
    assert.throws(() => recorded.run(randn([1, 3, 16, 16], { backend: 'native' })), ArgumentError);
    assert.throws(
      () => recorded.run(randn([1, 3, 16, 16], { backend: 'native' })),
      /nn.recordInference: input has shape \[1, 3, 16, 16\], recorded for \[2, 3, 16, 16\]/,
    );
    assert.throws(() => recordInference(new Net({ backend: 'native' }), [2, 0, 16, 16]), /inputShape must be positive/);
  });

  it('runs op by op, saying why, when the pass runs a reference kernel (its values come from JavaScript)', () => {
    class PadsWithNaN extends Module {
      readonly net = this.registerModule('net', new Net({ backend: 'native', generator: new Generator(6) }));
      forward(x: Tensor): Tensor {
        return this.net.call(slice(slice(pad(x, [1, 1, 1, 1], Number.NaN), 2, 1, 17), 3, 1, 17));
      }
    }
    const model = new PadsWithNaN();
    const recorded = recordInference(model, [2, 3, 16, 16], BLOCKED);
    assert.match(String(recorded.replaying), /pad runs the reference kernel \(a non-finite value\)/);
    const x = input(7);
    assert.deepEqual(values(recorded.run(x)), opByOp(model, x));
    // After a weight change it is not warmed and recorded again, only run: one pass per call.
    let passes = 0;
    const forward = model.net.forward.bind(model.net);
    model.net.forward = (t: Tensor): Tensor => {
      passes++;
      return forward(t);
    };
    model.net.fc.weight.assign(new Net({ backend: 'native', generator: new Generator(4) }).fc.weight);
    const y = values(recorded.run(x));
    assert.equal(passes, 1);
    assert.deepEqual(y, opByOp(model, x));
  });

  it("a program run's patches give commands other scalars for that run only, checked as exec checks them", () => {
    const addon = loadNativeAddon();
    if ('error' in addon) return failNativeMissing(addon);
    const sgd = addon.sgdPlan({ size: 4, withMomentum: false }).plan;
    const plain = addon.plainDesc([4]);
    const copy = addon.reorderPlan(plain, plain);
    const [param, grad, seen] = [Float32Array.from([1, 2, 3, 4]), Float32Array.from([1, 1, 2, 4]), new Float32Array(4)];
    const hyper = { momentum: 0, dampening: 0, nesterov: false, weightDecay: 0, maximize: false, firstStep: false };
    const program = addon.programCreate([
      [sgd, [param, grad], { lr: 0.25, ...hyper }],
      [copy, [param, seen]],
    ]);
    addon.programRun(program, [[0, { lr: 0.5, ...hyper }]]);
    addon.programRun(program); // the recorded 0.25 again
    addon.flushSync();
    assert.deepEqual(Array.from(param), [1 - 0.5 - 0.25, 2 - 0.5 - 0.25, 3 - 1 - 0.5, 4 - 2 - 1]);
    assert.deepEqual(Array.from(seen), Array.from(param));
    assert.throws(
      () => addon.programRun(program, [[1, { lr: 1 }]]),
      /programRun: patch 0: command 1 \(reorder\) takes no scalars/,
    );
    assert.throws(() => addon.programRun(program, [[2, { lr: 1 }]]), /patch 0: index must be an integer .* below 2/);
    assert.throws(
      () =>
        addon.programRun(program, [
          [0, { lr: 1, ...hyper }],
          [0, { lr: 1, ...hyper }],
        ]),
      /patch 1: index must be an integer above the last patch's/,
    );
    assert.throws(() => addon.programRun(program, [[0, { lr: 1 }]]), /sgd.*'momentum'/);
    addon.flushSync();
    assert.deepEqual(Array.from(param), [0.25, 1.25, 1.5, 1], 'a run refused queues nothing');
    addon.programRelease(program);
  });

  it("the addon's programs check their commands and keep a plan the JS cache released", () => {
    const addon = loadNativeAddon();
    if ('error' in addon) return failNativeMissing(addon);
    const plain = addon.plainDesc([4, 8]);
    const copy = addon.reorderPlan(plain, plain);
    const [a, b] = [Float32Array.from({ length: 32 }, (_, i) => i - 3.5), new Float32Array(32)];
    const program = addon.programCreate([[copy, [a, b]]]);
    assert.equal(addon.releasePlan(copy), true);
    addon.programRun(program);
    addon.flushSync();
    assert.deepEqual(Array.from(b), Array.from(a));
    assert.equal(addon.programRelease(program), true);
    assert.equal(addon.programRelease(program), false);
    assert.throws(() => addon.programRun(program), /programRun: argument 'program' is an unknown program id/);
    const other = addon.reorderPlan(plain, plain);
    assert.throws(
      () => addon.programCreate([[other, [a]]]),
      /programCreate: command 0: reorder: argument 'buffers' must be an array of 2 buffers/,
    );
    assert.throws(
      () => addon.programCreate([[other, [a, new Float32Array(3)]]]),
      /programCreate: command 0: reorder: buffer 1 \(dst\) has 12 bytes, expected at least 128/,
    );
    assert.throws(
      () => addon.programCreate([[other]] as never),
      /programCreate: command 0 must be \[plan, buffers, scalars\?\]/,
    );
  });
});

describe('the private memory of a recording', () => {
  const buffer = (floats: number): Float32Array => new Float32Array(new ArrayBuffer(floats * 4 + 64), 0, floats);
  const command = (...buffers: Float32Array[]) => ({ op: 'test', plan: 0, buffers });

  it('shares a slab between memories whose uses do not overlap, never between overlapping ones', () => {
    const [input, a, b, c, output, weight] = [buffer(8), buffer(16), buffer(16), buffer(32), buffer(4), buffer(64)];
    // input -> a -> b -> output, with c live from the second command to the fourth, weight shared
    const commands = [command(input, weight, a), command(a, c), command(a, b), command(b, c, output)];
    const privates = new Set<ArrayBufferLike>([input.buffer, a.buffer, b.buffer, c.buffer, output.buffer]);
    const slabs = privateMemories(commands, (m) => privates.has(m), input.buffer, output.buffer);
    assert.equal(slabs.has(weight.buffer), false, 'shared memory stays shared');
    assert.equal(slabs.size, 5);
    const slab = (t: Float32Array): ArrayBuffer => slabs.get(t.buffer) as ArrayBuffer;
    assert.notEqual(slab(a), slab(c), 'a and c are live together');
    assert.notEqual(slab(b), slab(c), 'b and c are live together');
    assert.notEqual(slab(a), slab(b), 'a is read by the command that writes b');
    assert.notEqual(slab(input), slab(a));
    // the input is live from before the first command, the output until after the last
    assert.notEqual(slab(output), slab(a));
    assert.notEqual(slab(output), slab(c));
    for (const [m, s] of slabs) assert.ok(s.byteLength >= m.byteLength + 128, 'room to keep the alignment');
    const reused = privateMemories(
      [command(input, a), command(a, b), command(b, output), command(output)],
      (m) => privates.has(m),
      input.buffer,
      input.buffer, // (no separate output here: the input stands in for it)
    );
    assert.equal(reused.get(output.buffer), reused.get(a.buffer), 'a is dead when the output is first written');
  });
});

describe('nn.recordInference on the reference backend', () => {
  it('runs the model op by op and says why', () => {
    const net = new Net({ backend: 'ref', generator: new Generator(3) });
    const recorded = recordInference(net, [2, 3, 16, 16], BLOCKED);
    assert.match(String(recorded.replaying), /on the ref backend; recording needs the native backend/);
    const x = input(1, 'ref');
    assert.deepEqual(values(recorded.run(x)), opByOp(net, x));
  });
});
