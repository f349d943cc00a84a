import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { runExperiment } from '../../src/cli/experiment.js';
import { UsageError } from '../../src/cli/args.js';
import { experimentNames } from '../../src/experiments/registry.js';

describe('convkit experiment', () => {
  it('lists its experiments', () => {
    assert.deepEqual(experimentNames(), [
      'one-by-one',
      'efficiency',
      'receptive-field',
      'dense-growth',
      'small-kernels',
      'vanishing-gradient',
      'degradation',
    ]);
  });

  it('refuses an unknown name and --quick with --full, before any work', async () => {
    await assert.rejects(
      runExperiment('nope', { data: 'fashion-mnist', seed: 0 }, () => {}),
      (e: unknown) => {
        assert.ok(e instanceof UsageError);
        assert.match((e as Error).message, /unknown experiment 'nope'; there are: one-by-one/);
        return true;
      },
    );
    await assert.rejects(
      runExperiment('efficiency', { quick: true, full: true, data: 'fashion-mnist', seed: 0 }, () => {}),
      UsageError,
    );
  });
});
