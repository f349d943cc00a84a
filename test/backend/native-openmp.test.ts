/**
 * The worker's OpenMP threads do not spin for long when idle (addon.ts sets libgomp's spin count
 * as the addon loads, unless the user set GOMP_SPINCOUNT or OMP_WAIT_POLICY): measured as the CPU
 * time threads other than the main one use while the main thread is busy between commands, in a
 * fresh process with the default against one with libgomp's own 300,000 set explicitly. The
 * variable is not left in the environment for child processes.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, it } from 'node:test';
import { nativeSkipReason } from './native-helpers.js';

const skip = nativeSkipReason('native-openmp');

// Per window: one parallel conv, then 20 ms of the main thread busy (as JavaScript building a
// pass); the other threads' CPU ticks over the windows, from /proc/self/task/*/stat.
const SCRIPT = `
  import { readdirSync, readFileSync } from 'node:fs';
  import { nativeRuntime } from './src/backend/native/index.ts';
  import * as ops from './src/ops/index.ts';
  import { noGrad } from './src/core/grad-mode.ts';
  nativeRuntime().setThreads(2);
  const x = ops.randn([8, 64, 56, 56], { backend: 'native' });
  const w = ops.randn([64, 64, 3, 3], { backend: 'native' });
  const conv = () => noGrad(() => ops.conv2d(x, w, null, { padding: 1 }).toArray());
  const ticks = () => {
    let n = 0;
    for (const t of readdirSync('/proc/self/task')) {
      if (t === String(process.pid)) continue;
      const fields = readFileSync('/proc/self/task/' + t + '/stat', 'utf8').split(') ')[1].split(' ');
      n += Number(fields[11]) + Number(fields[12]);
    }
    return n;
  };
  for (let i = 0; i < 3; i++) conv();
  let others = 0;
  for (let r = 0; r < 30; r++) {
    conv();
    const before = ticks();
    const t0 = performance.now();
    while (performance.now() - t0 < 20) {}
    others += ticks() - before;
  }
  console.log(JSON.stringify({ others, inherited: process.env.GOMP_SPINCOUNT ?? null }));
`;

function run(env: NodeJS.ProcessEnv): { others: number; inherited: string | null } {
  const child = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', SCRIPT], {
    cwd: process.cwd(),
    env,
    timeout: 60_000,
    encoding: 'utf8',
  });
  assert.equal(child.status, 0, child.stderr);
  return JSON.parse(child.stdout.trim().split('\n').at(-1) as string);
}

describe('OpenMP idle threads', () => {
  it("spin briefly by default (not libgomp's 7 ms), and leave no setting to child processes", { skip }, (t) => {
    const { GOMP_SPINCOUNT: _s, OMP_WAIT_POLICY: _p, ...clean } = process.env;
    const short = run(clean);
    const long = run({ ...clean, GOMP_SPINCOUNT: '300000' });
    t.diagnostic(`other threads, ticks over 30 windows: short spin ${short.others}, 300,000 ${long.others}`);
    assert.equal(short.inherited, null, 'GOMP_SPINCOUNT is unset again once the addon has loaded');
    assert.equal(long.inherited, '300000', "the user's own setting stays");
    // 30 windows of 20 ms: libgomp's default spins most of each window away (about 15 ticks of
    // 10 ms in all here); the short spin uses a few ticks at most.
    assert.ok(long.others >= 4, `with 300,000 the idle thread spins: ${long.others} ticks`);
    assert.ok(short.others * 2 <= long.others, `short spin ${short.others} ticks, long spin ${long.others} ticks`);
  });
});
