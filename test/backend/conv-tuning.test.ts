/**
 * The conv tuning cache (src/backend/native/conv-tuning.ts): choices survive a reload on the same
 * host, are dropped when the host identity changes, and a corrupt, foreign or unwritable file
 * costs a measurement and one warning, never an error. measureFastest runs on a fake clock.
 */
import assert from 'node:assert/strict';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import {
  CONTENDED_CPU_SHARE,
  CONTENDER_FACTOR,
  DIRECT_MARGIN,
  type ConvAlgorithm,
  hostKey,
  measureFastest,
  MIN_TIMED_ROUNDS,
  SAME_ROUNDING_MARGIN,
  sameRoundingKernel,
  TUNING_FILE_FORMAT,
  type TunedChoice,
  TuningCache,
} from '../../src/backend/native/conv-tuning.js';

const dir = mkdtempSync(join(tmpdir(), 'convkit-tuning-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const HOST = { cpu: 'x86_64 Some CPU avx512f', onednn: '2.6.0', addon: '1-2' };
const CHOICE: TunedChoice = { algorithm: 'winograd', ms: { direct: 2, winograd: 1 } };

function cacheAt(file: string | null, host = hostKey(HOST)): { cache: TuningCache; warnings: string[] } {
  const warnings: string[] = [];
  return { cache: new TuningCache(file, host, (m) => warnings.push(m)), warnings };
}

describe('conv tuning cache', () => {
  it('keeps a choice across processes on the same host (a fresh cache reads the file)', () => {
    const file = join(dir, 'same-host', 'tuning.json');
    cacheAt(file).cache.set('shape-a', CHOICE);
    const { cache, warnings } = cacheAt(file);
    assert.deepEqual(cache.get('shape-a'), CHOICE);
    assert.equal(cache.get('shape-b'), undefined);
    assert.deepEqual(warnings, []);
  });

  it('drops every choice when the CPU, oneDNN or the addon build changes', () => {
    const file = join(dir, 'invalidation.json');
    cacheAt(file).cache.set('shape-a', CHOICE);
    for (const changed of [
      { ...HOST, cpu: 'x86_64 Other CPU avx2' },
      { ...HOST, onednn: '3.0.0' },
      { ...HOST, addon: '1-3' },
    ]) {
      assert.notEqual(hostKey(changed), hostKey(HOST));
      assert.equal(cacheAt(file, hostKey(changed)).cache.get('shape-a'), undefined, JSON.stringify(changed));
    }
    assert.deepEqual(cacheAt(file).cache.get('shape-a'), CHOICE, 'the original host still reads its choice');
  });

  it('ignores a corrupt or foreign file with one warning, and replaces it on the next write', () => {
    for (const [name, body] of [
      ['truncated', '{"format":1,"host":"'],
      ['not JSON', '\u0000\u0001garbage'],
      ['another format', '{"format":99,"choices":{}}'],
      [
        'format 1 (one timed run per candidate)',
        JSON.stringify({ format: 1, host: hostKey(HOST), choices: { 'shape-a': CHOICE } }),
      ],
      ['an array', '[1,2,3]'],
    ]) {
      const file = join(dir, `corrupt-${name.replace(/ /g, '-')}.json`);
      writeFileSync(file, body);
      const { cache, warnings } = cacheAt(file);
      assert.equal(cache.get('shape-a'), undefined, name);
      cache.set('shape-a', CHOICE);
      assert.equal(warnings.length, 1, `${name}: one warning, got ${JSON.stringify(warnings)}`);
      assert.match(warnings[0], /ignoring .*measuring again/);
      assert.deepEqual(cacheAt(file).cache.get('shape-a'), CHOICE, `${name}: rewritten`);
    }
  });

  it('drops malformed entries and keeps the rest', () => {
    const file = join(dir, 'entries.json');
    const choices = { good: CHOICE, bad: { algorithm: 'fft', ms: {} }, worse: 3 };
    writeFileSync(file, JSON.stringify({ format: TUNING_FILE_FORMAT, host: hostKey(HOST), choices }));
    const { cache } = cacheAt(file);
    assert.deepEqual(cache.get('good'), CHOICE);
    assert.equal(cache.get('bad'), undefined);
    assert.equal(cache.get('worse'), undefined);
  });

  it('keeps choices in memory when the directory is unwritable, warning once', (t) => {
    if (process.getuid?.() === 0) {
      t.skip('running as root: file permissions do not stop writes (the path-is-a-file case below still runs)');
    } else {
      const locked = join(dir, 'locked');
      mkdirSync(locked);
      chmodSync(locked, 0o500);
      const { cache, warnings } = cacheAt(join(locked, 'tuning.json'));
      cache.set('shape-a', CHOICE);
      cache.set('shape-b', CHOICE);
      assert.deepEqual(cache.get('shape-a'), CHOICE);
      assert.equal(warnings.length, 1);
      chmodSync(locked, 0o700);
    }
    // A parent that is a file: mkdir fails for every user.
    const blocker = join(dir, 'blocker');
    writeFileSync(blocker, 'not a directory');
    const { cache, warnings } = cacheAt(join(blocker, 'tuning.json'));
    cache.set('shape-a', CHOICE);
    cache.set('shape-b', CHOICE);
    assert.deepEqual(cache.get('shape-b'), CHOICE);
    assert.equal(warnings.length, 1, JSON.stringify(warnings));
    assert.match(warnings[0], /cannot write/);
  });

  it('merges what another writer stored meanwhile, and leaves no temporary files', () => {
    const sub = join(dir, 'concurrent');
    const file = join(sub, 'tuning.json');
    const first = cacheAt(file).cache;
    const second = cacheAt(file).cache;
    assert.equal(first.get('x'), undefined); // both loaded the (missing) file before either wrote
    assert.equal(second.get('x'), undefined);
    first.set('shape-a', CHOICE);
    second.set('shape-b', { algorithm: 'direct', ms: { direct: 1 } });
    const stored = JSON.parse(readFileSync(file, 'utf8'));
    assert.deepEqual(Object.keys(stored.choices).sort(), ['shape-a', 'shape-b']);
    assert.deepEqual(readdirSync(sub), ['tuning.json']);
  });

  it('writes nothing without a file (CONVKIT_TUNING_CACHE=off)', () => {
    const { cache, warnings } = cacheAt(null);
    cache.set('shape-a', CHOICE);
    assert.deepEqual(cache.get('shape-a'), CHOICE);
    assert.deepEqual(warnings, []);
  });
});

describe('conv tuning cache: provisional choices', () => {
  it('uses a choice measured under contention in this process and keeps it out of the file', () => {
    const file = join(dir, 'provisional', 'tuning.json');
    const { cache } = cacheAt(file);
    cache.setProvisional('shape-noisy', CHOICE);
    assert.deepEqual(cache.get('shape-noisy'), CHOICE);
    assert.equal(existsSync(file), false, 'nothing written for a provisional choice');
    cache.set('shape-clean', { algorithm: 'direct', ms: { direct: 1, winograd: 2 } });
    assert.deepEqual(Object.keys(JSON.parse(readFileSync(file, 'utf8')).choices), ['shape-clean']);
    const next = cacheAt(file).cache; // the next process measures the noisy shape again
    assert.equal(next.get('shape-noisy'), undefined);
    assert.equal(next.get('shape-clean')?.algorithm, 'direct');
  });
});

describe('measureFastest (fake clock)', () => {
  /** Candidates whose runs advance the clock by their cost in ms. */
  function timed(
    costs: Partial<Record<ConvAlgorithm, number>>,
    margins: Partial<Record<ConvAlgorithm, number>> = {},
  ): { choice: TunedChoice; runs: Map<string, number> } {
    let clock = 0;
    const runs = new Map<string, number>();
    const candidates = Object.entries(costs).map(([algorithm, ms]) => ({
      algorithm: algorithm as ConvAlgorithm,
      margin: margins[algorithm as ConvAlgorithm],
      run: () => {
        clock += ms;
        runs.set(algorithm, (runs.get(algorithm) ?? 0) + 1);
      },
    }));
    return { choice: measureFastest(candidates, () => clock), runs };
  }

  it('keeps Winograd when clearly faster, direct when not by the margin', () => {
    assert.equal(timed({ direct: 10, winograd: 6 }).choice.algorithm, 'winograd');
    assert.equal(timed({ direct: 10, winograd: 9.5 }).choice.algorithm, 'direct');
    assert.equal(timed({ direct: 6, winograd: 10 }).choice.algorithm, 'direct');
    assert.equal(timed({ direct: 3 }).choice.algorithm, 'direct');
    assert.deepEqual(timed({ direct: 10, winograd: 6 }).choice.ms, { direct: 10, winograd: 6 });
  });

  it('keeps a candidate with its own margin when it beats direct by that, and never one that misses its margin', () => {
    const own = { own: SAME_ROUNDING_MARGIN };
    assert.ok(SAME_ROUNDING_MARGIN > DIRECT_MARGIN && SAME_ROUNDING_MARGIN < 1);
    assert.equal(timed({ direct: 10, own: 9.5 }, own).choice.algorithm, 'own');
    assert.equal(timed({ direct: 10, own: 9.5 }).choice.algorithm, 'direct', 'DIRECT_MARGIN by default');
    assert.equal(timed({ direct: 10, own: 9.8 }, own).choice.algorithm, 'direct', 'within the noise');
    // Winograd at 0.92x misses its margin, so the slower own kernel is kept, not Winograd.
    assert.equal(timed({ direct: 10, winograd: 9.2, own: 9.5 }, own).choice.algorithm, 'own');
    assert.equal(timed({ direct: 10, winograd: 8, own: 9.5 }, own).choice.algorithm, 'winograd');
  });

  it("gives the same-rounding margin to convkit's direct kernels only, by the names their plans report", () => {
    for (const impl of ['convkit:avx512_3x3', 'convkit:avx512_1x1', 'convkit:avx2_1x1'])
      assert.equal(sameRoundingKernel(impl), true, impl);
    for (const impl of [
      'convkit:avx2_wino_2x3',
      'convkit:avx2_wino_4x3',
      'convkit:avx2_wino_2x5',
      'jit_wino_4x3:avx512_core',
      'brgconv:avx512_core',
      'jit:avx512_core',
    ])
      assert.equal(sameRoundingKernel(impl), false, impl);
  });

  it('says a measurement was contended when its threads got less than CONTENDED_CPU_SHARE of the CPU time', () => {
    /** Runs that take `ms` of wall time and `share` of two threads' CPU time over it. */
    const measured = (share: number) => {
      let [clock, cpu] = [0, 0];
      const candidate = (algorithm: ConvAlgorithm, ms: number) => ({
        algorithm,
        run: () => {
          clock += ms;
          cpu += ms * 2 * share;
        },
      });
      return measureFastest([candidate('direct', 10), candidate('winograd', 6)], () => clock, {
        cpuMs: () => cpu,
        threads: 2,
      });
    };
    const alone = measured(0.95);
    assert.equal(alone.contended, false);
    assert.ok(Math.abs((alone.cpuShare ?? 0) - 0.95) < 1e-9);
    assert.equal(alone.algorithm, 'winograd');
    const beside = measured(0.5);
    assert.equal(beside.contended, true);
    assert.ok(CONTENDED_CPU_SHARE > 0.5 && CONTENDED_CPU_SHARE < 0.85);
    assert.equal('contended' in timed({ direct: 10, winograd: 6 }).choice, false, 'no meter, no verdict');
  });

  it('takes a lone candidate without running it (no Winograd kernel for the shape or CPU)', () => {
    const { choice, runs } = timed({ direct: 3 });
    assert.deepEqual(choice, { algorithm: 'direct', ms: {} });
    assert.equal(runs.size, 0);
  });

  it('prepares each candidate before every run, outside the timed part (cold weights cost only the kernel)', () => {
    let clock = 0;
    const log: string[] = [];
    const candidate = (algorithm: ConvAlgorithm, ms: number, prepareMs: number) => ({
      algorithm,
      prepare: () => {
        clock += prepareMs; // an eviction this slow must not change the choice
        log.push(`prepare ${algorithm}`);
      },
      run: () => {
        clock += ms;
        log.push(`run ${algorithm}`);
      },
    });
    const choice = measureFastest([candidate('direct', 10, 0), candidate('winograd', 6, 100)], () => clock);
    assert.deepEqual(choice, { algorithm: 'winograd', ms: { direct: 10, winograd: 6 } });
    assert.ok(log.length >= 8);
    log.forEach((entry, i) =>
      assert.equal(entry.split(' ')[0], i % 2 === 0 ? 'prepare' : 'run', `step ${i}: ${entry}`),
    );
  });

  it('stops within its budget: slow shapes get one warm-up and MIN_TIMED_ROUNDS timed runs each', () => {
    assert.equal(MIN_TIMED_ROUNDS, 3);
    assert.deepEqual([...timed({ direct: 200, winograd: 280 }).runs.values()], [4, 4]);
    // Past CONTENDER_FACTOR of the fastest after two rounds: no more runs (its best time stays).
    const { choice, runs } = timed({ direct: 200, winograd: 90, own: 130 });
    assert.deepEqual(Object.fromEntries(runs), { direct: 3, winograd: 4, own: 4 });
    assert.deepEqual(choice, { algorithm: 'winograd', ms: { direct: 200, winograd: 90, own: 130 } });
    assert.ok(CONTENDER_FACTOR > 1.2 && CONTENDER_FACTOR <= 2);
    // One slow run (its first timed one, after the warm-up: 8x its speed) does not lose a candidate.
    let clock = 0;
    const sequence = (algorithm: ConvAlgorithm, costs: number[]) => {
      let i = 0;
      return {
        algorithm,
        run: () => {
          clock += costs[Math.min(i, costs.length - 1)];
          i++;
        },
      };
    };
    const spiked = measureFastest(
      [sequence('direct', [20]), sequence('winograd', [6, 48, 6]), sequence('own', [10])],
      () => clock,
    );
    assert.equal(spiked.algorithm, 'winograd');
    assert.deepEqual([...timed({ direct: 0.1, winograd: 0.1 }).runs.values()], [6, 6]);
  });
});
