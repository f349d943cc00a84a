import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { runExperiment } from '../../src/cli/experiment.js';
import type { TrainedNet } from '../../src/experiments/degradation.js';
import { REPORT_FILES } from '../../src/experiments/report.js';
import { checkReport, type ReportFiles } from './helpers.js';

const DATA = '/usr/share/datasets/fashion-mnist';

describe('experiment degradation', { skip: existsSync(DATA) ? false : `no Fashion-MNIST at ${DATA}` }, () => {
  let r: ReportFiles;
  before(async () => {
    const dir = join(mkdtempSync(join(tmpdir(), 'convkit-degradation-')), 'report');
    const lines: string[] = [];
    const run = await runExperiment(
      'degradation',
      { quick: true, data: 'fashion-mnist', seed: 0, out: dir, limit: 64, testLimit: 64, epochs: 1 },
      (l) => lines.push(l),
    );
    r = {
      run,
      dir,
      lines,
      markdown: readFileSync(join(dir, REPORT_FILES.markdown), 'utf8'),
      data: JSON.parse(readFileSync(join(dir, 'data.json'), 'utf8')),
    };
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
