import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { before, describe, it } from 'node:test';
import type { TrainedNet } from '../../src/experiments/degradation.js';
import { checkReport, type ReportFiles, runQuick } from './helpers.js';

const DATA = '/usr/share/datasets/fashion-mnist';

describe('experiment degradation', { skip: existsSync(DATA) ? false : `no Fashion-MNIST at ${DATA}` }, () => {
  let r: ReportFiles;
  before(async () => {
    r = await runQuick('degradation', { limit: 64, testLimit: 64, epochs: 1 });
  });

  it('writes a report that parses', async () => {
    await checkReport(r);
  });

  it('trains the 20- and 56-layer pairs and decides from their training losses', () => {
    const nets = r.data.data.nets as TrainedNet[];
    assert.deepEqual(
      nets.map((n) => n.model),
      ['plain20_cifar', 'resnet20_cifar', 'plain56_cifar', 'resnet56_cifar'],
    );
    for (const n of nets) assert.ok(n.epochs.length === 1 && Number.isFinite(n.epochs[0].trainLoss));
    const [plain20, res20, plain56, res56] = nets.map((n) => n.epochs[0].trainLoss);
    const held = (id: string): boolean | null | undefined => r.data.claims.find((c) => c.id === id)?.held;
    assert.equal(held('shortcuts-20'), res20 < plain20);
    assert.equal(held('shortcuts-56'), res56 < plain56);
    assert.equal(held('deeper-plain-worse'), plain56 > plain20);
  });
});
