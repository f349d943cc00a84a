import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { summarizeEntry } from '../../src/analysis/zoo.js';
import { googlenet } from '../../src/models/googlenet.js';
import { buildModel, getModel, MODELS } from '../../src/models/registry.js';

describe('inChannels', () => {
  it('every family builds its stem for the given channels', () => {
    for (const family of [
      'alexnet',
      'vgg11',
      'googlenet',
      'resnet18',
      'resnet20_cifar',
      'densenet121',
      'densenet_bc_100_cifar',
    ]) {
      const model = buildModel(family, { backend: 'meta', inChannels: 1 });
      const first = model.parameters()[0];
      assert.equal(first.shape[1], 1, `${family}: ${first.shape}`);
      const rgb = buildModel(family, { backend: 'meta' }).parameters()[0];
      assert.equal(rgb.shape[1], 3, family);
    }
    assert.ok(MODELS.length > 7);
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
