/**
 * libgomp's spin cut short while JavaScript builds a cold pass (native/src/spin_throttle.cc): a new
 * plan turns the throttle on, JavaScript waiting for the queue turns it off, CONVKIT_SPIN_THROTTLE=0
 * never turns it on. Its effect is read from the CPU time a child process uses while the worker
 * waits for JavaScript between parallel commands (no wall-clock timing).
 */
import assert from 'node:assert/strict';
import { availableParallelism } from 'node:os';
import { describe, it } from 'node:test';
import { nativeRuntime } from '../../src/backend/native/index.js';
import { noGrad } from '../../src/core/grad-mode.js';
import * as ops from '../../src/ops/index.js';
import { nativeSkipReason, runNativeChild, seededValues } from './native-helpers.js';

const skip = nativeSkipReason('native-spin-throttle');
const twoCores = availableParallelism() < 2 ? 'one core: OpenMP runs no second thread to spin' : false;

/**
 * The child: after a new plan (a cold pass begins), 300 parallel convs queued one at a time, with
 * 300 us of JavaScript work between them (as a pass built op by op has), so the worker waits for
 * each; prints the CPU ms this used beyond JavaScript's own, and whether the convs agree.
 */
const SCRIPT = `
  const { setThreads } = await import('./src/backend/registry.js');
  const { nativeRuntime } = await import('./src/backend/native/index.js');
  const ops = await import('./src/ops/index.js');
  const { randn } = await import('./src/ops/creation.js');
  const { noGrad } = await import('./src/core/grad-mode.js');
  const { scope } = await import('./src/core/scope.js');
  setThreads(2);
  const x = randn([1, 32, 14, 14], { backend: 'native' });
  const w = randn([32, 32, 3, 3], { backend: 'native' });
  const conv = () => noGrad(() => ops.conv2d(x, w, null, { padding: [1, 1] }));
  const first = conv().toArray();
  const rt = nativeRuntime();
  const made = scope(() => ops.relu(randn([1, 3, 7, 7], { backend: 'native' }))); // a new plan
  if (process.env.WAIT_AFTER_PLAN) made.toArray(); // and a wait: the spin comes back
  const on = rt.addon.spinThrottle().on;
  const before = process.cpuUsage();
  let busy = 0;
  const last = scope(() => {
    for (let i = 0; i < 300; i++) {
      scope(conv);
      const t = performance.now();
      while (performance.now() - t < 0.3);
      busy += performance.now() - t;
    }
    return conv();
  });
  const again = last.toArray();
  const used = process.cpuUsage(before);
  const same = first.every((v, i) => Object.is(v, again[i]));
  console.log(JSON.stringify({ extraCpuMs: (used.user + used.system) / 1000 - busy, busyMs: busy, on, same }));
`;

const runChild = (env: Record<string, string | undefined>) =>
  runNativeChild<{ extraCpuMs: number; busyMs: number; on: boolean; same: boolean }>(SCRIPT, {
    GOMP_SPINCOUNT: '1000000000',
    ...env,
  });

describe('the spin throttle', () => {
  it('is on from a new plan until JavaScript waits for the queue', { skip }, () => {
    const rt = nativeRuntime();
    rt.flushSync();
    assert.equal(rt.addon.spinThrottle().on, false, 'off after a wait');
    const before = rt.addon.spinThrottle().periods;
    // A shape no other test uses: its plans are new.
    const y = noGrad(() =>
      ops.conv2d(
        ops.fromArray(seededValues(5 * 7 * 7, 1), [1, 5, 7, 7], { backend: 'native' }),
        ops.fromArray(seededValues(3 * 5 * 3 * 3, 2), [3, 5, 3, 3], { backend: 'native' }),
      ),
    );
    const state = rt.addon.spinThrottle();
    if (rt.addon.getThreads() > 1) {
      assert.equal(state.on, true, 'on after new plans');
      assert.equal(state.periods, before + 1);
    }
    y.toArray();
    assert.equal(rt.addon.spinThrottle().on, false, 'off once JavaScript waited');
    // A wait with nothing queued counts too (the worker may have finished first).
    noGrad(() => ops.relu(ops.fromArray(seededValues(11, 3), [11], { backend: 'native' })));
    rt.flushSync();
    rt.flushSync();
    assert.equal(rt.addon.spinThrottle().on, false, 'off after a wait with nothing queued');
  });

  it('keeps the team from spinning through single-threaded commands; CONVKIT_SPIN_THROTTLE=0 does not', {
    skip: skip || twoCores,
  }, () => {
    // libgomp told to spin for 10^9 pauses: without the throttle, the team's second thread spins
    // through every wait for JavaScript (about the 90 ms JavaScript works); with it, it sleeps
    // after 100 pauses.
    // The CPU a spinning thread gets moves with the host's load (other tenants, a test file
    // beside this one), so the relations must hold in one of three rounds of the three children.
    const failures: string[] = [];
    for (let round = 0; round < 3; round++) {
      const throttled = runChild({});
      const spinning = runChild({ CONVKIT_SPIN_THROTTLE: '0' });
      const waited = runChild({ WAIT_AFTER_PLAN: '1' });
      assert.equal(throttled.on, true, 'the new plan turned the throttle on');
      assert.equal(spinning.on, false, 'CONVKIT_SPIN_THROTTLE=0 left it off');
      assert.equal(waited.on, false, 'a wait turned it off');
      assert.ok(throttled.same && spinning.same && waited.same, 'the convs gave other values');
      const spun = (r: typeof throttled) =>
        `${r.extraCpuMs.toFixed(0)} ms of CPU beyond JavaScript's ${r.busyMs.toFixed(0)}`;
      // Relative to each other, not to JavaScript's wall time, which another test file beside
      // this one stretches (npm test runs two at once) while the spinning thread gets less CPU.
      // After a wait libgomp counts the helper's team no more: the spin is back.
      if (throttled.extraCpuMs < 0.7 * spinning.extraCpuMs && waited.extraCpuMs > 1.4 * throttled.extraCpuMs) return;
      failures.push(`throttled: ${spun(throttled)}; spinning: ${spun(spinning)}; after a wait: ${spun(waited)}`);
    }
    assert.fail(`the throttled team spun as much as the others in three rounds:\n${failures.join('\n')}`);
  });
});
