import assert from 'node:assert/strict';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { withBackend } from '../../src/backend/registry.js';
import { Generator } from '../../src/core/random.js';
import type { SafetensorsWriteStage } from '../../src/io/safetensors-write.js';
import { tinyCnn } from '../../src/models/tiny-cnn.js';
import { fromArray } from '../../src/ops/creation.js';
import { crossEntropy } from '../../src/ops/cross-entropy.js';
import { loadCheckpoint, saveCheckpoint } from '../../src/train/checkpoint.js';
import { CosineAnnealingLR, SGD } from '../../src/train/index.js';
import { tempDir } from '../cli/train-helpers.js';

/** A model and optimiser with momentum state, one step further each call to `step()`. */
function setup() {
  const model = tinyCnn({ width: 4 });
  const optimizer = new SGD(model.parameters(), { lr: 0.1, momentum: 0.9 });
  const schedule = new CosineAnnealingLR(optimizer, { tMax: 4 });
  let taken = 0;
  const step = (): void => {
    // The input depends only on the step's number, so two set-ups at the same step see the same batch.
    const g = new Generator(++taken);
    const x = fromArray(
      Float32Array.from({ length: 2 * 16 * 16 }, () => g.normal()),
      [2, 1, 16, 16],
    );
    optimizer.zeroGrad();
    crossEntropy(model.call(x), [0, 1]).backward();
    optimizer.step();
    schedule.step();
  };
  return { model, optimizer, schedule, step };
}

const contents = (epoch: number) => ({
  config: { run: 'test' },
  progress: { epoch, step: epoch * 10 },
  generators: { order: new Generator(epoch).getState() },
});

describe('checkpoints', () => {
  it('round-trip model, optimiser, schedule, progress and generators', () =>
    withBackend('ref', () => {
      const dir = tempDir();
      const path = join(dir, 'checkpoint.safetensors');
      const a = setup();
      a.step();
      a.step();
      saveCheckpoint(path, a.model, a.optimizer, a.schedule, contents(2));
      const b = setup();
      b.step();
      b.step(); // the same inputs' count, not the same weights: those come from the checkpoint
      const ckpt = loadCheckpoint(path);
      b.model.loadStateDict(ckpt.model);
      b.optimizer.loadStateDict(ckpt.optimizer);
      b.schedule.loadStateDict(ckpt.schedule);
      assert.deepEqual(ckpt.progress, { epoch: 2, step: 20 });
      assert.deepEqual(ckpt.config, { run: 'test' });
      const g = new Generator();
      g.setState(ckpt.generators.order);
      assert.equal(g.nextUint32(), new Generator(2).nextUint32());
      ckpt.dispose();
      // One more identical step on both: the same weights bit for bit.
      a.step();
      b.step();
      const wa = a.model.stateDict();
      for (const [k, t] of b.model.stateDict()) assert.deepEqual(t.toArray(), wa.get(k)?.toArray(), k);
      assert.equal(b.optimizer.paramGroups[0].lr, a.optimizer.paramGroups[0].lr);
    }));

  // Every point where a writer can be stopped: the file at `path` is always a whole checkpoint.
  const stages: [SafetensorsWriteStage, number][] = [
    ['opened', 1],
    ['header', 1],
    ['tensor', 1],
    ['tensor', 7],
    ['synced', 1],
    ['closed', 1],
    ['renamed', 1],
  ];
  for (const [stage, nth] of stages) {
    it(`a writer stopped at '${stage}' #${nth} leaves a readable checkpoint (the ${stage === 'renamed' ? 'new' : 'previous'} one)`, () =>
      withBackend('ref', () => {
        const dir = tempDir();
        const path = join(dir, 'checkpoint.safetensors');
        const { model, optimizer, schedule, step } = setup();
        step();
        saveCheckpoint(path, model, optimizer, schedule, contents(1));
        const before = readFileSync(path);
        step();
        let seen = 0;
        assert.throws(
          () =>
            saveCheckpoint(path, model, optimizer, schedule, contents(2), {
              onStage: (s) => {
                if (s === stage && ++seen === nth) throw new Error(`killed at ${s}`);
              },
            }),
          /killed at/,
        );
        const ckpt = loadCheckpoint(path);
        assert.equal(ckpt.progress.epoch, stage === 'renamed' ? 2 : 1);
        ckpt.dispose();
        if (stage !== 'renamed') assert.ok(readFileSync(path).equals(before), 'the previous file is untouched');
        assert.deepEqual(readdirSync(dir), ['checkpoint.safetensors'], 'no temporary file is left');
      }));
  }

  it('a temporary file left by a killed process does not disturb the checkpoint', () =>
    withBackend('ref', () => {
      const dir = tempDir();
      const path = join(dir, 'checkpoint.safetensors');
      const { model, optimizer, schedule } = setup();
      saveCheckpoint(path, model, optimizer, schedule, contents(1));
      // What SIGKILL mid-write leaves: half a file under the temporary name.
      writeFileSync(join(dir, '.checkpoint.safetensors.123.abcd.tmp'), readFileSync(path).subarray(0, 100));
      saveCheckpoint(path, model, optimizer, schedule, contents(2));
      const ckpt = loadCheckpoint(path);
      assert.equal(ckpt.progress.epoch, 2);
      ckpt.dispose();
    }));

  it('refuses a safetensors file that is not a checkpoint', () =>
    withBackend('ref', () => {
      const dir = tempDir();
      const path = join(dir, 'weights.safetensors');
      const model = tinyCnn({ width: 4 });
      writeFileSync(path, '');
      assert.throws(() => loadCheckpoint(path));
      const { optimizer, schedule } = setup();
      saveCheckpoint(path, model, optimizer, schedule, contents(0));
      assert.equal(loadCheckpoint(path).progress.epoch, 0);
    }));
});
