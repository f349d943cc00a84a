/**
 * The addon's exports are named once, by the CONVKIT_EXPORT line beside each C++ function: the
 * committed TypeScript names (addon-exports.generated.ts) must be what scripts/gen-addon-exports.ts
 * makes of native/src/*.cc now, and a built addon must export exactly those names.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { expectedGenerated, GENERATED_FILE, parseExports } from '../../scripts/gen-addon-exports.js';
import { ADDON_EXPORTS } from '../../src/backend/native/addon-exports.generated.js';
import { loadNativeAddon } from '../../src/backend/native/index.js';
import { nativeSkipReason } from './native-helpers.js';

describe('addon exports', () => {
  it('the generated TypeScript list is current (run npx tsx scripts/gen-addon-exports.ts)', () => {
    assert.equal(readFileSync(GENERATED_FILE, 'utf8'), expectedGenerated());
  });

  it('reads registrations, and refuses a malformed one or a name registered twice', () => {
    const file = (name: string, ...lines: string[]) => ({ name, text: lines.join('\n') });
    assert.deepEqual(
      parseExports([
        file('a.cc', '// CONVKIT_EXPORT(inComment, X);', 'Napi::Value A(...) {}', 'CONVKIT_EXPORT(a, A);'),
      ]),
      [{ jsName: 'a', cppFunction: 'A', file: 'a.cc' }],
    );
    assert.throws(
      () => parseExports([file('a.cc', 'CONVKIT_EXPORT(a,', '               A);')]),
      /a.cc line 1: expected CONVKIT_EXPORT\(jsName, CppFunction\);/,
    );
    assert.throws(
      () => parseExports([file('a.cc', 'CONVKIT_EXPORT(a, A);'), file('b.cc', 'CONVKIT_EXPORT(a, B);')]),
      /'a' is registered twice \(a.cc and b.cc\)/,
    );
  });

  it('the built addon exports exactly these functions', { skip: nativeSkipReason('addon-exports') }, () => {
    const addon = loadNativeAddon();
    if ('error' in addon) return;
    assert.deepEqual(Object.keys(addon).sort(), [...ADDON_EXPORTS].sort());
  });
});
