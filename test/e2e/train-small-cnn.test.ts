import assert from 'node:assert/strict';
import { it } from 'node:test';
import { manualSeed } from '../../src/core/random.js';
import { syntheticBars } from '../../src/data/synthetic-bars.js';
import { tinyCnn } from '../../src/models/tiny-cnn.js';
import { evaluate, trainEpoch } from '../../src/train/loop.js';
import { CosineAnnealingLR, SGD } from '../../src/train/index.js';

it('a small CNN (conv, BN, ReLU, pool, residual add, concat, linear) learns the bars task to >= 95% test accuracy', async () => {
  manualSeed(0);
  const train = syntheticBars({ count: 1200, seed: 1 });
  const test = syntheticBars({ count: 400, seed: 2 });
  const model = tinyCnn();
  const before = await evaluate(model, test, { batchSize: 100 });
  const epochs = 3;
  const optimizer = new SGD(model.parameters(), { lr: 0.1, momentum: 0.9, weightDecay: 1e-4 });
  const schedule = new CosineAnnealingLR(optimizer, { tMax: epochs });
  const losses: number[] = [];
  for (let e = 0; e < epochs; e++) {
    losses.push((await trainEpoch(model, optimizer, train, { batchSize: 32 })).loss);
    schedule.step();
  }
  const after = await evaluate(model, test, { batchSize: 100 });
  assert.ok(before.accuracy < 0.5, `an untrained net should be near chance (25%), got ${before.accuracy}`);
  assert.ok(
    losses[epochs - 1] < losses[0] / 4,
    `training loss should fall well: ${losses.map((l) => l.toFixed(3)).join(' -> ')}`,
  );
  assert.ok(
    after.accuracy >= 0.95,
    `test accuracy ${after.accuracy} after ${epochs} epochs, losses ${losses.join(', ')}`,
  );
});
