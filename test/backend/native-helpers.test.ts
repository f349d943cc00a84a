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
import { failNativeMissing, nativeRequired, nativeSkipReason, REQUIRE_NATIVE } from './native-helpers.js';

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
