import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { buildTrainModel } from '../../src/cli/train-config.js';
import { noGrad } from '../../src/core/grad-mode.js';
import { defaultGenerator, Generator, manualSeed } from '../../src/core/random.js';
import type { Tensor } from '../../src/core/tensor.js';
import { buildModel } from '../../src/models/registry.js';
import type { TensorModule } from '../../src/nn/module.js';
import { randn } from '../../src/ops/creation.js';

const shapesOf = (m: TensorModule): [string, readonly number[]][] => [...m.stateDict()].map(([k, t]) => [k, t.shape]);
const valuesOf = (m: TensorModule): Map<string, number[]> =>
  new Map([...m.stateDict()].map(([k, t]) => [k, Array.from(t.toArray())]));
const dispose = (m: TensorModule): void => {
  for (const t of [...m.parameters(), ...m.buffers()]) t.dispose();
};

describe("buildModel's init option", () => {
  it("init 'none' allocates every tensor with its shape, draws nothing, and keeps only the constant fills", () => {
    // GoogLeNet draws by truncated normal, the ResNet and DenseNet by Kaiming normal and uniform.
    for (const name of ['resnet20_cifar', 'densenet_bc_100_cifar', 'googlenet']) {
      manualSeed(1);
      const before = defaultGenerator.getState();
      const model = buildModel(name, { init: 'none' });
      assert.deepEqual(defaultGenerator.getState(), before, `${name}: the default generator did not move`);
      assert.deepEqual(shapesOf(model), shapesOf(buildModel(name, { backend: 'meta' })), `${name}: keys and shapes`);
      for (const [key, values] of valuesOf(model)) {
        const other = values.find((v) => v !== 0 && v !== 1);
        assert.equal(other, undefined, `${name} ${key}: zeros, or BN's constants`);
      }
      dispose(model);
    }
    assert.throws(
      () => buildModel('resnet20_cifar', { init: 'zeros' as 'none' }),
      /buildModel: init must be random or none, got zeros/,
    );
  });

  it('a model built without init and loaded computes what a randomly built one loaded with the same state does', () => {
    manualSeed(11);
    const source = buildModel('resnet20_cifar');
    // Running statistics away from their initial 0 and 1, so that loading the buffers matters too.
    source.train();
    noGrad(() => source.call(randn([4, 3, 32, 32], { generator: new Generator(4) })).dispose());
    const state = source.stateDict();
    manualSeed(12);
    const random = buildModel('resnet20_cifar');
    const empty = buildModel('resnet20_cifar', { init: 'none' });
    for (const m of [random, empty]) {
      m.loadStateDict(state);
      m.eval();
    }
    assert.deepEqual(valuesOf(empty), valuesOf(source));
    const x = randn([2, 3, 32, 32], { generator: new Generator(5) });
    const [a, b] = [random, empty].map((m) => noGrad((): Tensor => m.call(x)).toArray());
    assert.deepEqual(b, a);
    assert.ok(
      a.some((v) => v !== 0),
      'the logits are not all zero',
    );
    for (const m of [source, random, empty]) dispose(m);
  });

  it('random init is repeatable for a seed, differs for another seed, and the CLI builds tiny_cnn without it', () => {
    const built = (seed: number): Map<string, number[]> => {
      manualSeed(seed);
      const model = buildModel('densenet_bc_100_cifar');
      const values = valuesOf(model);
      dispose(model);
      return values;
    };
    const first = built(3);
    assert.deepEqual(built(3), first);
    const other = built(4);
    const key = 'features.conv0.weight';
    assert.notDeepEqual(other.get(key), first.get(key));

    const config = { model: 'tiny_cnn', input: [1, 8, 8] as [number, number, number], classes: ['a', 'b'] };
    manualSeed(0);
    const before = defaultGenerator.getState();
    const tiny = buildTrainModel(config, { init: 'none' });
    assert.deepEqual(defaultGenerator.getState(), before);
    assert.ok([...tiny.parameters()].every((p) => p.toArray().every((v) => v === 0 || v === 1)));
    buildTrainModel(config);
    assert.notDeepEqual(defaultGenerator.getState(), before, 'a random build draws from the default generator');
  });
});
