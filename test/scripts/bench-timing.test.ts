import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import {
  anotherRun,
  FULL_POLICY,
  interleaved,
  median,
  type Contender,
  type Policy,
} from '../../scripts/bench/timing.js';
import { cpuTicksOf, PEER_MALLOC_TUNABLES, peerEnv } from '../../scripts/bench/peers.js';

const policy: Policy = {
  warmupRuns: 1,
  minRuns: 2,
  maxRuns: 2,
  budgetMs: 0,
  rounds: 3,
  minTimedMs: 0,
  shortRunsCap: 2,
};

/** A contender whose runs take no time; it logs each round and answers `times(index)`. */
function fake(
  label: string,
  calls: string[],
  times: (index: number) => number[],
  failOnRound = -1,
): Contender & { closed: boolean } {
  let rounds = 0;
  const c = {
    label,
    closed: false,
    round: async (index: number, warmUp: boolean) => {
      calls.push(`${label}${index}${warmUp ? 'w' : ''}`);
      if (rounds++ === failOnRound) throw new Error(`${label} broke\nsecond line`);
      return times(index);
    },
    close: () => {
      c.closed = true;
    },
  };
  return c;
}

test('contenders take turns on each workload, round after round, each round starting one later, warming up only in the first', async () => {
  const calls: string[] = [];
  const a = fake('a', calls, (i) => [10 + i, 12 + i]);
  const b = fake('b', calls, (i) => [20 * (i + 1)]);
  const r = await interleaved([a, b], 2, policy, () => {});
  assert.deepEqual(calls, ['a0w', 'b0w', 'a1w', 'b1w', 'b0', 'a0', 'b1', 'a1', 'a0', 'b0', 'a1', 'b1']);
  assert.deepEqual(r.ms, [
    [12, 13],
    [20, 40],
  ]);
  assert.deepEqual(r.errors, []);
  assert.ok(a.closed && b.closed);
});

test('a failing contender gets null figures and a one-line error; the others go on', async () => {
  const calls: string[] = [];
  const lines: string[] = [];
  const r = await interleaved([fake('ok', calls, () => [5]), fake('bad', calls, () => [1], 1)], 1, policy, (l) =>
    lines.push(l),
  );
  assert.deepEqual(r.ms, [[5], [null]]);
  assert.deepEqual(r.errors, [{ label: 'bad', message: 'bad broke' }]);
  assert.equal(calls.filter((c) => c.startsWith('bad')).length, 2, 'no rounds after the failure');
  assert.match(lines.join('\n'), /bad: failed \(bad broke\)/, 'the progress line says why');
});

test('the median is the upper middle for an even count, as the PyTorch peer', () => {
  assert.equal(median([3, 1, 2]), 2);
  assert.equal(median([4, 1, 3, 2]), 3);
});

test('a round takes more runs of a short workload, until their times add up to minTimedMs (capped)', () => {
  const p = FULL_POLICY;
  const runsOf = (ms: number): number => {
    let runs = 0;
    while (anotherRun(p, runs, runs * ms, true)) runs++;
    return runs;
  };
  assert.equal(runsOf(165), p.maxRuns, 'a ResNet-50 batch-8 pass: maxRuns');
  assert.equal(runsOf(60), Math.ceil(p.minTimedMs / 60), 'past maxRuns until minTimedMs');
  assert.equal(runsOf(10), Math.ceil(p.minTimedMs / 10), 'a batch-1 pass: 25 runs');
  assert.equal(runsOf(1), p.shortRunsCap, 'capped');
  assert.equal(anotherRun(p, 1, 10, false), false, 'never past the budget once minRuns are done');
  assert.equal(anotherRun(p, 0, 0, false), true, 'minRuns regardless');
});

test('the PyTorch peer takes the same number of runs (peer_timing.py)', () => {
  const script = [
    'import json, sys',
    `sys.path.insert(0, ${JSON.stringify(fileURLToPath(new URL('../../scripts/bench/', import.meta.url)))})`,
    'from peer_timing import another_run',
    `p = json.loads(${JSON.stringify(JSON.stringify(FULL_POLICY))})`,
    'out = []',
    'for ms in [165, 60, 10, 1]:',
    '    runs = 0',
    '    while another_run(p, runs, runs * ms, True): runs += 1',
    '    out.append(runs)',
    'print(json.dumps(out))',
  ].join('\n');
  const r = spawnSync('python3', ['-c', script], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const expected = [165, 60, 10, 1].map((ms) => {
    let runs = 0;
    while (anotherRun(FULL_POLICY, runs, runs * ms, true)) runs++;
    return runs;
  });
  assert.deepEqual(JSON.parse(r.stdout), expected);
});

test("cpuTicksOf reads a process's user + system ticks from /proc/PID/stat, whatever its name holds", () => {
  // pid (comm) state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime ...
  const line = '4242 (py (peer) 3) S 1 4242 4242 0 -1 4194304 900 0 3 0 517 86 0 0 20 0 3 0 99';
  assert.equal(cpuTicksOf(line), 517 + 86);
  const self = readFileSync('/proc/self/stat', 'utf8');
  assert.ok(Number.isInteger(cpuTicksOf(self)) && cpuTicksOf(self) >= 0, self);
});

test("the PyTorch peer's malloc settings reach glibc, after any the caller had", () => {
  const env = peerEnv(2, { PATH: process.env.PATH, GLIBC_TUNABLES: 'glibc.malloc.arena_max=2' });
  assert.equal(env.GLIBC_TUNABLES, `glibc.malloc.arena_max=2:${PEER_MALLOC_TUNABLES}`);
  // The dynamic loader lists the tunables as this environment sets them (glibc 2.33 and later).
  const loader = '/lib64/ld-linux-x86-64.so.2';
  const r = spawnSync(loader, ['--list-tunables'], { env, encoding: 'utf8' });
  if (r.error || r.status !== 0) {
    assert.equal(process.arch === 'x64' && process.platform === 'linux', false, `${loader} --list-tunables failed`);
    return;
  }
  const value = (name: string): number => Number(new RegExp(`${name}: (0x[0-9a-f]+)`).exec(r.stdout)?.[1]);
  assert.equal(value('glibc.malloc.mmap_threshold'), 32 * 2 ** 20);
  assert.equal(value('glibc.malloc.trim_threshold'), 2 ** 30);
  assert.equal(value('glibc.malloc.arena_max'), 2);
});
