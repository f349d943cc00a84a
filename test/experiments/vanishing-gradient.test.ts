import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { before, describe, it } from 'node:test';
import type { GradientProfile } from '../../src/experiments/vanishing-gradient.js';
import { checkReport, type ReportFiles, runQuick } from './helpers.js';

const DATA = '/usr/share/datasets/fashion-mnist';

describe('experiment vanishing-gradient', { skip: existsSync(DATA) ? false : `no Fashion-MNIST at ${DATA}` }, () => {
  let r: ReportFiles;
  before(async () => {
    r = await runQuick('vanishing-gradient', { limit: 4 });
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
