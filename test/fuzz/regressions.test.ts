/**
 * Every disagreement the differential fuzzer ever found, replayed by name from its saved
 * reproduction (test/fuzz/found/*.json). Open ones are `todo` (reported, not failing) with the
 * reason; when a fix lands, drop the `open` and the test guards it. Cases that crash the process
 * run in a child process. docs/fuzzing.md says how a finding becomes an entry here.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import { FOUND_DIR, loadRepro, nativeMissing, replay } from './harness.js';

interface Regression {
  /** What the test checks, as the test's name. */
  name: string;
  /** The reproduction under test/fuzz/found/. */
  file: string;
  /** Why it still disagrees (the test is a todo until it is fixed); absent once fixed. */
  open?: string;
  /** It kills the process: replay it in a child. */
  crash?: boolean;
}

export const REGRESSIONS: readonly Regression[] = [
  {
    name: 'conv2d with a bias and a fused addend keeps the bias at outputs whose window is all padding',
    file: 'conv2dFused-finite-bias-lost-padding-window.json',
  },
  {
    name: 'conv2d with fused addend and relu does not crash when a window is all padding',
    file: 'conv2dFused-crash-relu-addend-padding-window.json',
    crash: true,
  },
  {
    name: 'localResponseNorm backward with one channel, one pixel and size 1 does not crash',
    file: 'localResponseNorm-crash-backward-one-element.json',
    crash: true,
  },
  {
    name: 'strided conv2d: a NaN outside an output window does not reach that output',
    file: 'conv2d-strided-nan-outside-window.json',
  },
  {
    name: 'strided conv2d (post-op form): a NaN skipped by the stride does not reach the output',
    file: 'conv2dFused-strided-nan-outside-window.json',
  },
  {
    name: 'sqrt backward at -0 gives the same infinity on both backends',
    file: 'sqrt-negative-zero-gradient.json',
  },
  { name: 'relu backward at NaN', file: 'relu-nan-backward.json' },
  { name: 'softmax of a row with NaN', file: 'softmax-nan.json' },
  { name: 'logSoftmax of a column with +Infinity', file: 'logSoftmax-inf.json' },
  { name: 'maxPool2d of a window with NaN', file: 'maxPool2d-nan.json' },
  {
    name: 'maxPool2d of a window of -Infinity is -Infinity',
    file: 'maxPool2d-negative-infinity.json',
  },
  { name: 'crossEntropy with an infinite logit', file: 'crossEntropy-inf.json' },
  {
    name: 'concatBatchNorm with relu and a NaN weight',
    file: 'concatBatchNorm-relu-nan-weight.json',
  },
  {
    name: 'eval batchNorm with relu, zero variance and eps 0',
    file: 'batchNorm-zero-variance-relu.json',
  },
];

const missing = nativeMissing();
const skip = missing ? `native backend unavailable: ${missing}` : false;
if (missing) console.log(`# test/fuzz/regressions.test.ts skipped: ${skip}`);

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** Replays a crashing case in a child process: true when it exits cleanly and the backends agree. */
function replayInChild(file: string): { ok: boolean; why: string } {
  const r = spawnSync(
    process.execPath,
    ['--import', 'tsx', join(root, 'scripts', 'fuzz.ts'), '--replay', join(FOUND_DIR, file)],
    {
      cwd: root,
      encoding: 'utf8',
      timeout: 120_000,
    },
  );
  const why = r.signal ? `killed by ${r.signal}` : `exit ${r.status}: ${(r.stdout + r.stderr).trim()}`;
  return { ok: r.status === 0, why };
}

describe('fuzz regressions', { skip }, () => {
  for (const r of REGRESSIONS) {
    it(r.name, { todo: r.open }, () => {
      if (r.crash) {
        const { ok, why } = replayInChild(r.file);
        assert.ok(ok, `${r.file}: ${why}`);
        return;
      }
      const d = replay(r.file);
      assert.equal(d, null, `${r.file}: ${d?.message}`);
    });
  }
});

describe('fuzz regression files', () => {
  it('every saved reproduction has a named test here, and every test a file', () => {
    const files = readdirSync(FOUND_DIR).filter((f) => f.endsWith('.json'));
    const named = new Set(REGRESSIONS.map((r) => r.file));
    for (const f of files) assert.ok(named.has(f), `test/fuzz/found/${f} has no entry in REGRESSIONS`);
    for (const f of named) {
      assert.ok(files.includes(f), `${f} is missing from test/fuzz/found/`);
      assert.equal(loadRepro(f).name, f.replace(/\.json$/, ''), `${f}: its name field should be its file name`);
    }
  });
});
