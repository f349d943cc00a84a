import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import sharp from 'sharp';
import { DataFormatError } from '../../src/core/errors.js';
import { decodeImage } from '../../src/data/image-file.js';
import { listImageFolder, loadImageFolder } from '../../src/data/image-folder.js';

const root = mkdtempSync(join(tmpdir(), 'convkit-folder-'));
after(() => rmSync(root, { recursive: true, force: true }));

/** A w x h RGB image whose pixel (x, y) is (10x + y, 100 + y, 200 - x) (every value a byte). */
function pixels(w: number, h: number): Buffer {
  const b = Buffer.alloc(w * h * 3);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) b.set([10 * x + y, 100 + y, 200 - x], (y * w + x) * 3);
  }
  return b;
}

async function writeImage(path: string, format: 'png' | 'jpeg' | 'webp', w = 4, h = 3): Promise<void> {
  mkdirSync(join(path, '..'), { recursive: true });
  const image = sharp(pixels(w, h), { raw: { width: w, height: h, channels: 3 } });
  const encoded =
    format === 'png' ? image.png() : format === 'jpeg' ? image.jpeg({ quality: 95 }) : image.webp({ lossless: true });
  await encoded.toFile(path);
}

describe('image folders', () => {
  it('decodes PNG and lossless WebP to exactly bytes / 255 in CHW order, JPEG within its loss', async () => {
    const dir = join(root, 'decode');
    await writeImage(join(dir, 'a.png'), 'png');
    await writeImage(join(dir, 'a.webp'), 'webp');
    await writeImage(join(dir, 'a.jpg'), 'jpeg');
    const raw = pixels(4, 3);
    const want = new Float32Array(3 * 3 * 4);
    for (let c = 0; c < 3; c++)
      for (let y = 0; y < 3; y++)
        for (let x = 0; x < 4; x++) want[(c * 3 + y) * 4 + x] = raw[(y * 4 + x) * 3 + c] / 255;
    assert.deepEqual(await decodeImage(join(dir, 'a.png'), [3, 3, 4]), want);
    assert.deepEqual(await decodeImage(join(dir, 'a.webp'), [3, 3, 4]), want);
    const jpeg = await decodeImage(join(dir, 'a.jpg'), [3, 3, 4]);
    const worst = Math.max(...jpeg.map((v, i) => Math.abs(v - want[i])));
    assert.ok(worst < 12 / 255, `JPEG differs by ${worst * 255} levels`);
    // Greyscale: one channel, the luminance, which lies between the darkest and brightest channel.
    const grey = await decodeImage(join(dir, 'a.png'), [1, 3, 4]);
    assert.equal(grey.length, 12);
    grey.forEach((v, i) => {
      const rgb = [want[i], want[12 + i], want[24 + i]];
      assert.ok(v >= Math.min(...rgb) - 1 / 255 && v <= Math.max(...rgb) + 1 / 255, `pixel ${i}: ${v} vs ${rgb}`);
    });
  });

  it('lists DIR/train and DIR/test class folders with sorted classes and nested files', async () => {
    const dir = join(root, 'split');
    await writeImage(join(dir, 'train', 'cat', 'b.png'), 'png');
    await writeImage(join(dir, 'train', 'cat', 'a.jpg'), 'jpeg');
    await writeImage(join(dir, 'train', 'Dog', 'x', 'c.webp'), 'webp');
    writeFileSync(join(dir, 'train', 'cat', 'notes.txt'), 'not an image');
    await writeImage(join(dir, 'test', 'cat', 'd.png'), 'png');
    const train = listImageFolder(dir, 'train', { shape: [3, 3, 4] });
    assert.deepEqual(train.classes, ['Dog', 'cat']);
    assert.deepEqual(train.files, [
      join(dir, 'train/Dog/x/c.webp'),
      join(dir, 'train/cat/a.jpg'),
      join(dir, 'train/cat/b.png'),
    ]);
    assert.deepEqual(Array.from(train.labels), [0, 1, 1]);
    const test = listImageFolder(dir, 'test', { shape: [3, 3, 4] });
    assert.deepEqual(test.classes, ['Dog', 'cat']);
    assert.deepEqual(Array.from(test.labels), [1]);
    const decoded = await loadImageFolder(dir, 'test', { shape: [1, 2, 2] });
    assert.deepEqual(decoded.sampleShape, [1, 2, 2]);
    assert.equal(decoded.inputs.length, 4);
  });

  it('splits a single folder by a seeded holdout per class, disjoint and complete', async () => {
    const dir = join(root, 'holdout');
    for (let i = 0; i < 10; i++) await writeImage(join(dir, 'a', `${i}.png`), 'png', 1, 1);
    for (let i = 0; i < 3; i++) await writeImage(join(dir, 'b', `${i}.png`), 'png', 1, 1);
    const opts = { shape: [3, 1, 1] as const, holdout: 0.3, seed: 5 };
    const train = listImageFolder(dir, 'train', opts);
    const test = listImageFolder(dir, 'test', opts);
    assert.equal(test.files.length, 3 + 1); // round(0.3 * 10) and round(0.3 * 3)
    assert.equal(train.files.length + test.files.length, 13);
    assert.equal(new Set([...train.files, ...test.files]).size, 13);
    assert.deepEqual(listImageFolder(dir, 'test', opts).files, test.files);
    assert.notDeepEqual(listImageFolder(dir, 'test', { ...opts, seed: 6 }).files, test.files);
    // A class of one image keeps it for training.
    assert.equal(listImageFolder(dir, 'train', { ...opts, holdout: 0.9 }).labels.filter((l) => l === 1).length, 1);
  });

  it('says which folder or file is wrong', async () => {
    const expectError = async (f: () => unknown, pattern: RegExp): Promise<void> => {
      await assert.rejects(
        async () => f(),
        (err: unknown) => {
          assert.ok(err instanceof DataFormatError, String(err));
          assert.match(err.message, pattern);
          return true;
        },
      );
    };
    const shape = { shape: [3, 2, 2] as const };
    await expectError(() => listImageFolder(join(root, 'missing'), 'train', shape), /missing: folder does not exist/);
    mkdirSync(join(root, 'flat'));
    await writeImage(join(root, 'flat', 'lonely.png'), 'png');
    await expectError(() => listImageFolder(join(root, 'flat'), 'train', shape), /flat: holds no class folders/);
    mkdirSync(join(root, 'empty', 'cls'), { recursive: true });
    await expectError(
      () => listImageFolder(join(root, 'empty'), 'train', shape),
      /empty\/cls: class folder holds no .png/,
    );
    const bad = join(root, 'bad');
    await writeImage(join(bad, 'train', 'a', 'ok.png'), 'png');
    writeFileSync(join(bad, 'train', 'a', 'junk.png'), 'this is no PNG');
    await writeImage(join(bad, 'test', 'zebra', 'z.png'), 'png');
    await expectError(() => loadImageFolder(bad, 'train', shape), /junk\.png: cannot be read as an image/);
    await expectError(
      () => listImageFolder(bad, 'test', shape),
      /test: class folder zebra not among the training classes \(a\)/,
    );
    await expectError(
      () => decodeImage(join(bad, 'nothing.png'), [3, 2, 2]),
      /nothing\.png: cannot be read as an image/,
    );
  });
});
