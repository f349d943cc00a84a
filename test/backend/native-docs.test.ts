/**
 * "What runs natively" in docs/native-backend.md is written once, by the rows beside the native
 * kernels: the committed table must be what scripts/gen-native-docs.ts makes of them now.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { BEGIN, DOC_FILE, END, expectedDoc, renderNativeTable, replaceTable } from '../../scripts/gen-native-docs.js';

describe('native docs table', () => {
  it('the table in docs/native-backend.md is current (run npx tsx scripts/gen-native-docs.ts)', () => {
    assert.equal(readFileSync(DOC_FILE, 'utf8'), expectedDoc());
  });

  it('lists the kernels in no row as reference only, and refuses a kernel in two rows', () => {
    const run = (name: string, ...kernels: ('fill' | 'cast' | 'pad')[]) => ({
      kernels,
      name,
      native: 'a|b',
      fallback: 'c',
    });
    assert.equal(
      renderNativeTable([run('fill', 'fill')], ['fill', 'cast', 'pad']),
      [
        '| kernel | native cases | reference fallback |',
        '|---|---|---|',
        '| fill | a\\|b | c |',
        '| cast, pad | none | all |',
      ].join('\n'),
    );
    assert.throws(
      () => renderNativeTable([run('one', 'fill'), run('two', 'cast', 'fill')], ['fill', 'cast']),
      /kernel 'fill' is in two rows of the native table \(the second: 'two'\)/,
    );
  });

  it('replaces only the text between the markers, and refuses a doc without them', () => {
    assert.equal(replaceTable(`a\n${BEGIN}\nold\n${END}\nb`, 'new'), `a\n${BEGIN}\nnew\n${END}\nb`);
    assert.throws(() => replaceTable('no markers', 'new'), /expected the markers/);
  });
});
