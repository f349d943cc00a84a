import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { describe, it } from 'node:test';
import { FASHION_MNIST_CLASSES, FASHION_MNIST_DIR, loadFashionMnist } from '../../src/data/fashion-mnist.js';

const present = existsSync(FASHION_MNIST_DIR);
const skip = present
  ? false
  : `${FASHION_MNIST_DIR} does not exist: install Debian's dataset-fashion-mnist (scripts/setup.sh does when root or sudo)`;
if (skip) console.log(`# skipping the real Fashion-MNIST test: ${skip}`);

describe('Fashion-MNIST', () => {
  it('has the ten class names in label order', () => {
    assert.equal(FASHION_MNIST_CLASSES.length, 10);
    assert.equal(FASHION_MNIST_CLASSES[0], 'T-shirt/top');
    assert.equal(FASHION_MNIST_CLASSES[9], 'Ankle boot');
  });

  it("loads the real test split from Debian's package: 10,000 images, 1,000 per class", { skip }, () => {
    const d = loadFashionMnist('test');
    assert.deepEqual(d.sampleShape, [1, 28, 28]);
    assert.equal(d.labels.length, 10000);
    assert.equal(d.inputs.length, 10000 * 28 * 28);
    const histogram = new Array(10).fill(0);
    for (const l of d.labels) histogram[l]++;
    assert.deepEqual(histogram, new Array(10).fill(1000));
    let min = Infinity;
    let max = -Infinity;
    let sum = 0;
    for (const v of d.inputs) {
      if (v < min) min = v;
      if (v > max) max = v;
      sum += v;
    }
    assert.equal(min, 0);
    assert.equal(max, 1);
    // Fashion-MNIST's published mean pixel is about 0.286.
    assert.ok(Math.abs(sum / d.inputs.length - 0.286) < 0.01, `mean pixel ${sum / d.inputs.length}`);
    assert.equal(d.classes, FASHION_MNIST_CLASSES);
  });
});
