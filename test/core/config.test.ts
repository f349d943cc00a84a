/**
 * Environment variables (src/core/config.ts): each is read lazily and checked, a bad value throws
 * a ConfigError naming the variable, what it accepts and what came; importing convkit reads none
 * of them, so a bad CONVKIT_THREADS fails only when the native backend is first used.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { afterEach, describe, it } from 'node:test';
import { loadAddon } from '../../src/backend/native/addon.js';
import { ConfigError, resetSettings, setting, settings } from '../../src/core/config.js';

const saved = { ...process.env };

function withEnv(vars: Record<string, string>): void {
  for (const [k, v] of Object.entries(vars)) process.env[k] = v;
  resetSettings();
}

describe('config', () => {
  afterEach(() => {
    for (const k of Object.keys(process.env)) if (k.startsWith('CONVKIT_') && !(k in saved)) delete process.env[k];
    Object.assign(process.env, saved);
    resetSettings();
  });

  it('defaults when unset or empty', () => {
    withEnv({ CONVKIT_THREADS: '', CONVKIT_NATIVE_POOL_MB: '  ' });
    delete process.env.CONVKIT_NATIVE_PLAN_CACHE;
    delete process.env.CONVKIT_FUSE;
    delete process.env.CONVKIT_CONV_ALGORITHM;
    delete process.env.CONVKIT_TUNING_CACHE;
    delete process.env.CONVKIT_NATIVE_ADDON;
    assert.equal(setting('threads'), null);
    assert.equal(setting('nativeAddon'), null);
    assert.equal(setting('convAlgorithm'), 'tune');
    assert.equal(setting('tuningCache'), null);
    assert.equal(setting('nativePoolMb'), 4096);
    assert.equal(setting('nativePlanCache'), 1024);
    assert.equal(setting('fuse'), true);
  });

  it('parses good values', () => {
    withEnv({
      CONVKIT_BACKEND: 'meta',
      CONVKIT_THREADS: '3',
      CONVKIT_NATIVE_POOL_MB: '0.5',
      CONVKIT_NATIVE_PLAN_CACHE: '64',
      CONVKIT_DEBUG: 'all, native',
      CONVKIT_FUSE: '0',
      CONVKIT_CONV_LAYOUT: 'any',
      CONVKIT_CONV_ALGORITHM: 'tune',
      CONVKIT_TUNING_CACHE: '/tmp/tuning.json',
      CONVKIT_NATIVE_ADDON: '/tmp/avx2/convkit_native.node',
    });
    const s = settings();
    assert.equal(s.backend, 'meta');
    assert.equal(s.threads, 3);
    assert.equal(s.nativePoolMb, 0.5);
    assert.equal(s.nativePlanCache, 64);
    assert.deepEqual([...s.debug], ['native']);
    assert.equal(s.fuse, false);
    assert.equal(s.convLayout, 'any');
    assert.equal(s.convAlgorithm, 'tune');
    assert.equal(s.tuningCache, '/tmp/tuning.json');
    assert.equal(s.nativeAddon, '/tmp/avx2/convkit_native.node');
  });

  it('CONVKIT_NATIVE_ADDON naming no file: the addon does not load, and the reason names the file', () => {
    withEnv({ CONVKIT_NATIVE_ADDON: '/nonexistent/convkit_native.node' });
    const loaded = loadAddon();
    assert.ok('error' in loaded, 'loaded an addon from a missing file');
    assert.equal(loaded.error, 'CONVKIT_NATIVE_ADDON names /nonexistent/convkit_native.node, which does not exist');
  });

  it('a bad value throws a ConfigError naming the variable, the accepted values and what came', () => {
    const cases: [string, string, keyof ReturnType<typeof settings>, RegExp][] = [
      ['CONVKIT_THREADS', 'lots', 'threads', /^CONVKIT_THREADS: expected an integer from 1 to 4096, got 'lots'$/],
      ['CONVKIT_THREADS', '0', 'threads', /CONVKIT_THREADS: expected an integer from 1 to 4096, got '0'/],
      ['CONVKIT_THREADS', '2.5', 'threads', /got '2.5'/],
      [
        'CONVKIT_NATIVE_POOL_MB',
        '64MB',
        'nativePoolMb',
        /CONVKIT_NATIVE_POOL_MB: expected a number of MiB.*got '64MB'/,
      ],
      ['CONVKIT_NATIVE_POOL_MB', '-1', 'nativePoolMb', /got '-1'/],
      ['CONVKIT_NATIVE_PLAN_CACHE', '0', 'nativePlanCache', /CONVKIT_NATIVE_PLAN_CACHE: expected an integer from 1/],
      ['CONVKIT_BACKEND', 'cuda', 'backend', /CONVKIT_BACKEND: expected one of 'ref', 'native', 'meta', got 'cuda'/],
      ['CONVKIT_DEBUG', 'native,verbose', 'debug', /CONVKIT_DEBUG: expected a comma-separated list of 'native', 'all'/],
      ['CONVKIT_FUSE', 'off', 'fuse', /CONVKIT_FUSE: expected '1' \(fusion on\) or '0' \(off\), got 'off'/],
      ['CONVKIT_CONV_LAYOUT', 'nhwc', 'convLayout', /CONVKIT_CONV_LAYOUT: expected 'auto' or 'any', got 'nhwc'/],
      [
        'CONVKIT_CONV_ALGORITHM',
        'fast',
        'convAlgorithm',
        /CONVKIT_CONV_ALGORITHM: expected one of 'direct', 'tune', 'winograd', 'auto', 'brgemm', 'transposed', 'own', 'own4', got 'fast'/,
      ],
    ];
    for (const [name, value, key, message] of cases) {
      withEnv({ [name]: value });
      assert.throws(
        () => setting(key),
        (e: unknown) => e instanceof ConfigError && message.test(e.message),
        `${name}=${value}`,
      );
      // Not remembered: fixing the environment fixes the next read.
      delete process.env[name];
      assert.doesNotThrow(() => setting(key));
      resetSettings();
    }
  });

  it('importing convkit reads no variable; a bad CONVKIT_THREADS throws when the native backend is first used', () => {
    const script = [
      "const c = await import('./src/index.ts');",
      "c.withBackend('meta', () => c.backendNames === undefined);",
      "c.getBackend('ref');",
      "try { c.getBackend('native'); console.log('no error'); } catch (e) { console.log(e.name + ': ' + e.message); }",
    ].join('\n');
    const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      env: { ...process.env, CONVKIT_THREADS: 'lots', CONVKIT_BACKEND: '' },
      encoding: 'utf8',
    });
    assert.equal(r.status, 0, r.stderr);
    const out = r.stdout.trim();
    // Without the addon the native backend is unavailable (a BackendError) before threads matter.
    assert.ok(
      out === "ConfigError: CONVKIT_THREADS: expected an integer from 1 to 4096, got 'lots'" ||
        out.startsWith('BackendError: backend: the native backend is unavailable'),
      out,
    );
  });
});
