import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { DataFormatError, WeightsError } from '../../src/core/errors.js';
import { noGrad } from '../../src/core/grad-mode.js';
import { manualSeed } from '../../src/core/random.js';
import type { Tensor } from '../../src/core/tensor.js';
import { detectWeightsFormat, loadWeights } from '../../src/io/load-weights.js';
import { readSafetensorsHeader } from '../../src/io/safetensors.js';
import { writeSafetensors } from '../../src/io/safetensors-write.js';
import { buildModel } from '../../src/models/registry.js';
import { Sequential } from '../../src/nn/containers.js';
import { Linear } from '../../src/nn/linear.js';
import { fromArray, randn, uniform } from '../../src/ops/creation.js';

const dir = mkdtempSync(join(tmpdir(), 'convkit-lw-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function net(dtype: 'float32' | 'float64' = 'float32'): Sequential {
  const opts = dtype === 'float64' ? { dtype, backend: 'ref' } : {};
  return new Sequential(new Linear(3, 2, opts), new Linear(2, 1, opts));
}

function sameTensor(a: Tensor, b: Tensor, what: string): void {
  assert.deepEqual(a.shape, b.shape, what);
  const x = a.toArray();
  const y = b.toArray();
  for (let i = 0; i < x.length; i++) assert.ok(Object.is(x[i], y[i]), `${what}[${i}]: ${x[i]} vs ${y[i]}`);
}

describe('loadWeights', () => {
  it('a ResNet-20 (CIFAR) state dict round-trips through a file with identical outputs', () => {
    manualSeed(1);
    const a = buildModel('resnet20_cifar');
    // Non-trivial running statistics, so batch norm's buffers are checked too.
    noGrad(() => {
      for (const [key, t] of a.stateDict({ keepVars: true })) {
        if (key.endsWith('running_mean')) t.assign(randn(t.shape));
        if (key.endsWith('running_var')) t.assign(uniform(t.shape, 0.5, 1.5));
      }
    });
    a.eval();
    const x = randn([2, 3, 32, 32]);
    const ya = noGrad(() => a.call(x));
    const path = join(dir, 'resnet20.safetensors');
    writeSafetensors(path, a.stateDict(), { arch: 'resnet20_cifar' });
    const header = readSafetensorsHeader(path);
    assert.deepEqual(
      header.entries.map((e) => e.name),
      [...a.stateDict().keys()],
    );

    manualSeed(2);
    const b = buildModel('resnet20_cifar');
    b.eval();
    const before = noGrad(() => b.call(x));
    assert.notDeepEqual([...before.toArray()], [...ya.toArray()]);
    const report = loadWeights(b, path);
    assert.deepEqual(report.missingKeys, []);
    assert.deepEqual(report.unexpectedKeys, []);
    assert.equal(report.format, 'safetensors');
    assert.equal(report.strippedPrefix, '');
    assert.deepEqual(report.metadata, { arch: 'resnet20_cifar' });
    sameTensor(
      noGrad(() => b.call(x)),
      ya,
      'output',
    );
    for (const [key, t] of a.stateDict()) sameTensor(b.stateDict().get(key)!, t, key);
  });

  for (const prefix of ['module.', 'model.']) {
    it(`strips '${prefix}' when the plain keys do not match`, () => {
      const src = net();
      const path = join(dir, `prefixed-${prefix}safetensors`);
      writeSafetensors(path, new Map([...src.stateDict()].map(([k, t]) => [prefix + k, t])));
      const dst = net();
      const report = loadWeights(dst, path);
      assert.equal(report.strippedPrefix, prefix);
      for (const [key, t] of src.stateDict()) sameTensor(dst.stateDict().get(key)!, t, key);
    });
  }

  it('strict loading names the file and the missing keys; non-strict reports them', () => {
    const src = net();
    const dict = src.stateDict();
    dict.delete('1.bias');
    dict.set('extra', fromArray([1], [1]));
    const path = join(dir, 'partial.safetensors');
    writeSafetensors(path, dict);
    const dst = net();
    const w0 = dst.stateDict().get('0.weight')!.toArray();
    assert.throws(
      () => loadWeights(dst, path),
      (e: unknown) =>
        e instanceof WeightsError &&
        e.message.startsWith(`${path}: `) &&
        /1 missing key \(1\.bias\)/.test(e.message) &&
        /1 unexpected key \(extra\)/.test(e.message),
    );
    assert.deepEqual(dst.stateDict().get('0.weight')!.toArray(), w0, 'a failed load leaves the module unchanged');
    const report = loadWeights(dst, path, { strict: false });
    assert.deepEqual(report.missingKeys, ['1.bias']);
    assert.deepEqual(report.unexpectedKeys, ['extra']);
    sameTensor(dst.stateDict().get('0.weight')!, src.stateDict().get('0.weight')!, '0.weight');
  });

  it('a shape mismatch names the file', () => {
    const path = join(dir, 'shape.safetensors');
    writeSafetensors(path, new Sequential(new Linear(4, 2), new Linear(2, 1)).stateDict());
    assert.throws(
      () => loadWeights(net(), path),
      /shape\.safetensors: loadStateDict: .*0\.weight: expected \[2, 3\], got \[2, 4\]/,
    );
  });

  it('a float64 module gets F64 values without rounding through float32', () => {
    const src = net('float64');
    noGrad(() =>
      src
        .stateDict({ keepVars: true })
        .get('0.bias')!
        .assign(fromArray([Math.PI, 1 / 3], [2], { dtype: 'float64', backend: 'ref' })),
    );
    const path = join(dir, 'f64.safetensors');
    writeSafetensors(path, src.stateDict());
    const dst = net('float64');
    loadWeights(dst, path);
    assert.deepEqual([...dst.stateDict().get('0.bias')!.toArray()], [Math.PI, 1 / 3]);
    assert.equal(dst.stateDict().get('0.bias')!.dtype, 'float64');
  });

  it('an unknown format lists what was checked for', () => {
    const cases: [string, Uint8Array, RegExp][] = [
      [
        'model.pth',
        Uint8Array.of(0x50, 0x4b, 0x03, 0x04, 0, 0, 0, 0, 0, 0),
        /a zip archive, but not a readable PyTorch checkpoint/,
      ],
      [
        'dict.pkl',
        Uint8Array.of(0x80, 0x02, 0x7d, 0x71, 0x00, 0x2e),
        /a Python pickle, but not of PyTorch's magic number, so not a legacy \.pth/,
      ],
      // Protobuf with a first varint of 150: no ONNX ir_version.
      ['model.pb', Uint8Array.of(0x08, 0x96, 0x01, 0x12, 0x07, 0x70, 0x79, 0x74, 0x6f, 0x72), /perhaps protobuf/],
      ['empty.bin', new Uint8Array(0), /the file is empty/],
    ];
    for (const [name, bytes, hint] of cases) {
      const path = join(dir, name);
      writeFileSync(path, bytes);
      assert.throws(
        () => detectWeightsFormat(path),
        (e: unknown) =>
          e instanceof DataFormatError &&
          e.message.startsWith(`${path}: unknown weight format`) &&
          hint.test(e.message) &&
          /8-byte little-endian header length/.test(e.message) &&
          /zip archive holding <archive>\/data\.pkl/.test(e.message) &&
          /ONNX models, recognised by a first field ir_version of 3 to 20/.test(e.message),
      );
      assert.throws(() => loadWeights(net(), path), DataFormatError);
    }
  });
});
