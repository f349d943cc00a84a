import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { before, describe, it } from 'node:test';
import { variantCosts, type TrainedVariant } from '../../src/experiments/small-kernels.js';
import { checkReport, type ReportFiles, runQuick } from './helpers.js';

const DATA = '/usr/share/datasets/fashion-mnist';

describe('experiment small-kernels', { skip: existsSync(DATA) ? false : `no Fashion-MNIST at ${DATA}` }, () => {
  let r: ReportFiles;
  before(async () => {
    r = await runQuick('small-kernels', { limit: 128, testLimit: 100, epochs: 1 });
  });

  it('writes a report that parses', async () => {
    await checkReport(r);
  });

  it('exact costs: 2 x 3x3 = 2 * 9 C^2 against 25 C^2, 3 x 3x3 = 27 C^2 against 49 C^2', () => {
    const c = new Map(variantCosts(16, 14).map((x) => [x.variant, x]));
    const C2 = 16 * 16;
    assert.deepEqual(
      ['2 x 3x3', '1 x 5x5', '3 x 3x3', '1 x 7x7'].map((v) => c.get(v)?.blockParams),
      [18 * C2, 25 * C2, 27 * C2, 49 * C2],
    );
    assert.deepEqual(
      ['2 x 3x3', '1 x 5x5', '3 x 3x3', '1 x 7x7'].map((v) => c.get(v)?.field),
      [5, 5, 7, 7],
    );
    assert.equal(c.get('2 x 3x3')?.blockMacs, 18 * C2 * 14 * 14);
    assert.equal(r.data.claims.find((x) => x.id === 'same-field-fewer-weights')?.held, true);
  });

  it('trains every variant and decides the claim from the accuracies', () => {
    const trained = r.data.data.trained as TrainedVariant[];
    assert.equal(trained.length, 4);
    for (const t of trained) assert.ok(t.testAccuracy >= 0 && t.testAccuracy <= 1 && Number.isFinite(t.testLoss));
    const acc = new Map(trained.map((t) => [t.variant, t.testAccuracy]));
    const expected =
      (acc.get('2 x 3x3') as number) >= (acc.get('1 x 5x5') as number) &&
      (acc.get('3 x 3x3') as number) >= (acc.get('1 x 7x7') as number);
    assert.equal(r.data.claims.find((x) => x.id === 'trained')?.held, expected);
  });
});
