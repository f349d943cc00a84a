import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, it } from 'node:test';

/** Runs the real program as a person would: `node --import tsx src/cli/main.ts ...`. */
function convkit(...args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], {
    encoding: 'utf8',
    cwd: new URL('../..', import.meta.url).pathname,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('convkit command line', () => {
  it('list: every model with its computed parameters and GMACs', () => {
    const r = convkit('list');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^resnet18\s+resnet\s+torchvision\s+3x224x224\s+11,689,512\s+1\.814\s+69\.758% top-1/m);
    assert.match(r.stdout, /^vgg19\s+vgg\s+torchvision\s+3x224x224\s+143,667,240\s+19\.632/m);
    assert.match(r.stdout, /^resnet20_cifar\s+resnet\s+cifar\s+3x32x32\s+269,722\s+0\.041\s+8\.75% error/m);
  });

  it('summary resnet18 --format json: the documented schema with exact totals', () => {
    const r = convkit('summary', 'resnet18', '--format', 'json', '--depth', '1');
    assert.equal(r.code, 0, r.stderr);
    const json = JSON.parse(r.stdout);
    assert.equal(json.schema, 'convkit.summary/1');
    assert.equal(json.totals.params, 11_689_512);
    assert.equal((json.totals.macs / 1e9).toFixed(3), '1.814');
    assert.equal(json.totals.receptiveField.size[0], 435);
    assert.deepEqual(
      json.layers.map((l: { path: string }) => l.path),
      ['', 'conv1', 'bn1', 'relu', 'maxpool', 'layer1', 'layer2', 'layer3', 'layer4', 'avgpool', 'fc'],
    );
    assert.deepEqual(json.layers[1].kernel, [7, 7]);
  });

  it('a malformed --input says the expected form (exit code 1)', () => {
    const r = convkit('summary', 'resnet18', '--input', '224');
    assert.equal(r.code, 1);
    assert.equal(r.stderr.trim(), "convkit: --input must look like 3x224x224 (channels x height x width), got '224'");
    assert.equal(r.stdout, '');
  });

  it('an unknown model lists the closest names (exit code 1)', () => {
    const r = convkit('summary', 'resnet5');
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^convkit: zoo: unknown model 'resnet5'; closest: resnet50, /);
  });

  it('an input too small for the network names the layer where the size reaches zero', () => {
    const r = convkit('summary', 'alexnet', '--input', '3x32x32');
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^convkit: \w+ \(features\.\d+\): .*0x0/);
  });

  it("quiz: GoogLeNet, and VGG19 has 143.7M parameters, not the lecture's 110M", () => {
    const r = convkit('quiz');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /Answer: GoogLeNet \(22 layers\), with 6,624,904 parameters/);
    assert.match(r.stdout, /VGGNet \(19 layers\): the lecture says ~110M; it has 143,667,240 \(143\.7M\)/);
  });

  it('calc stack prints the lecture numbers', () => {
    const r = convkit('calc', 'stack');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /294,912/);
    assert.match(r.stdout, /409,600/);
  });
});
