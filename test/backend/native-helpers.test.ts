/**
 * The switch that turns native skips into failures (CONVKIT_REQUIRE_NATIVE=1, set by .ci/run where
 * set-up can install oneDNN), on a fake failed addon load: the helper's answers, and a child test
 * run that is green with a skip without the switch and red with it.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import {
  assertClose,
  failNativeMissing,
  nativeRequired,
  nativeSkipReason,
  OP_TOLERANCE,
  REQUIRE_NATIVE,
} from './native-helpers.js';

const failed = { error: 'oneDNN is not installed: sudo apt-get install libdnnl-dev, then npm run build:native' };

describe('CONVKIT_REQUIRE_NATIVE turns native skips into failures', () => {
  it('without it, a failed addon load is a skip with the reason; a loaded addon is never skipped', () => {
    const reason = nativeSkipReason('demo', failed, {});
    assert.equal(reason, `native backend unavailable: ${failed.error}`);
    assert.equal(nativeSkipReason('demo', {}, {}), false);
    assert.equal(nativeSkipReason('demo', {}, { [REQUIRE_NATIVE]: '1' }), false);
  });

  it('with it, nothing is skipped and a native test fails, naming the reason', () => {
    for (const value of ['1', 'true', 'yes']) assert.equal(nativeRequired({ [REQUIRE_NATIVE]: value }), true);
    for (const value of ['', '0', 'no']) assert.equal(nativeRequired({ [REQUIRE_NATIVE]: value }), false);
    assert.equal(nativeSkipReason('demo', failed, { [REQUIRE_NATIVE]: '1' }), false);
    assert.throws(
      () => failNativeMissing(failed),
      (e: Error) =>
        e.name === 'AssertionError' && e.message.includes(failed.error) && e.message.includes(REQUIRE_NATIVE),
    );
  });

  it('a test file of native tests is green (1 skipped) without the switch, red with it', () => {
    const dir = mkdtempSync(join(tmpdir(), 'convkit-require-native-'));
    try {
      const helpers = fileURLToPath(new URL('./native-helpers.ts', import.meta.url));
      const file = join(dir, 'fake-native.test.ts');
      writeFileSync(
        file,
        [
          "import { it } from 'node:test';",
          `import { failNativeMissing, nativeSkipReason } from ${JSON.stringify(helpers)};`,
          `const addon: { error: string } | { ok: true } = ${JSON.stringify(failed)};`,
          "const skip = nativeSkipReason('fake-native', addon);",
          "it('a native test', { skip }, () => { if ('error' in addon) return failNativeMissing(addon); });",
        ].join('\n'),
      );
      const run = (env: NodeJS.ProcessEnv) =>
        spawnSync(process.execPath, ['--import', 'tsx', '--test', '--test-reporter=tap', file], {
          cwd: process.cwd(),
          env,
          encoding: 'utf8',
          timeout: 60_000,
        });
      // NODE_TEST_CONTEXT (set inside a test run) would make the child report to this process instead of stdout.
      const { [REQUIRE_NATIVE]: _, NODE_TEST_CONTEXT: __, ...base } = process.env;
      const green = run(base);
      assert.equal(green.status, 0, green.stdout + green.stderr);
      assert.match(green.stdout, /# skipped 1\n/);
      const red = run({ ...base, [REQUIRE_NATIVE]: '1' });
      assert.equal(red.status, 1, red.stdout + red.stderr);
      assert.match(red.stdout, /# fail 1\n/);
      assert.match(red.stdout, /oneDNN is not installed/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('assertClose compares per element, relative plus absolute', () => {
  it('rejects a 1 % error on values near 1e-2 (the old check, scaled by max(1, largest), allowed it)', () => {
    const expected = [0.012, -0.018, 0.009];
    assert.throws(
      () =>
        assertClose(
          'small',
          expected.map((v) => v * 1.01),
          expected,
        ),
      /small: 3 of 3 elements differ; worst: element 1/,
    );
    assertClose(
      'float32 noise',
      expected.map((v) => Math.fround(v * (1 + 3e-7))),
      expected,
    );
  });

  it('allows atol near zero and rtol on large values, and names NaN', () => {
    assertClose('near zero', [5e-6, 1000.05], [0, 1000], OP_TOLERANCE);
    assert.throws(() => assertClose('nan', [Number.NaN], [1]), /nan: 1 of 1 elements differ/);
    assert.throws(() => assertClose('large', [1000.2], [1000]), /allowed 0.0001 \* \|ref\| \+ 0.00001/);
  });
});
