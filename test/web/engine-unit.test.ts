/**
 * The Run it view's unit arithmetic (web/src/engine-unit.ts) against the ops themselves: for the
 * units of every convolution, ReLU and pooling layer of a traced pass (web/src/engine.ts), the
 * value recomputed from the window, kernel and bias equals what the reference backend's op
 * computed: on ResNet-20 (option-A shortcuts: 1x1 stride-2 average pooling) and on layers with
 * the awkward geometry (groups, dilation, asymmetric padding, ceil mode, count_include_pad off
 * and on past the input, adaptive bins that overlap).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { withBackend } from '../../src/backend/registry.js';
import { Generator } from '../../src/core/random.js';
import { getModel } from '../../src/models/registry.js';
import { ReLU } from '../../src/nn/activation.js';
import { Sequential } from '../../src/nn/containers.js';
import { Conv2d } from '../../src/nn/conv2d.js';
import type { TensorModule } from '../../src/nn/module.js';
import { AdaptiveAvgPool2d, AvgPool2d, MaxPool2d } from '../../src/nn/pooling.js';
import { EXPLAINED_OPS, type LoadedRun, traceActivations } from '../../web/src/engine.js';
import { chw, explainUnit } from '../../web/src/engine-unit.js';

function run(model: TensorModule, input: [number, number, number]): LoadedRun {
  model.eval();
  const config = {
    model: 'test',
    data: 'none',
    input,
    classes: [],
    augment: false,
    normalize: { mean: Array(input[0]).fill(0), std: Array(input[0]).fill(1) },
  };
  return { name: 'test', config, model };
}

function image(shape: [number, number, number], seed: number): Float32Array {
  const g = new Generator(seed);
  return Float32Array.from({ length: shape[0] * shape[1] * shape[2] }, () => 2 * g.uniform() - 1);
}

/** Checks `every`-th unit of each explained layer; returns how many layers and units were checked. */
function checkUnits(r: LoadedRun, pixels: Float32Array, every: number): { layers: Set<string>; units: number } {
  const layers = new Set<string>();
  let units = 0;
  for (const l of traceActivations(r, pixels)) {
    if (!EXPLAINED_OPS.has(l.op)) continue;
    layers.add(l.op);
    const [c, h, w] = chw(l.output.shape);
    for (let i = 0; i < c * h * w; i += every) {
      const unit = { channel: Math.floor(i / (h * w)), y: Math.floor(i / w) % h, x: i % w };
      const e = explainUnit(l, unit);
      assert.ok(e, `${l.path} ${l.op}`);
      const tolerance = 1e-5 * (1 + Math.abs(e.output)) * Math.sqrt(e.terms);
      assert.ok(
        Math.abs(e.value - e.output) <= tolerance,
        `${l.path} ${l.op} unit ${JSON.stringify(unit)}: arithmetic ${e.value}, the op ${e.output}`,
      );
      units++;
    }
  }
  return { layers, units };
}

describe('explainUnit', () => {
  it('recomputes every sampled unit of ResNet-20 as the ref backend computed it', () => {
    const model = withBackend('ref', () => getModel('resnet20_cifar').build({ backend: 'ref' }));
    const { layers, units } = checkUnits(run(model, [3, 32, 32]), image([3, 32, 32], 1), 37);
    assert.deepEqual([...layers].sort(), ['adaptiveAvgPool2d', 'avgPool2d', 'conv2d', 'relu']);
    assert.ok(units > 1000, `${units} units`);
  });

  it('follows groups, dilation, asymmetric padding, ceil mode and count_include_pad', () => {
    const model = withBackend('ref', () =>
      Sequential.named({
        conv: new Conv2d(4, 6, 3, { stride: 2, padding: [1, 2, 0, 2], dilation: [2, 1], groups: 2 }),
        relu: new ReLU(),
        max: new MaxPool2d(3, { stride: 2, padding: 1, ceilMode: true }),
        avgNoPad: new AvgPool2d(3, { stride: 1, padding: 1, countIncludePad: false }),
        avgCeil: new AvgPool2d(2, { stride: 2, padding: 1, ceilMode: true }),
        adaptive: new AdaptiveAvgPool2d([2, 3]),
      }),
    );
    const { layers, units } = checkUnits(run(model, [4, 13, 11]), image([4, 13, 11], 2), 1);
    assert.deepEqual([...layers].sort(), ['adaptiveAvgPool2d', 'avgPool2d', 'conv2d', 'maxPool2d', 'relu']);
    assert.ok(units > 100, `${units} units`);
  });
});
