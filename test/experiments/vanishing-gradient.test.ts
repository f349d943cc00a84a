import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { runExperiment } from '../../src/cli/experiment.js';
import { REPORT_FILES } from '../../src/experiments/report.js';
import type { GradientProfile } from '../../src/experiments/vanishing-gradient.js';
import { checkReport, type ReportFiles } from './helpers.js';

const DATA = '/usr/share/datasets/fashion-mnist';

describe('experiment vanishing-gradient', { skip: existsSync(DATA) ? false : `no Fashion-MNIST at ${DATA}` }, () => {
  let r: ReportFiles;
  before(async () => {
    const dir = join(mkdtempSync(join(tmpdir(), 'convkit-vanishing-')), 'report');
    const lines: string[] = [];
    const run = await runExperiment(
      'vanishing-gradient',
      { quick: true, data: 'fashion-mnist', seed: 0, out: dir, limit: 4 },
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

  it('a gradient for every convolution: 6n + 1 of them in the depth-(6n + 2) nets', () => {
    const profiles = r.data.data.profiles as GradientProfile[];
    assert.deepEqual(
      profiles.map((p) => [p.model, p.rms.length]),
      [
        ['plain20_cifar', 19],
        ['resnet20_cifar', 19],
        ['plain56_cifar', 55],
        ['resnet56_cifar', 55],
      ],
    );
    for (const p of profiles)
      assert.ok(
        p.rms.every((v) => Number.isFinite(v) && v > 0),
        p.model,
      );
    const by = new Map(profiles.map((p) => [p.model, p.firstOverLast]));
    const held = (id: string) => r.data.claims.find((c) => c.id === id)?.held;
    assert.equal(
      held('plain-vanishes-with-depth'),
      (by.get('plain56_cifar') as number) < (by.get('plain20_cifar') as number),
    );
    assert.equal(
      held('shortcuts-carry-gradient'),
      (by.get('resnet56_cifar') as number) > (by.get('plain56_cifar') as number),
    );
  });
});
