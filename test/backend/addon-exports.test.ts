/**
 * The addon boundary has one list of exports, native/src/exports.def: the committed TypeScript
 * names (addon-exports.generated.ts) must be what scripts/gen-addon-exports.ts makes of it now,
 * each C++ function must be defined in the file the list names, and a built addon must export
 * exactly those names.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { DEF_FILE, expectedGenerated, GENERATED_FILE, parseExportsDef } from '../../scripts/gen-addon-exports.js';
import { ADDON_EXPORTS } from '../../src/backend/native/addon-exports.generated.js';
import { loadNativeAddon } from '../../src/backend/native/index.js';
import { nativeSkipReason } from './native-helpers.js';

describe('addon exports', () => {
  it('the generated TypeScript list is current (run npx tsx scripts/gen-addon-exports.ts)', () => {
    assert.equal(readFileSync(GENERATED_FILE, 'utf8'), expectedGenerated());
  });

  it('each export is defined in the file exports.def names', () => {
    for (const e of parseExportsDef(readFileSync(DEF_FILE, 'utf8'))) {
      const source = readFileSync(join(DEF_FILE, '..', e.file), 'utf8');
      assert.ok(
        source.includes(`Napi::Value ${e.cppFunction}(const Napi::CallbackInfo& info)`),
        `${e.jsName}: ${e.cppFunction} is not defined in native/src/${e.file}`,
      );
    }
  });

  it('a malformed line is refused', () => {
    assert.throws(() => parseExportsDef('CONVKIT_EXPORT(a, A)\n'), /exports.def line 1: expected CONVKIT_EXPORT/);
    assert.throws(
      () => parseExportsDef('CONVKIT_EXPORT(a, A, a.cc)\nCONVKIT_EXPORT(a, B, b.cc)\n'),
      /'a' is listed twice/,
    );
  });

  it('the built addon exports exactly these functions', { skip: nativeSkipReason('addon-exports') }, () => {
    const addon = loadNativeAddon();
    if ('error' in addon) return;
    assert.deepEqual(Object.keys(addon).sort(), [...ADDON_EXPORTS].sort());
  });
});
