import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import {
  type DegradationNet,
  degradationPlan,
  errorDifferenceSe,
  estimateFull,
  FULL_SCHEDULE,
} from '../../src/experiments/degradation.js';
import { lrSchedule } from '../../src/experiments/train-nets.js';
import { checkReport, type ReportFiles, runQuick } from './helpers.js';

const DATA = '/usr/share/datasets/fashion-mnist';

describe('degradation --full follows He et al. 2015, section 4.2', () => {
  const plan = degradationPlan({ mode: 'full', data: 'fashion-mnist', seed: 0 });

  it('trains plain nets and ResNets of 20, 32, 44 and 56 layers (Fig. 6)', () => {
    assert.deepEqual(plan.depths, [20, 32, 44, 56]);
  });

  it('SGD, momentum 0.9, weight decay 0.0001, mini-batch 128, lr 0.1, stop at 64k iterations', () => {
    assert.deepEqual(plan.optimizer, { name: 'sgd', momentum: 0.9, weightDecay: 0.0001 });
    assert.equal(plan.batchSize, 128);
    assert.equal(plan.lr, 0.1);
    assert.equal(plan.iterations, 64000);
  });

  it('4 pixels padded on each side, a random crop, a horizontal flip; 5k images held out', () => {
    assert.deepEqual(plan.augment, { padding: 4, flip: true });
    assert.equal(plan.validation, 5000);
  });

  it('divides the lr by 10 at 32k and at 48k iterations', () => {
    const target = { name: 'probe', paramGroups: [{ lr: plan.lr }] };
    const schedule = lrSchedule(target, plan);
    // lrs[i]: the lr the (i + 1)-th optimiser step runs at; the schedule steps after each.
    const lrs: number[] = [];
    for (let i = 0; i < 64000; i++) {
      lrs.push(target.paramGroups[0].lr);
      schedule.step();
    }
    const at = (i: number): number => lrs[i];
    assert.equal(at(0), 0.1);
    assert.equal(at(31999), 0.1);
    assert.ok(Math.abs(at(32000) - 0.01) < 1e-15, `step 32,001: ${at(32000)}`);
    assert.ok(Math.abs(at(47999) - 0.01) < 1e-15);
    assert.ok(Math.abs(at(48000) - 0.001) < 1e-15, `step 48,001: ${at(48000)}`);
    assert.ok(Math.abs(at(63999) - 0.001) < 1e-15);
    assert.equal(new Set(lrs).size, 3);
  });

  it('--epochs and --limit still cut it short', () => {
    const cut = degradationPlan({ mode: 'full', data: 'fashion-mnist', seed: 0, epochs: 2, trainLimit: 6000 });
    assert.equal(cut.epochs, 2);
    assert.equal(cut.trainLimit, 6000);
    assert.equal(cut.iterations, 64000);
  });

  it('estimates the full run from step times, linear in depth', () => {
    // Measured nets at 20 and 56 layers: steps of 64 images at 1 ms an image at 20 layers, 2 ms at 56;
    // evaluation 0.5 ms an image (2 epochs of 100 test images). The epochs' total seconds do not count.
    const net = (depth: number, residual: boolean, msPerImage: number): DegradationNet => ({
      model: `${residual ? 'resnet' : 'plain'}${depth}_cifar`,
      depth,
      residual,
      images: { train: 1000, validation: 0, test: 100, trainSplit: 60000, testSplit: 10000 },
      epochs: [1, 2].map((epoch) => ({
        epoch,
        iterations: 16 * epoch,
        lr: 0.002,
        trainLoss: 1,
        trainErrorPct: 50,
        testLoss: 1,
        testErrorPct: 50,
      })),
      seconds: 999,
      evalSeconds: (2 * 100 * 0.5) / 1000,
      stepSeconds: (64 * msPerImage) / 1000,
      batchSize: 64,
    });
    const e = estimateFull([net(20, false, 1), net(20, true, 1), net(56, false, 2), net(56, true, 2)]);
    assert.ok(e !== null);
    // 55,000 images in batches of 128: 430 steps an epoch, 64,000 steps take 149 epochs.
    assert.equal(e.epochs, 149);
    // Depths 20, 32, 44, 56 at 1, 4/3, 5/3 and 2 ms per image, twice (plain and ResNet), 64,000 x 128 images;
    // and 8 nets x 149 epochs x (10,000 test + 5,000 validation images) x 0.5 ms.
    const hours = (2 * 64000 * 128 * (1 + 4 / 3 + 5 / 3 + 2) + 8 * 149 * 15000 * 0.5) / 1000 / 3600;
    assert.ok(Math.abs(e.hours - hours) < 1e-9, `${e.hours} against ${hours}`);
    assert.ok(Math.abs(e.stepSeconds.plain32_cifar - (128 * 4) / 3 / 1000) < 1e-12);
  });

  it('is what FULL_SCHEDULE says, so the report quotes the plan it runs', () => {
    assert.equal(plan.iterations, FULL_SCHEDULE.iterations);
  });
});

describe('experiment degradation', { skip: existsSync(DATA) ? false : `no Fashion-MNIST at ${DATA}` }, () => {
  let r: ReportFiles;
  before(async () => {
    r = await runQuick('degradation', { limit: 32, testLimit: 32, epochs: 2 });
  });

  it('writes a report that parses', async () => {
    await checkReport(r);
  });

  it('has training and test error after every epoch for every net', () => {
    const nets = r.data.data.nets as DegradationNet[];
    assert.deepEqual(
      nets.map((n) => n.model),
      ['plain20_cifar', 'resnet20_cifar', 'plain56_cifar', 'resnet56_cifar'],
    );
    for (const n of nets) {
      assert.deepEqual(
        n.epochs.map((e) => [e.epoch, e.iterations]),
        [
          [1, 1],
          [2, 2],
        ],
        n.model,
      );
      for (const e of n.epochs)
        for (const v of [e.trainErrorPct, e.testErrorPct]) assert.ok(v >= 0 && v <= 100, `${n.model}: ${v}`);
      for (const e of n.epochs) assert.ok(Number.isFinite(e.trainLoss) && Number.isFinite(e.testLoss));
      // 32 test images: every error is a whole number of them.
      for (const e of n.epochs) assert.ok(Math.abs(((e.testErrorPct / 100) * 32) % 1) < 1e-9);
    }
  });

  it("decides every claim from the last epoch's training errors", () => {
    const nets = r.data.data.nets as DegradationNet[];
    const err = new Map(nets.map((n) => [n.model, n.epochs[n.epochs.length - 1].trainErrorPct]));
    const e = (m: string): number => err.get(`${m}_cifar`) as number;
    const held = (id: string): boolean | null | undefined => r.data.claims.find((c) => c.id === id)?.held;
    assert.equal(held('deeper-plain-worse'), e('plain56') > e('plain20'));
    assert.equal(held('deeper-resnet-not-worse'), e('resnet56') <= e('resnet20'));
    assert.equal(held('shortcuts-20'), e('resnet20') < e('plain20'));
    assert.equal(held('shortcuts-56'), e('resnet56') < e('plain56'));
  });

  it('draws training error dashed and test error solid, plain and ResNet panels', () => {
    const svg = readFileSync(join(r.dir, 'error.svg'), 'utf8');
    assert.ok(svg.includes('stroke-dasharray="5,3"'), 'a dashed training curve');
    for (const word of ['>plain<', '>ResNet<', '>20-layer<', '>56-layer<', '>training<', '>test<'])
      assert.ok(svg.includes(word), `the chart shows ${word}`);
    assert.ok(r.markdown.includes('### What --full would take'));
  });
});

describe('deeper-resnet-not-worse allows for noise', () => {
  it('measures it as the standard error of a difference of two rates', () => {
    // sqrt(0.5 * 0.5 / 100 * 2) = 0.0707: two coin-flip rates over 100 images each.
    assert.ok(Math.abs(errorDifferenceSe(50, 50, 100) - 7.0711) < 1e-3);
    // The quick run of the tour on 2026-12-05: 17.83% and 17.40% over 4,000 images.
    assert.ok(Math.abs(errorDifferenceSe(17.83, 17.4, 4000) - 0.8518) < 1e-3);
    assert.equal(errorDifferenceSe(0, 0, 4000), 0);
  });
});
