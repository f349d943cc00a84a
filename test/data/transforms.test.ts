import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Generator } from '../../src/core/random.js';
import {
  centerCrop,
  channelStats,
  compose,
  horizontalFlip,
  normalize,
  pad,
  randomCrop,
} from '../../src/data/transforms.js';

const g = new Generator(0);
// One 1x3x3 sample: 1..9 row by row.
const x = Float32Array.from([1, 2, 3, 4, 5, 6, 7, 8, 9]);

describe('transforms', () => {
  it('pad adds a border of the fill value', () => {
    const t = pad(1);
    assert.deepEqual(t.outShape([1, 3, 3]), [1, 5, 5]);
    const y = Array.from(t.apply(x, 1, [1, 3, 3], g));
    assert.deepEqual(y.slice(0, 5), [0, 0, 0, 0, 0]);
    assert.deepEqual(y.slice(5, 10), [0, 1, 2, 3, 0]);
    assert.deepEqual(y.slice(20, 25), [0, 0, 0, 0, 0]);
  });

  it('centre crop takes the middle window', () => {
    assert.deepEqual(Array.from(centerCrop(1).apply(x, 1, [1, 3, 3], g)), [5]);
    assert.throws(() => centerCrop(4).outShape([1, 3, 3]), /larger than the image/);
  });

  it('random crop of the padded image is a shifted window, the same for the same generator state', () => {
    const t = randomCrop(3, 1);
    const a = t.apply(x, 1, [1, 3, 3], new Generator(5));
    const b = t.apply(x, 1, [1, 3, 3], new Generator(5));
    assert.deepEqual(a, b);
    // Every crop is the image shifted by at most one pixel each way: its centre is a neighbour of 5.
    for (let seed = 0; seed < 20; seed++) {
      const y = t.apply(x, 1, [1, 3, 3], new Generator(seed));
      assert.ok([1, 2, 3, 4, 5, 6, 7, 8, 9].includes(y[4]));
    }
    assert.deepEqual(randomCrop(3).apply(x, 1, [1, 3, 3], g), x, 'no padding, full size: the image itself');
  });

  it('horizontal flip mirrors rows, with probability p per sample', () => {
    assert.deepEqual(Array.from(horizontalFlip(1).apply(x, 1, [1, 3, 3], g)), [3, 2, 1, 6, 5, 4, 9, 8, 7]);
    assert.deepEqual(horizontalFlip(0).apply(x, 1, [1, 3, 3], g), x);
    const two = new Float32Array([...x, ...x]);
    const gen = new Generator(1);
    const flips = [gen.uniform() < 0.5, gen.uniform() < 0.5];
    const y = horizontalFlip(0.5).apply(two, 2, [1, 3, 3], new Generator(1));
    flips.forEach((f, n) => assert.equal(y[9 * n], f ? 3 : 1));
  });

  it('normalise per channel, and the statistics of a data set', () => {
    const data = {
      inputs: Float32Array.from([0, 2, 10, 10, 4, 6, 10, 10]),
      sampleShape: [2, 1, 2],
      labels: Int32Array.from([0, 1]),
      classes: ['a', 'b'],
    };
    const { mean, std } = channelStats(data);
    assert.deepEqual(mean, [3, 10]);
    assert.equal(std[0], Math.sqrt(5));
    assert.equal(std[1], 1, 'a constant channel gets std 1, not 0');
    const y = normalize([3, 10], [2, 1]).apply(Float32Array.from([1, 5, 11, 9]), 1, [2, 1, 2], g);
    assert.deepEqual(Array.from(y), [-1, 1, 1, -1]);
    assert.throws(() => normalize([0], [0]), /std positive/);
    assert.throws(() => normalize([0], [1]).outShape([3, 2, 2]), /1 channels of statistics, the images 3/);
  });

  it('compose chains shapes and names', () => {
    const t = compose([pad(2), centerCrop(3), normalize([0], [1])]);
    assert.deepEqual(t.outShape([1, 3, 3]), [1, 3, 3]);
    assert.deepEqual(t.apply(x, 1, [1, 3, 3], g), x);
    assert.equal(t.name, 'pad(2) -> centerCrop(3) -> normalize(mean=[0], std=[1])');
  });
});
