import assert from 'node:assert/strict';
import { test } from 'node:test';
import { errorLine } from '../../scripts/bench/first-result.js';

test("a dead side's note is the error line of its stderr, not the source line Node prints first", () => {
  // What Node 20 prints for an uncaught error: the throwing source line, its text, a caret, then the error.
  const stderr = [
    '/work/main/src/backend/native/runtime.ts:306',
    '    return this.plan(key, () => this.addon.reorderPlan(src, dst));',
    '                                            ^',
    '',
    '',
    'Error: reorderPlan: oneDNN failed: could not create a primitive descriptor (status 3)',
    '    at <anonymous> (/work/main/src/backend/native/runtime.ts:306:64)',
  ].join('\n');
  assert.equal(
    errorLine(stderr),
    'Error: reorderPlan: oneDNN failed: could not create a primitive descriptor (status 3)',
  );
  assert.equal(errorLine('RangeError [ERR_X]: bad size\n    at f'), 'RangeError [ERR_X]: bad size');
  assert.equal(errorLine('killed by a signal\n'), 'killed by a signal', 'no error line: the first line');
});
