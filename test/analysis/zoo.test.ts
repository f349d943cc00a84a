import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { summarizeEntry } from '../../src/analysis/zoo.js';
import { getModel } from '../../src/models/registry.js';

// docs/architecture.md#published-reference-numbers: torchvision's parameters() counts and GMACs at 224x224 (3 decimals as torchvision prints).
const PUBLISHED: readonly [string, number, string][] = [
  ['alexnet', 61_100_840, '0.714'],
  ['vgg11', 132_863_336, '7.609'],
  ['vgg11_bn', 132_868_840, '7.609'],
  ['vgg13', 133_047_848, '11.308'],
  ['vgg13_bn', 133_053_736, '11.308'],
  ['vgg16', 138_357_544, '15.470'],
  ['vgg16_bn', 138_365_992, '15.470'],
  ['vgg19', 143_667_240, '19.632'],
  ['vgg19_bn', 143_678_248, '19.632'],
  ['googlenet', 6_624_904, '1.498'],
  ['resnet18', 11_689_512, '1.814'],
  ['resnet34', 21_797_672, '3.664'],
  ['resnet50', 25_557_032, '4.089'],
  ['resnet101', 44_549_160, '7.801'],
  ['resnet152', 60_192_808, '11.514'],
  ['densenet121', 7_978_856, '2.834'],
  ['densenet161', 28_681_000, '7.728'],
  ['densenet169', 14_149_480, '3.360'],
  ['densenet201', 20_013_928, '4.291'],
];

// He et al. 2015 (section 4.2) and Huang et al. 2017, in millions as the papers round them.
const CIFAR: readonly [string, string][] = [
  ['resnet20_cifar', '0.27'],
  ['resnet32_cifar', '0.46'],
  ['resnet44_cifar', '0.66'],
  ['resnet56_cifar', '0.85'],
  ['resnet110_cifar', '1.7'],
  ['densenet_bc_100_cifar', '0.8'],
];

describe('analysis of the zoo reproduces the published numbers', () => {
  for (const [name, params, gmacs] of PUBLISHED) {
    it(`${name}: ${params.toLocaleString('en-US')} parameters, ${gmacs} GMACs`, () => {
      const { totals } = summarizeEntry(getModel(name));
      assert.equal(totals.params, params);
      assert.equal((totals.macs / 1e9).toFixed(3), gmacs);
      assert.equal(totals.trainableParams, params);
    });
  }

  for (const [name, millions] of CIFAR) {
    it(`${name}: ${millions}M parameters`, () => {
      const { totals } = summarizeEntry(getModel(name));
      const digits = millions.split('.')[1].length;
      assert.equal((totals.params / 1e6).toFixed(digits), millions);
      assert.deepEqual(totals.outputShape, [1, 10]);
    });
  }
});
