import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { summarizeEntry } from '../../src/analysis/zoo.js';
import { googlenet } from '../../src/models/googlenet.js';
import { buildModel, getModel, MODELS } from '../../src/models/registry.js';

describe('inChannels', () => {
  it('every model of the zoo builds its stem for the given channels', () => {
    for (const { name } of MODELS) {
      for (const channels of [1, 3, 4]) {
        const first = buildModel(name, { backend: 'meta', inChannels: channels }).parameters()[0];
        assert.equal(first.shape[1], channels, `${name}: ${first.shape}`);
      }
      assert.equal(buildModel(name, { backend: 'meta' }).parameters()[0].shape[1], 3, `${name} defaults to 3`);
    }
  });

  it('refuses a bad count, and GoogLeNet refuses transformInput without 3 channels', () => {
    assert.throws(
      () => buildModel('resnet18', { backend: 'meta', inChannels: 0 }),
      /inChannels must be a positive integer/,
    );
    assert.throws(
      () => googlenet({ inChannels: 1, transformInput: true }),
      /transformInput re-normalises 3 RGB channels/,
    );
  });

  it('summary at 1x28x28 builds a greyscale stem', () => {
    const s = summarizeEntry(getModel('resnet20_cifar'), { input: [1, 28, 28] });
    assert.equal(s.totals.params, 269_434);
  });
});
