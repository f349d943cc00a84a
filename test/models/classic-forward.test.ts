/**
 * Every classic model built for real: one image through it gives the [1, 1000] the analysis
 * predicts (224x224; 227 for alexnet_paper), and the same build's weights have the family's
 * initialisation. One build per model, freed afterwards. AlexNet and GoogLeNet run on the
 * reference backend; the VGGs (7.6-19.6 GMACs, 15-40 s each there) on the native backend when it
 * loads (forwardBackend in zoo-helpers.ts says why).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { summarizeEntry } from '../../src/analysis/zoo.js';
import { noGrad } from '../../src/core/grad-mode.js';
import { randn } from '../../src/ops/creation.js';
import type { StateDict } from '../../src/nn/state-dict.js';
import { classicEntry, CLASSIC_MODELS } from './load-registry.js';
import { forwardBackend } from './zoo-helpers.js';

interface Stats {
  mean: number;
  std: number;
  maxAbs: number;
  min: number;
  max: number;
}

function stats(values: ArrayLike<number>): Stats {
  let sum = 0;
  let sq = 0;
  let maxAbs = 0;
  let min = Infinity;
  let max = -Infinity;
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    sum += v;
    sq += v * v;
    maxAbs = Math.max(maxAbs, Math.abs(v));
    min = Math.min(min, v);
    max = Math.max(max, v);
  }
  const mean = sum / values.length;
  return { mean, std: Math.sqrt(sq / values.length - mean * mean), maxAbs, min, max };
}

const valuesOf = (sd: StateDict, key: string): ArrayLike<number> =>
  sd.get(key)?.toArray() ?? assert.fail(`no state-dict key ${key}`);

/** Sample std within `tol` (relative) of `expected`: a loose bound for thousands of draws. */
function assertStd(sd: StateDict, key: string, expected: number, tol = 0.1): void {
  const s = stats(valuesOf(sd, key));
  assert.ok(Math.abs(s.std / expected - 1) < tol, `${key}: std ${s.std}, expected about ${expected}`);
  assert.ok(Math.abs(s.mean) < 3 * expected, `${key}: mean ${s.mean}`);
}

function assertConstant(sd: StateDict, key: string, value: number): void {
  const s = stats(valuesOf(sd, key));
  assert.deepEqual([s.min, s.max], [Math.fround(value), Math.fround(value)], `${key} should all be ${value}`);
}

/** Initialisation of each family, checked on the model the forward pass used. */
const INIT_CHECKS: Record<string, (sd: StateDict) => void> = {
  // PyTorch's layer defaults: weight and bias U(+-1/sqrt(fan_in)); conv1's fan_in = 3*11*11 = 363.
  alexnet: (sd) => {
    const bound = 1 / Math.sqrt(363);
    assert.ok(stats(valuesOf(sd, 'features.0.weight')).maxAbs <= bound);
    assertStd(sd, 'features.0.weight', bound / Math.sqrt(3));
    assert.ok(stats(valuesOf(sd, 'features.0.bias')).maxAbs <= bound);
  },
  // The paper: weights N(0, 0.01); biases 1 in conv2, conv4, conv5 and the hidden FCs, 0 elsewhere.
  alexnet_paper: (sd) => {
    for (const key of ['features.0.weight', 'features.4.weight', 'classifier.6.weight']) assertStd(sd, key, 0.01, 0.05);
    const biases = {
      'features.0.bias': 0,
      'features.4.bias': 1,
      'features.8.bias': 0,
      'features.10.bias': 1,
      'features.12.bias': 1,
      'classifier.0.bias': 1,
      'classifier.3.bias': 1,
      'classifier.6.bias': 0,
    };
    for (const [key, value] of Object.entries(biases)) assertConstant(sd, key, value);
  },
  // torchvision: kaiming_normal_(fan_out, relu) convs (features.0: std sqrt(2 / (64*9))), N(0, 0.01) linears, zero biases.
  vgg: (sd) => {
    assertStd(sd, 'features.0.weight', Math.sqrt(2 / (64 * 9)));
    assertStd(sd, 'classifier.6.weight', 0.01, 0.05);
    for (const key of ['features.0.bias', 'classifier.0.bias', 'classifier.6.bias']) assertConstant(sd, key, 0);
  },
  // torchvision: trunc_normal_(std 0.01, a=-2, b=2) conv and linear weights; fc.bias keeps PyTorch's U(+-1/sqrt(1024)); BN 1/0.
  googlenet: (sd) => {
    assertStd(sd, 'inception5b.branch1.conv.weight', 0.01, 0.05);
    assertStd(sd, 'fc.weight', 0.01, 0.05);
    const bias = stats(valuesOf(sd, 'fc.bias'));
    assert.ok(bias.maxAbs <= 1 / 32 && bias.maxAbs > 0.02, `fc.bias: ${JSON.stringify(bias)}`);
    assertConstant(sd, 'conv1.bn.weight', 1);
    assertConstant(sd, 'conv1.bn.bias', 0);
  },
  // Caffe's BVLC GoogLeNet: "xavier" U(+-sqrt(3 / fan_in)) (conv1: fan_in 3*7*7 = 147), biases 0.2, classifier bias 0.
  googlenet_paper: (sd) => {
    const bound = Math.sqrt(3 / 147);
    assert.ok(stats(valuesOf(sd, 'conv1.conv.weight')).maxAbs <= bound);
    assertStd(sd, 'conv1.conv.weight', bound / Math.sqrt(3));
    assertConstant(sd, 'conv1.conv.bias', 0.2);
    assertConstant(sd, 'inception5b.branch3.1.conv.bias', 0.2);
    assertConstant(sd, 'fc.bias', 0);
  },
};

describe('one real forward pass per classic model', () => {
  for (const entry of CLASSIC_MODELS) {
    const [c, h, w] = entry.input;
    const summary = summarizeEntry(entry);
    const backend = forwardBackend(summary.totals.macs);
    it(`${entry.name}: one ${h}x${w} image gives the [1, 1000] the analysis predicts (${backend} backend); initialisation as ${entry.layout === 'paper' ? 'the paper' : 'torchvision'}`, () => {
      const predicted = summary.rows[0].outputShape;
      assert.deepEqual(predicted, [1, 1000]);
      const model = classicEntry(entry.name).build({ backend }).eval();
      try {
        const y = noGrad(() => model.call(randn([1, c, h, w], { backend })));
        assert.deepEqual(y.shape, predicted);
        assert.ok(y.toArray().every(Number.isFinite), 'finite logits');
        INIT_CHECKS[entry.family === 'vgg' ? 'vgg' : entry.name](model.stateDict());
      } finally {
        model.dispose();
      }
    });
  }
});
