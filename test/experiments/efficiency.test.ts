import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { chainSteps, type ModelPoint } from '../../src/experiments/efficiency.js';
import { checkReport, runQuick, type ReportFiles } from './helpers.js';

describe('experiment efficiency', () => {
  let r: ReportFiles;
  before(async () => {
    r = await runQuick('efficiency');
  });

  it('writes a report that parses', async () => {
    await checkReport(r);
  });

  it("every model with a published top-1, with torchvision's parameter counts", () => {
    const models = r.data.data.models as ModelPoint[];
    const by = new Map(models.map((m) => [m.model, m]));
    assert.equal(models.length, 19);
    assert.equal(by.get('alexnet')?.params, 61_100_840);
    assert.equal(by.get('vgg16')?.params, 138_357_544);
    assert.equal(by.get('googlenet')?.params, 6_624_904);
    assert.equal(by.get('resnet50')?.params, 25_557_032);
    assert.equal(by.get('densenet121')?.params, 7_978_856);
    assert.equal(by.get('resnet50')?.top1, 76.13);
    assert.ok(r.markdown.includes('138.36M'));
  });

  it('the chronological claim is decided by the data: VGG16 has more parameters than AlexNet', () => {
    const flag = r.data.claims.find((c) => c.id === 'flagships');
    assert.equal(flag?.held, false);
    assert.match(flag?.measured ?? '', /alexnet -> vgg16: accuracy up, parameters up/);
    const steps = chainSteps([
      { model: 'a', family: 'alexnet', year: 2012, params: 10, macs: 1, top1: 50 },
      { model: 'b', family: 'vgg', year: 2014, params: 5, macs: 1, top1: 60 },
    ]);
    assert.deepEqual(steps, [{ from: 'a', to: 'b', accuracyUp: true, paramsDown: true }]);
    assert.equal(r.data.claims.find((c) => c.id === 'after-vgg')?.held, true);
  });
});
