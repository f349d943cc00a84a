/**
 * The worker parks its OpenMP team when the queue is empty (native/src/queue.h, waitForWork):
 * after a parallel command, the team's threads sleep instead of spinning for libgomp's 300,000
 * pauses on the cores JavaScript needs. Read from the CPU time a child process uses while its main
 * thread sleeps (no wall-clock timing); then the parked team runs the next command.
 */
import assert from 'node:assert/strict';
import { availableParallelism } from 'node:os';
import { describe, it } from 'node:test';
import { nativeSkipReason, runNativeChild } from './native-helpers.js';

const skip =
  nativeSkipReason('native-worker-park') ||
  (availableParallelism() < 2 ? 'one core: OpenMP runs no second thread to spin' : false);

/** The child: two threads, one conv, 500 ms asleep, another conv; prints the CPU ms used asleep and whether the convs agree. */
const SCRIPT = `
  const { setThreads } = await import('./src/backend/registry.js');
  const ops = await import('./src/ops/index.js');
  const { randn } = await import('./src/ops/creation.js');
  const { noGrad } = await import('./src/core/grad-mode.js');
  setThreads(2);
  const x = randn([1, 64, 56, 56], { backend: 'native' });
  const w = randn([64, 64, 3, 3], { backend: 'native' });
  const conv = () => noGrad(() => ops.conv2d(x, w, null, { padding: [1, 1] }).toArray());
  const first = conv();
  const before = process.cpuUsage();
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 500);
  const used = process.cpuUsage(before);
  const again = conv();
  const same = first.every((v, i) => Object.is(v, again[i]));
  console.log(JSON.stringify({ idleCpuMs: (used.user + used.system) / 1000, same }));
`;

const runChild = (env: Record<string, string>) => runNativeChild<{ idleCpuMs: number; same: boolean }>(SCRIPT, env);

describe('the native worker parks its OpenMP team while the queue is empty', () => {
  it('an idle worker leaves the cores alone, and runs the next command as before', { skip }, () => {
    // libgomp told to spin for 10^9 pauses, far longer than the sleep: unparked, the team's second
    // thread spins through all of it (about 500 ms of CPU); parked, the team sleeps after 200 us
    // (0.3 ms of CPU on a quiet Zen 3 host; more where other processes delay the park).
    const idle = runChild({ GOMP_SPINCOUNT: '1000000000' });
    assert.ok(idle.idleCpuMs < 100, `500 ms asleep after a conv used ${idle.idleCpuMs} ms of CPU`);
    assert.ok(idle.same, 'the conv after the park gave other values');
  });
});
