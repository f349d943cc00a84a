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

  it('trains plain20 and resnet20 and decides from their training losses', () => {
    const nets = r.data.data.nets as TrainedNet[];
    assert.deepEqual(
      nets.map((n) => n.model),
      ['plain20_cifar', 'resnet20_cifar'],
    );
    for (const n of nets) assert.ok(n.epochs.length === 1 && Number.isFinite(n.epochs[0].trainLoss));
    const [plain, res] = nets.map((n) => n.epochs[0].trainLoss);
    assert.equal(r.data.claims.find((c) => c.id === 'shortcuts-20')?.held, res < plain);
  });
});
