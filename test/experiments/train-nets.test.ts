import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { describe, it } from 'node:test';
import { Sequential } from '../../src/nn/containers.js';
import { Flatten } from '../../src/nn/flatten.js';
import { Linear } from '../../src/nn/linear.js';
import { trainNets } from '../../src/experiments/train-nets.js';

const DATA = '/usr/share/datasets/fashion-mnist';
const settings = { mode: 'quick' as const, data: 'fashion-mnist', seed: 0 };
const linear = {
  name: 'linear',
  build: (c: number, classes: number, side: number) =>
    new Sequential(new Flatten(), new Linear(c * side * side, classes)),
};

describe('trainNets', { skip: existsSync(DATA) ? false : `no Fashion-MNIST at ${DATA}` }, () => {
  it('by default tests after the last epoch only', async () => {
    const [t] = await trainNets(
      settings,
      { trainLimit: 32, testLimit: 20, epochs: 2, batchSize: 16, lr: 0.01 },
      [linear],
      't',
    );
    assert.deepEqual(
      t.epochs.map((e) => [e.iterations, e.test === undefined]),
      [
        [2, true],
        [4, false],
      ],
    );
    assert.equal(t.testAccuracy, t.epochs[1].test?.accuracy);
    assert.ok(t.stepSeconds > 0 && t.stepSeconds <= t.seconds, `median step ${t.stepSeconds} s of ${t.seconds} s`);
    assert.deepEqual(t.images, { train: 32, validation: 0, test: 20, trainSplit: 60000, testSplit: 10000 });
  });

  it('stops at the iterations, lowers the lr at the milestones, holds out validation images, tests every epoch', async () => {
    const plan = {
      trainLimit: 40,
      testLimit: 20,
      epochs: Number.POSITIVE_INFINITY,
      batchSize: 16,
      lr: 0.1,
      optimizer: { name: 'sgd' as const, momentum: 0.9, weightDecay: 1e-4 },
      lrMilestones: [2, 5],
      lrFactor: 0.1,
      iterations: 7,
      augment: { padding: 4, flip: true },
      validation: 8,
      testEveryEpoch: true,
    };
    const [t] = await trainNets(settings, plan, [linear], 't');
    // 32 training images in batches of 16: 2 steps an epoch, the 4th epoch cut after 1 step.
    assert.deepEqual(t.images, { train: 32, validation: 8, test: 20, trainSplit: 60000, testSplit: 10000 });
    assert.deepEqual(
      t.epochs.map((e) => e.iterations),
      [2, 4, 6, 7],
    );
    // The lr of each epoch's last step (steps 2, 4, 6, 7): 0.1 before step 3, 0.01 before step 6, then 0.001.
    const lrs = t.epochs.map((e) => e.lr);
    for (const [got, want] of lrs.map((l, i) => [l, [0.1, 0.01, 0.001, 0.001][i]]))
      assert.ok(Math.abs(got - want) < 1e-15, `${lrs}`);
    for (const e of t.epochs) {
      assert.ok(e.test && e.validation, `epoch ${e.epoch} evaluated`);
      // 20 test and 8 validation images: accuracies are whole counts of them.
      assert.ok(Math.abs((e.test.accuracy * 20) % 1) < 1e-9 && Math.abs((e.validation.accuracy * 8) % 1) < 1e-9);
    }
  });

  it('refuses a plan with neither a finite epoch count nor iterations', async () => {
    await assert.rejects(
      trainNets(
        settings,
        { trainLimit: 32, testLimit: 20, epochs: Number.POSITIVE_INFINITY, batchSize: 16, lr: 0.01 },
        [linear],
        'probe',
      ),
      /probe: a training plan needs a finite number of epochs or iterations/,
    );
  });
});
