import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import sharp from 'sharp';
import { runEval } from '../../src/cli/eval.js';
import { runTrain } from '../../src/cli/train.js';
import { setBackend } from '../../src/backend/registry.js';
import { DataFormatError } from '../../src/core/errors.js';
import { Generator } from '../../src/core/random.js';
import { tempDir, trainOptions } from './train-helpers.js';

setBackend('ref');
const quiet = (): void => {};

/** DIR/<split>/<class>/<n>.<format>: 12x10 images, each class a dominant colour with noise. */
async function writeFolder(dir: string): Promise<void> {
  const g = new Generator(1);
  const classes = ['blue', 'green', 'red'];
  const formats = ['png', 'jpg', 'webp'];
  for (const [split, count] of [
    ['train', 6],
    ['test', 2],
  ] as const) {
    for (const [c, name] of classes.entries()) {
      mkdirSync(join(dir, split, name), { recursive: true });
      for (let n = 0; n < count; n++) {
        const px = Buffer.alloc(10 * 12 * 3);
        for (let i = 0; i < px.length; i++) px[i] = i % 3 === 2 - c ? 150 + g.int(100) : g.int(100);
        await sharp(px, { raw: { width: 12, height: 10, channels: 3 } }).toFile(
          join(dir, split, name, `${n}.${formats[n % 3]}`),
        );
      }
    }
  }
}

describe('convkit train on an image folder', () => {
  it('trains on folder:DIR scaled to --image-size, and eval reads the same folder', async () => {
    const data = tempDir('convkit-folder-data-');
    await writeFolder(data);
    const out = tempDir();
    const result = await runTrain(
      'tiny_cnn',
      { ...trainOptions('', out, { epochs: 1, batchSize: 8, workers: 1 }), data: `folder:${data}`, imageSize: 8 },
      { out: quiet },
    );
    assert.deepEqual(result.config.input, [3, 8, 8]);
    // Decoded at 8 x 8 already: the transforms do not resize again.
    assert.equal(result.config.images?.resize, 8);
    assert.doesNotMatch(result.config.transforms.train, /resize/);
    assert.deepEqual(result.config.classes, ['blue', 'green', 'red']);
    assert.equal(result.metrics.length, 1);
    assert.ok(Number.isFinite(result.metrics[0].test_loss));
    const report = await runEval(out, { split: 'test', batchSize: 4, format: 'text' });
    assert.equal(report.samples, 6);
  });

  it('names an undecodable image', async () => {
    const data = tempDir('convkit-folder-bad-');
    await writeFolder(data);
    writeFileSync(join(data, 'train', 'red', 'broken.png'), 'not a PNG');
    const opts = { ...trainOptions('', tempDir(), { epochs: 1 }), data: `folder:${data}`, imageSize: 8 };
    await assert.rejects(runTrain('tiny_cnn', opts, { out: quiet }), (err: unknown) => {
      assert.ok(err instanceof DataFormatError, String(err));
      assert.match(err.message, /red\/broken\.png: cannot be read as an image/);
      return true;
    });
  });
});
