import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CommanderError } from 'commander';
import { UsageError } from '../../src/cli/args.js';
import { reportFor, STACK_HINT, wantsStack } from '../../src/cli/boundary.js';
import { OutputError } from '../../src/cli/files.js';
import { ArgumentError, ShapeError } from '../../src/core/errors.js';

describe('the error boundary', () => {
  it('usage errors exit 2, failures while running 1, each as one line', () => {
    assert.deepEqual(reportFor(new UsageError('--layers: expected an integer from 1 to 10000, got 1e9'), false), {
      status: 2,
      text: 'convkit: --layers: expected an integer from 1 to 10000, got 1e9',
    });
    assert.deepEqual(
      reportFor(
        new CommanderError(1, 'commander.unknownOption', "error: unknown option '--x'\n(Did you mean --y?)"),
        false,
      ),
      {
        status: 2,
        text: "convkit: unknown option '--x' (Did you mean --y?)",
      },
    );
    assert.deepEqual(reportFor(new ShapeError('conv2d', 'input is 0x0', 'features.3'), false), {
      status: 1,
      text: 'convkit: conv2d (features.3): input is 0x0',
    });
    assert.deepEqual(reportFor(new ArgumentError('setThreads', 'threads must be a positive integer, got NaN'), false), {
      status: 1,
      text: 'convkit: setThreads: threads must be a positive integer, got NaN',
    });
    assert.deepEqual(
      reportFor(new OutputError('out/x.svg', 'cannot write: no space left on the device (ENOSPC)'), false),
      {
        status: 1,
        text: 'convkit: out/x.svg: cannot write: no space left on the device (ENOSPC)',
      },
    );
    // --help, and `convkit help calc`; but `convkit calc` alone prints help as an error (exit code 1).
    assert.deepEqual(reportFor(new CommanderError(0, 'commander.helpDisplayed', '(outputHelp)'), false), {
      status: 0,
      text: '',
    });
    assert.deepEqual(reportFor(new CommanderError(0, 'commander.help', '(outputHelp)'), false), {
      status: 0,
      text: '',
    });
    assert.equal(reportFor(new CommanderError(1, 'commander.help', '(outputHelp)'), false).status, 2);
  });

  it('unexpected errors get a hint, and their stack only when CONVKIT_DEBUG asks', () => {
    const err = new TypeError('x is not a function\nsecond line');
    assert.deepEqual(reportFor(err, false), {
      status: 1,
      text: `convkit: internal error: TypeError: x is not a function second line ${STACK_HINT}`,
    });
    assert.deepEqual(reportFor('a string', false), {
      status: 1,
      text: `convkit: internal error: a string ${STACK_HINT}`,
    });
    const withStack = reportFor(err, true);
    assert.equal(withStack.status, 1);
    assert.match(withStack.text, /^TypeError: x is not a function\nsecond line\n {4}at /);
    assert.equal(wantsStack({ CONVKIT_DEBUG: 'native, stack' }), true);
    assert.equal(wantsStack({ CONVKIT_DEBUG: 'all' }), true);
    assert.equal(wantsStack({ CONVKIT_DEBUG: 'native' }), false);
    assert.equal(wantsStack({}), false);
  });
});
