import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { withBackend } from '../../src/backend/registry.js';
import type { Tensor } from '../../src/core/tensor.js';
import * as nn from '../../src/nn/index.js';
import { isTracingModules, traceModules } from '../../src/nn/trace-modules.js';
import { zeros } from '../../src/ops/creation.js';

describe('module-call tracing', () => {
  const model = withBackend('meta', () =>
    nn.Sequential.named({ a: new nn.Sequential(new nn.ReLU(), new nn.Identity()), b: new nn.ReLU() }),
  );
  const x = zeros([1, 2], { backend: 'meta' });

  it('reports enter in pre-order and exit in post-order, with the input and output', () => {
    const events: string[] = [];
    let seenInput: unknown = null;
    let seenOutput: unknown = null;
    const out = traceModules(
      {
        enter: (m, input) => {
          events.push(`enter ${m.path || 'root'}`);
          if (m === model) seenInput = input;
        },
        exit: (m, output) => {
          events.push(`exit ${m.path || 'root'}`);
          if (m === model) seenOutput = output;
        },
      },
      () => model.call(x),
    );
    assert.deepEqual(events, [
      'enter root',
      'enter a',
      'enter a.0',
      'exit a.0',
      'enter a.1',
      'exit a.1',
      'exit a',
      'enter b',
      'exit b',
      'exit root',
    ]);
    assert.equal(seenInput, x);
    assert.equal(seenOutput, out);
  });

  it('detaches the listener afterwards, also when the forward pass throws', () => {
    class Broken extends nn.Module {
      forward(_x: Tensor): Tensor {
        throw new Error('boom');
      }
    }
    assert.equal(isTracingModules(), false);
    assert.throws(() => traceModules({}, () => new Broken().call(x)), /boom/);
    assert.equal(isTracingModules(), false);
    let calls = 0;
    traceModules({ enter: () => calls++ }, () => undefined);
    model.call(x);
    assert.equal(calls, 0, 'nothing is reported outside traceModules');
  });
});
